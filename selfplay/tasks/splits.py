"""Build the committed train/dev/test splits of the built-in tasks, and check their overlap.

`build_splits("datasets")` writes `datasets/<task>/{train,dev,test}.jsonl` for countdown,
arith and funcs. Countdown and arith draw ONE pool of distinct problems from their generator
(distinct by content key) and cut it into splits, so no problem is in two splits; funcs cuts
its functions instead (below). The cut is checked again before writing (content keys, ids
and funcs function keys). Seeds for each pool derive from (seed, task, pool name), so a task's
files do not change when another task's sizes do, and running twice gives the same bytes.

Countdown mixes difficulties: dev and test hold 3-number problems only (a tiny model gets
some right), train holds half 3-number and half 4-number problems, shuffled.

Funcs splits FUNCTIONS, not problems: every function (family + parameters, named by its
`meta["function_key"]`) belongs to one split, so dev and test measure inferring an unseen
function from examples, not recalling one trained on. `partition_functions` shuffles each
family's functions by seed; families with at least `FUNCS_MIN_TO_HOLD_OUT` functions lend
the first few to dev, the next few to test (one problem each, quotas spread evenly over
those families) and keep the rest for train; smaller families, parameter-free ones
included, are train only. Train draws a family uniformly per problem and cycles through
that family's train functions, so it holds as many distinct functions as it can and repeats
a function (with other cases) only when its family runs out.

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
from selfplay.tasks.func_families import FAMILIES, FAMILY_NAMES
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


FUNCS_MIN_TO_HOLD_OUT = 90  # a family lends functions to dev and test only if it has this many


def _quotas(names: list[str], total: int) -> dict[str, int]:
    """`total` spread over `names` as evenly as possible, the earlier names getting the extra."""
    return {name: total // len(names) + (index < total % len(names)) for index, name in enumerate(names)}


def partition_functions(seed: int, dev: int, test: int) -> dict[str, dict[str, list[funcs.Function]]]:
    """Each family's functions cut into {"dev", "test", "train"} lists; `dev` and `test` are
    the numbers of distinct held-out functions, spread over the large families."""
    lenders = [family.name for family in FAMILIES if len(family.functions) >= FUNCS_MIN_TO_HOLD_OUT]
    random.Random(derive_seed(seed, "funcs", "lenders")).shuffle(lenders)
    dev_quota, test_quota = _quotas(lenders, dev), _quotas(lenders, test)
    parts: dict[str, dict[str, list[funcs.Function]]] = {}
    for family in FAMILIES:
        functions = [(family.name, params) for params in family.functions]
        random.Random(derive_seed(seed, "funcs", family.name)).shuffle(functions)
        n_dev, n_test = dev_quota.get(family.name, 0), test_quota.get(family.name, 0)
        if n_dev + n_test > len(functions) // 2:
            raise ValueError(f"family {family.name} cannot lend {n_dev + n_test} of its {len(functions)} functions")
        parts[family.name] = {"dev": functions[:n_dev], "test": functions[n_dev:n_dev + n_test],
                              "train": functions[n_dev + n_test:]}
    return parts


def funcs_splits(seed: int, sizes: SplitSizes) -> dict[str, list[Problem]]:
    """Disjoint by function: dev and test get one problem per held-out function, train
    cycles through the other functions; 3 visible and 8 to 12 hidden cases each."""
    parts = partition_functions(seed, sizes.dev, sizes.test)
    chosen: dict[str, list[funcs.Function]] = {}
    for split in ("dev", "test"):
        chosen[split] = [function for family in FAMILY_NAMES for function in parts[family][split]]
        random.Random(derive_seed(seed, "funcs", split, "order")).shuffle(chosen[split])
    rng, used = random.Random(derive_seed(seed, "funcs", "train", "order")), dict.fromkeys(FAMILY_NAMES, 0)
    chosen["train"] = []
    for _ in range(sizes.train):
        family = rng.choice(FAMILY_NAMES)
        own = parts[family]["train"]
        chosen["train"].append(own[used[family] % len(own)])
        used[family] += 1
    return {split: funcs.generate_for(chosen[split], derive_seed(seed, "funcs", split)) for split in SPLITS}


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


def _function_key_of(problem: Problem) -> str | None:
    meta = problem.meta
    if "function_key" in meta:
        return meta["function_key"]
    if problem.task == "funcs" and isinstance(meta.get("family"), str) and isinstance(meta.get("params"), dict):
        return funcs.function_key(meta["family"], meta["params"])
    return None


def overlapping_functions(groups: Mapping[str, Iterable[Problem]]) -> set[str]:
    """Funcs function keys found in more than one group. The key is `meta["function_key"]`,
    else made from `meta["family"]` and `meta["params"]`; problems with neither (other tasks,
    funcs rows from outside files) are skipped."""
    owner: dict[str, str] = {}
    shared: set[str] = set()
    for name, problems in groups.items():
        for problem in problems:
            key = _function_key_of(problem)
            if key is not None and owner.setdefault(key, name) != name:
                shared.add(key)
    return shared


def function_overlap(paths: Iterable[str | os.PathLike]) -> set[str]:
    """Funcs function keys that occur in more than one of the task files at `paths`."""
    return overlapping_functions({str(path): load_problems(path) for path in paths})


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
        shared, shared_functions = overlapping_keys(splits), overlapping_functions(splits)
        if shared or shared_functions:
            raise RuntimeError(f"{task}: {len(shared)} problems and {len(shared_functions)} functions "
                               "fall in more than one split")
        written[task] = {name: save_problems(splits[name], Path(out_dir) / task / f"{name}.jsonl")
                         for name in SPLITS}
    return written
