"""`lab compare`: fast against deliberate answering on one compute axis.

Runs greedy once and each deliberate strategy at each budget on a task file, prints a table,
writes `compare.json` (one row per strategy and budget: accuracy, mean tokens per problem,
tool calls, wall time) and `compare.png` (accuracy against mean tokens per problem, log
scale), and keeps every search tree in `trees/<strategy>-<budget>.jsonl.gz` for inspection.

    lab compare --model models/base --tasks datasets/countdown/dev.jsonl --out /tmp/compare
    lab compare ... --tools calculator,python       the model may call tools mid-answer

Knows evaluation, the tree files and plotting; nothing about training or Ray.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from search import GREEDY, SAMPLING, SEARCH, STRATEGIES, strategy_names
from selfplay.answering.evaluate import evaluate
from selfplay.runfiles.treeio import write_trees

SEARCHES = strategy_names(SEARCH)  # the deliberate strategies; greedy and pass@N are the references
DEFAULT_STRATEGIES = SEARCHES
DEFAULT_BUDGETS = (4, 8, 16, 32)


def compare(policy, problems, strategies=DEFAULT_STRATEGIES, budgets=DEFAULT_BUDGETS, *, seed: int = 0,
            out_dir: str | os.PathLike | None = None, scorer=None, include_sample: bool = True,
            progress: bool = True, console: Console | None = None, together: int = 32) -> list[dict]:
    """Evaluate greedy, then every (strategy, budget), then pass@N at each budget; one row per run."""
    runs = [(name, 1) for name in strategy_names(GREEDY)]
    runs += [(strategy, budget) for strategy in strategies for budget in budgets]
    if include_sample:
        runs += [(name, budget) for name in strategy_names(SAMPLING) for budget in budgets]
    rows = []
    for strategy, budget in runs:
        trees: list[dict] = []
        on_tree = (lambda problem, outcome: trees.append(labelled_tree(problem, outcome))) if out_dir else None
        result = evaluate(policy, problems, strategy, budget, seed, progress=progress, scorer=scorer, together=together,
                          on_tree=on_tree if STRATEGIES[strategy].kind == SEARCH else None)
        row = {"strategy": strategy, "budget": budget, "accuracy": result.accuracy, "n": result.n,
               "tokens": result.tokens, "tokens_per_problem": result.tokens / max(result.n, 1),
               "tool_calls": result.tool_calls, "wall_s": result.wall_s, "by_task": result.by_task}
        rows.append(row)
        if console is not None:
            console.print(f"{strategy:>9s} x{budget:<3d} accuracy {row['accuracy']:.3f}  "
                          f"tokens/problem {row['tokens_per_problem']:.0f}  {row['wall_s']:.0f} s")
        if out_dir and trees:
            write_trees(Path(out_dir) / "trees" / f"{strategy}-{budget}.jsonl.gz", trees)
    return rows


def labelled_tree(problem, outcome) -> dict:
    """A search's tree as written to disk: labelled with its problem, so trees files stand alone
    (the reward-model trainer, the viewer and the exporter look prompts up by problem id)."""
    tree = outcome.result.tree
    tree.problem_id, tree.task = problem.id, problem.task
    return tree.to_dict()


def table(rows: list[dict]) -> Table:
    view = Table(title="fast (greedy) and deliberate answering; sample = pass@N, graded with the ground truth")
    for column in ("strategy", "budget", "accuracy", "tokens / problem", "wall s"):
        view.add_column(column, justify="right")
    for row in rows:
        view.add_row(row["strategy"], str(row["budget"]), f"{row['accuracy']:.3f}",
                     f"{row['tokens_per_problem']:.0f}", f"{row['wall_s']:.1f}")
    return view


def plot(rows: list[dict], path: str | os.PathLike, title: str) -> Path:
    """Accuracy against mean tokens per problem: one line per strategy, greedy as a dashed level.
    A label that names no strategy (the viewer's "round K") is drawn as a plain line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for strategy in dict.fromkeys(row["strategy"] for row in rows):
        points = sorted((row["tokens_per_problem"], row["accuracy"], row["budget"]) for row in rows
                        if row["strategy"] == strategy)
        kind = STRATEGIES[strategy].kind if strategy in STRATEGIES else None
        if kind == GREEDY:
            axes.axhline(points[0][1], linestyle="--", color="grey", label=f"{strategy} ({points[0][1]:.2f})")
            continue
        style = ":" if kind == SAMPLING else "-"
        label = "pass@N (oracle)" if kind == SAMPLING else strategy
        axes.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", label=label)
        for tokens, accuracy, budget in points:
            axes.annotate(str(budget), (tokens, accuracy), textcoords="offset points", xytext=(3, 3), fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel("model tokens per problem (policy + scorer)")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def load_scorer(directory: str):
    """A reward, value or feature (outcome / process) scorer directory, as the `Scorer` search calls. A relative base model (a
    round's scorer records the preset's `models/base`) is read against the repository root, as
    presets' paths are."""
    from selfplay.runfiles.runconfig import resolve_path
    info = json.loads((Path(directory) / "scorer.json").read_text())
    if info.get("kind") == "features":  # a round's outcome or process scorer: no base model
        from verifiers.process_scorer import load_feature_scorer
        return load_feature_scorer(directory).as_scorer()
    base = resolve_path(info["base_model"]) if not Path(info["base_model"]).is_absolute() else None
    if base is not None and not base.exists():
        base = None  # not a path under the repository: a model id, as recorded
    if info.get("kind") == "value":
        from verifiers.value_model import ValueModel
        return ValueModel.load(directory, base_model=base).as_scorer()
    from verifiers.reward_model import RewardModel
    return RewardModel.load(directory, base_model=base).as_scorer()
