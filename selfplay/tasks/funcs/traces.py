"""How the built-in model's imitation corpus writes funcs traces (its `CorpusRecipe`).

An expert trace is the problem's reference function. A flawed one, `wrong_body`, has one token of
it changed (a constant off by one, a comparison, `+`/`-`, `min`/`max`, `True`/`False`, a letter in
a string), checked to FAIL the hidden cases; it is made with the calculator on too.
"""
from __future__ import annotations

import io
import json
import random
import signal
import threading
import tokenize

from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import CorpusRecipe
from selfplay.tasks.traces import fails_grader

MUTANT_CHECK_S = 0.5  # in-process time limit for running one funcs mutant on its cases


_SWAPS = {"True": "False", "False": "True", "min": "max", "max": "min", "<": "<=", "<=": "<",
          ">": ">=", ">=": ">", "+": "-", "-": "+"}


def mutants(source: str) -> list[str]:
    """Every variant of `source` with one token changed: an int off by one (both ways), a swap
    from `_SWAPS`, or the last letter of a string literal moved to the next letter.

    >>> mutants("def f(x):\\n    return x > 2\\n")[:2]
    ['def f(x):\\n    return x >= 2\\n', 'def f(x):\\n    return x > 3\\n']
    """
    lines = source.splitlines(keepends=True)
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        (row, start), (_, end) = token.start, token.end
        options = [_SWAPS[token.string]] if token.string in _SWAPS else []
        if token.type == tokenize.NUMBER and token.string.isdigit():
            options = [str(int(token.string) + 1)] + ([str(int(token.string) - 1)] if int(token.string) else [])
        if token.type == tokenize.STRING and any(c.isalpha() for c in token.string[1:-1]):
            at = max(i for i, c in enumerate(token.string) if c.isalpha() and 0 < i < len(token.string) - 1)
            letter = token.string[at]
            shifted = "a" if letter == "z" else "A" if letter == "Z" else chr(ord(letter) + 1)
            options = [token.string[:at] + shifted + token.string[at + 1:]]
        for option in options:
            line = lines[row - 1]
            found.append("".join(lines[:row - 1] + [line[:start] + option + line[end:]] + lines[row:]))
    return found


class _Timeout(Exception):
    pass


def _breaks_in_process(source: str, tests: dict) -> bool:
    """Whether the mutant gets some hidden case wrong (or raises, or runs too long). It runs here,
    not in the sandbox, because it is our own expert code with one token changed, and the sandbox
    costs ~0.1 s a call; `!=` here implies a failure under the sandbox's stricter comparison."""
    namespace: dict = {}
    try:
        exec(compile(source, "<mutant>", "exec"), namespace)  # noqa: S102 - trusted expert code
        function = namespace[tests["entry_point"]]
    except Exception:
        return False  # not a subtle mistake
    def alarm(*_):
        raise _Timeout
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, MUTANT_CHECK_S)
    try:
        for args, expected in tests["cases"]:
            if json.loads(json.dumps(function(*json.loads(json.dumps(args))))) != expected:
                return True
        return False
    except Exception:
        return True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def wrong_body(problem: Problem, expert: str, rng: random.Random) -> str | None:
    candidates = mutants(expert)
    rng.shuffle(candidates)
    tests = problem.tests or {}
    in_process = threading.current_thread() is threading.main_thread() and tests.get("cases") is not None
    for candidate in candidates[:8]:
        if in_process and _breaks_in_process(candidate, tests):
            return candidate
        if not in_process and fails_grader(problem, candidate) is not None:
            return candidate
    return None


RECIPE = CorpusRecipe(mistakes={"wrong_body": wrong_body}, mistakes_with_calculator=("wrong_body",))
