"""`python -m jobs.improve [--preset NAME] [--out DIR] [--rounds K] [--workers N] [--set KEY=VALUE ...]`.

The `lab improve` job (see selfplay.commands.improve), for `ray job submit` or a plain shell; it runs
through `lab`'s entry point, so bad input ends the same way (a one-line error, exit status 2).
"""
import sys

from selfplay.commands.lab import main

if __name__ == "__main__":
    sys.exit(main(["improve", *sys.argv[1:]]))
