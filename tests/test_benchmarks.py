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


@pytest.mark.parametrize("name", ["learning", "headroom", "retry_traces"])
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


def test_retry_rows_put_complete_failed_attempts_before_the_verified_answer():
    from types import SimpleNamespace

    from search import Tree
    from selfplay.tasks import Problem

    bench = load("retry_traces")
    problem = Problem(id="p", task="countdown", prompt="Use 6 5 13 to make 95.", answer="95", tests=None,
                      meta={"numbers": [6, 5, 13], "target": 95, "use_all": True})
    tree = Tree(problem_id="p", task="countdown")
    add = lambda parent, text, terminal: tree.add_node(parent, text, token_count=1, logprob=0.0,  # noqa: E731
                                                       terminal=terminal)
    wrong = add(add(0, "<<13*5=65>> [6 65]\n", False), "<<65+6=71>> [71]", True)  # complete, wrong value
    short = add(0, "<<13+6=19>> [5 19]", True)  # stops with 5 unused: not a complete attempt
    right = add(add(0, "<<13+6=19>> [5 19]\n", False), "<<19*5=95>> [95]", True)
    for node, passed in ((wrong, False), (short, False), (right, True)):
        tree.set_verdict(node, passed, float(passed), "passed" if passed else "wrong")
    assert bench.complete_attempt(problem, tree.answer_text(wrong))
    assert not bench.complete_attempt(problem, tree.answer_text(short))
    policy = SimpleNamespace(render_prompt=lambda problem: problem.prompt + "\n")
    (row,) = bench.retry_rows([tree], {"p": problem}, policy, "<eos>", max_failed=2, seed=0)
    assert row["prompt"] == problem.prompt + "\n"
    assert row["completion"] == ("<<13*5=65>> [6 65]\n<<65+6=71>> [71]\nretry\n"
                                 "<<13+6=19>> [5 19]\n<<19*5=95>> [95]<eos>")
    assert bench.last_attempt(row["completion"]) == "<<13+6=19>> [5 19]\n<<19*5=95>> [95]<eos>"
    assert len(row["tool_spans"]) == 4  # each calculator result, masked in training


def test_capacity_trains_on_the_hard_train_splits_only(tmp_path):
    from selfplay.model.corpus import load_train_problems
    from selfplay.tasks import load_problems
    folder = load("capacity").hard_datasets(tmp_path / "datasets")
    countdown = load_train_problems(folder / "countdown" / "train.jsonl")
    assert len(countdown) == 4000 and {p.meta["level"] for p in countdown} == {"std3", "std4"}
    assert sorted(p.name for p in (folder / "countdown").iterdir()) == ["train.jsonl"]  # no held-out split
    held_out = {p.id for split in ("dev", "test") for level in ("std3", "std4", "hard")
                for p in load_problems(REPO / "datasets" / "countdown" / level / f"{split}.jsonl")}
    assert not held_out & {p.id for p in countdown}
