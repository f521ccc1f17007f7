"""What the built-in families' corpus recipes share: the computation line (`STEP`), a slipped
result (`slip`, `slip_one`), and the check that a flawed trace FAILS the grader (`fails_grader`).

Each family's recipe is in its package (`selfplay/tasks/countdown/traces.py`,
`selfplay/tasks/arith/traces.py`, `selfplay/tasks/funcs/traces.py`); `selfplay.factory.corpus`
draws problems, kinds and the calculator format. This module knows the grader through the task
specs, nothing about models or training.
"""
from __future__ import annotations

import random
import re

from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import task_spec
from verifiers.code import DEFAULT_TIMEOUT_S

MAX_SLIP = 3  # a slipped result is off by 1 to this much
STEP = re.compile(r"(\d+)([-+*/])(\d+)=(\d+)")  # one computation line: `25-5=20`


def step_value(left: int, operator: str, right: int) -> int | None:
    """The exact positive result of a step, else None.

    >>> step_value(7, "/", 2), step_value(8, "/", 2), step_value(2, "-", 5)
    (None, 4, None)
    """
    if operator == "/":
        value = left // right if right and left % right == 0 else None
    else:
        value = {"+": left + right, "-": left - right, "*": left * right}[operator]
    return value if value is not None and value > 0 else None


def slip(lines: list[str], index: int, delta: int) -> list[str] | None:
    """`lines` with step `index`'s result off by `delta` and later steps redone from the slipped
    values (true arithmetic after the slip); None when a redone step is not exact or positive.

    >>> slip(["25-5=20", "20*4=80"], 0, 1)
    ['25-5=21', '21*4=84']
    """
    out, renamed = list(lines), {}
    for i, line in enumerate(lines[index:], index):
        match = STEP.fullmatch(line)
        if match is None:
            continue
        left, operator, right, result = int(match[1]), match[2], int(match[3]), int(match[4])
        if i == index:
            value = result + delta
        else:
            left, right = renamed.get(left, left), renamed.get(right, right)
            value = step_value(left, operator, right)
        if value is None or value <= 0:
            return None
        out[i] = f"{left}{operator}{right}={value}"
        renamed[result] = value
    return out


def fails_grader(problem: Problem, completion: str) -> str | None:
    return None if task_spec(problem.task).grade(problem, completion, DEFAULT_TIMEOUT_S).passed else completion


def slip_one(expert: str, rng: random.Random) -> tuple[list[str], list[int]] | None:
    """The expert lines with one step slipped, and the indices of the step lines."""
    lines = expert.split("\n")
    steps = [i for i, line in enumerate(lines) if STEP.fullmatch(line)]
    slipped = slip(lines, rng.choice(steps), rng.choice([-1, 1]) * rng.randint(1, MAX_SLIP))
    return None if slipped is None else (slipped, steps)
