"""Arith's committed split sets: level easy (`datasets/arith/`, 2 to 4 computations, values up to
100) and one folder per further level of `problems.LEVELS`, each one pool cut into dev, test, train;
and the hard word-problem split `arith/hard/{dev,test,test-large}.jsonl`, joined from
`problems.HARD_LEVELS`' sets as countdown's is (`selfplay.tasks.splits.HardSplit`)."""
from __future__ import annotations

import functools
from collections.abc import Collection

from selfplay.tasks.arith import problems as arith
from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import SplitRecipe
from selfplay.tasks.splits import HardSplit, SplitSizes, cut, pool_seed


def arith_splits(seed: int, sizes: SplitSizes, exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """Level easy: 2 to 4 computations per problem in every split, values up to 100."""
    return cut(arith.generate(sizes.train + sizes.dev + sizes.test, pool_seed(seed, "arith"), exclude=exclude),
                sizes)


def arith_level_splits(level: str, seed: int, sizes: SplitSizes,
                       exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """One pool of `arith.LEVELS[level]` problems, cut into dev, test and train."""
    pool = arith.generate(sizes.dev + sizes.test + sizes.train, pool_seed(seed, "arith", level),
                          level=level, exclude=exclude)
    return cut(pool, sizes)


HARD = "arith/hard"  # dev, test and test-large only: the HARD_LEVELS sets' dev and test, joined
hard_files = HardSplit("arith", arith.HARD_LEVELS, arith.generate)

RECIPE = SplitRecipe(
    sizes={"arith": SplitSizes(train=3000, dev=200, test=200), "arith/long": SplitSizes(train=1500, dev=100, test=100),
           "arith/distract": SplitSizes(train=1500, dev=100, test=100),
           "arith/deep": SplitSizes(train=1500, dev=100, test=100)},
    builders={"arith": arith_splits,
              **{f"arith/{level}": functools.partial(arith_level_splits, level)
                 for level in arith.LEVELS if level != "easy"}},
    joined=hard_files)
