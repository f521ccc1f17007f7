"""`python -m jobs.improve [--preset NAME] [--out DIR] [--rounds K] [--workers N] [--set KEY=VALUE ...]`.

The `lab improve` job (see selfplay.improve_cli), for `ray job submit` or a plain shell.
"""
import sys

from selfplay.improve_cli import main

if __name__ == "__main__":
    sys.exit(main())
