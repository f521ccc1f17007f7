"""Tests for verifiers.countdown: each rule of a countdown solution, strict line format,
input validation, and hostile solutions that must be answered fast and never pass."""
from __future__ import annotations

import doctest
import time

import pytest

import verifiers.countdown as countdown
from verifiers.countdown import Step, check_countdown, parse_step, prefix_error, step_error
from verifiers.math import check_countdown as reexported


def test_docstring_examples_hold():
    result = doctest.testmod(countdown)
    assert result.attempted > 0 and result.failed == 0


def test_math_reexports_the_same_checker():
    assert reexported is check_countdown


@pytest.mark.parametrize("numbers, target, solution", [
    ([25, 5, 4], 80, "25-5=20\n20*4=80"),
    ([25, 5, 4], 80, " 25 - 5 = 20 \n\n\t20 * 4 = 80\n"),  # spaces, tabs, blank lines
    ([25, 5, 4], 80, "25-5=20\r\n20*4=80\r\n"),  # Windows line ends
    ([6, 3, 5], 10, "6\u00f73=2\n2\u00d75=10"),  # ÷ and ×
    ([6, 3, 5], 10, "6/3=2\n2x5=10"),
    ([9, 4], 5, "9\u22124=5"),  # − (U+2212)
    ([5, 5, 2], 50, "5*5=25\n25*2=50"),  # a repeated given number may be used twice
    ([3, 4, 7], 7, "3+4=7"),  # not every number has to be used
    ([25, 5, 4, 1], 80, "25-5=20\n20*4=80\n80*1=80"),  # the last step reaches the target
    ([7, 7], 1, "7/7=1"),
    ([99999999, 99999999], 1, "99999999/99999999=1"),
])
def test_valid_solutions_pass(numbers, target, solution):
    verdict = check_countdown(numbers, target, solution)
    assert verdict.passed and verdict.status == "passed" and verdict.score == 1.0


@pytest.mark.parametrize("numbers, target, solution, line", [
    ([5, 2], 50, "5*5=25\n25*2=50", 1),  # one 5 given, used twice
    ([2, 3, 7], 12, "2*3=6\n6+6=12", 2),  # a result consumed twice
    ([25, 5, 4], 80, "25-6=19\n19*4=76", 1),  # 6 was never given
    ([25, 5, 4], 80, "25-5=20\n20*3=60", 2),  # 3 was never given
    ([25, 5, 4], 80, "25-5=21", 1),  # false arithmetic
    ([25, 5, 4], 80, "25-5=20\n20*4=81", 2),
    ([7, 2, 3], 3, "7/2=3", 1),  # inexact division
    ([25, 5, 4], 5, "5/0=0", 1),  # division by zero
    ([5, 25, 4], 80, "5-25=-20", 1),  # a negative intermediate
    ([5, 5, 4], 4, "5-5=0\n0+4=4", 1),  # a zero intermediate
    ([99999999, 99999999], 1, "99999999*99999999=9999999800000001\n3-2=1", 2),
    ([3, 4], 1, "99999999*99999999=9999999800000001", 1),  # true but unavailable
])
def test_broken_steps_are_wrong_naming_the_line(numbers, target, solution, line):
    verdict = check_countdown(numbers, target, solution)
    assert verdict.status == "wrong" and not verdict.passed and verdict.score == 0.0
    assert f"line {line}:" in verdict.detail


@pytest.mark.parametrize("numbers, target, solution", [
    ([25, 5, 4], 80, "25-5=20"),  # target not reached
    ([25, 5, 4, 1], 80, "25-5=20\n20*4=80\n80+1=81"),  # reached mid-way, the last step differs
])
def test_missing_the_target_is_wrong(numbers, target, solution):
    verdict = check_countdown(numbers, target, solution)
    assert verdict.status == "wrong"
    assert "target" in verdict.detail


@pytest.mark.parametrize("solution", [
    "",
    "\n\n  \n",
    "Let's go.\n25-5=20\n20*4=80",
    "25-5=20\n20*4=80\nAnswer: 80",
    "25-5=20\n20*4=80\n80",
    "25-5=20 # first\n20*4=80",
    "25-5=20.\n20*4=80",
    "Step 1: 25-5=20\n20*4=80",
    "(25-5)*4=80",
    "25-5-1=19",
    "25-5=20=20",
    "20=25-5",
    "25 - 5\n20*4=80",
    "+25-5=20",
    "25--5=30",
    "25^2=625",
    "25.0-5=20",
    "\u0662\u0665-5=20",  # Arabic-Indic 25
    "25\u00a0-5=20",  # no-break space inside a step
    "25-5=20\x00\n20*4=80",
    "1" * 101 + "-1=" + "1" * 100 + "0",  # operand over 100 digits
])
def test_malformed_solutions_are_invalid(solution):
    verdict = check_countdown([25, 5, 4], 80, solution)
    assert verdict.status == "invalid" and not verdict.passed


def test_a_malformed_line_is_invalid_even_after_a_wrong_step():
    assert check_countdown([25, 5, 4], 80, "25-5=21\nhello").status == "invalid"


def test_invalid_detail_names_the_line():
    assert "line 3" in check_countdown([25, 5, 4], 80, "25-5=20\n\nso 20*4=80").detail


@pytest.mark.parametrize("numbers, target, solution", [
    ([True, 2], 3, "1+2=3"),
    ([2.0, 3], 5, "2+3=5"),
    (["2", 3], 5, "2+3=5"),
    ([], 5, "2+3=5"),
    (list(range(1, 12)), 3, "1+2=3"),
    ([0, 5], 5, "5+0=5"),
    ([-2, 5], 3, "5+2=7"),
    ([10**10, 5], 5, "5*1=5"),
    ("25 5 4", 80, "25-5=20"),
    (None, 80, "25-5=20"),
    ([25, 5, 4], 0, "25-5=20"),
    ([25, 5, 4], -80, "25-5=20"),
    ([25, 5, 4], True, "25-5=20"),
    ([25, 5, 4], "80", "25-5=20\n20*4=80"),
    ([25, 5, 4], 80.0, "25-5=20\n20*4=80"),
    ([25, 5, 4], 10**4000, "25-5=20"),
    ([25, 5, 4], 80, None),
    ([25, 5, 4], 80, b"25-5=20\n20*4=80"),
])
def test_bad_inputs_are_invalid(numbers, target, solution):
    verdict = check_countdown(numbers, target, solution)
    assert verdict.status == "invalid" and not verdict.passed


@pytest.mark.parametrize("line, expected", [
    ("25-5=20", Step(25, "-", 5, 20)),
    (" 25 \u00d7 5 = 125 ", Step(25, "*", 5, 125)),
    ("8\u00f72=4", Step(8, "/", 2, 4)),
    ("5-25=-20", Step(5, "-", 25, -20)),
    ("25-5", None),
    ("-5+25=20", None),
    ("", None),
])
def test_parse_step(line, expected):
    assert parse_step(line) == expected


@pytest.mark.parametrize("step, error_part", [
    (Step(25, "-", 5, 20), None),
    (Step(6, "/", 3, 2), None),
    (Step(7, "/", 2, 3), "not exact"),
    (Step(7, "/", 0, 0), "division by zero"),
    (Step(2, "+", 2, 5), "is 4, not 5"),
    (Step(2, "-", 2, 0), "not a positive"),
    (Step(2, "-", 5, -3), "not a positive"),
])
def test_step_error(step, error_part):
    error = step_error(step)
    assert error is None if error_part is None else error_part in error


# ---------------------------------------------------------------- hostile solutions

HOSTILE = {
    "giant_operands": "9" * 100 + "*" + "9" * 100 + "=" + str((10**100 - 1) ** 2),
    "too_many_digits": "9" * 5000 + "+1=1",
    "power": "9**9**9=1",
    "long_digit_run": "1" * 9_999,
    "spaces": "25" + " " * 9_990 + "-5=20",
    "many_true_steps": "1+1=2\n" * 1_600,
    "many_blank_lines": "\n" * 9_999 + "25-5=20",
    "over_size": "25-5=20\n20*4=80\n" + " " * 20_000,
    "megabyte": "25-5=20\n" * 130_000,
    "nul_bytes": "\x00" * 9_000,
    "unicode_digits": "\u0662\u0665-\u0665=\u0662\u0660\n" * 500,
}


@pytest.mark.parametrize("solution", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_solution_never_passes_and_returns_fast(solution):
    start = time.perf_counter()
    verdict = check_countdown([25, 5, 4], 80, solution)
    elapsed = time.perf_counter() - start
    # A hard bound on every call is a correctness property of the verifier, not a benchmark.
    assert elapsed < 1.0
    assert not verdict.passed


def test_hostile_inputs_are_rejected_fast():
    start = time.perf_counter()
    verdicts = [
        check_countdown(list(range(1, 10**6)), 80, "25-5=20"),
        check_countdown([25, 5, 4], 10**4000, "25-5=20"),
        check_countdown([10**5000, 5], 80, "25-5=20"),
    ]
    assert time.perf_counter() - start < 1.0
    assert [verdict.status for verdict in verdicts] == ["invalid"] * 3


# --- prefix_error: may an unfinished solution still pass? (search prunes on it) -------------------


@pytest.mark.parametrize("partial", ["", "25-5=20\n", "25 - 5 = 20\n\n", "25*4=100\n", "4+5=9\n"])
def test_a_rule_abiding_prefix_stays_open(partial):
    assert countdown.prefix_error([25, 5, 4], 80, partial) is None


@pytest.mark.parametrize("partial, reason", [
    ("25-5=21\n", "25-5 is 20, not 21"),
    ("25-6=19\n", "6 is not available"),
    ("25-5=20\n25+4=29\n", "25 is not available"),
    ("7/2=3\n", "not exact"),
    ("Let me think\n", "not a step"),
    ("retry\n", "retry must follow an attempt's steps"),
    ("25+5=30\nretry\nretry\n", "line 3: retry must follow"),
    ("25+5=30\nretry\n25+5=31\n", "line 3: 25+5 is 30, not 31"),
    ("25+5=30 [4 30]\nretry\n25-5=20 [4 30]\n", "line 3: the numbers left are [4 20]"),
    ("5-25=-20\n", "not a positive integer"),
])
def test_a_prefix_that_breaks_a_rule_is_dead(partial, reason):
    assert reason in countdown.prefix_error([25, 5, 4], 80, partial)


def test_every_prefix_of_a_passing_solution_stays_open():
    numbers, target, solution = [3, 7, 25, 50], 71, "50+25=75\n7-3=4\n75-4=71"
    assert check_countdown(numbers, target, solution).passed
    lines = solution.splitlines(keepends=True)
    for cut in range(len(lines)):
        assert countdown.prefix_error(numbers, target, "".join(lines[:cut])) is None


@pytest.mark.parametrize("solution", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_prefixes_are_answered_fast(solution):
    start = time.perf_counter()
    countdown.prefix_error([25, 5, 4], 80, solution)
    assert time.perf_counter() - start < 1.0


# --- the standard game (use_all): every number exactly once -----------------------------------


@pytest.mark.parametrize("numbers, target, solution", [
    ([25, 5, 4], 80, "25-5=20\n20*4=80"),
    ([5, 5, 2], 50, "5*5=25\n25*2=50"),  # a repeated given number is two numbers, both used
    ([3, 5, 8, 25], 24, "8-5=3\n3/3=1\n25-1=24"),
    ([3, 5, 8, 25], 24, "8-5=3\n\n3/3=1\n25-1=24\n"),
])
def test_use_all_passes_when_every_number_is_used(numbers, target, solution):
    assert check_countdown(numbers, target, solution, use_all=True).passed


@pytest.mark.parametrize("numbers, target, solution, words", [
    ([25, 5, 4, 1], 80, "25-5=20\n20*4=80", "1 is left unused"),  # a number unused
    ([25, 5, 4, 7, 1], 80, "25-5=20\n20*4=80", "1, 7 are left unused"),
    ([5, 5, 2], 10, "5*2=10", "5 is left unused"),  # a repeated number used once only
    ([2, 3, 4, 5], 20, "2+3=5\n5*4=20", "5 is left unused"),  # an intermediate result discarded
    ([25, 5, 4], 80, "25-5=20\n20*4=80\n80*1=80", "line 3: 1 is not available"),
    ([25, 5, 4], 105, "25-5=20\n20*5=100\n100+5=105", "line 2: 5 is not available"),  # a number used twice
    ([25, 5, 4], 80, "25-5=20\n20*4=80\n80+25=105", "line 3: 25 is not available"),
    ([25, 5, 4], 84, "25-5=20\n20*4=80", "not the target"),
])
def test_use_all_fails_naming_what_is_wrong(numbers, target, solution, words):
    verdict = check_countdown(numbers, target, solution, use_all=True)
    assert verdict.status == "wrong" and not verdict.passed and words in verdict.detail
    if "left unused" in words:  # the same steps pass the default rule
        assert check_countdown(numbers, target, solution).passed


@pytest.mark.parametrize("use_all", [1, "true", None, [True]])
def test_use_all_must_be_a_bool(use_all):
    verdict = check_countdown([25, 5, 4], 80, "25-5=20\n20*4=80", use_all=use_all)
    assert verdict.status == "invalid" and "use_all" in verdict.detail
    assert "use_all" in countdown.prefix_error([25, 5, 4], 80, "", use_all=use_all)


@pytest.mark.parametrize("partial, dead", [
    ("", None),
    ("25-5=20\n", None),  # 20 and 4 are left: still alive, more steps will use them
    ("25*4=100\n", None),
    ("25-5=20\n20*4=80\n", None),  # every number used: only `retry` may follow
    ("25-5=20\n20*5=100\n", "5 is not available"),
    ("<<25-5=21>>\n", "25-5 is 20, not 21"),
])
def test_use_all_prefixes(partial, dead):
    error = countdown.prefix_error([25, 5, 4], 80, partial, use_all=True)
    assert error is None if dead is None else dead in error


def test_use_all_huge_numbers_stay_exact():
    big = 10**9
    solution = f"{big}*{big}={big * big}\n{big * big}/{big}={big}\n{big}-{big - 1}=1"
    assert check_countdown([big, big, big, big - 1], 1, solution, use_all=True).passed
    verdict = check_countdown([big, big, big, big - 1, 7], 1, solution, use_all=True)
    assert verdict.status == "wrong" and verdict.detail.endswith("7 is left unused")


# --- calculator annotations: `<<25-5=20>>` is the step 25-5=20 ----------------------------------


@pytest.mark.parametrize("solution", [
    "<<25-5=20>>\n<<20*4=80>>",
    "<<25-5=20>>\n20*4=80",  # the two forms mix
    "  <<25-5=20>>  \n\t<< 20 * 4 = 80 >>\r\n",  # spaces outside and inside the brackets
    "<<25\u22125=20>>\n<<20\u00d74=80>>",
])
def test_annotated_steps_count_as_plain_steps(solution):
    assert check_countdown([25, 5, 4], 80, solution).passed
    assert check_countdown([25, 5, 4], 80, solution, use_all=True).passed


@pytest.mark.parametrize("solution, line", [
    ("<<25-5=21>>\n<<21*4=84>>", 1),  # the written result is checked, never trusted
    ("<<25-5=20>>\n<<20*5=100>>", 2),  # 5 already used
    ("<<7/2=3>>", 1),
])
def test_annotated_steps_follow_every_rule(solution, line):
    verdict = check_countdown([25, 5, 4], 80, solution)
    assert verdict.status == "wrong" and f"line {line}:" in verdict.detail


@pytest.mark.parametrize("solution", [
    "<<25-5=20",  # unbalanced
    "25-5=20>>",
    "<<25-5=20>\n20*4=80",
    "<25-5=20>>",
    "<<<<25-5=20>>>>",  # nested
    "<<<<25-5=20>>",
    "<<25-5=20>>>>",
    "<<25-5=20>> so far\n20*4=80",  # text after the annotation
    "Step 1: <<25-5=20>>\n20*4=80",  # text before it
    "25-5=<<25-5=20>>20\n20*4=80",  # GSM8K's inline form is not a countdown step
    "<<25-5=20>><<20*4=80>>",  # two steps on one line
    "<<25-5>>",
    "<<>>",
    "<<80>>",
    "< <25-5=20> >",
    "<<25-5=20>>.",
    "<<" + "9" * 101 + "-1=" + "9" * 100 + "8>>",  # operand over 100 digits
])
def test_malformed_annotations_are_invalid(solution):
    verdict = check_countdown([25, 5, 4], 80, solution)
    assert verdict.status == "invalid" and not verdict.passed


@pytest.mark.parametrize("solution", [
    "<<" * 4_999,
    ">>" * 4_999,
    "<<" * 2_000 + "25-5=20" + ">>" * 2_000,
    ("<<" + "9" * 100 + "*" + "9" * 100 + "=" + str((10**100 - 1) ** 2) + ">>\n") * 20,
    "<<1+1=2>>\n" * 900,
])
def test_hostile_annotations_never_pass(solution):
    verdicts = [check_countdown([25, 5, 4], 80, solution, use_all=use_all) for use_all in (False, True)]
    assert not any(verdict.passed for verdict in verdicts)
    assert countdown.prefix_error([25, 5, 4], 80, solution, use_all=True) is not None


@pytest.mark.parametrize("line, expected", [
    ("<<25-5=20>>", Step(25, "-", 5, 20)),
    (" << 8 \u00f7 2 = 4 >> ", Step(8, "/", 2, 4)),
    ("<<5-25=-20>>", Step(5, "-", 25, -20)),
    ("<<25-5=20>>x", None),
    ("<<<<25-5=20>>>>", None),
])
def test_parse_annotated_step(line, expected):
    assert parse_step(line) == expected


# --- the state scratchpad: the numbers left after a step ------------------------------------------

@pytest.mark.parametrize("solution, status", [
    ("<<25-5=20>> [4 20]\n<<20*4=80>> [80]", "passed"),
    ("25-5=20 [20 4]\n20*4=80", "passed"),  # any order; a step may leave it out
    ("<<25-5=20>>[4 20]\n<<20*4=80>> [ 80 ]", "passed"),
    ("<<25-5=20>> [4 21]\n<<20*4=80>> [80]", "wrong"),  # a false state is never accepted
    ("<<25-5=20>> [4 20 20]\n<<20*4=80>>", "wrong"),
    ("<<25-5=20>> []\n<<20*4=80>>", "wrong"),
    ("<<25-5=20>> [4 20] [4 20]\n<<20*4=80>>", "invalid"),
    ("<<25-5=20>> [4 20\n<<20*4=80>>", "invalid"),
    ("<<25-5=20>> 4 20]\n<<20*4=80>>", "invalid"),
    ("<<25-5=20>> [4, 20]\n<<20*4=80>>", "invalid"),
    ("<<25-5=20>> [-4 20]\n<<20*4=80>>", "invalid"),
    ("<<25-5=20>> [" + "1 " * 4000 + "]", "invalid"),
    ("<<25-5=20>> [" + "9" * 5000 + "]", "invalid"),
])
def test_state_annotation_must_be_the_numbers_left(solution, status):
    assert check_countdown([25, 5, 4], 80, solution).status == status


def test_a_false_state_rules_out_a_search_path():
    assert prefix_error([25, 5, 4], 80, "<<25-5=20>> [4 20]\n") is None
    assert "numbers left" in prefix_error([25, 5, 4], 80, "<<25-5=20>> [4]\n")

