"""Damaged run files, a held lock whose file is gone, a full disk, and settings a continued run may change:
each is an exit 2 (or an exception the CLI turns into one) naming the file or key, never a traceback or a
silently wrong round."""
from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from search import Tree
from selfplay.commands import improve as improve_cli
from selfplay.loop import rounds
from selfplay.runfiles import environment, rundir
from selfplay.runfiles.rundir import DamagedFile, NoSpace, RunLocked
from selfplay.runfiles.runconfig import ConfigError, load_config, to_yaml

REPO = Path(__file__).resolve().parents[1]


def smoke(out: Path, *overrides: str):
    return load_config("smoke", [f"out={out}", *overrides])


def smoke_run(out: Path) -> Path:
    """A run directory as `--preset smoke` leaves it after round 0, without any model work."""
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(to_yaml(smoke(out)))
    rundir.write_json(out / "round-0" / "eval.json", {"round": 0, "model": "m", "eval": {}, "wall_s": 1.0})
    return out


def main(out: Path, *extra: str) -> int:
    return improve_cli.main(["--preset", "smoke", "--out", str(out), "--quiet", *extra])


# --- JSON and jsonl files -----------------------------------------------------------------------

@pytest.mark.parametrize("content, says", [("{}", "lacks 'round', 'eval'"),
                                           ('{"round": "1", "eval": {}, "wall_s": 1}', "not a round number"),
                                           ('{"round": 1, "eval": [], "train": 2}', "its 'eval', 'train' is not an"),
                                           ("[" * 100_000, "nested too deeply")])
def test_a_done_rounds_damaged_metrics_is_exit_2_naming_it(tmp_path, capsys, content, says):
    out = smoke_run(tmp_path / "run")
    (out / "round-1").mkdir()
    (out / "round-1" / "metrics.json").write_text(content)
    (out / "round-1" / "DONE").write_text("done\n")
    assert main(out, "--rounds", "1") == 2
    error = capsys.readouterr().err
    assert error.startswith(f"improve: error: {out / 'round-1' / 'metrics.json'}: ") and says in error
    assert "Traceback" not in error


def test_a_binary_or_folder_sft_jsonl_is_damage_naming_it(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_bytes(b'{"prompt": "\xff\xfe\x00"}\n')
    with pytest.raises(DamagedFile, match=r"sft.jsonl: not UTF-8 text.*selection runs again"):
        rundir.read_jsonl(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(DamagedFile, match="sft.jsonl: a folder where a file belongs"):
        rundir.read_jsonl(path)
    (tmp_path / "rm.jsonl").write_bytes(b"\xff\xfe")  # deleting rm.jsonl alone would not have it written again
    with pytest.raises(DamagedFile, match=r"rm.jsonl: not UTF-8 text.*delete it, sft.jsonl and everything after"):
        rundir.read_jsonl(tmp_path / "rm.jsonl")


def test_an_earlier_rounds_sft_jsonl_replaced_by_a_folder_is_refused_not_replayed_as_nothing(tmp_path):
    run = rundir.RunDir(tmp_path)
    run.round(1).sft.mkdir(parents=True)
    with pytest.raises(DamagedFile, match=f"{run.round(1).sft}: a folder"):
        rounds.earlier_rows(run, 2)


@pytest.mark.parametrize("name", ["DONE", "metrics.json", "trees.jsonl.gz", "sft.jsonl"])
def test_a_round_file_that_is_a_folder_stops_the_round_naming_it(tmp_path, capsys, name):
    out = smoke_run(tmp_path / "run")
    (out / "round-1" / name).mkdir(parents=True)
    assert main(out, "--rounds", "1") == 2
    assert capsys.readouterr().err.startswith(f"improve: error: {out / 'round-1' / name}: a folder")


def selected_tree(problem_id: str, selected: bool) -> Tree:
    tree = Tree(problem_id=problem_id, task="countdown", round=1)
    node = tree.add_node(0, "1+1=2", token_count=3, logprob=-1.0, terminal=True)
    return tree.with_selected([node]) if selected else tree


def test_an_emptied_sft_jsonl_is_damage_when_the_trees_flag_selected_steps(tmp_path):
    round_dir = rundir.RunDir(tmp_path).round(1)
    round_dir.path.mkdir()
    rundir.write_jsonl(round_dir.sft, [])
    with pytest.raises(DamagedFile, match=r"sft.jsonl: holds none of round 1's rows while its trees flag 1 selected"):
        rounds.read_selection(round_dir, [selected_tree("a", True)])
    assert rounds.read_selection(round_dir, [selected_tree("a", False)]) == []  # nothing selected: empty is right
    rundir.write_jsonl(round_dir.sft, [{"prompt": "p", "completion": "c", "problem_id": "a"}])
    with pytest.raises(DamagedFile, match="row 1 lacks round"):
        rounds.read_selection(round_dir, [])


# --- config.yaml --------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, says", [
    (lambda text: "".join(text.splitlines(keepends=True)[:len(text.splitlines()) // 2]).encode(),
     "damaged (cut short?): it lacks"),
    (lambda text: text.encode()[:len(text) // 2], "damaged"),  # cut mid-line: which message depends on where
    (lambda text: b"\x89PNG\r\n\x1a\n\x00\xff" * 20, "damaged, not a config this lab wrote"),
    (lambda text: b"a: " + b"[" * 50_000, "damaged, not a config this lab wrote"),
    (lambda text: text.replace("workers: 0", "workers: many").encode(), "damaged: workers"),
])
def test_a_damaged_config_yaml_is_called_damaged_not_other_settings(tmp_path, capsys, damage, says):
    out = smoke_run(tmp_path / "run")
    (out / "config.yaml").write_bytes(damage((out / "config.yaml").read_text()))
    assert main(out) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"improve: error: {out / 'config.yaml'}: ") and says in error
    assert "other settings" not in error


# --- adapters -----------------------------------------------------------------------------------

def write_adapter(path: Path) -> Path:
    from safetensors.torch import save_file

    path.mkdir(parents=True)
    save_file({"base_model.model.lm_head.lora_A.weight": torch.zeros(4, 8)}, str(path / "adapter_model.safetensors"))
    rundir.write_json(path / "adapter_config.json", {"peft_type": "LORA", "r": 4, "lora_alpha": 8})
    rundir.write_json(path / "training.json", {"rows": 1, "tokens": 3})
    return path


@pytest.mark.parametrize("damage, file, says", [
    (lambda a: (a / "adapter_model.safetensors").write_bytes((a / "adapter_model.safetensors").read_bytes()[:-9]),
     "adapter_model.safetensors", "cut short"),
    (lambda a: (a / "adapter_model.safetensors").write_bytes(b""), "adapter_model.safetensors", "0 bytes: cut short"),
    (lambda a: (a / "adapter_model.safetensors").write_bytes(b"\x10" + b"\x00" * 7 + b"not json!" * 4),
     "adapter_model.safetensors", "header is not JSON"),
    (lambda a: (a / "adapter_model.safetensors").unlink(), "adapter_model.safetensors", "missing"),
    (lambda a: (a / "adapter_config.json").write_text("junk{"), "adapter_config.json", "not valid JSON"),
    (lambda a: (a / "adapter_config.json").write_text('{"x": 1}'), "adapter_config.json", "not a PEFT adapter"),
])
def test_a_damaged_adapter_is_refused_when_its_phase_is_skipped(tmp_path, damage, file, says):
    run = rundir.RunDir(tmp_path)
    adapter = write_adapter(run.round(1).adapter)
    rundir.check_adapter(adapter)  # whole: passes
    damage(adapter)

    class Executor:
        def finetune(self, request):
            raise AssertionError("a damaged adapter is not trained over")

    context = rounds.Context(smoke(tmp_path), run, Executor(), progress=False)
    with pytest.raises(DamagedFile, match=f"{adapter / file}: .*{says}.*the round is trained again"):
        rounds.train_phase(context, run.round(1))


def test_a_damaged_adapter_in_a_round_without_done_is_exit_2_not_marked_done(tmp_path, capsys):
    out = smoke_run(tmp_path / "run")
    adapter = write_adapter(out / "round-1" / "adapter")
    rundir.write_json(out / "round-1" / "metrics.json", {"round": 1, "eval": {}, "wall_s": 1.0})
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    assert main(out, "--rounds", "1") == 2
    assert capsys.readouterr().err.startswith(f"improve: error: {adapter / 'adapter_model.safetensors'}: 0 bytes")
    assert not (out / "round-1" / "DONE").exists()


# --- a full disk --------------------------------------------------------------------------------

def test_a_full_disk_while_saving_the_adapter_is_a_message_and_leaves_no_half_adapter(tmp_path, monkeypatch):
    from peft import PeftModel

    from selfplay.loop.finetune import finetune
    from tests.tiny_models import save_tiny_model

    model = save_tiny_model(tmp_path / "model")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PeftModel, "save_pretrained", full)
    out = tmp_path / "run" / "round-1" / "adapter"
    out.parent.mkdir(parents=True)
    with pytest.raises(NoSpace, match=f"no space left on the device holding {out.parent} while saving the adapter "
                                      f"{out} .*rerun the same command"):
        finetune([], model, out, smoke(tmp_path).sft)
    assert list(out.parent.iterdir()) == []  # the staging folder went with the error


def test_a_full_disk_on_a_worker_is_exit_2_not_a_traceback(tmp_path):
    run = rundir.RunDir(tmp_path)
    run.round(1).path.mkdir()
    rundir.write_jsonl(run.round(1).sft, [])

    class Executor:  # what a worker's OSError looks like to the round
        def finetune(self, request):
            raise OSError(errno.ENOSPC, "No space left on device")

    context = rounds.Context(smoke(tmp_path), run, Executor(), progress=False)
    with pytest.raises(NoSpace, match="no space left on the device"):
        rounds.train_phase(context, run.round(1))

    class WorkerError(Exception):  # how Ray hands back an actor's exception: the original as `cause`
        def __init__(self, cause):
            super().__init__(f"ray::Sampler.finetune()\nTraceback (most recent call last): ...\n{cause}")
            self.cause = cause

    class RayExecutor:
        def finetune(self, request):
            raise WorkerError(NoSpace("no space left on the device holding /w while saving the adapter /w/a"))

    context = rounds.Context(smoke(tmp_path), run, RayExecutor(), progress=False)
    with pytest.raises(NoSpace) as raised:
        rounds.train_phase(context, run.round(1))
    assert str(raised.value) == "no space left on the device holding /w while saving the adapter /w/a"


# --- the lock -----------------------------------------------------------------------------------

HOLD = """
import sys, time
from selfplay.runfiles import rundir
with rundir.lock_run(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_deleting_the_lock_file_does_not_let_a_second_run_in(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (out / rundir.LOCK_NAME).unlink()
        with pytest.raises(RunLocked, match="being written by another run .*not there"):
            with rundir.lock_run(out):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    with rundir.lock_run(out):  # a crashed holder's lock is gone with it
        assert json.loads((out / rundir.LOCK_NAME).read_text())["pid"] == os.getpid()


# --- hardware and execution settings -------------------------------------------------------------

@pytest.mark.parametrize("key", ["sft.bf16", "sft.fp16"])
def test_a_precision_the_hardware_lacks_is_refused_before_round_0(tmp_path, monkeypatch, key):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = smoke(tmp_path / "run", f"{key}=true")

    class Executor:  # no methods: any work before the check would fail with an AttributeError
        pass

    with pytest.raises(ConfigError, match=rf"{key}=true, but the adapter is trained on the CPU .*set {key}=false"):
        rounds.improve(config, Executor(), progress=False)
    assert not (tmp_path / "run").exists()
    probed = type("Ray", (), {"training_device": lambda self: {"name": "gpu0", "precisions": ("fp16", "bf16")}})()
    rounds.check_hardware(config, probed)  # an executor that trains elsewhere answers for its device


def test_training_settings_may_change_on_a_continued_run_and_the_change_is_recorded(tmp_path):
    out = tmp_path / "run"
    rounds.prepare_run_dir(smoke(out, "sft.bf16=true"), log=lambda text: None)
    said = []
    changed = smoke(out, "sft.batch_size=2", "sft.gradient_accumulation_steps=2", "sft.report_to=tensorboard")
    rounds.prepare_run_dir(changed, log=said.append)
    starts = json.loads((out / environment.NAME).read_text())["starts"]
    assert starts[1]["changed"] == {"sft.report_to": ["none", "tensorboard"], "sft.bf16": [True, False],
                                    "sft.batch_size": [4, 2], "sft.gradient_accumulation_steps": [1, 2]}
    assert any(line.startswith("sft.bf16: True -> False") for line in said)
    with pytest.raises(ConfigError, match=r"written with other settings \(sft.learning_rate\)"):
        rounds.prepare_run_dir(smoke(out, "sft.learning_rate=0.1"), log=said.append)


# --- finetuning options ---------------------------------------------------------------------------

def test_trainer_args_reach_sft_config_and_bad_ones_are_named(tmp_path):
    from selfplay.loop.finetune import sft_arguments

    config = smoke(tmp_path, "sft.gradient_accumulation_steps=3", "sft.gradient_checkpointing=true",
                   "sft.trainer_args={lr_scheduler_type: cosine, warmup_steps: 0.2, weight_decay: 0.01}")
    arguments = sft_arguments(config.sft, str(tmp_path), seed=1)
    assert (arguments.gradient_accumulation_steps, arguments.activation_checkpointing) == (3, True)
    assert (str(arguments.lr_scheduler_type), arguments.warmup_steps, arguments.weight_decay) == \
        ("SchedulerType.COSINE", 0.2, 0.01) or arguments.lr_scheduler_type == "cosine"
    with pytest.raises(ConfigError, match=r"sft.trainer_args: \['warmup_ratio', 'wormup'\] are not options.*warmup_steps"):
        smoke(tmp_path, "sft.trainer_args={warmup_ratio: 0.1, wormup: 1}")
    with pytest.raises(ConfigError, match=r"sft.trainer_args: .*bogus"):  # a bad value, before any round
        smoke(tmp_path, "sft.trainer_args={lr_scheduler_type: bogus}")
    with pytest.raises(ConfigError, match=r"the lab sets learning_rate \(use sft.learning_rate\)"):
        smoke(tmp_path, "sft.trainer_args={learning_rate: 0.1}")
    with pytest.raises(ConfigError, match="sft.gradient_accumulation_steps must be >= 1"):
        smoke(tmp_path, "sft.gradient_accumulation_steps=0")


def test_the_loss_printer_prints_every_n_steps_and_the_last():
    from selfplay.loop.finetune import loss_printer

    lines = []
    printer = loss_printer(2, rows=10, print_line=lambda text, flush: lines.append(text))
    state = type("State", (), {"max_steps": 3, "global_step": 0})()
    printer.on_train_begin(None, state, None)
    for step in (1, 2, 3):
        state.global_step = step
        printer.on_log(None, state, None, logs={"loss": 1.0 / step})
    assert lines[0] == "train: 10 rows, 3 steps"
    assert [line.split(" (")[0] for line in lines[1:]] == ["train step 2/3: loss 0.5000", "train step 3/3: loss 0.3333"]


# --- overrides and output -------------------------------------------------------------------------

def test_train_files_under_a_preset_with_levels_is_an_error_naming_both_keys():
    with pytest.raises(ConfigError, match=r"--set train_files .*curriculum.levels.*'default' has 4 levels"):
        load_config("default", ["train_files={datasets/countdown/train.jsonl: 1.0}"])
    config = load_config("default", ["train_files={datasets/countdown/train.jsonl: 1.0}", "curriculum.levels=[]"])
    assert config.train_files == {"datasets/countdown/train.jsonl": 1.0} and config.curriculum.levels == ()


def test_the_round_table_is_not_cut_at_80_columns_off_a_terminal(tmp_path):
    from rich.console import Console

    config = smoke(tmp_path, "dev_files=[datasets/countdown/dev.jsonl, datasets/countdown/hard/dev.jsonl]")
    result = {"round": 1, "eval": {"fast": {"accuracy": 0.5}, "splits": {}}, "wall_s": 10.0,
              "selection": {"problems": 8, "problems_solved": 3, "sft_rows": 12}, "train": {"train_loss": 1.25}}
    sink = io.StringIO()
    improve_cli.print_table(Console(file=sink), improve_cli.rounds_table([result], config))
    text = sink.getvalue()
    assert max(map(len, text.splitlines())) > 80 and "…" not in text and "1.250" in text and "3/8" in text
    assert text.splitlines()[0].strip().startswith("rounds of ") and text.splitlines()[0].strip().endswith("x4)")  # the title, on one line


def test_the_eta_is_the_mean_round_time_times_the_rounds_left():
    results = [{"round": 0, "wall_s": 50}, {"round": 1, "wall_s": 600}, {"round": 2, "wall_s": 1200}]
    assert improve_cli.eta_line(results, 4) == "mean round 900 s; 2 rounds left, about 30 min"
    assert improve_cli.eta_line(results[:1], 4) is None
    assert improve_cli.eta_line(results[:2], 3) == "mean round 600 s; 2 rounds left, about 20 min"
    assert improve_cli.eta_line([{"round": 1, "wall_s": 13}], 2) == "mean round 13 s; 1 round left, about 13 s"


# --- readers of a damaged run: `lab tree list`, `lab export` ----------------------------------------

@pytest.mark.parametrize("relative, damage, says, command", [
    # export reads the config (the run's problems); the list reads each round's evaluation
    ("config.yaml", b"\xff\xfe\x00binary", "config.yaml: damaged", "export"),
    ("config.yaml", b"a: " + b"[" * 50_000, "config.yaml: damaged", "export"),
    ("config.yaml", b"train_files: [a, b]\n", "its train_files is not a mapping", "export"),
    ("round-1/metrics.json", b"\xff\xfe", "metrics.json: not UTF-8", "list"),
    ("round-0/eval.json", b"[" * 100_000, "eval.json: nested too deeply", "list"),
    ("round-1/DONE", None, "DONE: a folder", "list"),
])
def test_listing_or_exporting_a_damaged_run_is_exit_2_naming_the_file(tmp_path, capsys, relative, damage, says,
                                                                    command):
    from selfplay.commands import lab
    from tests.fixture_run import make_run

    run = make_run(tmp_path)
    if damage is None:
        (run / relative).unlink(missing_ok=True)
        (run / relative).mkdir()
    else:
        (run / relative).write_bytes(damage)
    argv = ["tree", "list", str(run)] if command == "list" else \
        ["export", str(run), "--kind", "sft", "--out", str(tmp_path / "x.jsonl")]
    assert lab.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("lab: error: ") and says in error and "Traceback" not in error


def test_progress_png_legends_name_dev_files_by_short_name(tmp_path, monkeypatch):
    import matplotlib.axes

    from selfplay.runfiles import tracking

    labels = []
    plot = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot", lambda self, *a, **k: (labels.append(k.get("label")),
                                                                            plot(self, *a, **k))[1])
    dev = str(tmp_path / "data" / "sums_dev.jsonl")
    rundir.write_json(tmp_path / "round-0" / "eval.json",
                      {"round": 0, "eval": {"splits": {dev: {"fast": 0.5, "deliberate": 0.75}}}})
    assert tracking.draw_progress(rundir.RunDir(tmp_path)) == tmp_path / "progress.png"
    assert labels == ["data/sums_dev, fast", "data/sums_dev, deliberate"]


def test_an_older_runs_config_without_later_fields_still_continues(tmp_path):
    out = smoke_run(tmp_path / "run")
    lines = (out / "config.yaml").read_text().splitlines(keepends=True)
    (out / "config.yaml").write_text("".join(line for line in lines if not line.startswith("tools:")))
    run = rounds.prepare_run_dir(smoke(out), log=lambda text: None)  # tools takes its default, as the run had
    assert "tools: auto" in run.config.read_text()


def test_the_ray_executor_answers_for_its_actors_training_device():
    from selfplay.execution.ray_runner import RayExecutor

    assert RayExecutor(1, gpus_per_worker=0).training_device()["precisions"] == ()  # bf16 is refused before round 0
    assert "bf16" in RayExecutor(1, gpus_per_worker=1).training_device()["precisions"]


def test_where_a_folder_cannot_be_flocked_the_lock_file_is(tmp_path, monkeypatch):
    import fcntl

    real = fcntl.flock

    def nfs_like(fd, operation):  # NFS: an exclusive flock needs a descriptor open for writing
        if os.path.isdir(f"/proc/self/fd/{fd}") or os.readlink(f"/proc/self/fd/{fd}") == str(tmp_path / "run"):
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", nfs_like)
    with rundir.lock_run(tmp_path / "run"):
        assert json.loads((tmp_path / "run" / rundir.LOCK_NAME).read_text())["pid"] == os.getpid()
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            with rundir.lock_run(tmp_path / "run"):
                pass
