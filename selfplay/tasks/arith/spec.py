"""Arith's spec (`SPEC`): graded by the final answer after `####` (`verifiers.math`); no answer-time
check (the reference is unknown at answer time: majority vote or the learned scorers)."""
from __future__ import annotations

from selfplay.tasks.arith import problems as arith, rows, splits, traces
from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import Pricing, TaskSpec, priced
from verifiers import math
from verifiers.verdict import Verdict


def grade_final_answer(problem: Problem, completion: str, timeout_s: float) -> Verdict:
    if problem.answer is None:
        return Verdict.fail("invalid", f"problem {problem.id} has no answer to grade against")
    return math.check(completion, problem.answer)


SPEC = TaskSpec(
    name="arith", grade=grade_final_answer,
    instruction="Solve step by step, separating steps with a blank line, and end with a line '#### <answer>'.",
    prices=priced(Pricing(answer_tokens=64, max_depth=8, step_tokens=24)), row_formats=rows.FORMATS,
    generate=arith.generate, levels=arith.LEVELS, corpus=traces.RECIPE, dev_files={"arith": "arith/dev.jsonl"},
    card_tokens=96, splits=splits.RECIPE)
