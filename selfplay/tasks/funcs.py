"""Funcs: write a small Python function from input/output examples.

Each problem picks a family from `func_families`, draws its parameters, and runs the
trusted reference source in-process to compute cases: 3 VISIBLE examples (shown in the
prompt and kept in `meta["examples"]`) and 8 to 12 HIDDEN cases (`tests["cases"]`, what a
candidate is graded on), with no argument list in both. A case is `[args_list, expected]`.
The prompt is one instruction line, then each visible example as a doctest-style call line
(`>>> f(2)`) followed by a line with the expected value's repr (`7`).

This module builds problems. It never runs a model's code (that is `verifiers.code`, in a
sandbox) and knows nothing about files.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence

from selfplay.tasks.func_families import BY_NAME, ENTRY_POINT, FAMILY_NAMES, FuncFamily, Limits
from selfplay.tasks.problem import Problem, canonical_json, content_key

N_VISIBLE = 3


def is_plain_json(value: object) -> bool:
    """True for values that survive JSON unchanged: None, bool, int, str and lists of them
    (no floats, tuples or dicts, whose round trip can change type or key order)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    return isinstance(value, list) and all(is_plain_json(item) for item in value)


def load_reference(source: str, entry_point: str = ENTRY_POINT) -> Callable:
    """The function a TRUSTED reference source defines (never call this on model output)."""
    namespace: dict = {}
    exec(compile(source, "<reference>", "exec"), namespace)  # trusted generator code only
    return namespace[entry_point]


def make_prompt(signature: str, examples: Sequence[list]) -> str:
    """The instruction line, then per example a `>>> f(args)` line and the expected repr."""
    lines = [f"Write a Python function `{ENTRY_POINT}({signature})` that matches these examples."]
    for args, expected in examples:
        lines.append(f">>> {ENTRY_POINT}({', '.join(repr(a) for a in args)})")
        lines.append(repr(expected))
    return "\n".join(lines)


def _draw_cases(rng: random.Random, family: FuncFamily, params: dict, function: Callable,
                limits: Limits, count: int) -> list[list] | None:
    """`count` cases with distinct argument lists, or None if the inputs run out."""
    cases, seen = [], set()
    for _ in range(50 * count):
        if len(cases) == count:
            return cases
        args = family.draw_args(rng, params, limits)
        key = canonical_json(args)
        if key in seen:
            continue
        seen.add(key)
        expected = function(*copy.deepcopy(args))
        if not (is_plain_json(args) and is_plain_json(expected)):
            raise TypeError(f"family {family.name} made a value that is not plain JSON: {args!r} -> {expected!r}")
        cases.append([args, expected])
    return cases if len(cases) == count else None


def _informativeness(visible: list[list]) -> tuple[int, int]:
    """(distinct outputs, examples whose output is not just the argument): visible examples
    that score higher pin the function down better (clamp shows both ends, sort unsorted input)."""
    outputs = {canonical_json(expected) for _, expected in visible}
    return len(outputs), sum(1 for args, expected in visible if args != [expected])


def _split_visible(rng: random.Random, cases: list[list]) -> tuple[list[list], list[list]]:
    """The most informative of a few random choices of visible examples, and the rest."""
    best_score, best_order = None, cases
    for _ in range(30):
        order = rng.sample(cases, len(cases))
        score = _informativeness(order[:N_VISIBLE])
        if best_score is None or score > best_score:
            best_score, best_order = score, order
    return best_order[:N_VISIBLE], best_order[N_VISIBLE:]


def make_problem(rng: random.Random, family: FuncFamily, limits: Limits,
                 hidden: tuple[int, int]) -> Problem | None:
    """One problem of `family`, or None when its inputs could not fill the cases."""
    params = family.draw_params(rng)
    source = family.render(params)
    function = load_reference(source)
    cases = _draw_cases(rng, family, params, function, limits, N_VISIBLE + rng.randint(*hidden))
    if cases is None:
        return None
    visible, hidden_cases = _split_visible(rng, cases)
    meta = {"examples": visible, "solution": source, "family": family.name, "params": params,
            "knobs": {"max_int": limits.max_int, "max_len": limits.max_len}}
    return Problem.create("funcs", make_prompt(family.signature, visible), answer=None,
                          tests={"entry_point": ENTRY_POINT, "cases": hidden_cases}, meta=meta)


def generate(n: int, seed: int, families: Sequence[str] = FAMILY_NAMES, max_int: int = 10,
             max_len: int = 6, hidden: tuple[int, int] = (8, 12)) -> list[Problem]:
    """`n` distinct funcs problems, deterministic in `seed`, families drawn uniformly.

    `max_int` and `max_len` bound the arguments; `hidden` is the range of hidden cases."""
    unknown = [name for name in families if name not in BY_NAME]
    if unknown or not families:
        raise ValueError(f"unknown families {unknown}; expected some of {FAMILY_NAMES}")
    if not 1 <= hidden[0] <= hidden[1]:
        raise ValueError(f"hidden must be a (low, high) range with 1 <= low <= high, got {hidden}")
    limits = Limits(max_int, max_len)
    rng = random.Random(seed)
    problems: list[Problem] = []
    seen: set[str] = set()
    for _ in range(100 * n + 1000):
        if len(problems) == n:
            return problems
        problem = make_problem(rng, BY_NAME[rng.choice(tuple(families))], limits, hidden)
        if problem is not None and content_key(problem) not in seen:
            seen.add(content_key(problem))
            problems.append(problem)
    raise ValueError(f"could only make {len(problems)} of {n} distinct problems with these knobs")
