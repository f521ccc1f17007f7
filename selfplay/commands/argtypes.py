"""Argument types the subcommands share: whole numbers within the bounds a flag allows.

    parser.add_argument("--limit", type=positive)        # 1, 2, ...; "-5", "0", "x" are refused by argparse
    parser.add_argument("--depth", type=non_negative)    # 0, 1, ...
    parser.add_argument("--budget", type=answers)        # 1 .. search.MAX_ANSWERS

A refused value ends the command with argparse's usage error (exit 2) naming the flag and the value.
Knows argparse and the budget's bound; nothing about models or tasks.
"""
from __future__ import annotations

import argparse

from search import MAX_ANSWERS


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text}")
    return value


def answers(text: str) -> int:
    """A budget in complete answers: at least 1, at most MAX_ANSWERS (10**9 used to be allocated as asked)."""
    value = positive(text)
    if value > MAX_ANSWERS:
        raise argparse.ArgumentTypeError(f"a budget is at most {MAX_ANSWERS:,} answers a problem, got {text}")
    return value


def answers_list(text: str) -> list[int]:
    """Budgets in complete answers, comma-separated (each as `answers` takes it)."""
    values = [value.strip() for value in text.split(",") if value.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated budgets, got {text!r}")
    return [answers(value) for value in values]
