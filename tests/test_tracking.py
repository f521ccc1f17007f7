"""Metrics where users look: `sft.report_to`, the per-round tracker scalars, RUN/progress.png, `lab improve --json`.

The slow test runs one smoke round on the tiny model of tests/test_rounds.py with TensorBoard and
reads the event files back.
"""
import doctest
import json
import sys
import types

import pytest

from selfplay.runfiles import rundir, tracking
from selfplay.runfiles.runconfig import ConfigError, FinetuneConfig, differences, load_config
from tests.test_rounds import model_dir, smoke_args  # noqa: F401  (model_dir is a fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_docstring_examples():
    result = doctest.testmod(tracking)
    assert result.attempted > 0 and result.failed == 0


def test_report_to_names_a_known_tracker():
    with pytest.raises(ConfigError, match="sft.report_to: 'tensorbord' is not one of"):
        FinetuneConfig(report_to="tensorbord")
    assert FinetuneConfig(report_to="none").report_to == "none"


def test_report_to_an_uninstalled_tracker_names_its_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs the wandb package.*pip install wandb"):
        load_config("smoke", ["sft.report_to=wandb"])


def test_the_tracker_may_change_between_invocations_of_a_run():
    before, after = load_config("smoke"), load_config("smoke", ["sft.report_to=tensorboard"])
    assert differences(before, after) == []
    assert differences(before, load_config("smoke", ["sft.max_steps=5"])) == ["sft.max_steps"]


def test_round_scalars_are_the_numbers_of_metrics_json():
    metrics = {"round": 3, "adapter": "/x", "sampling": {"strategy": "mcts", "budget": 8, "tokens": 120},
               "eval": {"fast": {"accuracy": 0.5, "budget": 1, "samples_per_problem": 1},
                        "splits": {"a/dev.jsonl": {"n": 4, "fast": 0.25, "deliberate": None},
                                   "/tmp/x7/sums_dev.jsonl": {"fast": 0.5},
                                   str(tracking.REPO / "datasets/countdown/hard/dev.jsonl"): {"fast": 0.75}},
                        "solved": {"fast": ["p1"]}},
               "train": {"continued_from": None, "train_loss": 1.5}, "flag": True, "wall_s": 2}
    # A dev file is tagged by its short name: an absolute path nested the tag under every folder of it.
    assert tracking.round_scalars(metrics) == {
        "round/sampling/tokens": 120.0, "round/eval/fast/accuracy": 0.5, "round/eval/splits/a/dev/n": 4.0,
        "round/eval/splits/a/dev/fast": 0.25, "round/eval/splits/x7/sums_dev/fast": 0.5,
        "round/eval/splits/countdown/hard/dev/fast": 0.75, "round/train/train_loss": 1.5, "round/wall_s": 2.0}


def write_rounds(run_path, accuracies):
    """round-0/eval.json and round-K/metrics.json holding (fast, deliberate) on one dev file per round."""
    for index, (fast, deliberate) in enumerate(accuracies):
        evaluation = {"fast": {"accuracy": fast}, "deliberate": {"accuracy": deliberate},
                      "splits": {"dev.jsonl": {"n": 8, "fast": fast, "deliberate": deliberate}}}
        name = "eval.json" if index == 0 else "metrics.json"
        rundir.write_json(run_path / f"round-{index}" / name, {"round": index, "eval": evaluation, "wall_s": 1.0})


def test_progress_png_is_redrawn_from_every_evaluated_round(tmp_path):
    write_rounds(tmp_path, [(0.1, 0.3), (0.2, 0.5)])
    run = rundir.RunDir(tmp_path)
    assert [row["round"] for row in tracking.progress_rows(run)] == [0, 1]
    path = tracking.draw_progress(run)
    assert path == tmp_path / "progress.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = path.read_bytes()
    write_rounds(tmp_path, [(0.1, 0.3), (0.2, 0.5), (0.4, 0.6)])
    tracking.draw_progress(run)
    assert path.read_bytes() != first  # a third round's points
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.png", "round-0", "round-1", "round-2"]


def test_no_progress_png_before_any_evaluation(tmp_path):
    assert tracking.draw_progress(rundir.RunDir(tmp_path)) is None
    assert not (tmp_path / "progress.png").exists()


def test_trainer_logs_point_tensorboard_at_the_run_directory_for_the_trainer_only(tmp_path, monkeypatch):
    monkeypatch.setenv(tracking.LOG_DIR_VARIABLE, "/elsewhere")
    with tracking.trainer_logs("tensorboard", tmp_path, 2, "sft"):
        assert tracking.os.environ[tracking.LOG_DIR_VARIABLE] == str(tmp_path / "tensorboard" / "round-2" / "sft")
    assert tracking.os.environ[tracking.LOG_DIR_VARIABLE] == "/elsewhere"
    with tracking.trainer_logs("none", tmp_path, 2, "sft"):
        assert tracking.os.environ[tracking.LOG_DIR_VARIABLE] == "/elsewhere"


class FakeTracker(types.ModuleType):
    """Records the calls of wandb / mlflow / trackio that `selfplay.runfiles.tracking` makes."""

    def __init__(self, name):
        super().__init__(name)
        self.calls, self.run = [], None

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)

        def record(*args, **kwargs):
            self.calls.append((attribute, args, kwargs))
            if attribute == "init":
                self.run = "open"
        return record

    def active_run(self):  # mlflow
        return self.run


@pytest.mark.parametrize("name, logged", [
    ("wandb", ("log", ({"round/eval/fast/accuracy": 0.2, "round/wall_s": 1.0, "round": 1},), {})),
    ("mlflow", ("log_metrics", ({"round/eval/fast/accuracy": 0.2, "round/wall_s": 1.0},), {"step": 1})),
    ("trackio", ("log", ({"round/eval/fast/accuracy": 0.2, "round/wall_s": 1.0},), {"step": 1})),
])
def test_round_scalars_go_to_the_other_trackers_at_step_round(tmp_path, monkeypatch, name, logged):
    fake = FakeTracker(name)
    monkeypatch.setitem(sys.modules, name, fake)
    tracking.log_scalars(name, tmp_path, {"round": 1, "eval": {"fast": {"accuracy": 0.2}}, "wall_s": 1})
    assert fake.calls[-1] == logged
    opened = [call for call in fake.calls if call[0] in ("init", "start_run")]
    assert len(opened) == 1 and tmp_path.name in opened[0][2].values()


@pytest.mark.slow
def test_a_tensorboard_round_logs_its_scalars_and_loss_draws_progress_and_prints_json(model_dir, tmp_path,  # noqa: F811
                                                                                       capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from selfplay.commands import improve as improve_cli

    out = tmp_path / "run"
    args = smoke_args(model_dir, out, "--rounds", "1", "--set", "eval.limit=2", "--set", "sft.report_to=tensorboard",
                      "--set", "sft.log_every=1", "--json")
    assert improve_cli.main(args) == 0
    printed = json.loads(capsys.readouterr().out)  # stdout holds the JSON object and nothing else
    assert [row["round"] for row in printed["rounds"]] == [0, 1]
    metrics = rundir.read_json(out / "round-1" / "metrics.json")
    assert printed["rounds"][1]["fast"] == metrics["eval"]["fast"]["accuracy"]
    assert printed["rounds"][1]["sft_rows"] == metrics["selection"]["sft_rows"] > 0

    rounds = EventAccumulator(str(out / "tensorboard" / "rounds")).Reload()
    fast = rounds.Scalars("round/eval/fast/accuracy")
    assert [event.step for event in fast] == [0, 1]
    assert fast[1].value == pytest.approx(metrics["eval"]["fast"]["accuracy"])
    (dev_file,) = metrics["eval"]["splits"]
    assert tracking.short_name(dev_file) == "countdown/dev"
    assert rounds.Scalars("round/eval/splits/countdown/dev/deliberate")[1].value == \
        pytest.approx(metrics["eval"]["splits"][dev_file]["deliberate"])
    assert rounds.Scalars("round/selection/sft_rows")[0].value == metrics["selection"]["sft_rows"]
    assert [event.step for event in rounds.Scalars("round/selection/sft_rows")] == [1]  # round 0 has no selection

    sft = EventAccumulator(str(out / "tensorboard" / "round-1" / "sft")).Reload()
    losses = sft.Scalars("train/loss")
    assert len(losses) == metrics["train"]["steps"] and losses[0].value == pytest.approx(metrics["train"]["first_loss"])
    assert (out / "progress.png").read_bytes()[:4] == b"\x89PNG"
    # What the run printed is in RUN/log.txt, and what it ran on in
    # RUN/environment.json.
    log = (out / "log.txt").read_text()
    assert "round 0: fast " in log and "round 1: fast " in log and "mean round" in log
    assert f"train step {metrics['train']['steps']}/{metrics['train']['steps']}: loss " in log  # training's lines
    start = json.loads((out / "environment.json").read_text())["starts"][0]
    assert start["versions"]["torch"] and start["versions"]["trl"] and start["python"] and start["changed"] == {}
    assert start["git"] is None or len(start["git"]["commit"]) == 40
