"""The curriculum: which levels a round samples, fresh problems per level, and replays of the draw."""
import doctest
import json

import pytest

from search import Tree
from selfplay.loop import curriculum
from selfplay.loop.curriculum import active_levels, round_draw, round_plan, solved_shares
from selfplay.runfiles.runconfig import ConfigError, CurriculumConfig, from_dict

LEVELS = ["datasets/countdown/std3/train.jsonl", "datasets/countdown/std4/train.jsonl",
          "datasets/countdown/std5/train.jsonl"]


def test_doctests():
    assert doctest.testmod(curriculum).failed == 0


def test_levels_join_when_the_hardest_active_one_is_mastered_and_easy_ones_retire():
    config = CurriculumConfig(levels=("a", "b", "c"), start=1, promote_at=0.5, retire_at=0.9)
    assert active_levels(config, [{"a": 0.4}]) == ["a"]  # not yet
    assert active_levels(config, [{"a": 0.5}]) == ["a", "b"]
    assert active_levels(config, [{"a": 0.5}, {"a": 0.7, "b": 0.5}]) == ["a", "b", "c"]
    assert active_levels(config, [{"a": 0.5}, {"a": 0.92, "b": 0.1}]) == ["b"]  # a retires, b is the frontier
    # The hardest level never retires, and nothing joins past the last level.
    assert active_levels(config, [{"a": 1.0}, {"a": 1.0, "b": 1.0}, {"b": 1.0, "c": 1.0}]) == ["c"]


def test_config_is_checked():
    with pytest.raises(ConfigError, match="start"):
        CurriculumConfig(levels=("a",), start=2)
    with pytest.raises(ConfigError, match="start"):
        CurriculumConfig(levels=("a", "b"))  # the default start (3, of the default preset's four levels)
    with pytest.raises(ConfigError, match="promote_at"):
        CurriculumConfig(levels=("a", "b"), start=1, promote_at=0.9, retire_at=0.5)
    with pytest.raises(ConfigError, match="twice"):
        CurriculumConfig(levels=("a", "a"))


def test_rounds_draw_fresh_problems_per_level_and_replay_the_same_draw():
    config = from_dict({"problems_per_round": 10, "seed": 3,
                        "curriculum": {"levels": LEVELS, "start": 2, "promote_at": 0.5}})
    first = round_draw(config, 1, [])
    assert {name: len(problems) for name, problems in first.items()} == {LEVELS[0]: 5, LEVELS[1]: 5}
    history = [{LEVELS[0]: 0.8, LEVELS[1]: 0.6}]
    second = round_draw(config, 2, history)
    assert round_plan(config, history) == {LEVELS[0]: 4, LEVELS[1]: 3, LEVELS[2]: 3}  # std5 joined
    seen = {p.id for problems in first.values() for p in problems}
    assert not seen & {p.id for problems in second.values() for p in problems}  # fresh problems
    assert {n: [p.id for p in ps] for n, ps in round_draw(config, 2, history).items()} == \
        {n: [p.id for p in ps] for n, ps in second.items()}  # a resumed round draws the same
    assert all(p.meta.get("use_all") for problems in second.values() for p in problems)


def test_without_levels_the_train_files_are_the_mix():
    config = from_dict({"problems_per_round": 6, "train_files": {"datasets/countdown/train.jsonl": 1.0},
                        "curriculum": {"levels": []}})
    assert round_plan(config, [{"x": 1.0}]) == {"datasets/countdown/train.jsonl": 6}


def test_solved_shares_count_problems_with_a_verified_answer():
    config = from_dict({"problems_per_round": 4, "curriculum": {"levels": LEVELS[:1], "start": 1}})
    draw = round_draw(config, 1, [])
    (problems,) = draw.values()
    trees = [Tree(problem_id=p.id) for p in problems]
    for index, tree in enumerate(trees):
        tree.set_verdict(tree.add_node(0, "x", token_count=1, logprob=0.0, terminal=True), index == 0, 0.0, "")
    assert solved_shares(draw, trees) == {LEVELS[0]: 0.25}
    json.dumps(solved_shares(draw, trees))  # goes into metrics.json as it is
