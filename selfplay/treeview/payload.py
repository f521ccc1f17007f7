"""The JSON the tree views share: a run's rounds, a round's problems, one tree with its annotations.

    run = open_run("~/selfplay-runs/cd1")
    run_payload(run)                          # {"path", "rounds": [{"round", "problems", "solved", "new", ...}]}
    problems_payload(run, 2, "unsolved")      # {"round": 2, "problems": [tree summaries]}
    tree_payload(run, 2, "countdown-4c48")    # {"tree": the stored dict, "nodes": annotations, "prompt", ...}

Every function reads the run again (`RunView` re-reads a file only when it changed), so the
server can call them on each request. Knows `selfplay.runfiles.runread`; nothing about HTTP or HTML.
"""
from __future__ import annotations

from selfplay.runfiles.runread import RunError, RunView, node_annotations

FILTERS = ("all", "solved", "unsolved", "new")


def _accuracy(evaluation: dict | None, mode: str) -> float | None:
    return ((evaluation or {}).get(mode) or {}).get("accuracy")


def run_payload(run: RunView) -> dict:
    """The run's rounds: counts of problems, solved and newly solved, dev accuracy fast / deliberate."""
    rounds = []
    base = run.evaluation(0)
    if base:
        rounds.append({"round": 0, "done": True, "problems": 0, "solved": 0, "new": 0,
                       "fast": _accuracy(base, "fast"), "deliberate": _accuracy(base, "deliberate")})
    for index in run.round_indices():
        summaries = run.summaries(index)
        evaluation = run.evaluation(index)
        rounds.append({"round": index, "done": run.is_done(index), "problems": len(summaries),
                       "solved": sum(row["solved"] for row in summaries), "new": sum(row["new"] for row in summaries),
                       "fast": _accuracy(evaluation, "fast"), "deliberate": _accuracy(evaluation, "deliberate")})
    return {"path": str(run.path), "rounds": rounds, "filters": list(FILTERS)}


def filter_summaries(rows: list[dict], which: str = "all", task: str | None = None) -> list[dict]:
    """Rows whose problem is `which` (all, solved, unsolved, new) and of `task` when given."""
    if which not in FILTERS:
        raise RunError(f"unknown filter {which!r}; choose from {', '.join(FILTERS)}")
    keep = {"all": lambda row: True, "solved": lambda row: row["solved"], "unsolved": lambda row: not row["solved"],
            "new": lambda row: row["new"]}[which]
    return [row for row in rows if keep(row) and (task is None or row["task"] == task)]


def problems_payload(run: RunView, index: int, which: str = "all", task: str | None = None) -> dict:
    return {"round": index, "filter": which, "problems": filter_summaries(run.summaries(index), which, task)}


def tree_payload(run: RunView, index: int, problem: str) -> dict:
    """One tree with what the views show beside it: annotations, the problem's own prompt, its rounds."""
    tree = run.tree(index, problem)
    summary = next(row for row in run.summaries(index) if row["problem_id"] == tree.problem_id)
    known = run.problems().get(tree.problem_id)
    return {"round": index, "problem_id": tree.problem_id, "summary": summary,
            "prompt": known.prompt if known is not None else None, "rounds": run.rounds_of(tree.problem_id),
            "tree": tree.to_dict(), "nodes": node_annotations(tree)}


def evaluated_rounds(run: RunView) -> list[int]:
    """Rounds with a dev evaluation file: 0 (round-0/eval.json) and each K with metrics.json, ascending."""
    return ([0] if run.run.round(0).eval.is_file() else []) + run.run.rounds_holding("metrics.json")


def plot_rows(run: RunView, index: int) -> list[dict]:
    """`selfplay.answering.compare.plot` rows for the evaluated rounds up to `index`: per round a line from fast to deliberate."""
    rows = []
    for earlier in evaluated_rounds(run):
        if earlier > index:
            break
        evaluation = run.evaluation(earlier)
        for mode in ("fast", "deliberate"):
            result = (evaluation or {}).get(mode)
            if not result or not result.get("n") or result.get("tokens") is None:
                continue
            rows.append({"strategy": f"round {earlier}", "budget": result.get("budget", 1),
                         "accuracy": result["accuracy"], "tokens_per_problem": result["tokens"] / result["n"]})
    return rows
