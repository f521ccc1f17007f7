"""Every strategy under every budget: never over the allowance, honest token reports, replayable by seed."""
import dataclasses
import itertools
import math

import pytest

from search import STRATEGIES, Budget, SearchConfig
from search.tree import Tree
from tests.test_search_fakes import FakePolicy, FakeScorer, Option, uniform_policy

BUDGETED = [name for name in STRATEGIES if name != "greedy"]
CONFIG = SearchConfig(max_depth=4, max_step_tokens=3, num_samples=6, beam_width=3, expansions_per_beam=3,
                      num_simulations=30, expansions_per_node=3, widening_visits=3)


def ragged_options(steps: tuple[str, ...]) -> list[Option]:
    """Steps of 1 to 4 tokens (4 is over the 3-token cap: cut, and the answer ends there); some end early."""
    depth = len(steps)
    return [Option(f"s{depth}{index}\n", math.log(probability), n_tokens=1 + (index + depth) % 4,
                   terminal=(index + depth) % 3 == 2)
            for index, probability in enumerate([0.4, 0.3, 0.2, 0.1])]


def answer_check(text: str) -> float | None:
    return None if "s00" in text else float(len(text) % 2)


def answer_key(text: str):
    return text.splitlines()[-1] if text else None


def run(strategy: str, *, seed: int, budget: Budget | None, reuse_cache: bool = True, with_scorer: bool = True,
        rollouts: bool = False):
    policy = FakePolicy(ragged_options, prompt_tokens=7, reuse_cache=reuse_cache)
    policy.usage.prefill_tokens = 1000  # what the policy spent before this search: not ours
    scorer = FakeScorer(lambda text: (len(text) % 5) / 4) if with_scorer else None
    config = dataclasses.replace(CONFIG, rollouts=rollouts)
    result = STRATEGIES[strategy](policy, "question", config, seed=seed, budget=budget, scorer=scorer,
                                  answer_check=answer_check, answer_key=answer_key)
    return policy, scorer, result


BUDGETS = [0, 3, 11, 17, 30, 60, 120, 250, 600]


@pytest.mark.parametrize("strategy", BUDGETED)
@pytest.mark.parametrize("reuse_cache, with_scorer", list(itertools.product([True, False], repeat=2)))
def test_budget_is_never_exceeded_and_spending_is_reported_exactly(strategy, reuse_cache, with_scorer):
    for allowance, seed in itertools.product(BUDGETS, range(3)):
        policy, scorer, result = run(strategy, seed=seed, budget=Budget(allowance), reuse_cache=reuse_cache,
                                     with_scorer=with_scorer, rollouts=seed == 2)
        scorer_tokens = scorer.usage.total_tokens if scorer else 0
        assert result.policy_tokens == policy.usage.total_tokens - 1000
        assert result.scorer_tokens == scorer_tokens
        assert result.tokens == result.policy_tokens + result.scorer_tokens <= allowance, (allowance, seed)
        if allowance == 0:
            assert len(result.tree) == 1 and policy.calls == [] and result.answer_node is None
        if result.answer_node is not None:
            assert result.answer_text == result.tree.answer_text(result.answer_node)
            assert result.tree.chosen_node() == result.answer_node
        assert Tree.from_dict(result.tree.to_dict()).to_dict() == result.tree.to_dict()


def test_a_large_budget_is_not_what_stops_a_search():
    for strategy in BUDGETED:
        _, _, result = run(strategy, seed=0, budget=Budget(10 ** 6))
        assert not result.stopped_by_budget and result.answer_node is not None


def test_greedy_ignores_the_budget():
    _, _, result = run("greedy", seed=0, budget=Budget(0))
    assert result.tokens > 0 and result.answer_node is not None and not result.stopped_by_budget


def test_whole_answer_strategies_start_no_more_answers_than_the_budget_pays_for():
    policy = uniform_policy(3, 2)
    config = SearchConfig(num_samples=50, max_step_tokens=2)
    result = STRATEGIES["sample"](policy, "q", config, seed=0, budget=Budget.from_answers(4, tokens_per_answer=20))
    assert len(result.tree.children(0)) == 4 and len(result.candidates) == 4


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_same_seed_same_tree(strategy):
    first = run(strategy, seed=11, budget=Budget(400), rollouts=True)[2]
    again = run(strategy, seed=11, budget=Budget(400), rollouts=True)[2]
    assert first.tree.to_dict() == again.tree.to_dict()
    assert (first.answer_node, first.tokens) == (again.answer_node, again.tokens)


@pytest.mark.parametrize("strategy", ["sample", "majority", "best_of_n", "beam", "mcts"])
def test_another_seed_grows_another_tree(strategy):
    trees = {str(run(strategy, seed=seed, budget=Budget(400))[2].tree.to_dict()) for seed in range(4)}
    assert len(trees) > 1
