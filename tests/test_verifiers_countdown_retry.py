"""The countdown verifier on answers that search in their own text: `retry` lines, the last attempt graded."""
import pytest

from verifiers import countdown
from verifiers.countdown import check_countdown

SEARCH = "25+5=30 [4 30]\n30*4=120 [120]\nretry\n25-5=20 [4 20]\n20*4=80 [80]"


@pytest.mark.parametrize("solution", [
    SEARCH,
    "<<25+5=30>> [4 30]\n<<30*4=120>> [120]\n  retry \t\n\n<<25-5=20>> [4 20]\n<<20*4=80>> [80]",
    "25*4=100\nretry\n25+4=29\nretry\n25-5=20\n20*4=80",  # abandoned attempts need not be finished
    "25-5=20\n20*4=80\nretry\n25-5=20\n20*4=80",  # an attempt that had made the target may be redone
])
def test_the_last_attempt_of_a_search_is_graded(solution):
    verdict = check_countdown([25, 5, 4], 80, solution, use_all=True)
    assert verdict.passed, verdict.detail
    assert "on attempt" in verdict.detail


@pytest.mark.parametrize("solution, status, reason", [
    ("25-5=20\n20*4=80\nretry\n25+5=30\n30*4=120", "wrong", "gives 120, not the target 80"),  # the last counts
    ("retry\n25-5=20\n20*4=80", "invalid", "line 1: retry must follow"),
    ("25+5=30\nretry\nretry\n25-5=20\n20*4=80", "invalid", "line 3: retry must follow"),
    ("25-5=20\n20*4=80\nretry", "invalid", "ends with retry"),
    ("25-5=20\n20*4=80\nretry\n\n", "invalid", "ends with retry"),
    ("25+5=31\nretry\n25-5=20\n20*4=80", "wrong", "line 1: 25+5 is 30, not 31 (an abandoned attempt)"),
    ("99+1=100\nretry\n25-5=20\n20*4=80", "wrong", "99 is not available (an abandoned attempt)"),
    ("25+5=30 [4 31]\nretry\n25-5=20\n20*4=80", "wrong", "the numbers left are [4 30]"),
    ("25+5=30\nRetry\n25-5=20\n20*4=80", "invalid", "line 2 is not a step: 'Retry'"),
    ("25+5=30\nretry: 25-5=20\n20*4=80", "invalid", "not a step"),
    ("25+5=30\n<<retry>>\n25-5=20\n20*4=80", "invalid", "not a step"),
    ("25+5=30 retry\n25-5=20\n20*4=80", "invalid", "not a step"),
    ("25-5=20\nretry\n20*4=80", "wrong", "20 is not available"),  # nothing carries over a retry
])
def test_a_search_that_breaks_a_rule_fails(solution, status, reason):
    verdict = check_countdown([25, 5, 4], 80, solution, use_all=True)
    assert (verdict.status, reason in verdict.detail) == (status, True), verdict.detail


def test_every_prefix_of_a_passing_search_stays_open():
    lines = SEARCH.splitlines(keepends=True)
    for cut in range(len(lines)):
        assert countdown.prefix_error([25, 5, 4], 80, "".join(lines[:cut]), use_all=True) is None


def test_many_attempts_are_read_in_time_and_bounded_by_the_answer_size():
    attempt = "25+5=30\n30*4=120\nretry\n"
    long_search = attempt * 300 + "25-5=20\n20*4=80"
    assert check_countdown([25, 5, 4], 80, long_search).passed  # a long search is still a search
    too_long = attempt * 2000 + "25-5=20\n20*4=80"
    assert check_countdown([25, 5, 4], 80, too_long).status == "invalid"  # over MAX_SOLUTION_CHARS, unread


@pytest.mark.parametrize("partial", ["25-5=20\n20*4=80\n", "25+5=30\n30*4=120\nretry\n", "25+5=30\nretry\n25-5=20\n"])
def test_a_path_that_may_go_on_with_a_retry_stays_open(partial):
    assert countdown.prefix_error([25, 5, 4], 80, partial) is None  # every number used: `retry` may follow


def test_a_writer_that_does_not_retry_is_cut_off_when_no_step_is_left():
    assert "fewer than two numbers" in countdown.prefix_error([25, 5, 4], 80, "25-5=20\n20*4=80\n", retries=False)
    assert countdown.prefix_error([25, 5, 4], 80, "25-5=20\n20*4=80\nretry\n", retries=False) is None
    assert countdown.prefix_error([25, 5, 4], 80, "25-5=20\n", retries=False) is None
