"""What a normalised final answer says, with its labels taken off: `x = 4` says 4.

`verifiers.math` peels presentation (markers, `$...$`, `\\boxed{}`); this module removes the
labels around an answer's value that do not change it, so the value can be compared exactly:

  a variable on the left     `x = 4`, `\\theta = 30`      -> `4`, `30` (one name, one `=`)
  a degree sign              `90^\\circ`, `90^{\\circ}`, `90°`, `90\\degree` -> `90`
  a unit after a number      `72 clips`, `$18 dollars`, `5\\text{ cm}^2`   -> `72`, `18`, `5`
  the word percent           `50 percent`, `50 per cent`                  -> `50%`
  a choice in parentheses    `(A)`                                         -> `A`

A unit is dropped only when what remains is unambiguous: the part before it is one exact
number (`verifiers.numbers`) and the unit is one to three plain words, none of which could
change the value (`and`, `or`, `half`, `hundred`, `dozen`, `pairs`, `squared`, `below`, a
number word, a single letter such as `m` or `i`...). So `72 or 73`, `3 and a half`,
`2 hundred`, `5 pairs` and `2 pi` keep their words and compare as written. Answers over
MAX_FORM_CHARS keep theirs too.

`percent_as_division` writes a trailing `%` as a division by 100 for the symbolic parser,
which would otherwise lose it (`\\frac{\\pi}{2}\\%` is pi/200). `canonical` is the string two
non-numeric answers must share: lower case, runs of space
collapsed, no space beside punctuation (`(1, 2)` is `(1,2)`). Knows nothing about markers,
completions, sympy, search or Ray.
"""
from __future__ import annotations

import re

from verifiers.numbers import parse_number

MAX_FORM_CHARS = 100  # longer answers keep their labels (and every regex here stays short)
MAX_UNIT_WORDS = 3

_VARIABLE = re.compile(r"(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?\s*=\s*(?P<rhs>[^=<>]+)")
_DEGREES = re.compile(r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree)\s*\Z")
_UNIT_TEXT = re.compile(
    r"\s*\\(?:text|textrm|mathrm|mbox)\s*\{(?P<words>[^{}]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*\Z")
_UNIT_WORDS = re.compile(r"\s+(?P<words>[A-Za-z][A-Za-z' -]*)\Z")
_CHOICE = re.compile(r"\(\s*(?P<letter>[A-Za-z])\s*\)")
_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")
_PUNCTUATION_SPACE = re.compile(r"\s*([,;:()\[\]{}=+\-*/^_<>|])\s*")
_SPACES = re.compile(r"\s+")
_NUMERIC_LOOKING = re.compile(r"[+-]?[0-9][0-9,. ]*(?:\\?%)?")

_NUMBER_WORDS = """zero one two three four five six seven eight nine ten eleven twelve thirteen
    fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred hundreds thousand thousands million millions billion billions trillion
    trillions lakh crore dozen dozens score scores gross grand half halves third thirds quarter
    quarters fourth fourths fifth fifths sixth sixths seventh sevenths eighth eighths ninth ninths
    tenth tenths hundredth hundredths thousandth thousandths millionth millionths""".split()
_CHANGING_WORDS = """and or plus minus times over divided by into point to of from than not no
    negative below under off ago before after squared cubed root roots power powers pi sqrt
    pair pairs couple couples twice double triple percent mn bn mil""".split()
_DENIED = frozenset(_NUMBER_WORDS + _CHANGING_WORDS)


def _unit_words(words: str) -> list[str] | None:
    """The unit's words when they are plain and cannot change the value, else None."""
    split = words.split()
    if not 1 <= len(split) <= MAX_UNIT_WORDS:
        return None
    if any(_WORD.fullmatch(word) is None or len(word) < 2 or word.lower() in _DENIED
           for word in split):
        return None
    return [word.lower() for word in split]


def _number_before_unit(head: str) -> str | None:
    head = head.strip()
    for currency in ("\\$", "$"):
        if head.startswith(currency):
            head = head[len(currency):].strip()
    return head if parse_number(head) is not None else None


def _without_unit(text: str) -> str:
    """`text` without a trailing unit, when the module docstring's rule allows it.

    >>> _without_unit("72 clips"), _without_unit("3 and a half"), _without_unit("50 per cent")
    ('72', '3 and a half', '50%')
    """
    match = _UNIT_TEXT.search(text) or _UNIT_WORDS.search(text)
    if match is None:
        return text
    head = _number_before_unit(text[:match.start()])
    if head is None:
        return text
    words = match["words"].split()
    if [word.lower() for word in words] in (["percent"], ["per", "cent"]):
        return f"{head}%"
    return head if _unit_words(match["words"]) is not None else text


def reading(answer: str) -> str:
    """What a normalised answer says: the module docstring's labels removed.

    >>> reading("x = 4"), reading("90^\\\\circ"), reading("#### 72 clips"[5:]), reading("(B)")
    ('4', '90', '72', 'B')
    """
    text = answer.strip()
    if len(text) > MAX_FORM_CHARS:
        return text
    if match := _VARIABLE.fullmatch(text):
        text = match["rhs"].strip()
    text = _DEGREES.sub("", text)
    text = _without_unit(text)
    if match := _CHOICE.fullmatch(text):
        text = match["letter"]
    return text.strip()


def percent_as_division(text: str) -> str:
    """`text` with a trailing percent sign written as a division, for a parser that drops `%`.

    >>> percent_as_division("\\\\frac{\\\\pi}{2}\\\\%"), percent_as_division("x")
    ('(\\\\frac{\\\\pi}{2})/100', 'x')
    """
    for percent in ("\\%", "%"):
        if text.endswith(percent):
            return f"({text[:-len(percent)].strip()})/100"
    return text


def canonical(text: str) -> str:
    """The string two answers that are not numbers must share.

    >>> canonical(" New  York "), canonical("(1, 2)")
    ('new york', '(1,2)')
    """
    text = _SPACES.sub(" ", text).strip().lower()
    return _PUNCTUATION_SPACE.sub(r"\1", text)


def looks_numeric(text: str) -> bool:
    """Whether `text` is made of number characters only (so is a number or a badly written one).

    >>> looks_numeric("1,00"), looks_numeric("\\\\{1,2\\\\}")
    (True, False)
    """
    return _NUMERIC_LOOKING.fullmatch(text) is not None
