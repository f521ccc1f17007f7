"""MCTS on bandit trees: golden trees, visit-count bookkeeping, priors, rollouts, the answer rule,
and finding a good leaf the policy itself rarely writes."""
import math

import pytest

from search import Budget, SearchConfig, beam, greedy, mcts, sample
from search.mcts import choose_answer, search_children
from search.choice_math import sibling_priors
from search.tree import ROOT_INDEX, Tree
from tests.test_search_fakes import (FakeScorer, Option, ScriptedPolicy, all_paths, bandit_options, bandit_policy,
                                     subtree_value, uniform_policy)

TWO_BY_TWO = {"a\na\n": 0.1, "a\nb\n": 0.6, "b\na\n": 0.9, "b\nb\n": 0.3}
RARE_ANSWER = "c\na\nb\n"  # prior 0.1 * 0.6 * 0.3 under the bandit below


def rare_check(text: str) -> float:
    return 1.0 if text == RARE_ANSWER else 0.0


def test_golden_mcts_tree():
    """Worked by hand: sim 1 expands the root (a .35, b .6); sim 2 picks a (PUCT .845 vs .812) and expands
    it; sim 3 picks b and samples 'a' twice (one child); sims 4-6 revisit the finished b-a (0.9)."""
    policy = bandit_policy(2, 2, [0.7, 0.3])
    config = SearchConfig(num_simulations=6, expansions_per_node=2, max_step_tokens=2, widening_visits=0, c_puct=1.0)
    result = mcts(policy, "q", config, seed=0, scorer=FakeScorer(subtree_value(TWO_BY_TWO)))
    tree = result.tree.to_dict()
    assert tree["parents"] == [-1, 0, 0, 1, 1, 2]
    assert tree["step_texts"] == ["", "a\n", "b\n", "a\n", "b\n", "a\n"]
    assert tree["visit_counts"] == [8, 3, 5, 1, 1, 4]
    assert tree["value_sums"] == pytest.approx([5.25, 1.05, 4.2, 0.1, 0.6, 3.6])
    assert tree["priors"] == pytest.approx([1.0, 0.7, 0.3, 0.7, 0.3, 1.0])
    assert tree["chosen"] == [True, False, True, False, False, True]
    assert tree["terminal"] == [False, False, False, True, True, True]
    assert tree["strategy"] == "mcts" and tree["format"] == "selfplay.tree/1"
    assert result.answer_text == "b\na\n" and policy.calls == [(1, 2)] * 3
    assert (result.policy_tokens, result.scorer_tokens, result.tokens) == (24, 31, 55)


def test_golden_beam_tree():
    values = {path: (index * 7 % 10) / 10 for index, path in enumerate(all_paths(3, 3))}
    result = beam(ScriptedPolicy(bandit_options(3, 3)), "q",
                  SearchConfig(beam_width=2, expansions_per_beam=2, max_step_tokens=2), seed=0,
                  scorer=FakeScorer(subtree_value(values)))
    tree = result.tree.to_dict()
    # Round 1 draws 2*2 steps from the root (a b c a: the second a merges); a and b are kept and
    # draw 2 each; ab and bb are kept and draw 2 each, all finished: 4 >= beam_width answers.
    assert tree["parents"] == [-1, 0, 0, 0, 1, 1, 2, 2, 5, 5, 7, 7]
    assert tree["step_texts"] == ["", "a\n", "b\n", "c\n"] + ["a\n", "b\n"] * 4
    assert tree["visit_counts"] == [0] + [1] * 11
    assert tree["value_sums"] == pytest.approx([0.0, 0.4667, 0.4333, 0.4, 0.3667, 0.4667, 0.3333, 0.4333, 0.1,
                                                0.8, 0.4, 0.1], abs=1e-4)
    assert tree["chosen"] == [True, True, False, False, False, True, False, False, False, True, False, False]
    assert result.answer_text == "a\nb\nb\n"


THREE_BY_THREE = {path: (index % 5) / 5 for index, path in enumerate(all_paths(3, 3))}


def run_bandit_mcts(seed: int, budget: Budget | None = None, check=rare_check, scorer=None, **overrides):
    config = SearchConfig(**{"num_simulations": 60, "expansions_per_node": 3, "max_step_tokens": 2, **overrides})
    policy = bandit_policy(3, 3, [0.6, 0.3, 0.1])
    return policy, mcts(policy, "q", config, seed=seed, budget=budget, answer_check=check, scorer=scorer)


@pytest.mark.parametrize("seed", range(4))
def test_visit_counts_add_up(seed):
    """visits[n] = sum of in-tree children's visits + own backups (1 at creation, +1 per revisit of a
    node that cannot grow, +1 per fruitless expansion); the root is never valued itself."""
    policy, result = run_bandit_mcts(seed, check=None, scorer=FakeScorer(subtree_value(THREE_BY_THREE)))
    tree = result.tree
    in_tree = [n for n in range(1, len(tree)) if not tree.rollout[n]]
    owns = {}
    for node in [ROOT_INDEX] + in_tree:
        below = sum(tree.visit_counts[c] for c in search_children(tree, node))
        owns[node] = tree.visit_counts[node] - below
        if node == ROOT_INDEX:
            assert owns[node] == 0
        elif tree.terminal[node]:
            assert owns[node] >= 1  # created, then revisited
        else:
            assert owns[node] == 1  # valued once, when created: no check, so nothing is settled
    expansions = len(policy.calls)
    revisits = 60 - expansions
    assert tree.visit_counts[ROOT_INDEX] == len(in_tree) + revisits == sum(owns.values())
    assert tree.value_sums[ROOT_INDEX] == pytest.approx(sum(tree.value_sums[c] for c in tree.children(ROOT_INDEX)))


def test_a_fruitless_expansion_backs_up_a_zero():
    """A root whose only step is a checked, failing answer: every re-expansion repeats it (no new
    child) and backs up one 0, so visits still add up and the tree keeps one child."""
    policy = ScriptedPolicy({(): [Option("x", -0.1, terminal=True)]})
    config = SearchConfig(num_simulations=12, expansions_per_node=2, max_step_tokens=2, widening_visits=1)
    result = mcts(policy, "q", config, seed=0, answer_check=lambda text: 0.0)
    tree = result.tree
    assert len(tree) == 2 and tree.answer_checks[1] == 0.0 and tree.value_sums == [0.0, 0.0]
    fruitless = len(policy.calls) - 1
    assert fruitless >= 2 and tree.visit_counts[ROOT_INDEX] == 12
    assert tree.visit_counts[1] == 12 - fruitless  # created once, then revisited by the other simulations


def test_priors_are_the_softmax_of_sibling_log_probs():
    _, result = run_bandit_mcts(0, prior_temperature=2.0)
    tree = result.tree
    for node in range(len(tree)):
        children = search_children(tree, node)
        if children:
            expected = sibling_priors([tree.logprobs[c] for c in children], 2.0)
            assert [tree.priors[c] for c in children] == pytest.approx(expected)


def test_finished_answers_are_worth_their_check():
    _, result = run_bandit_mcts(1)
    tree = result.tree
    for node in tree.terminals():
        assert tree.answer_checks[node] == rare_check(tree.answer_text(node))
        assert tree.mean_value(node) == tree.answer_checks[node]


@pytest.mark.parametrize("seed", range(5))
def test_mcts_finds_a_rare_passing_answer_given_enough_simulations(seed):
    _, result = run_bandit_mcts(seed, num_simulations=400, widening_visits=2)
    assert result.answer_text == RARE_ANSWER
    assert greedy(bandit_policy(3, 3, [0.6, 0.3, 0.1]), "q", SearchConfig(max_step_tokens=2), seed=seed
                  ).answer_text != RARE_ANSWER


def test_on_the_same_budget_mcts_finds_the_rare_answer_more_often_than_sampling():
    found_mcts = found_sample = 0
    for seed in range(10):
        budget = Budget.from_answers(40, tokens_per_answer=12)
        _, result = run_bandit_mcts(seed, budget, num_simulations=1000, widening_visits=2)
        found_mcts += result.answer_text == RARE_ANSWER
        sampled = sample(bandit_policy(3, 3, [0.6, 0.3, 0.1]), "q", SearchConfig(num_samples=40, max_step_tokens=2),
                         seed=seed, budget=budget)
        found_sample += any(sampled.tree.answer_text(n) == RARE_ANSWER for n in sampled.candidates)
        assert result.tokens <= 480 and sampled.tokens <= 480 and len(sampled.candidates) == 40
    assert found_mcts >= found_sample + 3  # measured: 10 of 10 against 4 of 10


def test_scorer_guided_mcts_finds_the_best_leaf_of_a_uniform_tree():
    rewards = {path: 0.1 + 0.6 * ((index * 5) % 9) / 9 for index, path in enumerate(all_paths(3, 3))}
    rewards["b\nc\na\n"] = 0.95
    for seed in range(3):
        result = mcts(uniform_policy(3, 3), "q", SearchConfig(num_simulations=300, expansions_per_node=3,
                                                              max_step_tokens=2, widening_visits=2), seed=seed,
                      scorer=FakeScorer(subtree_value(rewards)))
        assert result.answer_text == "b\nc\na\n"


def test_rollouts_value_new_nodes_by_the_answer_they_reach():
    policy = bandit_policy(3, 3, [0.6, 0.3, 0.1])
    config = SearchConfig(num_simulations=12, expansions_per_node=2, max_step_tokens=2, rollouts=True)
    result = mcts(policy, "q", config, seed=2, answer_check=lambda text: 1.0 if text.startswith("a\n") else 0.0)
    tree = result.tree
    rollout_nodes = [n for n in range(len(tree)) if tree.rollout[n]]
    assert rollout_nodes
    for node in range(1, len(tree)):
        if tree.rollout[node]:
            assert tree.visit_counts[node] == (1 if tree.terminal[node] else 0)
            continue
        if not tree.terminal[node]:  # valued at creation by its rollout's answer
            end = next(c for c in tree.children(node) if tree.rollout[c])
            while tree.children(end):
                end = next(c for c in tree.children(end) if tree.rollout[c])
            own = tree.visit_counts[node] - sum(tree.visit_counts[c] for c in search_children(tree, node))
            assert own == 1 and tree.answer_checks[end] == (1.0 if tree.answer_text(node).startswith("a\n") else 0.0)
    assert all(tree.answer_checks[n] == 1.0 for n in tree.terminals() if tree.answer_text(n).startswith("a\n"))


def test_mcts_stops_when_the_budget_does_not_fit_the_next_call():
    policy = bandit_policy(3, 3, [0.6, 0.3, 0.1])
    result = mcts(policy, "q", SearchConfig(num_simulations=100, expansions_per_node=3, max_step_tokens=2), seed=0,
                  budget=Budget(30), answer_check=rare_check)
    assert result.stopped_by_budget and result.tokens <= 30 and len(policy.calls) < 100


# --- the answer rule ---------------------------------------------------------------------------


def hand_tree() -> Tree:
    """root ─ 1 (unfinished, 5 visits) ─ 3 (finished, 4 visits, value .5)
            └ 2 (finished, 2 visits, value .9)"""
    tree = Tree(strategy="mcts")
    for parent, terminal in [(0, False), (0, True), (1, True)]:
        tree.add_node(parent, "x", token_count=1, logprob=-1.0, terminal=terminal)
    tree.visit_counts[:] = [7, 5, 2, 4]
    tree.value_sums[:] = [4.3, 2.5, 1.8, 2.0]
    return tree


def test_answer_rule_follows_the_most_visited_children():
    assert choose_answer(hand_tree()) == 3


def test_answer_rule_prefers_a_finished_answer_that_passed_the_check():
    tree = hand_tree()
    tree.answer_checks[2], tree.answer_checks[3] = 1.0, 0.0
    assert choose_answer(tree) == 2


def test_answer_rule_when_the_walk_stops_short_of_an_answer():
    tree = hand_tree()
    tree.add_node(1, "y", token_count=1, logprob=-1.0, terminal=False)
    tree.visit_counts[3], tree.visit_counts[4] = 1, 3  # the unfinished child now leads
    tree.value_sums[3] = 0.5
    assert choose_answer(tree) == 2  # best mean value among finished answers (.9 vs .5)
    unfinished = Tree()
    unfinished.add_node(0, "x", token_count=1, logprob=-1.0, terminal=False)
    unfinished.visit_counts[1] = 1
    assert choose_answer(unfinished) is None


def test_widening_samples_a_node_again_and_keeps_siblings_distinct():
    def root_children(widening_visits: int) -> list[str]:
        config = SearchConfig(num_simulations=40, expansions_per_node=1, max_step_tokens=2,
                              widening_visits=widening_visits)
        tree = mcts(uniform_policy(3, 3), "q", config, seed=0).tree
        for node in range(len(tree)):
            texts = [tree.step_texts[c] for c in search_children(tree, node)]
            assert len(texts) == len(set(texts))
        assert math.isclose(sum(tree.priors[c] for c in tree.children(ROOT_INDEX)), 1.0)
        return [tree.step_texts[c] for c in tree.children(ROOT_INDEX)]
    assert len(root_children(0)) == 1  # one expansion of one sample, never widened
    assert len(root_children(2)) == 3
