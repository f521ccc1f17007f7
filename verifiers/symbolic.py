"""Bounded symbolic equality of two short LaTeX answers: `\\sqrt{8}` is `2\\sqrt{2}`.

`verifiers.math` decides what exact numbers and strings can decide; what is left (roots, pi,
powers, sets, tuples, intervals, equations) comes here. The comparison itself is Hugging Face's
`math-verify` (its LaTeX parser and structural comparison over sympy) in a child process
(`verifiers/_symbolic_worker.py`) with its float tolerances taken out, so `0.333333` never
equals `1/3` here either.

Sympy can hang or blow up on hostile text (`9^{9^{9}}`, `1000000!`, deep nesting), and
math-verify's own timeout uses signals, which work only in a main thread: the lab compares in
worker threads and Ray actors. So every comparison is bounded twice:

1. `screen` refuses, before any sympy, text a short answer has no need of: over
   MAX_SYMBOLIC_CHARS, non-ASCII (look-alike digits), `!` after anything but a one- or
   two-digit number (`1000000!`, `(5!)!`), `**`, a digit run over MAX_DIGIT_RUN,
   nesting over MAX_NESTING, more than MAX_POWERS powers, a power of a power (`9^9^9`,
   `2^{10^{10}}`), integer exponents whose product is over MAX_EXPONENT, a word of two
   letters or more outside a LaTeX command (sympy reads `no` as n*o, equal to `on`), and
   any LaTeX command not in _COMMANDS (`\\int`, `\\sum`, `\\lim`, `\\binom`...). Refused text is not equal to
   anything here.
2. The child is killed when one comparison runs past COMPARE_TIMEOUT_S (STARTUP_TIMEOUT_S more
   when it must first start), and a fresh one starts on the next call. Calls from several
   threads take turns; a call that waits longer than one whole turn (COMPARE_TIMEOUT_S +
   STARTUP_TIMEOUT_S) for the child returns False. So no call outlasts two turns.

`equal(pred, gold)` is True only when the child said so in time. It knows nothing about answer
markers, completions, the lab's tasks, search or Ray.
"""
from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time

MAX_SYMBOLIC_CHARS = 200  # longer answers are compared as strings only
MAX_DIGIT_RUN = 30  # digits in one literal
MAX_NESTING = 10  # depth of (), [], {}
MAX_POWERS = 2  # `^` signs (a degree sign `^\circ` is not a power)
MAX_EXPONENT = 1000  # the product of all integer exponents
COMPARE_TIMEOUT_S = 8.0  # one comparison in the child, parsing included
STARTUP_TIMEOUT_S = 60.0  # starting the child (importing sympy) on a loaded machine
CACHE_SIZE = 4096  # decided comparisons remembered per process
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_symbolic_worker.py")

_COMMANDS = frozenset("""
    frac dfrac tfrac sqrt pi cdot times div pm mp left right circ infty
    le leq ge geq lt gt ne neq in cup cap setminus emptyset varnothing
    text mathrm mathbf textbf textrm mbox mathbb mathit
    sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh log ln exp
    alpha beta gamma delta epsilon varepsilon theta vartheta lambda mu rho sigma tau phi varphi
    omega Delta Gamma Theta Lambda Sigma Phi Omega
    dots ldots cdots quad qquad begin end pmatrix bmatrix matrix
""".split())
_ALLOWED_CHARS = re.compile(r"[A-Za-z0-9 !+\-*/^_=<>()\[\]{}|,.;:'%&\\]*")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_DIGIT_RUN = re.compile(r"[0-9]+")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_SMALL_FACTORIAL = re.compile(r"(?<![0-9.}\])!])[0-9]{1,2}!(?!!)")
_COMMAND_AT = re.compile(r"\\[A-Za-z]+")


def _exponent_at(text: str, caret: int) -> tuple[str, int]:
    """The exponent after the `^` at `caret` (a {group}, a \\command, a digit run or one
    character) and the index just past it."""
    start = caret + 1
    while start < len(text) and text[start] == " ":
        start += 1
    if text.startswith("{", start):
        depth = 0
        for index in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                return text[start + 1:index], index + 1
        return text[start + 1:], len(text)
    # a parser may read `10^100` as 10**100 although LaTeX raises to `1` only: take all digits
    if match := _COMMAND_AT.match(text, start) or _DIGIT_RUN.match(text, start):
        return match.group(), match.end()
    return text[start:start + 1], start + 1


def _exponent_problem(text: str) -> str:
    powers, product = 0, 1
    for caret in (index for index, char in enumerate(text) if char == "^"):
        exponent, end = _exponent_at(text, caret)
        if exponent.strip() == "\\circ":
            continue
        powers += 1
        if "^" in exponent or text[end:].lstrip().startswith("^"):
            return "a power of a power"
        for digits in _DIGIT_RUN.findall(exponent):
            product *= max(1, int(digits))
        if product > MAX_EXPONENT:
            return f"exponents over {MAX_EXPONENT} in all"
    return f"more than {MAX_POWERS} powers" if powers > MAX_POWERS else ""


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def screen(text: str) -> str:
    """Why `text` may not go to sympy ("" when it may).

    >>> screen("2\\\\sqrt{2}"), screen("9^{9^{9}}"), screen("\\\\int_0^1 x\\\\,dx")
    ('', 'a power of a power', 'the command \\\\int')
    """
    if len(text) > MAX_SYMBOLIC_CHARS:
        return f"over {MAX_SYMBOLIC_CHARS} characters"
    if not text.strip():
        return "blank"
    if not text.isascii() or _ALLOWED_CHARS.fullmatch(text) is None:
        return "a character outside the symbolic alphabet"
    if "**" in text:
        return "a ** power"
    if text.count("!") != len(_SMALL_FACTORIAL.findall(text)):
        return "a factorial of more than a two-digit number"
    for match in _COMMAND.finditer(text):
        name = match.group(1)
        if name.isalpha() and name not in _COMMANDS:
            return f"the command \\{name}"
    if any(len(run) > MAX_DIGIT_RUN for run in _DIGIT_RUN.findall(text)):
        return f"a number over {MAX_DIGIT_RUN} digits"
    if _WORD.search(_COMMAND.sub(" ", text)):
        return "a word"
    if _nesting(text) > MAX_NESTING:
        return f"nesting over {MAX_NESTING}"
    return _exponent_problem(text)


class _Worker:
    """One child process and the lock that makes callers take turns on it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.pending = b""

    def _start(self, deadline: float) -> bool:
        if importlib.util.find_spec("math_verify") is None:
            raise ModuleNotFoundError(
                "verifiers.symbolic needs math-verify: pip install -c constraints.txt -e .")
        self.process = subprocess.Popen(
            [sys.executable, "-I", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, close_fds=True)
        self.pending = b""
        return self._read_line(deadline) == {"ready": True}

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                pipe.close()
        self.process = None

    def _read_line(self, deadline: float) -> dict | None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return None
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def ask(self, gold: str, pred: str, deadline: float) -> bool | None:
        """The child's answer, or None when it failed or ran out of time (it is then stopped)."""
        alive = self.process is not None and self.process.poll() is None
        if not alive:
            self.stop()
            if not self._start(deadline + STARTUP_TIMEOUT_S):
                self.stop()
                return None
        try:
            self.process.stdin.write(json.dumps({"gold": gold, "pred": pred}).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:
            self.stop()
            return None
        reply = self._read_line(deadline + (0.0 if alive else STARTUP_TIMEOUT_S))
        if reply is None or "equal" not in reply:
            self.stop()
            return None
        return bool(reply["equal"])


_worker = _Worker()
atexit.register(lambda: _worker.stop())


def _forget_after_fork() -> None:
    """A forked process must not talk to its parent's child: it gets its own, on first use."""
    global _worker
    for pipe in (_worker.process.stdin, _worker.process.stdout) if _worker.process else ():
        pipe.close()
    _worker = _Worker()


os.register_at_fork(after_in_child=_forget_after_fork)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _decided(pred: str, gold: str) -> bool:
    """The child's verdict; raises TimeoutError when there is none, so it is not cached."""
    if not _worker.lock.acquire(timeout=COMPARE_TIMEOUT_S + STARTUP_TIMEOUT_S):
        raise TimeoutError("the symbolic worker was busy past the deadline")
    try:
        answer = _worker.ask(gold, pred, time.monotonic() + COMPARE_TIMEOUT_S)
    finally:
        _worker.lock.release()
    if answer is None:
        raise TimeoutError("the symbolic comparison did not finish")
    return answer


def equal(pred: str, gold: str) -> bool:
    """True when math-verify, without float tolerance, finds the two answers equal in time.

    >>> equal("\\\\sqrt{8}", "2\\\\sqrt{2}"), equal("0.333333", "\\\\frac{1}{3}")
    (True, False)
    """
    if screen(pred) or screen(gold):
        return False
    try:
        return _decided(pred, gold)
    except TimeoutError:
        return False
