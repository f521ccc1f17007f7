"""Reading a run directory for people and for export: its rounds, their trees, the problems behind them.

    run = open_run("~/selfplay-runs/cd1")       # RunError if it is not a run directory
    run.round_indices()                         # [1, 2]: rounds that have a trees file
    run.trees(2)                                # round 2's search.Trees (a torn last member left out)
    run.tree(2, "countdown-4c48")               # one Tree, by problem id or a unique prefix of one
    run.summaries(2)                            # per problem: answers, verified, solved, newly solved, ...
    run.problems()                              # problem id -> Problem, from the run's training files

A run that is still being written is read as it is: every call looks at the files again and
re-reads a trees file when its size or modification time changed, so a viewer of a running
job sees trees as they are appended. The trees file is read with `treeio.read_trees_prefix`,
which leaves out a torn last gzip member of a round still sampling, and nothing else: a damaged
trees file, metrics.json or eval.json is a `rundir.DamagedFile` (a RunError) naming the file,
never a round that looks empty or unevaluated.

"Solved" means at least one terminal answer of the tree passed the grader (the selection's
rule for training data). "Newly solved" in round K means solved in K after the problem was
sampled in an earlier round and not solved in any of them: rounds draw fresh problems until
the training files wrap, so only problems that came back can be newly solved.

Knows the run layout (`selfplay.runfiles.rundir`), the run's config.yaml and the Tree's fields and
walkers; nothing about models or search algorithms.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from selfplay.runfiles import rundir, treeio
from selfplay.runfiles.rundir import DamagedFile, RunError
from selfplay.runfiles.config_files import ConfigError, read_yaml
from selfplay.runfiles.runconfig import resolve_path
from search import Tree
from selfplay.tasks import Problem, TaskFileError, load_problems


@dataclass(frozen=True)
class _Stamp:
    size: int
    mtime_ns: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _Stamp(stat.st_size, stat.st_mtime_ns)


def tree_summary(tree: Tree) -> dict:
    """What a listing shows of one tree (the `new` flag is the run's to set)."""
    graded = tree.graded()
    passed = sum(outcome for _, outcome in graded)
    chosen = tree.chosen_node()
    chosen_verdict = tree.verdicts[chosen] if chosen is not None else None
    return {"problem_id": tree.problem_id, "task": tree.task, "round": tree.round,
            "strategy": tree.strategy, "nodes": len(tree), "depth": max(tree.depths),
            "answers": len(graded), "passed": passed, "solved": passed > 0,
            "chosen_status": chosen_verdict["status"] if chosen_verdict else None,
            "selected": sum(tree.selected), "tokens": sum(tree.token_counts)}


def mean_values(tree: Tree) -> list[float | None]:
    """value_sum / visits per node (None where a node was never visited)."""
    return [total / visits if visits else None for total, visits in zip(tree.value_sums, tree.visit_counts)]


def node_annotations(tree: Tree) -> dict:
    """Per-node facts the views show beside the stored arrays.

    `children`: child indices; `value`: mean backed-up value; `verified_below` / `graded_below`:
    passed and graded answers in the node's subtree (the Monte-Carlo evidence); `estimate`:
    the scorer's score, else the mean value; `disagree`: the estimate and the verified share
    below are at least 0.5 apart (the verifier and the value model tell different stories).
    """
    children = [tree.children(node) for node in range(len(tree))]
    counts = tree.subtree_counts()
    values = mean_values(tree)
    estimates = [score if score is not None else value for score, value in zip(tree.scores, values)]
    disagree = [estimate is not None and graded > 0 and abs(estimate - passed / graded) >= 0.5
                for estimate, (passed, graded) in zip(estimates, counts)]
    return {"children": children, "value": values, "verified_below": [passed for passed, _ in counts],
            "graded_below": [graded for _, graded in counts], "estimate": estimates, "disagree": disagree}


class RunView:
    """A run directory, read on demand; safe to share between the threads of a server."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        self.run = rundir.RunDir(self.path)
        self._lock = threading.Lock()
        self._trees: dict[Path, tuple[_Stamp, list[Tree]]] = {}
        self._problems: tuple[tuple, dict[str, Problem]] | None = None

    # --- rounds and trees -------------------------------------------------------------------------

    def round_indices(self) -> list[int]:
        """Rounds K >= 1 whose folder holds a trees file, ascending."""
        return self.run.rounds_holding("trees.jsonl.gz")

    def _round_dir(self, index: int) -> rundir.RoundDir:
        round_dir = self.run.round(index)
        if index < 1 or not round_dir.trees.is_file():
            have = ", ".join(map(str, self.round_indices())) or "none yet"
            raise RunError(f"{self.path}: no trees for round {index} (rounds with trees: {have})")
        return round_dir

    def trees(self, index: int) -> list[Tree]:
        """Round `index`'s trees, re-read when the file changed."""
        path = self._round_dir(index).trees
        stamp = _stamp(path)
        with self._lock:
            cached = self._trees.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        trees = treeio.read_trees_prefix(path)
        with self._lock:
            self._trees[path] = (stamp, trees)
        return trees

    def resolve(self, index: int, problem: str) -> str:
        """The full problem id in round `index` that `problem` names (exactly, or as a unique prefix)."""
        ids = [tree.problem_id for tree in self.trees(index)]
        if problem in ids:
            return problem
        matches = sorted({problem_id for problem_id in ids if problem_id.startswith(problem)})
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise RunError(f"{problem!r} matches {len(matches)} problems in round {index}: "
                           f"{', '.join(matches[:5])}{', ...' if len(matches) > 5 else ''}")
        elsewhere = self.rounds_of(problem)
        hint = f"; it is in round {', '.join(map(str, elsewhere))}" if elsewhere else ""
        raise RunError(f"no problem {problem!r} in round {index} of {self.path} ({len(ids)} problems){hint}")

    def tree(self, index: int, problem: str) -> Tree:
        """The tree of `problem` (id or unique prefix) in round `index`."""
        problem_id = self.resolve(index, problem)
        return next(tree for tree in self.trees(index) if tree.problem_id == problem_id)

    def rounds_of(self, problem: str) -> list[int]:
        """Rounds holding a tree of `problem` (id or unique prefix of one)."""
        return [index for index in self.round_indices()
                if any(tree.problem_id.startswith(problem) for tree in self.trees(index))]

    def summaries(self, index: int) -> list[dict]:
        """`tree_summary` of each tree in round `index`, sorted by problem id, with `new` set."""
        solved_before: dict[str, bool] = {}
        for earlier in self.round_indices():
            if earlier >= index:
                break
            for tree in self.trees(earlier):
                solved = tree_summary(tree)["solved"]
                solved_before[tree.problem_id] = solved_before.get(tree.problem_id, False) or solved
        rows = []
        for tree in sorted(self.trees(index), key=lambda tree: tree.problem_id):
            row = tree_summary(tree)
            seen = tree.problem_id in solved_before
            row["new"] = row["solved"] and seen and not solved_before[tree.problem_id]
            rows.append(row)
        return rows

    # --- round results ----------------------------------------------------------------------------

    def evaluation(self, index: int) -> dict | None:
        """The round's dev evaluation ({"fast", "deliberate"}); round 0 is the base model. None if not yet there.

        DamagedFile when the file is there but cut short or of another shape.
        """
        round_dir = self.run.round(index)
        path = round_dir.eval if index == 0 else round_dir.metrics
        try:
            evaluation = rundir.read_json(path).get("eval")
        except FileNotFoundError:
            return None
        if evaluation is None:
            return None
        if not isinstance(evaluation, dict) or not all(isinstance(evaluation.get(mode, {}), dict)
                                                       for mode in ("fast", "deliberate")):
            raise DamagedFile(f"{path}: its \"eval\" is not an object with a result per mode "
                              f"(found {json.dumps(evaluation)[:80]})")
        return evaluation or None

    def is_done(self, index: int) -> bool:
        return self.run.round(index).is_done()

    # --- problems ---------------------------------------------------------------------------------

    def config(self) -> dict:
        """The run's config.yaml as a plain mapping ({} when there is none)."""
        if not self.run.config.exists():
            return {}
        rundir.check_kinds([self.run.config])
        try:
            values = read_yaml(self.run.config)
        except ConfigError as error:  # not UTF-8, not YAML, nested past the parser, not a mapping
            raise DamagedFile(f"{self.run.config}: damaged ({error})") from None
        if not isinstance(values.get("train_files") or {}, dict):
            raise DamagedFile(f"{self.run.config}: damaged: its train_files is not a mapping of file -> share")
        return values

    def task_files(self) -> list[Path]:
        """The run's training files, resolved as the run resolved them (relative to the repository)."""
        return [resolve_path(name) for name in (self.config().get("train_files") or {})]

    def problems(self) -> dict[str, Problem]:
        """Problem id -> Problem from the run's training files that exist ({} when none does)."""
        paths = [path for path in self.task_files() if path.is_file()]
        key = tuple((path, _stamp(path)) for path in paths)
        with self._lock:
            if self._problems is not None and self._problems[0] == key:
                return self._problems[1]
        problems = {}
        for path in paths:
            try:
                problems.update((problem.id, problem) for problem in load_problems(path))
            except TaskFileError as error:
                raise RunError(f"the run's training file cannot be read: {error}") from None
        with self._lock:
            self._problems = (key, problems)
        return problems


def open_run(path: str | os.PathLike) -> RunView:
    """A `RunView` of `path`; RunError when it is missing or not a run directory."""
    run_path = Path(path).expanduser()
    if not run_path.exists():
        raise RunError(f"{run_path}: no such run directory")
    if not run_path.is_dir():
        raise RunError(f"{run_path}: not a directory (a run directory holds config.yaml and round-K/)")
    if not (run_path / "config.yaml").is_file() and not any(run_path.glob("round-*")):
        raise RunError(f"{run_path}: not a run directory (no config.yaml, no round-K folders)")
    return RunView(run_path)
