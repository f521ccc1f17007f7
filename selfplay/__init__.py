"""selfplay: the model side, the tasks, the round logic and the `lab` command line."""

__version__ = "0.1.0"
