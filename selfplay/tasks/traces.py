"""How the built-in model's imitation corpus writes each built-in family's traces (`CorpusRecipe`s).

An expert trace is the problem's solution (countdown: one of up to `countdown_solutions` distinct
solutions from `solve_all`, so sampling has variety). A flawed trace carries one deliberate
mistake, checked to FAIL the grader:
- countdown: `wrong_step` (one result slightly off, later steps redone from it), `wrong_answer`
  (the last step claims the target with the wrong operator), `dead_end` (true steps on available
  numbers that never reach the target, then stop);
- arith: `wrong_step` (as above, the `####` line follows), `wrong_answer` (`####` slightly off);
- funcs: `wrong_body` (one token of the expert function changed: a constant off by one, a
  comparison, `+`/`-`, `min`/`max`, `True`/`False`, a letter in a string).
With the calculator on, false arithmetic cannot be written, so only choice mistakes are made
(`dead_end`, `wrong_body`). Countdown steps may end with the numbers left (`with_state`).

`selfplay.model.corpus` draws problems, kinds and the calculator format; this module knows the
tasks and their grader (through their specs), nothing about models or training.
"""
from __future__ import annotations

import functools
import io
import itertools
import json
import random
import re
import signal
import threading
import tokenize

from selfplay.tasks.countdown import _moves, solve_all
from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import CorpusRecipe, task_spec
from verifiers.code import DEFAULT_TIMEOUT_S
from verifiers.countdown import RETRY

MAX_SLIP = 3  # a slipped result is off by 1 to this much
MUTANT_CHECK_S = 0.5  # in-process time limit for running one funcs mutant on its cases
STEP = re.compile(r"(\d+)([-+*/])(\d+)=(\d+)")  # one computation line: `25-5=20`


@functools.lru_cache(maxsize=1 << 14)
def _countdown_solutions(numbers: tuple[int, ...], target: int, limit: int, use_all: bool) -> tuple[str, ...]:
    return tuple("\n".join(steps) for steps in solve_all(list(numbers), target, limit, use_all))


def countdown_expert(problem: Problem, config, rng: random.Random) -> str | None:
    """One of up to `config.countdown_solutions` distinct solutions, under the problem's rule; with
    `config.countdown_search` an answer that searches for one in its text (`countdown_search`)."""
    meta = problem.meta
    if config.countdown_search:
        return countdown_search(list(meta["numbers"]), meta["target"], bool(meta.get("use_all")),
                                config.countdown_search, rng)
    found = _countdown_solutions(tuple(meta["numbers"]), meta["target"], config.countdown_solutions,
                                 bool(meta.get("use_all")))
    return rng.choice(found) if found else meta["solution"]


def first_steps(numbers: list[int]) -> list[str]:
    """Every legal first step in a fixed order a model can follow by looking at the prompt: pairs
    in the order the problem gives its numbers, then `+ * - /` (larger number first, `-` on
    unequal numbers, `/` when it divides), equal pairs once.

    >>> first_steps([6, 5, 13])
    ['6+5=11', '6*5=30', '6-5=1', '13+6=19', '13*6=78', '13-6=7', '13+5=18', '13*5=65', '13-5=8']
    """
    pairs = dict.fromkeys((max(a, b), min(a, b)) for a, b in itertools.combinations(numbers, 2))
    return [step for larger, smaller in pairs for _, step in _moves(larger, smaller)]


def numbers_after(numbers: list[int], step: str) -> list[int]:
    """The numbers left after step line `a op b=c`: the others in their order, then c."""
    left, _, right, result = STEP.fullmatch(step).groups()
    rest = list(numbers)
    rest.remove(int(left))
    rest.remove(int(right))
    return rest + [int(result)]


def _through(numbers: list[int], step: str, target: int, use_all: bool, rng: random.Random) -> list[str] | None:
    """A solution that starts with `step` and uses its result (one of up to 8, drawn), else None."""
    rest = numbers_after(numbers, step)
    result = rest[-1]
    if result == target and (len(rest) == 1 or not use_all):
        return [step]
    if len(rest) < 2:
        return None
    found = [steps for steps in _countdown_solutions(tuple(rest), target, 64, use_all)
             if any(int(operand) == result for line in steps.split("\n") for operand in STEP.fullmatch(line).group(1, 3))]
    return [step, *rng.choice(found).split("\n")] if found else None


@functools.lru_cache(maxsize=1 << 16)
def _finishes(left: tuple[int, ...], target: int) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Every way to finish from the numbers `left` (steps until one number is left) that never
    makes `target` on the way: (final value, steps), in `first_steps` order."""
    if len(left) == 1:
        return ((left[0], ()),) if left[0] != target else ()
    found = []
    for step in first_steps(list(left)):
        rest = numbers_after(list(left), step)
        if rest[-1] != target:
            found += [(value, (step, *steps)) for value, steps in _finishes(tuple(rest), target)]
    return tuple(found)


def _dead_attempt(numbers: list[int], step: str, target: int, rng: random.Random) -> list[str] | None:
    """`step`, then the steps that end closest to the target with every number used (one drawn
    among the closest): an attempt that tries its best from a first step that cannot make it, so
    live and dead attempts go on the same way. None when every finish makes the target."""
    finishes = _finishes(tuple(numbers_after(numbers, step)), target)
    if not finishes:
        return None
    gap = min(abs(value - target) for value, _ in finishes)
    return [step, *rng.choice([steps for value, steps in finishes if abs(value - target) == gap])]


def countdown_search(numbers: list[int], target: int, use_all: bool, max_failed: int,
                     rng: random.Random) -> str | None:
    """An answer that searches in its own text (the verifier's `retry` lines): first steps in the
    order of `first_steps`; each one from which no solution goes on is finished as close to the
    target as it gets (`_dead_attempt`) and followed by `retry`; then a solution through the
    first one from which the target can be made. None when more than `max_failed` dead first
    steps come before it (the trace would skip some) or none can.

    >>> countdown_search([6, 5, 13], 43, True, 4, random.Random(0)).split("\\nretry\\n")[-1]
    '6*5=30\\n30+13=43'
    """
    tried: list[list[str]] = []
    for step in first_steps(numbers):
        solution = _through(numbers, step, target, use_all, rng)
        if solution is not None:
            return "\n".join([line for attempt in tried for line in (*attempt, RETRY)] + solution)
        if len(tried) == max_failed:
            return None
        attempt = _dead_attempt(numbers, step, target, rng)
        if attempt is None:
            return None
        tried.append(attempt)
    return None


def with_state(numbers: list[int], completion: str) -> str:
    """Every countdown step followed by the numbers left after it: the given ones still unused in
    their order, then the results made so far in theirs; after a `retry` line the given ones again.

    >>> with_state([25, 5, 4], "25-5=20\\n20*4=80")
    '25-5=20 [4 20]\\n20*4=80 [80]'
    >>> with_state([25, 5, 4], "25+5=30\\nretry\\n25-5=20")
    '25+5=30 [4 30]\\nretry\\n25-5=20 [4 20]'
    """
    left, lines = list(numbers), []
    for line in completion.split("\n"):
        match = STEP.fullmatch(line)
        if line == RETRY:
            left = list(numbers)
        if match is None:
            lines.append(line)
            continue
        for operand in (int(match[1]), int(match[3])):
            if operand in left:
                left.remove(operand)
        left.append(int(match[4]))
        lines.append(f"{line} [{' '.join(map(str, left))}]")
    return "\n".join(lines)


def _value(left: int, operator: str, right: int) -> int | None:
    """The exact positive result of a step, else None.

    >>> _value(7, "/", 2), _value(8, "/", 2), _value(2, "-", 5)
    (None, 4, None)
    """
    if operator == "/":
        value = left // right if right and left % right == 0 else None
    else:
        value = {"+": left + right, "-": left - right, "*": left * right}[operator]
    return value if value is not None and value > 0 else None


def slip(lines: list[str], index: int, delta: int) -> list[str] | None:
    """`lines` with step `index`'s result off by `delta` and later steps redone from the slipped
    values (true arithmetic after the slip); None when a redone step is not exact or positive.

    >>> slip(["25-5=20", "20*4=80"], 0, 1)
    ['25-5=21', '21*4=84']
    """
    out, renamed = list(lines), {}
    for i, line in enumerate(lines[index:], index):
        match = STEP.fullmatch(line)
        if match is None:
            continue
        left, operator, right, result = int(match[1]), match[2], int(match[3]), int(match[4])
        if i == index:
            value = result + delta
        else:
            left, right = renamed.get(left, left), renamed.get(right, right)
            value = _value(left, operator, right)
        if value is None or value <= 0:
            return None
        out[i] = f"{left}{operator}{right}={value}"
        renamed[result] = value
    return out


def _fails(problem: Problem, completion: str) -> str | None:
    return None if task_spec(problem.task).grade(problem, completion, DEFAULT_TIMEOUT_S).passed else completion


def _slipped(expert: str, rng: random.Random) -> tuple[list[str], list[int]] | None:
    """The expert lines with one step slipped, and the indices of the step lines."""
    lines = expert.split("\n")
    steps = [i for i, line in enumerate(lines) if STEP.fullmatch(line)]
    slipped = slip(lines, rng.choice(steps), rng.choice([-1, 1]) * rng.randint(1, MAX_SLIP))
    return None if slipped is None else (slipped, steps)


def wrong_step(problem: Problem, expert: str, rng: random.Random) -> str | None:
    slipped = _slipped(expert, rng)
    return None if slipped is None else _fails(problem, "\n".join(slipped[0]))


def arith_wrong_step(problem: Problem, expert: str, rng: random.Random) -> str | None:
    """`wrong_step`, and the `####` line gives the slipped last result."""
    slipped = _slipped(expert, rng)
    if slipped is None:
        return None
    lines, steps = slipped
    lines[-1] = f"#### {STEP.fullmatch(lines[steps[-1]])[4]}"
    return _fails(problem, "\n".join(lines))


def countdown_wrong_answer(problem: Problem, expert: str, rng: random.Random) -> str | None:
    lines = expert.split("\n")
    left, operator, right, result = STEP.fullmatch(lines[-1]).groups()
    others = [op for op in "+-*/" if op != operator]
    lines[-1] = f"{left}{rng.choice(others)}{right}={result}"
    return _fails(problem, "\n".join(lines))


def arith_wrong_answer(problem: Problem, expert: str, rng: random.Random) -> str | None:
    lines = expert.split("\n")
    answer = int(problem.answer) + rng.choice([-1, 1]) * rng.randint(1, MAX_SLIP)
    return _fails(problem, "\n".join(lines[:-1] + [f"#### {answer}"])) if answer >= 0 else None


def dead_end(problem: Problem, expert: str, rng: random.Random) -> str | None:
    pool, steps = list(problem.meta["numbers"]), []
    for _ in range(rng.randint(1, len(pool) - 1)):
        first, second = rng.sample(range(len(pool)), 2)
        larger, smaller = max(pool[first], pool[second]), min(pool[first], pool[second])
        moves = [(op, _value(larger, op, smaller)) for op in "+-*/"]
        operator, value = rng.choice([(op, v) for op, v in moves if v is not None])
        pool = [n for i, n in enumerate(pool) if i not in (first, second)] + [value]
        steps.append(f"{larger}{operator}{smaller}={value}")
    return _fails(problem, "\n".join(steps))


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
        if not in_process and _fails(problem, candidate) is not None:
            return candidate
    return None


COUNTDOWN = CorpusRecipe(
    mistakes={"wrong_step": wrong_step, "wrong_answer": countdown_wrong_answer, "dead_end": dead_end},
    mistakes_with_calculator=("dead_end",), calculator=True, expert=countdown_expert,
    uses=lambda problem, config: len(problem.meta["numbers"]) in config.countdown_numbers,
    finish=lambda problem, completion, config: (with_state(problem.meta["numbers"], completion)
                                                if config.countdown_state else completion))
ARITH = CorpusRecipe(mistakes={"wrong_step": arith_wrong_step, "wrong_answer": arith_wrong_answer},
                     mistakes_with_calculator=(), calculator=True)
FUNCS = CorpusRecipe(mistakes={"wrong_body": wrong_body}, mistakes_with_calculator=("wrong_body",))
