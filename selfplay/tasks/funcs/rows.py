"""Funcs' public row shapes: `{prompt, entry_point, cases}`, `{prompt, test_code}`, MBPP
`{text|prompt, test_list}`, HumanEval `{prompt, test, entry_point}`; and its part of the lab's
own row form. Knows rows, nothing about files or running code."""
from __future__ import annotations

import re

from selfplay.tasks.problem import Problem
from selfplay.tasks.rows import (RowError, extra_fields, read_cases, read_identifier, read_optional_text, read_row_id,
                                 read_text, show)
from selfplay.tasks.spec import RowFormat


def parse_cases(row: dict) -> Problem:
    entry_point = read_identifier(row.get("entry_point"), "entry_point")
    cases = read_cases(row.get("cases"), "cases")
    meta = extra_fields(row, {"prompt", "entry_point", "cases", "examples", "solution"})
    if row.get("examples") is not None:
        meta["examples"] = read_cases(row["examples"], "examples")
    if row.get("solution") is not None:
        meta["solution"] = read_text(row, "solution")
    return Problem.create("funcs", read_text(row, "prompt"), tests={"entry_point": entry_point, "cases": cases},
                          meta=meta, id=read_row_id(row))


def parse_test_code(row: dict) -> Problem:
    entry_point = row.get("entry_point")
    tests = {"entry_point": None if entry_point is None else read_identifier(entry_point, "entry_point"),
             "test_code": read_text(row, "test_code")}
    return Problem.create("funcs", read_text(row, "prompt"), tests=tests,
                          meta=extra_fields(row, {"prompt", "entry_point", "test_code"}), id=read_row_id(row))


NOT_ENTRY_POINTS = {"set", "sorted", "abs", "round", "list", "tuple", "str", "int", "float", "len",
                    "isclose", "all", "any", "sum", "max", "min", "dict", "frozenset", "bool", "type",
                    "isinstance", "print", "repr", "not", "and", "or", "in", "is", "assert"}


def infer_entry_point(test: str, code: str | None = None) -> str | None:
    """The function an assert calls: a `def` of `code` the test mentions, else the first
    called name that is not a builtin or an attribute.

    >>> infer_entry_point("assert math.isclose(area(2), 12.56, rel_tol=0.01)")
    'area'
    """
    defined = re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", code or "", flags=re.MULTILINE)
    for name in defined:
        if re.search(rf"\b{name}\s*\(", test):
            return name
    for match in re.finditer(r"(?<![.\w])([A-Za-z_]\w*)\s*\(", test):
        if match.group(1) not in NOT_ENTRY_POINTS:
            return match.group(1)
    return None


def _mbpp_test_code(row: dict, tests: list[str]) -> str:
    """Imports, setup code and asserts, in that order, as one program."""
    imports = row.get("test_imports") or []
    if not isinstance(imports, list) or not all(isinstance(line, str) for line in imports):
        raise RowError("test_imports", f"expected a list of import lines, got {show(imports)}")
    setup = row.get("test_setup_code") or ""
    if not isinstance(setup, str):
        raise RowError("test_setup_code", f"expected a string of code, got {show(setup)}")
    return "\n".join([*imports, *([setup] if setup.strip() else []), *tests]) + "\n"


def parse_mbpp(row: dict) -> Problem:
    text_field = "text" if "text" in row else "prompt"
    text, tests, code = read_text(row, text_field), row.get("test_list"), read_optional_text(row, "code")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) and t.strip() for t in tests):
        raise RowError("test_list", f"expected a non-empty list of assert strings, got {show(tests)}")
    if row.get("entry_point") is not None:
        entry_point = read_identifier(row["entry_point"], "entry_point")
    elif (entry_point := infer_entry_point(tests[0], code)) is None:
        raise RowError("test_list", f"cannot infer the entry point from {show(tests[0])}; add 'entry_point'")
    used = {text_field, "test_list", "test_imports", "test_setup_code", "code", "entry_point", "task_id"}
    meta = {"source_format": "mbpp", **extra_fields(row, used)}
    if code is not None:
        meta["solution"] = code
    if row.get("task_id") is not None:
        meta["source_id"] = row["task_id"]
    prompt = f"{text}\nYour code should pass these tests:\n" + "\n".join(tests)  # the MBPP protocol
    checks = {"entry_point": entry_point, "test_code": _mbpp_test_code(row, tests)}
    return Problem.create("funcs", prompt, tests=checks, meta=meta, id=read_row_id(row))


def parse_humaneval(row: dict) -> Problem:
    prompt, test = read_text(row, "prompt"), read_text(row, "test")
    entry_point = read_identifier(row.get("entry_point"), "entry_point")
    meta = {"source_format": "humaneval", **extra_fields(row, {"prompt", "test", "entry_point", "task_id",
                                                          "canonical_solution"})}
    if row.get("task_id") is not None:
        meta["source_id"] = row["task_id"]
    if isinstance(row.get("canonical_solution"), str):
        meta["solution"] = prompt + row["canonical_solution"]
    return Problem.create("funcs", prompt, tests={"entry_point": entry_point, "test_code": test},
                          meta=meta, id=read_row_id(row))


def check_funcs_form(row: dict, meta: dict, tests: object) -> None:
    """Funcs' part of the lab's own form: `{entry_point, cases}` or `{entry_point, test_code}`."""
    if not isinstance(tests, dict) or ("cases" in tests) == ("test_code" in tests):
        raise RowError("tests", f"expected {{entry_point, cases}} or {{entry_point, test_code}}, got {show(tests)}")
    if "cases" in tests or tests.get("entry_point") is not None:
        read_identifier(tests.get("entry_point"), "tests.entry_point")
    if "cases" in tests:
        read_cases(tests["cases"], "tests.cases")
    elif not isinstance(tests["test_code"], str) or not tests["test_code"].strip():
        raise RowError("tests.test_code", f"expected a non-empty string, got {show(tests['test_code'])}")


FORMATS = (RowFormat("{prompt, entry_point, cases}", lambda row: {"entry_point", "cases"} <= row.keys(), parse_cases),
           RowFormat("{prompt, test_code}", lambda row: "test_code" in row, parse_test_code),
           RowFormat("MBPP {text|prompt, test_list}", lambda row: "test_list" in row, parse_mbpp),
           RowFormat("HumanEval {prompt, test, entry_point}",
                     lambda row: {"prompt", "test", "entry_point"} <= row.keys(), parse_humaneval))
