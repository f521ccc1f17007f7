"""Funcs' spec (`SPEC`): graded by running the program in the sandbox on the hidden cases (or on the
row's assert code); at answer time search may run the examples the prompt shows (the hidden cases
only grade). Also its content fields and the function a problem asks for (its split unit)."""
from __future__ import annotations

import functools

import re
from collections.abc import Callable

from selfplay.tasks.funcs import problems as funcs, rows, splits, traces
from selfplay.tasks.problem import (Problem, canonical_json, normalised_code, normalised_json, normalised_text,
                                    without_name)
from selfplay.tasks.spec import Pricing, TaskSpec, priced
from verifiers import code
from verifiers.rewards import extract_program
from verifiers.verdict import Verdict

EXAMPLE_TIMEOUT_S = 2.0  # one run of a candidate on the prompt's examples, at answer time


def grade_program(problem: Problem, completion: str, timeout_s: float) -> Verdict:
    tests = problem.tests or {}
    program = extract_program(completion)
    if tests.get("cases") is not None:
        return code.run_cases(program, tests["entry_point"], tests["cases"], timeout_s=timeout_s)
    return code.run_asserts(program, tests.get("test_code", ""), timeout_s=timeout_s,
                            entry_point=tests.get("entry_point"))


def examples_check(problem: Problem) -> Callable[[str], float] | None:
    """The share of the prompt's examples a program passes, where the problem shows examples. A
    program is run once per check however often the search writes it (sampled answers repeat)."""
    examples, entry_point = problem.meta.get("examples"), (problem.tests or {}).get("entry_point")
    if not (examples and entry_point):
        return None

    @functools.lru_cache(maxsize=None)
    def share(program: str) -> float:
        return code.run_cases(program, entry_point, examples, timeout_s=EXAMPLE_TIMEOUT_S).score
    return lambda text: share(extract_program(text))


def _funcs_invariants(problem: Problem) -> None:
    if "cases" not in problem.tests and "test_code" not in problem.tests:
        raise ValueError(f"problem {problem.id}: tests need 'cases' or 'test_code'")


def return_zero(problem: Problem, solution: str) -> str:
    """A program that guesses: the expert's first `return` made `return 0`."""
    return re.sub(r"return .*", "return 0", solution, count=1)


def funcs_content_fields(task: str, prompt: str, tests: dict | None, meta: dict) -> dict:
    """Funcs' content: the prompt, the entry point and the hidden tests (cases or test code)."""
    tests = tests or {}
    if "cases" in tests:
        return {"task": task, "prompt": prompt, "entry_point": tests.get("entry_point"), "cases": tests["cases"]}
    return {"task": task, "prompt": prompt, "entry_point": tests.get("entry_point"),
            "test_code": tests.get("test_code")}


def funcs_normalised_fields(problem: "Problem") -> dict:
    """Funcs' normalised content: the prompt without the entry point's name, the cases as a set or
    the test code as parsed."""
    tests = problem.tests or {}
    entry_point = tests.get("entry_point")
    fields = {"kind": "funcs", "prompt": normalised_text(without_name(problem.prompt, entry_point))}
    if "cases" in tests:
        cases = tests["cases"] if isinstance(tests["cases"], (list, tuple)) else [tests["cases"]]
        fields["cases"] = sorted((normalised_json(case) for case in cases), key=canonical_json)
    else:
        fields["test_code"] = normalised_code(tests.get("test_code"), entry_point)
    return fields


def function_of(problem: Problem) -> str | None:
    """The function a generated problem asks for (`funcs.function_key` of its family and
    parameters), None for rows from outside files: what a split keeps in one split."""
    meta = problem.meta
    if isinstance(meta.get("family"), str) and isinstance(meta.get("params"), dict):
        return funcs.function_key(meta["family"], meta["params"])
    return None


SPEC = TaskSpec(
    name="funcs", grade=grade_program,
    instruction="Answer with only the Python function in one ```python code block.",
    prices=priced(Pricing(answer_tokens=96, max_depth=10, step_tokens=64)), writes_code=True,
    check_problem=_funcs_invariants, check_form=rows.check_funcs_form, row_formats=rows.FORMATS,
    content_fields=funcs_content_fields, normalised_fields=funcs_normalised_fields, generate=funcs.generate,
    answer_check=examples_check, vote_by_text=True, corpus=traces.RECIPE, dev_files={"funcs": "funcs/dev.jsonl", "funcs_pipes": "funcs/pipes/dev.jsonl",
                                                               "funcs_hard": "funcs/hard/dev.jsonl"},
    card_tokens=192, near_miss=return_zero, splits=splits.RECIPE, split_unit=function_of)
