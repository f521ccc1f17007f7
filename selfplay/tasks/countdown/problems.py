"""Countdown: reach a target from a few given numbers with + - * and exact /.

Rules: every step combines two available numbers into a new one, which becomes available;
no step may produce a fraction, zero or a negative number. Under the default rule each given
number is used at most once (not all must be used); under the standard game's rule
(`use_all`) each is used exactly once, so a solution has exactly one step fewer than there
are numbers. A solution is one step per line, no spaces, the larger operand first, and the
last step's result is the target:

    25-5=20
    20*3=60

Problems come in `LEVELS` (how many numbers, their range, the target range, the rule); a
generated problem names its level in `meta["level"]`, and one without it (the first committed
files) is level `easy`. This module knows the rules, the levels, a solver and a generator.
It does not grade a model's text (that is `verifiers.math.check_countdown`) and knows nothing
about files or models.
"""
from __future__ import annotations

import functools
import random
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from selfplay.tasks.problem import Problem, content_key

MAX_SOLVER_NUMBERS = 6  # exhaustive search grows factorially; the built-in task uses 3 to 5


@dataclass(frozen=True)
class Level:
    name: str  # the key in LEVELS and the value of a generated problem's meta["level"]
    n_numbers: tuple[int, ...]  # how many numbers a problem gives, one of these drawn uniformly
    max_number: int  # each number is drawn from 1..max_number, repeats allowed
    min_target: int  # targets are drawn from [min_target, max_target] ...
    max_target: int  # ... among the values a solution reaches, never a given number
    use_all: bool  # the standard game: every number exactly once; else each at most once

    def __post_init__(self) -> None:
        if not self.n_numbers or any(not 2 <= k <= 5 for k in self.n_numbers):
            raise ValueError(f"level {self.name}: n_numbers must lie in 2..5, got {self.n_numbers}")
        if not 1 <= self.min_target <= self.max_target or self.max_number < 1:
            raise ValueError(f"level {self.name}: need 1 <= min_target <= max_target and max_number >= 1")


LEVELS: dict[str, Level] = {level.name: level for level in (
    Level("easy", (3, 4), max_number=25, min_target=10, max_target=100, use_all=False),
    Level("std3", (3,), max_number=20, min_target=10, max_target=200, use_all=True),
    Level("std4", (4,), max_number=20, min_target=10, max_target=200, use_all=True),
    Level("std5", (5,), max_number=20, min_target=10, max_target=200, use_all=True),  # the stretch
)}
HARD_LEVELS = ("std3", "std4")  # the hard split is these levels' dev and test, joined


def level_of(problem: Problem) -> str:
    """The level a countdown problem names in meta; one that names none is `easy`.

    >>> level_of(make_problem([3, 5, 8], 64)), level_of(make_problem([3, 5, 8], 16, use_all=True, level="std3"))
    ('easy', 'std3')
    """
    return problem.meta.get("level", "easy")


def make_prompt(numbers: Sequence[int], target: int, use_all: bool = False) -> str:
    """The prompt shown to a model; kept short for small character-level models.

    >>> make_prompt([3, 5, 8, 25], 24)
    'Use 3 5 8 25 to make 24 with + - * /. Each number at most once.'
    >>> make_prompt([3, 5, 8], 16, use_all=True)
    'Use 3 5 8 to make 16 with + - * /. Each number exactly once.'
    """
    rule = "exactly once" if use_all else "at most once"
    return f"Use {' '.join(str(n) for n in numbers)} to make {target} with + - * /. Each number {rule}."


def make_problem(numbers: Sequence[int], target: int, solution: Sequence[str] | None = None,
                 extra_meta: dict | None = None, id: str | None = None, use_all: bool = False,
                 level: str | None = None) -> Problem:
    """A countdown problem; `solution` (step lines) is kept in meta when known, `use_all`
    (only when true) and `level` (when given) too."""
    meta: dict = {"numbers": list(numbers), "target": target}
    if use_all:
        meta["use_all"] = True
    if level is not None:
        meta["level"] = level
    if solution is not None:
        meta["solution"] = "\n".join(solution)
        meta["steps"] = len(solution)
    meta.update(extra_meta or {})
    return Problem.create("countdown", make_prompt(numbers, target, use_all), answer=str(target),
                          meta=meta, id=id)


def moves(larger: int, smaller: int) -> Iterator[tuple[int, str]]:
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
        for value, step in moves(larger, smaller):
            if value not in found or len(found[value]) > 1:
                found[value] = (step,)
            if not rest:
                continue
            for reached, steps in reachable(tuple(sorted(rest + (value,)))).items():
                if reached not in found or len(steps) + 1 < len(found[reached]):
                    found[reached] = (step,) + steps
    return found


def _splits(state: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every way to cut the sorted multiset `state` into two non-empty sorted parts, once each."""
    seen = set()
    last = len(state) - 1
    for mask in range(1, 1 << last):  # the last number always goes right: each cut once
        left = tuple(state[i] for i in range(last) if mask >> i & 1)
        right = tuple(state[i] for i in range(len(state)) if i == last or not mask >> i & 1)
        key = min(left, right), max(left, right)
        if key not in seen:
            seen.add(key)
            yield key


@functools.lru_cache(maxsize=1 << 14)
def reachable_all(state: tuple[int, ...]) -> frozenset[int]:
    """Every value a solution that uses EVERY number of the sorted `state` reaches (the
    standard game). Such a solution is a binary tree over all the numbers, so the values are
    built from the values of each cut into two parts. Memoised on the sorted multiset.

    >>> sorted(reachable_all((2, 3)))
    [1, 5, 6]
    """
    return _values_using_all(state)


def _values_using_all(state: tuple[int, ...]) -> frozenset[int]:
    """`reachable_all` without memoising `state` itself (its parts are): the generator's
    whole problems rarely repeat, and a 5-number state holds about a thousand values."""
    if len(state) == 1:
        return frozenset(state)
    found: set[int] = set()
    add = found.add
    for left, right in _splits(state):
        right_values = reachable_all(right)
        for a in reachable_all(left):
            for b in right_values:
                larger, smaller = (a, b) if a >= b else (b, a)
                add(larger + smaller)
                add(larger * smaller)
                if larger > smaller:
                    add(larger - smaller)
                if larger % smaller == 0:
                    add(larger // smaller)
    return frozenset(found)


def _partners(a: int, target: int) -> Iterator[int]:
    """Every b for which some step on a and b (either order) can give `target`."""
    yield from (target - a, a - target, a + target, a * target)
    if target % a == 0:
        yield target // a
    if a % target == 0:
        yield a // target


def _solve_using_all(state: tuple[int, ...], target: int) -> list[str] | None:
    """One solution that uses every number of the sorted `state`, or None."""
    if len(state) == 1:
        return [] if state[0] == target else None
    for left, right in _splits(state):
        right_values = reachable_all(right)
        for a in sorted(reachable_all(left)):
            for b in _partners(a, target):
                if b < 1 or b not in right_values:
                    continue
                for value, step in moves(max(a, b), min(a, b)):
                    if value == target:
                        return _solve_using_all(left, a) + _solve_using_all(right, b) + [step]
    return None


def _check_numbers(numbers: Sequence[int]) -> tuple[int, ...]:
    if not 2 <= len(numbers) <= MAX_SOLVER_NUMBERS:
        raise ValueError(f"the solver takes 2 to {MAX_SOLVER_NUMBERS} numbers, got {len(numbers)}")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in numbers):
        raise ValueError(f"countdown numbers must be positive integers, got {list(numbers)}")
    return tuple(sorted(numbers))


def solve(numbers: Sequence[int], target: int, use_all: bool = False) -> list[str] | None:
    """One shortest solution (step lines), or None when the target cannot be reached. With
    `use_all` every number is used exactly once, so a solution has len(numbers) - 1 steps.

    >>> solve([3, 5, 8], 64), solve([3, 5, 8], 40), solve([3, 5, 8], 40, use_all=True)
    (['5+3=8', '8*8=64'], ['8*5=40'], None)
    >>> solve([3, 5, 8], 43, use_all=True)
    ['8*5=40', '40+3=43']
    """
    state = _check_numbers(numbers)
    if use_all:
        return _solve_using_all(state, target)
    steps = reachable(state).get(target)
    return list(steps) if steps is not None else None


def solve_all(numbers: Sequence[int], target: int, limit: int = 10, use_all: bool = False) -> list[list[str]]:
    """Up to `limit` distinct solutions, shortest first. Two solutions are the same when they
    have the same steps in another order; every step but the last feeds a later step. With
    `use_all` only solutions of exactly len(numbers) - 1 steps count: every number consumed."""
    state = _check_numbers(numbers)
    solutions: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    lengths = [len(state) - 1] if use_all else range(1, len(state))
    for length in lengths:
        for steps in _sequences([(n, -1) for n in state], [], set(), length, target, use_all):
            key = tuple(sorted(steps))
            if key not in seen:
                seen.add(key)
                solutions.append(list(steps))
                if len(solutions) >= limit:
                    return solutions
    return solutions


def _sequences(pool: list[tuple[int, int]], steps: list[str], consumed: set[int],
               length: int, target: int, prune: bool = False) -> Iterator[list[str]]:
    """Step sequences of exactly `length` steps ending on `target` in which every earlier
    step's result is consumed. Pool items are (value, index of the step that made it or -1).
    `prune` (for solutions that use the whole pool) skips pools from which the target cannot
    be reached by using all of them."""
    for i in range(len(pool)):
        for j in range(i + 1, len(pool)):
            (a, origin_a), (b, origin_b) = sorted((pool[i], pool[j]), reverse=True)
            rest = pool[:i] + pool[i + 1:j] + pool[j + 1:]
            now_consumed = consumed | {origin_a, origin_b}
            for value, step in moves(a, b):
                if len(steps) + 1 == length:
                    if value == target and all(k in now_consumed for k in range(len(steps))):
                        yield steps + [step]
                    continue
                new_pool = rest + [(value, len(steps))]
                if prune and target not in reachable_all(tuple(sorted(v for v, _ in new_pool))):
                    continue
                yield from _sequences(new_pool, steps + [step], now_consumed, length, target, prune)


def generate(n: int, seed: int, level: str | None = None, *, n_numbers: int | Sequence[int] | None = None,
             max_number: int | None = None, min_target: int | None = None, max_target: int | None = None,
             min_steps: int = 1, exclude: Collection[str] = ()) -> list[Problem]:
    """`n` distinct solvable countdown problems, deterministic in `seed`.

    `level` names one of LEVELS, recorded in each problem's meta. Without it the knobs (each
    defaulting to level `easy`'s) may be set one by one, and no level is recorded: this is how
    the first committed files were made. Each problem draws its count of numbers from
    `n_numbers`, the numbers from 1 to `max_number`, and its target uniformly among the values
    in [min_target, max_target] that are not given numbers and that some solution reaches: of
    at least `min_steps` steps, or, in a `use_all` level, using every number. Problems whose
    content key is in `exclude` (other splits, other levels) are skipped.
    """
    knobs = {"n_numbers": n_numbers, "max_number": max_number, "min_target": min_target, "max_target": max_target}
    if level is not None and any(value is not None for value in knobs.values()):
        raise ValueError("give a level or knobs, not both")
    if level is not None and level not in LEVELS:
        raise ValueError(f"unknown countdown level {level!r}; expected one of {sorted(LEVELS)}")
    base = LEVELS[level or "easy"]
    counts = base.n_numbers if n_numbers is None else (n_numbers,) if isinstance(n_numbers, int) else tuple(n_numbers)
    spec = Level(level or "custom", counts, *(getattr(base, name) if knobs[name] is None else knobs[name]
                                              for name in ("max_number", "min_target", "max_target")), base.use_all)
    return _generate(n, random.Random(seed), spec, level, min_steps, exclude)


def _generate(n: int, rng: random.Random, spec: Level, level: str | None, min_steps: int,
              exclude: Collection[str]) -> list[Problem]:
    knobs = {"max_number": spec.max_number, "min_target": spec.min_target, "max_target": spec.max_target}
    problems: list[Problem] = []
    seen: set[str] = set()
    for _ in range(100 * n + 1000):
        if len(problems) == n:
            return problems
        numbers = [rng.randint(1, spec.max_number) for _ in range(rng.choice(spec.n_numbers))]
        target, solution = _draw_target(rng, numbers, spec, min_steps)
        if target is None:
            continue
        problem = make_problem(numbers, target, solution, {"knobs": knobs}, use_all=spec.use_all, level=level)
        key = content_key(problem)
        if key not in seen and key not in exclude:
            seen.add(key)
            problems.append(problem)
    if len(problems) == n:
        return problems
    raise ValueError(f"could only make {len(problems)} of {n} distinct problems with these knobs")


def _draw_target(rng: random.Random, numbers: list[int], spec: Level,
                 min_steps: int) -> tuple[int | None, Sequence[str] | None]:
    """A target drawn uniformly among the reachable ones in range, and one solution for it."""
    state = tuple(sorted(numbers))
    in_range = range(spec.min_target, spec.max_target + 1)
    if spec.use_all:
        values = _values_using_all(state) if len(state) - 1 >= min_steps else frozenset()
        targets = sorted(value for value in values if value in in_range and value not in numbers)
        if not targets:
            return None, None
        target = rng.choice(targets)
        return target, _solve_using_all(state, target)
    found = reachable(state)
    targets = sorted(value for value, steps in found.items()
                     if value in in_range and value not in numbers and len(steps) >= min_steps)
    if not targets:
        return None, None
    target = rng.choice(targets)
    return target, found[target]
