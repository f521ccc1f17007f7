"""`python -m jobs.compare ...`: the `lab compare` job, for `ray job submit` or a plain shell."""
import sys

from selfplay.commands.lab import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
