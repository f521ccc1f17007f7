"""Funcs: write a small Python function from input/output examples.

Each problem is one FUNCTION: a family from `families` and one parameter dict of it,
named by `function_key` (`affine(a=3,b=2)`, kept in `meta["function_key"]`). The trusted
reference source runs in-process to compute cases: 3 VISIBLE examples (shown in the
prompt and kept in `meta["examples"]`) and 8 to 12 HIDDEN cases (`tests["cases"]`, what a
candidate is graded on), with no argument list in both. A case is `[args_list, expected]`.
The prompt is one instruction line, then each visible example as a doctest-style call line
(`>>> f(2)`) followed by a line with the expected value's repr (`7`).

`generate` draws families and functions itself; `generate_for` makes one problem per given
function (what `splits.py` uses to keep each function in one split).

This module builds problems. It never runs a model's code (that is `verifiers.code`, in a
sandbox) and knows nothing about files.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence

from selfplay.tasks.funcs.families import BY_NAME, ENTRY_POINT, FAMILY_NAMES, FuncFamily, Limits
from selfplay.tasks.problem import Problem, canonical_json, content_key

N_VISIBLE = 3
Function = tuple[str, dict]  # (family name, parameter dict): one function of one family


def function_key(family: str, params: dict) -> str:
    """The canonical name of one function, parameters sorted by name.

    >>> function_key("affine", {"b": 2, "a": 3})
    'affine(a=3,b=2)'
    """
    return f"{family}({','.join(f'{name}={params[name]!r}' for name in sorted(params))})"


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
    return with_examples(f"Write a Python function `{ENTRY_POINT}({signature})` that matches these examples.",
                         examples)


def with_examples(instruction: str, examples: Sequence[list]) -> str:
    """`instruction`, then per example a doctest-style `>>> f(args)` line and the expected value's repr."""
    lines = [instruction]
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


def _informativeness(visible: list[list], hidden: list[list]) -> tuple[int, int, int]:
    """(distinct visible outputs, visible examples whose output is not just the argument,
    distinct hidden outputs up to 2): higher pins the function down better (clamp shows both
    ends, sort unsorted input) and keeps a constant answer from passing the hidden cases."""
    outputs = {canonical_json(expected) for _, expected in visible}
    hidden_outputs = {canonical_json(expected) for _, expected in hidden}
    return (len(outputs), sum(1 for args, expected in visible if args != [expected]),
            min(2, len(hidden_outputs)))


def _split_visible(rng: random.Random, cases: list[list]) -> tuple[list[list], list[list]]:
    """The most informative of a few random choices of visible examples, and the rest."""
    best_score, best_order = None, cases
    for _ in range(30):
        order = rng.sample(cases, len(cases))
        score = _informativeness(order[:N_VISIBLE], order[N_VISIBLE:])
        if best_score is None or score > best_score:
            best_score, best_order = score, order
    return best_order[:N_VISIBLE], best_order[N_VISIBLE:]


def make_problem(rng: random.Random, family: FuncFamily, params: dict, limits: Limits,
                 hidden: tuple[int, int]) -> Problem | None:
    """One problem of `family` with `params`, or None when its inputs could not fill the cases."""
    source = family.render(params)
    function = load_reference(source)
    cases = _draw_cases(rng, family, params, function, limits, N_VISIBLE + rng.randint(*hidden))
    if cases is None:
        return None
    visible, hidden_cases = _split_visible(rng, cases)
    meta = {"examples": visible, "solution": source, "family": family.name, "params": params,
            "function_key": function_key(family.name, params),
            "knobs": {"max_int": limits.max_int, "max_len": limits.max_len}}
    return Problem.create("funcs", make_prompt(family.signature, visible), answer=None,
                          tests={"entry_point": ENTRY_POINT, "cases": hidden_cases}, meta=meta)


def _check_knobs(families: Sequence[str], max_int: int, max_len: int, hidden: tuple[int, int]) -> Limits:
    unknown = [name for name in families if name not in BY_NAME]
    if unknown or not families:
        raise ValueError(f"unknown families {unknown}; expected some of {FAMILY_NAMES}")
    if not 1 <= hidden[0] <= hidden[1]:
        raise ValueError(f"hidden must be a (low, high) range with 1 <= low <= high, got {hidden}")
    return Limits(max_int, max_len)


def _new_problem(rng: random.Random, function: Function, limits: Limits, hidden: tuple[int, int],
                 seen: set[str]) -> Problem:
    """A problem of `function` whose content key is not in `seen` (then added to it)."""
    family, params = BY_NAME[function[0]], function[1]
    for _ in range(100):
        problem = make_problem(rng, family, params, limits, hidden)
        if problem is not None and content_key(problem) not in seen:
            seen.add(content_key(problem))
            return problem
    raise ValueError(f"could not make a new problem of {function_key(*function)} with these knobs")


def generate_for(functions: Sequence[Function], seed: int, max_int: int = 10, max_len: int = 6,
                 hidden: tuple[int, int] = (8, 12)) -> list[Problem]:
    """One problem per `(family, params)` in `functions`, in order, distinct by content key
    (a function listed twice gets different cases), deterministic in `seed`."""
    limits = _check_knobs(sorted({name for name, _ in functions}) or FAMILY_NAMES, max_int, max_len, hidden)
    rng = random.Random(seed)
    seen: set[str] = set()
    return [_new_problem(rng, function, limits, hidden, seen) for function in functions]


def generate(n: int, seed: int, families: Sequence[str] = FAMILY_NAMES, max_int: int = 10,
             max_len: int = 6, hidden: tuple[int, int] = (8, 12)) -> list[Problem]:
    """`n` distinct funcs problems, deterministic in `seed`: each draws a family uniformly,
    then one of its functions uniformly.

    `max_int` and `max_len` bound the arguments; `hidden` is the range of hidden cases."""
    limits = _check_knobs(families, max_int, max_len, hidden)
    rng = random.Random(seed)
    problems: list[Problem] = []
    seen: set[str] = set()
    for _ in range(n):
        family = BY_NAME[rng.choice(tuple(families))]
        problems.append(_new_problem(rng, (family.name, family.draw_params(rng)), limits, hidden, seen))
    return problems
