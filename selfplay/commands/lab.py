"""The `lab` command line: the one entry point of every subcommand. Each subcommand is a module of
`selfplay/commands/` with `register(subparsers)`, which adds its parser and sets `run`, the
function that wires the arguments to library code and prints results (`jobs/` call `main`).

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
import importlib
import os
import sys
import warnings

from search import BudgetTooSmall, TreeFormatError
from selfplay.commands import compare, demo, evaluate, export, improve, tasks, tree, verify
from selfplay.commands.model_flags import UsageError, check_model_flags
from selfplay.model.settings import ModelConfigError
from selfplay.runfiles.runconfig import ConfigError
from selfplay.runfiles.runread import RunError
from selfplay.tasks import TaskFileError

# Every subcommand, in `lab --help` order: a module with `register(subparsers)`.
COMMANDS = (demo, tasks, verify, evaluate, compare, improve, tree, export)
# These two load torch and transformers when imported: `main` imports them only when asked and hands
# their flags over unparsed, so that the other subcommands start without them; each has `main(argv)`.
HANDED_OVER = {"pretrain": ("selfplay.commands.pretrain", "pretrain the built-in base model (--help for flags)"),
               "reward-model": ("selfplay.commands.reward_model",
                                "train a reward model on trees and print held-out diagnostics (--help for flags)")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description="selfplay: search, verify, finetune on what checks out.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    for name, (_, help_text) in HANDED_OVER.items():
        subparsers.add_parser(name, add_help=False, help=help_text)
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
    if argv[:1] and argv[0] in HANDED_OVER:
        return importlib.import_module(HANDED_OVER[argv[0]][0]).main(argv[1:])
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
