"""Tasks: the problem record, the built-in generators, task-file loaders and the splits.

- `problem`: `Problem` and its content key (stable ids, decontamination).
- `countdown`, `arith`, `funcs` (+ `func_families`): generators, deterministic by seed;
  countdown and arith come in difficulty `LEVELS` (a problem names its own in `meta["level"]`).
- `rows`, `loader`: public row formats (GSM8K, MBPP, HumanEval, plain) and strict file I/O.
- `splits`: the committed train/dev/test files under `datasets/`, one folder per level.

Nothing here grades answers (`verifiers`) or touches models.
"""
from selfplay.tasks import arith, countdown, funcs
from selfplay.tasks.loader import TaskFileError, load_problems, save_problems
from selfplay.tasks.problem import TASKS, Problem, content_key
from selfplay.tasks.splits import DEFAULT_SIZES, SplitSizes, build_splits, split_overlap

GENERATORS = {"countdown": countdown.generate, "arith": arith.generate, "funcs": funcs.generate}

__all__ = ["Problem", "TASKS", "content_key", "load_problems", "save_problems", "TaskFileError",
           "build_splits", "split_overlap", "SplitSizes", "DEFAULT_SIZES", "GENERATORS"]
