"""`lab tasks build [--out datasets]` (regenerate the committed splits) and `lab tasks show FILE`
(what a task file holds). The library calls are `selfplay.tasks.build_splits` and `load_problems`."""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from selfplay.commands.argtypes import non_negative
from selfplay.tasks import build_splits, load_problems

REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def build(args: argparse.Namespace) -> int:
    written = build_splits(args.out, seed=args.seed)
    for task, paths in written.items():
        for split, path in paths.items():
            print(f"{task:10s} {split:5s} {path}")
    return 0


def show(args: argparse.Namespace) -> int:
    problems = load_problems(args.file)
    counts = Counter(problem.task for problem in problems)
    print(f"{args.file}: {len(problems)} problems ({', '.join(f'{n} {t}' for t, n in sorted(counts.items()))})")
    for problem in problems[: args.limit]:
        print(json.dumps(problem.to_dict()) if args.json else f"\n[{problem.id}] {problem.task}\n{problem.prompt}")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    tasks = subparsers.add_parser("tasks", help="build or inspect task files")
    actions = tasks.add_subparsers(dest="action", required=True)
    build_parser = actions.add_parser("build", help="regenerate the train/dev/test splits")
    build_parser.add_argument("--out", default=str(REPO_DATASETS), help="folder to write <task>/{train,dev,test}.jsonl")
    build_parser.add_argument("--seed", type=int, default=0)
    build_parser.set_defaults(run=build)
    listing = actions.add_parser("show", help="summarise a task file")
    listing.add_argument("file")
    listing.add_argument("--limit", type=non_negative, default=3)
    listing.add_argument("--json", action="store_true", help="print rows as JSON")
    listing.set_defaults(run=show)
    return tasks
