"""Arith: multi-step arithmetic word problems in GSM8K form, with worked solutions.

A problem is a short story (a person's collection that grows and shrinks, a production run,
a shopping trip) whose answer takes `steps` computations. The worked solution has one
computation per line and ends GSM8K-style with the answer after `####`:

    3*4=12
    12+12=24
    24-5=19
    #### 19

Every value along the way is a whole number between 1 and `max_value` (a change of 0 is
avoided too), so answers are non-negative integers. Quantities in the story (amounts,
prices, group sizes, a starting stock) scale with `max_value` / 100, so a larger `max_value`
gives numbers with more digits, not just longer sums of small ones.

Problems come in `LEVELS` (how many computations, how large the values, how many distracting
sentences: `easy` 2 to 4 computations up to 100, `long` 5 or 6 up to 1000, `distract` easy's
with a distracting sentence, `deep` 5 or 6 up to 100); a generated problem names its level in `meta["level"]`, and one without it (the
first committed files) is level `easy`. A distracting sentence (level `distract`) states a
number the answer does not use ("Omar has 31 marbles."), as in GSM-Plus and GSM-NoOp: the
solution is unchanged, so a model must learn which quantities the question is about. This module knows the templates, the levels and the generator; it knows nothing
about grading, files or models.
"""
from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from selfplay.tasks.problem import Problem, content_key

PEOPLE = (("Ann", "she", "her"), ("Ben", "he", "his"), ("Maya", "she", "her"), ("Omar", "he", "his"),
          ("Lena", "she", "her"), ("Raj", "he", "his"), ("Zoe", "she", "her"), ("Tom", "he", "his"),
          ("Ivy", "she", "her"), ("Leo", "he", "his"), ("Nina", "she", "her"), ("Sam", "he", "his"))
THINGS = ("apples", "marbles", "stickers", "coins", "books", "pencils", "cookies", "shells",
          "cards", "eggs", "stamps", "beads")
MADE_THINGS = ("cookies", "bracelets", "candles", "paper cranes", "muffins", "kites")
CONTAINERS = (("bag", "bags"), ("box", "boxes"), ("pack", "packs"), ("jar", "jars"))
GOODS = (("pen", "pens"), ("notebook", "notebooks"), ("ball", "balls"), ("cup", "cups"),
         ("toy car", "toy cars"), ("comic", "comics"), ("plant", "plants"), ("hat", "hats"))
BILLS = (5, 10, 20, 50, 100, 200, 500, 1000)
TEMPLATES = ("inventory", "production", "shopping")


@dataclass(frozen=True)
class Level:
    name: str  # the key in LEVELS and the value of a generated problem's meta["level"]
    steps: tuple[int, ...]  # computations per problem, one of these drawn uniformly
    max_value: int  # every value along the way lies in 1..max_value
    distractors: int = 0  # sentences stating a number the answer does not use, placed after the first

    def __post_init__(self) -> None:
        if not self.steps or any(not 1 <= k <= 8 for k in self.steps):
            raise ValueError(f"level {self.name}: steps must lie in 1..8, got {self.steps}")
        if self.max_value < 20:
            raise ValueError(f"level {self.name}: need max_value >= 20")
        if not 0 <= self.distractors <= 3:
            raise ValueError(f"level {self.name}: distractors must lie in 0..3, got {self.distractors}")


LEVELS: dict[str, Level] = {level.name: level for level in (
    Level("easy", (2, 3, 4), max_value=100),
    Level("long", (5, 6), max_value=1000),
    Level("distract", (2, 3, 4), max_value=100, distractors=1),
    Level("deep", (5, 6), max_value=100),
)}
# The hard word-problem split is these levels' dev and test, joined: within the built-in model's
# reach (values it can copy; `long`'s three-digit values it cannot yet: greedy 0%, pass@16 7%).
HARD_LEVELS = ("distract", "deep")


def level_of(problem: Problem) -> str:
    """The level an arith problem names in meta; one that names none is `easy`."""
    return problem.meta.get("level", "easy")


class _Story:
    """The sentences and solution lines of one problem while it is being built."""

    def __init__(self, rng: random.Random, max_value: int) -> None:
        self.rng = rng
        self.max_value = max_value
        self.unit = max(1, max_value // 100)  # quantities scale with the values allowed
        self.name, self.pronoun, self.possessive = rng.choice(PEOPLE)
        self.sentences: list[str] = []
        self.lines: list[str] = []

    def compute(self, left: int, op: str, right: int) -> int:
        value = {"+": left + right, "-": left - right, "*": left * right}.get(op)
        if op == "/":
            value = left // right
        self.lines.append(f"{left}{op}{right}={value}")
        return value

    def say(self, sentence: str) -> None:
        self.sentences.append(sentence[0].upper() + sentence[1:])


def _event(story: _Story, value: int, things: str, budget: int) -> int | None:
    """Add one event costing at most `budget` computations; the new value, or None."""
    rng, top, she, unit = story.rng, story.max_value, story.pronoun, story.unit
    kind = rng.choice(("gain", "lose", "gain_groups", "lose_groups", "scale", "split"))
    if kind == "gain" and value < top:
        amount = rng.randint(1, min(20 * unit, top - value))
        verb = rng.choice(("finds", "buys", "gets", "is given"))
        story.say(f"{she} {verb} {amount} more {things}.")
        return story.compute(value, "+", amount)
    if kind == "lose" and value > 1:
        amount = rng.randint(1, min(20 * unit, value - 1))
        friend = rng.choice([p[0] for p in PEOPLE if p[0] != story.name])
        story.say(rng.choice((f"{she} gives {amount} {things} to {friend}.", f"{she} loses {amount} {things}.",
                              f"{she} sells {amount} {things}.")))
        return story.compute(value, "-", amount)
    if kind == "gain_groups" and budget >= 2 and top - value >= 4:
        count = rng.randint(2, min(6, (top - value) // 2))
        each = rng.randint(2, min(12 * unit, (top - value) // count))
        container, containers = rng.choice(CONTAINERS)
        story.say(f"{she} buys {count} {containers} of {each} {things} each.")
        return story.compute(value, "+", story.compute(count, "*", each))
    if kind == "lose_groups" and budget >= 2 and value >= 5:
        count = rng.randint(2, min(5, (value - 1) // 2))
        each = rng.randint(2, min(10 * unit, (value - 1) // count))
        story.say(f"{she} gives {count} friends {each} {things} each.")
        return story.compute(value, "-", story.compute(count, "*", each))
    if kind == "scale" and value * 2 <= top:
        factor = rng.choice([f for f in (2, 3) if value * f <= top])
        story.say(f"then the number of {things} {she} has {('doubles', 'triples')[factor - 2]}.")
        return story.compute(value, "*", factor)
    divisors = [k for k in range(2, 7) if value % k == 0]
    if kind == "split" and divisors:
        parts = rng.choice(divisors)
        container, containers = rng.choice(CONTAINERS)
        story.say(f"{she} puts the {things} equally into {parts} {containers} and keeps one {container}.")
        return story.compute(value, "/", parts)
    return None


def _chain(story: _Story, value: int, things: str, steps: int) -> str | None:
    """Events until `steps` computations are written; the question, or None if stuck."""
    for _ in range(50):
        if len(story.lines) >= steps:
            return f"How many {things} does {story.name} have now?"
        new_value = _event(story, value, things, steps - len(story.lines))
        value = value if new_value is None else new_value
    return None


def _inventory(story: _Story, steps: int) -> str | None:
    things = story.rng.choice(THINGS)
    start = story.rng.randint(5, min(50 * story.unit, story.max_value))
    story.say(f"{story.name} has {start} {things}.")
    return _chain(story, start, things, steps)


def _production(story: _Story, steps: int) -> str | None:
    rng, things = story.rng, story.rng.choice(MADE_THINGS)
    per_day = rng.randint(2, 12 * story.unit)
    days = rng.randint(2, max(2, min(7, story.max_value // per_day)))
    if per_day * days > story.max_value:
        return None
    story.say(f"{story.name} makes {per_day} {things} every day for {days} days.")
    return _chain(story, story.compute(per_day, "*", days), things, steps)


def _shopping(story: _Story, steps: int) -> str | None:
    rng = story.rng
    for _ in range(100):  # a basket whose bill takes exactly `steps` computations
        n_items = rng.randint(1, 3)
        quantities = [rng.randint(1, 6) for _ in range(n_items)]
        pays_with_bill = rng.random() < 0.5
        if sum(q > 1 for q in quantities) + n_items - 1 + pays_with_bill == steps:
            break
    else:
        return None
    goods = rng.sample(GOODS, n_items)
    prices = [rng.randint(1, 15 * story.unit) for _ in range(n_items)]
    total = sum(q * p for q, p in zip(quantities, prices))
    if total > story.max_value or (pays_with_bill and total >= BILLS[-1]):
        return None
    story.say(_listing([f"a {one} costs {_dollars(price)}" for (one, _), price in zip(goods, prices)]) + ".")
    bought = [f"{q} {many}" if q > 1 else f"a {one}" for q, (one, many) in zip(quantities, goods)]
    story.say(f"{story.name} buys {_listing(bought)}.")
    costs = [story.compute(q, "*", p) if q > 1 else p for q, p in zip(quantities, prices)]
    total = costs[0]
    for cost in costs[1:]:
        total = story.compute(total, "+", cost)
    if not pays_with_bill:
        return f"How many dollars does {story.name} spend?"
    bill = next(b for b in BILLS if b > total)
    story.say(f"{story.pronoun} pays with a {bill}-dollar bill.")
    story.compute(bill, "-", total)
    return f"How many dollars of change does {story.name} get?"


def _dollars(amount: int) -> str:
    return "1 dollar" if amount == 1 else f"{amount} dollars"


def _listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _distract(story: _Story, things: str) -> None:
    """Add one sentence with a number the answer does not use.

    About the same person's other belongings or age (placed anywhere after the first sentence),
    or about another person (placed last, before the question, so that no later "she" or "he"
    could mean them): plausible in the story, and only the question says it does not count."""
    rng = story.rng
    friend = rng.choice([p[0] for p in PEOPLE if p[0] != story.name])
    amount = rng.randint(2, min(50 * story.unit, story.max_value))
    other = rng.choice([t for t in THINGS if t != things])
    own = (f"{story.name} also has {amount} {other}.", f"{story.name}'s brother is {rng.randint(5, 60)} years old.")
    about_friend = (f"{friend} has {amount} {things}.", f"{friend} has {amount} {other}.",
                    f"{friend} walks {amount} steps to the park.")
    choice = rng.randrange(len(own) + len(about_friend))
    if choice < len(own):
        story.sentences.insert(rng.randint(1, len(story.sentences)), own[choice])
    else:
        story.sentences.append(about_friend[choice - len(own)])


def _asked_about(question: str) -> str:
    """The noun a question asks about.

    >>> _asked_about("How many paper cranes does Ann have now?"), _asked_about("How many dollars of change does Ben get?")
    ('paper cranes', 'dollars')
    """
    return re.match(r"How many (.+?) (?:does|of) ", question).group(1)


BUILDERS = {"inventory": _inventory, "production": _production, "shopping": _shopping}


def generate(n: int, seed: int, level: str | None = None, *, steps: int | Sequence[int] | None = None,
             max_value: int | None = None, templates: Sequence[str] = TEMPLATES,
             exclude: Collection[str] = ()) -> list[Problem]:
    """`n` distinct word problems, deterministic in `seed`; each draws its number of
    computations from `steps` and keeps every intermediate value in 1..`max_value`.

    `level` names one of LEVELS, recorded in each problem's meta; without it the knobs (each
    defaulting to level `easy`'s) may be set one by one and no level is recorded, as in the
    first committed files. Problems whose content key is in `exclude` are skipped."""
    if level is not None and (steps is not None or max_value is not None):
        raise ValueError("give a level or knobs, not both")
    if level is not None and level not in LEVELS:
        raise ValueError(f"unknown arith level {level!r}; expected one of {sorted(LEVELS)}")
    base = LEVELS[level or "easy"]
    step_counts = base.steps if steps is None else (steps,) if isinstance(steps, int) else tuple(steps)
    spec = Level(level or "custom", step_counts, base.max_value if max_value is None else max_value,
                 base.distractors)
    if any(t not in BUILDERS for t in templates):
        raise ValueError(f"templates must be among {TEMPLATES}")
    rng = random.Random(seed)
    problems: list[Problem] = []
    seen: set[str] = set()
    for _ in range(200 * n + 1000):
        if len(problems) == n:
            return problems
        template, wanted = rng.choice(tuple(templates)), rng.choice(spec.steps)
        story = _Story(rng, spec.max_value)
        question = BUILDERS[template](story, wanted)
        if question is None or len(story.lines) != wanted:
            continue
        for _ in range(spec.distractors):  # drawn after the story, so levels without any draw as before
            _distract(story, _asked_about(question))
        prompt = " ".join(story.sentences + [question])
        if prompt in seen:
            continue
        seen.add(prompt)
        answer = story.lines[-1].split("=")[-1]
        meta = {"solution": "\n".join(story.lines + [f"#### {answer}"]), "steps": wanted,
                "template": template, "knobs": {"max_value": spec.max_value}}
        if spec.distractors:
            meta["knobs"]["distractors"] = spec.distractors
        if level is not None:
            meta["level"] = level
        problem = Problem.create("arith", prompt, answer=answer, meta=meta)
        if not exclude or content_key(problem) not in exclude:
            problems.append(problem)
    raise ValueError(f"could only make {len(problems)} of {n} distinct problems with these knobs")
