"""Task specs: the registry, per-format pricing, and a new family added as one package and one line.

The toy family is one package written to a temporary folder, laid out as the built-in families
are (`toy/problems.py`, `toy/check.py` its verifier, `toy/rows.py`, `toy/spec.py` with `SPEC`,
`toy/__init__.py`), following the recipe in docs/architecture.md. It is registered with one
`register_task` call and then runs through `lab eval` and one smoke round in this process
(`workers: 0`), with nothing else in the lab changed.
"""
import gzip
import importlib
import json
import textwrap
from pathlib import Path

import pytest

from selfplay.commands import lab as cli, improve as improve_cli
from selfplay.answering.deliberate import answer_check_for, answer_key_for, search_config, tokens_per_answer
from selfplay.answering.grading import grade
from selfplay.tasks import Problem, load_problems, register_task, task_names, task_spec
from selfplay.tasks.rows import RowError, parse_row
from selfplay.tasks.spec import CHAT_PRICING, Pricing, TaskSpec, priced, reward_row_kinds, unregister_task
from tests.tiny_models import save_tiny_model
from verifiers import rewards
from verifiers.rewards import VerifierReward, row_kind

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOY_PACKAGE = {
    "check.py": '''
        """The toy family's verifier: passes any answer that says something."""
        from verifiers.verdict import Verdict


        def check_shout(completion: str) -> Verdict:
            if completion.strip():
                return Verdict(passed=True, score=1.0, status="passed", detail="said something")
            return Verdict.fail("wrong", "said nothing")
        ''',
    "problems.py": '''
        """The toy family's generator, deterministic in the seed."""
        from selfplay.tasks import Problem

        WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "yam"]


        def generate(n: int, seed: int) -> list[Problem]:
            return [Problem.create("toy", f"Shout {WORDS[(seed + i) % len(WORDS)]}.", answer="x") for i in range(n)]
        ''',
    "rows.py": '''
        """The toy family's public row shape, `{shout}`."""
        from selfplay.tasks import Problem
        from selfplay.tasks.spec import RowFormat

        FORMATS = (RowFormat("{shout}", lambda row: "shout" in row,
                             lambda row: Problem.create("toy", f"Shout {row['shout']}.", answer="x")),)
        ''',
    "spec.py": '''
        """The toy family's spec."""
        from selfplay.tasks.spec import Pricing, TaskSpec, priced
        from toy import check, problems, rows
        from verifiers.rewards import RowKind

        SPEC = TaskSpec(name="toy", grade=lambda problem, completion, timeout_s: check.check_shout(completion),
                        instruction="Shout the word.", prices=priced(Pricing(answer_tokens=8, max_depth=2, step_tokens=4)),
                        generate=problems.generate, row_formats=rows.FORMATS,
                        answer_check=lambda problem: lambda text: float(bool(text.strip())),
                        reward_rows=RowKind("toy", "task toy", matches=lambda row: False, tasks=("toy",),
                                            verify=lambda completion, row, timeout_s: check.check_shout(completion)))
        ''',
    "__init__.py": '''
        """Toy: shout a word."""
        from toy.problems import generate
        from toy.spec import SPEC
        ''',
}


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy family's package, written to a temporary folder, imported and registered; unregistered after."""
    (tmp_path / "toy").mkdir()
    for name, text in TOY_PACKAGE.items():
        (tmp_path / "toy" / name).write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("toy")
    register_task(module.SPEC)  # the one registration line
    yield module
    unregister_task("toy")
    for name in [name for name in importlib.sys.modules if name == "toy" or name.startswith("toy.")]:
        monkeypatch.delitem(importlib.sys.modules, name, raising=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"), hidden=32, heads=2, kv_heads=1, max_positions=512)


def write_toy_file(toy, path, n, seed):
    path.write_text("".join(json.dumps({"task": p.task, "prompt": p.prompt, "answer": p.answer}) + "\n"
                            for p in toy.generate(n, seed)))
    return path


def test_unknown_task_is_an_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown task 'nope'; expected one of \('countdown', 'arith', 'funcs', 'qa'"):
        task_spec("nope")
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        Problem.create("nope", "What?", answer="1")
    with pytest.raises(RowError, match="expected one of"):
        parse_row({"task": "nope", "prompt": "What?", "answer": "1"})


def test_a_second_spec_under_one_name_is_refused():
    clone = TaskSpec(name="countdown", grade=task_spec("countdown").grade, instruction="x",
                     prices=priced(Pricing(answer_tokens=1, max_depth=1, step_tokens=1)))
    with pytest.raises(ValueError, match="'countdown' is already registered"):
        register_task(clone)
    assert task_spec("countdown") is not clone


def test_a_spec_prices_every_prompt_format():
    with pytest.raises(ValueError, match="missing \\['chat'\\]"):
        TaskSpec(name="half", grade=task_spec("qa").grade, instruction="x",
                 prices={"builtin": Pricing(answer_tokens=1, max_depth=1, step_tokens=1)})
    with pytest.raises(ValueError, match="unknown prompt format 'html'"):
        task_spec("qa").pricing("html")


class FakePolicy:
    def __init__(self, step_delimiter):
        self.step_delimiter = step_delimiter

    def encode(self, text, prompt=False):
        return list(text)


def test_pricing_follows_the_task_and_the_prompt_format():
    problem = Problem.create("countdown", "Use 3 5 8 to make 24.", answer="24", meta={"numbers": [3, 5, 8], "target": 24})
    builtin, chat = FakePolicy("\n"), FakePolicy("\n\n")
    assert tokens_per_answer(builtin, "abcd", "countdown") == 4 + 64
    assert tokens_per_answer(builtin, "abcd", "funcs") == 4 + 96
    assert tokens_per_answer(chat, "abcd", "countdown") == 4 + CHAT_PRICING.answer_tokens
    assert (search_config(builtin, problem).max_depth, search_config(builtin, problem).max_step_tokens) == (6, 32)
    assert (search_config(chat, problem).max_depth, search_config(chat, problem).max_step_tokens) == (12, 160)


def test_the_toy_family_is_known_everywhere_once_registered(toy, tmp_path):
    assert task_names()[-1] == "toy"
    path = write_toy_file(toy, tmp_path / "toy.jsonl", 3, 0)
    problems = load_problems(path)
    assert [p.task for p in problems] == ["toy"] * 3 and problems[0].prompt == "Shout apple."
    assert grade(problems[0], "APPLE").passed and grade(problems[0], "  ").status == "wrong"
    assert answer_check_for(problems[0])("x") == 1.0
    assert answer_key_for(problems[0])("#### 7") is not None  # votes on the final answer by default
    assert tokens_per_answer(FakePolicy("\n"), "ab", "toy") == 2 + 8
    assert VerifierReward(kinds=reward_row_kinds())(prompts=None, completions=["hey", " "],
                                                    task=["toy", "toy"]) == [1.0, 0.0]
    assert parse_row({"shout": "fig"}).prompt == "Shout fig."  # its own row shape


def test_a_family_is_its_package_alone(toy):
    """The package's files are all it takes: registering edits no other registry."""
    assert sorted(path.name for path in Path(toy.__path__[0]).glob("*.py")) == sorted(TOY_PACKAGE)
    assert [kind.name for kind in rewards.BUILTIN_ROW_KINDS] == ["countdown", "cases", "asserts", "answer"]
    assert [kind.name for kind in reward_row_kinds()] == ["countdown", "cases", "asserts", "toy", "answer"]


def test_unregistering_forgets_the_family_and_its_reward_rows(toy):
    assert row_kind({"task": "toy"}, reward_row_kinds()) == "toy"
    unregister_task("toy")
    with pytest.raises(ValueError, match="cannot tell how to verify"):
        row_kind({"task": "toy"}, reward_row_kinds())
    register_task(toy.SPEC)


def test_the_toy_family_runs_through_lab_eval_and_a_smoke_round(toy, model_dir, tmp_path, capsys):
    dev = write_toy_file(toy, tmp_path / "dev.jsonl", 2, 100)
    code = cli.main(["eval", "--model", str(model_dir), "--tasks", str(dev), "--strategy", "best_of_n",
                     "--budget", "2", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["n"] == 2 and set(summary["by_task"]) == {"toy"}
    assert summary["tokens"] > 0 and summary["accuracy"] > 0  # the toy's grader passes what a final-answer check would not

    train = write_toy_file(toy, tmp_path / "train.jsonl", 8, 0)
    out = tmp_path / "run"
    code = improve_cli.main(["--preset", "smoke", "--out", str(out), "--model", str(model_dir), "--quiet",
                             "--workers", "0", "--rounds", "1", "--set", f"train_files={{{train}: 1.0}}",
                             "--set", f"dev_files=[{dev}]", "--set", "problems_per_round=2",
                             "--set", "eval.limit=2", "--set", "sft.max_steps=1"])
    assert code == 0
    with gzip.open(out / "round-1" / "trees.jsonl.gz", "rt") as lines:
        trees = [json.loads(line) for line in lines]
    assert len(trees) == 2 and {tree["task"] for tree in trees} == {"toy"}
    verdicts = [verdict for tree in trees for verdict, terminal in zip(tree["verdicts"], tree["terminal"]) if terminal]
    assert verdicts and all(verdict is not None for verdict in verdicts)  # graded by the toy's verifier
    metrics = json.loads((out / "round-1" / "metrics.json").read_text())
    assert metrics["selection"]["problems_solved"] > 0 and metrics["eval"]["fast"]["n"] == 2
