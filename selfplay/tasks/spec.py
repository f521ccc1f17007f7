"""One object per task family (`TaskSpec`) and the registry the lab looks families up in.

A family is known to the lab through its spec alone: how its problems are made and read, what a
problem must hold, the instruction a chat model is given, the grader of record (the verifier
call), what search may use at answer time, what an answer costs in each prompt format, and how
the built-in model's imitation corpus writes its traces, and how the TRL-style reward verifies
its rows. Everything that used to ask "is this countdown?" asks the problem's spec instead:

    spec = task_spec(problem.task)
    spec.grade(problem, completion, timeout_s)        # the verdict of record
    spec.pricing("chat").answer_tokens                # tokens one answer may take, chat format

Adding a family is its package (generator, rows, traces, splits and its spec, as
`selfplay/tasks/countdown/` is), its verifier, and one `register_task(SPEC)` line (the built-in
families register in `selfplay/tasks/__init__.py`).

This module holds the registry and the shape of a spec; it knows no family itself.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from verifiers.rewards import BUILTIN_ROW_KINDS, RowKind

if TYPE_CHECKING:
    from selfplay.tasks.problem import Problem
    from verifiers.verdict import Verdict

MAX_PRICE = 1_000_000  # tokens (or steps) no answer of any model here needs; larger is a mistake
PROMPT_KINDS = ("builtin", "chat")  # the prompt formats of `selfplay.model.prompting.PromptFormat.kind`
FALLBACK_TASK = "qa"  # whose instruction a prompt without a task gets


@dataclass(frozen=True)
class Pricing:
    """What one answer costs and how a search may cut it into steps, in one prompt format."""

    answer_tokens: int  # tokens one complete answer is allowed on top of its prompt (the budget's unit)
    max_depth: int  # steps on one search path
    step_tokens: int  # tokens one step may take

    def __post_init__(self) -> None:
        for name in ("answer_tokens", "max_depth", "step_tokens"):
            value = getattr(self, name)
            # NaN passed `< 1` and made MCTS spend 27x its budget; a bool or a float is no count either.
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PRICE:
                raise ValueError(f"pricing {name} must be a whole number in [1, {MAX_PRICE:,}], got {value!r}")


# A chat model writes prose around its blank-line separated steps, whatever the task: an answer may take what
# `lab eval` lets one answer write by default (256 new tokens), a step what a sentence or a short code block needs.
CHAT_PRICING = Pricing(answer_tokens=256, max_depth=12, step_tokens=160)


@dataclass(frozen=True)
class RowFormat:
    """One public row shape a family recognises in task files (first match over all families wins)."""

    shape: str  # how the row looks, for error messages: "{numbers, target}"
    matches: Callable[[dict], bool]  # whether a row has this format's fields
    parse: Callable[[dict], "Problem"]  # the problem, or `rows.RowError`


@dataclass(frozen=True)
class CorpusRecipe:
    """How the built-in model's imitation corpus writes a family's traces (`selfplay.builtin_model.corpus`).

    Hooks that take a `config` get the corpus's `CorpusConfig`."""

    mistakes: Mapping[str, Callable[["Problem", str, Any], str | None]]  # kind -> (problem, expert, rng) -> a
    # completion that FAILS the grader, or None when this problem admits no such mistake
    mistakes_with_calculator: tuple[str, ...]  # the kinds still made when computations go through the calculator
    calculator: bool = False  # computations are written as calculator calls when the corpus has it on
    expert: Callable[["Problem", Any, Any], str] | None = None  # (problem, config, rng) -> expert completion;
    # None: the problem's meta["solution"]
    uses: Callable[["Problem", Any], bool] | None = None  # (problem, config) -> whether a train problem is used
    finish: Callable[["Problem", str, Any], str] | None = None  # (problem, completion, config) -> the written
    # completion (a scratchpad added), before the calculator calls
    declares: Callable[[Any, int], dict] | None = None  # (config, max_positions) -> what a model pretrained on
    # these traces declares in its config.json (`selfplay_pricing`, `selfplay_search`, ... by task); None: nothing
    options: type | None = None  # a frozen dataclass of the family's own corpus settings (defaults and checks in
    # it): `CorpusConfig.options[task]`, written `options: {task: {...}}` in a recipe; None: the family has none
    card: Callable[[Any, int], Mapping[str, str]] | None = None  # (config, max_positions) -> the family's sentences
    # in the built-in model's card, by place ("corpus", "calculator"); None: none

    def __post_init__(self) -> None:
        unknown = set(self.mistakes_with_calculator) - set(self.mistakes)
        if unknown:
            raise ValueError(f"mistakes_with_calculator names kinds without a maker: {sorted(unknown)}")


@dataclass(frozen=True)
class SplitRecipe:
    """How `lab tasks build` writes a family's committed splits (`selfplay.tasks.splits`)."""

    sizes: Mapping[str, Any]  # split set name ("countdown", "countdown/std3") -> its default `SplitSizes`
    builders: Mapping[str, Callable[..., dict]]  # set name -> (seed, sizes, exclude) -> {split: problems}
    joined: Callable[..., dict] | None = None  # (seed, built sets, content keys taken) -> {(set, split):
    # problems}: files joined from the built sets (countdown's hard split); None: none

    def __post_init__(self) -> None:
        if set(self.sizes) != set(self.builders):
            raise ValueError(f"split sets with sizes {sorted(self.sizes)} but builders {sorted(self.builders)}")


def _no_check(problem: "Problem") -> None:
    return None


@dataclass(frozen=True)
class TaskSpec:
    name: str  # the task name problems carry (`Problem.task`)
    grade: Callable[["Problem", str, float], "Verdict"]  # (problem, completion, timeout_s): the grader of record
    instruction: str  # what a chat model is told after the problem (the built-in format has none)
    prices: Mapping[str, Pricing]  # per prompt format kind (PROMPT_KINDS): answer tokens, depth, step tokens
    writes_code: bool = False  # answers are programs graded by running tests: problems carry `tests`, no answer
    check_problem: Callable[["Problem"], None] = _no_check  # raises ValueError when a problem breaks the family's
    # invariants (beyond the common ones: id, prompt, meta, answer or tests)
    check_form: Callable[[dict, dict, Any], None] | None = None  # (row, meta, tests) of the lab's own row form:
    # raises rows.RowError naming the bad field
    row_formats: tuple[RowFormat, ...] = ()  # public row shapes, tried in order
    content_fields: Callable[[str, str, dict | None, dict], dict] | None = None  # what defines a problem (ids,
    # decontamination); None: the task name and the question text
    normalised_fields: Callable[["Problem"], dict] | None = None  # the leak guard's fields; None: the question
    generate: Callable[..., list] | None = None  # (n, seed, ...) -> distinct problems, deterministic in seed
    levels: Mapping[str, Any] = field(default_factory=dict)  # difficulty levels the generator takes by name
    answer_check: Callable[["Problem"], Callable | None] | None = None  # the signal search may use at answer time
    # (from the question alone), or None: majority vote and learned scorers only
    vote_by_text: bool = False  # majority vote compares whole answers (spacing aside), not final answers
    corpus: CorpusRecipe | None = None  # None: the built-in model's corpus has no traces of this family
    dev_files: Mapping[str, str] = field(default_factory=dict)  # label -> dev file under datasets/: what the
    # model card measures and `lab demo` shows
    card_tokens: int = 128  # new tokens the model card's sampler allows one answer
    near_miss: Callable[["Problem", str], str] | None = None  # `lab demo`'s corrupted expert answer; None: the
    # last number off by one
    relabel: Callable[["Problem", str], "Problem | None"] | None = None  # hindsight: the problem an answer's
    # last attempt solves instead (its own result as the target), for the caller to grade; None: no relabeling
    reward_rows: RowKind | None = None  # how `verifiers.rewards.VerifierReward` verifies this family's rows
    # (`reward_row_kinds`); None: by their columns (the built-in families' kinds are the verifiers' own)
    retry_marker: str | None = None  # the line with which an answer abandons an attempt and starts again
    # (countdown's `retry`): selection finds passing attempts by it; None: answers do not search in their text
    splits: SplitRecipe | None = None  # the committed split sets `lab tasks build` writes; None: none
    unlearnable: Callable[["Problem", str], str | None] | None = None  # (problem, completion) -> why an answer the
    # grader passed must not be learned from (its final answer right by luck, not derived), or None. A round's
    # grading applies it (training rows, the judges' labels, the curriculum's solved shares); eval does not
    split_unit: Callable[["Problem"], str | None] | None = None  # what must stay in one split with every problem
    # sharing it (funcs: the function); None: the problem alone

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str) or "/" in self.name:
            raise ValueError(f"a task name is a non-empty string without '/', got {self.name!r}")
        missing = [kind for kind in PROMPT_KINDS if kind not in self.prices]
        if missing:
            raise ValueError(f"task {self.name}: prices need every prompt format {PROMPT_KINDS}, missing {missing}")
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))

    def pricing(self, kind: str) -> Pricing:
        """The prices of one prompt format ("builtin" or "chat")."""
        if kind not in self.prices:
            raise ValueError(f"unknown prompt format {kind!r}; expected one of {PROMPT_KINDS}")
        return self.prices[kind]


def priced(builtin: Pricing, chat: Pricing = CHAT_PRICING) -> dict[str, Pricing]:
    """The `prices` of a spec: the built-in format's, and the chat format's (default `CHAT_PRICING`)."""
    return {"builtin": builtin, "chat": chat}


_REGISTRY: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Make a family known to the lab; a second spec under one name is an error."""
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task takes a TaskSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY:
        raise ValueError(f"task {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def task_spec(name: str) -> TaskSpec:
    """The spec of a registered family; an unknown name is a ValueError naming the known ones."""
    spec = _REGISTRY.get(name) if isinstance(name, Hashable) else None
    if spec is None:
        raise ValueError(f"unknown task {name!r}; expected one of {task_names()}")
    return spec


def task_specs() -> tuple[TaskSpec, ...]:
    """Every registered spec, in registration order (the order row formats are tried in)."""
    return tuple(_REGISTRY.values())


def task_names() -> tuple[str, ...]:
    """The registered task names, in registration order."""
    return tuple(_REGISTRY)


def dev_files() -> dict[str, str]:
    """Every registered spec's `dev_files` (label -> file under datasets/), in registration order."""
    return {label: path for spec in _REGISTRY.values() for label, path in spec.dev_files.items()}


def unregister_task(name: str) -> TaskSpec:
    """Forget a family (tests that register a temporary one undo it with this)."""
    task_spec(name)
    return _REGISTRY.pop(name)


def reward_row_kinds() -> tuple[RowKind, ...]:
    """The row kinds `verifiers.rewards.VerifierReward(kinds=...)` takes for the registered families:
    the verifiers' own, with each spec's `reward_rows` before the final-answer check (the last)."""
    own = tuple(spec.reward_rows for spec in _REGISTRY.values() if spec.reward_rows is not None)
    return BUILTIN_ROW_KINDS[:-1] + own + BUILTIN_ROW_KINDS[-1:]
