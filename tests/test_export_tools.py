"""`lab export` of a run whose trees hold tool calls: each kind says where tool output sits."""
import json

from search import Tree
from selfplay.runfiles.export import export_run
from selfplay.model.prompting import builtin_prompt
from selfplay.tasks import Problem
from tests.fixture_run import make_run

PROBLEM = Problem.create("countdown", "Use 3 4 5 17 to make 60 with + - * /. Each number at most once.", answer="60",
                         meta={"numbers": [3, 4, 5, 17], "target": 60})


def calc(expression: str, value: str, start: int) -> dict:
    return {"tool": "calculator", "input": expression, "output": f"{value}>>", "status": "ok", "wall_s": 0.0,
            "start": start}


def tool_tree() -> dict:
    """root ─ 1 "<<3*4=12>>\\n" ─ 2 "<<12*5=60>>" ✓ | 3 "<<12+5=17>>" ✗, every step a calculator call."""
    tree = Tree(strategy="beam", problem_id=PROBLEM.id, task="countdown", round=1)
    first = tree.add_node(0, "<<3*4=12>>\n", token_count=11, logprob=-1.0, terminal=False,
                          tool_calls=[calc("3*4", "12", 6)])
    right = tree.add_node(first, "<<12*5=60>>", token_count=11, logprob=-1.0, terminal=True,
                          tool_calls=[calc("12*5", "60", 7)])
    wrong = tree.add_node(first, "<<12+5=17>>", token_count=11, logprob=-1.0, terminal=True,
                          tool_calls=[calc("12+5", "17", 7)])
    tree.set_verdict(right, True, 1.0, "passed")
    tree.set_verdict(wrong, False, 0.0, "wrong")
    return tree.to_dict()


def rows_of(run, kind, out):
    export_run(run, kind, out, rounds=[1])
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_each_kind_marks_the_tool_output_in_its_texts(tmp_path):
    run = make_run(tmp_path, extra_round_one=[tool_tree()], extra_problems=[PROBLEM])
    sft = {row["completion"]: row["tool_spans"] for row in rows_of(run, "sft", tmp_path / "sft.jsonl")}
    assert sft["<<3*4=12>>\n<<12*5=60>>"] == [[6, 10], [18, 22]]
    assert sft["91+92=183\n183+93=276"] == []  # an answer of a tree without calls
    steps = {row["completion"]: row["tool_spans"] for row in rows_of(run, "steps", tmp_path / "steps.jsonl")}
    assert steps["<<3*4=12>>\n"] == [[6, 10]] and steps["91+92=183\n"] == []
    (pair,) = [row for row in rows_of(run, "preference", tmp_path / "pairs.jsonl") if row["problem_id"] == PROBLEM.id]
    assert pair["prompt"] == builtin_prompt(PROBLEM.prompt) + "<<3*4=12>>\n"  # the branch point's shared step
    assert (pair["chosen"], pair["chosen_tool_spans"]) == ("<<12*5=60>>", [[7, 11]])
    assert (pair["rejected"], pair["rejected_tool_spans"]) == ("<<12+5=17>>", [[7, 11]])
    for text, spans in sft.items():
        assert all(text[start:end].endswith(">>") for start, end in spans)


def test_a_run_without_tool_calls_exports_no_span_columns(tmp_path):
    run = make_run(tmp_path)
    for kind in ("sft", "steps", "preference"):
        assert all("tool_spans" not in key for row in rows_of(run, kind, tmp_path / f"{kind}.jsonl") for key in row)


def test_span_columns_load_with_datasets(tmp_path):
    from datasets import load_dataset

    run = make_run(tmp_path, extra_round_one=[tool_tree()], extra_problems=[PROBLEM])
    export_run(run, "preference", tmp_path / "pairs.parquet", rounds=[1])
    pairs = load_dataset("parquet", data_files=str(tmp_path / "pairs.parquet"), split="train",
                         cache_dir=str(tmp_path / "cache"))
    assert [spans for spans in pairs["chosen_tool_spans"] if spans] == [[[7, 11]]]
