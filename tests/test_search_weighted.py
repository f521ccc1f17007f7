"""Verifier-weighted majority on scripted answers: the scorer's values outweigh a bare count."""
import pytest

from search import Budget, SearchConfig, majority, weighted_majority
from tests.test_search_fakes import FakeScorer
from tests.test_search_strategies import answers_policy, final_number

ANSWERS = (("#### 5", -0.1), ("#### 5", -0.1), ("#### 7", -0.1), ("#### 5", -0.1), ("#### 7", -0.1))


def trusting_seven(text: str) -> float:
    return 0.9 if final_number(text) == "7" else 0.2


def test_a_trusted_minority_answer_outweighs_a_distrusted_majority():
    scorer = FakeScorer(trusting_seven)
    weighted = weighted_majority(answers_policy(*ANSWERS), "q", SearchConfig(num_samples=5), seed=0,
                                 scorer=scorer, answer_key=final_number)
    plain = majority(answers_policy(*ANSWERS), "q", SearchConfig(num_samples=5), seed=0, answer_key=final_number)
    assert plain.answer_text == "#### 5" and weighted.answer_text == "#### 7"  # 1.8 against 0.6
    assert scorer.calls == 1 and weighted.scorer_tokens == sum(len(t) + 3 for t, _ in ANSWERS)
    assert weighted.tree.value_sums[1:] == pytest.approx([0.2, 0.2, 0.9, 0.2, 0.9])


def test_without_a_scorer_or_a_budget_for_it_every_vote_weighs_one():
    bare = weighted_majority(answers_policy(*ANSWERS), "q", SearchConfig(num_samples=5), seed=0,
                             answer_key=final_number)
    assert bare.answer_text == "#### 5" and bare.tree.value_sums[1:] == [1.0] * 5
    # A budget that pays for the five answers (20 tokens) and not for scoring them (45 more).
    for allowance, winner in ((60, "#### 5"), (65, "#### 7")):
        result = weighted_majority(answers_policy(*ANSWERS), "q", SearchConfig(num_samples=5, max_step_tokens=2),
                                   seed=0, scorer=FakeScorer(trusting_seven), answer_key=final_number,
                                   budget=Budget(max_tokens=allowance))
        assert len(result.candidates) == 5 and result.answer_text == winner and result.tokens <= allowance
    with pytest.raises(ValueError, match="answer_key"):
        weighted_majority(answers_policy(*ANSWERS), "q", SearchConfig(), seed=0)
