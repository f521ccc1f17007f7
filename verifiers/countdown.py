"""The countdown checker: is a list of arithmetic steps a valid way to reach the target?

A solution is one step per line, `a op b = c`, for example

    25-5=20
    20 * 4 = 80

with optional spaces or tabs around tokens. A step may also be written in the calculator's
annotation form (GSM8K's `<<48/2=24>>`): the whole line is `<<25-5=20>>`, with optional
spaces or tabs inside and outside the brackets, and counts exactly as the plain step
`25-5=20` (the written result is checked like any other). Nothing else may share the line:
`<<25-5=20>> so`, `<<25-5=20`, `<<<<25-5=20>>>>` and `25-5=<<25-5=20>>20` are not steps.
A step may end with the numbers left after it, in square brackets, in any order:
`<<25-5=20>> [4 20]` (a scratchpad of the state, which a small model finds easier to keep in
view than to track). When present it must be exactly the multiset left, or the step is
`wrong`: the loop trains on what passes, so a false state is never learned.
Operators: `+`, `-` (also `−`, U+2212), `*`
(also `x`, `×`), `/` (also `÷`). Blank lines are ignored. Every other line, prose and
"Answer:" lines included, makes the whole solution `invalid`: the loop finetunes on what
this accepts, so nothing may ride along with the steps. Operands and results are written
in ASCII digits without signs (a result may carry a `-` only so that a negative result is
reported as such), at most MAX_OPERAND_DIGITS digits.

Rules, each failure `wrong` with the line number: the arithmetic of every step is exactly
true; division is exact (no remainder, no division by zero); every result is a positive
integer; each operand is currently available, the given numbers or results of earlier
steps, and is consumed when used (a multiset: `[5, 5]` may use 5 twice, `[5]` may not);
the last step's result equals the target. Reaching the target in an earlier step does not
count if later steps follow: the last line is the answer. Not every number has to be used,
unless `use_all` (the standard game) is set: then after the last step nothing but its result
may be left, so every given number, and every intermediate result, was used exactly once
(a failure names the numbers left over).

An answer may search in its own text: a line `retry` (alone on its line, spaces aside) abandons
the attempt above it, and the next attempt starts again from the given numbers. Only the last
attempt is the answer and is graded by the rules above. Every abandoned attempt must still be
a legal one (at least one step, every step well-formed, true, on numbers available in that
attempt, its stated numbers left exact), so nothing false is trained on inside a search either;
an empty attempt (`retry` first, twice in a row, or last) makes the answer `invalid`.

    25+5=30 [4 30]
    30*4=120 [120]
    retry
    25-5=20 [4 20]
    20*4=80 [80]

This module knows countdown and nothing about completions of other tasks, models or Ray.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from verifiers.verdict import Verdict

MAX_NUMBERS = 10  # most numbers a problem may give
MAX_VALUE = 10**9  # given numbers and the target lie in [1, MAX_VALUE]
MAX_SOLUTION_CHARS = 10_000  # longer solutions are invalid without being read
MAX_OPERAND_DIGITS = 100  # longer operands or results make a line malformed

_OPERATORS = {"+": "+", "-": "-", "\u2212": "-", "*": "*", "x": "*", "\u00d7": "*",
              "/": "/", "\u00f7": "/"}
_OPERAND = rf"[0-9]{{1,{MAX_OPERAND_DIGITS}}}"
_STEP_TEXT = rf"({_OPERAND})[ \t]*([-+*/x\u2212\u00d7\u00f7])[ \t]*({_OPERAND})[ \t]*=[ \t]*(-?{_OPERAND})"
_STEP = re.compile(_STEP_TEXT)
_ANNOTATED_STEP = re.compile(rf"<<[ \t]*{_STEP_TEXT}[ \t]*>>")  # the calculator's form of a step
_MAX_STATE_CHARS = MAX_NUMBERS * (MAX_OPERAND_DIGITS + 1)
_STATE = re.compile(rf"(.*?)[ \t]*\[([0-9 ]{{0,{_MAX_STATE_CHARS}}})\]")  # a step, then the numbers left


@dataclass(frozen=True)
class Step:
    left: int
    operator: str  # one of + - * /
    right: int
    result: int  # as written, which may be false
    left_after: tuple[int, ...] | None = field(default=None, repr=False)  # numbers left after it, when written


RETRY = "retry"  # a line of its own: the attempt above is abandoned, the next starts from the given numbers


def attempts(text: str) -> list[list[tuple[int, str]]]:
    """The attempts of an answer: its non-blank lines as (line number, line), split at `retry` lines.

    >>> attempts("8*5=40\\nretry\\n\\n8+5=13")
    [[(1, '8*5=40')], [(4, '8+5=13')]]
    """
    return _split(text)[0]


def _split(text: str) -> tuple[list[list[tuple[int, str]]], list[int]]:
    """The attempts (as `attempts`) and the line number of the `retry` that ends each but the last."""
    found: list[list[tuple[int, str]]] = [[]]
    retry_lines: list[int] = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        if line.strip() == RETRY:
            found.append([])
            retry_lines.append(line_number)
        elif line.strip():
            found[-1].append((line_number, line))
    return found, retry_lines


def _attempt_steps(attempt: list[tuple[int, str]]) -> tuple[list[tuple[int, Step]], str | None]:
    """The steps of one attempt, or why a line is not a step."""
    steps = []
    for line_number, line in attempt:
        step = parse_step(line)
        if step is None:
            return steps, f"line {line_number} is not a step: {line.strip()[:40]!r}"
        steps.append((line_number, step))
    return steps, None


def _attempt_error(numbers: list[int], steps: list[tuple[int, Step]]) -> tuple[Counter, str | None]:
    """The numbers left after an attempt's steps (from the given numbers), or why a step breaks a rule."""
    available = Counter(numbers)
    for line_number, step in steps:
        error = step_error(step) or _consume(available, step)
        if error:
            return available, f"line {line_number}: {error}"
    return available, None


def _retry_error(parts: list[list[tuple[int, str]]], retry_lines: list[int], finished: bool) -> str | None:
    """Why the split into attempts is malformed: an empty attempt before a `retry` line, or a
    `retry` that ends a `finished` answer."""
    for part, line_number in zip(parts, retry_lines):
        if not part:
            return f"line {line_number}: {RETRY} must follow an attempt's steps"
    if finished and retry_lines and not parts[-1]:
        return f"the answer ends with {RETRY}: no final attempt"
    return None


def parse_step(line: str) -> Step | None:
    """The step written on `line`, or None when the line is not exactly one step.

    >>> parse_step(" 25 − 5 = 20 "), parse_step("25-5=20 so far")
    (Step(left=25, operator='-', right=5, result=20), None)
    >>> parse_step("<<25-5=20>>"), parse_step("<<25-5=20>> so far")
    (Step(left=25, operator='-', right=5, result=20), None)
    >>> parse_step("<<25-5=20>> [4 20]").left_after
    (4, 20)
    """
    text, left_after = line.strip(), None
    stated = _STATE.fullmatch(text)
    if stated is not None and len(stated.group(2)) <= _MAX_STATE_CHARS:
        numbers = stated.group(2).split()
        if any(len(number) > MAX_OPERAND_DIGITS for number in numbers) or len(numbers) > MAX_NUMBERS:
            return None
        text, left_after = stated.group(1), tuple(int(number) for number in numbers)
    match = _STEP.fullmatch(text) or _ANNOTATED_STEP.fullmatch(text)
    if match is None:
        return None
    left, operator, right, result = match.groups()
    return Step(int(left), _OPERATORS[operator], int(right), int(result), left_after)


def step_error(step: Step) -> str | None:
    """Why the arithmetic of `step` is not exactly true with a positive result, else None.

    >>> step_error(Step(7, "/", 2, 3)), step_error(Step(6, "/", 2, 3))
    ('7/2 is not exact', None)
    """
    left, right = step.left, step.right
    if step.operator == "/":
        if right == 0:
            return "division by zero"
        if left % right:
            return f"{left}/{right} is not exact"
        value = left // right
    else:
        value = {"+": left + right, "-": left - right, "*": left * right}[step.operator]
    if value != step.result:
        return f"{left}{step.operator}{right} is {value}, not {step.result}"
    if value <= 0:
        return f"result {value} is not a positive integer"
    return None


def _consume(available: Counter, step: Step) -> str | None:
    for operand in (step.left, step.right):
        if available[operand] < 1:
            return f"{operand} is not available"
        available[operand] -= 1
    available[step.result] += 1
    if step.left_after is not None and Counter(step.left_after) != +available:
        actual = " ".join(map(str, sorted(available.elements())))
        return f"the numbers left are [{actual}], not [{' '.join(map(str, step.left_after))}]"
    return None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_VALUE


def _input_problem(numbers: object, target: object, solution: object, use_all: object) -> str | None:
    if not isinstance(numbers, (list, tuple)) or not 1 <= len(numbers) <= MAX_NUMBERS:
        return f"numbers must be a list of 1 to {MAX_NUMBERS} ints"
    if not all(_is_count(number) for number in numbers):
        return f"every number must be an int in [1, {MAX_VALUE}]"
    if not _is_count(target):
        return f"target must be an int in [1, {MAX_VALUE}]"
    if not isinstance(use_all, bool):
        return f"use_all must be a bool, got {type(use_all).__name__}"
    if not isinstance(solution, str):
        return "solution must be str"
    if len(solution) > MAX_SOLUTION_CHARS:
        return f"solution over {MAX_SOLUTION_CHARS} characters"
    return None


def prefix_error(numbers: list[int], target: int, partial: str, use_all: bool = False,
                 retries: bool = True) -> str | None:
    """Why no solution that starts with `partial` can pass, or None while one still might.

    `partial` is the start of a solution whose every line is finished (a search path that has
    not ended yet). It is dead when a line is neither a step nor `retry`, a step breaks a rule
    (in any attempt), or a `retry` follows no steps. A path whose attempt has one number left
    is not dead: a `retry` line may follow it; with `retries` false (for a writer that does not
    search in its text) it is, since only a `retry` could follow. Under `use_all` a path with
    numbers left is as alive as under the default rule: more steps will use them. Uses only the
    question: search may prune on it at answer time.

    >>> prefix_error([25, 5, 4], 80, "25-5=20\\n"), prefix_error([25, 5, 4], 80, "25-5=21\\n")
    (None, 'line 1: 25-5 is 20, not 21')
    >>> prefix_error([25, 5, 4], 80, "25*5=125\\n125-4=121\\nretry\\n")
    """
    problem = _input_problem(numbers, target, partial, use_all)
    if problem:
        return problem
    parts, retry_lines = _split(partial)
    malformed = _retry_error(parts, retry_lines, finished=False)
    if malformed:
        return malformed
    for part in parts:
        steps, error = _attempt_steps(part)
        available, broken = _attempt_error(numbers, steps)
        if error or broken:
            return error or broken
    if not retries and parts[-1] and sum(available.values()) < 2:
        return "fewer than two numbers are left for another step"
    return None


def check_countdown(numbers: list[int], target: int, solution: str, use_all: bool = False) -> Verdict:
    """Passed when the steps are well-formed, true, use available numbers and end on target
    (and, with `use_all`, leave no number unused).

    >>> check_countdown([25, 5, 4], 80, "25-5=20\\n20*4=80").status
    'passed'
    >>> check_countdown([25, 5, 4, 1], 80, "25-5=20\\n20*4=80", use_all=True).detail
    'every number must be used: 1 is left unused'
    """
    problem = _input_problem(numbers, target, solution, use_all)
    if problem:
        return Verdict.fail("invalid", problem)
    parts, retry_lines = _split(solution)
    malformed = _retry_error(parts, retry_lines, finished=True)
    if malformed:
        return Verdict.fail("invalid", malformed)
    parsed = []
    for part in parts:
        steps, error = _attempt_steps(part)
        if error:
            return Verdict.fail("invalid", error)
        parsed.append(steps)
    steps = parsed[-1]
    if not steps:
        return Verdict.fail("invalid", "no steps")
    for abandoned in parsed[:-1]:
        error = _attempt_error(numbers, abandoned)[1]
        if error:
            return Verdict.fail("wrong", f"{error} (an abandoned attempt)")
    available, error = _attempt_error(numbers, steps)
    if error:
        return Verdict.fail("wrong", error)
    last = steps[-1][1].result
    if last != target:
        return Verdict.fail("wrong", f"the last step gives {last}, not the target {target}")
    available[last] -= 1
    unused = sorted(available.elements())
    if use_all and unused:
        verb = "is" if len(unused) == 1 else "are"
        return Verdict.fail("wrong", f"every number must be used: {', '.join(map(str, unused))} {verb} left unused")
    tries = f" on attempt {len(parsed)}" if len(parsed) > 1 else ""
    return Verdict.ok(f"reached {target} in {len(steps)} steps{tries}")
