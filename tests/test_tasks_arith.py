"""Arith: worked solutions recomputed by a tiny evaluator, determinism, knobs."""
import re

import pytest

from selfplay.tasks.arith import TEMPLATES, generate

STEP = re.compile(r"^(\d+)([-+*/])(\d+)=(\d+)$")


def evaluate_step(line: str) -> tuple[int, int]:
    """(claimed result, true result) of one `a op b = c` line; only digits and one operator."""
    match = STEP.match(line)
    assert match, f"not a computation line: {line!r}"
    left, op, right, claimed = match.groups()
    left, right = int(left), int(right)
    if op == "/":
        assert left % right == 0, f"inexact division {line!r}"
    true = {"+": left + right, "-": left - right, "*": left * right, "/": left // right if right else None}[op]
    return int(claimed), true


@pytest.fixture(scope="module")
def problems():
    return generate(600, seed=11)


def test_every_worked_solution_is_arithmetic_that_ends_on_the_answer(problems):
    for problem in problems:
        *steps, final = problem.meta["solution"].split("\n")
        assert final == f"#### {problem.answer}"
        assert len(steps) == problem.meta["steps"]
        results = []
        for line in steps:
            claimed, true = evaluate_step(line)
            assert claimed == true, (problem.prompt, line)
            results.append(true)
        assert str(results[-1]) == problem.answer
        assert all(1 <= value <= 100 for value in results), problem.meta["solution"]


def test_mix_of_templates_and_step_counts(problems):
    assert {p.meta["template"] for p in problems} == set(TEMPLATES)
    assert {p.meta["steps"] for p in problems} == {2, 3, 4}
    assert len({p.prompt for p in problems}) == len(problems)
    assert all(p.prompt.endswith("?") and p.task == "arith" and p.tests is None for p in problems)


def test_given_numbers_appear_in_the_question(problems):
    # Every operand of a first-step computation is stated in the question text ('doubles' states 2).
    for problem in problems:
        left, _, right = re.split(r"([-+*/])", problem.meta["solution"].split("\n")[0].split("=")[0])
        words = re.findall(r"\d+", problem.prompt.replace("doubles", "2").replace("triples", "3"))
        assert left in words and right in words, (problem.prompt, problem.meta["solution"])


def test_knobs_are_respected():
    for problem in generate(200, seed=5, steps=3, max_value=40):
        assert problem.meta["steps"] == 3
        for line in problem.meta["solution"].split("\n")[:-1]:
            assert evaluate_step(line)[1] <= 40


def test_generate_is_deterministic_by_seed():
    first, again, other = generate(100, seed=1), generate(100, seed=1), generate(100, seed=2)
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again]
    assert [p.prompt for p in first] != [p.prompt for p in other]


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError):
        generate(5, seed=0, steps=(2, 12))
    with pytest.raises(ValueError):
        generate(5, seed=0, templates=("poetry",))


def test_gold_answers_pass_the_math_checker(problems):
    math_verifier = pytest.importorskip("verifiers.math", reason="verifiers.math not importable yet")
    for problem in problems[:100]:
        assert math_verifier.check(problem.meta["solution"], problem.answer).passed, problem.meta["solution"]
