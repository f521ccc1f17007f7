"""Sandbox throughput: programs graded a second on the code world's hidden cases, 1 and 2 workers.

    python benchmarks/sandbox_throughput.py [--programs 200] [--workers 1 2] [--out FILE]

Grades the reference programs of the first `--programs` problems of the hard dev split
(`datasets/funcs/hard/dev.jsonl`, 12 to 16 hidden cases each) and as many programs that fail (the
first stage only), each in its own sandboxed process (`verifiers.code.run_cases`), with 1 and 2
grading threads: each thread waits on its sandbox process, so 2 threads keep 2 cores busy, as 2
Ray actors grading their own answers do. Prints one JSON line per worker count
({"workers", "programs", "seconds", "programs_per_s", "passed", "failed"}) and checks every verdict
(a reference passes, a truncated one fails): a fast wrong sandbox is no sandbox.
"""
import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from selfplay.tasks import load_problems
from selfplay.tasks.funcs import pipes as func_pipes  # noqa: E402
from verifiers.code import run_cases  # noqa: E402
from verifiers.sandbox import isolation_mode  # noqa: E402


def jobs(limit: int) -> list[tuple[str, list, bool]]:
    """(program, hidden cases, whether it should pass): each reference program and its first stage alone."""
    found = []
    for problem in load_problems(REPO / "datasets" / "funcs" / "hard" / "dev.jsonl")[:limit]:
        stages = tuple(tuple(stage) for stage in problem.meta["params"]["stages"])
        found.append((problem.meta["solution"], problem.tests["cases"], True))
        found.append((func_pipes.render(stages[:1])[0], problem.tests["cases"], False))
    return found


def measure(work: list[tuple[str, list, bool]], workers: int) -> dict:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda job: run_cases(job[0], "f", job[1], timeout_s=5.0), work))
    seconds = time.perf_counter() - start
    passed = sum(verdict.passed for verdict in verdicts)
    references = [verdict.passed for verdict, job in zip(verdicts, work) if job[2]]
    if not all(references):
        raise SystemExit(f"{references.count(False)} reference programs failed in the sandbox")
    return {"workers": workers, "isolation": isolation_mode(), "programs": len(work), "seconds": round(seconds, 2),
            "programs_per_s": round(len(work) / seconds, 1), "passed": passed, "failed": len(work) - passed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=200, help="hard dev problems (two programs each)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", help="also write the lines as one JSON list here")
    args = parser.parse_args()
    work = jobs(args.programs)
    lines = [measure(work, workers) for workers in args.workers]
    for line in lines:
        print(json.dumps(line))
    if args.out:
        Path(args.out).write_text(json.dumps(lines, indent=2) + "\n")


if __name__ == "__main__":
    main()
