"""Build the committed train/dev/test splits of the built-in tasks, and check their overlap.

`build_splits("datasets")` writes `datasets/<task>/{train,dev,test}.jsonl` for countdown,
arith and funcs. Each task draws ONE pool of distinct problems from its generator (distinct
by content key) and cuts it into splits, so no problem is in two splits; the cut is checked
again before writing. Seeds for each pool derive from (seed, task, pool name), so a task's
files do not change when another task's sizes do, and running twice gives the same bytes.

Countdown mixes difficulties: dev and test hold 3-number problems only (a tiny model gets
some right), train holds half 3-number and half 4-number problems, shuffled.

This module knows the generators and the file writer; it knows nothing about models.
"""
from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from selfplay.tasks import arith, countdown, funcs
from selfplay.tasks.loader import load_problems, save_problems
from selfplay.tasks.problem import Problem, content_key

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitSizes:
    train: int  # problems to train on (the round's training problems)
    dev: int  # held out, evaluated every round
    test: int  # held out, for final reports only

    def __post_init__(self) -> None:
        if min(self.train, self.dev, self.test) < 0:
            raise ValueError(f"split sizes must be non-negative, got {self}")


DEFAULT_SIZES = {
    "countdown": SplitSizes(train=4000, dev=200, test=200),
    "arith": SplitSizes(train=3000, dev=200, test=200),
    "funcs": SplitSizes(train=1500, dev=100, test=100),
}


def derive_seed(seed: int, *names: str) -> int:
    """A seed for one named pool, independent of every other pool's."""
    digest = hashlib.sha256("/".join([str(seed), *names]).encode("utf-8")).hexdigest()
    return int(digest[:8], 16)


def _cut(pool: list[Problem], sizes: SplitSizes) -> dict[str, list[Problem]]:
    """dev first, then test, then train, from one pool of distinct problems."""
    held_out = sizes.dev + sizes.test
    return {"train": pool[held_out:held_out + sizes.train], "dev": pool[:sizes.dev],
            "test": pool[sizes.dev:held_out]}


def countdown_splits(seed: int, sizes: SplitSizes) -> dict[str, list[Problem]]:
    """3-number dev/test; train is half 3-number, half 4-number problems, shuffled."""
    train_four = sizes.train // 2
    three = countdown.generate(sizes.dev + sizes.test + sizes.train - train_four,
                               derive_seed(seed, "countdown", "3"), n_numbers=3)
    four = countdown.generate(train_four, derive_seed(seed, "countdown", "4"), n_numbers=4)
    splits = _cut(three, SplitSizes(sizes.train - train_four, sizes.dev, sizes.test))
    splits["train"] = splits["train"] + four
    random.Random(derive_seed(seed, "countdown", "shuffle")).shuffle(splits["train"])
    return splits


def arith_splits(seed: int, sizes: SplitSizes) -> dict[str, list[Problem]]:
    """2 to 4 computations per problem in every split, values up to 100."""
    return _cut(arith.generate(sizes.train + sizes.dev + sizes.test, derive_seed(seed, "arith")), sizes)


def funcs_splits(seed: int, sizes: SplitSizes) -> dict[str, list[Problem]]:
    """All families in every split, 3 visible and 8 to 12 hidden cases each."""
    return _cut(funcs.generate(sizes.train + sizes.dev + sizes.test, derive_seed(seed, "funcs")), sizes)


SPLIT_BUILDERS = {"countdown": countdown_splits, "arith": arith_splits, "funcs": funcs_splits}


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


def split_overlap(paths: Iterable[str | os.PathLike]) -> set[str]:
    """Content keys and ids that occur in more than one of the task files at `paths`."""
    return overlapping_keys({str(path): load_problems(path) for path in paths})


def build_splits(out_dir: str | os.PathLike = "datasets", seed: int = 0,
                 sizes: Mapping[str, SplitSizes | tuple[int, int, int]] | None = None) -> dict[str, dict[str, Path]]:
    """Write `<out_dir>/<task>/{train,dev,test}.jsonl` for each task in `sizes` (default: all
    three built-in tasks at DEFAULT_SIZES; a tuple is (train, dev, test)). Returns the paths."""
    sizes = DEFAULT_SIZES if sizes is None else sizes
    written: dict[str, dict[str, Path]] = {}
    for task, task_sizes in sizes.items():
        if task not in SPLIT_BUILDERS:
            raise ValueError(f"no built-in splits for task {task!r}; expected some of {sorted(SPLIT_BUILDERS)}")
        if not isinstance(task_sizes, SplitSizes):
            task_sizes = SplitSizes(*task_sizes)
        splits = SPLIT_BUILDERS[task](seed, task_sizes)
        shared = overlapping_keys(splits)
        if shared:
            raise RuntimeError(f"{task}: {len(shared)} problems fall in more than one split")
        written[task] = {name: save_problems(splits[name], Path(out_dir) / task / f"{name}.jsonl")
                         for name in SPLITS}
    return written
