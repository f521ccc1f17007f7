"""normalised_key, the export guard's content key: a reformatted copy of a problem keeps it, a
different problem does not, and the committed splits keep apart under it."""
from dataclasses import replace

import pytest

from selfplay.tasks import Problem, content_key, load_problems
from selfplay.tasks.problem import normalised_key

ARITH = Problem.create("arith", "A pen costs 6 dollars. Ivy buys 1,200 pens. How many dollars does she pay?",
                       answer="7200")
COUNTDOWN = Problem.create("countdown", "Use 7 22 4 to make 88.", answer="88",
                           meta={"numbers": [7, 22, 4], "target": 88})
CASES = Problem.create("funcs", "Write `f(x)` that matches these examples.\n>>> f(2)\n4",
                       tests={"entry_point": "f", "cases": [[[1], 2], [[3], 6.5], [["a"], "A"]]})
CHECK = Problem.create("funcs", "Write `add(a, b)`: their sum.", tests={
    "entry_point": "add", "test_code": "def check(candidate):\n    assert candidate(1, 2) == 3\n"})

SAME = {
    "trailing space and a new id": (ARITH, replace(ARITH, id="fresh-id", prompt=ARITH.prompt + " ")),
    "whitespace and case": (ARITH, replace(ARITH, prompt="  a PEN costs 6 dollars.\n\nIvy buys 1,200 pens . "
                                                         "How many  dollars does she pay ?")),
    "thousands separator": (ARITH, replace(ARITH, prompt=ARITH.prompt.replace("1,200", "1200"))),
    "decimal zeros": (ARITH, replace(ARITH, prompt=ARITH.prompt.replace("6 dollars", "6.00 dollars"))),
    "full-width digits": (ARITH, replace(ARITH, prompt=ARITH.prompt.replace("6", "\uff16"))),
    "qa instead of arith": (ARITH, replace(ARITH, task="qa", id="qa-copy")),
    "countdown numbers reordered": (COUNTDOWN, replace(COUNTDOWN, meta={"numbers": [22, 4, 7], "target": 88})),
    "countdown numbers as text": (COUNTDOWN, replace(COUNTDOWN, meta={"numbers": ["4", "7", "22"], "target": 88.0})),
    "cases reordered, 2.0 for 2": (CASES, replace(CASES, tests={"entry_point": "f", "cases": [
        [["a"], "A"], [[3], 6.5], [[1], 2.0]]})),
    "entry point renamed": (CASES, replace(CASES, prompt=CASES.prompt.replace("f(", "g("),
                                           tests=dict(CASES.tests, entry_point="g"))),
    "test code laid out anew": (CHECK, replace(CHECK, prompt="Write `plus(a, b)`:  their sum.", tests={
        "entry_point": "plus",
        "test_code": "# the checker\ndef check(candidate):\n\n    assert candidate(1,2)==3  # one\n"})),
}

DIFFERENT = {
    "another number": (ARITH, replace(ARITH, prompt=ARITH.prompt.replace("1,200", "1,201"))),
    "a decimal that matters": (ARITH, replace(ARITH, prompt=ARITH.prompt.replace("6 dollars", "6.5 dollars"))),
    "another word": (ARITH, replace(ARITH, prompt=ARITH.prompt.replace("pen", "book"))),
    "a countdown number more": (COUNTDOWN, replace(COUNTDOWN, meta={"numbers": [7, 22, 4, 4], "target": 88})),
    "another target": (COUNTDOWN, replace(COUNTDOWN, meta={"numbers": [7, 22, 4], "target": 89})),
    "another expected value": (CASES, replace(CASES, tests={"entry_point": "f", "cases": [
        [[1], 2], [[3], 6.25], [["a"], "A"]]})),
    "case in a string value": (CASES, replace(CASES, tests={"entry_point": "f", "cases": [
        [[1], 2], [[3], 6.5], [["a"], "a"]]})),
    "another assert": (CHECK, replace(CHECK, tests=dict(CHECK.tests, test_code=CHECK.tests["test_code"].replace(
        "== 3", "== 4")))),
    "countdown against a question": (COUNTDOWN, Problem.create("qa", "7 22 4 88", answer="88")),
}


@pytest.mark.parametrize("name", SAME)
def test_a_reformatted_copy_keeps_the_key(name):
    original, copy = SAME[name]
    assert normalised_key(copy) == normalised_key(original)


@pytest.mark.parametrize("name", DIFFERENT)
def test_a_different_problem_gets_another_key(name):
    original, other = DIFFERENT[name]
    assert normalised_key(other) != normalised_key(original)


def test_equal_content_keys_give_equal_normalised_keys():
    for original, copy in [*SAME.values(), *DIFFERENT.values()]:
        if content_key(original) == content_key(copy):
            assert normalised_key(original) == normalised_key(copy)
    assert content_key(SAME["trailing space and a new id"][1]) != content_key(ARITH)  # what the guard missed


def test_the_committed_splits_stay_apart_under_the_key():
    """No dev or test problem collapses onto another, and no training problem onto a held-out one."""
    held_out = {}
    for path in ("arith/dev", "arith/test", "countdown/dev", "countdown/test", "funcs/dev", "funcs/test"):
        problems = load_problems(f"datasets/{path}.jsonl")
        keys = {normalised_key(problem) for problem in problems}
        assert len(keys) == len(problems), path
        held_out.update(dict.fromkeys(keys, path))
    for task in ("arith", "countdown", "funcs"):
        leaked = [p.id for p in load_problems(f"datasets/{task}/train.jsonl") if normalised_key(p) in held_out]
        assert leaked == [], task


def test_the_key_never_fails_on_odd_content():
    odd = [replace(COUNTDOWN, meta={"numbers": "7 22 4", "target": float("nan")}),
           replace(CHECK, tests={"entry_point": None, "test_code": "def (: not python"}),
           replace(CASES, tests={"entry_point": "f", "cases": [[[{"k": 1.0}], (1, 2)], [["x" * 5000], None]]})]
    assert len({normalised_key(problem) for problem in odd}) == 3
