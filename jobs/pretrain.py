"""`python -m jobs.pretrain [flags]`: pretrain the built-in base model (see selfplay.builtin_model.pretrain)."""
import sys

from selfplay.commands.pretrain import main

if __name__ == "__main__":
    sys.exit(main())
