"""Arith's spec (`SPEC`): graded by the final answer after `####` (`verifiers.math`); no answer-time
check (the reference is unknown at answer time: majority vote or the learned scorers)."""
from __future__ import annotations

from selfplay.tasks.arith import problems as arith, rows, splits, traces
from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import Pricing, TaskSpec, priced
from selfplay.tools.spans import calculator_results
from verifiers import math
from verifiers.verdict import Verdict


def grade_final_answer(problem: Problem, completion: str, timeout_s: float) -> Verdict:
    if problem.answer is None:
        return Verdict.fail("invalid", f"problem {problem.id} has no answer to grade against")
    return math.check(completion, problem.answer)


def underived_final(problem: Problem, completion: str) -> str | None:
    """Why a passing answer must not be learned from: it computes through the calculator, and its final
    answer is not its last computed result (`<<201-8=193>> #### 19`, `<<6/5=1.2>> #### 1`: right by
    luck). None for an answer whose final answer is its last result, or that makes no calculator call.

    >>> p = Problem.create("arith", "Ann has 3 bags of 4 apples. How many apples?", answer="12")
    >>> underived_final(p, "<<3*4=12>>\\n#### 12") is None, underived_final(p, "#### 12") is None
    (True, True)
    >>> underived_final(p, "<<3*5=15>>\\n<<15-4=11>>\\n#### 12")
    'the final answer 12 is not the last computed result 11'
    """
    results = calculator_results(completion)
    answer = math.extract_answer(completion)
    if not results or answer is None:
        return None
    last = results[-1]
    if math.answer_key(last) == math.answer_key(answer):
        return None
    return f"the final answer {answer} is not the last computed result {last}"


SPEC = TaskSpec(
    name="arith", grade=grade_final_answer,
    instruction="Solve step by step, separating steps with a blank line, and end with a line '#### <answer>'.",
    prices=priced(Pricing(answer_tokens=64, max_depth=8, step_tokens=24)), row_formats=rows.FORMATS,
    generate=arith.generate, levels=arith.LEVELS, corpus=traces.RECIPE, dev_files={"arith": "arith/dev.jsonl"},
    card_tokens=96, splits=splits.RECIPE, unlearnable=underived_final)
