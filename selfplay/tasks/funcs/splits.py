"""Funcs' committed split set: FUNCTIONS are split, not problems.

Every function (family + parameters, named by its `meta["function_key"]`) belongs to one split,
so dev and test measure inferring an unseen function from examples, not recalling one trained on.
`partition_functions` shuffles each family's functions by seed; families with at least
`FUNCS_MIN_TO_HOLD_OUT` functions lend the first few to dev, the next few to test (one problem
each, quotas spread evenly over those families) and keep the rest for train; smaller families,
parameter-free ones included, are train only. Train draws a family uniformly per problem and
cycles through that family's train functions, so it holds as many distinct functions as it can
and repeats a function (with other cases) only when its family runs out.
"""
from __future__ import annotations

import functools
import random
from collections.abc import Collection

from selfplay.tasks.funcs import pipe_splits, pipes
from selfplay.tasks.funcs import problems as funcs
from selfplay.tasks.funcs.families import FAMILIES, FAMILY_NAMES
from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import SplitRecipe
from selfplay.tasks.splits import SPLITS, SplitSizes, pool_seed


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


def pipes_level_splits(level: str, seed: int, sizes: SplitSizes,
                       exclude: Collection[str] = ()) -> dict[str, list[Problem]]:
    """One level of the code world (`pipes`): cut by function (`pipe_splits.level_splits`)."""
    return pipe_splits.level_splits(level, pool_seed, seed, sizes, exclude)


RECIPE = SplitRecipe(
    sizes={"funcs": SplitSizes(train=1500, dev=100, test=100),
           "funcs/pipes": SplitSizes(train=3000, dev=200, test=200),  # the code world: easy, taught
           "funcs/pairs": SplitSizes(train=800, dev=100, test=100),
           "funcs/chains": SplitSizes(train=800, dev=100, test=100)},
    builders={"funcs": funcs_splits,
              **{f"funcs/{level}": functools.partial(pipes_level_splits, level) for level in pipes.LEVELS}},
    joined=pipe_splits.joined)
