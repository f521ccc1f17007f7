"""The Problem record: content ids, content keys, validation, dict round trip."""
import subprocess
import sys

import pytest

from selfplay.tasks import Problem, content_key
from selfplay.tasks.problem import canonical_json


def _countdown(numbers, target, **kwargs):
    return Problem.create("countdown", f"Use {numbers} to make {target}", answer=str(target),
                          meta={"numbers": numbers, "target": target}, **kwargs)


def test_ids_are_golden_content_hashes():
    # Pinned values: an id that changed between versions would break decontamination
    # against files written earlier.
    assert _countdown([3, 5, 8, 25], 24).id == "countdown-5b6b920fadbefb25"
    question = "Ann has 3 apples. She finds 2 more apples. How many apples does Ann have now?"
    assert Problem.create("arith", question, answer="5").id == "arith-32c460871980e044"


def test_ids_do_not_depend_on_the_process_hash_seed():
    code = ("from selfplay.tasks import Problem;"
            "print(Problem.create('funcs', 'p', tests={'entry_point': 'f', 'cases': [[[1], {'b': 1, 'a': 2}]]}).id)")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1 and outputs.pop().startswith("funcs-")


def test_countdown_content_ignores_number_order_and_prompt_text():
    first = _countdown([25, 3, 8, 5], 24)
    second = Problem.create("countdown", "another wording", answer="24", meta={"numbers": [3, 5, 8, 25], "target": 24})
    assert first.id == second.id and content_key(first) == content_key(second)
    assert _countdown([3, 5, 8, 25], 23).id != first.id
    assert _countdown([3, 5, 8, 24], 24).id != first.id


def test_funcs_content_includes_hidden_cases():
    tests = {"entry_point": "f", "cases": [[[1], 2]]}
    base = Problem.create("funcs", "Write f.", tests=tests)
    assert Problem.create("funcs", "Write f.", tests={"entry_point": "f", "cases": [[[1], 3]]}).id != base.id
    assert Problem.create("funcs", "Write g.", tests=tests).id != base.id
    assert Problem.create("funcs", "Write f.", tests=tests, meta={"solution": "x"}).id == base.id


def test_given_id_is_kept_and_content_key_still_compares_content():
    mine = _countdown([3, 5, 8, 25], 24, id="my-own-id")
    assert mine.id == "my-own-id"
    assert content_key(mine) == content_key(_countdown([3, 5, 8, 25], 24))
    assert len(content_key(mine)) == 64


def test_same_question_in_two_tasks_gets_two_keys():
    arith = Problem.create("arith", "What is 2+2?", answer="4")
    qa = Problem.create("qa", "What is 2+2?", answer="4")
    assert arith.id.startswith("arith-") and qa.id.startswith("qa-")
    assert content_key(arith) != content_key(qa)


def test_dict_round_trip():
    problem = Problem.create("funcs", "Write f.", tests={"entry_point": "f", "cases": [[[1], [2, "a"]]]},
                             meta={"examples": [[[0], []]], "family": "x"})
    assert Problem.from_dict(problem.to_dict()) == problem
    assert list(problem.to_dict()) == ["id", "task", "prompt", "answer", "tests", "meta"]


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown problem fields"):
        Problem.from_dict({"task": "qa", "prompt": "p", "answer": "a", "colour": "red"})


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "chess", "prompt": "p", "answer": "a"}, "unknown task"),
    ({"task": "qa", "prompt": "  ", "answer": "a"}, "prompt"),
    ({"task": "qa", "prompt": "p", "answer": None}, "string answer"),
    ({"task": "funcs", "prompt": "p"}, "tests dict"),
    ({"task": "funcs", "prompt": "p", "tests": {"entry_point": "f"}}, "cases"),
    ({"task": "countdown", "prompt": "p", "answer": "3"}, "numbers and target"),
])
def test_invalid_problems_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Problem.create(**kwargs)


def test_canonical_json_sorts_keys_and_drops_spaces():
    assert canonical_json({"b": [1, 2], "a": "é"}) == '{"a":"é","b":[1,2]}'


def test_empty_given_id_is_refused():
    with pytest.raises(ValueError, match="id"):
        Problem.create("qa", "p", answer="a", id="")
