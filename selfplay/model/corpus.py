"""The imitation corpus the base model is pretrained on: expert traces with deliberate mistakes.

Every trace is a (prompt, completion) pair in the built-in format (`builtin_prompt(problem.prompt)`
then the solution, one step per line; the trainer appends EOS). Traces come from TRAIN splits
only: `load_train_problems` refuses a file named like a dev or test split and checks every id and
content key against the dev and test files beside it.

With `calculator` on (the default), every countdown and arith computation is written as a
calculator call, `<<25-5=20>>`: the model learns to write the expression and the tool writes the
result (`tool_spans` marks `20>>` so training leaves it out of the loss). The model then cannot
learn false arithmetic, and its mistakes are choices: which numbers, which operation, when to
stop. With the calculator, only choice mistakes are made (`MISTAKES_WITH_CALCULATOR`).

A configurable share of traces carries one deliberate mistake, because the "internet" the model
imitates is imperfect; the resulting model is often wrong greedily and often right somewhere
among many samples. Mistake kinds, each checked to FAIL the grader:
- countdown: `wrong_step` (one result slightly off, later steps redone from it), `wrong_answer`
  (the last step claims the target with the wrong operator), `dead_end` (true steps on available
  numbers that never reach the target, then stop);
- arith: `wrong_step` (as above, the `####` line follows), `wrong_answer` (`####` slightly off);
- funcs: `wrong_body` (one token of the expert function changed: a constant off by one, a
  comparison, `+`/`-`, `min`/`max`, `True`/`False`, a letter in a string).
Expert countdown traces draw among several distinct solutions (`solve_all`) so sampling has
variety. Everything is deterministic in the seed.

    >>> traces = build_corpus(CorpusConfig(traces=20, task_mix={"countdown": 1.0}), seed=0)
    >>> traces[0].prompt.startswith("Use "), sum(t.kind != "expert" for t in traces)
    (True, 4)

Knows tasks, the built-in prompt format and the grader; nothing about models or training.
"""
from __future__ import annotations

import functools
import io
import json
import random
import re
import signal
import threading
import tokenize
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from selfplay.grading import grade
from selfplay.prompting import builtin_prompt
from selfplay.tasks import Problem, content_key, load_problems
from selfplay.tasks.countdown import solve_all
from selfplay.tasks.splits import derive_seed
from selfplay.tools.spans import tool_output_spans

REPO = Path(__file__).resolve().parents[2]
MISTAKES = {"countdown": ("wrong_step", "wrong_answer", "dead_end"),
            "arith": ("wrong_step", "wrong_answer"),
            "funcs": ("wrong_body",)}
# False arithmetic cannot be written through a calculator; what is left to get wrong is choices.
MISTAKES_WITH_CALCULATOR = {"countdown": ("dead_end",), "arith": (), "funcs": ("wrong_body",)}
CALCULATOR_TASKS = ("countdown", "arith")
HELD_OUT_SPLITS = ("dev", "test")
DEFAULT_MIX = {"countdown": 0.85, "arith": 0.075, "funcs": 0.075}  # countdown is the main target
MAX_SLIP = 3  # a slipped result is off by 1 to this much
MUTANT_CHECK_S = 0.5  # in-process time limit for running one funcs mutant on its cases


@dataclass(frozen=True)
class Trace:
    problem_id: str  # the train problem the trace answers
    task: str  # countdown, arith or funcs
    prompt: str  # the built-in prompt text (problem prompt and a newline)
    completion: str  # what the model learns to write after the prompt; EOS not included
    kind: str  # "expert" or one of MISTAKES[task]
    tool_spans: tuple[tuple[int, int], ...] = ()  # character spans of tool output in `completion` (no loss)


@dataclass(frozen=True)
class CorpusConfig:
    traces: int = 40000  # traces in the corpus, all tasks together
    task_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))  # traces per task, as shares
    mistake_share: float = 0.2  # share of each task's traces that carry one deliberate mistake
    countdown_solutions: int = 8  # an expert countdown trace is one of up to this many distinct solutions
    countdown_numbers: tuple[int, ...] = (3, 4)  # countdown train problems with these many numbers are used
    datasets: str = "datasets"  # folder with <task>/train.jsonl; relative paths start at the repo root
    calculator: bool = True  # countdown and arith computations go through the calculator tool (<<a-b=c>>)
    countdown_state: bool = True  # each countdown step ends with the numbers left, `[4 20]` (a scratchpad)

    def __post_init__(self) -> None:
        if self.traces < 1:
            raise ValueError(f"traces must be at least 1, got {self.traces}")
        object.__setattr__(self, "task_mix", {str(k): float(v) for k, v in dict(self.task_mix).items()})
        unknown = set(self.task_mix) - set(MISTAKES)
        if unknown or not self.task_mix:
            raise ValueError(f"task_mix takes some of {sorted(MISTAKES)}, got {sorted(self.task_mix)}")
        if any(v < 0 for v in self.task_mix.values()) or sum(self.task_mix.values()) <= 0:
            raise ValueError(f"task_mix weights must be non-negative with a positive sum, got {self.task_mix}")
        if not 0.0 <= self.mistake_share < 1.0:
            raise ValueError(f"mistake_share must lie in [0, 1), got {self.mistake_share}")
        object.__setattr__(self, "countdown_numbers", tuple(int(n) for n in self.countdown_numbers))
        if not self.countdown_numbers or any(n < 2 for n in self.countdown_numbers):
            raise ValueError(f"countdown_numbers must be counts of at least 2, got {self.countdown_numbers}")
        if self.countdown_solutions < 1:
            raise ValueError(f"countdown_solutions must be at least 1, got {self.countdown_solutions}")

    def mistakes(self, task: str) -> tuple[str, ...]:
        return (MISTAKES_WITH_CALCULATOR if self.calculator else MISTAKES)[task]

    def train_file(self, task: str) -> Path:
        root = Path(self.datasets)
        return (root if root.is_absolute() else REPO / root) / task / "train.jsonl"


def load_train_problems(path: str | Path) -> list[Problem]:
    """The problems of a train file, refusing dev/test files and any overlap with the dev and
    test files in the same folder (by id and by content key)."""
    path = Path(path)
    if any(name in path.name for name in HELD_OUT_SPLITS):
        raise ValueError(f"{path}: the corpus is built from train splits only, not {path.name}")
    problems = load_problems(path)
    held_out: set[str] = set()
    for name in HELD_OUT_SPLITS:
        sibling = path.with_name(path.name.replace("train", name))
        if sibling != path and sibling.exists():
            held_out |= {key for p in load_problems(sibling) for key in (p.id, content_key(p))}
    leaked = [p.id for p in problems if p.id in held_out or content_key(p) in held_out]
    if leaked:
        raise ValueError(f"{path}: {len(leaked)} problems also in dev/test, e.g. {leaked[0]}")
    return problems


def split_counts(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """`total` cut in proportion to `weights` (largest remainder), summing exactly to `total`.

    >>> split_counts(10, {"a": 2, "b": 1})
    {'a': 7, 'b': 3}
    """
    norm = sum(weights.values())
    exact = {name: total * weight / norm for name, weight in weights.items()}
    counts = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: (counts[name] - exact[name], name))
    for name in by_remainder[:total - sum(counts.values())]:
        counts[name] += 1
    return counts


def build_corpus(config: CorpusConfig, seed: int) -> list[Trace]:
    """`config.traces` traces over the tasks of `config.task_mix`, shuffled, deterministic in `seed`."""
    traces: list[Trace] = []
    for task, count in split_counts(config.traces, config.task_mix).items():
        if count:
            problems = load_train_problems(config.train_file(task))
            if task == "countdown":
                problems = [p for p in problems if len(p.meta["numbers"]) in config.countdown_numbers]
            traces += _task_traces(task, problems, count, config, random.Random(derive_seed(seed, "corpus", task)))
    random.Random(derive_seed(seed, "corpus", "shuffle")).shuffle(traces)
    return traces


def summarize(traces: list[Trace]) -> dict:
    """Counts per task and kind, and the flawed share: what a model card reports."""
    kinds = Counter((t.task, t.kind) for t in traces)
    tasks = Counter(t.task for t in traces)
    return {"traces": len(traces),
            "mistake_share": round(sum(t.kind != "expert" for t in traces) / max(len(traces), 1), 4),
            "tasks": {task: {"traces": n, "kinds": {k: c for (t, k), c in sorted(kinds.items()) if t == task}}
                      for task, n in sorted(tasks.items())}}


def _cycle(problems: list[Problem], rng: random.Random) -> Iterator[Problem]:
    """The problems in a fresh random order each pass, forever."""
    order = list(problems)
    while True:
        rng.shuffle(order)
        yield from order


def _task_traces(task: str, problems: list[Problem], count: int, config: CorpusConfig,
                 rng: random.Random) -> list[Trace]:
    flawed = round(count * config.mistake_share) if config.mistakes(task) else 0
    flags = [True] * flawed + [False] * (count - flawed)
    rng.shuffle(flags)
    order, traces = _cycle(problems, rng), []
    for is_flawed in flags:
        for _ in range(10 * len(problems)):  # a problem that admits no mistake is passed over
            problem = next(order)
            completion = _expert(problem, config.countdown_solutions, rng)
            kind = rng.choice(config.mistakes(task)) if is_flawed else "expert"
            if is_flawed:
                completion = _MAKERS[kind](problem, completion, rng)
            if completion is not None:
                if config.countdown_state and task == "countdown":
                    completion = with_state(problem.meta["numbers"], completion)
                if config.calculator and task in CALCULATOR_TASKS:
                    completion = with_calculator(completion)
                spans = tuple(tool_output_spans(completion))
                traces.append(Trace(problem.id, task, builtin_prompt(problem.prompt), completion, kind, spans))
                break
        else:
            raise ValueError(f"no {task} problem admits a {'flawed' if is_flawed else 'expert'} trace")
    return traces


@functools.lru_cache(maxsize=1 << 14)
def _countdown_solutions(numbers: tuple[int, ...], target: int, limit: int) -> tuple[str, ...]:
    return tuple("\n".join(steps) for steps in solve_all(list(numbers), target, limit))


def _expert(problem: Problem, solutions: int, rng: random.Random) -> str:
    if problem.task == "countdown":
        found = _countdown_solutions(tuple(problem.meta["numbers"]), problem.meta["target"], solutions)
        return rng.choice(found) if found else problem.meta["solution"]
    return problem.meta["solution"]


_STEP = re.compile(r"(\d+)([-+*/])(\d+)=(\d+)")


def with_state(numbers: list[int], completion: str) -> str:
    """Every countdown step followed by the numbers left after it: the given ones still unused in
    their order, then the results made so far in theirs.

    >>> with_state([25, 5, 4], "25-5=20\\n20*4=80")
    '25-5=20 [4 20]\\n20*4=80 [80]'
    """
    left, lines = list(numbers), []
    for line in completion.split("\n"):
        match = _STEP.fullmatch(line)
        if match is None:
            lines.append(line)
            continue
        for operand in (int(match[1]), int(match[3])):
            if operand in left:
                left.remove(operand)
        left.append(int(match[4]))
        lines.append(f"{line} [{' '.join(map(str, left))}]")
    return "\n".join(lines)


def with_calculator(completion: str) -> str:
    """Every computation line written as a calculator call; other lines (`#### 19`) unchanged.

    >>> with_calculator("25-5=20\\n20*4=80"), with_calculator("3*4=12\\n#### 12")
    ('<<25-5=20>>\\n<<20*4=80>>', '<<3*4=12>>\\n#### 12')
    """
    lines = []
    for line in completion.split("\n"):
        step, _, state = line.partition(" [")
        lines.append(f"<<{step}>>" + (f" [{state}" if state else "") if _STEP.fullmatch(step) else line)
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
        match = _STEP.fullmatch(line)
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
    return None if grade(problem, completion).passed else completion


def _wrong_step(problem: Problem, expert: str, rng: random.Random) -> str | None:
    lines = expert.split("\n")
    steps = [i for i, line in enumerate(lines) if _STEP.fullmatch(line)]
    slipped = slip(lines, rng.choice(steps), rng.choice([-1, 1]) * rng.randint(1, MAX_SLIP))
    if slipped is None:
        return None
    if problem.task == "arith":
        last = _STEP.fullmatch(slipped[steps[-1]])
        slipped[-1] = f"#### {last[4]}"
    return _fails(problem, "\n".join(slipped))


def _wrong_answer(problem: Problem, expert: str, rng: random.Random) -> str | None:
    lines = expert.split("\n")
    if problem.task == "arith":
        answer = int(problem.answer) + rng.choice([-1, 1]) * rng.randint(1, MAX_SLIP)
        return _fails(problem, "\n".join(lines[:-1] + [f"#### {answer}"])) if answer >= 0 else None
    left, operator, right, result = _STEP.fullmatch(lines[-1]).groups()
    others = [op for op in "+-*/" if op != operator]
    lines[-1] = f"{left}{rng.choice(others)}{right}={result}"
    return _fails(problem, "\n".join(lines))


def _dead_end(problem: Problem, expert: str, rng: random.Random) -> str | None:
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


def _wrong_body(problem: Problem, expert: str, rng: random.Random) -> str | None:
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


_MAKERS = {"wrong_step": _wrong_step, "wrong_answer": _wrong_answer, "dead_end": _dead_end,
           "wrong_body": _wrong_body}
