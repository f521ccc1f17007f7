"""`lab verify --tasks FILE --completions F`: grade completions (`{"id", "completion"}` jsonl) with
each task's grader of record, `selfplay.answering.grading.grade`."""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from selfplay.answering.grading import grade
from selfplay.tasks import TaskFileError, load_problems
from selfplay.tasks.loader import read_jsonl
from verifiers.sandbox import SandboxLimits


def read_completions(path: str) -> dict[str, str]:
    completions = {}
    for number, row in read_jsonl(path):
        for field in ("id", "completion"):
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise TaskFileError(path, number, field, "expected a string")
        if row["id"] in completions:
            raise TaskFileError(path, number, "id", f"{row['id']!r} appears twice")
        completions[row["id"]] = row["completion"]
    return completions


def run(args: argparse.Namespace) -> int:
    problems = {problem.id: problem for problem in load_problems(args.tasks)}
    completions = read_completions(args.completions)
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


def timeout_seconds(text: str) -> float:
    """`--timeout`: seconds per program run, within what the sandbox accepts."""
    try:
        return SandboxLimits(timeout_s=float(text)).timeout_s
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace("timeout_s", "seconds")) from None


def register(subparsers) -> argparse.ArgumentParser:
    verify = subparsers.add_parser("verify", help="grade completions against a task file")
    verify.add_argument("--tasks", required=True, help="task file (jsonl, jsonl.gz or parquet)")
    verify.add_argument("--completions", required=True, help='jsonl of {"id": ..., "completion": ...}')
    verify.add_argument("--timeout", type=timeout_seconds, default=5.0,
                        help="seconds per program run (funcs), in (0, 3600]")
    verify.add_argument("--out", help="write one verdict per line here")
    verify.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    verify.set_defaults(run=run)
    return verify
