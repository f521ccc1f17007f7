"""Tests for verifiers.math and verifiers.numbers: extraction, exact equivalence, check
verdicts, and a hostile-input class where each call must return fast and never pass."""
from __future__ import annotations

import doctest
import time
from fractions import Fraction

import pytest

import verifiers.math as vmath
import verifiers.numbers as vnumbers
from verifiers.math import (
    answer_key, check, check_countdown, extract_answer, extract_answers, find_answers,
    is_equivalent, normalise_answer,
)
from verifiers.numbers import parse_number


@pytest.mark.parametrize("module", [vmath, vnumbers])
def test_docstring_examples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------- exact numbers

@pytest.mark.parametrize("text, expected", [
    ("42", Fraction(42)),
    ("  -7 ", Fraction(-7)),
    ("+3", Fraction(3)),
    ("0.50", Fraction(1, 2)),
    (".5", Fraction(1, 2)),
    ("5.", Fraction(5)),
    ("1,000", Fraction(1000)),
    ("-1,234,567.89", Fraction(-123456789, 100)),
    ("1e3", Fraction(1000)),
    ("2.5E-2", Fraction(1, 40)),
    ("1e100", Fraction(10) ** 100),
    ("3/4", Fraction(3, 4)),
    ("-3/4", Fraction(-3, 4)),
    ("1.5 / 3", Fraction(1, 2)),
    ("\\frac{3}{4}", Fraction(3, 4)),
    ("\\dfrac{-3}{4}", Fraction(-3, 4)),
    ("-\\tfrac{3}{4}", Fraction(-3, 4)),
    ("-\\frac{-3}{4}", Fraction(3, 4)),
    ("\\frac{ 1 }{ 2 }", Fraction(1, 2)),
    ("\\frac34", Fraction(3, 4)),
    ("\u22125", Fraction(-5)),
    # not numbers
    ("1,00", None),
    ("1,2", None),
    ("1,0000", None),
    (",100", None),
    ("1_000", None),
    ("\u0663", None),  # Arabic-Indic three
    ("\uff15", None),  # fullwidth five
    ("1e101", None),
    ("1e-101", None),
    ("1e999999999", None),
    ("10^3", None),
    ("9**9**9", None),
    ("1/0", None),
    ("\\frac{1}{0}", None),
    ("\\frac10", None),
    ("3/-4", None),
    ("1 000", None),
    ("- 5", None),
    ("", None),
    ("abc", None),
    ("5 apples", None),
    ("9" * 301, None),
    ("0." + "3" * 400, None),
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_parse_number_keeps_300_digits_exact():
    assert parse_number("9" * 300) == 10**300 - 1


def test_parse_number_rejects_non_str():
    with pytest.raises(TypeError):
        parse_number(5)


# ---------------------------------------------------------------- normalisation

@pytest.mark.parametrize("text, expected", [
    ("  72 ", "72"),
    ("72.", "72"),
    ("$72", "72"),
    ("\\$72", "72"),
    ("$72$", "72"),
    ("$$72$$", "72"),
    ("\\(72\\)", "72"),
    ("**72**", "72"),
    ("50%", "50%"),
    ("50\\%", "50\\%"),
    ("\\boxed{\\boxed{7}}", "7"),
    ("\\text{Yes}", "Yes"),
    ("Answer: 72", "72"),
    ("The answer is: 72", "72"),
    ("1{,}000", "1,000"),
    ("1\\,000", "1,000"),
    ("\\text{a} + \\text{b}", "\\text{a} + \\text{b}"),
    ("$5$ and $6$", "$5$ and $6$"),
    ("Answerable", "Answerable"),
    ("two   words\n here", "two words here"),
])
def test_normalise_answer(text, expected):
    assert normalise_answer(text) == expected


def test_normalise_answer_peels_a_bounded_number_of_layers():
    deep = "\\boxed{" * (vmath.MAX_UNWRAP + 1) + "7" + "}" * (vmath.MAX_UNWRAP + 1)
    assert normalise_answer(deep) != "7"
    assert not is_equivalent(deep, "7")


# ---------------------------------------------------------------- extraction

@pytest.mark.parametrize("text, expected", [
    ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
    ("####72", "72"),
    ("##### 72", "72"),
    ("#### 1,000", "1,000"),
    ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
    ("\\boxed{\\boxed{\\boxed{7}}}", "7"),
    ("\\boxed {8}", "8"),
    ("\\fbox{8}", "8"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
    ("Answer: 72", "72"),
    ("answer: 72", "72"),
    ("**Final Answer:** $72$", "72"),
    ("> Final answer: 72", "72"),
    ("Thus the answer is 72.", "72"),
    ("The final answer is $72$. I hope it is correct.", "72"),
    ("The answer is $\\boxed{72}$.", "72"),
    ("#### 72\nThe answer is 72.", "72"),
    ("#### 1,000\n\\boxed{1000}", "1000"),
    ("#### Answer: 5", "5"),
    # no answer
    ("", None),
    ("2 + 3 = 5", None),  # a bare trailing number is not an answer
    ("The result is 5", None),
    ("To find the answer: we add", None),  # 'answer:' counts only at the start of a line
    ("####\n", None),
    ("Answer:   ", None),
    # conflicting answers
    ("#### 5\n#### 6", None),
    ("\\boxed{5} then #### 6", None),
    ("\\boxed{5} or \\boxed{6}", None),
    ("#### 5\nThe answer is 6.", None),
    ("#### 5\n#### five", None),
    # unusable
    ("\\boxed{5", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("#### 5\nlater #### 6", ["5", "6"]),
    ("\\boxed{5} #### 6", ["5", "6"]),
    ("Answer: 3\n\\boxed{4}", ["3", "4"]),  # in text order, whatever the marker
    ("no marker 42", []),
    ("\\boxed{" + "1" * 2000 + "}", []),
])
def test_extract_answers_lists_every_marked_answer(text, expected):
    assert extract_answers(text) == expected


def test_find_answers_reports_why_a_text_is_unusable():
    assert "unclosed" in find_answers("\\boxed{5").problem
    assert "marked answers" in find_answers("#### 5\n" * 40).problem
    assert find_answers("#### 5").problem == ""


def test_extract_answer_rejects_non_str():
    with pytest.raises(TypeError):
        extract_answer(None)


# ---------------------------------------------------------------- equivalence

EQUAL = [
    ("1,000", "1000"),
    ("1000", "1000.00"),
    ("1e3", "1000"),
    ("-3/4", "-0.75"),
    ("\\frac{-3}{4}", "-0.75"),
    ("-\\dfrac{3}{4}", "-3/4"),
    ("-\\frac{3}{4}", "\\frac{-3}{4}"),
    ("$5", "5"),
    ("5.", "5"),
    (" 5 ", "5"),
    ("50%", "0.5"),  # a percent is its value
    ("72 apples", "72"),  # a unit after one number is dropped
    ("\\boxed{72}", "72"),
    ("yes", "Yes"),
    ("\\text{Yes}", "yes"),
    ("New  York", "new york"),
    ("0.5", "1/2"),
]
DIFFERENT = [
    ("0.333", "1/3"),
    ("0.3333333333", "\\frac{1}{3}"),
    ("1,00", "100"),
    ("1,2", "12"),
    ("1 2", "12"),
    ("50%", "50"),  # 50% is 1/2
    ("0.5%", "0.5"),
    ("\u0663", "3"),
    ("72 or 73", "72"),
    ("five", "5"),
    ("-5", "5"),
    ("3/4", "4/3"),
    ("\\frac{1}{0}", "1"),
    ("", ""),
    ("yes", "no"),
    ("1000.000001", "1000"),
    ("1" * 1001, "1" * 1001),  # over MAX_ANSWER_CHARS: never equal
]


@pytest.mark.parametrize("left, right", EQUAL)
def test_equal_answers_are_equivalent_both_ways(left, right):
    assert is_equivalent(left, right) and is_equivalent(right, left)


@pytest.mark.parametrize("left, right", DIFFERENT)
def test_different_answers_are_not_equivalent_either_way(left, right):
    assert not is_equivalent(left, right) and not is_equivalent(right, left)


def test_answer_key_is_exact():
    assert answer_key("$1,000.00") == Fraction(1000)
    assert answer_key("0.1") == Fraction(1, 10)  # not the float 0.1
    assert answer_key(" Yes ") == "yes"


def test_is_equivalent_rejects_non_str():
    with pytest.raises(TypeError):
        is_equivalent(5, "5")


# ---------------------------------------------------------------- check

GSM8K_GOLD = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n48+24 = <<48+24=72>>72\n#### 72"


@pytest.mark.parametrize("completion, gold, status", [
    ("48 + 24 = 72\n#### 72", "72", "passed"),
    ("48 + 24 = 72\n#### 72", GSM8K_GOLD, "passed"),
    ("so \\boxed{72}", GSM8K_GOLD, "passed"),
    ("The answer is 72.", "72", "passed"),
    ("#### 1,000", "1000", "passed"),
    ("\\boxed{72} and \\boxed{72.0}", "72", "passed"),
    ("Answer: \\frac{1}{2}", "0.5", "passed"),
    ("#### Yes", "yes", "passed"),
    ("#### $72", "$72", "passed"),
    ("#### 73", "72", "wrong"),
    ("#### 73", GSM8K_GOLD, "wrong"),
    ("#### 72 apples", "72", "passed"),
    ("#### 72 or 73 apples", "72", "wrong"),
    ("#### 0.333", "1/3", "wrong"),
    ("#### \u0667\u0662", "72", "wrong"),  # Arabic-Indic 72 is not 72
    ("72", "72", "invalid"),  # a bare number is not an answer
    ("The result is 72", "72", "invalid"),
    ("", "72", "invalid"),
    ("\\boxed{72", "72", "invalid"),
    ("#### 72", "", "invalid"),
    ("#### 72", "#### 72\n#### 73", "invalid"),  # ambiguous gold
    (None, "72", "invalid"),
    ("#### 72", 72, "invalid"),
    (b"#### 72", "72", "invalid"),
])
def test_check_status(completion, gold, status):
    verdict = check(completion, gold)
    assert verdict.status == status
    assert verdict.passed == (status == "passed")
    assert verdict.score == (1.0 if status == "passed" else 0.0)


@pytest.mark.parametrize("completion", [
    "#### 72\n#### 73",
    "#### 73\n#### 72",
    "\\boxed{72} and \\boxed{73}",
    "\\boxed{72}\n#### 73",
    "#### 72\nActually, the answer is 73.",
    "Answer: 72\nAnswer: 73",
])
def test_check_fails_two_conflicting_final_answers(completion):
    verdict = check(completion, "72")
    assert not verdict.passed
    assert verdict.status == "invalid"
    assert "conflicting" in verdict.detail


def test_check_reexports_countdown():
    assert check_countdown([25, 5, 4], 80, "25-5=20\n20*4=80").passed


# ---------------------------------------------------------------- hostile inputs

MB = 1_000_000
HOSTILE = {
    "power": "#### 9**9**9",
    "caret_power": "#### 10^100000000",
    "boxed_power": "\\boxed{10^{100000000}}",
    "big_exponent": "#### 1e999999999",
    "zero_denominator": "\\boxed{\\frac{1}{0}}",
    "answer_100kb": "#### " + "1" * 100_000,
    "braces_1mb": "{" * MB,
    "closing_braces_1mb": "}" * MB,
    "unclosed_boxes": "\\boxed{" * (MB // 7),
    "nested_boxes": "\\boxed{" * 50_000 + "7" + "}" * 50_000,
    "escaped_braces": "\\boxed{" + "\\{" * (MB // 2),
    "million_digits": "9" * MB,
    "marked_million_digits": "#### " + "9" * MB,
    "boxed_million_digits": "\\boxed{" + "9" * MB + "}",
    "spaces": " " * MB + "x",
    "hashes": "#" * MB,
    "hash_lines": "####\n" * (MB // 5),
    "dot_answers": "#### .\n" * (MB // 7),
    "many_answers": "#### 5\n" * (MB // 7),
    "answer_colon_spaces": "Answer:" + " " * MB,
    "answer_colon_lines": "Answer:\n" * (MB // 8),
    "phrase_repeats": "the answer is " * (MB // 14),
    "commas": "#### " + "1," * 400,
    "dollars": "$" * MB,
    "text_wrappers": "#### " + "\\text{" * 100 + "7" + "}" * 100,
    "nul_bytes": "\x00" * 1000 + "#### 72\x00",
    "arabic_indic": "#### \u0667\u0662",
    "too_long": "#### 72\n" + "a" * (2 * MB),
    "newlines": "\n" * MB,
    "empty_boxes": "\\boxed{}" * (MB // 8),
    "non_marker_colons": "x answer:1\n" * (MB // 11),
    "non_marker_phrases": "a the answer is\n" * (MB // 16),
    "deep_wrappers": ("#### " + "\\text{" * 140 + "7" + "}" * 140 + "\n") * 32,
    "brace_filled_boxes": ("\\boxed{" + "{}" * 495 + "}") * 300,
    "long_fractions": ("#### \\frac{" + "9" * 140 + "}{" + "7" * 140 + "}\n") * 32,
}


def _timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    elapsed = time.perf_counter() - start
    # A hard bound on every call is a correctness property of the verifier, not a benchmark.
    assert elapsed < 1.0, f"{function.__name__} took {elapsed:.2f}s"
    return result


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
class TestHostileInputs:
    def test_check_never_passes_and_returns_fast(self, text):
        assert not _timed(check, text, "72").passed
        assert not _timed(check, "#### 72", text).passed
        _timed(check, text, text)

    def test_extraction_returns_fast(self, text):
        found = _timed(find_answers, text)
        assert len(found.answers) <= vmath.MAX_CANDIDATES
        assert isinstance(_timed(extract_answers, text), list)
        answer = _timed(extract_answer, text)
        assert answer is None or len(answer) <= vmath.MAX_ANSWER_CHARS

    def test_equivalence_returns_fast(self, text):
        assert not _timed(is_equivalent, text, "72")
        assert not _timed(is_equivalent, "72", text)
        _timed(is_equivalent, text, text)

    def test_helpers_return_fast(self, text):
        assert _timed(parse_number, text) is None
        _timed(normalise_answer, text)
        _timed(answer_key, text[:vmath.MAX_ANSWER_CHARS])

    def test_countdown_never_passes_and_returns_fast(self, text):
        assert not _timed(check_countdown, [25, 5, 4], 80, text).passed
