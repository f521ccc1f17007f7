"""Problems a minute with searches batched across problems (`search.batching`) against one at a time.

Two workloads, each measured both ways in one process on one policy, in turn, so the ratio is taken
on the same machine state:

- deliberate: the default preset's answering search (mcts x8 on models/search, whose model declares
  rollouts) on the hard countdown dev split;
- sampling: the default preset's round sampling (sample x8 on models/search) on countdown std3 train
  problems.

Both ways must grow the same trees (texts, structure, tokens per problem); the script checks it and
fails if not. Prints one JSON line per measurement and a summary with the ratios; `--out` writes them.

    python benchmarks/engines.py                           # 48 problems per workload, together 16
    python benchmarks/engines.py --problems 96 --together 8,16,32 --out docs/engines.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from selfplay.loop.work import SampleJob, sample_problems  # noqa: E402
from selfplay.tasks import load_problems  # noqa: E402

WORKLOADS = {
    "deliberate": ("datasets/countdown/hard/dev.jsonl", "mcts", 8),
    "sampling": ("datasets/countdown/std3/train.jsonl", "sample", 8),
}


def measure(policy, problems, strategy: str, budget: int, together: int) -> tuple[dict, list]:
    job = SampleJob(round=1, model_dir="", adapter_dir=None, strategy=strategy, budget=budget, seed=0,
                    together=together)
    before = policy.usage.copy()
    start = time.perf_counter()
    results = sample_problems(policy, problems, job, lambda trees: None)
    wall = time.perf_counter() - start
    used = policy.usage - before
    shapes = [(r.tokens, r.trees[0]["parents"], r.trees[0]["step_texts"]) for r in results]
    return {"strategy": f"{strategy} x{budget}", "together": together, "problems": len(problems),
            "wall_s": round(wall, 2), "problems_per_min": round(len(problems) / wall * 60, 1),
            "tokens": used.total_tokens, "forward_calls": used.forward_calls,
            "tokens_per_forward": round(used.total_tokens / max(used.forward_calls, 1), 2)}, shapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "search"))
    parser.add_argument("--problems", type=int, default=48, help="problems per workload")
    parser.add_argument("--together", default="16", help="comma-separated widths to compare with 1")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"some of {list(WORKLOADS)}")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the measurements and ratios here (JSON)")
    args = parser.parse_args(argv)

    import torch

    from selfplay.commands.improve import quiet_libraries
    from selfplay.model.policy import Policy

    quiet_libraries()
    torch.set_num_threads(args.threads)
    policy = Policy.from_pretrained(args.model)
    widths = [1] + [int(w) for w in args.together.split(",") if int(w) != 1]
    rows, summary = [], {}
    for name in args.workloads.split(","):
        tasks, strategy, budget = WORKLOADS[name]
        problems = load_problems(REPO / tasks)[:args.problems]
        measure(policy, problems[:2], strategy, budget, 2)  # warm up: first calls allocate
        reference = None
        for width in widths:
            row, shapes = measure(policy, problems, strategy, budget, width)
            row["workload"] = name
            if reference is None:
                reference = (row, shapes)
            elif shapes != reference[1]:
                raise SystemExit(f"{name}: together={width} grew other trees than one at a time")
            row["speedup"] = round(row["problems_per_min"] / reference[0]["problems_per_min"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
        summary[name] = {f"together_{row['together']}": row["speedup"] for row in rows if row["workload"] == name}
    result = {"model": args.model, "threads": args.threads, "command": "python benchmarks/engines.py "
              + " ".join(argv if argv is not None else sys.argv[1:]), "rows": rows, "speedup": summary}
    print(json.dumps({"speedup": summary}))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
