"""The calculator tool: exact rational arithmetic on one expression, bounded in time and size.

Its call format is GSM8K's annotation: the model writes `<<48/2=`, the tool answers `24>>`, and
generation goes on after it. Expressions take integers and decimals, `+ - * /`, unary minus,
parentheses and `**` with a small whole exponent; every value is an exact `Fraction`, so `7/2`
is `3.5` and `1/3` is `1/3`, never a rounded float. Anything else (names, calls, `9**9**9`, a
10,000-digit number, division by zero) is an error result, decided before any work grows.

    >>> evaluate("48/2"), evaluate("(3+4)*2-1"), evaluate("7/2"), evaluate("1/3")
    ('24', '13', '3.5', '1/3')
    >>> evaluate("9**9**9")
    'error: exponent too large'

Knows arithmetic only; nothing about models, tokens or tasks.
"""
from __future__ import annotations

import ast
import re
from fractions import Fraction

MAX_EXPRESSION_CHARS = 200  # longer input is refused unread
MAX_DIGITS = 60  # on any operand, intermediate value or result (numerator and denominator)
MAX_EXPONENT = 64  # largest |n| in a ** n
MAX_DECIMALS = 12  # a terminating fraction is written as a decimal up to this many places
_MAX_BITS = int(MAX_DIGITS * 3.33) + 1


class CalculatorError(ValueError):
    """Why an expression has no exact result within the calculator's bounds."""


def evaluate(expression: str) -> str:
    """The exact value of `expression` as text, or `error: <reason>` (never raises on any input)."""
    try:
        return format_value(value_of(expression))
    except CalculatorError as error:
        return f"error: {error}"


def value_of(expression: str) -> Fraction:
    """The exact value of `expression`; raises CalculatorError when there is none within bounds."""
    if not isinstance(expression, str):
        raise CalculatorError("not text")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError("expression too long")
    text = expression.strip().replace("\u00d7", "*").replace("\u00f7", "/").replace("\u2212", "-")
    if not text:
        raise CalculatorError("empty expression")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculatorError("not an arithmetic expression") from None
    try:
        return _checked(_value(tree.body, text))
    except CalculatorError:
        raise
    except (ValueError, OverflowError, ZeroDivisionError, RecursionError, MemoryError):
        raise CalculatorError("no exact result") from None


def _checked(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > _MAX_BITS or value.denominator.bit_length() > _MAX_BITS:
        raise CalculatorError("number too large")
    return value


def _value(node: ast.AST, text: str) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if isinstance(node.value, int):
            return _checked(Fraction(node.value))
        # The literal, read exactly (the float would round) and bounded before any power of ten
        # is built: Fraction("1e99999999") computes 10**99999999 and stalls the decode loop.
        return _decimal(ast.get_source_segment(text, node) or "")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _value(node.operand, text)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
        left, right = _value(node.left, text), _value(node.right, text)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise CalculatorError("division by zero")
            return _checked(left / right)
        if isinstance(node.op, ast.Add):
            return _checked(left + right)
        return _checked(left - right if isinstance(node.op, ast.Sub) else left * right)
    raise CalculatorError("only numbers, + - * / ** and parentheses")


_DECIMAL_LITERAL = re.compile(r"(?P<digits>[0-9_]*)(?:\.(?P<decimals>[0-9_]*))?(?:[eE](?P<exponent>[+-]?[0-9_]+))?")


def _decimal(literal: str) -> Fraction:
    """The exact value of a Python decimal literal, refused before it grows past the bounds.

    >>> _decimal("2.5e-1"), _decimal("1_000.5")
    (Fraction(1, 4), Fraction(2001, 2))
    """
    match = _DECIMAL_LITERAL.fullmatch(literal)
    if match is None or len(literal) > MAX_DIGITS:
        raise CalculatorError("number too large" if match else "not a decimal number")
    digits, decimals = match["digits"].replace("_", ""), (match["decimals"] or "").replace("_", "")
    exponent = int(match["exponent"].replace("_", "")) if match["exponent"] else 0
    mantissa = int(digits + decimals or "0")
    if mantissa == 0:
        return Fraction(0)
    shift = exponent - len(decimals)
    if abs(shift) > 2 * MAX_DIGITS:  # the value would pass MAX_DIGITS digits either way
        raise CalculatorError("number too large")
    return _checked(mantissa * Fraction(10) ** shift)


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise CalculatorError("exponent must be a whole number")
    if abs(exponent.numerator) > MAX_EXPONENT:
        raise CalculatorError("exponent too large")
    if base == 0 and exponent < 0:
        raise CalculatorError("division by zero")
    bits = max(base.numerator.bit_length(), base.denominator.bit_length())
    if bits * abs(exponent.numerator) > _MAX_BITS:  # known too large before it is computed
        raise CalculatorError("number too large")
    return _checked(base ** exponent.numerator)


def format_value(value: Fraction) -> str:
    """An integer, a terminating decimal (up to MAX_DECIMALS places) or `p/q`.

    >>> format_value(Fraction(-5, 4)), format_value(Fraction(2, 7)), format_value(Fraction(6))
    ('-1.25', '2/7', '6')
    """
    if value.denominator == 1:
        return str(value.numerator)
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    places = max(twos, fives)
    if denominator != 1 or places > MAX_DECIMALS:
        return f"{value.numerator}/{value.denominator}"
    scaled = abs(value.numerator) * 10**places // value.denominator
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(scaled, 10**places)
    return f"{sign}{whole}.{str(fraction).rjust(places, '0').rstrip('0')}"
