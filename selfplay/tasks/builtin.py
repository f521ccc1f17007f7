"""The specs of the built-in families: countdown, arith, funcs, and qa (a plain prompt with a final answer).

Each spec gathers what the lab knows of its family: the generator and levels (`countdown`,
`arith`, `funcs`), the row formats (`rows`), the content fields (`problem`), the corpus recipe
(`traces`), and, written here, the grader of record, the answer-time check search may use,
the chat instruction and the prices. `selfplay/tasks/__init__.py` registers them.

Graders, as the verifiers decide: countdown by its rules (numbers, target and `meta["use_all"]`,
the standard game's every-number-once rule), arith and qa by the final answer, funcs by running
the program in the sandbox on the hidden cases (or on the row's assert code).

Answer-time checks use only what the question shows: countdown's rules need only the numbers
and target, so they guide search; funcs may run the examples shown in the prompt (the hidden
cases only grade); arith and qa have none (majority vote or the learned scorers).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from selfplay.tasks import arith, countdown, funcs, rows, traces
from selfplay.tasks.problem import (Problem, countdown_content_fields, countdown_normalised_fields,
                                    funcs_content_fields, funcs_normalised_fields)
from selfplay.tasks.spec import Pricing, TaskSpec, priced
from verifiers import code, math
from verifiers.countdown import attempts, parse_step, prefix_error
from verifiers.rewards import extract_program
from verifiers.verdict import Verdict

EXAMPLE_TIMEOUT_S = 2.0  # one run of a candidate on the prompt's examples, at answer time


def grade_countdown(problem: Problem, completion: str, timeout_s: float) -> Verdict:
    return math.check_countdown(problem.meta["numbers"], problem.meta["target"], completion,
                                use_all=problem.meta.get("use_all", False))


def grade_program(problem: Problem, completion: str, timeout_s: float) -> Verdict:
    tests = problem.tests or {}
    program = extract_program(completion)
    if tests.get("cases") is not None:
        return code.run_cases(program, tests["entry_point"], tests["cases"], timeout_s=timeout_s)
    return code.run_asserts(program, tests.get("test_code", ""), timeout_s=timeout_s,
                            entry_point=tests.get("entry_point"))


def grade_final_answer(problem: Problem, completion: str, timeout_s: float) -> Verdict:
    if problem.answer is None:
        return Verdict.fail("invalid", f"problem {problem.id} has no answer to grade against")
    return math.check(completion, problem.answer)


@dataclass(frozen=True)
class CountdownCheck:
    """Countdown's rules, from the question alone: a whole answer passes or fails, and an
    unfinished path is ruled out (`prefix` 0.0) once a step breaks the rules or, for a writer that
    does not search in its text (`retries` false), once no step is left."""

    numbers: tuple[int, ...]
    target: int
    use_all: bool = False  # the standard game: every number exactly once
    retries: bool = False  # the answers may search in their text: a finished attempt may be followed by `retry`

    def __call__(self, text: str) -> float:
        return float(math.check_countdown(list(self.numbers), self.target, text, use_all=self.use_all).passed)

    def prefix(self, text: str) -> float | None:
        return 0.0 if prefix_error(list(self.numbers), self.target, text, self.use_all, self.retries) else None


def countdown_relabel(problem: Problem, completion: str) -> Problem | None:
    """Hindsight: the problem `completion` would solve if its target were the result its last
    attempt reaches, or None when that result is no new target of the problem's level.

    The result is the last step's; it must lie in the level's target range (`countdown.LEVELS`),
    be no given number (the generator never asks for one), differ from the problem's own target
    (that answer is the problem's, not a relabeling) and from what every earlier attempt reached
    (else the answer searched past it; under the default rule, where any step may end an answer,
    from every earlier step's result too). Nothing else is checked here: the caller grades the
    completion on the returned problem with the grader of record, so false steps, a wrong state,
    or a number left unused under the standard game's rule still give nothing.

    >>> p = countdown.make_problem([3, 5, 8], 64, use_all=True, level="std3")
    >>> countdown_relabel(p, "3+5=8\\n8+8=16").meta["target"], countdown_relabel(p, "3*5=15\\n15+8=23").prompt
    (16, 'Use 3 5 8 to make 23 with + - * /. Each number exactly once.')
    >>> countdown_relabel(p, "3+5=8\\n8*8=64"), countdown_relabel(p, "3+5=8\\n8-8=0")
    (None, None)
    >>> countdown_relabel(p, "3+5=8\\n8+8=16\\nretry\\n8+5=13\\n13+3=16"), countdown_relabel(p, "nonsense")
    (None, None)
    """
    found = [[parse_step(line) for _, line in attempt] for attempt in attempts(completion)]
    if not found or not found[-1] or found[-1][-1] is None:
        return None
    meta, target = problem.meta, found[-1][-1].result
    use_all = bool(meta.get("use_all"))
    # where an earlier answer would have passed: an attempt's end, or under the default rule any step
    earlier = [steps[-1:] if use_all else steps for steps in found[:-1]] + [[] if use_all else found[-1][:-1]]
    level = countdown.LEVELS.get(countdown.level_of(problem), countdown.LEVELS["easy"])
    if not level.min_target <= target <= level.max_target or target in meta["numbers"] or \
            target == meta["target"] or any(step is not None and step.result == target
                                            for steps in earlier for step in steps):
        return None
    return countdown.make_problem(meta["numbers"], target, use_all=use_all,
                                  level=meta.get("level"), extra_meta={"hindsight_of": problem.id})


def countdown_check(problem: Problem) -> CountdownCheck:
    return CountdownCheck(tuple(problem.meta["numbers"]), problem.meta["target"], problem.meta.get("use_all", False))


def examples_check(problem: Problem) -> Callable[[str], float] | None:
    """The share of the prompt's examples a program passes, where the problem shows examples. A
    program is run once per check however often the search writes it (sampled answers repeat)."""
    examples, entry_point = problem.meta.get("examples"), (problem.tests or {}).get("entry_point")
    if not (examples and entry_point):
        return None

    @functools.lru_cache(maxsize=None)
    def share(program: str) -> float:
        return code.run_cases(program, entry_point, examples, timeout_s=EXAMPLE_TIMEOUT_S).score
    return lambda text: share(extract_program(text))


def _countdown_invariants(problem: Problem) -> None:
    if not {"numbers", "target"} <= set(problem.meta):
        raise ValueError(f"problem {problem.id}: a countdown problem needs meta numbers and target")


def _funcs_invariants(problem: Problem) -> None:
    if "cases" not in problem.tests and "test_code" not in problem.tests:
        raise ValueError(f"problem {problem.id}: tests need 'cases' or 'test_code'")


def return_zero(problem: Problem, solution: str) -> str:
    """A program that guesses: the expert's first `return` made `return 0`."""
    return re.sub(r"return .*", "return 0", solution, count=1)


# Answer allowances of the built-in format: about the length of a long expert answer (a countdown
# answer of the built-in model writes each step as a calculator call and the numbers left:
# `<<25-5=20>> [4 20]`), and roomy for public rows (qa). Steps are lines.
COUNTDOWN = TaskSpec(
    name="countdown", grade=grade_countdown,
    instruction="Write one step per line in the form a+b=c (operators + - * /), using each given number "
                "at most once, so that the last step's result is the target. Write nothing else.",
    prices=priced(Pricing(answer_tokens=64, max_depth=6, step_tokens=32)),
    check_problem=_countdown_invariants, check_form=rows.check_countdown_form, row_formats=rows.FORMATS["countdown"],
    content_fields=countdown_content_fields, normalised_fields=countdown_normalised_fields,
    generate=countdown.generate, levels=countdown.LEVELS, answer_check=countdown_check, vote_by_text=True,
    relabel=countdown_relabel,
    corpus=traces.COUNTDOWN, card_tokens=64,
    dev_files={"countdown": "countdown/dev.jsonl", "countdown_hard": "countdown/hard/dev.jsonl"})
ARITH = TaskSpec(
    name="arith", grade=grade_final_answer,
    instruction="Solve step by step, separating steps with a blank line, and end with a line '#### <answer>'.",
    prices=priced(Pricing(answer_tokens=64, max_depth=8, step_tokens=24)), row_formats=rows.FORMATS["arith"],
    generate=arith.generate, levels=arith.LEVELS, corpus=traces.ARITH, dev_files={"arith": "arith/dev.jsonl"},
    card_tokens=96)
FUNCS = TaskSpec(
    name="funcs", grade=grade_program,
    instruction="Answer with only the Python function in one ```python code block.",
    prices=priced(Pricing(answer_tokens=96, max_depth=10, step_tokens=64)), writes_code=True,
    check_problem=_funcs_invariants, check_form=rows.check_funcs_form, row_formats=rows.FORMATS["funcs"],
    content_fields=funcs_content_fields, normalised_fields=funcs_normalised_fields, generate=funcs.generate,
    answer_check=examples_check, vote_by_text=True, corpus=traces.FUNCS, dev_files={"funcs": "funcs/dev.jsonl", "funcs_pipes": "funcs/pipes/dev.jsonl", "funcs_hard": "funcs/hard/dev.jsonl"},
    card_tokens=192, near_miss=return_zero)
QA = TaskSpec(
    name="qa", grade=grade_final_answer,
    instruction="Think step by step, separating steps with a blank line, and end with a line '#### <answer>'.",
    prices=priced(Pricing(answer_tokens=256, max_depth=12, step_tokens=64)), row_formats=rows.FORMATS["qa"])
