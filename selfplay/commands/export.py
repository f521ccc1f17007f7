"""`lab export RUN --kind sft|preference|steps --out FILE`: a run's synthetic data as jsonl / parquet.
The library call is `selfplay.runfiles.export.export_run`."""
from __future__ import annotations

import argparse

from selfplay.commands.argtypes import non_negative
from selfplay.runfiles.export import FAILED, KINDS, STATUSES, ExportError, export_run


def verdict_statuses(values: list[str]) -> list[str]:
    expanded = []
    for value in values:
        for name in value.split(","):
            expanded.extend(FAILED if name == "failed" else STATUSES if name == "any" else [name])
    unknown = sorted(set(expanded) - set(STATUSES))
    if unknown:
        raise ExportError(f"unknown verdict status {unknown[0]!r}; choose from {', '.join(STATUSES)}, failed, any")
    return list(dict.fromkeys(expanded))


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("export", help="a run's synthetic data as jsonl / parquet: sft, preference, steps")
    parser.add_argument("run_dir", metavar="RUN", help="the run directory")
    parser.add_argument("--kind", required=True, choices=KINDS,
                        help="sft: prompt/completion; preference: prompt/chosen/rejected; steps: prefix values")
    parser.add_argument("--out", required=True, help="FILE.jsonl or FILE.parquet")
    parser.add_argument("--round", dest="rounds", type=non_negative, action="append", default=[],
                        help="only this round (repeatable; default: every round with trees)")
    parser.add_argument("--task", dest="tasks", action="append", default=[], help="only this task (repeatable)")
    parser.add_argument("--verdict", dest="verdicts", action="append", default=[],
                        help=f"use answers with this verifier status ({', '.join(STATUSES)}, failed, any; "
                             "repeatable or comma-separated; default: passed for sft, any for the others)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    result = export_run(args.run_dir, args.kind, args.out, rounds=args.rounds, tasks=args.tasks,
                        verdicts=verdict_statuses(args.verdicts))
    rounds = ", ".join(f"round {index}: {count}" for index, count in result.by_round.items())
    print(f"wrote {result.rows} {result.kind} rows to {result.path} ({rounds})")
    return 0
