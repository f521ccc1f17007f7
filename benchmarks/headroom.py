"""Where a policy's fast answers fail, and how much of that sampling could fix: the headroom for distillation.

For each dev problem: the greedy answer and its verdict, and N answers at temperature 1.0 with
the share that verifies (the per-problem pass rate). Prints

1. greedy accuracy and why greedy answers fail, by the verifier's reason with the numbers taken
   out (countdown: "line N: N+N is N, not N" is false arithmetic, "the last step gives N, not the
   target N" a true path that misses, "N is not available" a number used twice or made up);
2. problems by (greedy verdict, pass-rate bin): selection trains on verified samples, so the
   loop can sharpen a policy where problems that greedy fails have a sizeable pass rate; where
   their pass rate is ~0 the fix has to come from new skill, not from reweighting what the
   policy already says;
3. the mean pass rate (pass@1 at temperature 1) next to greedy accuracy;
4. countdown: after which step a failed greedy answer could no longer reach the target (its
   numbers left admit no solution under the problem's rule): "after step 1" means the first
   choice was already wrong, which only lookahead avoids; "never" a path that stayed solvable
   and then missed (or broke a rule).

`--samples 0` answers greedily only (parts 1 and 4).

    python benchmarks/headroom.py                                   # models/base on countdown dev
    python benchmarks/headroom.py --adapter ~/selfplay-runs/x/round-3/adapter --samples 32
    python benchmarks/headroom.py --tasks datasets/countdown/hard/dev.jsonl --samples 0

Writes --out (JSON) when asked.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

BINS = ((0.0, "0"), (0.1, "(0, 0.1)"), (0.3, "[0.1, 0.3)"), (0.5, "[0.3, 0.5)"), (1.01, "[0.5, 1]"))


def reason(verdict) -> str:
    """The verdict's reason with every number replaced by N, so that failures group by kind.

    >>> from verifiers.verdict import Verdict
    >>> reason(Verdict(False, 0.0, "wrong", "line 2: 13+6 is 19, not 11"))
    'wrong: line N: N+N is N, not N'
    """
    return "passed" if verdict.passed else f"{verdict.status}: {re.sub(r'[0-9]+', 'N', verdict.detail)}"


def rate_bin(rate: float) -> str:
    """
    >>> [rate_bin(r) for r in (0.0, 0.05, 0.2, 0.4, 0.9)]
    ['0', '(0, 0.1)', '[0.1, 0.3)', '[0.3, 0.5)', '[0.5, 1]']
    """
    if rate == 0:
        return BINS[0][1]
    return next(label for upper, label in BINS[1:] if rate < upper)


def dead_after(problem, text: str) -> str:
    """For a countdown answer: "after step K" when the numbers left after its K-th step (and not
    before) can no longer make the target under the problem's rule, else "never"; "-" for other tasks.

    >>> from selfplay.tasks.countdown import make_problem
    >>> problem = make_problem([6, 5, 13], 95, use_all=True)
    >>> dead_after(problem, "<<13*6=78>> [5 78]\\n<<78+5=83>> [83]"), dead_after(problem, "13+6=19\\n19*6=114")
    ('after step 1', 'never')
    """
    from collections import Counter

    from selfplay.tasks.countdown import solve
    from verifiers.countdown import parse_step

    if problem.task != "countdown":
        return "-"
    target, use_all = problem.meta["target"], bool(problem.meta.get("use_all"))
    left = Counter(problem.meta["numbers"])
    for index, line in enumerate((line for line in text.split("\n") if line.strip()), start=1):
        step = parse_step(line)
        if step is None or left[step.left] < 1 or left[step.right] < 1 + (step.left == step.right):
            return "never"
        left.subtract([step.left, step.right])
        left[step.result] += 1
        numbers = list((+left).elements())
        if target in numbers and (not use_all or len(numbers) == 1):
            continue  # the target is made: stopping here would pass
        if len(numbers) < 2 or any(n < 1 for n in numbers) or solve(numbers, target, use_all=use_all) is None:
            return f"after step {index}"
    return "never"


def measure(policy, problems, samples: int, seed: int, batch: int = 8, progress: bool = True) -> list[dict]:
    from tqdm import tqdm

    from selfplay.answering.evaluate import problem_seed
    from selfplay.answering.grading import grade

    rows = []
    with tqdm(total=len(problems), desc="headroom", unit="problem", disable=not progress) as bar:
        for first in range(0, len(problems), batch):
            chunk = problems[first:first + batch]
            prompts = [policy.render_prompt(problem) for problem in chunk]
            greedy = policy.complete(prompts, 1, temperature=0.0, max_new_tokens=64)
            sampled = policy.complete(prompts, samples, temperature=1.0, max_new_tokens=64,
                                      seed=[problem_seed(seed, problem.id) for problem in chunk]) \
                if samples else [[] for _ in chunk]
            for problem, fast, many in zip(chunk, greedy, sampled):
                verdict = grade(problem, fast[0].text)
                rows.append({"id": problem.id, "greedy": fast[0].text, "greedy_passed": verdict.passed,
                             "greedy_reason": reason(verdict),
                             "dead_after": "-" if verdict.passed else dead_after(problem, fast[0].text),
                             "pass_rate": sum(grade(problem, answer.text).passed for answer in many) / samples
                             if samples else None})
            bar.update(len(chunk))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "base"))
    parser.add_argument("--adapter", help="a PEFT adapter directory (a round's adapter/)")
    parser.add_argument("--tasks", default=str(REPO / "datasets" / "countdown" / "dev.jsonl"))
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the per-problem rows and the summary here (JSON)")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from selfplay.model.policy import Policy
    from selfplay.tasks import load_problems

    problems = load_problems(args.tasks)[:args.limit]
    policy = Policy.from_pretrained(args.model, args.adapter)
    rows = measure(policy, problems, args.samples, args.seed)
    n = len(rows)
    console = Console()
    reasons = Counter(row["greedy_reason"] for row in rows)
    table = Table(title=f"greedy answers on {n} problems of {Path(args.tasks).name}")
    table.add_column("verdict (numbers as N)")
    table.add_column("share", justify="right")
    for text, count in reasons.most_common(10):
        table.add_row(text, f"{count / n:.3f}")
    console.print(table)
    dead = Counter(row["dead_after"] for row in rows if not row["greedy_passed"] and row["dead_after"] != "-")
    if dead:
        lost = Table(title="failed greedy answers: after which step the target was out of reach")
        lost.add_column("out of reach")
        lost.add_column("answers", justify="right")
        for text, count in sorted(dead.items()):
            lost.add_row(text, str(count))
        console.print(lost)
    summary = {"model": args.model, "adapter": args.adapter, "tasks": args.tasks, "n": n, "samples": args.samples,
               "greedy_accuracy": sum(row["greedy_passed"] for row in rows) / n}
    if args.samples:
        cells = Counter((row["greedy_passed"], rate_bin(row["pass_rate"])) for row in rows)
        grid = Table(title=f"problems by greedy verdict and pass rate over {args.samples} samples at temperature 1")
        grid.add_column("greedy")
        for _, label in BINS:
            grid.add_column(label, justify="right")
        for passed in (False, True):
            grid.add_row("passed" if passed else "failed", *(str(cells[(passed, label)]) for _, label in BINS))
        console.print(grid)
        summary.update({"mean_pass_rate": sum(row["pass_rate"] for row in rows) / n,
                        "pass_at_samples": sum(row["pass_rate"] > 0 for row in rows) / n,
                        "greedy_failures_with_pass_rate_0": sum(not row["greedy_passed"] and row["pass_rate"] == 0
                                                                for row in rows)})
    summary.update({"greedy_failures": sum(not row["greedy_passed"] for row in rows),
                    "greedy_out_of_reach": dict(sorted(dead.items())),
                    "greedy_reasons": {text: count / n for text, count in reasons.most_common()}})
    console.print_json(json.dumps({key: value for key, value in summary.items() if key != "greedy_reasons"}))
    if args.out:
        from selfplay.runfiles.rundir import write_json
        write_json(Path(args.out), {"summary": summary, "problems": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
