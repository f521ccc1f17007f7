"""Grade a completion for a Problem with its task's verifier, against the ground truth.

The verifier call is the task spec's `grade` (`selfplay.tasks.spec`): for the built-in families,
countdown by its rules, arith and plain question/answer rows by their final answer, funcs by
running the program in the sandbox (each family's `spec.py`, e.g. `selfplay.tasks.countdown.spec`).
This is the grader of record: search may use weaker, answer-time signals, but accuracy is always
this.

Knows tasks and verifiers; nothing about models, search or Ray.
"""
from __future__ import annotations

from selfplay.tasks import Problem, task_spec
from verifiers import code
from verifiers.verdict import Verdict


def grade(problem: Problem, completion: str, timeout_s: float = code.DEFAULT_TIMEOUT_S) -> Verdict:
    """The verdict on `completion` as an answer to `problem`."""
    return task_spec(problem.task).grade(problem, completion, timeout_s)


def reference_completion(problem: Problem) -> str | None:
    """The expert solution a generated problem carries, in the form a model should write."""
    return problem.meta.get("solution")
