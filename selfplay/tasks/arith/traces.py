"""How the built-in model's imitation corpus writes arith traces (its `CorpusRecipe`).

An expert trace is the problem's worked solution. A flawed one carries one deliberate mistake,
checked to FAIL the grader: `wrong_step` (one result slightly off, later steps redone from it, the
`####` line follows) or `wrong_answer` (`####` slightly off). With the calculator on, false
arithmetic cannot be written, so no flawed arith trace is made.
"""
from __future__ import annotations

import random

from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import CorpusRecipe
from selfplay.tasks.traces import MAX_SLIP, STEP, fails_grader, slip_one


def arith_wrong_step(problem: Problem, expert: str, rng: random.Random) -> str | None:
    """`wrong_step`, and the `####` line gives the slipped last result."""
    slipped = slip_one(expert, rng)
    if slipped is None:
        return None
    lines, steps = slipped
    lines[-1] = f"#### {STEP.fullmatch(lines[steps[-1]])[4]}"
    return fails_grader(problem, "\n".join(lines))


def arith_wrong_answer(problem: Problem, expert: str, rng: random.Random) -> str | None:
    lines = expert.split("\n")
    answer = int(problem.answer) + rng.choice([-1, 1]) * rng.randint(1, MAX_SLIP)
    return fails_grader(problem, "\n".join(lines[:-1] + [f"#### {answer}"])) if answer >= 0 else None


RECIPE = CorpusRecipe(mistakes={"wrong_step": arith_wrong_step, "wrong_answer": arith_wrong_answer},
                      mistakes_with_calculator=(), calculator=True)
