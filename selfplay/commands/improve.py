"""`python -m jobs.improve` / `lab improve`: run or continue an improvement run from a preset.

    python -m jobs.improve --preset smoke                       # -> ~/selfplay-runs/smoke-<timestamp>
    python -m jobs.improve --preset default --name cd1 --rounds 3 --workers 4
    python -m jobs.improve --preset default --out /shared/runs/cd1 --set sft.learning_rate=5e-4
    ray job submit --working-dir . -- python -m jobs.improve --preset gpu --out /shared/runs/gsm --workers 8

Rerunning the same command with the same `--out` (or `--name`) continues from the last finished
round; `--rounds` may grow. One process writes a run directory at a time: a second run on it is
refused, naming the pid that holds it (`rundir.lock_run`). After each round one line is
printed: fast (greedy) and deliberate dev accuracy, the rows it trained on, the mean round time
and an ETA; at the end, the table of rounds, once, at its natural width. All of it also goes to
RUN/log.txt, and RUN/environment.json records the commit and library versions of each start.

Knows argparse, rich, the run directory's lock and which executor a config asks for; the round
logic is `selfplay.loop.rounds`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from search import TreeFormatError
from selfplay.model.settings import ModelConfigError
from selfplay.runfiles import rundir, treeio
from selfplay.runfiles.runconfig import AUTO, ConfigError, RunConfig, load_config
from selfplay.tasks import TaskFileError

LOG_NAME = "log.txt"  # RUN/log.txt: what the run printed, appended by every invocation


def make_executor(config: RunConfig):
    """`LocalExecutor` for `workers == 0`, else `selfplay.execution.ray_runner.RayExecutor` with `workers` actors
    ("auto": one per core of the cluster, one per GPU where it has GPUs; a local cluster when none runs)."""
    from selfplay.loop.work import LocalExecutor

    if config.workers == 0:
        return LocalExecutor(threads=config.threads)
    try:
        from selfplay.execution.ray_runner import RayExecutor
    except ImportError as error:
        raise ConfigError(f"--workers {config.workers} needs the Ray executor (selfplay.execution.ray_runner.RayExecutor), "
                          f"which cannot be imported here ({error}); use --workers 0 to run in this process") from None
    return RayExecutor(None if config.workers == AUTO else config.workers, threads_per_worker=config.threads)


def split_label(name: str) -> str:
    """A short column name for a dev file: `countdown/hard/dev.jsonl` -> `hard`, `countdown/dev.jsonl` -> `countdown`."""
    path = Path(name)
    return path.parent.name if path.stem in ("dev", "test", "train") else path.stem


def round_row(result: dict) -> dict:
    """The numbers of one round that the table shows: dev accuracy (all dev files, then each), the
    level mix, what selection found and kept, the training loss and the wall time (None where absent)."""
    evaluation, selection, train = result.get("eval") or {}, result.get("selection") or {}, result.get("train") or {}
    return {"round": result["round"],
            "fast": (evaluation.get("fast") or {}).get("accuracy"),
            "deliberate": (evaluation.get("deliberate") or {}).get("accuracy"),
            "splits": {name: {mode: split.get(mode) for mode in ("fast", "deliberate")}
                       for name, split in (evaluation.get("splits") or {}).items()},
            "levels": (result.get("curriculum") or {}).get("levels") or {},
            "problems": selection.get("problems"), "problems_solved": selection.get("problems_solved"),
            "solved_at_attempt_ends": selection.get("solved_at_attempt_ends"),
            "sft_rows": selection.get("sft_rows"), "hindsight_rows": selection.get("hindsight_rows"),
            "train_loss": train.get("train_loss"),
            "scorer_auroc": ((((train.get("scorer") or {}).get("outcome") or {}).get("held_out") or {})
                             .get("auroc")),  # the round's outcome scorer on its held-out problems' answers
            "sandbox_runs": (result.get("sampling") or {}).get("sandbox_runs"),
            "sandbox_s": (result.get("sampling") or {}).get("sandbox_s"),
            "wall_s": result.get("wall_s")}


def rounds_json(results: list[dict], config: RunConfig) -> dict:
    """`--json`: the table of rounds as one object, a row per round (`round_row`)."""
    return {"run_dir": str(config.run_dir()), "deliberate": {"strategy": config.eval.strategy,
                                                             "budget": config.eval.budget},
            "dev_files": list(config.dev_files), "rounds": [round_row(result) for result in results]}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def rounds_table(results: list[dict], config: RunConfig) -> Table:
    """One row per round: fast / deliberate accuracy on each dev file, the level mix, selection and training."""
    table = Table(title=f"rounds of {config.run_dir()}  (deliberate: {config.eval.strategy} x{config.eval.budget})")
    splits = list(config.dev_files) if len(config.dev_files) > 1 else [None]
    table.add_column("round", justify="right")
    for split in splits:
        label = "" if split is None else f"{split_label(split)} "
        table.add_column(f"{label}fast", justify="right")
        table.add_column(f"{label}delib.", justify="right")
    scored = any(row.get("scorer_auroc") is not None for row in map(round_row, results))
    sandbox = any((result.get("sampling") or {}).get("sandbox_runs") for result in results)
    for column in ("levels", "solved", "sft rows", "train loss", *(("scorer auroc",) if scored else ()),
                   *(("sandbox runs/s",) if sandbox else ()), "wall s"):
        table.add_column(column, justify="right")
    for row in map(round_row, results):
        solved = "-" if row["problems"] is None else f"{row['problems_solved']}/{row['problems']}"
        if row["solved_at_attempt_ends"]:  # solved only by an abandoned attempt that passes (selection rule 5)
            solved += f" +{row['solved_at_attempt_ends']}"
        levels = " ".join(f"{split_label(name)}:{count}" for name, count in row["levels"].items()) or "-"
        accuracies = [_number(row[mode] if split is None else row["splits"].get(split, {}).get(mode))
                      for split in splits for mode in ("fast", "deliberate")]
        rows = "-" if row["sft_rows"] is None else str(row["sft_rows"])
        if row["hindsight_rows"]:  # of them, answers relabeled with the target they reached (selection rule 6)
            rows += f" (h {row['hindsight_rows']})"
        runs = [f"{row['sandbox_runs'] or 0}/{row['sandbox_s'] or 0:.0f}"] if sandbox else []  # programs run, seconds
        table.add_row(str(row["round"]), *accuracies, levels, solved, rows, _number(row["train_loss"]),
                      *((_number(row["scorer_auroc"]),) if scored else ()), *runs, f"{row['wall_s'] or 0:.0f}")
    return table


def workers_count(text: str) -> int | str:
    """`--workers`: "auto" or a count >= 0.

    >>> workers_count("auto"), workers_count("3")
    ('auto', 3)
    """
    if text == AUTO:
        return AUTO
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a count >= 0, got {text!r}")
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="default", help="configs/<NAME>.yaml, or a path to a YAML preset")
    parser.add_argument("--out", help="run directory (absolute; default ~/selfplay-runs/<name or preset-time>)")
    parser.add_argument("--name", help="run name: the run directory is ~/selfplay-runs/<name> unless --out is given")
    parser.add_argument("--rounds", type=int, help="improvement rounds in all (a rerun continues up to this)")
    parser.add_argument("--workers", type=workers_count, metavar="N|auto",
                        help="Ray actors that sample: auto (one per core, or per GPU), N, or 0 for this process")
    parser.add_argument("--model", help="base model directory (Hugging Face format)")
    parser.add_argument("--seed", type=int, help="run seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config field, dotted for sections: --set sft.max_steps=20 (repeatable)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true",
                        help="print the table of rounds as one JSON object at the end (messages go to stderr)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    flags = {"out": args.out, "name": args.name, "rounds": args.rounds, "workers": args.workers,
             "model": args.model, "seed": args.seed}
    overrides = [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]
    if args.quiet:  # no loss lines either (an execution setting)
        overrides.append("sft.log_every=0")
    return load_config(args.preset, overrides + list(args.overrides))


def round_line(result: dict) -> str:
    """One line for a finished round: dev accuracy, what it trained on, its wall time."""
    row = round_row(result)
    trained = "" if row["sft_rows"] is None else f", {row['sft_rows']} sft rows, train loss {_number(row['train_loss'])}"
    return (f"round {row['round']}: fast {_number(row['fast'])}, deliberate {_number(row['deliberate'])}{trained}, "
            f"{row['wall_s'] or 0:.0f} s")


def eta_line(results: list[dict], rounds: int) -> str | None:
    """The mean wall time of the rounds >= 1 so far and the time the rounds left would take at that pace.

    >>> eta_line([{"round": 0, "wall_s": 5}, {"round": 1, "wall_s": 100}, {"round": 2, "wall_s": 140}], 5)
    'mean round 120 s; 3 rounds left, about 6 min'
    """
    walls = [result.get("wall_s") or 0 for result in results if result.get("round", 0) >= 1]
    if not walls:
        return None
    mean, left = sum(walls) / len(walls), rounds - results[-1]["round"]
    if left <= 0:
        return f"mean round {mean:.0f} s"
    eta = mean * left
    duration = f"{eta:.0f} s" if eta < 90 else f"{eta / 60:.0f} min" if eta < 5400 else f"{eta / 3600:.1f} h"
    return f"mean round {mean:.0f} s; {left} round{'s' if left > 1 else ''} left, about {duration}"


def print_table(console: Console, table: Table) -> None:
    """The table at its natural width: off a terminal (`ray job logs`, a file) rich would cut it at 80 columns."""
    if console.is_terminal:
        console.print(table)
        return
    width = max(Console(width=10_000).measure(table).maximum, len(str(table.title or "")))
    Console(file=console.file, width=width, no_color=True).print(table)


class LogTee(io.TextIOBase):
    """A text stream that writes to `stream` and, each line stamped with the time, to `log`: what training
    and the actors print goes to RUN/log.txt as well as to the screen."""

    def __init__(self, stream, log) -> None:
        self.stream, self.log, self.line_start = stream, log, True

    def write(self, text: str) -> int:
        self.stream.write(text)
        for piece in text.splitlines(keepends=True):
            if self.line_start:
                self.log.write(time.strftime("%Y-%m-%d %H:%M:%S "))
            self.log.write(piece)
            self.line_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True


def run_rounds(config: RunConfig, console: Console, *, progress: bool = True, tables: bool = True) -> list[dict]:
    """Run or continue the run on the config's executor, printing a line (and an ETA) after each round and,
    unless `tables` is false, the table of rounds at the end; what it prints also goes to RUN/log.txt
    (appended on a rerun). The executor is closed at the end (a local Ray cluster it started goes with it).
    Returns the rounds.

    The run directory is locked for the whole run (RunLocked when another process holds it); a
    problem whose tree runs that shared the directory before it was locked wrote twice keeps its first.
    """
    from selfplay.loop.rounds import improve

    results: list[dict] = []
    with rundir.lock_run(config.run_dir()) as path, open(path / LOG_NAME, "a", encoding="utf-8") as log_file:
        log_console = Console(file=log_file, width=10_000, no_color=True, soft_wrap=True)
        console = Console(file=console.file, width=console.width if console.is_terminal else None)  # not the tee
        # training's loss lines and the actors' output: to the console's stream (stderr with --json, whose stdout
        # holds the JSON alone) and to the log
        stdout = contextlib.redirect_stdout(LogTee(console.file, log_file))

        def say(text: str) -> None:
            console.print(text, soft_wrap=True)  # whole lines in `ray job logs`, whatever the width
            log_console.print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}")

        def on_round(result: dict) -> None:
            results.append(result)
            eta = eta_line(results, config.rounds)
            say(round_line(result) + (f"; {eta}" if eta else ""))

        say(f"run directory: {path} (pid {os.getpid()})")
        for index, problem_ids in treeio.drop_duplicate_run_trees(rundir.RunDir(path)).items():
            say(f"round {index}: {len(problem_ids)} problems had a second tree (two runs wrote this "
                f"directory at once); kept the first of each: {', '.join(problem_ids[:5])}"
                f"{', ...' if len(problem_ids) > 5 else ''}")
        executor = make_executor(config)
        try:
            with stdout:
                improve(config, executor, progress=progress, on_round=on_round, log=say)
        finally:
            executor.close()
        if tables:
            print_table(console, rounds_table(results, config))
            print_table(log_console, rounds_table(results, config))
    return results


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    console = Console(stderr=args.json)  # with --json, stdout holds the JSON object alone
    if args.print_config:
        from selfplay.runfiles.runconfig import to_yaml
        print(to_yaml(config), end="")
        return 0
    quiet_libraries()
    import torch
    torch.set_num_threads(config.threads)
    results = run_rounds(config, console, progress=not args.quiet, tables=not args.json)
    if args.json:
        print(json.dumps(rounds_json(results, config), indent=2))
    return 0


def quiet_libraries() -> None:
    """Weight-loading and dataset-mapping bars would bury the round's own progress; PEFT's and TRL's
    use of a name transformers 5 deprecated warns on every adapter load."""
    import warnings

    from datasets.utils.logging import disable_progress_bar as quiet_datasets
    from transformers.utils import logging

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    quiet_datasets()


def register(subparsers) -> argparse.ArgumentParser:
    """Add `improve` to the `lab` parser; it runs through `args.run(args)`."""
    parser = subparsers.add_parser("improve", help="run improvement rounds: sample trees, select, finetune, evaluate")
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs.improve", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ConfigError, TaskFileError, TreeFormatError, rundir.RunError, FileNotFoundError, ModelConfigError) as error:
        print(f"improve: error: {error}", file=sys.stderr)
        return 2
