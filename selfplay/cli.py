"""The `lab` command line. Each subcommand wires arguments to library code and prints results.

    lab demo                                  tasks and verifiers at work, no model needed
    lab tasks build [--out datasets]          regenerate the committed splits
    lab tasks show FILE [--limit N]           what a task file holds
    lab verify --tasks FILE --completions F   grade completions ({"id", "completion"} jsonl)
    lab eval --model DIR --tasks FILE ...     accuracy of a model: greedy, pass@N or a search
    lab compare --model DIR --tasks FILE ...  fast vs deliberate at several budgets, table + plot
    lab reward-model --trees F --base DIR ... train a reward model on trees, print diagnostics
    lab improve --preset NAME [--out DIR]     improvement rounds (also: python -m jobs.improve)
    lab tree list|show|serve|export RUN ...   inspect a run's search trees (terminal, browser, files)
    lab export RUN --kind sft|preference|steps --out FILE   a run's synthetic data as jsonl / parquet
    lab pretrain [--config FILE] [--out DIR]  pretrain the built-in base model (also: python -m jobs.pretrain)

Errors in user input end with a one-line message and exit status 2, not a traceback: a bad
file names its line and field, a bad flag its name. The flags of the model-running commands
(`--device`, `--model`'s config.json, `--adapter`) are checked before any weights load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from search import BudgetTooSmall, TreeFormatError
from selfplay import compare, demo, evaluate, export, improve_cli
from selfplay.deliberate import check_model_settings
from selfplay.grading import grade
from selfplay.model.settings import ModelConfigError
from selfplay.runconfig import ConfigError
from selfplay.runread import RunError
from selfplay.tasks import TaskFileError, build_splits, load_problems
from selfplay.tasks.loader import read_jsonl
from selfplay.treeview import cli as tree_cli
from verifiers.sandbox import SandboxLimits

REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"


def _tasks_build(args: argparse.Namespace) -> int:
    written = build_splits(args.out, seed=args.seed)
    for task, paths in written.items():
        for split, path in paths.items():
            print(f"{task:10s} {split:5s} {path}")
    return 0


def _tasks_show(args: argparse.Namespace) -> int:
    problems = load_problems(args.file)
    counts = Counter(problem.task for problem in problems)
    print(f"{args.file}: {len(problems)} problems ({', '.join(f'{n} {t}' for t, n in sorted(counts.items()))})")
    for problem in problems[: args.limit]:
        print(json.dumps(problem.to_dict()) if args.json else f"\n[{problem.id}] {problem.task}\n{problem.prompt}")
    return 0


class UsageError(ValueError):
    """A flag whose value cannot work here: a device this machine lacks, a model or adapter that cannot load."""


def _read_completions(path: str) -> dict[str, str]:
    completions = {}
    for number, row in read_jsonl(path):
        for field in ("id", "completion"):
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise TaskFileError(path, number, field, "expected a string")
        if row["id"] in completions:
            raise TaskFileError(path, number, "id", f"{row['id']!r} appears twice")
        completions[row["id"]] = row["completion"]
    return completions


def _verify(args: argparse.Namespace) -> int:
    problems = {problem.id: problem for problem in load_problems(args.tasks)}
    completions = _read_completions(args.completions)
    unknown = sorted(set(completions) - set(problems))
    if unknown:
        raise TaskFileError(args.completions, None, "id", f"{len(unknown)} ids not in {args.tasks}, e.g. {unknown[0]!r}")
    start, statuses, rows = time.perf_counter(), Counter(), []
    for problem_id, completion in tqdm(completions.items(), desc="verify", disable=args.json, unit="answer"):
        verdict = grade(problems[problem_id], completion, timeout_s=args.timeout)
        statuses[verdict.status] += 1
        rows.append({"id": problem_id, **verdict.to_dict()})
    n = len(rows)
    summary = {"accuracy": statuses["passed"] / n if n else 0.0, "n": n, "statuses": dict(statuses),
               "missing": len(problems) - n, "wall_s": round(time.perf_counter() - start, 3)}
    if args.out:
        Path(args.out).write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(json.dumps(summary) if args.json else summary)
    return 0


def _timeout_seconds(text: str) -> float:
    """`--timeout`: seconds per program run, within what the sandbox accepts."""
    try:
        return SandboxLimits(timeout_s=float(text)).timeout_s
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace("timeout_s", "seconds")) from None


def _read_json_file(path: Path) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: not valid JSON ({error.msg}, column {error.colno})") from None
    except (RecursionError, ValueError):
        raise UsageError(f"{path}: not valid JSON (nested too deeply or an integer too long)") from None


def _one_line(error: BaseException) -> str:
    """A library's (often multi-line) message folded into one line."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def _check_weights(path: Path) -> None:
    """A safetensors file whose header reads (a truncated or junk one fails here, not deep in a loader)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt"):
            pass
    except (SafetensorError, OSError) as error:
        raise UsageError(f"{path}: not a readable safetensors file ({_one_line(error)})") from None


def check_device(text: str) -> None:
    """`--device`: a torch device that exists on this machine (cpu, cuda, cuda:N, mps)."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {text!r}: not a torch device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {text}: no CUDA device is visible on this machine; use --device cpu")
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device {text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {text}: no MPS device on this machine; use --device cpu")
    elif device.type != "cpu":
        raise UsageError(f"--device {text}: the lab runs models on cpu, cuda or mps")


def check_model_dir(model: str) -> None:
    """`--model`: its config.json reads as JSON and as a transformers config, its weights' header reads
    (a missing directory or config.json is left to the loader, whose message already says so)."""
    config = Path(model) / "config.json"
    if not config.is_file():
        return
    settings = _read_json_file(config)
    if not isinstance(settings, dict):
        raise UsageError(f"{config}: not a JSON object")
    check_model_settings(settings, str(config))
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(model)
    except (OSError, ValueError, KeyError, TypeError, StrictDataclassError) as error:
        raise UsageError(f"{config}: not a usable model config: {_one_line(error)}") from None
    if (Path(model) / "model.safetensors").is_file():
        _check_weights(Path(model) / "model.safetensors")


def check_adapter_dir(adapter: str) -> None:
    """`--adapter`: a PEFT adapter directory whose adapter_config.json loads, named as the adapter
    (the model loader would report any failure as the model's)."""
    folder = Path(adapter)
    if not folder.is_dir():
        raise UsageError(f"{adapter}: no such adapter directory")
    config = folder / "adapter_config.json"
    if not config.is_file():
        raise UsageError(f"{adapter}: no adapter_config.json, not a PEFT adapter directory")
    _read_json_file(config)
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        _check_weights(weights)
    elif not (folder / "adapter_model.bin").is_file():
        raise UsageError(f"{adapter}: no adapter_model.safetensors, not a saved PEFT adapter")
    from peft import PeftConfig

    try:
        PeftConfig.from_pretrained(adapter)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{config}: not a usable adapter config: {_one_line(error)}") from None


def check_model_flags(args: argparse.Namespace) -> None:
    """The model-running commands' --device, --model and --adapter, before any weights load."""
    if getattr(args, "device", None):
        check_device(args.device)
    check_model_dir(args.model)
    if args.adapter:
        check_adapter_dir(args.adapter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description="selfplay: search, verify, finetune on what checks out.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    show = commands.add_parser("demo", help="tasks and verifiers at work on the built-in splits")
    show.add_argument("--datasets", default=str(REPO_DATASETS), help="folder of the task splits")
    show.add_argument("--per-task", type=int, default=4, help="problems shown per task")
    show.set_defaults(run=lambda args: demo.run(Console(), args.datasets, args.per_task))

    tasks = commands.add_parser("tasks", help="build or inspect task files").add_subparsers(dest="action", required=True)
    build = tasks.add_parser("build", help="regenerate the train/dev/test splits")
    build.add_argument("--out", default=str(REPO_DATASETS), help="folder to write <task>/{train,dev,test}.jsonl")
    build.add_argument("--seed", type=int, default=0)
    build.set_defaults(run=_tasks_build)
    listing = tasks.add_parser("show", help="summarise a task file")
    listing.add_argument("file")
    listing.add_argument("--limit", type=int, default=3)
    listing.add_argument("--json", action="store_true", help="print rows as JSON")
    listing.set_defaults(run=_tasks_show)

    verify = commands.add_parser("verify", help="grade completions against a task file")
    verify.add_argument("--tasks", required=True, help="task file (jsonl, jsonl.gz or parquet)")
    verify.add_argument("--completions", required=True, help='jsonl of {"id": ..., "completion": ...}')
    verify.add_argument("--timeout", type=_timeout_seconds, default=5.0,
                        help="seconds per program run (funcs), in (0, 3600]")
    verify.add_argument("--out", help="write one verdict per line here")
    verify.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    verify.set_defaults(run=_verify)

    evaluate.register_cli(commands)
    compare.register_cli(commands)
    improve_cli.register_cli(commands)
    tree_cli.register_cli(commands)
    export.register_cli(commands)
    # These two load torch and transformers: `main` hands their flags over unparsed, so that
    # the other subcommands start without them.
    commands.add_parser("pretrain", add_help=False, help="pretrain the built-in base model (--help for flags)")
    commands.add_parser("reward-model", add_help=False,
                        help="train a reward model on trees and print held-out diagnostics (--help for flags)")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("selfplay")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`lab tasks show ... | head`): stop quietly, as other command-line tools do.
        # Python would report the failed flush of stdout at exit, so stdout is pointed at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command a closed pipe ended


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # PEFT, loading an adapter, asks transformers 5 for a name it deprecated: a warning meant for
    # PEFT's maintainers, not for someone running `lab eval --adapter`.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    if argv[:1] == ["reward-model"]:
        from selfplay.scorer_cli import main as train_reward_model

        return train_reward_model(argv[1:])
    if argv[:1] == ["pretrain"]:
        from selfplay.model.pretrain import main as pretrain

        return pretrain(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "adapter"):  # eval and compare: the commands that take add_model_arguments' flags
            check_model_flags(args)
        return args.run(args) or 0
    except BrokenPipeError:
        raise
    # OSError: a missing or unreadable file, a folder where a file belongs, an address that cannot be served
    except (TaskFileError, TreeFormatError, RunError, ConfigError, UsageError, ModelConfigError, BudgetTooSmall,
            OSError) as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
