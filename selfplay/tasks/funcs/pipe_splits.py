"""The committed splits of the code world's levels (`selfplay.tasks.funcs.pipes`): one set per level, and the hard split.

`level_splits(level, ...)` cuts a level by FUNCTION, as funcs is cut: the level's held-out
pipelines (distinct, drawn from its held-out shapes) give dev and test one problem each, and,
for a hard level, `TEST_LARGE_EXTRA` times the test size more for the large test; train draws
pipelines of the level's shapes that are none of these (repeats allowed, with other cases).
Levels cannot share a function: their group sequences differ (`func_pipes.LEVELS`).

`hard_files` joins the hard levels' (`func_pipes.HARD_LEVELS`) dev and test splits into
`funcs/hard/{dev,test}.jsonl`, interleaved (pairs, chains, pairs, ...), and writes
`funcs/hard/test-large.jsonl`: the hard test first, then the extra held-out problems, interleaved
the same way. Nothing trains or tunes on the hard split.

Seeds derive from (seed, "funcs", level, part) through the `seed_of` the caller passes
(`splits.pool_seed`), so a level's files do not change when another's sizes do. Knows the
generator of the levels; nothing about files or models.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping

from selfplay.tasks.funcs import pipes as func_pipes
from selfplay.tasks.problem import Problem, content_key

HARD = "funcs/hard"  # dev, test and test-large only
TEST_LARGE_EXTRA = 4  # the large test holds the hard test and this many times its size more, per level
SeedOf = Callable[..., int]


def _held_out(level: str, seed_of: SeedOf, seed: int, sizes) -> dict[str, list[func_pipes.Pipeline]]:
    """The level's dev, test and (hard levels) test-large-extra pipelines, disjoint."""
    spec = func_pipes.LEVELS[level]
    rng, taken = random.Random(seed_of(seed, "funcs", level, "held-out")), set()
    extra = TEST_LARGE_EXTRA * sizes.test if level in func_pipes.HARD_LEVELS else 0
    shapes = spec.held_out_shapes or spec.shapes
    return {part: func_pipes.draw_functions(rng, shapes, count, taken)
            for part, count in (("dev", sizes.dev), ("test", sizes.test), ("extra", extra))}


def level_splits(level: str, seed_of: SeedOf, seed: int, sizes,
                 exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """{"train", "dev", "test"} problems of one level, disjoint by function."""
    held = _held_out(level, seed_of, seed, sizes)
    held_keys = {func_pipes.function_key(pipeline) for pipelines in held.values() for pipeline in pipelines}
    train = func_pipes.draw_training(random.Random(seed_of(seed, "funcs", level, "train", "order")),
                                     func_pipes.LEVELS[level].shapes, sizes.train, held_keys)
    chosen = {"train": train, "dev": held["dev"], "test": held["test"]}
    return {split: func_pipes.problems_for(pipelines, level, seed_of(seed, "funcs", level, split),
                                           frozenset(exclude), content_key)
            for split, pipelines in chosen.items()}


def _interleaved(groups: list[list[Problem]]) -> list[Problem]:
    return [problem for group in zip(*groups) for problem in group]


def hard_files(seed_of: SeedOf, seed: int, built: Mapping[str, Mapping[str, list[Problem]]], sizes: Mapping,
               exclude: Collection[str]) -> dict[tuple[str, str], list[Problem]]:
    """(HARD, split) -> problems for dev, test and test-large, when every hard level was built
    (else nothing). `sizes` are the levels' split sizes; `exclude` the funcs content keys taken."""
    names = [f"funcs/{level}" for level in func_pipes.HARD_LEVELS]
    if not all(name in built for name in names):
        return {}
    files = {(HARD, split): _interleaved([built[name][split] for name in names]) for split in ("dev", "test")}
    extra = []
    for level, name in zip(func_pipes.HARD_LEVELS, names):
        pipelines = _held_out(level, seed_of, seed, sizes[name])["extra"]
        extra.append(func_pipes.problems_for(pipelines, level, seed_of(seed, "funcs", level, "test-large"),
                                             frozenset(exclude), content_key))
    files[HARD, "test-large"] = files[HARD, "test"] + _interleaved(extra)
    return files


def joined(seed: int, built: Mapping[str, Mapping[str, list[Problem]]],
           taken: Collection[str]) -> dict[tuple[str, str], list[Problem]]:
    """The funcs family's joined files (`SplitRecipe.joined`): the hard split, its large test new by
    function and by content too. The levels' dev and test sizes are read off the built sets, so the
    held-out draws repeat the ones the sets were cut from."""
    from selfplay.tasks.splits import SplitSizes, check_disjoint, pool_seed

    sizes = {name: SplitSizes(train=len(sets["train"]), dev=len(sets["dev"]), test=len(sets["test"]))
             for name, sets in built.items() if name.startswith("funcs/")}
    files = hard_files(pool_seed, seed, built, sizes, taken)
    if files:
        extra = files[HARD, "test-large"][len(files[HARD, "test"]):]
        check_disjoint({**built, f"{HARD}/test-large": {"extra": extra}})
    return files
