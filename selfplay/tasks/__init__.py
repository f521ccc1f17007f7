"""Tasks: the problem record, the task families and their specs, task-file loaders and the splits.

- `spec`: `TaskSpec`, one object per task family, and the registry (`register_task`, `task_spec`):
  code outside this package asks a problem's spec what its task needs, not which task it is.
- `problem`: `Problem` and its content key (stable ids, decontamination).
- `countdown`, `arith`, `funcs` (+ `func_families`): generators, deterministic by seed;
  countdown and arith come in difficulty `LEVELS` (a problem names its own in `meta["level"]`).
- `builtin`: the built-in families' specs (their graders call `verifiers`), `traces`: how the
  built-in model's corpus writes their traces and mistakes.
- `rows`, `loader`: public row formats (GSM8K, MBPP, HumanEval, plain) and strict file I/O.
- `splits`: the committed train/dev/test files under `datasets/`, one folder per level.

Grading itself is `verifiers`' (a spec names the call); nothing here touches models.
"""
from selfplay.tasks import arith, builtin, countdown, funcs
from selfplay.tasks.loader import TaskFileError, load_problems, save_problems
from selfplay.tasks.problem import Problem, content_key
from selfplay.tasks.spec import TaskSpec, register_task, task_names, task_spec, task_specs
from selfplay.tasks.splits import DEFAULT_SIZES, SplitSizes, build_splits, split_overlap

register_task(builtin.COUNTDOWN)
register_task(builtin.ARITH)
register_task(builtin.FUNCS)
register_task(builtin.QA)

GENERATORS = {spec.name: spec.generate for spec in task_specs() if spec.generate is not None}  # the built-in ones

__all__ = ["Problem", "content_key", "load_problems", "save_problems", "TaskFileError", "TaskSpec", "register_task",
           "task_spec", "task_specs", "task_names", "build_splits", "split_overlap", "SplitSizes", "DEFAULT_SIZES",
           "GENERATORS"]
