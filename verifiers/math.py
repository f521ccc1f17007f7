"""Final-answer checking for math completions: extract the answer, compare it by value.

The loop finetunes on whatever `check` passes, so this module is strict: it passes a
completion only when the completion states one final answer, through an explicit marker,
and that answer says what the gold answer says. It knows answer markers, a few LaTeX and
markdown wrappers, exact numbers (`verifiers.numbers`), the labels around a value
(`verifiers.answer_forms`) and, for what those cannot decide, bounded symbolic equality
(`verifiers.symbolic`, Hugging Face's math-verify without its float tolerance). It knows
nothing about models, search, tasks or Ray. `check_countdown` lives in `verifiers.countdown`
and is re-exported here.

Markers (all of equal rank; every one found counts):
  `#### 72`                          GSM8K: the rest of the line after four or more `#`
  `\\boxed{...}`, `\\fbox{...}`        balanced braces, `\\{` `\\}` escaped; nested boxes unwrap
  `Answer: 72`, `**Final Answer:** 72`  at the start of a line, case-insensitive
  `the answer is 72`, `final answer is 72`  anywhere, case-insensitive, up to ". " or line end
Precedence: there is none to exploit. Every marked answer must agree (after normalisation,
by `answer_key`: `#### 1,000` agrees with `\\boxed{1000}`, `#### 72 clips` with `\\boxed{72}`);
two that differ make the completion unusable, so a model cannot hedge. Agreement is judged
without algebra, so `#### \\sqrt{8}` beside `\\boxed{2\\sqrt{2}}` is a conflict: stricter, never
looser. A bare number with no marker is never an answer: the format is part of what the loop
teaches. A text with no marker has no answer. A markdown heading such as `#### Step 1` reads
as a marker too, and then usually conflicts. `extract_answer` returns the last marked answer,
normalised with its case kept.

Normalisation strips whitespace, trailing `.`, markdown `*`/`` ` ``, `$...$`, `\\(...\\)`,
`\\[...\\]`, whole-string `\\boxed{}` `\\text{}` `\\textbf{}` `\\mathrm{}` `\\mathbf{}`, a leading
currency `$` or `\\$`, `\\left` `\\right` `\\displaystyle` `\\!`, and a leading `answer:` / `the
answer is`; `{,}` and `\\,` read as `,`. A percent sign is kept: `50%` is the number 1/2.

Equivalence (`is_equivalent`), in order, on what each answer says (`answer_forms.reading`:
`x = 4` is 4, `90^\\circ` is 90, `72 clips` is 72 when the unit cannot change the value):
  1. both sides exact numbers: their values decide, and nothing else does. No float
     tolerance: `0.333333` is not `1/3`. Percent is a value: `0.5%` is 1/200, not 0.5, so
     gold `0.5` rejects `0.5%`; gold `50%` accepts `0.5` and `\\frac{1}{2}` (the same value),
     and gold `50` rejects `50%` (a value a hundred times smaller; reading `%` as a label,
     as math-verify does for whole numbers, would also pass `0.5%` for `0.5`).
  2. the same canonical string (case, spacing beside punctuation aside): `(1, 2)` is `(1,2)`.
  3. a side made of number characters that is no number (`1,00`, `1,2`, `7 2`) equals nothing
     else, and an answer that is still an equation (`5 = 4`, `2 + 2 = 4`) equals no gold
     that is not one (math-verify would compare its last side only).
  4. symbolic equality, bounded (`verifiers.symbolic`): `\\sqrt{8}` is `2\\sqrt{2}`, `\\pi/2` is
     `\\frac{\\pi}{2}`, `\\{2,1\\}` is `\\{1,2\\}`, `10^3` is 1000. Text sympy has no business
     with (non-ASCII digits, words, `\\int`, towers of powers, big factorials, long or deep
     text) never reaches it and equals nothing; a comparison past its deadline is False.
Numbers follow `verifiers.numbers`: exact, `1e3` allowed with |exponent| <= 100, ASCII
digits only (`٣` is a string and never equals `3`), badly grouped commas not numbers.

Bounds: a completion over MAX_COMPLETION_CHARS, an answer over MAX_ANSWER_CHARS, a `\\boxed{`
not closed within MAX_ANSWER_CHARS, more than MAX_CANDIDATES marked answers, or more than
MAX_MARKER_MATCHES marker-like matches (blank or not) makes the text unusable at once.
Every regex here is linear-time; the Python loops run at most MAX_MARKER_MATCHES times.
Extraction never calls sympy; `is_equivalent` and `check` call it at most once, bounded.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

from verifiers import symbolic
from verifiers.answer_forms import canonical, looks_numeric, percent_as_division, reading
from verifiers.countdown import check_countdown
from verifiers.numbers import parse_number
from verifiers.verdict import Verdict

__all__ = [
    "Extraction", "answer_key", "check", "check_countdown", "extract_answer",
    "extract_answers", "find_answers", "is_equivalent", "normalise_answer",
]

MAX_COMPLETION_CHARS = 1_000_000  # longer completions are invalid without being scanned
MAX_ANSWER_CHARS = 1_000  # one marked answer longer than this makes the text unusable
MAX_CANDIDATES = 32  # more marked answers than this makes the text unusable
MAX_MARKER_MATCHES = 256  # more marker-like matches (blank ones too) than this: unusable
MAX_UNWRAP = 8  # wrapper layers peeled by normalise_answer; deeper nesting stays wrapped

_HASH = re.compile(r"#{4,}([^\n]*)")
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox) *\{")
_BRACE = re.compile(r"\\.|[{}]", re.DOTALL)
# Phrase markers are found from the word "answer" (a fast literal search), then the words
# before it are checked in a short window, so no regex ever rescans a long run of text.
_ANSWER_WORD = re.compile(r"answer(?:[ \t]+(is)\b|[ \t*_]*:)([^\n]*)", re.IGNORECASE)
# "the answer is", "final answer is"
_IS_LEAD = re.compile(r"\b(?:the|final)[ \t]+\Z", re.IGNORECASE)
_COLON_LEAD = re.compile(r"[ \t>*_]*(?:final[ \t]+)?", re.IGNORECASE)  # line start of "Answer:"
_LEAD_WINDOW = 32  # characters looked at before the word "answer"
_LEADING_WORDS = re.compile(
    r"(?:(?:the[ \t]+)?(?:final[ \t]+)?answer(?:[ \t]+is\b|[ \t*_]*:)|:)[ \t*_]*", re.IGNORECASE
)
_WRAPPERS = ("\\boxed{", "\\fbox{", "\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{")
_PAIRS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_SPACES = re.compile(r"\s+")
_SIZING = re.compile(r"\\(?:left|right|displaystyle)(?![A-Za-z])")


@dataclass(frozen=True)
class Extraction:
    answers: tuple[str, ...] = ()  # every marked answer, normalised, in text order
    problem: str = ""  # why the text is unusable (too long, unclosed box...); "" when usable


class _Unusable(Exception):
    pass


def _closing_brace(text: str, open_index: int) -> int:
    """Index of the `}` closing the `{` at open_index, looking at most MAX_ANSWER_CHARS ahead.

    >>> _closing_brace("\\\\boxed{\\\\frac{1}{2}} rest", 6)
    18
    """
    depth = 0
    end = min(len(text), open_index + MAX_ANSWER_CHARS + 2)
    for match in _BRACE.finditer(text, open_index, end):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0:
                return match.start()
    raise _Unusable(f"a \\boxed{{...}} is unclosed or over {MAX_ANSWER_CHARS} characters")


def _boxed_candidates(text: str) -> Iterator[tuple[int, str]]:
    position = 0
    while match := _BOX_OPEN.search(text, position):
        close = _closing_brace(text, match.end() - 1)
        yield match.start(), text[match.end():close]
        position = close + 1  # boxes nested inside this one are unwrapped by normalisation


def _hash_candidates(text: str) -> Iterator[tuple[int, str]]:
    for match in _HASH.finditer(text):
        yield match.start(), match.group(1)


def _is_phrase_marker(text: str, match: re.Match) -> bool:
    """Whether the words before an "answer is" / "answer:" match make it a final-answer marker.

    >>> _is_phrase_marker("The answer is 5", _ANSWER_WORD.search("The answer is 5"))
    True
    """
    window = text[max(0, match.start() - _LEAD_WINDOW):match.start()]
    if match.group(1):
        return _IS_LEAD.search(window) is not None
    newline = window.rfind("\n")
    if newline < 0 and match.start() > _LEAD_WINDOW:
        return False  # the line start is too far back to be "Answer:" at the start of a line
    return _COLON_LEAD.fullmatch(window[newline + 1:]) is not None


def _phrase_candidates(text: str) -> Iterator[tuple[int, str]]:
    for match in _ANSWER_WORD.finditer(text):
        marked = match.group(2).strip() and _is_phrase_marker(text, match)
        yield match.start(), match.group(2).split(". ", 1)[0] if marked else ""


def _raw_candidates(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for scanner in (_hash_candidates, _boxed_candidates, _phrase_candidates):
        # Bounding the matches looked at, blank or not, bounds the Python work per text.
        matches = list(itertools.islice(scanner(text), MAX_MARKER_MATCHES + 1))
        if len(matches) > MAX_MARKER_MATCHES:
            raise _Unusable(f"more than {MAX_MARKER_MATCHES} answer markers")
        found.extend((at, raw) for at, raw in matches if raw.strip())
    if len(found) > MAX_CANDIDATES:
        raise _Unusable(f"more than {MAX_CANDIDATES} marked answers")
    for _, raw in found:
        if len(raw) > MAX_ANSWER_CHARS:
            raise _Unusable(f"a marked answer is over {MAX_ANSWER_CHARS} characters")
    return sorted(found)


def find_answers(text: str) -> Extraction:
    """Every marked final answer in `text`, normalised, or the reason the text is unusable.

    >>> find_answers("2+3=5\\n#### 5\\nso \\\\boxed{5}")
    Extraction(answers=('5', '5'), problem='')
    """
    if not isinstance(text, str):
        raise TypeError(f"find_answers expects str, got {type(text).__name__}")
    if len(text) > MAX_COMPLETION_CHARS:
        return Extraction(problem=f"text over {MAX_COMPLETION_CHARS} characters")
    try:
        raw_answers = _raw_candidates(text)
    except _Unusable as reason:
        return Extraction(problem=str(reason))
    answers = (normalise_answer(raw) for _, raw in raw_answers)
    return Extraction(answers=tuple(answer for answer in answers if answer))


def extract_answers(text: str) -> list[str]:
    """All marked final answers in `text` (normalised, in order); [] when unusable.

    >>> extract_answers("#### 5\\nlater: #### 6")
    ['5', '6']
    """
    return list(find_answers(text).answers)


def extract_answer(text: str) -> str | None:
    """The one final answer of `text`; None if there is none or marked answers disagree.

    >>> extract_answer("#### 1,000\\n\\\\boxed{1000}"), extract_answer("#### 5\\n#### 6")
    ('1000', None)
    """
    return _agreed(find_answers(text).answers)


def _agreed(answers: tuple[str, ...]) -> str | None:
    """The last of `answers` when all share one answer_key, else None.

    >>> _agreed(("1,000", "1000.0")), _agreed(("5", "6")), _agreed(())
    ('1000.0', None, None)
    """
    if not answers:
        return None
    first = answer_key(answers[0])
    if any(answer_key(answer) != first for answer in answers[1:]):
        return None
    return answers[-1]


def _wrapped_content(text: str) -> str | None:
    """The inside of a wrapper that spans the whole string, else None.

    >>> _wrapped_content("\\\\text{yes}"), _wrapped_content("\\\\text{a} + \\\\text{b}")
    ('yes', None)
    """
    for pair_open, pair_close in _PAIRS:
        if len(text) >= len(pair_open) + len(pair_close) and text.startswith(pair_open) \
                and text.endswith(pair_close):
            inside = text[len(pair_open):len(text) - len(pair_close)]
            return inside if pair_open not in inside and pair_close not in inside else None
    for wrapper in _WRAPPERS:
        if text.startswith(wrapper) and text.endswith("}"):
            try:
                close = _closing_brace(text, len(wrapper) - 1)
            except _Unusable:
                return None
            return text[len(wrapper):-1] if close == len(text) - 1 else None
    return None


def _peel_once(text: str) -> str:
    text = text.strip()
    if words := _LEADING_WORDS.match(text):
        text = text[words.end():].strip()
    text = text.rstrip(".").strip().strip("*`").strip()
    inside = _wrapped_content(text)
    if inside is not None:
        return inside
    for currency in ("\\$", "$"):
        if text.startswith(currency) and "$" not in text[len(currency):]:
            return text[len(currency):]
    return text


def normalise_answer(text: str) -> str:
    """`text` without the wrappers listed in the module docstring; case is kept.

    >>> normalise_answer("  **$\\\\boxed{\\\\text{Yes}}$**. ")
    'Yes'
    """
    if not isinstance(text, str):
        raise TypeError(f"normalise_answer expects str, got {type(text).__name__}")
    text = text.replace("{,}", ",").replace("\\,", ",").replace("\\!", "")
    text = _SIZING.sub("", text)
    for _ in range(MAX_UNWRAP):
        peeled = _peel_once(text)
        if peeled == text:
            break
        text = peeled
    return _SPACES.sub(" ", text).strip()


def answer_key(answer: str) -> Fraction | str:
    """What two answers must share to be equal without algebra: an exact number, else the
    canonical string of what the answer says (`answer_forms.reading`). Majority vote groups by it.

    >>> answer_key("$1,000.00"), answer_key(" Yes "), answer_key("72 clips")
    (Fraction(1000, 1), 'yes', Fraction(72, 1))
    """
    said = reading(normalise_answer(answer))
    number = parse_number(said)
    return number if number is not None else canonical(said)


def is_equivalent(pred: str, gold: str) -> bool:
    """True when `pred` and `gold` say the same thing: the same exact number (which decides
    whenever both sides are one), the same canonical string, or, for what neither decides,
    symbolic equality without float tolerance (`verifiers.symbolic`, bounded).

    >>> is_equivalent("-0.75", "\\\\frac{-3}{4}"), is_equivalent("0.333333", "1/3")
    (True, False)
    >>> is_equivalent("0.5\\\\%", "0.5"), is_equivalent("50\\\\%", "\\\\frac{1}{2}")
    (False, True)
    """
    if not isinstance(pred, str) or not isinstance(gold, str):
        raise TypeError("is_equivalent expects two str")
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return False
    pred_said, gold_said = reading(normalise_answer(pred)), reading(normalise_answer(gold))
    if not pred_said or not gold_said:
        return False
    pred_number, gold_number = parse_number(pred_said), parse_number(gold_said)
    if pred_number is not None and gold_number is not None:
        return pred_number == gold_number
    if canonical(pred_said) == canonical(gold_said):
        return True
    if looks_numeric(pred_said) and pred_number is None or \
            looks_numeric(gold_said) and gold_number is None:
        return False  # `1,00`, `1,2`: a badly written number is no number, not a set
    if "=" in pred_said and "=" not in gold_said:
        return False  # math-verify reads `5 = 4` as its last side, 4: a false chain is no answer
    return symbolic.equal(percent_as_division(pred_said), percent_as_division(gold_said))


def _gold_answer(gold: str) -> str | None:
    """The gold answer: the marked answer of a GSM8K-style text, else the bare string."""
    marked = find_answers(gold)
    if marked.problem:
        return None
    if marked.answers:
        return _agreed(marked.answers)
    bare = gold.strip()
    return bare if 0 < len(bare) <= MAX_ANSWER_CHARS else None


def check(completion: str, gold: str) -> Verdict:
    """Passed when the completion's one marked final answer equals the gold answer.

    >>> check("3 + 4 = 7\\n#### 7", "Add them. #### 7").status
    'passed'
    """
    if not isinstance(completion, str) or not isinstance(gold, str):
        return Verdict.fail("invalid", "completion and gold must be str")
    gold_answer = _gold_answer(gold)
    if gold_answer is None:
        return Verdict.fail("invalid", "the gold answer is missing, ambiguous or oversized")
    found = find_answers(completion)
    if found.problem:
        return Verdict.fail("invalid", found.problem)
    if not found.answers:
        return Verdict.fail("invalid", "no marked final answer (####, \\boxed{}, answer:)")
    answer = _agreed(found.answers)
    if answer is None:
        shown = ", ".join(repr(answer[:40]) for answer in found.answers[:4])
        return Verdict.fail("invalid", f"conflicting final answers: {shown}")
    if is_equivalent(answer, gold_answer):
        return Verdict.ok(f"answer {answer[:40]!r} equals gold")
    return Verdict.fail("wrong", f"answer {answer[:40]!r} differs from gold {gold_answer[:40]!r}")
