"""Funcs: the reference source reproduces every case, visible and hidden cases are
disjoint, values are plain JSON, every family builds problems, functions are named and
enumerated."""
import json

import pytest

from selfplay.tasks import content_key
from selfplay.tasks.funcs.families import BY_NAME, FAMILIES, FAMILY_NAMES
from selfplay.tasks.funcs import N_VISIBLE, function_key, generate, generate_for, is_plain_json


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
    assert problem.meta["function_key"] == function_key(problem.meta["family"], problem.meta["params"])


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


def test_function_key_is_canonical_and_names_parameters():
    assert function_key("affine", {"b": 2, "a": 3}) == function_key("affine", {"a": 3, "b": 2}) == "affine(a=3,b=2)"
    assert function_key("count_char", {"c": "a"}) == "count_char(c='a')"
    assert function_key("span", {}) == "span()"
    assert function_key("sort_list", {"reverse": True}) != function_key("sort_list", {"reverse": False})


def test_families_enumerate_distinct_functions_with_distinct_sources():
    for family in FAMILIES:
        keys = [function_key(family.name, params) for params in family.functions]
        assert len(keys) == len(set(keys)) >= 1, family.name
        assert len({family.render(params) for params in family.functions}) == len(keys), family.name
    sizes = {family.name: len(family.functions) for family in FAMILIES}
    assert sizes["affine"] == 18 * 41 and sizes["span"] == 1 and sizes["sort_list"] == 2
    assert sum(sizes.values()) > 2000  # room for hundreds of distinct functions per split


def test_wide_parameter_ranges_still_reproduce_their_cases():
    # the corners of the grids: the largest coefficients and the narrowest windows
    functions = [("affine", {"a": -9, "b": 20}), ("quadratic", {"a": -3, "b": -5, "c": 10}),
                 ("threshold", {"t": 5, "above": -9, "below": 9}), ("between", {"low": 5, "high": 6}),
                 ("clamp", {"low": -8, "high": -6}), ("fib_like", {"first": -5, "second": 5}),
                 ("affix", {"prefix": "", "suffix": "!"}), ("modulo", {"m": 12, "k": -5})]
    assert all(params in BY_NAME[name].functions for name, params in functions)
    problems = generate_for(functions, seed=11)
    assert [p.meta["function_key"] for p in problems] == [function_key(*f) for f in functions]
    for problem in problems:
        check_problem(problem)
        if problem.meta["family"] in ("threshold", "between", "clamp"):
            assert len({json.dumps(e) for _, e in problem.tests["cases"]}) > 1, problem.meta["function_key"]


def test_generate_for_repeats_a_function_with_new_cases():
    problems = generate_for([("affine", {"a": 2, "b": 1})] * 5, seed=0)
    assert {p.meta["function_key"] for p in problems} == {"affine(a=2,b=1)"}
    assert len({content_key(p) for p in problems}) == 5
