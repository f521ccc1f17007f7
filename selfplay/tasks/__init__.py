"""Tasks: the problem record, the task families and their specs, task-file loaders and the splits.

What every family shares:
- `spec`: `TaskSpec`, one object per task family, and the registry (`register_task`, `task_spec`):
  code outside this package asks a problem's spec what its task needs, not which task it is.
- `problem`: `Problem` and its content key (stable ids, decontamination).
- `rows`, `loader`: row field readers and recognition, strict file I/O.
- `splits`: the committed train/dev/test files under `datasets/`, built from the specs' recipes.
- `traces`: what the corpus recipes share (step lines, slips, the failing-grader check).

One package per family, each laid out the same way (`problems`, `rows`, `traces`, `splits`,
`spec` with its `SPEC`): `countdown`, `arith`, `funcs` (+ `families`), and `qa` (plain
prompt/answer rows, one module). Grading itself is `verifiers`' (a spec names the call);
nothing here touches models.
"""
from selfplay.tasks.loader import TaskFileError, load_problems, save_problems
from selfplay.tasks.problem import Problem, content_key
from selfplay.tasks.spec import TaskSpec, register_task, task_names, task_spec, task_specs
from selfplay.tasks.splits import SplitSizes, build_splits, default_sizes, split_overlap
from selfplay.tasks import arith, countdown, funcs, qa  # noqa: E402 - the families build on the modules above

register_task(countdown.SPEC)
register_task(arith.SPEC)
register_task(funcs.SPEC)
register_task(qa.SPEC)  # last: its {prompt, answer} rows are the widest shape

GENERATORS = {spec.name: spec.generate for spec in task_specs() if spec.generate is not None}  # the built-in ones

__all__ = ["Problem", "content_key", "load_problems", "save_problems", "TaskFileError", "TaskSpec", "register_task",
           "task_spec", "task_specs", "task_names", "build_splits", "split_overlap", "SplitSizes", "default_sizes",
           "GENERATORS"]
