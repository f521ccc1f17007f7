"""A run's numbers where people look: an experiment tracker (`sft.report_to`) and `RUN/progress.png`.

    with trainer_logs("tensorboard", run_path, 2, "sft"):   # the trainer's own logs -> RUN/tensorboard/round-2/sft
        finetune(...)
    round_written("tensorboard", run_path, metrics)         # round scalars at step = round, progress.png redrawn

    round_scalars({"round": 1, "eval": {"fast": {"accuracy": 0.25, "budget": 1}}, "adapter": "..."})
    # -> {'round/eval/fast/accuracy': 0.25}

Per-round scalars are every number in the round's metrics.json (round 0: eval.json), tagged
`round/<keys joined by />` (`round/eval/splits/countdown/hard/dev/fast`: a task file by its
`short_name`), logged at step = round. The
prefix keeps them apart from the trainers' own `train/*` tags in trackers with one namespace per
run. Settings that metrics.json repeats (`budget`, `samples_per_problem`) are left out.

TensorBoard writes event files under `RUN/tensorboard/`: `rounds/` for the per-round scalars and
`round-K/<trainer>/` for a trainer's loss curve. transformers 5 has no `logging_dir` argument;
its TensorBoard callback reads `TENSORBOARD_LOGGING_DIR` when the trainer is built, which
`trainer_logs` sets for the trainer's lifetime (without it the events would land in the trainer's
scratch output directory and be deleted with it). W&B, MLflow and Trackio log where their own
settings say (`WANDB_PROJECT`, `MLFLOW_TRACKING_URI`, ...); the per-round scalars go to the active
run, or to one named after the run directory.

`progress.png` is written atomically through the run directory's writer.

Knows the run directory's layout, metrics.json's shape and how each tracker (and transformers'
TensorBoard callback) is told where to log; nothing about models, search, or how training runs.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from selfplay.runfiles import rundir

TENSORBOARD_DIR = "tensorboard"  # under the run directory: `tensorboard --logdir RUN/tensorboard`
PROGRESS_FILE = "progress.png"
LOG_DIR_VARIABLE = "TENSORBOARD_LOGGING_DIR"  # read by transformers' TensorBoardCallback
SETTINGS = frozenset({"budget", "samples_per_problem"})  # numbers in metrics.json that are settings, not outcomes
PROJECT = "selfplay"  # W&B / Trackio project of the per-round scalars unless the tracker's own setting names one


def round_scalars(metrics: Mapping) -> dict[str, float]:
    """Every number in a round's metrics (booleans, strings, lists and settings left out), by tag.

    >>> round_scalars({"round": 2, "train": {"train_loss": 0.5, "continued_from": None},
    ...                "curriculum": {"solved": {"datasets/countdown/std3/train.jsonl": 0.75}}, "wall_s": 3})
    {'round/train/train_loss': 0.5, 'round/curriculum/solved/countdown/std3/train': 0.75, 'round/wall_s': 3.0}
    """
    scalars = {}

    def walk(value, keys: tuple[str, ...]) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, (*keys, short_name(key) if keys and keys[-1] in FILE_KEYED else str(key)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and keys[-1] not in SETTINGS:
            scalars["/".join(("round", *keys))] = float(value)

    walk({key: value for key, value in metrics.items() if key != "round"}, ())
    return scalars


FILE_KEYED = frozenset({"splits", "solved", "levels"})  # metrics.json mappings keyed by a task file's path
REPO = Path(__file__).resolve().parents[2]


def short_name(name: str) -> str:
    """A task file's name for a tag or a legend: relative to the repository (and its `datasets/`), no
    suffix; a file elsewhere keeps its folder's name and its own. An absolute path in a TensorBoard tag
    nested it under every folder of the path.

    >>> short_name(str(REPO / "datasets/countdown/hard/dev.jsonl")), short_name("/tmp/abc/sums_dev.jsonl")
    ('countdown/hard/dev', 'abc/sums_dev')
    """
    path = Path(str(name))
    if path.is_absolute():
        try:
            path = path.relative_to(REPO)
        except ValueError:
            path = Path(path.parent.name, path.name)
    parts = path.parts[1:] if path.parts[:1] == ("datasets",) else path.parts
    shortened = Path(*parts) if parts else path
    return str(shortened.with_suffix("") if shortened.suffix in (".jsonl", ".json", ".csv") else shortened)


def tensorboard_dir(run_path: str | os.PathLike) -> Path:
    return Path(run_path) / TENSORBOARD_DIR


@contextlib.contextmanager
def trainer_logs(report_to: str, run_path: str | os.PathLike, round_index: int, trainer: str) -> Iterator[None]:
    """While a round's trainer is built and trained: where its tracker logs go (see the module docstring)."""
    if report_to != "tensorboard":
        if report_to != "none":
            _open_run(report_to, Path(run_path))  # the trainer's callback then logs into this run
        yield
        return
    with tensorboard_logging_to(tensorboard_dir(run_path) / f"round-{round_index}" / trainer):
        yield


@contextlib.contextmanager
def tensorboard_logging_to(folder: str | os.PathLike) -> Iterator[None]:
    """While the block runs, transformers' TensorBoard callback writes its event files under `folder`."""
    saved = os.environ.get(LOG_DIR_VARIABLE)
    os.environ[LOG_DIR_VARIABLE] = str(folder)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(LOG_DIR_VARIABLE, None)
        else:
            os.environ[LOG_DIR_VARIABLE] = saved


def round_written(report_to: str, run_path: str | os.PathLike, metrics: Mapping) -> None:
    """After round K's metrics.json: its scalars to the tracker (round 0's too when K is 1), progress.png redrawn."""
    run = rundir.RunDir(Path(run_path))
    base = run.round(0).eval
    if metrics["round"] == 1 and base.is_file():
        log_scalars(report_to, run.path, rundir.read_json(base))
    log_scalars(report_to, run.path, metrics)
    draw_progress(run)


def log_scalars(report_to: str, run_path: Path, metrics: Mapping) -> None:
    """One round's scalars to the tracker, at step = round."""
    scalars, step = round_scalars(metrics), int(metrics["round"])
    if report_to == "none" or not scalars:
        return
    if report_to == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        with contextlib.closing(SummaryWriter(log_dir=str(tensorboard_dir(run_path) / "rounds"))) as writer:
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, global_step=step)
        return
    tracker = _open_run(report_to, run_path)
    if report_to == "wandb":
        tracker.define_metric("round")
        tracker.define_metric("round/*", step_metric="round")
        tracker.log({**scalars, "round": step})
    elif report_to == "mlflow":
        tracker.log_metrics(scalars, step=step)
    else:
        tracker.log(scalars, step=step)


def _open_run(report_to: str, run_path: Path):
    """The tracker module with a run open: the active one, or one named after the run directory."""
    if report_to == "wandb":
        import wandb
        if wandb.run is None:
            run_id = hashlib.blake2b(str(run_path.resolve()).encode(), digest_size=8).hexdigest()
            wandb.init(project=os.environ.get("WANDB_PROJECT", PROJECT), name=run_path.name, id=run_id,
                       resume="allow")
        return wandb
    if report_to == "mlflow":
        import mlflow
        if mlflow.active_run() is None:
            mlflow.start_run(run_name=run_path.name)
        return mlflow
    if report_to == "trackio":
        import trackio  # its trainer callback finishes the run it used, so this run is resumed each time
        trackio.init(project=PROJECT, name=run_path.name, resume="allow")
        return trackio
    raise ValueError(f"report_to: no tracker {report_to!r}")


# --- progress.png ------------------------------------------------------------------------------

def progress_rows(run: rundir.RunDir) -> list[dict]:
    """Per evaluated round (0 = base model): {"round", "splits": {dev file: {"fast", "deliberate"}}}."""
    files = [run.round(0).eval] + [run.round(index).metrics for index in run.rounds_holding("metrics.json")]
    rows = []
    for path in files:
        if path.is_file():
            result = rundir.read_metrics(path)
            splits = (result.get("eval") or {}).get("splits") or {}
            if splits:
                rows.append({"round": result["round"], "splits": splits})
    return rows


def draw_progress(run: rundir.RunDir) -> Path | None:
    """RUN/progress.png: fast and deliberate accuracy per dev file against round (None when nothing is evaluated)."""
    rows = progress_rows(run)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(name for row in rows for name in row["splits"]))
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    for color, name in enumerate(names):
        for mode, style in (("fast", "o-"), ("deliberate", "s--")):
            points = [(row["round"], row["splits"][name].get(mode)) for row in rows if name in row["splits"]]
            points = [(index, value) for index, value in points if value is not None]
            if points:
                axes.plot(*zip(*points), style, color=f"C{color}", label=f"{short_name(name)}, {mode}")
    axes.set_xlabel("round (0 = base model)")
    axes.set_ylabel("dev accuracy")
    axes.set_xticks([row["round"] for row in rows])
    axes.set_ylim(0, 1)
    axes.set_title(f"{run.path.name}: fast (greedy) and deliberate accuracy", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    plt.close(figure)
    return rundir.write_bytes(run.path / PROGRESS_FILE, image.getvalue())
