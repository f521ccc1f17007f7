"""Sampling throughput: problems per minute with 1 in-process sampler, 1 Ray actor and N Ray actors.

The same countdown training problems, the same search (strategy, budget, seeds) and the same base
model in every mode, so every mode grows the same trees; only the layout differs. Actors are
started and warmed up (model loaded, one problem sampled) before the clock starts, since a run
keeps its actors across rounds.

    python benchmarks/workers.py                          # 96 problems, mcts x8, workers 1 and 2
    python benchmarks/workers.py --problems 48 --workers 1,2,4

Prints one JSON line per mode and a summary line with the ratios to 1 actor.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from search import STRATEGIES  # noqa: E402
from selfplay.tasks import load_problems  # noqa: E402
from selfplay.loop.work import LocalExecutor, SampleJob  # noqa: E402


def timed_run(executor, problems, job) -> dict:
    seen: list[str] = []
    tokens = 0

    def on_result(result) -> None:
        nonlocal tokens
        seen.append(result.problem_id)
        tokens += result.tokens

    start = time.perf_counter()
    executor.run(problems, job, on_result)
    wall = time.perf_counter() - start
    if sorted(seen) != sorted(problem.id for problem in problems):
        raise RuntimeError("a mode did not return every problem exactly once")
    return {"problems": len(problems), "wall_s": round(wall, 2), "problems_per_min": round(len(problems) / wall * 60, 1),
            "tokens": tokens}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "base"))
    parser.add_argument("--tasks", default=str(REPO / "datasets" / "countdown" / "train.jsonl"))
    parser.add_argument("--problems", type=int, default=96)
    parser.add_argument("--strategy", choices=list(STRATEGIES), default="mcts")
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="comma-separated Ray actor counts")
    args = parser.parse_args(argv)

    from selfplay.execution.ray_runner import RayExecutor

    problems = load_problems(args.tasks)
    warmup, measured = problems[-16:], problems[:args.problems]
    job = SampleJob(round=1, model_dir=args.model, adapter_dir=None, strategy=args.strategy, budget=args.budget,
                    seed=0)
    results = {}
    local = LocalExecutor(threads=1)
    local.run(warmup[:2], job, lambda result: None)
    results["in-process"] = timed_run(local, measured, job)
    print(json.dumps({"mode": "in-process", **results["in-process"]}), flush=True)
    for count in [int(value) for value in args.workers.split(",")]:
        with RayExecutor(count, threads_per_worker=1) as executor:
            executor.run(warmup[:2 * count], job, lambda result: None)  # start every actor, load the model
            results[f"ray-{count}"] = timed_run(executor, measured, job)
        print(json.dumps({"mode": f"ray-{count}", **results[f"ray-{count}"]}), flush=True)
    base = results.get("ray-1", results["in-process"])["problems_per_min"]
    ratios = {mode: round(result["problems_per_min"] / base, 2) for mode, result in results.items()}
    print(json.dumps({"summary": "problems/min relative to 1 Ray actor", "ratios": ratios,
                      "strategy": args.strategy, "budget": args.budget, "problems": len(measured)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
