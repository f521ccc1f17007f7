"""Countdown: reach a target from a few given numbers with + - * and exact /.

Rules: each given number is used at most once (not all must be used); every step combines
two available numbers into a new one, which becomes available; no step may produce a
fraction, zero or a negative number. A solution is one step per line, no spaces, the larger
operand first, and the last step's result is the target:

    25-5=20
    20*3=60

This module knows the rules, a solver and a generator. It does not grade a model's text
(that is `verifiers.math.check_countdown`) and knows nothing about files or models.
"""
from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Sequence

from selfplay.tasks.problem import Problem, content_key

MAX_SOLVER_NUMBERS = 6  # exhaustive search grows factorially; the built-in task uses 3 to 5


def make_prompt(numbers: Sequence[int], target: int) -> str:
    """The prompt shown to a model; kept short for small character-level models.

    >>> make_prompt([3, 5, 8, 25], 24)
    'Use 3 5 8 25 to make 24 with + - * /. Each number at most once.'
    """
    return f"Use {' '.join(str(n) for n in numbers)} to make {target} with + - * /. Each number at most once."


def make_problem(numbers: Sequence[int], target: int, solution: Sequence[str] | None = None,
                 extra_meta: dict | None = None, id: str | None = None) -> Problem:
    """A countdown problem; `solution` (step lines) is kept in meta when known."""
    meta: dict = {"numbers": list(numbers), "target": target}
    if solution is not None:
        meta["solution"] = "\n".join(solution)
        meta["steps"] = len(solution)
    meta.update(extra_meta or {})
    return Problem.create("countdown", make_prompt(numbers, target), answer=str(target),
                          meta=meta, id=id)


def _moves(larger: int, smaller: int) -> Iterator[tuple[int, str]]:
    """Every legal step on two numbers: (result, step text)."""
    yield larger + smaller, f"{larger}+{smaller}={larger + smaller}"
    yield larger * smaller, f"{larger}*{smaller}={larger * smaller}"
    if larger > smaller:
        yield larger - smaller, f"{larger}-{smaller}={larger - smaller}"
    if larger % smaller == 0:
        yield larger // smaller, f"{larger}/{smaller}={larger // smaller}"


def _pairs(state: tuple[int, ...]) -> Iterator[tuple[int, int, tuple[int, ...]]]:
    """(larger, smaller, the rest) for every pair of a sorted state, equal pairs once."""
    seen = set()
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            if (state[i], state[j]) in seen:
                continue
            seen.add((state[i], state[j]))
            yield state[j], state[i], state[:i] + state[i + 1:j] + state[j + 1:]


@functools.lru_cache(maxsize=1 << 15)
def reachable(state: tuple[int, ...]) -> dict[int, tuple[str, ...]]:
    """Every value some sequence of at least one step reaches from the sorted `state`,
    mapped to one shortest such sequence. Memoised on the sorted multiset; do not mutate.

    >>> reachable((2, 3))[6]
    ('3*2=6',)
    """
    found: dict[int, tuple[str, ...]] = {}
    for larger, smaller, rest in _pairs(state):
        for value, step in _moves(larger, smaller):
            if value not in found or len(found[value]) > 1:
                found[value] = (step,)
            if not rest:
                continue
            for reached, steps in reachable(tuple(sorted(rest + (value,)))).items():
                if reached not in found or len(steps) + 1 < len(found[reached]):
                    found[reached] = (step,) + steps
    return found


def _check_numbers(numbers: Sequence[int]) -> tuple[int, ...]:
    if not 2 <= len(numbers) <= MAX_SOLVER_NUMBERS:
        raise ValueError(f"the solver takes 2 to {MAX_SOLVER_NUMBERS} numbers, got {len(numbers)}")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in numbers):
        raise ValueError(f"countdown numbers must be positive integers, got {list(numbers)}")
    return tuple(sorted(numbers))


def solve(numbers: Sequence[int], target: int) -> list[str] | None:
    """One shortest solution (step lines), or None when the target cannot be reached.

    >>> solve([3, 5, 8], 64)
    ['5+3=8', '8*8=64']
    """
    steps = reachable(_check_numbers(numbers)).get(target)
    return list(steps) if steps is not None else None


def solve_all(numbers: Sequence[int], target: int, limit: int = 10) -> list[list[str]]:
    """Up to `limit` distinct solutions, shortest first. Two solutions are the same when they
    have the same steps in another order; every step but the last feeds a later step."""
    state = _check_numbers(numbers)
    solutions: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for length in range(1, len(state)):
        for steps in _sequences([(n, -1) for n in state], [], set(), length, target):
            key = tuple(sorted(steps))
            if key not in seen:
                seen.add(key)
                solutions.append(list(steps))
                if len(solutions) >= limit:
                    return solutions
    return solutions


def _sequences(pool: list[tuple[int, int]], steps: list[str], consumed: set[int],
               length: int, target: int) -> Iterator[list[str]]:
    """Step sequences of exactly `length` steps ending on `target` in which every earlier
    step's result is consumed. Pool items are (value, index of the step that made it or -1)."""
    for i in range(len(pool)):
        for j in range(i + 1, len(pool)):
            (a, origin_a), (b, origin_b) = sorted((pool[i], pool[j]), reverse=True)
            rest = pool[:i] + pool[i + 1:j] + pool[j + 1:]
            now_consumed = consumed | {origin_a, origin_b}
            for value, step in _moves(a, b):
                if len(steps) + 1 == length:
                    if value == target and all(k in now_consumed for k in range(len(steps))):
                        yield steps + [step]
                else:
                    yield from _sequences(rest + [(value, len(steps))], steps + [step],
                                          now_consumed, length, target)


def generate(n: int, seed: int, n_numbers: int | Sequence[int] = (3, 4), max_number: int = 25,
             min_target: int = 10, max_target: int = 100, min_steps: int = 1) -> list[Problem]:
    """`n` distinct solvable countdown problems, deterministic in `seed`.

    Each problem draws its count of numbers from `n_numbers`, the numbers from 1 to
    `max_number`, and its target uniformly among the values in [min_target, max_target]
    that some solution of at least `min_steps` steps reaches and that are not given numbers.
    """
    counts = (n_numbers,) if isinstance(n_numbers, int) else tuple(n_numbers)
    if not counts or any(not 2 <= k <= 5 for k in counts):
        raise ValueError(f"n_numbers must lie in 2..5, got {n_numbers}")
    if not 1 <= min_target <= max_target or max_number < 1:
        raise ValueError("need 1 <= min_target <= max_target and max_number >= 1")
    rng = random.Random(seed)
    knobs = {"max_number": max_number, "min_target": min_target, "max_target": max_target}
    problems: list[Problem] = []
    seen: set[str] = set()
    for _ in range(100 * n + 1000):
        if len(problems) == n:
            return problems
        numbers = [rng.randint(1, max_number) for _ in range(rng.choice(counts))]
        found = reachable(tuple(sorted(numbers)))
        targets = sorted(value for value, steps in found.items()
                         if min_target <= value <= max_target and value not in numbers
                         and len(steps) >= min_steps)
        if not targets:
            continue
        target = rng.choice(targets)
        problem = make_problem(numbers, target, found[target], {"knobs": knobs})
        key = content_key(problem)
        if key not in seen:
            seen.add(key)
            problems.append(problem)
    if len(problems) == n:
        return problems
    raise ValueError(f"could only make {len(problems)} of {n} distinct problems with these knobs")
