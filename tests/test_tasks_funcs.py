"""Funcs: the reference source reproduces every case, visible and hidden cases are
disjoint, values are plain JSON, every family builds problems."""
import json

import pytest

from selfplay.tasks import content_key
from selfplay.tasks.func_families import FAMILY_NAMES
from selfplay.tasks.funcs import N_VISIBLE, generate, is_plain_json


def run_reference(source: str, entry_point: str):
    namespace = {}
    exec(source, namespace)  # trusted reference source written by the generator
    return namespace[entry_point]


def check_problem(problem) -> None:
    function = run_reference(problem.meta["solution"], problem.tests["entry_point"])
    visible, hidden = problem.meta["examples"], problem.tests["cases"]
    assert len(visible) == N_VISIBLE and 8 <= len(hidden) <= 12
    for args, expected in visible + hidden:
        result = function(*json.loads(json.dumps(args)))
        assert result == expected and type(result) is type(expected), (problem.meta["solution"], args)
    visible_args = {json.dumps(args) for args, _ in visible}
    hidden_args = [json.dumps(args) for args, _ in hidden]
    assert visible_args.isdisjoint(hidden_args) and len(set(hidden_args)) == len(hidden_args)
    for args, expected in visible:
        assert f">>> f({', '.join(repr(a) for a in args)})\n{expected!r}" in problem.prompt
    assert json.loads(json.dumps(problem.to_dict())) == problem.to_dict()


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_family_builds_problems_its_reference_reproduces(family):
    problems = generate(12, seed=7, families=[family])
    assert {p.meta["family"] for p in problems} == {family}
    for problem in problems:
        check_problem(problem)


def test_mixed_generation_covers_families_and_is_distinct():
    problems = generate(400, seed=3)
    assert set(FAMILY_NAMES) == {p.meta["family"] for p in problems}
    assert len({content_key(p) for p in problems}) == 400
    for problem in problems[:100]:
        check_problem(problem)


def test_visible_examples_are_informative_when_they_can_be():
    # clamp must show a clamped value and sort an unsorted list, or the hidden cases are a guess
    for problem in generate(30, seed=2, families=["clamp", "sort_list", "is_palindrome"]):
        outputs = {json.dumps(expected) for _, expected in problem.meta["examples"]}
        assert len(outputs) > 1
        assert any(args != [expected] for args, expected in problem.meta["examples"]), problem.prompt


def test_generate_is_deterministic_by_seed():
    first, again, other = generate(60, seed=1), generate(60, seed=1), generate(60, seed=2)
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again]
    assert [p.id for p in first] != [p.id for p in other]


def test_value_range_knobs_bound_the_arguments():
    for problem in generate(40, seed=4, families=["affine", "span"], max_int=8, max_len=3):
        for args, _ in problem.meta["examples"] + problem.tests["cases"]:
            flat = args[0] if isinstance(args[0], list) else args
            assert len(flat) <= 3 and all(-8 <= x <= 8 for x in flat)


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError, match="unknown families"):
        generate(3, seed=0, families=["no_such_family"])
    with pytest.raises(ValueError):
        generate(3, seed=0, hidden=(5, 2))
    with pytest.raises(ValueError, match="max_int"):
        generate(3, seed=0, max_int=4)


@pytest.mark.parametrize("value, plain", [(1, True), ("a", True), ([1, [True, "x"]], True), (None, True),
                                          ((1, 2), False), (1.5, False), ({"a": 1}, False), ([1, (2,)], False)])
def test_is_plain_json(value, plain):
    assert is_plain_json(value) is plain


def test_references_pass_the_code_verifier():
    code = pytest.importorskip("verifiers.code", reason="verifiers.code not importable yet")
    for problem in generate(6, seed=9):
        verdict = code.run_cases(problem.meta["solution"], problem.tests["entry_point"], problem.tests["cases"])
        assert verdict.passed, (problem.meta["solution"], verdict)


def test_smallest_value_ranges_still_build_every_family():
    problems = generate(150, seed=5, max_int=8, max_len=3)
    assert {p.meta["family"] for p in problems} == set(FAMILY_NAMES)
    for problem in problems:
        check_problem(problem)
