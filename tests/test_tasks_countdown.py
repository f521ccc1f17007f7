"""Countdown: the solver against a brute-force reference, the generator's guarantees, and
every reference solution graded by the official checker."""
import itertools
import random

import pytest

from selfplay.tasks import content_key
from selfplay.tasks.countdown import (HARD_LEVELS, LEVELS, Level, generate, level_of, make_problem, make_prompt,
                                      reachable, reachable_all, solve, solve_all)

try:
    from verifiers.math import check_countdown
except ImportError:  # written by another author; the tests that need it say so
    check_countdown = None

needs_checker = pytest.mark.skipif(check_countdown is None, reason="verifiers.math.check_countdown not importable yet")


def brute_force_values(numbers):
    """Every value reachable in at least one step, by plain recursion over lists."""
    values = set()
    for i, j in itertools.permutations(range(len(numbers)), 2):
        a, b = numbers[i], numbers[j]
        rest = [n for k, n in enumerate(numbers) if k not in (i, j)]
        results = [a + b, a * b] + ([a - b] if a > b else []) + ([a // b] if a % b == 0 else [])
        for result in results:
            values.add(result)
            if rest:
                values |= brute_force_values(rest + [result])
    return values


@pytest.mark.parametrize("seed", range(6))
def test_reachable_values_match_brute_force(seed):
    rng = random.Random(seed)
    numbers = [rng.randint(1, 13) for _ in range(rng.choice([2, 3, 4]))]
    assert set(reachable(tuple(sorted(numbers)))) == brute_force_values(numbers)


def test_solve_known_cases():
    assert solve([3, 5, 8], 64) == ["5+3=8", "8*8=64"]
    assert solve([3, 5, 8, 25], 24) == ["8*3=24"]  # shortest, not the first found
    assert solve([1, 1], 5) is None
    assert solve([1, 5, 5, 5], 24) == ["5*5=25", "25-1=24"]  # not every number must be used
    assert solve([2, 2, 2], 7) is None and 7 not in brute_force_values([2, 2, 2])
    assert solve([4, 4], 0) is None  # zero results are not allowed
    assert solve([3, 6], 2) == ["6/3=2"] and solve([3, 7], 2) is None  # exact division only


def test_solve_rejects_bad_numbers():
    with pytest.raises(ValueError):
        solve([3, 0, 2], 6)
    with pytest.raises(ValueError):
        solve([3], 3)


@needs_checker
@pytest.mark.parametrize("numbers, target", [([3, 5, 8, 25], 24), ([2, 3, 7], 42), ([4, 6, 9, 11, 13], 100)])
def test_solve_all_gives_distinct_valid_solutions_shortest_first(numbers, target):
    solutions = solve_all(numbers, target, limit=8)
    assert 1 <= len(solutions) <= 8
    assert len({tuple(sorted(s)) for s in solutions}) == len(solutions)
    assert [len(s) for s in solutions] == sorted(len(s) for s in solutions)
    assert len(solutions[0]) == len(solve(numbers, target))
    for solution in solutions:
        verdict = check_countdown(numbers, target, "\n".join(solution))
        assert verdict.passed, (solution, verdict)


def test_solve_all_finds_nothing_for_unreachable_target():
    assert solve_all([2, 2, 2], 7) == []


def test_generate_is_deterministic_by_seed():
    first, again, other = generate(50, seed=1), generate(50, seed=1), generate(50, seed=2)
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again]
    assert {p.id for p in first} != {p.id for p in other}


@needs_checker
def test_every_generated_reference_solution_passes_the_checker():
    problems = generate(300, seed=3, n_numbers=(3, 4, 5))
    assert {len(p.meta["numbers"]) for p in problems} == {3, 4, 5}
    for problem in problems:
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        verdict = check_countdown(numbers, target, problem.meta["solution"])
        assert verdict.passed, (problem, verdict)
        assert problem.meta["solution"].splitlines()[-1].endswith(f"={target}")


def test_generated_problems_follow_the_knobs():
    problems = generate(300, seed=4, n_numbers=3, max_number=12, min_target=20, max_target=60, min_steps=2)
    assert len({content_key(p) for p in problems}) == 300
    for problem in problems:
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        assert len(numbers) == 3 and all(1 <= n <= 12 for n in numbers)
        assert 20 <= target <= 60 and target not in numbers
        assert problem.meta["steps"] >= 2 and len(solve(numbers, target)) == problem.meta["steps"]
        assert problem.answer == str(target)
        assert problem.prompt == make_prompt(numbers, target)


def test_prompt_is_short():
    assert make_prompt([3, 5, 8, 25], 24) == "Use 3 5 8 25 to make 24 with + - * /. Each number at most once."


def test_impossible_knobs_fail_loudly():
    with pytest.raises(ValueError, match="could only make"):
        generate(50, seed=0, n_numbers=2, max_number=2, min_target=3, max_target=4)
    with pytest.raises(ValueError):
        generate(5, seed=0, n_numbers=(3, 7))


# ---------------------------------------------------------------- levels and the standard game


def brute_force_all_numbers(numbers):
    """Every (value, steps) where the steps use every number exactly once, by plain recursion."""
    if len(numbers) == 1:
        return {(numbers[0], ())}
    found = set()
    for i, j in itertools.combinations(range(len(numbers)), 2):
        a, b = max(numbers[i], numbers[j]), min(numbers[i], numbers[j])
        rest = [n for k, n in enumerate(numbers) if k not in (i, j)]
        moves = [(a + b, f"{a}+{b}={a + b}"), (a * b, f"{a}*{b}={a * b}")]
        moves += [(a - b, f"{a}-{b}={a - b}")] if a > b else []
        moves += [(a // b, f"{a}/{b}={a // b}")] if a % b == 0 else []
        for value, step in moves:
            found |= {(reached, (step,) + steps) for reached, steps in brute_force_all_numbers(rest + [value])}
    return found


def test_levels_are_the_documented_knobs():
    assert LEVELS["easy"] == Level("easy", (3, 4), 25, 10, 100, use_all=False)
    for count in (3, 4, 5):
        assert LEVELS[f"std{count}"] == Level(f"std{count}", (count,), 20, 10, 200, use_all=True)
    assert sorted(LEVELS) == ["easy", "std3", "std4", "std5"]
    assert HARD_LEVELS == ("std3", "std4")
    with pytest.raises(ValueError):
        Level("bad", (6,), 20, 10, 200, use_all=True)
    with pytest.raises(ValueError):
        Level("bad", (3,), 20, 300, 200, use_all=True)


def test_level_of_reads_meta_and_defaults_to_easy():
    assert level_of(make_problem([3, 5, 8], 64)) == "easy"
    assert level_of(make_problem([3, 5, 8], 43, use_all=True, level="std3")) == "std3"


def test_prompt_and_meta_name_the_rule():
    assert make_prompt([3, 5, 8], 43, use_all=True) == "Use 3 5 8 to make 43 with + - * /. Each number exactly once."
    standard = make_problem([3, 5, 8], 43, use_all=True, level="std3")
    assert standard.meta == {"numbers": [3, 5, 8], "target": 43, "use_all": True, "level": "std3"}
    assert standard.prompt.endswith("Each number exactly once.")
    assert make_problem([3, 5, 8], 64).meta == {"numbers": [3, 5, 8], "target": 64}  # no use_all: False


@pytest.mark.parametrize("seed", range(6))
def test_reachable_all_matches_brute_force(seed):
    rng = random.Random(seed)
    numbers = [rng.randint(1, 13) for _ in range(rng.choice([2, 3, 4]))]
    expected = {value for value, _ in brute_force_all_numbers(numbers)}
    assert set(reachable_all(tuple(sorted(numbers)))) == expected
    assert expected <= set(reachable(tuple(sorted(numbers))))


@pytest.mark.parametrize("numbers, target", [([3, 5, 8, 25], 24), ([2, 3, 7], 42), ([4, 6, 9, 11], 100),
                                             ([5, 5, 1], 24)])
def test_solve_all_using_all_numbers_matches_brute_force(numbers, target):
    expected = {tuple(sorted(steps)) for value, steps in brute_force_all_numbers(numbers) if value == target}
    found = solve_all(numbers, target, limit=10_000, use_all=True)
    assert {tuple(sorted(steps)) for steps in found} == expected
    assert all(len(steps) == len(numbers) - 1 for steps in found)
    assert (solve(numbers, target, use_all=True) is None) == (not expected)


@needs_checker
def test_standard_solutions_pass_only_under_their_rule():
    assert solve([3, 5, 8], 40) == ["8*5=40"] and solve([3, 5, 8], 40, use_all=True) is None
    steps = solve([3, 5, 8], 43, use_all=True)
    assert len(steps) == 2 and check_countdown([3, 5, 8], 43, "\n".join(steps), use_all=True).passed
    assert not check_countdown([3, 5, 8], 40, "8*5=40", use_all=True).passed
    for steps in solve_all([4, 6, 9, 11, 13], 100, limit=20, use_all=True):
        assert len(steps) == 4 and check_countdown([4, 6, 9, 11, 13], 100, "\n".join(steps), use_all=True).passed


@needs_checker
@pytest.mark.parametrize("level", ["std3", "std4", "std5"])
def test_generated_standard_problems_follow_their_level(level):
    knobs = LEVELS[level]
    problems = generate(150, seed=7, level=level)
    assert len({content_key(p) for p in problems}) == 150
    for problem in problems:
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        assert (len(numbers),) == knobs.n_numbers and all(1 <= n <= 20 for n in numbers)
        assert 10 <= target <= 200 and target not in numbers
        assert problem.meta["use_all"] is True and level_of(problem) == level
        assert problem.meta["steps"] == len(numbers) - 1
        assert problem.prompt == make_prompt(numbers, target, use_all=True)
        assert check_countdown(numbers, target, problem.meta["solution"], use_all=True).passed, problem
    assert max(p.meta["target"] for p in problems) > 100  # the range is used, not just the easy part


def test_standard_targets_are_drawn_from_the_whole_reachable_range():
    # 4 numbers reach most of 10..200: the drawn targets should spread over it.
    targets = [p.meta["target"] for p in generate(400, seed=2, level="std4")]
    assert len(set(targets)) > 120 and sum(t > 100 for t in targets) > 120


def test_level_generation_is_deterministic_and_can_exclude():
    first = generate(40, seed=5, level="std4")
    assert [p.to_dict() for p in first] == [p.to_dict() for p in generate(40, seed=5, level="std4")]
    taken = {content_key(p) for p in first[:20]}
    others = generate(40, seed=5, level="std4", exclude=taken)
    assert not taken & {content_key(p) for p in others}
    assert [p.id for p in others[:20]] == [p.id for p in first[20:40]]


def test_generate_without_a_level_is_the_old_easy_generator():
    problems = generate(50, seed=1)
    assert all("level" not in p.meta and "use_all" not in p.meta for p in problems)
    assert {len(p.meta["numbers"]) for p in problems} == {3, 4}
    assert all(p.meta["knobs"] == {"max_number": 25, "min_target": 10, "max_target": 100} for p in problems)
    assert all(level_of(p) == "easy" and p.meta["level"] == "easy" for p in generate(5, seed=1, level="easy"))


def test_a_level_and_knobs_or_an_unknown_level_are_refused():
    with pytest.raises(ValueError, match="not both"):
        generate(5, seed=0, level="std3", max_number=10)
    with pytest.raises(ValueError, match="unknown countdown level"):
        generate(5, seed=0, level="std9")
