"""How the built-in model's imitation corpus writes countdown traces (its `CorpusRecipe`).

The family's corpus settings are `CountdownCorpus` (a recipe's `corpus.options.countdown`). An
expert trace is one of up to `solutions` distinct solutions from `solve_all` (so sampling has
variety), or with `search` an answer that searches in its text. A flawed
trace carries one deliberate mistake, checked to FAIL the grader: `wrong_step` (one result
slightly off, later steps redone from it), `wrong_answer` (the last step claims the target with
the wrong operator), `dead_end` (true steps on available numbers that never reach the target,
then stop). With the calculator on only `dead_end` is made. Steps may end with the numbers left
(`state`, `with_state`).

Knows countdown and its grader (through its spec); nothing about models or training.
"""
from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass

from selfplay.tasks.countdown.problems import moves, solve_all
from selfplay.tasks.problem import Problem
from selfplay.tasks.spec import CorpusRecipe
from selfplay.tasks.traces import STEP, fails_grader, slip_one, step_value
from verifiers.countdown import RETRY


@dataclass(frozen=True)
class CountdownCorpus:
    """Countdown's corpus settings: `options: {countdown: {...}}` in a pretraining recipe's `corpus`
    (an older recipe writes them flat, `countdown_<name>`; both are read)."""

    solutions: int = 8  # an expert countdown trace is one of up to this many distinct solutions
    numbers: tuple[int, ...] = (3, 4)  # countdown train problems with these many numbers are used
    state: bool = True  # each countdown step ends with the numbers left, `[4 20]` (a scratchpad)
    search: int = 0  # >0: an expert countdown trace searches in its text, at most this many abandoned
    #                  attempts (`retry` lines) before its solution; 0: the solution only

    def __post_init__(self) -> None:
        object.__setattr__(self, "numbers", tuple(int(n) for n in self.numbers))
        if not self.numbers or any(n < 2 for n in self.numbers):
            raise ValueError(f"countdown numbers must be counts of at least 2, got {self.numbers}")
        if self.search < 0:
            raise ValueError(f"countdown search must be at least 0, got {self.search}")
        if self.solutions < 1:
            raise ValueError(f"countdown solutions must be at least 1, got {self.solutions}")


def settings(config) -> CountdownCorpus:
    """Countdown's settings in a `CorpusConfig`."""
    return config.options["countdown"]


@functools.lru_cache(maxsize=1 << 14)
def _countdown_solutions(numbers: tuple[int, ...], target: int, limit: int, use_all: bool) -> tuple[str, ...]:
    return tuple("\n".join(steps) for steps in solve_all(list(numbers), target, limit, use_all))


def countdown_expert(problem: Problem, config, rng: random.Random) -> str | None:
    """One of up to `solutions` distinct solutions, under the problem's rule; with `search` an answer
    that searches for one in its text (`countdown_search`)."""
    meta, options = problem.meta, settings(config)
    if options.search:
        return countdown_search(list(meta["numbers"]), meta["target"], bool(meta.get("use_all")),
                                options.search, rng)
    found = _countdown_solutions(tuple(meta["numbers"]), meta["target"], options.solutions,
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
    return [step for larger, smaller in pairs for _, step in moves(larger, smaller)]


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


def wrong_step(problem: Problem, expert: str, rng: random.Random) -> str | None:
    slipped = slip_one(expert, rng)
    return None if slipped is None else fails_grader(problem, "\n".join(slipped[0]))


def countdown_wrong_answer(problem: Problem, expert: str, rng: random.Random) -> str | None:
    lines = expert.split("\n")
    left, operator, right, result = STEP.fullmatch(lines[-1]).groups()
    others = [op for op in "+-*/" if op != operator]
    lines[-1] = f"{left}{rng.choice(others)}{right}={result}"
    return fails_grader(problem, "\n".join(lines))


def dead_end(problem: Problem, expert: str, rng: random.Random) -> str | None:
    pool, steps = list(problem.meta["numbers"]), []
    for _ in range(rng.randint(1, len(pool) - 1)):
        first, second = rng.sample(range(len(pool)), 2)
        larger, smaller = max(pool[first], pool[second]), min(pool[first], pool[second])
        moves = [(op, step_value(larger, op, smaller)) for op in "+-*/"]
        operator, value = rng.choice([(op, v) for op, v in moves if v is not None])
        pool = [n for i, n in enumerate(pool) if i not in (first, second)] + [value]
        steps.append(f"{larger}{operator}{smaller}={value}")
    return fails_grader(problem, "\n".join(steps))


def searching_pricing(max_positions: int) -> dict:
    """The countdown prices of a model whose answers search in their text (`retry` lines), as
    `Pricing` fields: an answer may fill the positions a prompt leaves (a countdown prompt is at
    most 80 characters), a path holds up to 40 lines (7 attempts of 4 numbers and their retries).

    >>> searching_pricing(512)
    {'answer_tokens': 432, 'max_depth': 40, 'step_tokens': 32}
    """
    return {"answer_tokens": max(max_positions - 80, 64), "max_depth": 40, "step_tokens": 32}


def searching_search() -> dict:
    """The countdown search settings of a model whose answers search in their text, as SearchConfig
    fields. Its whole answers already search, so MCTS values a new step by sampling on from it to an
    answer that the rules check grades (`rollouts`), eight steps an expansion so the rollouts advance
    together; the path's mean token probability, the default value, ranks confident misses high.

    >>> searching_search()
    {'rollouts': True, 'expansions_per_node': 8}
    """
    return {"rollouts": True, "expansions_per_node": 8}


def searching_declarations(config, max_positions: int) -> dict:
    """What a model pretrained on countdown traces that search in their text (`search`) declares in
    its config.json: longer answers (`selfplay_pricing`), finished attempts left open for a `retry`
    line (`selfplay_retries`) and MCTS with rollouts (`selfplay_search`); nothing otherwise."""
    if not settings(config).search:
        return {}
    return {"selfplay_pricing": {"countdown": searching_pricing(max_positions)}, "selfplay_retries": True,
            "selfplay_search": {"countdown": searching_search()}}


def card_sentences(config, max_positions: int) -> dict[str, str]:
    """Countdown's sentences in the built-in model's card: which problems and experts its corpus
    has (`corpus`) and the scratchpad its calculator steps end with (`calculator`)."""
    options = settings(config)
    corpus = (f"\n  Countdown problems with {' or '.join(map(str, options.numbers))} numbers; an expert countdown trace"
              f" is one of up to\n  {options.solutions} distinct solutions of its problem.")
    if options.search:
        corpus += (f"\n  Each one searches in its text: first steps in a fixed order (the prompt's pairs of numbers, then"
                   f"\n  `+ * - /`), each from which the target cannot be made finished as close to the target as it"
                   f" gets\n  and followed by a line `retry`, at most {options.search} of them, then a solution."
                   f"\n  The verifier grades the last attempt; the config declares the longer answers (`selfplay_pricing`)"
                   f"\n  and the retries (`selfplay_retries`, so that search keeps a finished attempt open for a `retry`),"
                   f"\n  and MCTS values a new step by a rollout to a graded answer (`selfplay_search`)."
                   f"\n  Traces longer than {max_positions} positions were left out.")
    calculator = ("\nEach countdown step ends with the numbers left after it, `<<25-5=20>> [4 20]`: a scratchpad of the"
                  "\nstate that the verifier checks exactly." if options.state else "")
    return {"corpus": corpus, "calculator": calculator}


RECIPE = CorpusRecipe(
    mistakes={"wrong_step": wrong_step, "wrong_answer": countdown_wrong_answer, "dead_end": dead_end},
    mistakes_with_calculator=("dead_end",), calculator=True, expert=countdown_expert, declares=searching_declarations,
    uses=lambda problem, config: len(problem.meta["numbers"]) in settings(config).numbers,
    finish=lambda problem, completion, config: (with_state(problem.meta["numbers"], completion)
                                                if settings(config).state else completion),
    options=CountdownCorpus, card=card_sentences)
