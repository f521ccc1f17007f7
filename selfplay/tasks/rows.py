"""Turn one parsed row of a task file into a `Problem`, recognising public formats.

A row with a `task` field and only Problem fields is the lab's own form (`Problem.to_dict`).
Any other row is recognised by its fields, first match wins: the registered families' row
formats (`TaskSpec.row_formats`), in registration order. The built-in ones are written here
(`FORMATS`): countdown `{numbers, target}`, GSM8K `{question, answer "... #### N"}`, funcs
`{prompt, entry_point, cases}` or `{prompt, test_code}`, MBPP `{text|prompt, test_list}`,
HumanEval `{prompt, test, entry_point}`, plain `{prompt, answer}`. A row that also has `task`
must agree with it.
A countdown row may carry `use_all` (true: the standard game, every number exactly once;
false, null or absent: each number at most once) and a `level` name.

Every problem with a row raises `RowError(field, message)`; the file reader adds the file
name and line. This module knows nothing about files, generation or grading.
"""
from __future__ import annotations

import re

from selfplay.tasks import countdown
from selfplay.tasks.problem import FIELDS, Problem
from selfplay.tasks.spec import RowFormat, task_names, task_spec, task_specs


class RowError(ValueError):
    """A bad row: which field (None for the row as a whole) and what is wrong."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"field {field!r}: {message}" if field else message)
        self.field = field
        self.message = message


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(row: dict, field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RowError(field, f"expected a non-empty string, got {_show(value)}")
    return value


def _optional_text(row: dict, field: str) -> str | None:
    return None if row.get(field) is None else _text(row, field)


def _integer(value: object, field: str, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (positive and value < 1):
        kind = "a positive integer" if positive else "an integer"
        raise RowError(field, f"expected {kind}, got {_show(value)}")
    return value


def _answer(value: object, field: str) -> str:
    """A final answer as text: strings as given (stripped), numbers written out."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RowError(field, f"expected a non-empty string or a number, got {_show(value)}")


def _numbers(value: object, field: str) -> list[int]:
    if not isinstance(value, list) or len(value) < 2:
        raise RowError(field, f"expected a list of at least 2 positive integers, got {_show(value)}")
    return [_integer(item, field, positive=True) for item in value]


def _cases(value: object, field: str) -> list[list]:
    if not isinstance(value, list) or not value:
        raise RowError(field, f"expected a non-empty list of [args_list, expected] pairs, got {_show(value)}")
    for index, case in enumerate(value):
        if not (isinstance(case, list) and len(case) == 2 and isinstance(case[0], list)):
            raise RowError(field, f"case {index}: expected [args_list, expected], got {_show(case)}")
    return value


def _identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise RowError(field, f"expected a Python function name, got {_show(value)}")
    return value


def _row_id(row: dict) -> str | None:
    value = row.get("id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise RowError("id", f"expected a non-empty string or an integer, got {_show(value)}")


def _extra(row: dict, known: set[str]) -> dict:
    """Fields a format does not use, kept in meta so nothing a user wrote is lost."""
    extra = {key: value for key, value in row.items() if key not in known | {"id", "task"}}
    return {"extra": extra} if extra else {}


def _use_all(value: object, field: str) -> bool:
    """The countdown rule flag; null (a column other rows of a table fill) means absent."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RowError(field, f"expected true or false, got {_show(value)}")
    return value


def _countdown(row: dict) -> Problem:
    numbers = _numbers(row.get("numbers"), "numbers")
    target = _integer(row.get("target"), "target", positive=True)
    solution = row.get("solution")
    if isinstance(solution, list) and all(isinstance(step, str) for step in solution):
        solution = "\n".join(solution)
    if solution is not None and not isinstance(solution, str):
        raise RowError("solution", f"expected step lines (a string or a list of strings), got {_show(solution)}")
    use_all = _use_all(row.get("use_all"), "use_all")
    level = _optional_text(row, "level")
    meta = _extra(row, {"numbers", "target", "solution", "use_all", "level"})
    if solution is not None:
        meta["solution"] = solution
    return countdown.make_problem(numbers, target, extra_meta=meta, id=_row_id(row), use_all=use_all, level=level)


def _gsm8k(row: dict) -> Problem:
    question, answer = _text(row, "question"), row.get("answer")
    meta = _extra(row, {"question", "answer"})
    if isinstance(answer, str) and "####" in answer:
        final = answer.rsplit("####", 1)[1].strip()
        if not final:
            raise RowError("answer", "nothing after '####'")
        reasoning = answer.rsplit("####", 1)[0]
        meta.update(solution=answer.strip(), steps=len([line for line in reasoning.splitlines() if line.strip()]))
        return Problem.create("arith", question, answer=final, meta=meta, id=_row_id(row))
    if isinstance(answer, int) and not isinstance(answer, bool):
        return Problem.create("arith", question, answer=str(answer), meta=meta, id=_row_id(row))
    raise RowError("answer", f"expected text ending in '#### <answer>' or an integer, got {_show(answer)}")


def _funcs_cases(row: dict) -> Problem:
    entry_point = _identifier(row.get("entry_point"), "entry_point")
    cases = _cases(row.get("cases"), "cases")
    meta = _extra(row, {"prompt", "entry_point", "cases", "examples", "solution"})
    if row.get("examples") is not None:
        meta["examples"] = _cases(row["examples"], "examples")
    if row.get("solution") is not None:
        meta["solution"] = _text(row, "solution")
    return Problem.create("funcs", _text(row, "prompt"), tests={"entry_point": entry_point, "cases": cases},
                          meta=meta, id=_row_id(row))


def _funcs_test_code(row: dict) -> Problem:
    entry_point = row.get("entry_point")
    tests = {"entry_point": None if entry_point is None else _identifier(entry_point, "entry_point"),
             "test_code": _text(row, "test_code")}
    return Problem.create("funcs", _text(row, "prompt"), tests=tests,
                          meta=_extra(row, {"prompt", "entry_point", "test_code"}), id=_row_id(row))


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
        raise RowError("test_imports", f"expected a list of import lines, got {_show(imports)}")
    setup = row.get("test_setup_code") or ""
    if not isinstance(setup, str):
        raise RowError("test_setup_code", f"expected a string of code, got {_show(setup)}")
    return "\n".join([*imports, *([setup] if setup.strip() else []), *tests]) + "\n"


def _mbpp(row: dict) -> Problem:
    text_field = "text" if "text" in row else "prompt"
    text, tests, code = _text(row, text_field), row.get("test_list"), _optional_text(row, "code")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) and t.strip() for t in tests):
        raise RowError("test_list", f"expected a non-empty list of assert strings, got {_show(tests)}")
    if row.get("entry_point") is not None:
        entry_point = _identifier(row["entry_point"], "entry_point")
    elif (entry_point := infer_entry_point(tests[0], code)) is None:
        raise RowError("test_list", f"cannot infer the entry point from {_show(tests[0])}; add 'entry_point'")
    used = {text_field, "test_list", "test_imports", "test_setup_code", "code", "entry_point", "task_id"}
    meta = {"source_format": "mbpp", **_extra(row, used)}
    if code is not None:
        meta["solution"] = code
    if row.get("task_id") is not None:
        meta["source_id"] = row["task_id"]
    prompt = f"{text}\nYour code should pass these tests:\n" + "\n".join(tests)  # the MBPP protocol
    checks = {"entry_point": entry_point, "test_code": _mbpp_test_code(row, tests)}
    return Problem.create("funcs", prompt, tests=checks, meta=meta, id=_row_id(row))


def _humaneval(row: dict) -> Problem:
    prompt, test = _text(row, "prompt"), _text(row, "test")
    entry_point = _identifier(row.get("entry_point"), "entry_point")
    meta = {"source_format": "humaneval", **_extra(row, {"prompt", "test", "entry_point", "task_id",
                                                          "canonical_solution"})}
    if row.get("task_id") is not None:
        meta["source_id"] = row["task_id"]
    if isinstance(row.get("canonical_solution"), str):
        meta["solution"] = prompt + row["canonical_solution"]
    return Problem.create("funcs", prompt, tests={"entry_point": entry_point, "test_code": test},
                          meta=meta, id=_row_id(row))


def _qa(row: dict) -> Problem:
    return Problem.create("qa", _text(row, "prompt"), answer=_answer(row.get("answer"), "answer"),
                          meta=_extra(row, {"prompt", "answer"}), id=_row_id(row))


def check_countdown_form(row: dict, meta: dict, tests: object) -> None:
    """Countdown's part of the lab's own form: the numbers, the target and the rule in meta."""
    _numbers(meta.get("numbers"), "meta.numbers")
    _integer(meta.get("target"), "meta.target", positive=True)
    _use_all(meta.get("use_all"), "meta.use_all")


def check_funcs_form(row: dict, meta: dict, tests: object) -> None:
    """Funcs' part of the lab's own form: `{entry_point, cases}` or `{entry_point, test_code}`."""
    if not isinstance(tests, dict) or ("cases" in tests) == ("test_code" in tests):
        raise RowError("tests", f"expected {{entry_point, cases}} or {{entry_point, test_code}}, got {_show(tests)}")
    if "cases" in tests or tests.get("entry_point") is not None:
        _identifier(tests.get("entry_point"), "tests.entry_point")
    if "cases" in tests:
        _cases(tests["cases"], "tests.cases")
    elif not isinstance(tests["test_code"], str) or not tests["test_code"].strip():
        raise RowError("tests.test_code", f"expected a non-empty string, got {_show(tests['test_code'])}")


def _problem_form(row: dict) -> Problem:
    """The lab's own form, as `Problem.to_dict` writes it (id optional)."""
    task = row["task"]
    if task not in task_names():
        raise RowError("task", f"expected one of {list(task_names())}, got {_show(task)}")
    spec = task_spec(task)
    prompt, meta, tests = _text(row, "prompt"), row.get("meta") or {}, row.get("tests")
    if not isinstance(meta, dict):
        raise RowError("meta", f"expected an object, got {_show(meta)}")
    if spec.check_form is not None:
        spec.check_form(row, meta, tests)
    if not spec.writes_code:
        if tests is not None:
            coders = " and ".join(other.name for other in task_specs() if other.writes_code)
            raise RowError("tests", f"only {coders} problems have tests, this is {task}")
        return Problem.create(task, prompt, answer=_answer(row.get("answer"), "answer"), meta=meta, id=_row_id(row))
    if row.get("answer") is not None and not isinstance(row["answer"], str):
        raise RowError("answer", f"expected a string or null, got {_show(row['answer'])}")
    return Problem.create(task, prompt, answer=row.get("answer"), tests=tests, meta=meta, id=_row_id(row))


# The built-in families' public row shapes, each family's in the order they are tried.
FORMATS: dict[str, tuple[RowFormat, ...]] = {
    "countdown": (RowFormat("{numbers, target}", lambda row: {"numbers", "target"} <= row.keys(), _countdown),),
    "arith": (RowFormat("GSM8K {question, answer}", lambda row: {"question", "answer"} <= row.keys(), _gsm8k),),
    "funcs": (RowFormat("{prompt, entry_point, cases}", lambda row: {"entry_point", "cases"} <= row.keys(),
                        _funcs_cases),
              RowFormat("{prompt, test_code}", lambda row: "test_code" in row, _funcs_test_code),
              RowFormat("MBPP {text|prompt, test_list}", lambda row: "test_list" in row, _mbpp),
              RowFormat("HumanEval {prompt, test, entry_point}",
                        lambda row: {"prompt", "test", "entry_point"} <= row.keys(), _humaneval)),
    "qa": (RowFormat("{prompt, answer}", lambda row: {"prompt", "answer"} <= row.keys(), _qa),),
}


def recognised() -> str:
    """The row shapes `parse_row` knows, for its error message."""
    shapes = [row_format.shape for spec in task_specs() for row_format in spec.row_formats]
    return "{task, prompt, answer|tests, meta} (problem form), " + ", ".join(shapes)


def parse_row(row: object) -> Problem:
    """The problem one decoded JSON row describes, or `RowError`."""
    if not isinstance(row, dict):
        raise RowError(None, f"expected a JSON object, got {type(row).__name__} {_show(row)}")
    try:
        if "task" in row and row.keys() <= set(FIELDS):
            return _problem_form(row)
        for spec in task_specs():
            for row_format in spec.row_formats:
                if row_format.matches(row):
                    if "task" in row and row["task"] != spec.name:
                        raise RowError("task", f"{_show(row['task'])} disagrees with the fields, "
                                       f"which make a {spec.name} row")
                    return row_format.parse(row)
    except RowError:
        raise
    except ValueError as error:  # a Problem invariant the checks above did not name
        raise RowError(None, str(error)) from None
    raise RowError(None, f"unrecognised row with fields {sorted(row)}; recognised rows: {recognised()}")
