"""Tests for the math verifier against math-verify's ground: the table of answer pairs (right
answers that must pass, wrong ones that must fail), the percent and unit rules, the vote key,
and hostile text for the symbolic comparison, each under a hang guard."""
from __future__ import annotations

import doctest
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest

import verifiers.answer_forms as answer_forms
import verifiers.symbolic as symbolic
from verifiers.answer_forms import reading
from verifiers.math import answer_key, check, extract_answer, find_answers, is_equivalent
from verifiers.numbers import parse_number

PAIRS = [json.loads(line) for line in
         (Path(__file__).parent / "test_verifiers_math_pairs.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("module", [answer_forms, symbolic])
def test_docstring_examples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_the_table_has_both_directions():
    assert len(PAIRS) > 100
    assert sum(row["right"] for row in PAIRS) > 60 and sum(not row["right"] for row in PAIRS) > 50


@pytest.mark.timeout(120)
@pytest.mark.parametrize("row", PAIRS, ids=[f"{i}-{row['why']}" for i, row in enumerate(PAIRS)])
def test_pair_verdict(row):
    verdict = check(row["completion"], row["gold"])
    assert verdict.passed == row["right"], verdict.detail


# ---------------------------------------------------------------- percent

@pytest.mark.parametrize("text, value", [
    ("50%", Fraction(1, 2)),
    ("50\\%", Fraction(1, 2)),
    ("0.5%", Fraction(1, 200)),
    ("\\frac{1}{2}\\%", Fraction(1, 200)),
    ("-12.5 %", Fraction(-1, 8)),
    ("1,000%", Fraction(10)),
    ("%", None),
    ("50%%", None),
    ("1,00%", None),
    ("\u0665\u0660%", None),
])
def test_a_percent_is_its_value(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("pred, gold, equal", [
    ("0.5%", "0.5", False),
    ("\\frac{1}{2}\\%", "\\frac{1}{2}", False),
    ("50%", "50", False),
    ("50", "50%", False),
    ("50%", "0.5", True),
    ("0.5", "50%", True),
    ("\\frac{1}{2}", "50\\%", True),
    ("50 percent", "0.5", True),
    ("50 per cent", "50%", True),
    ("0.5%", "\\frac{1}{200}", True),
])
def test_percent_rule(pred, gold, equal):
    assert is_equivalent(pred, gold) is equal


# ---------------------------------------------------------------- labels around a value

@pytest.mark.parametrize("answer, said", [
    ("x = 4", "4"),
    ("x_1 = -2", "-2"),
    ("\\theta = 30^\\circ", "30"),
    ("90^{\\circ}", "90"),
    ("90°", "90"),
    ("72 clips", "72"),
    ("$18 dollars", "18"),
    ("5\\text{ cm}^2", "5"),
    ("12 miles per hour", "12"),
    ("(C)", "C"),
    # kept: the words could change the value, or the head is not one number
    ("72 or 73", "72 or 73"),
    ("3 and a half", "3 and a half"),
    ("2 hundred", "2 hundred"),
    ("6 dozen", "6 dozen"),
    ("5 pairs", "5 pairs"),
    ("2 pi", "2 pi"),
    ("4 m", "4 m"),
    ("1,00 apples", "1,00 apples"),
    ("two apples", "two apples"),
    ("5 apples and pears", "5 apples and pears"),
    ("x = y = 4", "x = y = 4"),
    ("7 " + "clips " * 50, "7 " + ("clips " * 50).strip()),  # over MAX_FORM_CHARS
])
def test_reading_drops_only_labels_that_cannot_change_the_value(answer, said):
    assert reading(answer) == said


def test_gsm8k_unit_passes_only_when_the_number_is_unambiguous():
    assert check("48 + 24 = 72\n#### 72 clips", "72").passed
    assert check("#### 72 clips\n\\boxed{72}", "72").passed  # the two markers agree
    assert not check("#### 72 clips", "73").passed
    assert not check("#### 72 or 73 clips", "72").passed
    assert not check("#### 7 2 clips", "72").passed


# ---------------------------------------------------------------- vote key

@pytest.mark.parametrize("group", [
    ["\\frac{1}{2}", "0.5", "50%", "1/2", "x = 0.5"],
    ["72", "72 clips", "$72", "72.0", "\\text{72 apples}"],
    ["(1, 2)", "(1,2)", " ( 1 ,2 ) "],
    ["A", "(A)", "\\text{(A)}", "a"],
])
def test_vote_key_groups_answers_that_need_no_algebra(group):
    keys = {answer_key(answer) for answer in group}
    assert len(keys) == 1, keys
    assert all(is_equivalent(answer, group[0]) for answer in group)


def test_vote_key_keeps_percent_apart_from_its_number():
    assert answer_key("0.5%") != answer_key("0.5")
    assert answer_key("50%") != answer_key("50")


# ---------------------------------------------------------------- the symbolic bound

HOSTILE_SYMBOLIC = {
    "tower_carets": "9^9^9",
    "tower_braces": "9^{9^{9}}",
    "tower_ten": "10^{10^{10}}",
    "huge_exponent": "2^{99999999}",
    "bare_huge_exponent": "10^100000000",
    "power_of_power": "(2^{999})^{999}",
    "python_power": "9**9**9",
    "factorial": "1000000!",
    "factorial_of_factorial": "(5!)!",
    "symbol_factorial": "x!",
    "deep_parentheses": "(" * 60 + "1" + ")" * 60,
    "deep_braces": "\\frac{" * 30 + "1" + "}{2}" * 30,
    "long_sum": "+".join(["x"] * 150),
    "integral": "\\int_0^1 x^2 dx",
    "series": "\\sum_{n=1}^{\\infty} \\frac{1}{n^2}",
    "limit": "\\lim_{x \\to 0} \\frac{\\sin x}{x}",
    "binomial": "\\binom{1000000}{500000}",
    "long_digits": "1" * 40 + "x",
    "words": "\\text{seventy two}",
    "anagram": "cba",
    "look_alike": "\u0667\u0662",
    "fullwidth": "\uff17\uff12",
    "unknown_command": "\\operatorname{foo}(2)",
    "three_powers": "2^2+3^2+4^2",
}


@pytest.mark.parametrize("text", HOSTILE_SYMBOLIC.values(), ids=HOSTILE_SYMBOLIC.keys())
def test_screen_refuses_hostile_text(text):
    assert symbolic.screen(text) != ""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", HOSTILE_SYMBOLIC.values(), ids=HOSTILE_SYMBOLIC.keys())
def test_hostile_equivalence_returns_and_never_passes(text):
    assert not is_equivalent(text, "72")
    assert not is_equivalent("72", text)
    assert not is_equivalent(text, text + "+1")
    assert not check(f"\\boxed{{{text}}}", "72").passed
    assert not check(f"#### {text} clips", "72").passed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", HOSTILE_SYMBOLIC.values(), ids=HOSTILE_SYMBOLIC.keys())
def test_hostile_extraction_returns(text):
    for completion in (f"#### {text}", f"\\boxed{{{text}}}", f"The answer is {text} clips.",
                       f"#### {text}\n" * 40, f"Answer: x = {text}"):
        found = find_answers(completion)
        assert len(found.answers) <= 32
        answer = extract_answer(completion)
        assert answer is None or isinstance(answer_key(answer), (Fraction, str))


HOSTILE_FORMS = {
    "many_unit_words": "#### 72" + " clips" * 200_000,
    "unit_spaces": "#### 72" + " " * 500 + "clips",
    "many_equals": "#### " + "x = " * 250 + "4",
    "many_degrees": "#### 90" + "^\\circ" * 150,
    "many_percents": "#### 50" + "%" * 900,
    "text_units": "\\boxed{72" + "\\text{ cm}" * 90 + "}",
    "nested_choice": "#### " + "(" * 400 + "A" + ")" * 400,
    "mixed_number_digits": "#### " + "9" * 200 + "\\frac{" + "1" * 50 + "}{" + "2" * 60 + "}",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", HOSTILE_FORMS.values(), ids=HOSTILE_FORMS.keys())
def test_hostile_labels_return_and_never_pass_a_wrong_gold(text):
    check(text, "72")  # may pass: `#### 72`, many spaces, `clips` says 72
    assert not check(text, "73").passed
    assert not check(text, "5").passed
    answer = extract_answer(text)
    if answer is not None:
        assert not is_equivalent(answer, "73")


@pytest.fixture
def unscreened(monkeypatch):
    """Let everything through the screen and give each comparison one second, so the child's
    deadline is what stops a hang."""
    monkeypatch.setattr(symbolic, "screen", lambda text: "")
    monkeypatch.setattr(symbolic, "COMPARE_TIMEOUT_S", 1.0)
    symbolic._decided.cache_clear()
    yield
    symbolic._decided.cache_clear()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("text", ["9^{9^{9}}", "1000000!", "10^{10^{10}}"])
def test_a_hang_past_the_screen_is_killed_in_a_worker_thread(unscreened, text):
    result = {}
    worker = threading.Thread(target=lambda: result.update(equal=symbolic.equal(text, "1")))
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert result == {"equal": False}
    assert symbolic.equal("\\sqrt{12}", "2\\sqrt{3}")  # a fresh child answers the next call


@pytest.mark.timeout(120)
def test_symbolic_answers_from_many_threads_at_once():
    symbolic._decided.cache_clear()
    pairs = [("\\sqrt{8}", "2\\sqrt{2}", True), ("\\pi/2", "\\frac{\\pi}{2}", True),
             ("\\{2,1\\}", "\\{1,2\\}", True), ("10^3", "1000", True),
             ("\\sqrt{8}", "3\\sqrt{2}", False), ("0.333333", "\\frac{1}{3}", False)] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda pair: is_equivalent(pair[0], pair[1]), pairs))
    assert results == [equal for _, _, equal in pairs]


# ---------------------------------------------------------------- the agreement benchmark

def test_agreement_benchmark_counts_both_directions(tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "math_verify_agreement.py"
    spec = importlib.util.spec_from_file_location("bench_math_verify_agreement", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert doctest.testmod(bench).failed == 0
    table = tmp_path / "pairs.jsonl"
    table.write_text("\n".join(json.dumps(row) for row in [
        {"gold": "\\frac{1}{3}", "completion": "\\boxed{0.333333}", "right": False, "why": "close"},
        {"gold": "2\\sqrt{2}", "completion": "\\boxed{\\sqrt{8}}", "right": True, "why": "radical"},
        {"gold": "50", "completion": "\\boxed{50\\%}", "right": False, "why": "percent"},
    ]))
    assert bench.main(["--pairs", str(table)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ours_accepts_right"] == 1 and summary["ours_rejects_wrong"] == 2
    assert summary["math_verify_accepts_right"] == 1 and summary["math_verify_rejects_wrong"] == 0
    assert [row["why"] for row in summary["ours_reject_theirs_accept"]] == ["close", "percent"]
    assert summary["agree"] == 1


def _forked_verdict(pair: tuple[str, str]) -> bool:
    return is_equivalent(*pair)


@pytest.mark.timeout(120)
def test_a_forked_process_starts_its_own_symbolic_child():
    import multiprocessing

    assert is_equivalent("\\sqrt{8}", "2\\sqrt{2}")  # the parent's child is running
    symbolic._decided.cache_clear()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_forked_verdict, [("\\sqrt{27}", "3\\sqrt{3}"), ("\\sqrt{27}", "3")]) == [True, False]
    assert is_equivalent("\\sqrt{20}", "2\\sqrt{5}")  # and the parent's still answers
