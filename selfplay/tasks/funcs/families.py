"""The function families of the funcs task: parametrised reference programs and inputs.

A family is a small kind of function (`a * x + b`, count a character, reverse the words,
...). Its parameters range over a finite GRID, and one valid combination of them is one
FUNCTION (`affine` with a=3, b=2); a parameter-free family has exactly one function. A
family lists its functions, writes the reference implementation of one as Python SOURCE,
and draws one argument list for it. Arguments and results are JSON-able (ints, bools,
strings, lists).

This module knows nothing about prompts, cases, grading, splits or files (`funcs.py` builds
problems, `splits.py` decides which functions go to which split).
"""
from __future__ import annotations

import itertools
import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

ENTRY_POINT = "f"


@dataclass(frozen=True)
class Limits:
    max_int: int = 10  # integer arguments lie in [-max_int, max_int] (or [0, ...] where negatives make no sense)
    max_len: int = 6  # lists and strings have at most this many items or characters

    def __post_init__(self) -> None:
        # smaller ranges cannot give 15 distinct argument lists (3 visible + 12 hidden) to every family
        if self.max_int < 8 or self.max_len < 3:
            raise ValueError(f"need max_int >= 8 and max_len >= 3, got {self}")


def _always(params: dict) -> bool:
    return True


@dataclass(frozen=True)
class FuncFamily:
    name: str
    signature: str  # the argument names, e.g. "xs" or "a, b"
    grid: tuple[tuple[str, tuple], ...]  # each parameter's name and values, in display order
    render: Callable[[dict], str]  # the reference source for one parameter dict
    draw_args: Callable[[random.Random, dict, Limits], list]  # one argument list
    valid: Callable[[dict], bool] = _always  # drops grid points that are not wanted (a == 0, high <= low)

    @cached_property
    def functions(self) -> tuple[dict, ...]:
        """Every valid parameter dict, in grid order (one dict per distinct function)."""
        names = [name for name, _ in self.grid]
        points = (dict(zip(names, values)) for values in itertools.product(*(values for _, values in self.grid)))
        return tuple(params for params in points if self.valid(params))

    def draw_params(self, rng: random.Random) -> dict:
        """One function of the family, uniformly."""
        return dict(rng.choice(self.functions))


def _grid(**values: Iterable) -> tuple[tuple[str, tuple], ...]:
    return tuple((name, tuple(options)) for name, options in values.items())


def _template(body: str) -> Callable[[dict], str]:
    """A renderer that fills `{name}` fields of a source template with Python literals."""
    return lambda params: body.format(**{key: repr(value) for key, value in params.items()})


def _terms(pairs: Iterable[tuple[int, str]]) -> str:
    """A sum of `coefficient * name` terms without zero terms or `+ -`.

    >>> _terms([(2, "x * x"), (-1, "x"), (-3, "")])
    '2 * x * x - x - 3'
    """
    text = ""
    for coefficient, name in pairs:
        if coefficient == 0:
            continue
        size = abs(coefficient)
        term = str(size) if not name else name if size == 1 else f"{size} * {name}"
        sign = ("-" if coefficient < 0 else "") if not text else (" - " if coefficient < 0 else " + ")
        text += sign + term
    return text or "0"


def _body(signature: str, expression: str) -> str:
    return f"def f({signature}):\n    return {expression}\n"


def _affix_source(params: dict) -> str:
    parts = [repr(params["prefix"])] * bool(params["prefix"]) + ["s"] + [repr(params["suffix"])] * bool(params["suffix"])
    return _body("s", " + ".join(parts))


def _int(rng: random.Random, limits: Limits) -> int:
    return rng.randint(-limits.max_int, limits.max_int)


def _ints(rng: random.Random, limits: Limits, min_len: int = 0) -> list[int]:
    return [_int(rng, limits) for _ in range(rng.randint(min_len, limits.max_len))]


def _text(rng: random.Random, max_len: int, alphabet: str, min_len: int = 0) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(min_len, max_len)))


def _one_int(rng: random.Random, params: dict, limits: Limits) -> list:
    return [_int(rng, limits)]


def _one_list(rng: random.Random, params: dict, limits: Limits) -> list:
    return [_ints(rng, limits)]


def _around_window(rng: random.Random, params: dict, limits: Limits) -> list:
    """Below, inside or above [low, high] with equal chance, so narrow and wide windows alike
    show every kind of output (a region with no room left draws from the whole range)."""
    low, high = params["low"], params["high"]
    start, stop = rng.choice([(-limits.max_int, low - 1), (low, high), (high + 1, limits.max_int)])
    if start > stop:
        return [_int(rng, limits)]
    return [rng.randint(start, stop)]


def _around_threshold(rng: random.Random, params: dict, limits: Limits) -> list:
    """Below `t` or at or above it with equal chance, so both outputs show up."""
    return [rng.choice([rng.randint(-limits.max_int, params["t"] - 1), rng.randint(params["t"], limits.max_int)])]


def _palindrome_or_not(rng: random.Random, params: dict, limits: Limits) -> list:
    half = _text(rng, limits.max_len // 2 + 1, "abc", 1)
    if rng.random() < 0.5:
        return [half + half[::-1][rng.randint(0, 1):]]
    return [_text(rng, limits.max_len, "abc", 2)]


WORDS = ("red", "cat", "sun", "big", "dog", "sky", "run", "top", "map", "owl")
AFFIXES = ("", "x", "y", "z", "q", "xy", "yx", "zz", "qx", "!", "-", "#")
NONZERO_9 = tuple(k for k in range(-9, 10) if k)

_NUMBER_FAMILIES: tuple[FuncFamily, ...] = (
    FuncFamily("affine", "x", _grid(a=NONZERO_9, b=range(-20, 21)),
               lambda p: _body("x", _terms([(p["a"], "x"), (p["b"], "")])), _one_int),
    FuncFamily("quadratic", "x", _grid(a=(-3, -2, -1, 1, 2, 3), b=range(-5, 6), c=range(-10, 11)),
               lambda p: _body("x", _terms([(p["a"], "x * x"), (p["b"], "x"), (p["c"], "")])), _one_int),
    FuncFamily("linear2", "a, b", _grid(p=(-5, -4, -3, -2, -1, 1, 2, 3, 4, 5), q=(-5, -4, -3, -2, -1, 1, 2, 3, 4, 5),
                                        c=range(-5, 6)),
               lambda params: _body("a, b", _terms([(params["p"], "a"), (params["q"], "b"), (params["c"], "")])),
               lambda r, p, lim: [_int(r, lim), _int(r, lim)]),
    FuncFamily("threshold", "x", _grid(t=range(-5, 6), above=range(-9, 10), below=range(-9, 10)),
               _template("def f(x):\n    return {above} if x >= {t} else {below}\n"), _around_threshold,
               lambda p: p["above"] != p["below"]),
    FuncFamily("modulo", "x", _grid(m=range(2, 13), k=range(-5, 6)),
               lambda p: _body("x", _terms([(1, f"x % {p['m']}"), (p["k"], "")])),
               lambda r, p, lim: [r.randint(0, 3 * lim.max_int)]),
    FuncFamily("clamp", "x", _grid(low=range(-8, 3), high=range(-6, 10)),
               _template("def f(x):\n    return min(max(x, {low}), {high})\n"), _around_window,
               lambda p: p["high"] >= p["low"] + 2),
    FuncFamily("between", "x", _grid(low=range(-8, 6), high=range(-7, 10)),
               _template("def f(x):\n    return {low} <= x <= {high}\n"), _around_window,
               lambda p: p["high"] > p["low"]),
    FuncFamily("digit_sum", "n", _grid(),
               _template("def f(n):\n    return sum(int(d) for d in str(n))\n"),
               lambda r, p, lim: [r.randint(0, 100 * lim.max_int)]),
    FuncFamily("fib_like", "n", _grid(first=range(-5, 6), second=range(-5, 6)),
               _template("def f(n):\n    a, b = {first}, {second}\n    for _ in range(n):\n"
                         "        a, b = b, a + b\n    return a\n"),
               lambda r, p, lim: [r.randint(0, 2 * lim.max_int)], lambda p: bool(p["first"] or p["second"])),
    FuncFamily("gcd", "a, b", _grid(),
               _template("def f(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n"),
               lambda r, p, lim: [r.randint(1, 6 * lim.max_int), r.randint(1, 6 * lim.max_int)]),
)

_LIST_FAMILIES: tuple[FuncFamily, ...] = (
    FuncFamily("sum_multiples", "xs", _grid(k=range(2, 7)),
               _template("def f(xs):\n    return sum(x for x in xs if x % {k} == 0)\n"), _one_list),
    FuncFamily("count_multiples", "xs", _grid(k=range(2, 7)),
               _template("def f(xs):\n    return len([x for x in xs if x % {k} == 0])\n"), _one_list),
    FuncFamily("span", "xs", _grid(), _template("def f(xs):\n    return max(xs) - min(xs)\n"),
               lambda r, p, lim: [_ints(r, lim, 1)]),
    FuncFamily("filter_greater", "xs", _grid(k=range(-8, 9)),
               _template("def f(xs):\n    return [x for x in xs if x > {k}]\n"), _one_list),
    FuncFamily("map_affine", "xs", _grid(a=(-3, -2, -1, 1, 2, 3), b=range(-9, 10)),
               lambda p: _body("xs", f"[{_terms([(p['a'], 'x'), (p['b'], '')])} for x in xs]"), _one_list,
               lambda p: (p["a"], p["b"]) != (1, 0)),
    FuncFamily("index_of_max", "xs", _grid(), _template("def f(xs):\n    return xs.index(max(xs))\n"),
               lambda r, p, lim: [_ints(r, lim, 1)]),
    FuncFamily("sort_list", "xs", _grid(reverse=(False, True)),
               _template("def f(xs):\n    return sorted(xs, reverse={reverse})\n"), _one_list),
    FuncFamily("prefix_sums", "xs", _grid(),
               _template("def f(xs):\n    out, total = [], 0\n    for x in xs:\n        total += x\n"
                         "        out.append(total)\n    return out\n"), _one_list),
)

_STRING_FAMILIES: tuple[FuncFamily, ...] = (
    FuncFamily("count_char", "s", _grid(c="abcd"), _template("def f(s):\n    return s.count({c})\n"),
               lambda r, p, lim: [_text(r, lim.max_len, "abcd")]),
    FuncFamily("replace_char", "s", _grid(old="abcd", new=string.ascii_lowercase),
               _template("def f(s):\n    return s.replace({old}, {new})\n"),
               lambda r, p, lim: [_text(r, lim.max_len, "abcd", 1)], lambda p: p["old"] != p["new"]),
    FuncFamily("affix", "s", _grid(prefix=AFFIXES, suffix=AFFIXES),
               _affix_source,
               lambda r, p, lim: [_text(r, lim.max_len, "abcde", 1)], lambda p: bool(p["prefix"] or p["suffix"])),
    FuncFamily("repeat_string", "s", _grid(k=range(2, 7), sep=("", "-", " ")),
               _template("def f(s):\n    return {sep}.join([s] * {k})\n"),
               lambda r, p, lim: [_text(r, 3, "abcde", 1)]),
    FuncFamily("every_kth", "s", _grid(k=(2, 3, 4), start=(0, 1, 2, 3)),
               _template("def f(s):\n    return s[{start}::{k}]\n"),
               lambda r, p, lim: [_text(r, 2 * lim.max_len, string.ascii_lowercase, 2)],
               lambda p: p["start"] < p["k"]),
    FuncFamily("caesar", "s", _grid(k=range(1, 26)),
               _template("def f(s):\n    return ''.join(chr((ord(c) - 97 + {k}) % 26 + 97) for c in s)\n"),
               lambda r, p, lim: [_text(r, lim.max_len, string.ascii_lowercase, 1)]),
    FuncFamily("is_palindrome", "s", _grid(), _template("def f(s):\n    return s == s[::-1]\n"),
               _palindrome_or_not),
    FuncFamily("count_runs", "s", _grid(),
               _template("def f(s):\n    runs = 0\n    for i, c in enumerate(s):\n"
                         "        if i == 0 or c != s[i - 1]:\n            runs += 1\n    return runs\n"),
               lambda r, p, lim: [_text(r, max(lim.max_len, 5), "ab")]),
    FuncFamily("reverse_words", "s", _grid(),
               _template("def f(s):\n    return ' '.join(reversed(s.split()))\n"),
               lambda r, p, lim: [" ".join(r.choice(WORDS) for _ in range(r.randint(1, 4)))]),
)

FAMILIES: tuple[FuncFamily, ...] = _NUMBER_FAMILIES + _LIST_FAMILIES + _STRING_FAMILIES
FAMILY_NAMES = tuple(family.name for family in FAMILIES)
BY_NAME = {family.name: family for family in FAMILIES}
