"""The measurement scripts behind the README's figures: their helpers' doctests, and a tiny run of each cheap one."""
import doctest
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["learning", "headroom"])
def test_doctests(name):
    result = doctest.testmod(load(name))
    assert result.attempted > 0 and result.failed == 0


def test_sign_test_is_symmetric_and_exact():
    sign_test = load("learning").sign_test
    assert sign_test(3, 9) == sign_test(9, 3)
    assert sign_test(5, 5) == 1.0
    assert sign_test(0, 5) == pytest.approx(2 / 32)  # both tails of 5 coin tosses all landing one way


@pytest.mark.usefixtures("one_torch_thread")
def test_headroom_on_the_built_in_model(tmp_path):
    out = tmp_path / "headroom.json"
    assert load("headroom").main(["--limit", "3", "--samples", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    rows, summary = data["problems"], data["summary"]
    assert len(rows) == 3 and summary["n"] == 3 and summary["samples"] == 2
    assert all(0 <= row["pass_rate"] <= 1 and row["greedy_reason"] for row in rows)
    assert summary["greedy_accuracy"] == sum(row["greedy_passed"] for row in rows) / 3
    assert sum(summary["greedy_reasons"].values()) == pytest.approx(1.0)


def test_expert_control_rows_are_correct_train_solutions():
    from selfplay.grading import grade
    from selfplay.tasks import load_problems

    rows = load("expert_control").expert_rows(REPO / "datasets" / "countdown" / "train.jsonl", 20, 0, "<eos>")
    assert len(rows) == 20 and len({row["prompt"] for row in rows}) == 20
    by_prompt = {problem.prompt: problem for problem in load_problems(REPO / "datasets" / "countdown" / "train.jsonl")}
    for row in rows:
        assert row["completion"].endswith("<eos>") and row["prompt"].endswith("\n")
        problem = by_prompt[row["prompt"][:-1]]
        assert grade(problem, row["completion"][:-len("<eos>")]).passed
