"""Countdown's committed split sets: level easy (`datasets/countdown/`), one folder per further level,
and the hard split `countdown/hard/{dev,test,test-large}.jsonl` joined from `HARD_LEVELS`' sets.

Level easy mixes difficulties: dev and test hold 3-number problems only (a tiny model gets some
right), train holds half 3-number and half 4-number problems, shuffled. The hard split is the dev
and the test splits of `problems.HARD_LEVELS` (the standard game with 3 and 4 numbers) joined,
interleaved; beside them, `hard/test-large.jsonl`: the 200 test problems first, then
`HARD_TEST_EXTRA` times as many again per level from a further pool of each level (disjoint from
every split), interleaved the same way; 1,000 problems, so that a few points of greedy accuracy
are measurable. Nothing trains or tunes on it.
"""
from __future__ import annotations

import functools
import random
from collections.abc import Collection

from selfplay.tasks.countdown import problems as countdown
from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import SplitRecipe
from selfplay.tasks.splits import HardSplit, SplitSizes, cut, pool_seed

HARD = "countdown/hard"  # dev and test only: the HARD_LEVELS sets' dev and test, joined
HARD_TEST_EXTRA = 4  # test-large holds the hard test split and this many times its size more, per level


def countdown_splits(seed: int, sizes: SplitSizes, exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """Level easy: 3-number dev/test; train is half 3-number, half 4-number problems, shuffled."""
    train_four = sizes.train // 2
    three = countdown.generate(sizes.dev + sizes.test + sizes.train - train_four,
                               pool_seed(seed, "countdown", "3"), n_numbers=3, exclude=exclude)
    four = countdown.generate(train_four, pool_seed(seed, "countdown", "4"), n_numbers=4, exclude=exclude)
    splits = cut(three, SplitSizes(sizes.train - train_four, sizes.dev, sizes.test))
    splits["train"] = splits["train"] + four
    random.Random(pool_seed(seed, "countdown", "shuffle")).shuffle(splits["train"])
    return splits


def countdown_level_splits(level: str, seed: int, sizes: SplitSizes,
                           exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """One pool of `countdown.LEVELS[level]` problems, cut into dev, test and train."""
    pool = countdown.generate(sizes.dev + sizes.test + sizes.train, pool_seed(seed, "countdown", level),
                              level=level, exclude=exclude)
    return cut(pool, sizes)


hard_files = HardSplit("countdown", countdown.HARD_LEVELS, countdown.generate, HARD_TEST_EXTRA)


RECIPE = SplitRecipe(
    sizes={"countdown": SplitSizes(train=4000, dev=200, test=200),
           "countdown/std3": SplitSizes(train=2000, dev=100, test=100),
           "countdown/std4": SplitSizes(train=2000, dev=100, test=100),
           "countdown/std5": SplitSizes(train=2000, dev=100, test=100)},
    builders={"countdown": countdown_splits,
              **{f"countdown/{level}": functools.partial(countdown_level_splits, level)
                 for level in countdown.LEVELS if level != "easy"}},
    joined=hard_files)
