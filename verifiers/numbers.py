"""Exact numbers from short answer strings, as `fractions.Fraction`.

This module knows one small grammar of written numbers and turns a string that matches it
into an exact rational; anything else is "not a number" (None). It knows nothing about
completions, answer markers, wrappers like `$...$` or `\\boxed{}` (see `verifiers.math`),
or float tolerance: `0.333` is not `1/3`. It never calls eval, and it never builds a number
larger than MAX_DIGITS digits times 10**MAX_EXPONENT, so every call is cheap whatever
the input.

Accepted, the whole string, surrounding whitespace ignored:
  integers and decimals   42  -7  +3  0.50  .5  5.
  comma grouping          1,000  -1,234,567.89   (groups of exactly three digits)
  scientific notation     1e3  2.5E-2            (|exponent| <= MAX_EXPONENT)
  slash fractions         3/4  -3/4  1.5 / 3     (unsigned denominator)
  LaTeX fractions         \\frac{3}{4}  \\dfrac{-3}{4}  -\\tfrac{3}{4}  \\frac34
  mixed numbers           3\\frac{1}{2}  -2\\tfrac{3}{4}  (a whole number, then a proper fraction)
  percent                 50%  0.5\\%  \\frac{1}{2}\\%  (any of the above, then % or \\%)
  the minus sign U+2212   −5 is -5

A percent is a value, not a unit label: `50%` is 1/2 and `0.5%` is 1/200, so `0.5%` never
equals `0.5`. `3\\frac{1}{2}` reads as 7/2 only when the fraction is proper; `3\\frac{4}{2}`
is not a number (it could mean a product).

Not numbers: badly grouped commas (`1,00`, `1,2`, `1,0000`), non-ASCII digits (`٣`, `５`:
rejected, not normalised, so a model cannot pass with look-alike digits), a zero
denominator, more than MAX_DIGITS digits, a larger exponent, powers (`10^3`, `9**9`),
underscores (`1_000`, which Python's int() would accept), and anything else.
"""
from __future__ import annotations

import re
from fractions import Fraction

MAX_NUMBER_CHARS = 1_000  # longer strings are not numbers (checked before any regex)
MAX_DIGITS = 300  # more digits than this in one string: not a number
MAX_EXPONENT = 100  # 1e100 is a number, 1e101 is not

# ASCII digits only: `\d` would also match Arabic-Indic and other unicode digits.
_UNSIGNED = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+"
_DECIMAL = re.compile(rf"(?P<sign>[+-]?)(?P<body>{_UNSIGNED})(?:[eE](?P<exp>[+-]?[0-9]+))?")
_SLASH = re.compile(rf"(?P<sign>[+-]?)(?P<num>{_UNSIGNED}) *\/ *(?P<den>{_UNSIGNED})")
_FRAC = re.compile(
    rf"(?P<sign>[+-]?)\\[dt]?frac *\{{ *(?P<nsign>[+-]?)(?P<num>{_UNSIGNED}) *\}}"
    rf" *\{{ *(?P<dsign>[+-]?)(?P<den>{_UNSIGNED}) *\}}"
)
_FRAC_SHORT = re.compile(r"(?P<sign>[+-]?)\\[dt]?frac(?P<num>[0-9])(?P<den>[0-9])")
_MIXED = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>[0-9]+) *\\[dt]?frac *\{ *(?P<num>[0-9]+) *\} *\{ *(?P<den>[0-9]+) *\}"
)


def unsigned_value(body: str) -> Fraction:
    """The exact value of an unsigned decimal already matched by the grammar.

    >>> unsigned_value("1,234.50")
    Fraction(2469, 2)
    """
    whole, _, decimals = body.replace(",", "").partition(".")
    return Fraction(int((whole or "0") + decimals), 10 ** len(decimals))


def _signed(sign: str, value: Fraction) -> Fraction:
    return -value if sign == "-" else value


def _ratio(numerator: Fraction, denominator: Fraction) -> Fraction | None:
    return None if denominator == 0 else numerator / denominator


def parse_number(text: str) -> Fraction | None:
    """The exact value of `text` if it is a number in the grammar above, else None.

    >>> parse_number("-1,000.50"), parse_number("\\\\dfrac{3}{4}"), parse_number("1,2")
    (Fraction(-2001, 2), Fraction(3, 4), None)
    >>> parse_number("0.5%"), parse_number("3\\\\frac{1}{2}")
    (Fraction(1, 200), Fraction(7, 2))
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_number expects str, got {type(text).__name__}")
    if len(text) > MAX_NUMBER_CHARS:
        return None
    text = text.strip().replace("\u2212", "-")
    # Bound every int() below before it runs (this also keeps clear of int's 4300-digit guard).
    if sum(ch.isdigit() for ch in text) > MAX_DIGITS:
        return None
    for percent in ("\\%", "%"):
        if text.endswith(percent):
            value = _plain_number(text[:-len(percent)].rstrip())
            return None if value is None else value / 100
    return _plain_number(text)


def _plain_number(text: str) -> Fraction | None:
    """The value of `text` in the grammar without percent."""
    if match := _DECIMAL.fullmatch(text):
        value = unsigned_value(match["body"])
        if match["exp"] is not None:
            exponent = int(match["exp"])
            if abs(exponent) > MAX_EXPONENT:
                return None
            value *= Fraction(10) ** exponent
        return _signed(match["sign"], value)
    if match := _SLASH.fullmatch(text):
        ratio = _ratio(unsigned_value(match["num"]), unsigned_value(match["den"]))
        return None if ratio is None else _signed(match["sign"], ratio)
    if match := _FRAC.fullmatch(text):
        numerator = _signed(match["nsign"], unsigned_value(match["num"]))
        denominator = _signed(match["dsign"], unsigned_value(match["den"]))
        ratio = _ratio(numerator, denominator)
        return None if ratio is None else _signed(match["sign"], ratio)
    if match := _FRAC_SHORT.fullmatch(text):
        ratio = _ratio(Fraction(int(match["num"])), Fraction(int(match["den"])))
        return None if ratio is None else _signed(match["sign"], ratio)
    if match := _MIXED.fullmatch(text):
        numerator, denominator = int(match["num"]), int(match["den"])
        if not 0 < numerator < denominator:
            return None
        return _signed(match["sign"], int(match["whole"]) + Fraction(numerator, denominator))
    return None
