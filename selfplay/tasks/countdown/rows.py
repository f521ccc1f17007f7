"""Countdown's public row shape `{numbers, target}` (optional `solution`, `use_all`, `level`) and its
part of the lab's own row form.

A countdown row may carry `use_all` (true: the standard game, every number exactly once; false,
null or absent: each number at most once) and a `level` name. Knows rows, nothing about files.
"""
from __future__ import annotations

from selfplay.tasks.countdown.problems import make_problem
from selfplay.tasks.problem import Problem
from selfplay.tasks.rows import (RowError, extra_fields, read_integer, read_numbers, read_optional_text, read_row_id,
                                 show)
from selfplay.tasks.spec import RowFormat


def read_use_all(value: object, field: str) -> bool:
    """The countdown rule flag; null (a column other rows of a table fill) means absent."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RowError(field, f"expected true or false, got {show(value)}")
    return value


def parse_countdown(row: dict) -> Problem:
    numbers = read_numbers(row.get("numbers"), "numbers")
    target = read_integer(row.get("target"), "target", positive=True)
    solution = row.get("solution")
    if isinstance(solution, list) and all(isinstance(step, str) for step in solution):
        solution = "\n".join(solution)
    if solution is not None and not isinstance(solution, str):
        raise RowError("solution", f"expected step lines (a string or a list of strings), got {show(solution)}")
    use_all = read_use_all(row.get("use_all"), "use_all")
    level = read_optional_text(row, "level")
    meta = extra_fields(row, {"numbers", "target", "solution", "use_all", "level"})
    if solution is not None:
        meta["solution"] = solution
    return make_problem(numbers, target, extra_meta=meta, id=read_row_id(row), use_all=use_all, level=level)


def check_countdown_form(row: dict, meta: dict, tests: object) -> None:
    """Countdown's part of the lab's own form: the numbers, the target and the rule in meta."""
    read_numbers(meta.get("numbers"), "meta.numbers")
    read_integer(meta.get("target"), "meta.target", positive=True)
    read_use_all(meta.get("use_all"), "meta.use_all")


FORMATS = (RowFormat("{numbers, target}", lambda row: {"numbers", "target"} <= row.keys(), parse_countdown),)
