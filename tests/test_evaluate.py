"""`lab eval` and `evaluate`: JSON output on a tiny random model, bad input, pass@N logic."""
import json
from pathlib import Path

import pytest

from tests.tiny_models import save_tiny_model

from selfplay.answering import evaluate as evaluation
from selfplay.answering.evaluate import evaluate, problem_seed
from selfplay.commands.lab import main
from selfplay.model.decoding import Usage
from selfplay.model.policy import Completion, Policy
from selfplay.tasks import load_problems

DATASETS = Path(__file__).resolve().parent.parent / "datasets"
TASKS = ("countdown", "arith", "funcs")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"), hidden=32, heads=2, kv_heads=1, max_positions=1024)


@pytest.fixture(scope="module")
def mixed_tasks(tmp_path_factory):
    """Two dev problems of each task in one file, in their committed form."""
    lines = [line for task in TASKS for line in (DATASETS / task / "dev.jsonl").read_text().splitlines()[:2]]
    path = tmp_path_factory.mktemp("tasks") / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_eval(capsys, *args):
    code = main(["eval", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_prints_one_json_object_with_compute(capsys, model_dir, mixed_tasks):
    code, out, _ = run_eval(capsys, "--model", model_dir, "--tasks", mixed_tasks, "--strategy", "sample",
                            "--budget", 3, "--max-new-tokens", 12, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["n"] == 6 and summary["strategy"] == "sample" and summary["budget"] == 3
    assert isinstance(summary["accuracy"], float) and 0.0 <= summary["accuracy"] <= 1.0
    assert isinstance(summary["wall_s"], float) and summary["wall_s"] >= 0
    assert set(summary["by_task"]) == set(TASKS)
    assert summary["tokens"] == summary["prefill_tokens"] + summary["decode_tokens"]
    # each prompt is encoded once for its 3 samples; each sample writes 1 to 12 tokens
    policy = Policy.from_pretrained(model_dir)
    prompt_tokens = sum(len(policy.root(policy.render_prompt(p))) for p in load_problems(mixed_tasks))
    assert summary["prefill_tokens"] == prompt_tokens
    assert 6 * 3 <= summary["decode_tokens"] <= 6 * 3 * 12


def test_eval_greedy_answers_once_and_limit_applies(capsys, model_dir, mixed_tasks):
    code, out, _ = run_eval(capsys, "--model", model_dir, "--tasks", mixed_tasks, "--strategy", "greedy",
                            "--budget", 4, "--limit", 3, "--max-new-tokens", 8, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["n"] == 3 and summary["samples_per_problem"] == 1
    assert summary["decode_tokens"] <= 3 * 8


@pytest.mark.parametrize("content, line", [
    ('{"id": "a", "task": "arith", "prompt": "1+1?", "answer": "2"}\n{not json\n', 2),
    ('{"id": "a", "task": "arith", "prompt": "1+1?", "answer": "2"}\n\n{"task": "arith"}\n', 3),
])
def test_bad_task_file_exits_2_naming_file_and_line(capsys, model_dir, tmp_path, content, line):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    code, out, err = run_eval(capsys, "--model", model_dir, "--tasks", path, "--json")
    assert code == 2 and out == ""
    assert f"{path}:{line}" in err and len(err.strip().splitlines()) == 1


def test_missing_files_exit_2(capsys, model_dir, mixed_tasks, tmp_path):
    code, _, err = run_eval(capsys, "--model", model_dir, "--tasks", tmp_path / "nope.jsonl", "--json")
    assert code == 2 and "nope.jsonl" in err
    code, _, err = run_eval(capsys, "--model", tmp_path / "no-model", "--tasks", mixed_tasks, "--json")
    assert code == 2 and "no-model" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_eval(capsys, "--model", tmp_path / "empty", "--tasks", mixed_tasks, "--json")
    assert code == 2 and "config.json" in err and len(err.strip().splitlines()) == 1


def test_sampling_solves_at_least_what_greedy_solves_under_a_rigged_grader(capsys, monkeypatch, model_dir,
                                                                           mixed_tasks):
    # The random model writes random characters: "solved" = the answer contains a digit.
    monkeypatch.setattr(evaluation, "grade", lambda problem, completion: _Verdict(any(map(str.isdigit, completion))))
    common = ["--model", model_dir, "--tasks", mixed_tasks, "--max-new-tokens", 10, "--json"]
    greedy = json.loads(run_eval(capsys, *common, "--strategy", "greedy")[1])
    sampled = json.loads(run_eval(capsys, *common, "--strategy", "sample", "--budget", 12)[1])
    assert sampled["accuracy"] >= greedy["accuracy"]
    assert sampled["accuracy"] == 1.0  # P(no digit in 12 x 10 random characters) is about 1e-5


class _Verdict:
    def __init__(self, passed):
        self.passed = passed


class ScriptedPolicy:
    """Greedy answers are wrong; sample k of problem i is right when k < i (problem 0 never solved)."""

    def __init__(self):
        self.usage, self.calls = Usage(), []

    def render_prompt(self, problem):
        return problem.id

    def complete(self, prompts, num_samples, *, temperature, max_new_tokens, seed):
        self.calls.append((list(prompts), num_samples, temperature, list(seed)))
        self.usage.decode_tokens += len(prompts) * num_samples
        return [[Completion("right" if temperature > 0 and k < int(prompt[-1]) else "wrong", (5,), 1, -1.0, True,
                            "eos") for k in range(num_samples)] for prompt in prompts]


def test_pass_at_n_counts_a_problem_solved_if_any_sample_verifies():
    problems = [problem for problem in load_problems(DATASETS / "arith" / "dev.jsonl")[:4]]
    problems = [type(p)(**{**p.to_dict(), "id": f"p{i}"}) for i, p in enumerate(problems)]
    grader = lambda problem, completion: _Verdict(completion == "right")  # noqa: E731
    greedy = evaluate(ScriptedPolicy(), problems, "greedy", budget=3, grader=grader)
    policy = ScriptedPolicy()
    sampled = evaluate(policy, problems, "sample", budget=3, seed=5, batch_size=3, grader=grader)
    assert (greedy.accuracy, greedy.samples_per_problem) == (0.0, 1)
    assert sampled.accuracy == 0.75  # problems 1, 2, 3 have at least one right sample
    assert sampled.sample_accuracy == pytest.approx((0 + 1 + 2 + 3) / 12)
    assert [o.n_passed for o in sampled.problems] == [0, 1, 2, 3]
    assert sampled.tokens == 12 and sampled.by_task == {"arith": 0.75}
    assert [len(call[0]) for call in policy.calls] == [3, 1]
    assert policy.calls[0][3] == [problem_seed(5, f"p{i}") for i in range(3)]


def test_sample_outcomes_do_not_depend_on_batch_size(model_dir, mixed_tasks):
    policy = Policy.from_pretrained(model_dir)
    problems = load_problems(mixed_tasks)
    rigged = lambda problem, completion: _Verdict("7" in completion)  # noqa: E731
    one = evaluate(policy, problems, "sample", budget=4, seed=1, max_new_tokens=10, batch_size=1, grader=rigged)
    many = evaluate(policy, problems, "sample", budget=4, seed=1, max_new_tokens=10, batch_size=6, grader=rigged)
    assert [o.n_passed for o in one.problems] == [o.n_passed for o in many.problems]
    assert [o.tokens for o in one.problems] == [o.tokens for o in many.problems]
