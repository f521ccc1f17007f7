"""Run a whole program in the code sandbox and keep what it printed: the python tool's runner.

`verifiers.code` calls functions of a candidate and judges the values; this module runs a
script top to bottom (as a program-aided answer does) and returns its stdout, or why it failed,
as a `ProgramRun`. The program is untrusted model output: it runs in the same jail, under the
same limits and deadline as any candidate (`verifiers.sandbox`), and everything it started is
torn down before `run_program` returns.

    >>> run_program("print(6 * 7)").stdout
    '42\\n'
    >>> run = run_program("1/0")
    >>> run.status, run.error
    ('error', 'ZeroDivisionError: division by zero')

`sys.exit(0)` (or `exit()`) ends a program normally; any other exit is an error. The error is
one short line: the exception's type and message, "timeout" or "memory". Stdout is kept up to
the limits' `output_bytes`, decoded as UTF-8 with replacement.

Knows the sandbox; nothing about models, tools' call formats or search.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from verifiers.sandbox import CandidateProcess, SandboxError, SandboxLimits

DEFAULT_TIMEOUT_S = 5.0
MAX_PROGRAM_CHARS = 64 * 1024
MAX_ERROR_CHARS = 200
_LOAD_FAILURE = "program failed to load: "

# The sandbox's harness runs a program when it loads it, with stdout a file that is only
# written when Python's buffer is flushed: the driver flushes it however the program ends.
# Past `kept` characters the driver drops what is printed, so a program that prints more than the
# file limit allows still returns the prefix (it used to fail on EFBIG and lose all of it).
_DRIVER = """\
import io as _io
import sys as _sys
class _KeptPrefix(_io.TextIOBase):
    def __init__(self, stream, kept):
        self._stream, self._left = stream, kept
    def writable(self):
        return True
    def write(self, text):
        if self._left > 0:
            part = text[:self._left]
            self._left -= len(part)
            self._stream.write(part)
        return len(text)
    def flush(self):
        self._stream.flush()
_sys.stdout = _KeptPrefix(_sys.stdout, {kept})
try:
    exec(compile({source!r}, "<program>", "exec"), {{"__name__": "__main__", "__builtins__": __builtins__}})
except SystemExit as _exit:
    if _exit.code not in (None, 0):
        raise
finally:
    _sys.stdout.flush()
"""


@dataclass(frozen=True)
class ProgramRun:
    status: str  # "ok", "error", "timeout" or "memory"
    stdout: str  # what the program printed (kept up to the limits' output_bytes)
    error: str  # one short line when status is not "ok", else ""
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_program(source: str, timeout_s: float = DEFAULT_TIMEOUT_S, limits: SandboxLimits | None = None) -> ProgramRun:
    """Run `source` as a script in the sandbox; its stdout, or the reason it failed.

    Raises `SandboxUnavailable` when this machine cannot run the jail (not a result of the program).
    """
    start = time.perf_counter()
    problem = _check_source(source)
    if problem:
        return ProgramRun("error", "", problem, time.perf_counter() - start)
    limits = limits or SandboxLimits(timeout_s=timeout_s)
    candidate = CandidateProcess(_DRIVER.format(source=source, kept=limits.output_bytes), limits)
    status, error = "ok", ""
    try:
        with candidate:
            pass  # the program ran while the candidate loaded; leaving the block tears it down
    except SandboxError as failure:
        status = failure.status if failure.status in ("timeout", "memory") else "error"
        error = status if status != "error" else _one_line(failure.detail.removeprefix(_LOAD_FAILURE))
    return ProgramRun(status, candidate.stdout, error, time.perf_counter() - start)


def _check_source(source: object) -> str:
    if not isinstance(source, str):
        return f"program must be a str, got {type(source).__name__}"
    if len(source) > MAX_PROGRAM_CHARS:
        return "program too long"
    if "\x00" in source:
        return "program contains a NUL byte"
    return ""


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[:MAX_ERROR_CHARS - 3] + "..."
