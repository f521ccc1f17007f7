"""The improvement loop on a tiny model: run-dir files, the trees file under crashes, the LoRA trainer, resume.

The model is a tiny random Llama trained for a few seconds on the smoke preset's own training
problems (prompt + expert solution), so that its samples are sometimes verified-correct and
sometimes not: a purely random model would select nothing and leave SFT untested.
"""
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny_models import tiny_llama
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoTokenizer, LlamaForCausalLM

from selfplay.commands import improve as improve_cli
from selfplay.runfiles import rundir, treeio
from selfplay.loop.finetune import finetune, read_training
from selfplay.model.prompting import builtin_prompt
from selfplay.loop.rounds import improve, round_problems
from selfplay.runfiles.runconfig import FinetuneConfig, load_config
from selfplay.loop.work import LocalExecutor, SampleJob, sample_problem
from search import Tree

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny Llama that has half-learnt the solutions of the problems the tests draw (about 8 s of training).

    Round 1 of 16 problems is the smoke preset's rounds 1 and 2 (8 each): consecutive slices.
    """
    from selfplay.builtin_model.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    model = tiny_llama(tokenizer).train()
    smoke = load_config("smoke", ["problems_per_round=16"])
    problems = round_problems(smoke, 1)
    encoded = [tokenizer(builtin_prompt(p.prompt) + p.meta["solution"])["input_ids"] + [tokenizer.eos_token_id]
               for p in problems]
    width = max(map(len, encoded))
    ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in encoded])  # (B, T)
    mask = (ids != tokenizer.pad_token_id).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    # A bare loop: this is a fixture, not training code. 100 steps is about where pass@4 crosses from 0 to 1.
    for _ in range(100):
        model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tree(problem_id: str) -> dict:
    built = Tree(strategy="sample", problem_id=problem_id, task="countdown", round=1)
    built.add_node(0, "1+1=2", token_count=5, logprob=-1.0, terminal=True)
    return built.to_dict()


def test_append_trees_survives_a_torn_tail_and_repair_cuts_it(tmp_path):
    path = tmp_path / "trees.jsonl.gz"
    treeio.append_trees(path, [tree("a")])
    treeio.append_trees(path, [tree("b"), tree("c")])
    whole = path.read_bytes()
    torn = gzip.compress(json.dumps(tree("d")).encode() + b"\n")
    path.write_bytes(whole + torn[:len(torn) // 2])  # a crash in the middle of the fourth append
    assert [t.problem_id for t in treeio.read_trees_prefix(path)] == ["a", "b", "c"]
    assert treeio.repair_trees(path) == len(torn) // 2
    assert path.read_bytes() == whole
    treeio.append_trees(path, [tree("d")])
    with gzip.open(path, "rt") as lines:  # plain gzip readers see every member
        assert [json.loads(line)["problem_id"] for line in lines] == ["a", "b", "c", "d"]


def test_a_bad_tree_before_the_tail_is_an_error(tmp_path):
    path = tmp_path / "trees.jsonl.gz"
    treeio.append_trees(path, [{"format": "selfplay.tree/0"}])
    treeio.append_trees(path, [tree("b")])
    with pytest.raises(ValueError, match="member 0"):
        treeio.read_trees_prefix(path)


def test_staging_dir_leaves_nothing_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with rundir.staging_dir(tmp_path / "adapter") as staging:
            (staging / "half.bin").write_bytes(b"x")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_sample_problem_labels_the_tree_and_the_executor_keeps_one_base(model_dir, tmp_path):
    problem = round_problems(load_config("smoke"), 1)[0]
    job = SampleJob(round=3, model_dir=str(model_dir), adapter_dir=None, strategy="best_of_n", budget=2, seed=0,
                    search_overrides={"max_depth": 3})
    executor = LocalExecutor()
    results = []
    executor.run([problem], job, results.append)
    (result,) = results
    data = result.trees[0]
    labels = (data["problem_id"], data["task"], data["round"], data["strategy"])
    assert labels == (problem.id, "countdown", 3, "best_of_n")
    assert max(data["depths"]) <= 3 and result.tokens > 0
    assert all(v is not None for t, v in zip(data["terminal"], data["verdicts"]) if t)
    again = sample_problem(executor.policy(str(model_dir), None), problem, job)
    assert again.trees == result.trees  # the seed derives from (seed, round, problem id)
    base = executor.policy(str(model_dir), None).model
    adapter = tmp_path / "adapter"
    finetune([], model_dir, adapter, FinetuneConfig())
    assert executor.policy(str(model_dir), str(adapter)).adapter_dir == str(adapter)
    assert executor.policy(str(model_dir), None).model is base  # unloading gives the very same base back


def test_sampling_searches_as_deliberate_answering_does(model_dir, monkeypatch):
    """A round's search gets the sizes `lab eval` gives the same strategy and budget (the knobs
    scale with the budget), with the job's overrides on top."""
    import selfplay.answering.deliberate as deliberate_module

    seen = {}
    real = deliberate_module.deliberate
    monkeypatch.setattr(deliberate_module, "deliberate",
                        lambda policy, problem, strategy, budget, **kw: seen.setdefault("config", kw["config"])
                        and real(policy, problem, strategy, budget, **kw))
    problem = round_problems(load_config("smoke"), 1)[0]
    job = SampleJob(round=1, model_dir=str(model_dir), adapter_dir=None, strategy="mcts", budget=4, seed=0,
                    search_overrides={"c_puct": 2.0})
    sample_problem(LocalExecutor().policy(str(model_dir), None), problem, job)
    expected = deliberate_module.scaled_knobs(4)
    config = seen["config"]
    assert (config.num_simulations, config.beam_width, config.num_samples) == (
        expected["num_simulations"], expected["beam_width"], expected["num_samples"])
    assert config.c_puct == 2.0


def lora_weights(adapter_dir) -> dict:
    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


def test_finetune_changes_the_lora_weights_and_continues_from_an_adapter(model_dir, tmp_path):
    rows = [{"prompt": "Use 2 3 to make 5 with + - * /. Each number at most once.\n", "completion": "2+3=5<eos>"}] * 4
    config = FinetuneConfig(max_steps=3, batch_size=2, learning_rate=1e-2)
    untrained = finetune([], model_dir, tmp_path / "a0", config, seed=0)
    trained = finetune(rows, model_dir, tmp_path / "a1", config, seed=0)
    assert untrained.steps == 0 and trained.steps == 3 and trained.rows == 4 and trained.tokens > 0
    before, after = lora_weights(tmp_path / "a0"), lora_weights(tmp_path / "a1")
    assert before.keys() == after.keys() and any("lora_B" in key for key in before)
    assert all(torch.count_nonzero(w) == 0 for k, w in before.items() if "lora_B" in k)  # LoRA starts as the identity
    assert all(torch.count_nonzero(w) > 0 for k, w in after.items() if "lora_B" in k)
    continued = finetune(rows, model_dir, tmp_path / "a2", config, previous_adapter=tmp_path / "a1", seed=0)
    assert continued.continued_from == str(tmp_path / "a1")
    assert continued.first_loss < trained.first_loss  # it starts where a1 left off, not from the base
    assert read_training(tmp_path / "a2")["steps"] == 3
    base = LlamaForCausalLM.from_pretrained(model_dir)
    ids = torch.tensor([[1, 20, 30, 40]])
    reference = base(input_ids=ids).logits
    assert not torch.allclose(PeftModel.from_pretrained(base, str(tmp_path / "a2"))(input_ids=ids).logits, reference)


def smoke_args(model_dir, out, *extra) -> list[str]:
    return ["--preset", "smoke", "--out", str(out), "--model", str(model_dir), "--quiet", *extra]


def tree_ids(path) -> list[str]:
    return [t.problem_id for t in treeio.read_trees_prefix(path)]


@pytest.mark.slow
def test_smoke_preset_writes_the_run_directory(model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert improve_cli.main(smoke_args(model_dir, out)) == 0
    assert "fast" in capsys.readouterr().out  # the rounds table
    config = load_config("smoke", [f"out={out}", f"model={model_dir}"])
    assert (out / "config.yaml").is_file()
    base = rundir.read_json(out / "round-0" / "eval.json")
    assert base["eval"]["fast"]["n"] == base["eval"]["deliberate"]["n"] == config.eval.limit
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for index in (1, 2):
        round_dir = out / f"round-{index}"
        assert {p.name for p in round_dir.iterdir()} == {"trees.jsonl.gz", "sft.jsonl", "rm.jsonl", "adapter",
                                                         "metrics.json", "DONE"}
        assert sorted(tree_ids(round_dir / "trees.jsonl.gz")) == sorted(p.id for p in round_problems(config, index))
        metrics = rundir.read_json(round_dir / "metrics.json")
        rows = rundir.read_jsonl(round_dir / "sft.jsonl")
        assert metrics["selection"]["sft_rows"] == len(rows) > 0 and metrics["selection"]["problems_solved"] > 0
        assert metrics["train"]["steps"] == config.sft.max_steps and metrics["train"]["train_loss"] > 0
        assert set(metrics["eval"]) == {"fast", "deliberate", "splits", "solved"}
        (dev_file,) = config.dev_files
        split = metrics["eval"]["splits"][dev_file]
        assert split["n"] == config.eval.limit and split["fast"] == metrics["eval"]["fast"]["accuracy"]
        assert len(metrics["eval"]["solved"]["fast"]) == metrics["eval"]["fast"]["solved"]
        assert sum(metrics["curriculum"]["levels"].values()) == config.problems_per_round
        trees = treeio.read_trees_prefix(round_dir / "trees.jsonl.gz")
        assert sum(map(sum, (t.selected for t in trees))) == metrics["selection"]["selected_nodes"] > 0
        for row in rows:
            ids = tokenizer(row["prompt"] + row["completion"])["input_ids"]
            assert ids[-1] == tokenizer.eos_token_id and ids.count(tokenizer.eos_token_id) == 1
        model = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(model_dir), str(round_dir / "adapter"))
        assert model.peft_config["default"].r == config.sft.lora_rank
        # The adapter names its base by an absolute path: plain PEFT finds it from any folder.
        recorded = rundir.read_json(round_dir / "adapter" / "adapter_config.json")["base_model_name_or_path"]
        assert recorded == str(Path(model_dir).resolve())
        assert "every linear layer" in (round_dir / "adapter" / "README.md").read_text()
    from peft import AutoPeftModelForCausalLM
    monkeypatch.chdir(tmp_path)
    loaded = AutoPeftModelForCausalLM.from_pretrained(str(out / "round-2" / "adapter"))
    assert loaded.peft_config["default"].r == config.sft.lora_rank
    second = rundir.read_json(out / "round-2" / "metrics.json")
    assert second["train"]["continued_from"] == str(out / "round-1" / "adapter")
    assert second["selection"]["replayed"] > 0
    assert {r["round"] for r in rundir.read_jsonl(out / "round-2" / "sft.jsonl")} == {1, 2}


class Crash(Exception):
    pass


class CrashAfter:
    """An executor that dies after handing over `count` results (as a killed driver would)."""

    def __init__(self, inner, count: int) -> None:
        self.inner, self.count = inner, count

    def __getattr__(self, name: str):  # finetune, evaluate and close: the inner executor's
        return getattr(self.inner, name)

    def run(self, problems, job, on_result):
        delivered = 0

        def forward(result):
            nonlocal delivered
            if delivered == self.count:
                raise Crash(f"crashed after {delivered} problems")
            on_result(result)
            delivered += 1
        self.inner.run(problems, job, forward)


ONE_ROUND = ["--rounds", "1", "--set", "eval.limit=2"]


def crashed_after_three_trees(model_dir, tmp_path):
    """A one-round smoke run that crashed after writing 3 trees: (config, run dir, trees file)."""
    out = tmp_path / "run"
    config = improve_cli.config_from_args(improve_cli.build_parser().parse_args(smoke_args(model_dir, out, *ONE_ROUND)))
    with pytest.raises(Crash):
        improve(config, CrashAfter(LocalExecutor(), 3), progress=False, log=lambda _: None)
    return config, out, out / "round-1" / "trees.jsonl.gz"


@pytest.mark.slow
def test_a_crashed_round_resumes_and_every_problem_appears_once(model_dir, tmp_path):
    config, out, trees_path = crashed_after_three_trees(model_dir, tmp_path)
    before = treeio.read_trees_prefix(trees_path)
    assert len(before) == 3 and not (out / "round-1" / "sft.jsonl").exists()
    with open(trees_path, "ab") as handle:  # and the crash tore an append in half
        handle.write(gzip.compress(json.dumps(tree("torn")).encode())[:20])
    (out / "round-1" / ".sft.jsonl.tmp123").write_text("half")  # a temporary the crash left behind

    assert improve_cli.main(smoke_args(model_dir, out, *ONE_ROUND)) == 0
    after = treeio.read_trees_prefix(trees_path)
    assert sorted(tree_ids(trees_path)) == sorted(p.id for p in round_problems(config, 1))
    assert len(after) == len(set(tree_ids(trees_path))) == config.problems_per_round
    resumed = {t.problem_id: {**t.to_dict(), "selected": None} for t in after}
    assert all(resumed[t.problem_id] == {**t.to_dict(), "selected": None} for t in before)  # kept, not resampled
    metrics = rundir.read_json(out / "round-1" / "metrics.json")
    assert metrics["sampling"]["resumed"] == 3 and metrics["sampling"]["torn_bytes_dropped"] == 20
    assert not list((out / "round-1").glob(".*"))

    # finished phases are not redone: without metrics and DONE, only evaluation runs again
    adapter_stamp = (out / "round-1" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns
    sft_stamp = (out / "round-1" / "sft.jsonl").stat().st_mtime_ns
    (out / "round-1" / "DONE").unlink()
    (out / "round-1" / "metrics.json").unlink()
    assert improve_cli.main(smoke_args(model_dir, out, *ONE_ROUND)) == 0
    assert (out / "round-1" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns == adapter_stamp
    assert (out / "round-1" / "sft.jsonl").stat().st_mtime_ns == sft_stamp
    assert (out / "round-1" / "DONE").is_file()
    assert rundir.read_json(out / "round-1" / "metrics.json")["train"] == metrics["train"]


@pytest.mark.slow
def test_a_killed_job_resumes_when_rerun(model_dir, tmp_path):
    """`python -m jobs.improve` killed (SIGKILL) while appending trees; the same command finishes the round."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "jobs.improve", *smoke_args(model_dir, out), "--rounds", "1",
               "--set", "problems_per_round=16", "--set", "sampling.strategy=mcts", "--set", "sampling.budget=8",
               "--set", "eval.limit=0"]
    trees_path = out / "round-1" / "trees.jsonl.gz"
    job = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, seen = time.monotonic() + 120, 0
        while time.monotonic() < deadline and job.poll() is None:
            seen = len(treeio.read_trees_prefix(trees_path))
            if seen >= 2:
                break
            time.sleep(0.02)
        assert job.poll() is None and 2 <= seen < 16, f"the job ended or never wrote trees: {job.stderr.read()[-2000:]}"
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=30)
    finally:
        if job.poll() is None:
            os.kill(job.pid, signal.SIGKILL)
        job.stderr.close()
    assert not (out / "round-1" / "DONE").exists()
    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ids = tree_ids(trees_path)
    assert len(ids) == len(set(ids)) == 16
    assert rundir.read_json(out / "round-1" / "metrics.json")["sampling"]["resumed"] >= 2
    assert (out / "round-1" / "DONE").is_file()


@pytest.mark.slow
def test_a_rerun_repairs_trees_written_twice_and_never_recounts_a_damaged_round(model_dir, tmp_path, capsys):
    config, out, trees_path = crashed_after_three_trees(model_dir, tmp_path)
    with open(trees_path, "ab") as handle:  # a second run on the same --out, before runs were locked
        handle.write(trees_path.read_bytes())
    assert len(tree_ids(trees_path)) == 6 and len(set(tree_ids(trees_path))) == 3

    assert improve_cli.main(smoke_args(model_dir, out, *ONE_ROUND)) == 0
    assert "round 1: 3 problems had a second tree" in capsys.readouterr().out
    assert sorted(tree_ids(trees_path)) == sorted(p.id for p in round_problems(config, 1))
    assert rundir.read_json(out / "round-1" / "metrics.json")["sampling"]["resumed"] == 3

    # selection is done: cut 40 bytes off the trees file, and the round must not be counted again from it
    (out / "round-1" / "DONE").unlink()
    (out / "round-1" / "metrics.json").unlink()
    trees_path.write_bytes(trees_path.read_bytes()[:-40])
    assert improve_cli.main(smoke_args(model_dir, out, *ONE_ROUND)) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"improve: error: {trees_path}: damaged at byte 0 ") and "must be whole" in error
    assert not (out / "round-1" / "metrics.json").exists() and not (out / "round-1" / "DONE").exists()


@pytest.mark.parametrize("continue_adapter", [True, False])
def test_refit_trains_a_fresh_lora_on_every_rounds_rows(tmp_path, monkeypatch, continue_adapter):
    from selfplay.loop import rounds
    from selfplay.runfiles.rundir import RunDir
    from selfplay.runfiles.runconfig import from_dict

    run = RunDir(tmp_path)
    rows = {1: [{"prompt": "p\n", "completion": "a", "problem_id": "x", "round": 1, "task": "countdown"}],
            2: [{"prompt": "p\n", "completion": "b", "problem_id": "y", "round": 2, "task": "countdown"},
                {"prompt": "p\n", "completion": "a", "problem_id": "x", "round": 1, "task": "countdown"}]}
    for index, written in rows.items():
        run.round(index).path.mkdir(parents=True)
        rundir.write_jsonl(run.round(index).sft, written)
    seen = {}

    class Executor:  # what the round hands its executor to train
        def finetune(self, request):
            seen["rows"] = [(r["problem_id"], r["round"]) for r in request.rows]
            seen["previous"] = request.previous_adapter
            Path(request.out_dir).mkdir(parents=True)
            rundir.write_json(Path(request.out_dir) / "training.json", {"rows": len(request.rows)})

    config = from_dict({"sft": {"continue_adapter": continue_adapter}})
    context = rounds.Context(config, run, executor=Executor(), progress=False)
    rounds.train_phase(context, run.round(2))
    # Continuing trains on the round's own file (its fresh rows and its replay); refitting, on every
    # round's fresh rows so far, each once.
    assert seen["rows"] == ([("y", 2), ("x", 1)] if continue_adapter else [("x", 1), ("y", 2)])
