"""Pure search math: PUCT, priors, votes, ranking, widening, budget arithmetic (and the modules' doctests)."""
import doctest
import importlib
import math

import pytest

from search.budget import Budget, TokenMeter, expand_cost_bound
from search.config import SearchConfig
from search.mcts import expansions_due
from search.run import affordable_count, derive_seed
from search.choice_math import best_index, majority_vote, mean_token_probability, puct_score, sibling_priors


@pytest.mark.parametrize("name", ["choice_math", "budget", "run", "mcts"])
def test_doctests(name):
    # importlib: `search.mcts` the attribute is the function, the package re-exports it
    failures, tried = doctest.testmod(importlib.import_module(f"search.{name}"))
    assert tried > 0 and failures == 0


def test_puct_score_unvisited_child_is_pure_exploration():
    assert puct_score(prior=0.5, visit_count=0, value_sum=0.0, parent_visits=9, c_puct=2.0) == pytest.approx(3.0)


def test_puct_score_visited_child_adds_mean_value_and_shrinking_bonus():
    assert puct_score(0.25, visit_count=3, value_sum=1.5, parent_visits=16, c_puct=1.0) == pytest.approx(0.5 + 0.25)
    assert puct_score(0.25, visit_count=7, value_sum=3.5, parent_visits=16, c_puct=1.0) == pytest.approx(0.5 + 0.125)


def test_puct_score_c_zero_is_greedy_on_value_and_root_without_visits_has_no_bonus():
    assert puct_score(0.9, 2, 0.2, 100, c_puct=0.0) == pytest.approx(0.1)
    assert puct_score(0.9, 0, 0.0, 0, c_puct=5.0) == 0.0


def test_puct_prefers_the_higher_prior_among_unvisited_and_the_better_value_once_visited():
    assert puct_score(0.6, 0, 0.0, 4, 1.0) > puct_score(0.4, 0, 0.0, 4, 1.0)
    assert puct_score(0.4, 10, 9.0, 20, 1.0) > puct_score(0.6, 10, 2.0, 20, 1.0)


def test_sibling_priors_are_a_softmax_with_temperature():
    logprobs = [math.log(0.5), math.log(0.25), math.log(0.25)]
    assert sibling_priors(logprobs) == pytest.approx([0.5, 0.25, 0.25])
    hot = sibling_priors(logprobs, temperature=1e6)
    assert hot == pytest.approx([1 / 3] * 3, abs=1e-5)
    cold = sibling_priors(logprobs, temperature=0.01)
    assert cold[0] == pytest.approx(1.0)
    assert sum(sibling_priors([-300.0, -310.0, -900.0])) == pytest.approx(1.0)  # no underflow to 0/0
    assert sibling_priors([]) == []


def test_mean_token_probability():
    assert mean_token_probability(3 * math.log(0.2), 3) == pytest.approx(0.2)
    assert mean_token_probability(0.0, 0) == 1.0


def test_best_index_breaks_ties_to_the_earliest():
    assert best_index([(0.5,), (0.9,), (0.9,)]) == 1
    assert best_index([(1.0, -3), (1.0, -1)]) == 1
    with pytest.raises(ValueError):
        best_index([])


def test_majority_vote_counts_keys_and_ignores_none():
    assert majority_vote([None, "5", "7", "7", None, None]) == 2
    assert majority_vote(["5", "7", "7", "5"]) == 0  # tie: first drawn key
    assert majority_vote(["7", "5", "5", "7"]) == 0
    assert majority_vote([3, 4, 4, 3, 4]) == 1
    assert majority_vote([]) is None and majority_vote([None]) is None


def test_expansions_due_widens_sublinearly():
    assert [expansions_due(visits, 4) for visits in (0, 3, 4, 15, 16, 36, 64)] == [1, 1, 2, 2, 3, 4, 5]
    assert expansions_due(10 ** 6, 0) == 1


def test_budget_from_answers_and_validation():
    assert Budget.from_answers(16, tokens_per_answer=120).max_tokens == 1920
    assert Budget.unlimited().max_tokens is None
    for bad in [(0, 10), (4, 0)]:
        with pytest.raises(ValueError):
            Budget.from_answers(*bad)
    with pytest.raises(ValueError):
        Budget(-1)


def test_expand_cost_bound_counts_decode_and_prefill():
    # two states, 3 samples, 10-token steps: decode 60; cache reuse feeds only unfed tokens
    assert expand_cost_bound([50, 58], [50, 8], 3, 10, reuse_cache=True) == 60 + 58
    assert expand_cost_bound([50, 58], [50, 8], 3, 10, reuse_cache=False) == 60 + 3 * 108
    assert expand_cost_bound([], [], 3, 10, reuse_cache=True) == 0


def test_token_meter_tracks_both_counters_and_refusals():
    policy_tokens, scorer_tokens = [100], [40]
    meter = TokenMeter(Budget(50), lambda: policy_tokens[0], lambda: scorer_tokens[0])
    assert meter.spent == 0 and meter.remaining == 50 and meter.fits(50) and not meter.stopped
    policy_tokens[0], scorer_tokens[0] = 120, 45
    assert (meter.policy_spent, meter.scorer_spent, meter.spent, meter.remaining) == (20, 5, 25, 25)
    assert not meter.fits(26) and meter.stopped
    unlimited = TokenMeter(None, lambda: 0)
    assert unlimited.remaining is None and unlimited.fits(10 ** 12)


def test_affordable_count_takes_a_prefix():
    assert affordable_count([5, 5, 5], 15) == 3
    assert affordable_count([5, 5, 5], 14) == 2
    assert affordable_count([20, 1], 10) == 0
    assert affordable_count([20, 1], None) == 2


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(0, 3, "expand") == derive_seed(0, 3, "expand")
    seeds = {derive_seed(seed, node, purpose) for seed in (0, 1) for node in (0, 1) for purpose in ("a", "b")}
    assert len(seeds) == 8 and all(0 <= seed < 2 ** 63 for seed in seeds)


@pytest.mark.parametrize("field, value", [("max_depth", 0), ("num_samples", 0), ("temperature", -0.1),
                                          ("top_p", 0.0), ("top_p", 1.5), ("c_puct", -1.0),
                                          ("prior_temperature", 0.0), ("widening_visits", -1)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        SearchConfig(**{field: value})
