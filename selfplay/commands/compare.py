"""`lab compare` (and `python -m jobs.compare`): fast vs deliberate answering at several budgets, a
table and a plot. The library call is `selfplay.answering.compare.compare`."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console

from search import GREEDY, strategy_names
from selfplay.answering.compare import DEFAULT_BUDGETS, DEFAULT_STRATEGIES, SEARCHES, compare, load_scorer, plot, table
from selfplay.commands.argtypes import answers_list, positive
from selfplay.commands.evaluate import add_model_arguments, tool_options
from selfplay.tasks import load_problems


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("compare", help="fast vs deliberate answering at several budgets, with a plot")
    add_model_arguments(parser)
    parser.add_argument("--strategies", type=strategy_list, default=list(DEFAULT_STRATEGIES),
                        help=f"comma-separated deliberate strategies ({', '.join(SEARCHES)}); greedy is always run")
    parser.add_argument("--budgets", type=answers_list, default=list(DEFAULT_BUDGETS),
                        help="comma-separated budgets (answers' worth of compute), each at least 1")
    parser.add_argument("--scorer", help="a trained reward or value model directory for the searches")
    parser.add_argument("--limit", type=positive, help="only the first N problems")
    parser.add_argument("--no-sample", action="store_true", help="skip the pass@N reference runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--together", type=positive, default=32,
                        help="problems searched together, their model calls batched (1: one at a time; same answers)")
    parser.add_argument("--threads", type=positive, default=1, help="CPU threads for torch (small models: 1 is fastest)")
    parser.add_argument("--out", default=str(Path.home() / "selfplay-runs" / "compare"),
                        help="folder for compare.json, compare.png and the trees")
    parser.set_defaults(run=run)
    return parser


def strategy_list(text: str) -> list[str]:
    """`--strategies`: known deliberate strategies, comma-separated (greedy, the baseline, is dropped)."""
    names = [name.strip() for name in text.split(",") if name.strip() and name.strip() not in strategy_names(GREEDY)]
    unknown = [name for name in names if name not in SEARCHES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown or no strategies in {text!r}; choose from {', '.join(SEARCHES)}")
    return names


def run(args: argparse.Namespace) -> int:
    import torch

    from selfplay.model.policy import Policy

    torch.set_num_threads(args.threads)
    strategies, budgets = args.strategies, args.budgets
    problems = load_problems(args.tasks)[:args.limit]
    policy = Policy.from_pretrained(args.model, args.adapter, **tool_options(args))
    scorer = load_scorer(args.scorer) if args.scorer else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    start = time.perf_counter()
    rows = compare(policy, problems, strategies, budgets, seed=args.seed, out_dir=out, scorer=scorer,
                   include_sample=not args.no_sample, console=console, together=args.together)
    console.print(table(rows))
    summary = {"model": args.model, "adapter": args.adapter, "tasks": args.tasks, "n": len(problems),
               "seed": args.seed, "scorer": args.scorer, "tools": args.tools,
               "wall_s": round(time.perf_counter() - start, 1), "rows": rows}
    (out / "compare.json").write_text(json.dumps(summary, indent=1))
    image = plot(rows, out / "compare.png", f"{Path(args.tasks).name}: {len(problems)} problems")
    console.print(f"wrote {out / 'compare.json'} and {image}")
    return 0
