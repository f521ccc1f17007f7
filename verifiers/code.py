"""Code-execution verifiers: does a candidate program pass its tests?

    run_cases(program, entry_point, cases)   cases: [(args_list, expected), ...], JSON-able
    run_asserts(program, test_code)          MBPP asserts, HumanEval `check(candidate)`, test_*

The candidate runs in a jailed child process (`verifiers.sandbox`) that sees the arguments of
each call and nothing else. Expected values never enter it. For `run_cases` this process
compares the decoded results type-strictly; for `run_asserts` a separate tester process runs
the trusted test code and reaches the candidate only through a pipe (`_child/tester.py`). So the
candidate cannot decide its own verdict, whatever it prints, patches, exits with or returns.
A machine that cannot run the jail raises `SandboxUnavailable`: that is never a verdict.

Judging a result costs no more than the expected value is large (plus a fixed-size excerpt for
the detail), so a huge wrong result cannot hold the verdict past the run's deadline.

Knows nothing about search, models, Ray or files of a run.
"""
from __future__ import annotations

import math
import os
import secrets
import select
import subprocess
import time

from verifiers._child import wire
from verifiers.sandbox import CHILD_DIR, CandidateProcess, SandboxError, SandboxLimits, interpreter, stop_process
from verifiers.verdict import Verdict

DEFAULT_TIMEOUT_S = 5.0
MAX_PROGRAM_BYTES = 1 << 20
MAX_CASES = 10_000
FLOAT_REL_TOL = 1e-9


def run_cases(program: str, entry_point: str, cases: list, timeout_s: float = DEFAULT_TIMEOUT_S,
              limits: SandboxLimits | None = None) -> Verdict:
    """Call `entry_point(*args)` for every case in one sandboxed process; compare type-strictly.

    >>> run_cases("def add(a, b): return a + b", "add", [([1, 2], 3), ([2, 2], 4)]).passed
    True

    Results cross as JSON values: a tuple is accepted where a list is expected (JSON has no
    tuples), but `True` is not `1`, `1` is not `1.0` and `"1"` is not `1`. Floats must agree
    to a relative 1e-9. Zero cases is a failure (`invalid`), not a vacuous pass.
    """
    problem = _check_inputs(program, entry_point) or _check_cases(cases)
    if problem:
        return Verdict.fail("invalid", problem)
    limits = _limits(limits, timeout_s)
    outcomes, failure = [], ""
    try:
        with CandidateProcess(program, limits) as candidate:
            if entry_point not in candidate.names:
                return Verdict.fail("wrong", f"the program defines no function {entry_point!r}")
            for index, (args, expected) in enumerate(cases):
                result = candidate.call(entry_point, list(args))
                status, reason = _judge(result, expected)
                outcomes.append(status)
                if status != "passed" and not failure:
                    failure = f"case {index}: {reason}"
    except SandboxError as error:
        return Verdict.fail(error.status, error.detail, score=len([s for s in outcomes if s == "passed"]) / len(cases))
    return _summarise(outcomes, len(cases), failure)


def run_asserts(program: str, test_code: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                entry_point: str | None = None, limits: SandboxLimits | None = None) -> Verdict:
    """Run trusted `test_code` against the sandboxed `program`; score = share of units passed.

    >>> run_asserts("def sq(x): return x * x", "assert sq(3) == 9\\nassert sq(-2) == 4").passed
    True

    A unit is a top-level assert, a top-level call such as `check(f)`, an uncalled
    `check(candidate)` (with `entry_point`), or an uncalled `test_*` function. Values cross the
    boundary as exact built-in types; a candidate function can be called, not inspected.
    """
    problem = _check_inputs(program, entry_point)
    if not problem and (not isinstance(test_code, str) or not test_code.strip()):
        problem = "no test code"
    if problem:
        return Verdict.fail("invalid", problem)
    limits = _limits(limits, timeout_s)
    try:
        with CandidateProcess(program, limits) as candidate:
            if entry_point and entry_point not in candidate.names:
                return Verdict.fail("wrong", f"the program defines no function {entry_point!r}")
            report = _run_tester(candidate, test_code, entry_point, limits)
    except SandboxError as error:
        return Verdict.fail(error.status, error.detail)
    return _verdict_from_report(report)


# -- inputs ------------------------------------------------------------------------------------

def _check_inputs(program: object, entry_point: object) -> str:
    if not isinstance(program, str):
        return f"program must be a str, got {type(program).__name__}"
    if len(program.encode("utf-8", "replace")) > MAX_PROGRAM_BYTES:
        return "program larger than 1 MB"
    if "\x00" in program:
        return "program contains a NUL byte"
    if entry_point is not None and not (isinstance(entry_point, str) and entry_point.isidentifier()):
        return f"entry point must be a Python identifier, got {entry_point!r}"
    return ""


def _check_cases(cases: object) -> str:
    if not isinstance(cases, (list, tuple)) or not cases:
        return "no test cases"
    if len(cases) > MAX_CASES:
        return f"more than {MAX_CASES} test cases"
    for index, case in enumerate(cases):
        if not isinstance(case, (list, tuple)) or len(case) != 2 or not isinstance(case[0], (list, tuple)):
            return f"case {index} is not an (args_list, expected) pair"
        if not _is_json_value(case[0]) or not _is_json_value(case[1]):
            return f"case {index} holds a value that is not JSON-able"
    return ""


def _is_json_value(value: object, depth: int = 0) -> bool:
    if depth > wire.MAX_DEPTH:
        return False
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind in (list, tuple):
        return all(_is_json_value(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(key) is str and _is_json_value(item, depth + 1) for key, item in value.items())
    return False


def _limits(limits: SandboxLimits | None, timeout_s: float) -> SandboxLimits:
    if limits is None:
        return SandboxLimits(timeout_s=timeout_s)
    return limits


# -- judging -----------------------------------------------------------------------------------

def json_form(value: object) -> object:
    """What a value looks like as JSON: tuples become lists; nothing else changes."""
    if type(value) in (list, tuple):
        return [json_form(item) for item in value]
    if type(value) is dict:
        return {key: json_form(item) for key, item in value.items()}
    return value


def strictly_equal(got: object, expected: object) -> bool:
    """Type-strict equality of two JSON-form values; a tuple in `got` counts as the list it becomes.

    >>> strictly_equal(1, True), strictly_equal(1.0, 1), strictly_equal((1, "a"), [1, "a"])
    (False, False, True)

    The work is bounded by the size of `expected`: a container of another length is unequal
    before any of its items is looked at.
    """
    if (list if type(got) is tuple else type(got)) is not type(expected):
        return False
    if type(expected) is float:
        return got == expected or math.isclose(got, expected, rel_tol=FLOAT_REL_TOL, abs_tol=0.0)
    if type(expected) is list:
        return len(got) == len(expected) and all(strictly_equal(a, b) for a, b in zip(got, expected))
    if type(expected) is dict:
        return got.keys() == expected.keys() and all(strictly_equal(got[key], expected[key]) for key in expected)
    return got == expected


def _judge(result, expected) -> tuple[str, str]:
    if not result.ok:
        status = "memory" if result.error == "MemoryError" else "error"
        return status, f"raised {result.message or result.error}"
    if strictly_equal(result.value, json_form(expected)):
        return "passed", ""
    return "wrong", f"expected {_short(expected)}, got {_short(result.value)}"


def _short(value: object, limit: int = 120) -> str:
    """`repr(value)` cut to `limit` characters; of a large container only the first items are shown."""
    parts, size = [], 0
    for part in _repr_parts(value):
        parts.append(part)
        size += len(part)
        if size > limit:
            break
    text = "".join(parts)
    return text if len(text) <= limit else text[:limit - 3] + "..."


BRACKETS = {list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"), frozenset: ("frozenset({", "})"), dict: ("{", "}")}


def _repr_parts(value: object):
    """The text of `repr(value)` in pieces, made only as far as they are read."""
    kind = type(value)
    if kind not in BRACKETS or not value:
        yield repr(value)
        return
    opening, closing = BRACKETS[kind]
    yield opening
    for index, item in enumerate(value.items() if kind is dict else value):
        if index:
            yield ", "
        if kind is dict:
            yield from _repr_parts(item[0])
            yield ": "
            item = item[1]
        yield from _repr_parts(item)
    yield ",)" if kind is tuple and len(value) == 1 else closing


def _summarise(outcomes: list[str], total: int, failure: str) -> Verdict:
    passed = outcomes.count("passed")
    if passed == total:
        return Verdict.ok(f"{total}/{total} cases passed")
    status = next((s for s in ("memory", "error") if s in outcomes), "wrong")
    return Verdict.fail(status, f"{passed}/{total} cases passed; {failure}", score=passed / total)


# -- the tester process ------------------------------------------------------------------------

def _run_tester(candidate: CandidateProcess, test_code: str, entry_point: str | None,
                limits: SandboxLimits) -> dict:
    request_fd, reply_fd, candidate_nonce = candidate.hand_over()
    control_read, control_write = os.pipe()
    verdict_read, verdict_write = os.pipe()
    fds = (control_read, verdict_write, request_fd, reply_fd)
    nonce = secrets.token_hex(16)
    process = subprocess.Popen(
        [interpreter(), "-I", "-S", "-B", os.path.join(CHILD_DIR, "tester.py"), *map(str, fds)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=fds,
        start_new_session=True, close_fds=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    for fd in fds:
        os.close(fd)
    try:
        config = {"test_code": test_code, "entry_point": entry_point, "names": candidate.names,
                  "nonce": nonce, "candidate_nonce": candidate_nonce, "memory_mb": max(1024, 2 * limits.memory_mb)}
        with os.fdopen(control_write, "wb") as control:
            control.write(wire.dumps_line(config))
        report = _read_report(verdict_read, candidate.deadline)
    finally:
        os.close(verdict_read)
        stop_process(process, graceful=False)
    if report.get("nonce") != nonce:
        raise SandboxError("error", "the tester's report is not authentic")
    return report


def _read_report(fd: int, deadline: float) -> dict:
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SandboxError("timeout", "time limit reached while running the tests")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise SandboxError("error", "the tester exited without a report")
            buffer += chunk
    return wire.loads_line(buffer.split(b"\n", 1)[0])


def _verdict_from_report(report: dict) -> Verdict:
    units, passed = report.get("units"), report.get("passed")
    if type(units) is not int or type(passed) is not int or not 0 <= passed <= units:
        return Verdict.fail("error", "the tester's report is malformed")
    error, failure = str(report.get("error") or ""), str(report.get("failure") or "")
    if units == 0 and not error:
        return Verdict.fail("invalid", "the test code has no asserts or checks")
    score = passed / units if units else 0.0
    if error:
        status = "memory" if "MemoryError" in error else "error"
        if "does not parse" in error:
            status = "invalid"
        return Verdict.fail(status, f"{passed}/{units} passed; {error}", score=score)
    if passed == units:
        return Verdict.ok(f"{units}/{units} checks passed")
    return Verdict.fail("wrong", f"{passed}/{units} passed; {failure}", score=score)
