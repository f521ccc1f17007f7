"""Pretrain the built-in base model from scratch on the imitation corpus, with HF `Trainer`.

`lab pretrain` and `python -m jobs.pretrain`: train, then write the model card. The library calls
are `selfplay.builtin_model.pretrain.pretrain` and `selfplay.builtin_model.card.finish`.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys

from selfplay.builtin_model import card
from selfplay.builtin_model.corpus import REPO
from selfplay.builtin_model.pretrain import pretrain
from selfplay.commands.argtypes import answers, positive
from selfplay.builtin_model.pretrain_config import DEFAULT_CONFIG, PretrainConfig, load_recipe
from selfplay.runfiles.runconfig import TRACKERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(REPO / DEFAULT_CONFIG), help="YAML preset (PretrainConfig fields)")
    parser.add_argument("--out", help="model directory to write (default: the config's, models/base)")
    parser.add_argument("--seed", type=int, help="seed for corpus, weights, data order and dev samples")
    parser.add_argument("--minutes", type=float, help="wall-clock cap on training")
    parser.add_argument("--max-steps", type=positive, help="optimizer steps (the schedule's length)")
    parser.add_argument("--threads", type=positive, help="torch CPU threads")
    parser.add_argument("--batch-size", type=positive, help="traces per optimizer step")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate")
    parser.add_argument("--mistake-share", type=float, help="share of traces with a deliberate mistake")
    parser.add_argument("--traces", type=positive, help="corpus size in traces")
    parser.add_argument("--eval-samples", type=answers, help="samples per dev problem for pass@k")
    parser.add_argument("--no-eval", action="store_true", help="skip the dev evaluation")
    parser.add_argument("--report-to", choices=list(TRACKERS),
                        help="tracker for the training loss (tensorboard: event files in OUT-tensorboard)")


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The YAML preset with the flags given on the command line laid over it."""
    config = load_recipe(args.config)
    corpus = {"mistake_share": args.mistake_share, "traces": args.traces}
    corpus = dataclasses.replace(config.corpus, **{k: v for k, v in corpus.items() if v is not None})
    flags = {"out": args.out, "seed": args.seed, "minutes": args.minutes, "max_steps": args.max_steps,
             "threads": args.threads, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
             "eval_samples": args.eval_samples, "evaluate": False if args.no_eval else None,
             "report_to": getattr(args, "report_to", None)}
    return dataclasses.replace(config, corpus=corpus, **{k: v for k, v in flags.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = pretrain(config)
    argv = getattr(args, "argv", None)
    command = shlex.join(["python", "-m", "jobs.pretrain", *argv] if argv is not None else ["lab", *sys.argv[1:]])
    card.finish(result, config, command)
    print(f"saved {result.out} ({result.parameters:,} parameters, {result.steps} steps, "
          f"{result.tokens:,} tokens, {result.wall_s:.0f} s)")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `pretrain` subcommand to a `lab` subparsers object."""
    parser = subparsers.add_parser("pretrain", help="pretrain the built-in base model from scratch (CPU)")
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m jobs.pretrain [flags]`."""
    parser = argparse.ArgumentParser(prog="python -m jobs.pretrain", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return run(args)
