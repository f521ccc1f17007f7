"""`lab demo`: the lab's world without a model: tasks, their expert solutions, and verifiers.

For a few problems of each task spec's dev files (the built-in ones: each task's dev split, and
the hard countdown split, the standard game: every number exactly once), it grades the expert
solution (it must pass) and a corrupted one (its spec's `near_miss`; it must fail), then runs a
handful of hostile programs through the code sandbox (each must be rejected). Everything
printed is measured, nothing is canned.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from selfplay.answering.grading import grade, reference_completion
from selfplay.tasks import Problem, load_problems, task_spec
from selfplay.tasks.spec import dev_files
from selfplay.commands.argtypes import positive
from selfplay.commands.tasks import REPO_DATASETS
from verifiers.code import run_cases

HOSTILE = {
    "exits early with status 0": "import sys\nsys.exit(0)\n",
    "returns an object equal to anything": (
        "class Yes:\n    def __eq__(self, other): return True\ndef f(*args):\n    return Yes()\n"),
    "prints a fake success": "def f(*args):\n    print('all tests passed')\n    return None\n",
    "loops forever": "def f(*args):\n    while True:\n        pass\n",
    "tries the network": "import socket\ndef f(*args):\n    return socket.create_connection(('127.0.0.1', 80)).fileno()\n",
}


def corrupt(problem: Problem, solution: str) -> str:
    """A near miss of the expert solution: the spec's `near_miss` (funcs: a guessing program), else
    the last number changed."""
    near_miss = task_spec(problem.task).near_miss
    if near_miss is not None:
        return near_miss(problem, solution)
    match = list(re.finditer(r"-?\d+", solution))[-1]
    return solution[: match.start()] + str(int(match.group()) + 1) + solution[match.end():]


def run(console: Console, datasets: str, per_task: int) -> int:
    table = Table(title="expert solutions and near misses, graded")
    table.add_column("task")
    table.add_column("problem", no_wrap=True, max_width=44, overflow="ellipsis")
    for column in ("expert", "near miss", "ms"):
        table.add_column(column)
    failures = 0
    for file in dev_files().values():  # shown as its folder's name: "countdown", "hard", ...
        for problem in load_problems(Path(datasets) / file)[:per_task]:
            start = time.perf_counter()
            solution = reference_completion(problem)
            good, bad = grade(problem, solution), grade(problem, corrupt(problem, solution))
            failures += (not good.passed) + bad.passed
            table.add_row(Path(file).parent.name, problem.prompt.splitlines()[0][:60], _mark(good.passed, good.status),
                          _mark(not bad.passed, bad.status), f"{1000 * (time.perf_counter() - start):.0f}")
    console.print(table)
    failures += _hostile(console, datasets)
    console.print("[green]all verdicts as expected[/green]" if not failures else f"[red]{failures} unexpected verdicts[/red]")
    return 1 if failures else 0


def _hostile(console: Console, datasets: str) -> int:
    problem = next(p for p in load_problems(Path(datasets) / "funcs" / "dev.jsonl") if p.tests.get("cases"))
    table = Table(title=f"hostile programs against {problem.id}")
    for column in ("program", "verdict", "detail", "s"):
        table.add_column(column)
    failures = 0
    for name, program in HOSTILE.items():
        start = time.perf_counter()
        verdict = run_cases(program.replace("def f(", f"def {problem.tests['entry_point']}("),
                            problem.tests["entry_point"], problem.tests["cases"], timeout_s=2.0)
        failures += verdict.passed
        table.add_row(name, _mark(not verdict.passed, verdict.status), verdict.detail[:60],
                      f"{time.perf_counter() - start:.2f}")
    console.print(table)
    return failures


def _mark(as_expected: bool, status: str) -> str:
    return f"[green]{status}[/green]" if as_expected else f"[red]{status} (unexpected)[/red]"


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("demo", help="tasks and verifiers at work on the built-in splits")
    parser.add_argument("--datasets", default=str(REPO_DATASETS), help="folder of the task splits")
    parser.add_argument("--per-task", type=positive, default=4, help="problems shown per task")
    parser.set_defaults(run=lambda args: run(Console(), args.datasets, args.per_task))
    return parser
