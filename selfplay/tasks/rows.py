"""Turn one parsed row of a task file into a `Problem`, recognising public formats.

A row with a `task` field and only Problem fields is the lab's own form (`Problem.to_dict`).
Any other row is recognised by its fields, first match wins: the registered families' row
formats (`TaskSpec.row_formats`), in registration order; each family writes its own in its
package (`selfplay/tasks/countdown/rows.py`: `{numbers, target}`; `selfplay/tasks/arith/rows.py`:
GSM8K; `selfplay/tasks/funcs/rows.py`: cases, asserts, MBPP, HumanEval; `selfplay/tasks/qa/`:
plain `{prompt, answer}`), with the field readers here. A row that also has `task` must agree
with it.

Every problem with a row raises `RowError(field, message)`; the file reader adds the file
name and line. This module knows nothing about files, generation or grading.
"""
from __future__ import annotations

import re

from selfplay.tasks.problem import FIELDS, Problem
from selfplay.tasks.spec import task_names, task_spec, task_specs


class RowError(ValueError):
    """A bad row: which field (None for the row as a whole) and what is wrong."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"field {field!r}: {message}" if field else message)
        self.field = field
        self.message = message


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_text(row: dict, field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RowError(field, f"expected a non-empty string, got {show(value)}")
    return value


def read_optional_text(row: dict, field: str) -> str | None:
    return None if row.get(field) is None else read_text(row, field)


def read_integer(value: object, field: str, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (positive and value < 1):
        kind = "a positive integer" if positive else "an integer"
        raise RowError(field, f"expected {kind}, got {show(value)}")
    return value


def read_answer(value: object, field: str) -> str:
    """A final answer as text: strings as given (stripped), numbers written out."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RowError(field, f"expected a non-empty string or a number, got {show(value)}")


def read_numbers(value: object, field: str) -> list[int]:
    if not isinstance(value, list) or len(value) < 2:
        raise RowError(field, f"expected a list of at least 2 positive integers, got {show(value)}")
    return [read_integer(item, field, positive=True) for item in value]


def read_cases(value: object, field: str) -> list[list]:
    if not isinstance(value, list) or not value:
        raise RowError(field, f"expected a non-empty list of [args_list, expected] pairs, got {show(value)}")
    for index, case in enumerate(value):
        if not (isinstance(case, list) and len(case) == 2 and isinstance(case[0], list)):
            raise RowError(field, f"case {index}: expected [args_list, expected], got {show(case)}")
    return value


def read_identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise RowError(field, f"expected a Python function name, got {show(value)}")
    return value


def read_row_id(row: dict) -> str | None:
    value = row.get("id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise RowError("id", f"expected a non-empty string or an integer, got {show(value)}")


def extra_fields(row: dict, known: set[str]) -> dict:
    """Fields a format does not use, kept in meta so nothing a user wrote is lost."""
    extra = {key: value for key, value in row.items() if key not in known | {"id", "task"}}
    return {"extra": extra} if extra else {}


def _problem_form(row: dict) -> Problem:
    """The lab's own form, as `Problem.to_dict` writes it (id optional)."""
    task = row["task"]
    if task not in task_names():
        raise RowError("task", f"expected one of {list(task_names())}, got {show(task)}")
    spec = task_spec(task)
    prompt, meta, tests = read_text(row, "prompt"), row.get("meta") or {}, row.get("tests")
    if not isinstance(meta, dict):
        raise RowError("meta", f"expected an object, got {show(meta)}")
    if spec.check_form is not None:
        spec.check_form(row, meta, tests)
    if not spec.writes_code:
        if tests is not None:
            coders = " and ".join(other.name for other in task_specs() if other.writes_code)
            raise RowError("tests", f"only {coders} problems have tests, this is {task}")
        return Problem.create(task, prompt, answer=read_answer(row.get("answer"), "answer"), meta=meta, id=read_row_id(row))
    if row.get("answer") is not None and not isinstance(row["answer"], str):
        raise RowError("answer", f"expected a string or null, got {show(row['answer'])}")
    return Problem.create(task, prompt, answer=row.get("answer"), tests=tests, meta=meta, id=read_row_id(row))


def recognised() -> str:
    """The row shapes `parse_row` knows, for its error message."""
    shapes = [row_format.shape for spec in task_specs() for row_format in spec.row_formats]
    return "{task, prompt, answer|tests, meta} (problem form), " + ", ".join(shapes)


def parse_row(row: object) -> Problem:
    """The problem one decoded JSON row describes, or `RowError`."""
    if not isinstance(row, dict):
        raise RowError(None, f"expected a JSON object, got {type(row).__name__} {show(row)}")
    try:
        if "task" in row and row.keys() <= set(FIELDS):
            return _problem_form(row)
        for spec in task_specs():
            for row_format in spec.row_formats:
                if row_format.matches(row):
                    if "task" in row and row["task"] != spec.name:
                        raise RowError("task", f"{show(row['task'])} disagrees with the fields, "
                                       f"which make a {spec.name} row")
                    return row_format.parse(row)
    except RowError:
        raise
    except ValueError as error:  # a Problem invariant the checks above did not name
        raise RowError(None, str(error)) from None
    raise RowError(None, f"unrecognised row with fields {sorted(row)}; recognised rows: {recognised()}")
