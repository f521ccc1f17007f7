"""`lab eval --tools` and `lab compare --tools` on a tiny random Llama: the flag reaches the policy,
the calls are counted beside accuracy and tokens, and search trees keep them.

A random model does not write `<<EXPR=` by itself, so the calculator is called when an answer
reaches two characters (a forced call): the calculator itself runs as it always does."""
import gzip
import json

import pytest

from selfplay.commands import lab as cli
from selfplay.tools.toolbox import Calculator
from tests.test_evaluate import mixed_tasks, model_dir  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def forced_calculator(monkeypatch):
    monkeypatch.setattr(Calculator, "pending", lambda self, text: "6*7" if len(text) == 2 else None)


def lab(capsys, *args):
    code = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("forced_calculator")
def test_eval_json_reports_tool_calls_only_with_tools_on(capsys, model_dir, mixed_tasks):  # noqa: F811
    args = ("eval", "--model", model_dir, "--tasks", mixed_tasks, "--max-new-tokens", 8, "--json")
    code, out, _ = lab(capsys, *args, "--tools", "calculator")
    with_tools = json.loads(out)
    assert code == 0 and with_tools["n"] == 6 and with_tools["tool_calls"] == 6  # one per greedy answer
    assert {"accuracy", "n", "tokens", "wall_s"} <= set(with_tools)
    code, out, _ = lab(capsys, *args)
    without = json.loads(out)
    assert code == 0 and without["tool_calls"] == 0
    assert with_tools["prefill_tokens"] == without["prefill_tokens"] + 6 * len("42>>")  # forced output is prefill


def test_eval_refuses_an_unknown_tool(capsys, model_dir, mixed_tasks):  # noqa: F811
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["eval", "--model", str(model_dir), "--tasks", str(mixed_tasks), "--tools", "calculator,abacus"])
    assert exit_info.value.code == 2 and "unknown tool 'abacus'" in capsys.readouterr().err


@pytest.mark.usefixtures("forced_calculator")
def test_compare_with_tools_counts_calls_and_keeps_them_in_the_trees(capsys, model_dir, mixed_tasks,  # noqa: F811
                                                                      tmp_path):
    code, _, _ = lab(capsys, "compare", "--model", model_dir, "--tasks", mixed_tasks, "--limit", 2, "--tools",
                     "calculator", "--strategies", "best_of_n", "--budgets", 2, "--no-sample", "--out", tmp_path)
    assert code == 0
    summary = json.loads((tmp_path / "compare.json").read_text())
    assert summary["tools"] == ["calculator"]
    assert [row["strategy"] for row in summary["rows"]] == ["greedy", "best_of_n"]
    assert all(row["tool_calls"] > 0 for row in summary["rows"])
    with gzip.open(tmp_path / "trees" / "best_of_n-2.jsonl.gz", "rt") as handle:
        trees = [json.loads(line) for line in handle]
    calls = [call for tree in trees for node_calls in tree.get("tool_calls", []) for call in node_calls]
    assert calls and all(call["tool"] == "calculator" and call["output"] == "42>>" for call in calls)
    for tree in trees:
        for node, node_calls in enumerate(tree.get("tool_calls", [])):
            for call in node_calls:
                assert tree["step_texts"][node][call["start"]:call["start"] + 4] == "42>>"
