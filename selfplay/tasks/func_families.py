"""The function families of the funcs task: parametrised reference programs and inputs.

A family is a small kind of function (`x * a + b`, count a character, reverse the words,
...) with parameters drawn per problem. It knows how to draw its parameters, how to write
its reference implementation as Python SOURCE for given parameters, and how to draw one
argument list. Arguments and results are JSON-able (ints, bools, strings, lists).

This module knows nothing about prompts, cases, grading or files (`funcs.py` builds problems).
"""
from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

ENTRY_POINT = "f"


@dataclass(frozen=True)
class Limits:
    max_int: int = 10  # integer arguments lie in [-max_int, max_int] (or [0, ...] where negatives make no sense)
    max_len: int = 6  # lists and strings have at most this many items or characters

    def __post_init__(self) -> None:
        # smaller ranges cannot give 15 distinct argument lists (3 visible + 12 hidden) to every family
        if self.max_int < 8 or self.max_len < 3:
            raise ValueError(f"need max_int >= 8 and max_len >= 3, got {self}")


@dataclass(frozen=True)
class FuncFamily:
    name: str
    signature: str  # the argument names, e.g. "xs" or "a, b"
    draw_params: Callable[[random.Random], dict]  # parameters of one problem
    render: Callable[[dict], str]  # the reference source for those parameters
    draw_args: Callable[[random.Random, dict, Limits], list]  # one argument list


def _template(body: str) -> Callable[[dict], str]:
    """A renderer that fills `{name}` fields of a source template with Python literals."""
    return lambda params: body.format(**{key: repr(value) for key, value in params.items()})


def _no_params(rng: random.Random) -> dict:
    return {}


def _int(rng: random.Random, limits: Limits) -> int:
    return rng.randint(-limits.max_int, limits.max_int)


def _ints(rng: random.Random, limits: Limits, min_len: int = 0) -> list[int]:
    return [_int(rng, limits) for _ in range(rng.randint(min_len, limits.max_len))]


def _text(rng: random.Random, max_len: int, alphabet: str, min_len: int = 0) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(min_len, max_len)))


def _affine_source(params: dict) -> str:
    a, b = params["a"], params["b"]
    tail = "" if b == 0 else f" + {b}" if b > 0 else f" - {-b}"
    return f"def f(x):\n    return {a} * x{tail}\n"


def _palindrome_or_not(rng: random.Random, params: dict, limits: Limits) -> list:
    half = _text(rng, limits.max_len // 2 + 1, "abc", 1)
    if rng.random() < 0.5:
        return [half + half[::-1][rng.randint(0, 1):]]
    return [_text(rng, limits.max_len, "abc", 2)]


WORDS = ("red", "cat", "sun", "big", "dog", "sky", "run", "top", "map", "owl")

FAMILIES: tuple[FuncFamily, ...] = (
    FuncFamily("affine", "x", lambda r: {"a": r.randint(2, 5), "b": r.randint(-9, 9)},
               _affine_source, lambda r, p, lim: [_int(r, lim)]),
    FuncFamily("square_plus", "x", lambda r: {"c": r.randint(-5, 5)},
               _template("def f(x):\n    return x * x + {c}\n"), lambda r, p, lim: [_int(r, lim)]),
    FuncFamily("modulo", "x", lambda r: {"m": r.randint(2, 7)},
               _template("def f(x):\n    return x % {m}\n"),
               lambda r, p, lim: [r.randint(0, 3 * lim.max_int)]),
    FuncFamily("clamp", "x", lambda r: {"low": r.randint(-5, 0), "high": r.randint(1, 6)},
               _template("def f(x):\n    return min(max(x, {low}), {high})\n"),
               lambda r, p, lim: [_int(r, lim)]),
    FuncFamily("between", "x", lambda r: {"low": r.randint(-5, 2), "high": r.randint(3, 8)},
               _template("def f(x):\n    return {low} <= x <= {high}\n"),
               lambda r, p, lim: [_int(r, lim)]),
    FuncFamily("digit_sum", "n", _no_params,
               _template("def f(n):\n    return sum(int(d) for d in str(n))\n"),
               lambda r, p, lim: [r.randint(0, 100 * lim.max_int)]),
    FuncFamily("fib_like", "n", lambda r: {"first": r.randint(0, 3), "second": r.randint(1, 4)},
               _template("def f(n):\n    a, b = {first}, {second}\n    for _ in range(n):\n"
                         "        a, b = b, a + b\n    return a\n"),
               lambda r, p, lim: [r.randint(0, 2 * lim.max_int)]),
    FuncFamily("gcd", "a, b", _no_params,
               _template("def f(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n"),
               lambda r, p, lim: [r.randint(1, 6 * lim.max_int), r.randint(1, 6 * lim.max_int)]),
    FuncFamily("sum_multiples", "xs", lambda r: {"k": r.randint(2, 4)},
               _template("def f(xs):\n    return sum(x for x in xs if x % {k} == 0)\n"),
               lambda r, p, lim: [_ints(r, lim)]),
    FuncFamily("count_multiples", "xs", lambda r: {"k": r.randint(2, 5)},
               _template("def f(xs):\n    return len([x for x in xs if x % {k} == 0])\n"),
               lambda r, p, lim: [_ints(r, lim)]),
    FuncFamily("span", "xs", _no_params, _template("def f(xs):\n    return max(xs) - min(xs)\n"),
               lambda r, p, lim: [_ints(r, lim, 1)]),
    FuncFamily("filter_greater", "xs", lambda r: {"k": r.randint(-3, 5)},
               _template("def f(xs):\n    return [x for x in xs if x > {k}]\n"),
               lambda r, p, lim: [_ints(r, lim)]),
    FuncFamily("add_to_each", "xs", lambda r: {"k": r.choice([k for k in range(-5, 6) if k])},
               _template("def f(xs):\n    return [x + {k} for x in xs]\n"),
               lambda r, p, lim: [_ints(r, lim)]),
    FuncFamily("index_of_max", "xs", _no_params, _template("def f(xs):\n    return xs.index(max(xs))\n"),
               lambda r, p, lim: [_ints(r, lim, 1)]),
    FuncFamily("sort_list", "xs", lambda r: {"reverse": r.random() < 0.5},
               _template("def f(xs):\n    return sorted(xs, reverse={reverse})\n"),
               lambda r, p, lim: [_ints(r, lim)]),
    FuncFamily("prefix_sums", "xs", _no_params,
               _template("def f(xs):\n    out, total = [], 0\n    for x in xs:\n        total += x\n"
                         "        out.append(total)\n    return out\n"),
               lambda r, p, lim: [_ints(r, lim)]),
    FuncFamily("count_char", "s", lambda r: {"c": r.choice("abc")},
               _template("def f(s):\n    return s.count({c})\n"),
               lambda r, p, lim: [_text(r, lim.max_len, "abcd")]),
    FuncFamily("repeat_string", "s", lambda r: {"k": r.randint(2, 4)},
               _template("def f(s):\n    return s * {k}\n"),
               lambda r, p, lim: [_text(r, 3, "abcde", 1)]),
    FuncFamily("every_kth", "s", lambda r: {"k": r.randint(2, 3)},
               _template("def f(s):\n    return s[::{k}]\n"),
               lambda r, p, lim: [_text(r, 2 * lim.max_len, string.ascii_lowercase, 2)]),
    FuncFamily("caesar", "s", lambda r: {"k": r.randint(1, 5)},
               _template("def f(s):\n    return ''.join(chr((ord(c) - 97 + {k}) % 26 + 97) for c in s)\n"),
               lambda r, p, lim: [_text(r, lim.max_len, string.ascii_lowercase, 1)]),
    FuncFamily("is_palindrome", "s", _no_params, _template("def f(s):\n    return s == s[::-1]\n"),
               _palindrome_or_not),
    FuncFamily("count_runs", "s", _no_params,
               _template("def f(s):\n    runs = 0\n    for i, c in enumerate(s):\n"
                         "        if i == 0 or c != s[i - 1]:\n            runs += 1\n    return runs\n"),
               lambda r, p, lim: [_text(r, max(lim.max_len, 5), "ab")]),
    FuncFamily("reverse_words", "s", _no_params,
               _template("def f(s):\n    return ' '.join(reversed(s.split()))\n"),
               lambda r, p, lim: [" ".join(r.choice(WORDS) for _ in range(r.randint(1, 4)))]),
)

FAMILY_NAMES = tuple(family.name for family in FAMILIES)
BY_NAME = {family.name: family for family in FAMILIES}
