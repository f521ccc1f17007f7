"""`lab export` on a hand-made run: the rows of each kind (exact), filters, the refusal of dev and
test problems, files that `datasets.load_dataset` reads, and one TRL training step on each kind."""
from __future__ import annotations

import dataclasses
import json

import pytest

from search import Tree
from selfplay.commands import lab as cli
from selfplay.runfiles.export import ExportError, export_run
from selfplay.model.prompting import builtin_prompt
from selfplay.runfiles.runread import RunError
from selfplay.tasks import load_problems
from tests.fixture_run import A, B, C, HOSTILE, PROBLEMS, build_tree, make_run, node
from verifiers.scorer_data import branch_pairs

PROMPT = {p.id: builtin_prompt(p.prompt) for p in PROBLEMS}
DEV = load_problems("datasets/countdown/dev.jsonl")[0]
TEST = load_problems("datasets/countdown/test.jsonl")[0]


@pytest.fixture()
def run_path(tmp_path):
    return make_run(tmp_path)


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_rows_are_the_verified_answers_with_their_problem_and_round(run_path, tmp_path):
    result = export_run(run_path, "sft", tmp_path / "sft.jsonl")
    assert (result.rows, result.by_round) == (2, {1: 1, 2: 1})
    assert read_rows(tmp_path / "sft.jsonl") == [
        {"prompt": PROMPT[A], "completion": "91+92=183\n183+93=276", "problem_id": A, "round": 1, "task": "countdown",
         "passed": True, "status": "passed", "selected": True},
        {"prompt": PROMPT[B], "completion": "94+95=189\n189+96=285", "problem_id": B, "round": 2, "task": "countdown",
         "passed": True, "status": "passed", "selected": True}]


def test_sft_verdict_filter_takes_failed_answers_too(run_path, tmp_path):
    export_run(run_path, "sft", tmp_path / "all.jsonl", verdicts=["passed", "wrong"])
    rows = read_rows(tmp_path / "all.jsonl")
    assert sorted((row["round"], row["completion"], row["status"]) for row in rows) == sorted([
        (1, "91+92=183\n183+93=276", "passed"), (1, "91+92=183\n183-93=90", "wrong"), (1, "93-91=2\n2*92=184", "wrong"),
        (1, "91*2=182", "wrong"),  # B's "bad" answer timed out: left out
        (2, "94+95=189\n189+96=285", "passed"), (2, "96-94=2", "wrong"),
        (2, HOSTILE + "\n<script>window.__pwned=1</script>", "wrong")])
    assert [row["round"] for row in rows] == [1, 1, 1, 1, 2, 2, 2]


def test_preference_pairs_come_from_sibling_subtrees(run_path, tmp_path):
    export_run(run_path, "preference", tmp_path / "pairs.jsonl")
    assert read_rows(tmp_path / "pairs.jsonl") == [
        {"prompt": PROMPT[A], "chosen": "91+92=183\n183+93=276", "rejected": "93-91=2\n2*92=184", "problem_id": A,
         "round": 1, "task": "countdown", "depth": 0},
        {"prompt": PROMPT[A] + "91+92=183\n", "chosen": "183+93=276", "rejected": "183-93=90", "problem_id": A,
         "round": 1, "task": "countdown", "depth": 1},
        {"prompt": PROMPT[B], "chosen": "94+95=189\n189+96=285", "rejected": "96-94=2", "problem_id": B,
         "round": 2, "task": "countdown", "depth": 0}]


def test_branch_pairs_need_a_wholly_failed_sibling_and_pick_the_shortest_answers():
    #  root ─ 1 "x\n" ─ 2 "long-pass" ✓ | 3 "ok" ✓ | 4 "no" ✗       (1 is mixed: no pair against it)
    #       ├ 5 "y\n" ─ 6 "bad" ✗ | 7 "worse!" ✗
    #       └ 8 "z" ✓
    tree = Tree.from_dict(build_tree("p", 1, [
        node(0, "x\n"), node(1, "long-pass", terminal=True, passed=True), node(1, "ok", terminal=True, passed=True),
        node(1, "no", terminal=True, passed=False), node(0, "y\n"), node(5, "bad", terminal=True, passed=False),
        node(5, "worse!", terminal=True, passed=False), node(0, "z", terminal=True, passed=True)]))
    pairs = [(p.prompt, p.chosen, p.rejected, p.depth) for p in branch_pairs([tree], {"p": "P\n"})]
    assert pairs == [("P\n", "x\nok", "y\nbad", 0), ("P\n", "z", "y\nbad", 0),
                     ("P\nx\n", "long-pass", "no", 1), ("P\nx\n", "ok", "no", 1)]
    assert len(branch_pairs([tree, tree], {"p": "P\n"})) == 4  # distinct per problem
    capped = branch_pairs([tree], {"p": "P\n"}, max_pairs_per_problem=2, seed=1)
    assert len(capped) == 2 and capped == branch_pairs([tree], {"p": "P\n"}, max_pairs_per_problem=2, seed=1)


def test_step_rows_are_monte_carlo_values_of_internal_prefixes(run_path, tmp_path):
    export_run(run_path, "steps", tmp_path / "steps.jsonl")
    rows = read_rows(tmp_path / "steps.jsonl")
    expected = [(1, A, "91+92=183\n", 1, 2, 0.5, True), (1, A, "93-91=2\n", 0, 1, 0.0, False),
                (2, B, "94+95=189\n", 1, 1, 1.0, True), (2, C, HOSTILE + "\n", 0, 1, 0.0, False)]
    fields = ("round", "problem_id", "completion", "passed", "total", "value", "label")
    assert [tuple(row[field] for field in fields) for row in rows] == \
        sorted(expected, key=lambda row: row[:2])  # by round, then problem id
    assert {row["prompt"] for row in rows if row["problem_id"] == A} == {PROMPT[A]}
    export_run(run_path, "steps", tmp_path / "passed.jsonl", verdicts=["passed"], rounds=[1])
    assert [(row["completion"], row["total"]) for row in read_rows(tmp_path / "passed.jsonl")] == [("91+92=183\n", 1)]


def test_round_and_task_filters(run_path, tmp_path):
    assert export_run(run_path, "preference", tmp_path / "r2.jsonl", rounds=[2]).by_round == {2: 1}
    with pytest.raises(ExportError, match="no sft rows in round 1, 2 .*tasks: arith"):
        export_run(run_path, "sft", tmp_path / "none.jsonl", tasks=["arith"])
    with pytest.raises(RunError, match="no trees for round 9"):
        export_run(run_path, "sft", tmp_path / "none.jsonl", rounds=[9])


def test_export_refuses_a_dev_problem_by_id(tmp_path):
    leaked = build_tree(DEV.id, 1, [node(0, "22*4=88", terminal=True, passed=True)])
    run = make_run(tmp_path, extra_round_one=[leaked], extra_problems=[DEV])
    with pytest.raises(ExportError, match=f"problem {DEV.id} \\(round 1, 1 rows\\) is in the held-out split "
                                          "datasets/countdown/dev.jsonl"):
        export_run(run, "sft", tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_export_refuses_a_test_problem_under_another_id_by_content(tmp_path, capsys):
    renamed = dataclasses.replace(TEST, id="my-own-id")
    leaked = build_tree("my-own-id", 1, [node(0, "x\n"), node(1, "1", terminal=True, passed=False)])
    run = make_run(tmp_path, extra_round_one=[leaked], extra_problems=[renamed])
    assert cli.main(["export", str(run), "--kind", "steps", "--out", str(tmp_path / "out.jsonl")]) == 2
    assert "problem my-own-id (round 1, 1 rows) is in the held-out split datasets/countdown/test.jsonl" in \
        capsys.readouterr().err
    assert cli.main(["export", str(run), "--kind", "steps", "--task", "arith", "--out", str(tmp_path / "o.jsonl")]) == 2


def _arith_dev():
    return load_problems("datasets/arith/dev.jsonl")[0]


def _funcs_test():
    return load_problems("datasets/funcs/test.jsonl")[0]


# A held-out problem copied into training under a new id, reformatted the ways a copy drifts.
REFORMATTED_COPIES = {
    "trailing space": lambda: (dataclasses.replace(_arith_dev(), id="copy", prompt=_arith_dev().prompt + " "),
                               "datasets/arith/dev.jsonl"),
    "spacing and case as qa": lambda: (dataclasses.replace(
        _arith_dev(), id="copy", task="qa", prompt="  " + _arith_dev().prompt.upper().replace(" ", "  ")),
        "datasets/arith/dev.jsonl"),
    "countdown numbers reordered": lambda: (dataclasses.replace(
        DEV, id="copy", prompt="Reach the target.", meta={"numbers": list(reversed(DEV.meta["numbers"])),
                                                          "target": DEV.meta["target"]}),
        "datasets/countdown/dev.jsonl"),
    "funcs cases reordered": lambda: (dataclasses.replace(
        _funcs_test(), id="copy", prompt=_funcs_test().prompt.replace("\n", " \n"),
        tests=dict(_funcs_test().tests, cases=list(reversed(_funcs_test().tests["cases"])))),
        "datasets/funcs/test.jsonl"),
}


@pytest.mark.parametrize("name", REFORMATTED_COPIES)
def test_export_refuses_a_reformatted_copy_of_a_held_out_problem(tmp_path, name):
    copy, split = REFORMATTED_COPIES[name]()
    leaked = build_tree("copy", 1, [node(0, "x\n"), node(1, "1", terminal=True, passed=False)])
    run = make_run(tmp_path, extra_round_one=[leaked], extra_problems=[copy])
    with pytest.raises(ExportError, match=f"problem copy \\(round 1, 1 rows\\) is in the held-out split {split}"):
        export_run(run, "steps", tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_export_lets_a_problem_through_that_only_looks_like_a_held_out_one(tmp_path):
    original = _arith_dev()
    number = next(word for word in original.prompt.split() if word.isdigit())
    other = dataclasses.replace(original, id="other", prompt=original.prompt.replace(number, str(int(number) + 1), 1))
    tree = build_tree("other", 1, [node(0, "x\n"), node(1, "1", terminal=True, passed=False)])
    run = make_run(tmp_path, extra_round_one=[tree], extra_problems=[other])
    assert export_run(run, "steps", tmp_path / "out.jsonl").rows == 5  # the fixture's four and this one


def test_export_command_line(run_path, tmp_path, capsys):
    out = tmp_path / "pairs.parquet"
    assert cli.main(["export", str(run_path), "--kind", "preference", "--out", str(out), "--round", "1"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 2 preference rows to {out} (round 1: 2)"
    assert cli.main(["export", str(run_path), "--kind", "sft", "--out", str(tmp_path / "x.csv")]) == 2
    out = str(tmp_path / "x.jsonl")
    assert cli.main(["export", str(run_path), "--kind", "sft", "--verdict", "maybe", "--out", out]) == 2
    assert cli.main(["export", str(tmp_path / "no-run"), "--kind", "sft", "--out", str(tmp_path / "x.jsonl")]) == 2
    out = str(tmp_path / "f.jsonl")
    assert cli.main(["export", str(run_path), "--kind", "sft", "--verdict", "failed", "--out", out]) == 0
    assert {row["status"] for row in read_rows(tmp_path / "f.jsonl")} == {"wrong", "timeout"}
    errors = capsys.readouterr().err.splitlines()
    assert errors[0] == f"lab: error: {tmp_path / 'x.csv'}: write .jsonl or .parquet"
    assert errors[1].startswith("lab: error: unknown verdict status 'maybe'")
    assert errors[2] == f"lab: error: {tmp_path / 'no-run'}: no such run directory"


def test_missing_prompts_are_a_clear_error(run_path, tmp_path):
    (tmp_path / "train.jsonl").unlink()
    with pytest.raises(ExportError, match="no prompt for problem .* in none of the run's training files"):
        export_run(run_path, "steps", tmp_path / "out.jsonl")


def test_prompts_are_the_runs_own_rows_first(run_path, tmp_path):
    rows = [{"prompt": "AS THE RUN RENDERED IT\n", "completion": "x", "problem_id": A, "round": 1, "task": "countdown"}]
    (run_path / "round-1" / "sft.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    export_run(run_path, "sft", tmp_path / "sft.jsonl")
    assert {row["problem_id"]: row["prompt"] for row in read_rows(tmp_path / "sft.jsonl")} == \
        {A: "AS THE RUN RENDERED IT\n", B: PROMPT[B]}


def chat_model_tokenizer(folder, opening: str = ""):
    """The run's model folder given a tokenizer with a chat template (which `opening` begins)."""
    from selfplay.builtin_model.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.chat_template = (opening + "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}[assistant] {% endif %}")
    tokenizer.save_pretrained(folder)
    return tokenizer


def test_prompts_of_a_chat_model_run_use_its_template(run_path, tmp_path):
    from selfplay.tasks import task_spec

    chat_model_tokenizer(tmp_path / "model")
    export_run(run_path, "sft", tmp_path / "sft.jsonl", rounds=[1])
    problem = next(p for p in PROBLEMS if p.id == A)
    user = [{"role": "user", "content": f"{problem.prompt}\n\n{task_spec('countdown').instruction}"}]
    # Conversational rows: a trainer applies its own template (a rendered prompt would carry it twice).
    assert read_rows(tmp_path / "sft.jsonl")[0] == {
        "prompt": user, "completion": [{"role": "assistant", "content": "91+92=183\n183+93=276"}], "problem_id": A,
        "round": 1, "task": "countdown", "passed": True, "status": "passed", "selected": True}
    export_run(run_path, "preference", tmp_path / "pairs.jsonl", rounds=[1])
    assert [(row["prompt"], row["chosen"], row["rejected"], row["depth"]) for row in read_rows(tmp_path / "pairs.jsonl")] \
        == [(user, [{"role": "assistant", "content": "91+92=183\n183+93=276"}],
             [{"role": "assistant", "content": "93-91=2\n2*92=184"}], 0),
            (user, [{"role": "assistant", "content": "91+92=183\n183+93=276"}],  # the shared step begins both
             [{"role": "assistant", "content": "91+92=183\n183-93=90"}], 1)]
    export_run(run_path, "steps", tmp_path / "steps.parquet", rounds=[1])
    from datasets import load_dataset
    steps = load_dataset("parquet", data_files=str(tmp_path / "steps.parquet"), split="train",
                         cache_dir=str(tmp_path / "cache"))
    assert steps[0]["prompt"] == user and steps[0]["completion"][0]["role"] == "assistant"


def test_a_chat_model_export_applies_the_template_once_in_trl(run_path, tmp_path):
    """TRL renders a conversational row with the model's template: the BOS it writes appears once."""
    tokenizer = chat_model_tokenizer(tmp_path / "model", opening="{{ bos_token }}")
    export_run(run_path, "sft", tmp_path / "sft.jsonl", rounds=[1])
    row = read_rows(tmp_path / "sft.jsonl")[0]
    text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    assert text.count(tokenizer.bos_token) == 1


# --- the files feed datasets and TRL -----------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("exported")
    run = make_run(root)
    paths = {}
    for kind, suffix in (("sft", "jsonl"), ("preference", "parquet"), ("steps", "jsonl")):
        paths[kind] = export_run(run, kind, root / f"{kind}.{suffix}").path
    return paths


def load(path, cache):
    from datasets import load_dataset

    builder = "parquet" if path.suffix == ".parquet" else "json"
    return load_dataset(builder, data_files=str(path), split="train", cache_dir=str(cache))


def test_exported_files_load_with_datasets(exported, tmp_path):
    sft, pairs, steps = (load(exported[kind], tmp_path) for kind in ("sft", "preference", "steps"))
    assert sft.num_rows == 2 and {"prompt", "completion", "problem_id", "round"} <= set(sft.column_names)
    assert pairs.num_rows == 3 and pairs[1]["chosen"] == "183+93=276" and pairs[1]["round"] == 1
    assert steps.num_rows == 4 and sorted(steps["label"]) == [False, False, True, True] and steps["value"][0] == 0.5


TRAINING = dict(max_steps=1, per_device_train_batch_size=2, learning_rate=1e-2, use_cpu=True, bf16=False,
                report_to="none", save_strategy="no", activation_checkpointing=False, disable_tqdm=True,
                logging_steps=1, dataloader_num_workers=0, max_length=128)


def one_step(trainer_class, config_class, dataset, tmp_path, *, reference: bool = False):
    """One optimizer step of a TRL trainer on `dataset` with a tiny random Llama; some parameter must change."""
    import copy

    import torch

    from selfplay.builtin_model.tokenizer import build_tokenizer
    from tests.tiny_models import tiny_llama

    tokenizer = build_tokenizer()
    model = tiny_llama(tokenizer, hidden=32).train()
    before = {name: tensor.detach().clone() for name, tensor in model.named_parameters()}
    args = config_class(output_dir=str(tmp_path / "out"), **TRAINING)
    # The preference trainers would load their reference model from the hub by name: hand them a copy.
    extra = {"ref_model": copy.deepcopy(model).eval()} if reference else {}
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, **extra)
    trainer.train()
    assert trainer.state.global_step == 1
    changed = [name for name, tensor in trainer.model.named_parameters() if not torch.equal(before[name], tensor)]
    assert changed, "one training step changed no parameter"


@pytest.mark.usefixtures("one_torch_thread")
def test_sft_export_feeds_trl_sft_trainer(exported, tmp_path):
    from trl import SFTConfig, SFTTrainer

    one_step(SFTTrainer, SFTConfig, load(exported["sft"], tmp_path), tmp_path)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # TRL asks transformers for it
def test_preference_export_feeds_trl_dpo_trainer(exported, tmp_path):
    from trl import DPOConfig, DPOTrainer

    one_step(DPOTrainer, DPOConfig, load(exported["preference"], tmp_path), tmp_path, reference=True)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
def test_steps_export_feeds_trl_kto_trainer(exported, tmp_path):
    from trl import KTOConfig, KTOTrainer

    one_step(KTOTrainer, KTOConfig, load(exported["steps"], tmp_path), tmp_path, reference=True)
