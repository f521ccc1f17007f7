"""Which training problems a round samples: the levels at the frontier, and fresh problems from each.

With `curriculum.levels` set (train files from easy to hard), round 1 samples the first `start`
levels. After each round, the solved share of each level's problems (some verified answer in its
tree) decides the next round's mix: when the hardest active level reaches `promote_at`, the next
level joins; a level solved `retire_at` of the time leaves (it teaches little), except the hardest
active one. Problems are split evenly over the active levels. Everything is a pure function of
the config and the earlier rounds' solved shares, so a resumed run draws the same problems.

    >>> config = CurriculumConfig(levels=("a", "b", "c"), start=1, promote_at=0.5, retire_at=0.9)
    >>> active_levels(config, []), active_levels(config, [{"a": 0.6}]), active_levels(config, [{"a": 0.6}, {"a": 0.95, "b": 0.2}])
    (['a'], ['a', 'b'], ['b'])

Without levels, `train_files` (file -> share) is the mix of every round. Each file is walked in a
permutation seeded by (seed, file), each round taking the next problems, so rounds see fresh
problems until a file runs out (then it wraps).

Knows the config and task files; nothing about models, search or Ray.
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from selfplay.runfiles.runconfig import CurriculumConfig, RunConfig
from selfplay.tasks import Problem, load_problems


def split_counts(total: int, shares: Mapping[str, float], tie_order: Sequence[str] | None = None) -> dict[str, int]:
    """`total` cut in proportion to `shares` (largest remainder), summing exactly to `total`, in `shares`' order.

    The units left after rounding down go to the largest remainders; equal remainders go in
    `tie_order` (default: the order of `shares`).

    >>> split_counts(10, {"a": 2, "b": 1})
    {'a': 7, 'b': 3}
    >>> split_counts(3, {"b": 1, "a": 1}), split_counts(3, {"b": 1, "a": 1}, tie_order=["a", "b"])
    ({'b': 2, 'a': 1}, {'b': 1, 'a': 2})
    """
    weight = sum(shares.values())
    exact = {key: total * share / weight for key, share in shares.items()}
    counts = {key: int(value) for key, value in exact.items()}
    rank = {key: index for index, key in enumerate(shares if tie_order is None else tie_order)}
    by_remainder = sorted(shares, key=lambda key: (counts[key] - exact[key], rank[key]))
    for key in by_remainder[:total - sum(counts.values())]:
        counts[key] += 1
    return counts


def active_levels(config: CurriculumConfig, history: Sequence[Mapping[str, float]]) -> list[str]:
    """The levels a round samples, given the solved shares of the rounds before it (oldest first)."""
    active, retired = config.start, set()
    for rates in history:
        hardest = config.levels[active - 1]
        if rates.get(hardest, 0.0) >= config.promote_at and active < len(config.levels):
            active += 1
        retired |= {level for level, rate in rates.items() if rate >= config.retire_at}
        retired.discard(config.levels[active - 1])
    return [level for level in config.levels[:active] if level not in retired]


def round_plan(config: RunConfig, history: Sequence[Mapping[str, float]]) -> dict[str, int]:
    """Problems per train file for the round that follows `history`."""
    if not config.curriculum.levels:
        return split_counts(config.problems_per_round, config.train_files)
    return split_counts(config.problems_per_round, {level: 1.0 for level in active_levels(config.curriculum, history)})


def round_draw(config: RunConfig, round_index: int, history: Sequence[Mapping[str, float]]) -> dict[str, list[Problem]]:
    """Round `round_index`'s problems per train file (`history`: solved shares of rounds 1..K-1)."""
    taken: dict[str, int] = {}
    for earlier in range(1, round_index):
        for name, count in round_plan(config, history[:earlier - 1]).items():
            taken[name] = taken.get(name, 0) + count
    draw, seen = {}, set()
    for name, count in round_plan(config, history[:round_index - 1]).items():
        problems = load_problems(config.path(name))
        order = list(range(len(problems)))
        random.Random(f"{config.seed}:{name}").shuffle(order)
        start, chosen = taken.get(name, 0), []
        for offset in range(min(count, len(problems))):
            problem = problems[order[(start + offset) % len(problems)]]
            if problem.id not in seen:
                seen.add(problem.id)
                chosen.append(problem)
        draw[name] = chosen
    return draw


def solved_shares(draw: Mapping[str, Sequence[Problem]], trees: Sequence) -> dict[str, float]:
    """Per train file, the share of its problems whose tree (a `search.Tree`) holds a verified answer.

    >>> from search import Tree
    >>> from selfplay.tasks.countdown import make_problem
    >>> one, two = make_problem([2, 3], 6), make_problem([2, 5], 10)
    >>> trees = [Tree(problem_id=one.id), Tree(problem_id=two.id)]
    >>> for tree, passed in zip(trees, (True, False)):
    ...     tree.set_verdict(tree.add_node(0, "x", token_count=1, logprob=0.0, terminal=True), passed, 0.0, "")
    >>> solved_shares({"f": [one, two]}, trees)
    {'f': 0.5}
    """
    solved = {tree.problem_id for tree in trees if any(passed for _, passed in tree.graded())}
    return {name: round(sum(p.id in solved for p in problems) / len(problems), 4)
            for name, problems in draw.items() if problems}
