"""The code world's levels (func_pipes) and their committed splits (pipe_splits)."""
import doctest
import random
from pathlib import Path

import pytest

from selfplay.answering.grading import grade
from selfplay.tasks import load_problems
from selfplay.tasks.funcs import pipes as func_pipes
from selfplay.tasks.funcs.pipes import (CHAINS, KIND, LEVELS, NEW_PAIRS, TAUGHT_PAIRS, draw_functions,
                                       draw_training, function_key, functions_of_shape, generate, make_problem)
from selfplay.tasks.funcs.pipe_splits import HARD, TEST_LARGE_EXTRA, level_splits
from selfplay.tasks.splits import SplitSizes, default_sizes, function_overlap, pool_seed, split_overlap

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
TRAIN_FILES = sorted(DATASETS.rglob("train.jsonl"))


def groups(problem):
    return tuple(KIND[name].group for name, _ in problem.meta["params"]["stages"])


def test_doctests():
    assert doctest.testmod(func_pipes).failed == 0


def test_the_reference_program_passes_its_examples_and_hidden_cases_in_the_sandbox():
    for problem in generate(4, seed=1, level="chains"):
        assert grade(problem, problem.meta["solution"]).passed
        examples = {**problem.tests, "cases": problem.meta["examples"]}
        assert grade(type(problem)(**{**problem.__dict__, "tests": examples}), problem.meta["solution"]).passed


def test_a_program_of_part_of_the_pipeline_fails_the_hidden_cases():
    for problem in generate(3, seed=2, level="pairs"):
        first_stage_only = func_pipes.render(tuple(tuple(stage) for stage in problem.meta["params"]["stages"][:1]))[0]
        assert not grade(problem, first_stage_only).passed


def test_visible_examples_are_never_hidden_cases_and_the_prompt_shows_them():
    for level in LEVELS:
        for problem in generate(5, seed=3, level=level):
            visible = [args for args, _ in problem.meta["examples"]]
            assert len(visible) == 3 and not any(args in visible for args, _ in problem.tests["cases"])
            low, high = LEVELS[level].hidden
            assert low <= len(problem.tests["cases"]) <= high
            for args, expected in problem.meta["examples"]:
                assert f">>> f({args[0]!r})\n{expected!r}" in problem.prompt


def test_levels_follow_their_shapes():
    assert not set(NEW_PAIRS) & set(TAUGHT_PAIRS) and len(NEW_PAIRS) == 8
    assert all(len(shape) == 3 and shape[0] != shape[1] != shape[2] for shape in CHAINS)
    for level, allowed in (("pipes", set(LEVELS["pipes"].shapes)), ("pairs", set(NEW_PAIRS)), ("chains", set(CHAINS))):
        assert {groups(p) for p in generate(60, seed=4, level=level)} <= allowed


def test_generate_is_deterministic_in_the_seed():
    assert generate(5, seed=7, level="pairs") == generate(5, seed=7, level="pairs")
    assert generate(5, seed=7, level="pairs") != generate(5, seed=8, level="pairs")
    with pytest.raises(ValueError, match="unknown level"):
        generate(1, seed=0, level="quads")


def test_held_out_functions_are_distinct_and_a_small_shape_keeps_most_for_training():
    taken = set()
    found = draw_functions(random.Random(0), [("order", "slice"), ("map", "filter")], 300, taken)
    keys = [function_key(p) for p in found]
    assert len(set(keys)) == 300 and set(keys) == taken
    small = sum(1 for p in found if KIND[p[0][0]].group == "order")
    assert small <= functions_of_shape(("order", "slice")) // 3
    train = draw_training(random.Random(1), [("order", "slice")], 200, taken)
    assert not {function_key(p) for p in train} & taken
    with pytest.raises(ValueError, match="fewer than"):
        draw_functions(random.Random(0), [("order", "slice")], 20, set())


def test_a_level_is_cut_by_function():
    splits = level_splits("pairs", pool_seed, 5, SplitSizes(train=40, dev=6, test=6))
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [40, 6, 6]
    keys = {split: {p.meta["function_key"] for p in problems} for split, problems in splits.items()}
    assert not keys["train"] & keys["dev"] and not keys["train"] & keys["test"] and not keys["dev"] & keys["test"]


def test_committed_sizes_and_levels():
    for level in LEVELS:
        for split in ("train", "dev", "test"):
            problems = load_problems(DATASETS / "funcs" / level / f"{split}.jsonl")
            assert len(problems) == getattr(default_sizes()[f"funcs/{level}"], split)
            assert {p.meta["level"] for p in problems} == {level}
    easy_dev = load_problems(DATASETS / "funcs" / "pipes" / "dev.jsonl")
    assert {groups(p) for p in easy_dev} <= set(TAUGHT_PAIRS)  # single stages are all trained on


def test_the_committed_hard_split_interleaves_its_levels_and_is_new_by_function():
    dev, test = (load_problems(DATASETS / HARD / f"{split}.jsonl") for split in ("dev", "test"))
    large = load_problems(DATASETS / HARD / "test-large.jsonl")
    assert len(dev) == len(test) == 200 and len(large) == 200 * (1 + TEST_LARGE_EXTRA) and large[:200] == test
    assert [p.meta["level"] for p in large] == ["pairs", "chains"] * 500
    held = [DATASETS / HARD / name for name in ("dev.jsonl", "test-large.jsonl")]
    assert function_overlap(held + TRAIN_FILES) == set()  # no hard function is in any train file
    assert split_overlap(held + TRAIN_FILES) == set()
    assert len({p.meta["function_key"] for p in large}) == len(large)
