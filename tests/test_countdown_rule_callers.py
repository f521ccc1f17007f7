"""Every caller of the countdown checker passes the problem's rule: grading, the answer-time
check of deliberate search, and the TRL-style reward (columns or a Problem's meta)."""
import pytest

from selfplay.answering.deliberate import answer_check_for
from selfplay.answering.grading import grade
from selfplay.tasks.countdown.spec import CountdownCheck
from selfplay.tasks.countdown import make_problem
from verifiers.rewards import VerifierReward, verify_row

STANDARD = make_problem([25, 5, 4, 1], 80, use_all=True, level="std4")
EASY = make_problem([25, 5, 4, 1], 80)
LEAVES_ONE = "25-5=20\n20*4=80"  # 1 is never used
USES_ALL = "25-5=20\n20*4=80\n80*1=80"


def test_grading_follows_the_problem_rule():
    assert grade(EASY, LEAVES_ONE).passed and grade(EASY, USES_ALL).passed
    verdict = grade(STANDARD, LEAVES_ONE)
    assert verdict.status == "wrong" and "1 is left unused" in verdict.detail
    assert grade(STANDARD, USES_ALL).passed


def test_answer_time_check_follows_the_problem_rule():
    check = answer_check_for(STANDARD)
    assert check == CountdownCheck((25, 5, 4, 1), 80, use_all=True)
    assert check(LEAVES_ONE) == 0.0 and check(USES_ALL) == 1.0
    assert check.prefix("25-5=20\n20*4=80\n") is None  # 80 and 1 are left: one more step
    assert check.prefix("25-5=20\n20*5=100\n") == 0.0
    easy = answer_check_for(EASY)
    assert easy.use_all is False and easy(LEAVES_ONE) == 1.0


@pytest.mark.parametrize("columns, expected", [
    ({"numbers": [[25, 5, 4, 1]], "target": [80]}, [1.0]),
    ({"numbers": [[25, 5, 4, 1]], "target": [80], "use_all": [False]}, [1.0]),
    ({"numbers": [[25, 5, 4, 1]], "target": [80], "use_all": [True]}, [0.0]),
    ({"meta": [STANDARD.meta]}, [0.0]),
    ({"meta": [EASY.meta]}, [1.0]),
])
def test_reward_follows_the_row_rule(columns, expected):
    assert VerifierReward()(prompts=None, completions=[LEAVES_ONE], **columns) == expected


def test_reward_refuses_a_use_all_that_is_not_a_bool():
    with pytest.raises(ValueError, match="row 0: column 'use_all'"):
        VerifierReward()(prompts=None, completions=[LEAVES_ONE], numbers=[[25, 5, 4, 1]], target=[80], use_all=["yes"])
    assert verify_row(USES_ALL, STANDARD.to_dict()).passed
    assert not verify_row(LEAVES_ONE, STANDARD.to_dict()).passed
