"""`python -m jobs.pretrain [flags]`: pretrain the built-in base model (see selfplay.model.pretrain)."""
import sys

from selfplay.model.pretrain import main

if __name__ == "__main__":
    sys.exit(main())
