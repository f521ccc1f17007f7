"""The reward-function adapter, the grader of record, and the `lab` command line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfplay.commands.lab import main
from selfplay.answering.grading import grade, reference_completion
from selfplay.tasks import load_problems
from verifiers.rewards import VerifierReward, completion_text, extract_program, row_kind
from verifiers.sandbox import isolation_mode

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO / "datasets"
needs_jail = pytest.mark.skipif(isolation_mode() != "namespaces", reason="needs the namespace sandbox (root)")


def test_reward_scores_countdown_and_math_rows():
    reward = VerifierReward()
    rewards = reward(
        prompts=["p1", "p2", "p3", "p4"],
        completions=["25-5=20\n20+4=24", "25+5=30", "so #### 1,000", [{"role": "assistant", "content": "#### 7"}]],
        numbers=[[25, 5, 4], [25, 5, 4], None, None], target=[24, 24, None, None],
        answer=[None, None, "1000", "8"],
    )
    assert rewards == [1.0, 0.0, 1.0, 0.0]
    assert reward.__name__ == "verifier_reward"


@needs_jail
def test_reward_runs_code_with_partial_credit():
    reward = VerifierReward(partial_credit=True)
    completion = "```python\ndef f(x):\n    return x if x < 2 else 0\n```"
    rewards = reward(prompts=["p"], completions=[completion], entry_point=["f"],
                     cases=[[[[0], 0], [[1], 1], [[2], 2], [[3], 3]]])
    assert rewards == [0.5]


def test_reward_refuses_rows_it_cannot_place():
    with pytest.raises(ValueError, match="row 0: cannot tell how to verify"):
        VerifierReward()(prompts=["p"], completions=["x"], colour=["red"])
    with pytest.raises(ValueError, match="column 'answer' has 2 values"):
        VerifierReward()(prompts=["p"], completions=["x"], answer=["1", "2"])


def test_helpers():
    assert completion_text("plain") == "plain"
    assert extract_program("no fence here") == "no fence here"
    assert extract_program("```py\na = 1\n```\n```python\nb = 2\n```") == "b = 2\n"
    assert row_kind({"task": "countdown", "meta": {"numbers": [1], "target": 1}}) == "countdown"
    assert row_kind({"test_code": "assert f(1)"}) == "asserts"


@needs_jail
@pytest.mark.parametrize("task", ["countdown", "arith", "funcs"])
def test_every_dev_expert_solution_passes_the_grader_of_record(task):
    problems = load_problems(DATASETS / task / "dev.jsonl")[:20]
    for problem in problems:
        verdict = grade(problem, reference_completion(problem))
        assert verdict.passed, (problem.id, verdict)


@needs_jail
def test_lab_verify_grades_a_completion_file(tmp_path, capsys):
    problems = load_problems(DATASETS / "arith" / "dev.jsonl")[:4]
    rows = [{"id": p.id, "completion": reference_completion(p) if i % 2 == 0 else "#### -1"}
            for i, p in enumerate(problems)]
    completions = tmp_path / "completions.jsonl"
    completions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    verdicts = tmp_path / "verdicts.jsonl"
    assert main(["verify", "--tasks", str(DATASETS / "arith" / "dev.jsonl"), "--completions", str(completions),
                 "--json", "--out", str(verdicts)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["accuracy"] == 0.5 and summary["n"] == 4 and summary["statuses"] == {"passed": 2, "wrong": 2}
    assert len(verdicts.read_text().splitlines()) == 4


def test_lab_verify_names_the_bad_line(tmp_path, capsys):
    completions = tmp_path / "bad.jsonl"
    completions.write_text('{"id": "a", "completion": "x"}\n{"id": 3}\n')
    assert main(["verify", "--tasks", str(DATASETS / "arith" / "dev.jsonl"), "--completions", str(completions)]) == 2
    assert f"{completions}:2: field 'id'" in capsys.readouterr().err


def test_lab_tasks_show(capsys):
    assert main(["tasks", "show", str(DATASETS / "countdown" / "dev.jsonl"), "--limit", "1"]) == 0
    assert "200 problems (200 countdown)" in capsys.readouterr().out


@needs_jail
def test_lab_demo_runs_and_all_verdicts_are_as_expected():
    result = subprocess.run([sys.executable, "-m", "selfplay.commands.lab", "demo", "--per-task", "2"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all verdicts as expected" in result.stdout


def test_hugging_face_datasets_is_not_shadowed():
    result = subprocess.run([sys.executable, "-c", "import datasets; print(datasets.__file__)"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "site-packages" in result.stdout and not result.stdout.startswith(str(REPO / "datasets"))
    assert not any(name.endswith(".py") for _, _, files in os.walk(DATASETS) for name in files)
