"""The learning benchmark: does the closed loop distil search into the policy?

Runs (or continues) an improvement run of a preset, measures the base model's deliberate dev
accuracy at a reference budget (default: the preset's deliberate strategy at 32 answers' worth)
on the same dev problems, and reports per round: fast (greedy) and deliberate dev accuracy, wall
time and tokens, against two goals:

1. fast accuracy rises every round;
2. after round 3, fast accuracy reaches the base model's deliberate accuracy at the reference
   budget (the search has been distilled into the policy), within 30 minutes in all.

    python benchmarks/learning.py                               # default preset: an actor per core
    python benchmarks/learning.py --preset smoke --out /tmp/learn-smoke --workers 0

A third part says whether a round's change in fast accuracy is more than chance: every round's
greedy dev answers are set beside the base model's, problem by problem (answers unchanged,
problems gained, problems lost), with a two-sided sign test on gained vs lost and the 95%
interval of one accuracy on this many problems.

Rerunning with the same --out continues the run (finished rounds are read back, not redone) and
reuses the cached reference. Writes OUT/learning.json and OUT/learning.png (accuracy per round,
the reference as a line) and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from selfplay import rundir  # noqa: E402
from selfplay.improve_cli import run_rounds, workers_count  # noqa: E402
from selfplay.runconfig import load_config  # noqa: E402

GOAL_ROUNDS = 3
GOAL_MINUTES = 30


def reference(config, out: Path, strategy: str, budget: int, console: Console) -> dict:
    """The base model's deliberate dev accuracy at `budget` (cached in OUT/reference.json)."""
    path = out / "reference.json"
    if path.is_file():
        cached = rundir.read_json(path)
        if (cached.get("strategy"), cached.get("budget"), cached.get("n")) == (strategy, budget, config.eval.limit):
            return cached
    from selfplay.evaluate import evaluate
    from selfplay.model.policy import Policy
    from selfplay.rounds import dev_problems

    problems = dev_problems(config)
    policy = Policy.from_pretrained(str(config.path(config.model)))
    console.print(f"reference: base model, {strategy} x{budget} on {len(problems)} dev problems")
    result = evaluate(policy, problems, strategy, budget, config.seed, progress=True)
    data = {"strategy": strategy, "budget": budget, "n": config.eval.limit, "accuracy": result.accuracy,
            "tokens": result.tokens, "wall_s": round(result.wall_s, 1)}
    rundir.write_json(path, data)
    return data


def rows_of(results: list[dict]) -> list[dict]:
    rows, elapsed = [], 0.0
    for result in results:
        elapsed += result.get("wall_s", 0.0)
        evaluation, compute = result.get("eval") or {}, result.get("compute") or {}
        rows.append({"round": result["round"],
                     "fast": evaluation.get("fast", {}).get("accuracy"),
                     "deliberate": evaluation.get("deliberate", {}).get("accuracy"),
                     "wall_s": round(result.get("wall_s", 0.0), 1), "elapsed_min": round(elapsed / 60, 2),
                     "sample_tokens": compute.get("sample_tokens", 0), "train_tokens": compute.get("train_tokens", 0),
                     "eval_tokens": compute.get("eval_tokens", sum(v.get("tokens", 0) for v in evaluation.values())),
                     "solved": (result.get("selection") or {}).get("problems_solved"),
                     "sft_rows": (result.get("selection") or {}).get("sft_rows")})
    return rows


def sign_test(gained: int, lost: int) -> float:
    """Two-sided exact binomial p-value of `gained` vs `lost` under "each flip is a coin toss".

    >>> sign_test(0, 0), round(sign_test(8, 15), 3), round(sign_test(0, 10), 4)
    (1.0, 0.21, 0.002)
    """
    from math import comb
    flips = gained + lost
    if flips == 0:
        return 1.0
    tail = sum(comb(flips, k) for k in range(min(gained, lost) + 1)) / 2 ** flips
    return min(1.0, 2 * tail)


def greedy_answers(policy, problems, max_new_tokens: int, batch: int = 16) -> list[tuple[str, bool]]:
    """(greedy answer text, verified) per problem."""
    from selfplay.grading import grade

    texts = []
    for first in range(0, len(problems), batch):
        chunk = problems[first:first + batch]
        completions = policy.complete([policy.render_prompt(problem) for problem in chunk], 1, temperature=0.0,
                                      max_new_tokens=max_new_tokens)
        texts.extend(options[0].text for options in completions)
    return [(text, grade(problem, text).passed) for problem, text in zip(problems, texts)]


def answer_changes(base: list[tuple[str, bool]], now: list[tuple[str, bool]]) -> dict:
    """Answers unchanged, problems gained and lost from `base` to `now`, and the sign test of gained vs lost.

    >>> answer_changes([("a", True), ("b", False), ("c", False)], [("a", True), ("d", True), ("e", False)])
    {'unchanged_answers': 1, 'gained': 1, 'lost': 0, 'sign_test_p': 1.0}
    """
    gained = sum(passed and not was for (_, was), (_, passed) in zip(base, now))
    lost = sum(was and not passed for (_, was), (_, passed) in zip(base, now))
    return {"unchanged_answers": sum(old == new for (old, _), (new, _) in zip(base, now)),
            "gained": gained, "lost": lost, "sign_test_p": round(sign_test(gained, lost), 4)}


def churn(config, results: list[dict], console: Console) -> list[dict]:
    """Per round: greedy dev answers against the base model's, problem by problem."""
    from selfplay.model.policy import Policy
    from selfplay.rounds import dev_problems

    problems = dev_problems(config)
    policy = Policy.from_pretrained(str(config.path(config.model)))
    base, rows = greedy_answers(policy, problems, config.eval.max_new_tokens), []
    for result in results:
        if result["round"] == 0 or not result.get("adapter"):
            continue
        policy.load_adapter(result["adapter"])
        now = greedy_answers(policy, problems, config.eval.max_new_tokens)
        rows.append({"round": result["round"], **answer_changes(base, now)})
    policy.unload_adapter()
    n = len(problems)
    accuracy = sum(passed for _, passed in base) / n
    interval = 1.96 * (accuracy * (1 - accuracy) / n) ** 0.5
    out = Table(title=f"greedy dev answers against the base model's ({n} problems; one accuracy's 95% interval "
                      f"is about +/- {interval:.3f})")
    for column in ("round", "answers unchanged", "gained", "lost", "sign test p"):
        out.add_column(column, justify="right")
    for row in rows:
        out.add_row(str(row["round"]), f"{row['unchanged_answers']}/{n}", str(row["gained"]), str(row["lost"]),
                    f"{row['sign_test_p']:.3f}")
    console.print(out)
    return rows


def verdicts(rows: list[dict], ref: dict) -> dict:
    fast = [row["fast"] for row in rows]
    rises = all(later > earlier for earlier, later in zip(fast, fast[1:]))
    at_goal = next((row for row in rows if row["round"] == GOAL_ROUNDS), None)
    return {"fast_rises_every_round": rises,
            "fast_after_3_rounds": None if at_goal is None else at_goal["fast"],
            "reference_accuracy": ref["accuracy"],
            "reaches_reference": None if at_goal is None else at_goal["fast"] >= ref["accuracy"],
            "minutes_to_round_3": None if at_goal is None else at_goal["elapsed_min"],
            "within_30_minutes": None if at_goal is None else at_goal["elapsed_min"] <= GOAL_MINUTES}


def plot(rows: list[dict], ref: dict, path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [row["round"] for row in rows]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(rounds, [row["fast"] for row in rows], "o-", label="fast (greedy)")
    axis.plot(rounds, [row["deliberate"] for row in rows], "s-", label="deliberate (round's eval search)")
    axis.axhline(ref["accuracy"], color="gray", linestyle="--",
                 label=f"base model, {ref['strategy']} x{ref['budget']}")
    axis.set_xlabel("round (0 = base model)")
    axis.set_ylabel("dev accuracy")
    axis.set_xticks(rounds)
    axis.set_ylim(0, 1)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def table(rows: list[dict], ref: dict) -> Table:
    out = Table(title=f"dev accuracy per round (reference: base model {ref['strategy']} x{ref['budget']} = "
                      f"{ref['accuracy']:.3f})")
    for column in ("round", "fast", "deliberate", "solved", "sft rows", "round wall s", "elapsed min",
                   "sample tokens", "train tokens", "eval tokens"):
        out.add_column(column, justify="right")
    for row in rows:
        out.add_row(str(row["round"]), f"{row['fast']:.3f}", f"{row['deliberate']:.3f}",
                    "-" if row["solved"] is None else str(row["solved"]),
                    "-" if row["sft_rows"] is None else str(row["sft_rows"]), f"{row['wall_s']:.0f}",
                    f"{row['elapsed_min']:.1f}", str(row["sample_tokens"]), str(row["train_tokens"]),
                    str(row["eval_tokens"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out", default=str(Path.home() / "selfplay-runs" / "learning-benchmark"))
    parser.add_argument("--workers", type=workers_count, metavar="N|auto",
                        help="Ray actors for sampling (default: the preset's; 0: in this process)")
    parser.add_argument("--rounds", type=int, help="rounds (default: the preset's)")
    parser.add_argument("--reference-budget", type=int, default=32)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from selfplay.improve_cli import _quiet_libraries

    _quiet_libraries()
    out = Path(args.out).resolve()
    overrides = [f"out={json.dumps(str(out))}", *args.overrides]
    if args.workers is not None:
        overrides.append(f"workers={args.workers}")
    if args.rounds is not None:
        overrides.append(f"rounds={args.rounds}")
    config = load_config(args.preset, overrides)
    console = Console()
    start = time.perf_counter()
    results = run_rounds(config, console)
    run_wall = time.perf_counter() - start
    ref = reference(config, out, config.eval.strategy, args.reference_budget, console)
    rows = rows_of(results)
    changes = churn(config, results, console)
    summary = {"preset": args.preset, "workers": config.workers, "out": str(out), "dev_problems": config.eval.limit,
               "sampling": {"strategy": config.sampling.strategy, "budget": config.sampling.budget,
                            "problems_per_round": config.problems_per_round},
               "eval": {"strategy": config.eval.strategy, "budget": config.eval.budget},
               "reference": ref, "rounds": rows, "greedy_changes": changes, "goals": verdicts(rows, ref),
               "this_invocation_wall_s": round(run_wall, 1)}
    rundir.write_json(out / "learning.json", summary)
    image = plot(rows, ref, out / "learning.png", f"{args.preset}: {config.eval.limit} countdown dev problems")
    console.print(table(rows, ref))
    console.print_json(json.dumps(summary["goals"]))
    console.print(f"wrote {out / 'learning.json'} and {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
