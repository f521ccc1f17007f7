"""greedy, sample, majority, best_of_n and beam on fake policies with known answers."""
import math

import pytest

from search import STRATEGIES, Budget, SearchConfig, beam, best_of_n, greedy, majority, sample
from search.tree import ROOT_INDEX
from tests.test_search_fakes import FakeScorer, Option, ScriptedPolicy, bandit_options, bandit_policy, uniform_policy

SMALL_STEPS = SearchConfig(max_step_tokens=2)


def answers_policy(*answers: tuple[str, float]) -> ScriptedPolicy:
    """One-step answers handed out in this order: (text, log-prob)."""
    return ScriptedPolicy({(): [Option(text, logprob, n_tokens=2, terminal=True) for text, logprob in answers]})


def final_number(text: str):
    return text.split("####")[-1].strip() if "####" in text else None


def test_registry_names_every_strategy():
    assert list(STRATEGIES) == ["greedy", "sample", "majority", "best_of_n", "beam", "mcts", "weighted_majority"]


# --- greedy ------------------------------------------------------------------------------------


def test_greedy_follows_the_most_likely_step_to_the_end():
    policy = bandit_policy(3, 3, [0.2, 0.5, 0.3])
    result = greedy(policy, "q", SMALL_STEPS, seed=0)
    assert result.answer_text == "b\nb\nb\n" and result.answer_node == 3
    assert result.tree.parents == [-1, 0, 1, 2] and result.tree.terminal == [False, False, False, True]
    assert result.tree.chosen == [True] * 4 and result.candidates == [3]
    assert result.tokens == policy.usage.total_tokens == 10 + 1 + 1 + 3 * 2
    assert result.policy_calls == 3 and policy.calls == [(1, 1)] * 3


def test_greedy_ignores_the_budget_and_stops_at_the_depth_cap():
    result = greedy(bandit_policy(3, 3, [0.2, 0.5, 0.3]), "q", SMALL_STEPS, seed=0, budget=Budget(1))
    assert result.answer_text == "b\nb\nb\n" and not result.stopped_by_budget
    capped = greedy(bandit_policy(3, 3, [0.2, 0.5, 0.3]), "q", SearchConfig(max_depth=2, max_step_tokens=2), seed=0)
    assert capped.answer_text == "b\nb\n" and capped.candidates == [] and len(capped.tree) == 3


# --- sample ------------------------------------------------------------------------------------


def test_sample_draws_separate_chains_and_returns_every_answer():
    policy = uniform_policy(3, 2)
    result = sample(policy, "q", SearchConfig(num_samples=5, max_step_tokens=2), seed=3)
    tree = result.tree
    assert len(tree.children(ROOT_INDEX)) == 5 and len(tree) == 11
    assert result.candidates == tree.leaves() == tree.terminals() and len(result.candidates) == 5
    assert policy.calls == [(1, 5), (5, 1)]
    assert result.answer_node == result.candidates[0] and tree.chosen_node() == result.candidates[0]


def test_sample_under_a_tight_budget_finishes_the_earliest_chains_first():
    # prompt 10 + 8 first steps of 2 tokens = 26; each second step costs at most 2 unfed + 2 decoded
    policy = uniform_policy(3, 2)
    result = sample(policy, "q", SearchConfig(num_samples=8, max_step_tokens=2), seed=0, budget=Budget(26 + 3 * 4))
    first_steps = result.tree.children(ROOT_INDEX)
    assert len(first_steps) == 8 and result.stopped_by_budget
    assert [result.tree.parents[n] for n in result.candidates] == first_steps[:3]
    assert result.tokens == policy.usage.total_tokens == 26 + 3 * 3 <= 38


# --- majority ----------------------------------------------------------------------------------


def test_majority_picks_the_most_common_final_answer():
    policy = answers_policy(("#### 7", -0.1), ("#### 5", -3.0), ("no idea", -0.2), ("#### 5", -2.0), ("#### 9", -1.0))
    result = majority(policy, "q", SearchConfig(num_samples=5), seed=0, answer_key=final_number)
    assert result.answer_text == "#### 5" and result.answer_node == 2  # the first "5" drawn
    assert result.candidates == [1, 2, 3, 4, 5]
    assert result.tree.value_sums[1:] == pytest.approx([0.25, 0.5, 0.0, 0.5, 0.25])  # vote shares


def test_majority_tie_goes_to_the_answer_drawn_first_and_needs_a_key():
    policy = answers_policy(("#### 7", -0.1), ("#### 5", -0.1), ("#### 5", -0.1), ("#### 7", -0.1))
    assert majority(policy, "q", SearchConfig(num_samples=4), seed=0, answer_key=final_number).answer_text == "#### 7"
    nothing = majority(answers_policy(("hmm", -1.0)), "q", SearchConfig(num_samples=3), seed=0, answer_key=final_number)
    assert nothing.answer_text is None and nothing.answer_node is None and not any(nothing.tree.chosen)
    with pytest.raises(ValueError, match="answer_key"):
        majority(answers_policy(("#### 1", -1.0)), "q", SearchConfig(), seed=0)


# --- best_of_n ---------------------------------------------------------------------------------


def test_best_of_n_prefers_the_answer_that_passes_the_check():
    policy = answers_policy(("#### 7", -0.1), ("#### 5", -5.0), ("#### 9", -0.5))
    scorer = FakeScorer(lambda text: 0.9)
    result = best_of_n(policy, "q", SearchConfig(num_samples=3), seed=0, scorer=scorer,
                       answer_check=lambda text: 1.0 if final_number(text) == "5" else 0.0)
    assert result.answer_text == "#### 5"
    assert scorer.calls == 0 and result.scorer_tokens == 0  # one answer passed: nothing left to break
    assert result.tree.answer_checks[1:] == [0.0, 1.0, 0.0] and result.tree.value_sums[1:] == [0.0, 1.0, 0.0]


def test_best_of_n_breaks_ties_among_passing_answers_with_the_scorer_only():
    policy = answers_policy(("#### 5a", -0.1), ("#### 5b", -3.0), ("#### 7", -0.2))
    scorer = FakeScorer(lambda text: 0.8 if text.endswith("b") else 0.3)
    result = best_of_n(policy, "q", SearchConfig(num_samples=3), seed=0, scorer=scorer,
                       answer_check=lambda text: 1.0 if "5" in text else 0.0)
    assert result.answer_text == "#### 5b"
    assert scorer.calls == 1 and result.tree.scores[1:] == [0.3, 0.8, None]
    assert result.tokens == policy.usage.total_tokens + scorer.usage.total_tokens and result.scorer_tokens > 0


def test_best_of_n_without_check_uses_the_scorer_then_log_probs():
    policy = answers_policy(("#### 1", -0.4), ("#### 2", -0.2), ("#### 3", -2.0))
    by_score = best_of_n(policy, "q", SearchConfig(num_samples=3), seed=0,
                         scorer=FakeScorer(lambda text: 1.0 if text.endswith("3") else 0.0))
    assert by_score.answer_text == "#### 3"
    by_logprob = best_of_n(answers_policy(("#### 1", -0.4), ("#### 2", -0.2), ("#### 3", -2.0)), "q",
                           SearchConfig(num_samples=3), seed=0)
    assert by_logprob.answer_text == "#### 2"
    assert by_logprob.tree.value_sums[2] == pytest.approx(math.exp(-0.1))
    unknown = best_of_n(answers_policy(("#### 1", -0.4), ("#### 2", -0.2)), "q", SearchConfig(num_samples=2),
                        seed=0, answer_check=lambda text: None)  # a task without a check: falls through
    assert unknown.answer_text == "#### 2"


# --- beam --------------------------------------------------------------------------------------

BEAM_VALUES = {"a\n": 0.2, "b\n": 0.9, "c\n": 0.5,
               "b\na\n": 0.3, "b\nb\n": 0.8, "b\nc\n": 0.1, "c\na\n": 0.95, "c\nb\n": 0.4, "c\nc\n": 0.2,
               "c\na\nb\n": 0.7, "b\nb\nc\n": 0.85}


def beam_value(text: str) -> float:
    return BEAM_VALUES.get(text, 0.05)


def test_beam_keeps_the_best_width_paths_at_every_depth():
    policy = ScriptedPolicy(bandit_options(3, 3))  # every expansion of 3 hands out a, b, c
    scorer = FakeScorer(beam_value)
    config = SearchConfig(beam_width=2, expansions_per_beam=3, max_step_tokens=2)
    result = beam(policy, "q", config, seed=0, scorer=scorer)
    tree = result.tree
    by_depth = {depth: [n for n in range(len(tree)) if tree.depths[n] == depth] for depth in (1, 2, 3)}
    assert [tree.answer_text(n) for n in by_depth[1]] == ["a\n", "b\n", "c\n"]
    expanded_at_1 = sorted({tree.answer_text(tree.parents[n]) for n in by_depth[2]})
    expanded_at_2 = sorted({tree.answer_text(tree.parents[n]) for n in by_depth[3]})
    assert expanded_at_1 == ["b\n", "c\n"] and expanded_at_2 == ["b\nb\n", "c\na\n"]
    assert policy.calls == [(1, 6), (2, 3), (2, 3)]  # width x expansions draws per round, one call each
    assert result.answer_text == "b\nb\nc\n" and tree.chosen_node() == result.answer_node
    assert len(result.candidates) == 6 and all(tree.terminal[n] for n in result.candidates)
    assert all(tree.visit_counts[n] == 1 and tree.value_sums[n] == tree.scores[n] for n in range(1, len(tree)))


def test_beam_values_finished_answers_by_the_check_and_merges_repeated_steps():
    policy = bandit_policy(3, 2, [0.5, 0.3, 0.2])
    config = SearchConfig(beam_width=3, expansions_per_beam=6, max_step_tokens=2)
    result = beam(policy, "q", config, seed=1, answer_check=lambda text: 1.0 if text == "c\nc\n" else 0.0)
    tree = result.tree
    for node in range(len(tree)):
        texts = [tree.step_texts[c] for c in tree.children(node)]
        assert len(texts) == len(set(texts))
    assert result.answer_text == "c\nc\n"
    assert all(tree.value_sums[n] == tree.answer_checks[n] for n in tree.terminals())


def test_beam_without_scorer_follows_the_policys_confidence():
    result = beam(bandit_policy(3, 3, [0.6, 0.3, 0.1]), "q", SearchConfig(beam_width=2, max_step_tokens=2), seed=0)
    assert result.answer_text == "a\na\na\n"


# --- answer-time pruning and stopping ------------------------------------------------------------


class PrefixCheck:
    """Passes 'b\\nb\\n'; any path through a 'c' step is ruled out as soon as it is written."""

    def __call__(self, text: str) -> float:
        return 1.0 if text == "b\nb\n" else 0.0

    def prefix(self, text: str) -> float | None:
        return 0.0 if "c" in text else None


@pytest.mark.parametrize("strategy", ["best_of_n", "beam", "mcts"])
def test_ruled_out_paths_are_valued_zero_and_never_grown(strategy):
    policy = uniform_policy(3, 2)
    config = SearchConfig(max_step_tokens=2, num_samples=12, beam_width=3, num_simulations=40, stop_at_pass=False)
    result = STRATEGIES[strategy](policy, "q", config, seed=3, answer_check=PrefixCheck())
    tree = result.tree
    dead = [n for n in range(1, len(tree)) if not tree.terminal[n] and tree.step_texts[n] == "c\n"]
    assert dead, "the uniform policy writes 'c' first some of the time"
    for node in dead:
        assert tree.answer_checks[node] == 0.0 and tree.children(node) == []
        if tree.visit_counts[node]:
            assert tree.mean_value(node) == 0.0
    assert result.answer_text == "b\nb\n"


@pytest.mark.parametrize("strategy", ["beam", "mcts"])
def test_search_stops_once_an_answer_passes_the_check(strategy):
    def run(stop: bool):
        config = SearchConfig(max_step_tokens=2, num_samples=16, beam_width=8, num_simulations=200,
                              stop_at_pass=stop)
        return STRATEGIES[strategy](uniform_policy(3, 2), "q", config, seed=1, answer_check=PrefixCheck())
    stopping, exhaustive = run(True), run(False)
    assert stopping.answer_text == exhaustive.answer_text == "b\nb\n"
    assert stopping.tokens < exhaustive.tokens
    passed = [n for n in stopping.tree.terminals() if stopping.tree.answer_checks[n] == 1.0]
    assert len(passed) == 1


def test_best_of_n_stops_drawing_once_a_finished_answer_passes():
    def run(stop: bool):
        script = {(): [Option("a\n", -1.0, terminal=True), Option("b\n", -1.0)], ("b\n",): [Option("b\n", -1.0)],
                  ("b\n", "b\n"): [Option("b\n", -1.0, terminal=True)]}
        config = SearchConfig(max_step_tokens=2, num_samples=2, stop_at_pass=stop)
        return best_of_n(ScriptedPolicy(script), "q", config, seed=0, answer_check=lambda t: float(t == "a\n"))
    stopping, exhaustive = run(True), run(False)
    assert stopping.answer_text == exhaustive.answer_text == "a\n"
    assert stopping.policy_calls == 1 and exhaustive.policy_calls == 3 and stopping.tokens < exhaustive.tokens


def test_beam_starts_again_from_the_prompt_when_every_path_dies():
    # The first draws from the root are all ruled out ('c'); the restart draws again and finds b-b.
    script = {(): [Option("c\n", -0.1)] * 4 + [Option("b\n", -2.0)],
              ("b\n",): [Option("b\n", -0.1, terminal=True)]}
    policy = ScriptedPolicy(script)
    config = SearchConfig(max_step_tokens=2, beam_width=1, expansions_per_beam=4)
    result = beam(policy, "q", config, seed=0, answer_check=PrefixCheck())
    assert result.answer_text == "b\nb\n"
    assert policy.calls[0] == (1, 4) and policy.calls[1] == (1, 4)  # round 2 redraws at the root
