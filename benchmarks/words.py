"""Does the learned judge earn its place? Per round of a word-problem run, the round's scorers on the
hard test split: their AUROC on that round's policy's answers, and deliberate answering with them
against majority vote at equal budget.

For every round's policy (round 0: the base model), 16 answers per test problem are sampled once
(temperature 1, seeds from (seed, problem id) as `lab eval --strategy sample` draws them) and graded
against the reference afterwards. From the first k of them (k = 4, 8, 16: the budget in answers)
each rule picks one answer, seeing only what is known at answer time:

- `majority@k`: the most common final answer (ties: the one drawn first);
- `weighted@k`: each answer votes with the outcome scorer's P(correct) (`search.weighted_vote`);
- `best_of@k` / `best_of_process@k`: the answer the outcome (process) scorer ranks highest;
- `pass@k`: whether any of the k passes (what a perfect judge would reach).

This is what `majority`, `weighted_majority` and `best_of_n` do under a budget of k answers (the
feature scorers cost no model tokens), computed once from one pool of samples so that every rule
judges the same answers. The judge of round K's policy is the scorer fitted on round K's trees
(`round-K/outcome_scorer`, `process_scorer`): the freshest one, fitted on the answers of the
policy before it to TRAIN problems; the base model is judged by round 1's (fitted on the base
model's own answers). Where a run was made without `train_scorer`, the scorers are fitted here
from the round's trees the same way (`selfplay.loop.scorer_round`). Nothing here sees a test reference
before grading.

    python benchmarks/words.py --run /tmp/words/run1 --out /tmp/words/bench1
    (benchmarks/learning.py --preset arith calls `scorer_rounds` for its report)

Knows the run directory, the policy, grading and the scorers; writes OUT/scorer-round-K.json (cached
per adapter) and returns the per-round rows.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BUDGETS = (4, 8, 16)


def pick_majority(keys: list, k: int) -> int | None:
    from search import majority_vote
    return majority_vote(keys[:k])


def pick_weighted(keys: list, scores: list[float], k: int) -> int | None:
    from search import weighted_vote
    return weighted_vote(keys[:k], scores[:k])


def pick_best(scores: list[float], k: int) -> int | None:
    """The highest-scored of the first k (ties: the earliest); None for no answers.

    >>> pick_best([0.2, 0.9, 0.9, 0.1], 4), pick_best([0.2, 0.9], 1), pick_best([], 4)
    (1, 0, None)
    """
    window = scores[:k]
    return max(range(len(window)), key=lambda index: (window[index], -index)) if window else None


def sampled_answers(policy, problems, samples: int, seed: int, max_new_tokens: int, batch: int = 8) -> list[list]:
    """Per problem, `samples` answers as (text, passed, final-answer key), in draw order."""
    from selfplay.answering.deliberate import answer_key_for
    from selfplay.answering.evaluate import problem_seed
    from selfplay.answering.grading import grade
    rows = []
    for first in range(0, len(problems), batch):
        chunk = problems[first:first + batch]
        drawn = policy.complete([policy.render_prompt(p) for p in chunk], samples, temperature=1.0,
                                max_new_tokens=max_new_tokens, seed=[problem_seed(seed, p.id) for p in chunk])
        for problem, completions in zip(chunk, drawn):
            key = answer_key_for(problem)
            rows.append([(c.text, grade(problem, c.text).passed, key(c.text)) for c in completions])
    return rows


def judged(problems, answers: list[list], outcome, process, prompts: list[str]) -> dict:
    """Accuracy of every rule at every budget, and the scorers' AUROC over all the answers."""
    from verifiers.scorer_metrics import auroc
    totals = {f"{rule}@{k}": 0 for rule in ("pass", "majority", "weighted", "best_of", "best_of_process")
              for k in BUDGETS}
    all_scores, all_process, labels = [], [], []
    for prompt, rows in zip(prompts, answers):
        texts, passed, keys = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        all_scores += outcome.score([prompt] * len(texts), texts)
        all_process += process.score([prompt] * len(texts), texts)
        labels += passed
        for k in BUDGETS:  # a rule at budget k sees the first k answers only (their agreement too)
            scores = outcome.score([prompt] * k, texts[:k])
            process_scores = process.score([prompt] * k, texts[:k])
            picks = {"majority": pick_majority(keys, k), "weighted": pick_weighted(keys, scores, k),
                     "best_of": pick_best(scores, k), "best_of_process": pick_best(process_scores, k)}
            totals[f"pass@{k}"] += any(passed[:k])
            for rule, index in picks.items():
                totals[f"{rule}@{k}"] += index is not None and passed[index]
    n = len(problems)
    return {"n": n, "accuracy": {name: round(count / n, 4) for name, count in totals.items()},
            "auroc_outcome": auroc(all_scores, labels), "auroc_process": auroc(all_process, labels),
            "answers": len(labels), "answers_passed": sum(labels)}


def round_scorers(run_dir: Path, round_index: int, config):
    """(outcome, process) FeatureScorers of round `round_index`, fitted from its trees if not saved."""
    from selfplay.runfiles import rundir
    from selfplay.loop.rounds import Context
    from selfplay.loop.scorer_round import OUTCOME_DIR, PROCESS_DIR, scorer_phase
    from verifiers.process_scorer import load_feature_scorer
    round_dir = rundir.RunDir(run_dir).round(round_index)
    if not (round_dir.path / OUTCOME_DIR / "scorer.json").is_file():
        scorer_phase(Context(config, rundir.RunDir(run_dir), executor=None, progress=False), round_dir)
    return load_feature_scorer(round_dir.path / OUTCOME_DIR), load_feature_scorer(round_dir.path / PROCESS_DIR)


def scorer_rounds(config, results: list[dict], out: Path, test_file: str, policies, console, *,
                  samples: int = 16, limit: int = 0) -> list[dict]:
    """Per round: the judge's AUROC on the round's policy's test answers and every rule's accuracy."""
    from benchmarks.learning import cached, test_problems
    problems = test_problems(test_file, limit)
    from selfplay.runfiles import rundir
    run_dir = Path(config.run_dir())
    rows = []
    for result in results:
        index = result["round"]
        judge = max(1, index)
        if not rundir.RunDir(run_dir).round(judge).trees.is_file():
            break  # round 0's judge is round 1's scorer: not sampled yet
        adapter = result.get("adapter") if index else None

        def compute():
            console.print(f"round {index}: {len(problems)} test problems x{samples} answers, judged by round {judge}")
            policy = policies.wearing(adapter)
            outcome, process = round_scorers(run_dir, judge, config)
            answers = sampled_answers(policy, problems, samples, config.seed, config.eval.max_new_tokens)
            return judged(problems, answers, outcome, process, [policy.render_prompt(p) for p in problems])
        key = {"test": test_file, "n": len(problems), "samples": samples, "adapter": adapter, "judge": judge}
        rows.append({"round": index, "judge_round": judge,
                     **{k: v for k, v in cached(out / f"scorer-round-{index}.json", key, compute).items() if k != "key"}})
    return rows


def word_goals(rows: list[dict], scorer: list[dict]) -> dict:
    """Issue 26's targets for the last round (the learning rows of `benchmarks/learning.py` and this
    module's judge rows): fast +10 points on the large hard test with p < 0.01, the judge's AUROC
    >= 0.80, its best rule at 16 answers >= majority@16 + 5 points and >= fast + 15 points.

    >>> rows = [{"hard_fast": 0.05, "hard_fast_large": 0.04}, {"round": 2, "hard_fast": 0.2, "hard_fast_large": 0.16,
    ...          "sign_test_p_large": 1e-9}]
    >>> judge = [{"auroc_outcome": 0.85, "accuracy": {"majority@16": 0.2, "weighted@16": 0.3, "best_of@16": 0.36}}]
    >>> goals = word_goals(rows, judge)
    >>> goals["fast_gain_10_points_p_below_0.01"], goals["best_rule_at_16"], goals["judge_beats_majority_by_5"]
    (True, 'best_of@16', True)
    """
    base, last, judge = rows[0], rows[-1], scorer[-1]
    fast, p = ("hard_fast_large", "sign_test_p_large") if "hard_fast_large" in last else ("hard_fast", "sign_test_p")
    best = max(("weighted@16", "best_of@16"), key=lambda name: judge["accuracy"][name])
    return {"fast": [base[fast], last[fast]], "fast_judged_on": fast,
            "fast_gain_10_points_p_below_0.01": last[fast] - base[fast] >= 0.10 - 1e-9 and last[p] < 0.01,
            "judge_auroc": judge["auroc_outcome"], "judge_auroc_at_least_0.80": (judge["auroc_outcome"] or 0) >= 0.80,
            "majority@16": judge["accuracy"]["majority@16"], "best_rule_at_16": best,
            "best_rule_accuracy": judge["accuracy"][best],
            "judge_beats_majority_by_5": judge["accuracy"][best] >= judge["accuracy"]["majority@16"] + 0.05 - 1e-9,
            "deliberate_at_16_beats_fast_by_15": judge["accuracy"][best] >= last["hard_fast"] + 0.15 - 1e-9}


def plot(rows: list[dict], path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    last = rows[-1]
    for rule, style in (("pass", ":"), ("majority", "-"), ("weighted", "-"), ("best_of", "--"),
                        ("best_of_process", "--")):
        axes[0].plot(BUDGETS, [last["accuracy"][f"{rule}@{k}"] for k in BUDGETS], style, marker="o", label=rule)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("budget (answers)")
    axes[0].set_ylabel(f"hard test accuracy, round {last['round']}")
    axes[0].legend()
    rounds = [row["round"] for row in rows]
    axes[1].plot(rounds, [row["auroc_outcome"] for row in rows], marker="o", label="outcome scorer AUROC")
    axes[1].plot(rounds, [row["auroc_process"] for row in rows], marker="o", label="process scorer AUROC")
    axes[1].plot(rounds, [row["accuracy"]["majority@16"] for row in rows], marker="s", label="majority@16")
    axes[1].plot(rounds, [row["accuracy"]["weighted@16"] for row in rows], marker="s", label="weighted@16")
    axes[1].set_xlabel("round")
    axes[1].legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished word-problem run directory")
    parser.add_argument("--out", required=True)
    parser.add_argument("--test", default="datasets/arith/hard/test.jsonl")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--rounds", type=int, help="measure rounds 0..N only (default: every finished round)")
    args = parser.parse_args(argv)
    import torch
    import yaml
    from rich.console import Console

    from benchmarks.learning import RoundPolicy
    from selfplay.runfiles import rundir
    from selfplay.runfiles.runconfig import from_dict
    torch.set_num_threads(1)
    run = rundir.RunDir(Path(args.run))
    config = from_dict(yaml.safe_load(run.config.read_text()))
    results = [{"round": 0}] + [rundir.read_json(run.round(k).metrics) for k in range(1, config.rounds + 1)
                                if run.round(k).is_done()]
    if args.rounds is not None:
        results = results[:args.rounds + 1]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = scorer_rounds(config, results, out, args.test, RoundPolicy(config), Console(), samples=args.samples,
                         limit=args.limit)
    rundir.write_json(out / "scorer.json", {"run": args.run, "test": args.test, "rounds": rows,
                                            "command": "python benchmarks/words.py " + " ".join(argv or sys.argv[1:])})
    plot(rows, out / "scorer.png", f"{Path(args.test).parent.name} test: the learned judge per round")
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
