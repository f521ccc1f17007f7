"""Build the committed train/dev/test splits of the registered families, and check their overlap.

`build_splits("datasets")` writes one folder of `{train,dev,test}.jsonl` per split set: a
task's first files (`datasets/<task>/`, level `easy`) and one folder per further level
(`datasets/countdown/std3/`, `datasets/arith/long/`, ...). Which sets a family has, their
default sizes and their builders are its spec's `SplitRecipe` (`selfplay/tasks/countdown/splits.py`,
...), which may also join built sets into further files (countdown's hard split).

A family draws ONE pool of distinct problems per set from its generator (distinct by content
key) and cuts it into splits, so no problem is in two splits; funcs cuts its functions instead.
Sets are built in registration order, and a set skips every content key an earlier set of its
task holds, so no problem is in two levels either. The cut is checked again before writing
(content keys, ids and split units such as funcs' functions, across all sets of a task). Seeds
for each pool derive from (seed, task, pool name), so a task's first files do not change when
another set's sizes do, and running twice gives the same bytes.

This module knows the task specs and the file writer; it knows no family and nothing about models.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from selfplay.tasks.loader import load_problems, save_problems
from selfplay.tasks.problem import Problem, content_key, normalised_key
from selfplay.tasks.spec import task_spec, task_specs

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitSizes:
    train: int  # problems to train on (the round's training problems)
    dev: int  # held out, evaluated every round
    test: int  # held out, for final reports only

    def __post_init__(self) -> None:
        if min(self.train, self.dev, self.test) < 0:
            raise ValueError(f"split sizes must be non-negative, got {self}")


DATASETS = Path(__file__).resolve().parent.parent.parent / "datasets"  # the committed splits


def pool_seed(seed: int, *names: str) -> int:
    """A 32-bit seed for one named pool of the committed data, independent of every other pool's:
    the first 8 hex digits of SHA-256 of "seed/name/...". Not `search.derive_seed`: the committed
    splits and the built-in model's corpus were generated with this one, so it stays.

    >>> pool_seed(0, "countdown", "3")
    1747547693
    """
    digest = hashlib.sha256("/".join([str(seed), *names]).encode("utf-8")).hexdigest()
    return int(digest[:8], 16)


def cut(pool: list[Problem], sizes: SplitSizes) -> dict[str, list[Problem]]:
    """dev first, then test, then train, from one pool of distinct problems."""
    held_out = sizes.dev + sizes.test
    return {"train": pool[held_out:held_out + sizes.train], "dev": pool[:sizes.dev],
            "test": pool[sizes.dev:held_out]}


def split_builders() -> dict[str, Callable[..., dict[str, list[Problem]]]]:
    """Every split set the registered families can build, in build order (registration order, then
    each recipe's): a set excludes the earlier sets of its task."""
    return {name: builder for spec in task_specs() if spec.splits is not None
            for name, builder in spec.splits.builders.items()}


def default_sizes() -> dict[str, SplitSizes]:
    """The committed split sets and their sizes, by set name (its first part is the task)."""
    return {name: size for spec in task_specs() if spec.splits is not None for name, size in spec.splits.sizes.items()}


def overlapping_keys(groups: Mapping[str, Iterable[Problem]]) -> set[str]:
    """Content keys and ids found in more than one group (an empty set means disjoint)."""
    owner: dict[str, str] = {}
    shared: set[str] = set()
    for name, problems in groups.items():
        for problem in problems:
            for key in {content_key(problem), problem.id}:
                if owner.setdefault(key, name) != name:
                    shared.add(key)
    return shared


def held_out_index(extra_files: Iterable[str | os.PathLike] = (),
                   root: str | os.PathLike = DATASETS) -> dict[str, str]:
    """Problem id and normalised key -> the dev or test file that holds the problem: every
    `dev*.jsonl` and `test*.jsonl` under `root` (the levels' folders and `test-large` included),
    then `extra_files`. What training must never see, however it made its problems.

    Raises `TaskFileError` naming the file that cannot be read."""
    root = Path(root)
    files = sorted(path for pattern in ("dev*.jsonl", "test*.jsonl") for path in root.rglob(pattern)
                   if "fixtures" not in path.relative_to(root).parts)
    files += [Path(name) for name in extra_files if Path(name).is_file() and Path(name) not in files]
    index: dict[str, str] = {}
    for path in files:
        shown = os.path.relpath(path, root.parent) if path.resolve().is_relative_to(root.resolve().parent) else str(path)
        for problem in load_problems(path):
            index.setdefault(problem.id, shown)
            index.setdefault(normalised_key(problem), shown)
    return index


def split_overlap(paths: Iterable[str | os.PathLike]) -> set[str]:
    """Content keys and ids that occur in more than one of the task files at `paths`."""
    return overlapping_keys({str(path): load_problems(path) for path in paths})


def split_unit_of(problem: Problem) -> str | None:
    """What must stay in one split with every problem sharing it: `meta["function_key"]`, else the
    spec's `split_unit` (funcs: the function asked for), else None."""
    if "function_key" in problem.meta:
        return problem.meta["function_key"]
    unit = task_spec(problem.task).split_unit
    return None if unit is None else unit(problem)


def overlapping_functions(groups: Mapping[str, Iterable[Problem]]) -> set[str]:
    """Split units (funcs function keys) found in more than one group (`split_unit_of`); problems
    without one (other tasks, funcs rows from outside files) are skipped."""
    owner: dict[str, str] = {}
    shared: set[str] = set()
    for name, problems in groups.items():
        for problem in problems:
            key = split_unit_of(problem)
            if key is not None and owner.setdefault(key, name) != name:
                shared.add(key)
    return shared


def function_overlap(paths: Iterable[str | os.PathLike]) -> set[str]:
    """Funcs function keys that occur in more than one of the task files at `paths`."""
    return overlapping_functions({str(path): load_problems(path) for path in paths})


def build_splits(out_dir: str | os.PathLike = "datasets", seed: int = 0,
                 sizes: Mapping[str, SplitSizes | tuple[int, int, int]] | None = None) -> dict[str, dict[str, Path]]:
    """Write `<out_dir>/<set>/{train,dev,test}.jsonl` for each split set in `sizes` (default:
    `default_sizes()`; a tuple is (train, dev, test)), and the files a recipe joins from them (the
    hard countdown split when every one of its levels is among them). Returns the paths, by set
    and split."""
    builders = split_builders()
    sizes = default_sizes() if sizes is None else sizes
    unknown = [name for name in sizes if name not in builders]
    if unknown:
        raise ValueError(f"no built-in splits for {unknown}; expected some of {list(builders)}")
    built: dict[str, dict[str, list[Problem]]] = {}
    taken: dict[str, set[str]] = {}  # content keys of the sets built so far, per task
    for name in (name for name in builders if name in sizes):  # build order, not the caller's
        set_sizes = sizes[name] if isinstance(sizes[name], SplitSizes) else SplitSizes(*sizes[name])
        task_taken = taken.setdefault(name.split("/")[0], set())
        built[name] = builders[name](seed, set_sizes, frozenset(task_taken))
        task_taken.update(content_key(problem) for problems in built[name].values() for problem in problems)
    check_disjoint(built)
    files = {(name, split): problems for name, splits in built.items() for split, problems in splits.items()}
    for spec in task_specs():
        if spec.splits is not None and spec.splits.joined is not None and spec.name in taken:
            files.update(spec.splits.joined(seed, built, taken[spec.name]))
    written: dict[str, dict[str, Path]] = {}
    for (name, split), problems in files.items():
        written.setdefault(name, {})[split] = save_problems(problems, Path(out_dir) / name / f"{split}.jsonl")
    return written


def check_disjoint(built: Mapping[str, Mapping[str, list[Problem]]]) -> None:
    """Refuse to write when a problem (or a split unit) is in two splits of one task's sets."""
    for task in sorted({name.split("/")[0] for name in built}):
        groups = {f"{name}/{split}": problems for name, splits in built.items() if name.split("/")[0] == task
                  for split, problems in splits.items()}
        shared, shared_functions = overlapping_keys(groups), overlapping_functions(groups)
        if shared or shared_functions:
            raise RuntimeError(f"{task}: {len(shared)} problems and {len(shared_functions)} functions "
                               "fall in more than one split")


@dataclass(frozen=True)
class HardSplit:
    """A family's hard split, joined from the dev and test sets of its hard levels (`SplitRecipe.joined`):
    `{folder}/dev.jsonl` and `test.jsonl` interleave the levels' splits (so the first N problems mix
    them), and `test-large.jsonl` is the test split then `extra` times each level's test size more,
    from a further pool of each level that skips every problem of every set of the task, interleaved
    the same way: enough problems that a few points of greedy accuracy are measurable. Nothing trains
    or tunes on it."""

    task: str  # the family; its sets are named "<task>/<level>"
    levels: Sequence[str]  # the hard levels, in the order they interleave
    generate: Callable[..., list[Problem]]  # the family's generator: (n, seed, level=, exclude=)
    extra: int = 4  # test-large = test + extra x each level's test size

    @property
    def folder(self) -> str:
        return f"{self.task}/hard"

    def __call__(self, seed: int, built: Mapping[str, Mapping[str, list[Problem]]],
                 taken: Collection[str]) -> dict[tuple[str, str], list[Problem]]:
        sets = [f"{self.task}/{level}" for level in self.levels]
        if not all(name in built for name in sets):
            return {}
        files = {(self.folder, split): [problem for group in zip(*(built[name][split] for name in sets))
                                        for problem in group] for split in ("dev", "test")}
        pools = [self.generate(self.extra * len(built[f"{self.task}/{level}"]["test"]),
                               pool_seed(seed, self.task, level, "test-large"), level=level, exclude=frozenset(taken))
                 for level in self.levels]
        extra = [problem for group in zip(*pools) for problem in group]
        check_disjoint({**built, f"{self.folder}/test-large": {"extra": extra}})
        files[self.folder, "test-large"] = files[self.folder, "test"] + extra
        return files
