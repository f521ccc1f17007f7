"""What grading a round's answers costs in the sandbox: programs run and seconds.

The grader of record (`selfplay.answering.grading.grade`) runs an answer to a task whose answers are
programs (`TaskSpec.writes_code`: funcs) in the sandbox, a fresh limited process per answer. A
`GradeMeter` is that grader with a count and a memory: pass `meter.grade` where a grader is
taken (`deliberate(..., grader=meter.grade)`) and read `runs` and `seconds` after. A program it
has graded for a problem is not run again (eight samples of a confident model are often one
program): the verdict is the same, the sandbox is deterministic. Grading an answer of any other
task costs no sandbox run and is not counted. A round grades with it, so it also applies the
task's `unlearnable` check: an arith answer whose final answer is right but is not its own last
computed result (`<<201-8=193>> #### 19`) fails here, and no training row, judge label or
solved share counts it (eval, through `grade`, still scores final answers as they stand).

    >>> meter = GradeMeter()
    >>> meter.runs, meter.seconds
    (0, 0.0)

Knows the grader and task specs; nothing about search, rounds or Ray.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from selfplay.answering.grading import grade
from selfplay.tasks import Problem, task_spec
from verifiers import code
from verifiers.rewards import extract_program
from verifiers.verdict import Verdict


@dataclass
class GradeMeter:
    runs: int = 0  # answers run in the sandbox
    seconds: float = 0.0  # wall time of those runs, start to verdict
    reused: int = 0  # answers whose program was graded before for the same problem
    unlearnable: int = 0  # passes failed because the task does not let a round learn from them (a lucky final)
    _verdicts: dict = field(default_factory=dict, repr=False)  # (problem id, program) -> verdict

    def grade(self, problem: Problem, completion: str, timeout_s: float = code.DEFAULT_TIMEOUT_S) -> Verdict:
        """`selfplay.answering.grading.grade`, counted (and remembered) when the answer is a program; a
        pass the task does not let a round learn from (`TaskSpec.unlearnable`) fails here, with the reason."""
        spec = task_spec(problem.task)
        if not spec.writes_code:
            verdict = grade(problem, completion, timeout_s)
            reason = spec.unlearnable(problem, completion) if verdict.passed and spec.unlearnable else None
            if reason is not None:
                self.unlearnable += 1
                return Verdict.fail("wrong", f"passed by the final answer, not learnable: {reason}")
            return verdict
        key = (problem.id, extract_program(completion))
        if key in self._verdicts:
            self.reused += 1
            return self._verdicts[key]
        start = time.perf_counter()
        try:
            self._verdicts[key] = grade(problem, completion, timeout_s)
            return self._verdicts[key]
        finally:
            self.runs += 1
            self.seconds += time.perf_counter() - start
