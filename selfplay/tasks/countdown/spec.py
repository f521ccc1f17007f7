"""Countdown's spec: the grader of record, the answer-time check, hindsight relabeling, the content
fields and the `TaskSpec` that gathers the family (`SPEC`).

The grader decides by countdown's rules (numbers, target and `meta["use_all"]`, the standard
game's every-number-once rule). The answer-time check uses the same rules: they need only the
numbers and the target, so they guide search.
"""
from __future__ import annotations

from dataclasses import dataclass

from selfplay.tasks.countdown import problems as countdown, rows, splits, traces
from selfplay.tasks.problem import Problem, canonical_json, normalised_number
from selfplay.tasks.spec import Pricing, TaskSpec, priced
from verifiers import math
from verifiers.countdown import RETRY, attempts, parse_step, prefix_error
from verifiers.verdict import Verdict


def grade_countdown(problem: Problem, completion: str, timeout_s: float) -> Verdict:
    return math.check_countdown(problem.meta["numbers"], problem.meta["target"], completion,
                                use_all=problem.meta.get("use_all", False))


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


def _countdown_invariants(problem: Problem) -> None:
    if not {"numbers", "target"} <= set(problem.meta):
        raise ValueError(f"problem {problem.id}: a countdown problem needs meta numbers and target")


def countdown_content_fields(task: str, prompt: str, tests: dict | None, meta: dict) -> dict:
    """Countdown's content: the sorted numbers and the target (the rule and the prompt's wording aside)."""
    return {"task": task, "numbers": sorted(meta["numbers"]), "target": meta["target"]}


def countdown_normalised_fields(problem: "Problem") -> dict:
    """Countdown's normalised content: the numbers as a multiset and the target, however written."""
    numbers = problem.meta.get("numbers")
    numbers = list(numbers) if isinstance(numbers, (list, tuple)) else [numbers]
    return {"kind": "countdown", "numbers": sorted((normalised_number(n) for n in numbers), key=canonical_json),
            "target": normalised_number(problem.meta.get("target"))}


# About the length of a long expert answer: the built-in model writes each step as a calculator
# call and the numbers left (`<<25-5=20>> [4 20]`). Steps are lines.
SPEC = TaskSpec(
    name="countdown", grade=grade_countdown,
    instruction="Write one step per line in the form a+b=c (operators + - * /), using each given number "
                "at most once, so that the last step's result is the target. Write nothing else.",
    prices=priced(Pricing(answer_tokens=64, max_depth=6, step_tokens=32)),
    check_problem=_countdown_invariants, check_form=rows.check_countdown_form, row_formats=rows.FORMATS,
    content_fields=countdown_content_fields, normalised_fields=countdown_normalised_fields,
    generate=countdown.generate, levels=countdown.LEVELS, answer_check=countdown_check, vote_by_text=True,
    relabel=countdown_relabel, retry_marker=RETRY,
    corpus=traces.RECIPE, card_tokens=64, splits=splits.RECIPE,
    dev_files={"countdown": "countdown/dev.jsonl", "countdown_hard": "countdown/hard/dev.jsonl"})
