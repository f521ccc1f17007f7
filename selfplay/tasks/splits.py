"""Build the committed train/dev/test splits of the built-in tasks, and check their overlap.

`build_splits("datasets")` writes one folder of `{train,dev,test}.jsonl` per split set: a
task's first files (`datasets/<task>/`, level `easy`) and one folder per further level
(`datasets/countdown/std3/`, `datasets/arith/long/`, ...), named in `DEFAULT_SIZES`, and the
hard countdown split `datasets/countdown/hard/{dev,test}.jsonl`: the dev and the test splits
of `countdown.HARD_LEVELS` (the standard game with 3 and 4 numbers) joined, interleaved. Beside
them, `hard/test-large.jsonl`: the 200 test problems first, then `HARD_TEST_EXTRA` times as many
again per level from a further pool of each level (disjoint from every split), interleaved the
same way; 1,000 problems, so that a few points of greedy accuracy are measurable (a sign test
over 200 problems sees only large changes). Nothing trains or tunes on it.

Countdown and arith draw ONE pool of distinct problems per set from their generator
(distinct by content key) and cut it into splits, so no problem is in two splits; funcs cuts
its functions instead (below). Sets are built in the order of `SPLIT_BUILDERS`, and a set
skips every content key an earlier set of its task holds, so no problem is in two levels
either (the content key is numbers and target, whatever the rule). The cut is checked again
before writing (content keys, ids and funcs function keys, across all sets of a task). Seeds
for each pool derive from (seed, task, pool name), so a task's first files do not change
when another set's sizes do, and running twice gives the same bytes.

Countdown's first files mix difficulties: dev and test hold 3-number problems only (a tiny
model gets some right), train holds half 3-number and half 4-number problems, shuffled. Its
further levels are `countdown.LEVELS` (one count of numbers each); arith's are `arith.LEVELS`.

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

import functools
import hashlib
import os
import random
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from selfplay.tasks import arith, countdown, func_pipes, funcs, pipe_splits
from selfplay.tasks.func_families import FAMILIES, FAMILY_NAMES
from selfplay.tasks.loader import load_problems, save_problems
from selfplay.tasks.problem import Problem, content_key, normalised_key

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitSizes:
    train: int  # problems to train on (the round's training problems)
    dev: int  # held out, evaluated every round
    test: int  # held out, for final reports only

    def __post_init__(self) -> None:
        if min(self.train, self.dev, self.test) < 0:
            raise ValueError(f"split sizes must be non-negative, got {self}")


# A key is a split set: the folder under the output directory; its first part is the task.
DEFAULT_SIZES = {
    "countdown": SplitSizes(train=4000, dev=200, test=200),
    "countdown/std3": SplitSizes(train=2000, dev=100, test=100),
    "countdown/std4": SplitSizes(train=2000, dev=100, test=100),
    "countdown/std5": SplitSizes(train=2000, dev=100, test=100),
    "arith": SplitSizes(train=3000, dev=200, test=200),
    "arith/long": SplitSizes(train=1500, dev=100, test=100),
    "funcs": SplitSizes(train=1500, dev=100, test=100),
    "funcs/pipes": SplitSizes(train=3000, dev=200, test=200),  # the code world (func_pipes): easy, taught
    "funcs/pairs": SplitSizes(train=800, dev=100, test=100),
    "funcs/chains": SplitSizes(train=800, dev=100, test=100),
}
HARD = "countdown/hard"  # dev and test only: the HARD_LEVELS sets' dev and test, joined
DATASETS = Path(__file__).resolve().parent.parent.parent / "datasets"  # the committed splits
HARD_TEST_EXTRA = 4  # test-large holds the hard test split and this many times its size more, per level


def pool_seed(seed: int, *names: str) -> int:
    """A 32-bit seed for one named pool of the committed data, independent of every other pool's:
    the first 8 hex digits of SHA-256 of "seed/name/...". Not `search.derive_seed`: the committed
    splits and the built-in model's corpus were generated with this one, so it stays.

    >>> pool_seed(0, "countdown", "3")
    1747547693
    """
    digest = hashlib.sha256("/".join([str(seed), *names]).encode("utf-8")).hexdigest()
    return int(digest[:8], 16)


def _cut(pool: list[Problem], sizes: SplitSizes) -> dict[str, list[Problem]]:
    """dev first, then test, then train, from one pool of distinct problems."""
    held_out = sizes.dev + sizes.test
    return {"train": pool[held_out:held_out + sizes.train], "dev": pool[:sizes.dev],
            "test": pool[sizes.dev:held_out]}


def countdown_splits(seed: int, sizes: SplitSizes, exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """Level easy: 3-number dev/test; train is half 3-number, half 4-number problems, shuffled."""
    train_four = sizes.train // 2
    three = countdown.generate(sizes.dev + sizes.test + sizes.train - train_four,
                               pool_seed(seed, "countdown", "3"), n_numbers=3, exclude=exclude)
    four = countdown.generate(train_four, pool_seed(seed, "countdown", "4"), n_numbers=4, exclude=exclude)
    splits = _cut(three, SplitSizes(sizes.train - train_four, sizes.dev, sizes.test))
    splits["train"] = splits["train"] + four
    random.Random(pool_seed(seed, "countdown", "shuffle")).shuffle(splits["train"])
    return splits


def countdown_level_splits(level: str, seed: int, sizes: SplitSizes,
                           exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """One pool of `countdown.LEVELS[level]` problems, cut into dev, test and train."""
    pool = countdown.generate(sizes.dev + sizes.test + sizes.train, pool_seed(seed, "countdown", level),
                              level=level, exclude=exclude)
    return _cut(pool, sizes)


def arith_splits(seed: int, sizes: SplitSizes, exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """Level easy: 2 to 4 computations per problem in every split, values up to 100."""
    return _cut(arith.generate(sizes.train + sizes.dev + sizes.test, pool_seed(seed, "arith"), exclude=exclude),
                sizes)


def arith_level_splits(level: str, seed: int, sizes: SplitSizes,
                       exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """One pool of `arith.LEVELS[level]` problems, cut into dev, test and train."""
    pool = arith.generate(sizes.dev + sizes.test + sizes.train, pool_seed(seed, "arith", level),
                          level=level, exclude=exclude)
    return _cut(pool, sizes)


FUNCS_MIN_TO_HOLD_OUT = 90  # a family lends functions to dev and test only if it has this many


def _quotas(names: list[str], total: int) -> dict[str, int]:
    """`total` spread over `names` as evenly as possible, the earlier names getting the extra."""
    return {name: total // len(names) + (index < total % len(names)) for index, name in enumerate(names)}


def partition_functions(seed: int, dev: int, test: int) -> dict[str, dict[str, list[funcs.Function]]]:
    """Each family's functions cut into {"dev", "test", "train"} lists; `dev` and `test` are
    the numbers of distinct held-out functions, spread over the large families."""
    lenders = [family.name for family in FAMILIES if len(family.functions) >= FUNCS_MIN_TO_HOLD_OUT]
    random.Random(pool_seed(seed, "funcs", "lenders")).shuffle(lenders)
    dev_quota, test_quota = _quotas(lenders, dev), _quotas(lenders, test)
    parts: dict[str, dict[str, list[funcs.Function]]] = {}
    for family in FAMILIES:
        functions = [(family.name, params) for params in family.functions]
        random.Random(pool_seed(seed, "funcs", family.name)).shuffle(functions)
        n_dev, n_test = dev_quota.get(family.name, 0), test_quota.get(family.name, 0)
        if n_dev + n_test > len(functions) // 2:
            raise ValueError(f"family {family.name} cannot lend {n_dev + n_test} of its {len(functions)} functions")
        parts[family.name] = {"dev": functions[:n_dev], "test": functions[n_dev:n_dev + n_test],
                              "train": functions[n_dev + n_test:]}
    return parts


def funcs_splits(seed: int, sizes: SplitSizes, exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """Disjoint by function: dev and test get one problem per held-out function, train
    cycles through the other functions; 3 visible and 8 to 12 hidden cases each."""
    parts = partition_functions(seed, sizes.dev, sizes.test)
    chosen: dict[str, list[funcs.Function]] = {}
    for split in ("dev", "test"):
        chosen[split] = [function for family in FAMILY_NAMES for function in parts[family][split]]
        random.Random(pool_seed(seed, "funcs", split, "order")).shuffle(chosen[split])
    rng, used = random.Random(pool_seed(seed, "funcs", "train", "order")), dict.fromkeys(FAMILY_NAMES, 0)
    chosen["train"] = []
    for _ in range(sizes.train):
        family = rng.choice(FAMILY_NAMES)
        own = parts[family]["train"]
        chosen["train"].append(own[used[family] % len(own)])
        used[family] += 1
    return {split: funcs.generate_for(chosen[split], pool_seed(seed, "funcs", split)) for split in SPLITS}


# Every split set the lab can build, in build order: a set excludes the earlier sets of its task.
SPLIT_BUILDERS: dict[str, Callable[..., dict[str, list[Problem]]]] = {
    "countdown": countdown_splits,
    **{f"countdown/{level}": functools.partial(countdown_level_splits, level)
       for level in countdown.LEVELS if level != "easy"},
    "arith": arith_splits,
    **{f"arith/{level}": functools.partial(arith_level_splits, level) for level in arith.LEVELS if level != "easy"},
    "funcs": funcs_splits,
    **{f"funcs/{level}": functools.partial(pipe_splits.level_splits, level, pool_seed) for level in func_pipes.LEVELS},
}


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
    """Write `<out_dir>/<set>/{train,dev,test}.jsonl` for each split set in `sizes` (default:
    DEFAULT_SIZES; a tuple is (train, dev, test)), and `<out_dir>/countdown/hard/{dev,test}.jsonl`
    when every HARD_LEVELS set is among them. Returns the paths, by set and split."""
    sizes = DEFAULT_SIZES if sizes is None else sizes
    unknown = [name for name in sizes if name not in SPLIT_BUILDERS]
    if unknown:
        raise ValueError(f"no built-in splits for {unknown}; expected some of {list(SPLIT_BUILDERS)}")
    built: dict[str, dict[str, list[Problem]]] = {}
    taken: dict[str, set[str]] = {}  # content keys of the sets built so far, per task
    for name in (name for name in SPLIT_BUILDERS if name in sizes):  # build order, not the caller's
        set_sizes = sizes[name] if isinstance(sizes[name], SplitSizes) else SplitSizes(*sizes[name])
        task_taken = taken.setdefault(name.split("/")[0], set())
        built[name] = SPLIT_BUILDERS[name](seed, set_sizes, frozenset(task_taken))
        task_taken.update(content_key(problem) for problems in built[name].values() for problem in problems)
    _check_disjoint(built)
    hard_sets = [f"countdown/{level}" for level in countdown.HARD_LEVELS]
    files = {(name, split): problems for name, splits in built.items() for split, problems in splits.items()}
    if all(name in built for name in hard_sets):
        for split in ("dev", "test"):
            # Interleaved (std3, std4, std3, ...), so that the first N problems (eval.limit) mix the levels.
            files[HARD, split] = [problem for group in zip(*(built[name][split] for name in hard_sets))
                                  for problem in group]
        extra = _hard_test_extra(seed, built, taken["countdown"])
        _check_disjoint({**built, f"{HARD}/test-large": {"extra": extra}})
        files[HARD, "test-large"] = files[HARD, "test"] + extra
    set_sizes = {name: sizes[name] if isinstance(sizes[name], SplitSizes) else SplitSizes(*sizes[name]) for name in built}
    pipes_hard = pipe_splits.hard_files(pool_seed, seed, built, set_sizes, taken.get("funcs", set()))
    if pipes_hard:  # the code world's hard split: its large test must be new by function too
        extra = pipes_hard[pipe_splits.HARD, "test-large"][len(pipes_hard[pipe_splits.HARD, "test"]):]
        _check_disjoint({**built, f"{pipe_splits.HARD}/test-large": {"extra": extra}})
    files.update(pipes_hard)
    written: dict[str, dict[str, Path]] = {}
    for (name, split), problems in files.items():
        written.setdefault(name, {})[split] = save_problems(problems, Path(out_dir) / name / f"{split}.jsonl")
    return written


def _hard_test_extra(seed: int, built: Mapping[str, Mapping[str, list[Problem]]],
                     taken: Collection[str]) -> list[Problem]:
    """`HARD_TEST_EXTRA` x each hard level's test size more problems of that level, from a pool of
    its own that skips every countdown problem of every set, interleaved like the hard split."""
    extra = [countdown.generate(HARD_TEST_EXTRA * len(built[f"countdown/{level}"]["test"]),
                                pool_seed(seed, "countdown", level, "test-large"), level=level, exclude=frozenset(taken))
             for level in countdown.HARD_LEVELS]
    return [problem for group in zip(*extra) for problem in group]


def _check_disjoint(built: Mapping[str, Mapping[str, list[Problem]]]) -> None:
    """Refuse to write when a problem (or a funcs function) is in two splits of one task's sets."""
    for task in sorted({name.split("/")[0] for name in built}):
        groups = {f"{name}/{split}": problems for name, splits in built.items() if name.split("/")[0] == task
                  for split, problems in splits.items()}
        shared, shared_functions = overlapping_keys(groups), overlapping_functions(groups)
        if shared or shared_functions:
            raise RuntimeError(f"{task}: {len(shared)} problems and {len(shared_functions)} functions "
                               "fall in more than one split")
