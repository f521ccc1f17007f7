"""Pipes: the levels of the code world, list programs built from described steps.

A problem asks for `f(xs)` on a list of integers, described in words and shown by examples:

    Write a Python function `f(xs)` on a list of integers: add 3 to each number, then keep the
    numbers greater than 2.
    (three examples, each a doctest-style call line `f([1, -4, 5])` after the prompt marker,
    then the expected value's repr `[4, 8]`, as funcs shows its examples)

A FUNCTION is a pipeline of one to three STAGES, each a stage kind with its parameter (`add(3)`,
`keep_gt(2)`, `sort`); its reference program writes one line per stage, in the described order,
each rebinding `xs` (a loop as a list comprehension, or a builtin), then `return xs`:

    def f(xs):
        xs = [x + 3 for x in xs]
        xs = [x for x in xs if x > 2]
        return xs

Stage kinds fall in four GROUPS (map, filter, order, slice). The LEVELS differ by which group
sequences their pipelines follow:
- `pipes` (easy, taught in pretraining): one stage of any group, or two stages whose groups are
  one of `TAUGHT_PAIRS` (map then filter, filter then order, order then slice, slice then map:
  every group is seen first and second);
- `pairs`: two stages whose groups are a pair never taught (filter then map, map then order, ...);
- `chains`: three stages (consecutive groups differ), longer than anything taught.
Both hard levels recombine taught lines: every stage's line is taught, in both positions; what is
new is the order of groups, or a third line. They also carry more hidden cases (12 to 16, against
8 to 12).

Why a description AND examples: three examples cannot pin down a two- or three-stage pipeline
(MBPP and HumanEval show a description and a few examples for the same reason), and the
examples are what an answer may be checked on at answer time (`builtin.examples_check`); the
hidden cases (`tests["cases"]`) grade, and no visible argument list is among them.

This module builds problems and draws functions for splits; it runs only its own trusted
reference programs, never a model's, and knows nothing about files.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass

from selfplay.tasks.funcs.families import ENTRY_POINT
from selfplay.tasks.funcs.problems import N_VISIBLE, is_plain_json, load_reference, with_examples
from selfplay.tasks.problem import Problem, canonical_json

FAMILY = "pipe"  # meta["family"] of every problem here
MAX_INT = 9  # list items lie in [-MAX_INT, MAX_INT]
LIST_LENGTHS = (2, 6)  # a list argument has this many items, low and high


@dataclass(frozen=True)
class StageKind:
    name: str  # "add", "keep_gt", ...
    group: str  # "map", "filter", "order" or "slice"
    values: tuple  # its parameter's values; () for a kind without one
    line: str  # the program line, `{k}` for the parameter
    words: str  # the description, `{k}` for the parameter

    def render(self, value) -> tuple[str, str]:
        """(program line, description) of this kind with `value`."""
        if self.name == "add" and value < 0:  # `x + -3` reads badly: subtract
            return "xs = [x - {k} for x in xs]".format(k=-value), f"subtract {-value} from each number"
        return self.line.format(k=value), self.words.format(k=value)


KINDS: tuple[StageKind, ...] = (
    StageKind("add", "map", tuple(k for k in range(-9, 10) if k), "xs = [x + {k} for x in xs]", "add {k} to each number"),
    StageKind("mul", "map", (-3, -2, -1, 2, 3, 4, 5), "xs = [x * {k} for x in xs]", "multiply each number by {k}"),
    StageKind("abs", "map", (), "xs = [abs(x) for x in xs]", "take the absolute value of each number"),
    StageKind("square", "map", (), "xs = [x * x for x in xs]", "square each number"),
    StageKind("mod", "map", tuple(range(2, 10)), "xs = [x % {k} for x in xs]", "take each number modulo {k}"),
    StageKind("keep_gt", "filter", tuple(range(-6, 7)), "xs = [x for x in xs if x > {k}]",
              "keep the numbers greater than {k}"),
    StageKind("keep_lt", "filter", tuple(range(-6, 7)), "xs = [x for x in xs if x < {k}]",
              "keep the numbers less than {k}"),
    StageKind("keep_even", "filter", (), "xs = [x for x in xs if x % 2 == 0]", "keep the even numbers"),
    StageKind("keep_odd", "filter", (), "xs = [x for x in xs if x % 2 == 1]", "keep the odd numbers"),
    StageKind("sort", "order", (), "xs = sorted(xs)", "sort the numbers"),
    StageKind("sort_desc", "order", (), "xs = sorted(xs, reverse=True)", "sort the numbers in descending order"),
    StageKind("reverse", "order", (), "xs = xs[::-1]", "reverse the list"),
    StageKind("take", "slice", (1, 2, 3, 4), "xs = xs[:{k}]", "keep the first {k} numbers"),
    StageKind("drop", "slice", (1, 2, 3, 4), "xs = xs[{k}:]", "drop the first {k} numbers"),
)
KIND = {kind.name: kind for kind in KINDS}
GROUPS = ("map", "filter", "order", "slice")
TAUGHT_PAIRS = (("map", "filter"), ("filter", "order"), ("order", "slice"), ("slice", "map"))
NEW_PAIRS = tuple((a, b) for a in GROUPS for b in GROUPS if a != b and (a, b) not in TAUGHT_PAIRS)
CHAINS = tuple((a, b, c) for a in GROUPS for b in GROUPS for c in GROUPS if a != b and b != c)


@dataclass(frozen=True)
class Level:
    shapes: tuple[tuple[str, ...], ...]  # the group sequences its pipelines follow, drawn uniformly
    hidden: tuple[int, int]  # hidden cases per problem, low and high
    held_out_shapes: tuple[tuple[str, ...], ...] = ()  # dev and test draw only these (default: `shapes`)


LEVELS = {
    "pipes": Level(shapes=tuple((group,) for group in GROUPS) + TAUGHT_PAIRS, hidden=(8, 12),
                   held_out_shapes=TAUGHT_PAIRS),  # single stages are the building blocks: all trained on
    "pairs": Level(shapes=NEW_PAIRS, hidden=(12, 16)),
    "chains": Level(shapes=CHAINS, hidden=(12, 16)),
}
HARD_LEVELS = ("pairs", "chains")  # funcs/hard: their dev and test joined, interleaved

Stage = tuple[str, object]  # (kind name, parameter or None)
Pipeline = tuple[Stage, ...]


def stages_of_group(group: str) -> list[Stage]:
    """Every stage of one group, in `KINDS` order."""
    return [(kind.name, value) for kind in KINDS if kind.group == group for value in (kind.values or (None,))]


def functions_of_shape(shape: Sequence[str]) -> int:
    """How many pipelines follow a group sequence.

    >>> functions_of_shape(("order", "slice"))
    24
    """
    count = 1
    for group in shape:
        count *= len(stages_of_group(group))
    return count


def draw_pipeline(rng: random.Random, shape: Sequence[str]) -> Pipeline:
    return tuple(rng.choice(stages_of_group(group)) for group in shape)


def function_key(pipeline: Pipeline) -> str:
    """The canonical name of one pipeline.

    >>> function_key((("add", 3), ("sort", None)))
    'pipe(add(3)|sort)'
    """
    return f"{FAMILY}({'|'.join(name if value is None else f'{name}({value})' for name, value in pipeline)})"


def render(pipeline: Pipeline) -> tuple[str, str]:
    """(reference source, description) of a pipeline.

    >>> source, words = render((("add", -2), ("keep_gt", 0)))
    >>> print(source, words, sep="")
    def f(xs):
        xs = [x - 2 for x in xs]
        xs = [x for x in xs if x > 0]
        return xs
    subtract 2 from each number, then keep the numbers greater than 0
    """
    lines, words = zip(*(KIND[name].render(value) for name, value in pipeline))
    source = f"def {ENTRY_POINT}(xs):\n" + "".join(f"    {line}\n" for line in lines) + "    return xs\n"
    return source, ", then ".join(words)


def make_prompt(description: str, examples: Sequence[list]) -> str:
    return with_examples(f"Write a Python function `{ENTRY_POINT}(xs)` on a list of integers: {description}.", examples)


def _draw_list(rng: random.Random) -> list[int]:
    return [rng.randint(-MAX_INT, MAX_INT) for _ in range(rng.randint(*LIST_LENGTHS))]


def _draw_cases(rng: random.Random, function, count: int) -> list[list]:
    """`count` cases with distinct argument lists."""
    cases, seen = [], set()
    while len(cases) < count:
        args = [_draw_list(rng)]
        if canonical_json(args) in seen:
            continue
        seen.add(canonical_json(args))
        expected = function(*copy.deepcopy(args))
        assert is_plain_json(expected), expected
        cases.append([args, expected])
    return cases


def _spread(cases: list[list]) -> tuple[int, int]:
    """(distinct outputs, non-empty outputs): higher shows the function better."""
    return len({canonical_json(expected) for _, expected in cases}), sum(1 for _, expected in cases if expected)


def _split_visible(rng: random.Random, cases: list[list]) -> tuple[list[list], list[list]]:
    """The most telling of a few random choices of visible examples (distinct, non-empty
    outputs), and the rest as the hidden cases."""
    best, best_order = None, cases
    for _ in range(20):
        order = rng.sample(cases, len(cases))
        score = _spread(order[:N_VISIBLE])
        if best is None or score > best:
            best, best_order = score, order
    return best_order[:N_VISIBLE], best_order[N_VISIBLE:]


def make_problem(rng: random.Random, pipeline: Pipeline, level: str) -> Problem:
    """One problem of `pipeline` at `level` (which sets the hidden cases' count). Of a few draws of
    cases, the one whose outputs differ most is kept, so that a filter that empties most lists
    still shows what it keeps."""
    source, description = render(pipeline)
    function = load_reference(source)
    count = N_VISIBLE + rng.randint(*LEVELS[level].hidden)
    cases = max((_draw_cases(rng, function, count) for _ in range(4)), key=_spread)
    visible, hidden = _split_visible(rng, cases)
    meta = {"examples": visible, "solution": source, "family": FAMILY, "level": level,
            "params": {"stages": [[name, value] for name, value in pipeline]},
            "function_key": function_key(pipeline), "knobs": {"max_int": MAX_INT, "max_len": LIST_LENGTHS[1]}}
    return Problem.create("funcs", make_prompt(description, visible), answer=None,
                          tests={"entry_point": ENTRY_POINT, "cases": hidden}, meta=meta)


def draw_functions(rng: random.Random, shapes: Sequence[tuple[str, ...]], count: int,
                   taken: set[str]) -> list[Pipeline]:
    """`count` distinct pipelines none of whose keys is in `taken` (their keys are added): a shape
    drawn uniformly, then a pipeline of it; a shape keeps at most a third of its pipelines out of
    `taken`'s reach, so that a small shape (order then slice: 24) still trains."""
    found: list[Pipeline] = []
    per_shape = dict.fromkeys(shapes, 0)
    open_shapes = [shape for shape in shapes if functions_of_shape(shape) >= 3]
    while len(found) < count:
        if not open_shapes:
            raise ValueError(f"the shapes {shapes} hold fewer than {count} functions to hold out")
        shape = rng.choice(open_shapes)
        pipeline = draw_pipeline(rng, shape)
        if function_key(pipeline) in taken:
            continue
        taken.add(function_key(pipeline))
        found.append(pipeline)
        per_shape[shape] += 1
        if per_shape[shape] >= functions_of_shape(shape) // 3:
            open_shapes.remove(shape)
    return found


def draw_training(rng: random.Random, shapes: Sequence[tuple[str, ...]], count: int,
                  held_out: set[str]) -> list[Pipeline]:
    """`count` pipelines (repeats allowed: other cases), a shape drawn uniformly each, none held out."""
    found: list[Pipeline] = []
    while len(found) < count:
        pipeline = draw_pipeline(rng, rng.choice(shapes))
        if function_key(pipeline) not in held_out:
            found.append(pipeline)
    return found


def problems_for(pipelines: Sequence[Pipeline], level: str, seed: int, exclude: set[str] | frozenset = frozenset(),
                 content_key=None) -> list[Problem]:
    """One problem per pipeline, in order, deterministic in `seed`; a problem whose content key is
    in `exclude` or already made is drawn again (other cases)."""
    rng, seen, problems = random.Random(seed), set(exclude), []
    for pipeline in pipelines:
        for _ in range(100):
            problem = make_problem(rng, pipeline, level)
            key = problem.id if content_key is None else content_key(problem)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
                break
        else:
            raise ValueError(f"could not make a new problem of {function_key(pipeline)}")
    return problems


def generate(n: int, seed: int, level: str = "pipes") -> list[Problem]:
    """`n` distinct problems of one level, deterministic in `seed` (functions may repeat)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {list(LEVELS)}")
    rng = random.Random(seed)
    return problems_for(draw_training(rng, LEVELS[level].shapes, n, set()), level, rng.randrange(1 << 32))
