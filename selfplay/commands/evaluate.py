"""`lab eval`: the accuracy of a model on a task file (greedy, pass@N or a search strategy).

    lab eval --model models/base --tasks datasets/countdown/dev.jsonl --strategy sample --budget 16 --json

Also the flags every model-running command takes (`add_model_arguments`: --model, --adapter,
--tasks, --tools). The library call is `selfplay.answering.evaluate.evaluate`.
"""
from __future__ import annotations

import argparse
import json

from search import GREEDY, STRATEGIES, strategy_names
from selfplay.answering.compare import load_scorer
from selfplay.answering.evaluate import evaluate
from selfplay.commands.argtypes import answers, positive
from selfplay.model.settings import ModelConfigError
from selfplay.tasks import load_problems
from selfplay.tools import parse_tool_names
from selfplay.tools.catalog import make_toolbox


def tool_names(text: str) -> list[str]:
    """`--tools`: comma-separated tool names (calculator, python), or `none`."""
    try:
        return parse_tool_names(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --adapter, --tasks and --tools, as every model-running subcommand takes them."""
    parser.add_argument("--model", required=True, help="local Hugging Face model directory")
    parser.add_argument("--adapter", help="PEFT LoRA adapter directory to put on the model")
    parser.add_argument("--tasks", required=True, help="task file (jsonl, jsonl.gz or parquet)")
    parser.add_argument("--tools", type=tool_names,
                        help="tools the model may call mid-answer: calculator, python (comma-separated) or none; "
                             "default: the model's own setting (none unless it declares some)")


def tool_options(args: argparse.Namespace) -> dict:
    """`Policy.from_pretrained` keywords for `--tools`: none when the flag is not given."""
    return {} if args.tools is None else {"tools": make_toolbox(args.tools)}


def register(subparsers) -> argparse.ArgumentParser:
    """Add `eval` to the `lab` command's subparsers; it runs through `args.run(args)`."""
    parser = subparsers.add_parser("eval", help="accuracy of a model on a task file (greedy, pass@N or a search strategy)")
    add_model_arguments(parser)
    parser.add_argument("--strategy", choices=list(STRATEGIES), default=strategy_names(GREEDY)[0])
    parser.add_argument("--budget", type=answers, default=1,
                        help="compute per problem in complete sampled answers (sample: the N of pass@N)")
    parser.add_argument("--limit", type=positive, help="evaluate only the first N problems")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=positive, default=256, help="cap on answer length in tokens")
    parser.add_argument("--batch-size", type=positive, default=8, help="problems per batched generation")
    parser.add_argument("--together", type=positive, default=32,
                        help="problems a search strategy answers together, their model calls batched (1: one at a "
                             "time; the same answers)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--threads", type=positive, help="CPU threads for torch (small models: 1 is fastest)")
    parser.add_argument("--scorer", help="a trained scorer directory (reward, value, or a round's outcome_scorer / "
                        "process_scorer) for the search strategies")
    parser.add_argument("--json", action="store_true", help="print one JSON object, no progress bar")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from selfplay.model.policy import Policy  # torch/transformers load only when a model is used
    import torch
    from transformers.utils import logging

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.json:
        logging.disable_progress_bar()
    problems = load_problems(args.tasks)[:args.limit]
    try:
        policy = Policy.from_pretrained(args.model, args.adapter, device=args.device, **tool_options(args))
    except (FileNotFoundError, ModelConfigError):  # their messages name the file already
        raise
    except (OSError, ValueError) as error:  # transformers' "cannot load this" errors, in one line
        raise FileNotFoundError(f"{args.model}: cannot load the model: {str(error).splitlines()[0]}") from None
    scorer = load_scorer(args.scorer) if args.scorer else None
    result = evaluate(policy, problems, args.strategy, args.budget, args.seed, max_new_tokens=args.max_new_tokens,
                      batch_size=args.batch_size, progress=not args.json, scorer=scorer, together=args.together)
    summary = {**result.to_dict(), "model": args.model, "adapter": args.adapter, "tasks": args.tasks,
               "scorer": args.scorer}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.strategy} (budget {args.budget}): accuracy {result.accuracy:.3f} ({result.solved}/{result.n}), "
              f"{result.tokens} tokens, {result.tool_calls} tool calls, {result.wall_s:.1f} s")
        for task, accuracy in result.by_task.items():
            print(f"  {task:10s} {accuracy:.3f}")
    return 0
