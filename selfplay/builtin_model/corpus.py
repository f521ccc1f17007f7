"""The imitation corpus the base model is pretrained on: expert traces with deliberate mistakes.

Every trace is a (prompt, completion) pair in the built-in format (`builtin_prompt(problem.prompt)`
then the solution, one step per line; the trainer appends EOS). Traces come from TRAIN splits
only: `load_train_problems` refuses a file named like a dev or test split and checks every id and
content key against the dev and test files beside it.

With `calculator` on (the default), every computation of a calculator task (a recipe's
`calculator`: countdown and arith) is written as a calculator call, `<<25-5=20>>`: the model
learns to write the expression and the tool writes the result (`tool_spans` marks `20>>` so
training leaves it out of the loss). The model then cannot learn false arithmetic, and its
mistakes are choices: which numbers, which operation, when to stop. With the calculator, only
choice mistakes are made (a recipe's `mistakes_with_calculator`).

A configurable share of traces carries one deliberate mistake, because the "internet" the model
imitates is imperfect; the resulting model is often wrong greedily and often right somewhere
among many samples. Which tasks have traces, their experts and their mistake kinds (each checked
to FAIL the grader) are the task specs' corpus recipes (each family's `traces` module for the built-in
families: countdown `wrong_step`, `wrong_answer`, `dead_end`; arith `wrong_step`, `wrong_answer`;
funcs `wrong_body`). Everything is deterministic in the seed.

    >>> traces = build_corpus(CorpusConfig(traces=20, task_mix={"countdown": 1.0}), seed=0)
    >>> traces[0].prompt.startswith("Use "), sum(t.kind != "expert" for t in traces)
    (True, 4)

Knows task specs (their corpus recipes), the built-in prompt format and the calculator's format;
nothing about models or training.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from selfplay.loop.curriculum import split_counts
from selfplay.model.prompting import builtin_prompt
from selfplay.runfiles.config_files import build_config
from selfplay.tasks import Problem, content_key, load_problems, task_spec, task_specs
from selfplay.tasks.spec import CorpusRecipe
from selfplay.tasks.splits import pool_seed
from selfplay.tasks.traces import STEP
from selfplay.tools.spans import tool_output_spans

REPO = Path(__file__).resolve().parents[2]
HELD_OUT_SPLITS = ("dev", "test")
DEFAULT_MIX = {"countdown": 0.85, "arith": 0.075, "funcs": 0.075}  # countdown is the main target


@dataclass(frozen=True)
class Trace:
    problem_id: str  # the train problem the trace answers
    task: str  # a task whose spec has a corpus recipe (countdown, arith, funcs)
    prompt: str  # the built-in prompt text (problem prompt and a newline)
    completion: str  # what the model learns to write after the prompt; EOS not included
    kind: str  # "expert" or one of the task's mistake kinds (its spec's corpus recipe)
    tool_spans: tuple[tuple[int, int], ...] = ()  # character spans of tool output in `completion` (no loss)


@dataclass(frozen=True)
class CorpusConfig:
    traces: int = 40000  # traces in the corpus, all tasks together
    task_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))  # traces per task, as shares
    mistake_share: float = 0.2  # share of each task's traces that carry one deliberate mistake
    datasets: str = "datasets"  # folder with <task>/train.jsonl; relative paths start at the repo root
    calculator: bool = True  # countdown and arith computations go through the calculator tool (<<a-b=c>>)
    options: Mapping[str, Any] = field(default_factory=dict)  # task -> its recipe's own settings (a mapping of
    #                            its `CorpusRecipe.options` fields: {countdown: {search: 6}}); a task left out: defaults
    train_files: Mapping[str, str] = field(default_factory=dict)  # task -> its train file under `datasets`
    #                            (a level's: {funcs: funcs/pipes/train.jsonl}); default <task>/train.jsonl

    def __post_init__(self) -> None:
        if self.traces < 1:
            raise ValueError(f"traces must be at least 1, got {self.traces}")
        object.__setattr__(self, "task_mix", {str(k): float(v) for k, v in dict(self.task_mix).items()})
        known = corpus_tasks()
        unknown = set(self.task_mix) - set(known)
        if unknown or not self.task_mix:
            raise ValueError(f"task_mix takes some of {sorted(known)}, got {sorted(self.task_mix)}")
        if any(v < 0 for v in self.task_mix.values()) or sum(self.task_mix.values()) <= 0:
            raise ValueError(f"task_mix weights must be non-negative with a positive sum, got {self.task_mix}")
        if not 0.0 <= self.mistake_share < 1.0:
            raise ValueError(f"mistake_share must lie in [0, 1), got {self.mistake_share}")
        object.__setattr__(self, "train_files", {str(k): str(v) for k, v in dict(self.train_files).items()})
        if set(self.train_files) - set(known):
            raise ValueError(f"train_files takes some of {sorted(known)}, got {sorted(self.train_files)}")
        object.__setattr__(self, "options", recipe_options(self.options))

    def mistakes(self, task: str) -> tuple[str, ...]:
        """The mistake kinds of a task's flawed traces: false arithmetic cannot be written through a
        calculator, so with it on only the recipe's `mistakes_with_calculator` are left."""
        recipe = recipe_of(task)
        return recipe.mistakes_with_calculator if self.calculator else tuple(recipe.mistakes)

    def train_file(self, task: str) -> Path:
        root = Path(self.datasets)
        return (root if root.is_absolute() else REPO / root) / self.train_files.get(task, f"{task}/train.jsonl")


def recipe_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every corpus task's own settings (`CorpusRecipe.options`), built from `given` (task -> a mapping
    of its fields, or the settings themselves); a task not given gets its defaults.

    >>> recipe_options({"countdown": {"search": 6}})["countdown"].search
    6
    """
    given = dict(given or {})
    takes = {task: recipe_of(task).options for task in corpus_tasks() if recipe_of(task).options is not None}
    unknown = sorted(set(given) - set(takes))
    if unknown:
        raise ValueError(f"options takes some of {sorted(takes)} (the tasks whose corpus recipe has settings), "
                         f"got {unknown}")
    built = {}
    for task, kind in takes.items():
        value = given.get(task) or {}
        if isinstance(value, kind):
            built[task] = value
        elif isinstance(value, Mapping):
            built[task] = build_config(kind, dict(value), f"corpus.options.{task}")
        else:
            raise ValueError(f"corpus.options.{task} must be a mapping of {sorted(f.name for f in fields(kind))},"
                             f" got {value!r}")
    return built


def read_older_keys(corpus: Mapping[str, Any]) -> dict:
    """A recipe's `corpus` mapping with the older flat spelling of a task's settings (`countdown_search: 6`,
    written before the settings moved into the task family) moved under `options` (`{countdown: {search: 6}}`).

    >>> read_older_keys({"traces": 10, "countdown_search": 6})
    {'traces': 10, 'options': {'countdown': {'search': 6}}}
    """
    values = dict(corpus)
    options = {task: dict(settings) for task, settings in dict(values.get("options") or {}).items()}
    for task in corpus_tasks():
        kind = recipe_of(task).options
        for name in () if kind is None else [f.name for f in fields(kind)]:
            if f"{task}_{name}" in values:
                options.setdefault(task, {})[name] = values.pop(f"{task}_{name}")
    if options:
        values["options"] = options
    return values


def corpus_tasks() -> tuple[str, ...]:
    """The tasks whose spec has a corpus recipe: the ones a corpus can mix."""
    return tuple(spec.name for spec in task_specs() if spec.corpus is not None)


def recipe_of(task: str) -> CorpusRecipe:
    recipe = task_spec(task).corpus
    if recipe is None:
        raise ValueError(f"task {task!r} has no corpus recipe; corpus tasks: {list(corpus_tasks())}")
    return recipe


def model_declarations(config: CorpusConfig, max_positions: int) -> dict:
    """What a model pretrained on this corpus declares in its config.json, every corpus recipe's
    `declares` merged (a mapping by task under one key is merged across recipes).

    >>> model_declarations(CorpusConfig(), 512)
    {}
    """
    declared: dict = {}
    for task in corpus_tasks():
        recipe = recipe_of(task)
        for key, value in ({} if recipe.declares is None else recipe.declares(config, max_positions)).items():
            if isinstance(value, dict) and isinstance(declared.get(key), dict):
                declared[key] = {**declared[key], **value}
            else:
                declared[key] = value
    return declared


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


def build_corpus(config: CorpusConfig, seed: int) -> list[Trace]:
    """`config.traces` traces over the tasks of `config.task_mix`, shuffled, deterministic in `seed`."""
    traces: list[Trace] = []
    for task, count in split_counts(config.traces, config.task_mix, tie_order=sorted(config.task_mix)).items():
        if count:
            problems = load_train_problems(config.train_file(task))
            uses = recipe_of(task).uses
            if uses is not None:
                problems = [p for p in problems if uses(p, config)]
            traces += _task_traces(task, problems, count, config, random.Random(pool_seed(seed, "corpus", task)))
    random.Random(pool_seed(seed, "corpus", "shuffle")).shuffle(traces)
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
    recipe = recipe_of(task)
    flawed = round(count * config.mistake_share) if config.mistakes(task) else 0
    flags = [True] * flawed + [False] * (count - flawed)
    rng.shuffle(flags)
    order, traces = _cycle(problems, rng), []
    for is_flawed in flags:
        for _ in range(10 * len(problems)):  # a problem that admits no mistake is passed over
            problem = next(order)
            completion = problem.meta["solution"] if recipe.expert is None else recipe.expert(problem, config, rng)
            kind = rng.choice(config.mistakes(task)) if is_flawed else "expert"
            if is_flawed:
                completion = recipe.mistakes[kind](problem, completion, rng)
            if completion is not None:
                if recipe.finish is not None:
                    completion = recipe.finish(problem, completion, config)
                if config.calculator and recipe.calculator:
                    completion = with_calculator(completion)
                spans = tuple(tool_output_spans(completion))
                traces.append(Trace(problem.id, task, builtin_prompt(problem.prompt), completion, kind, spans))
                break
        else:
            raise ValueError(f"no {task} problem admits a {'flawed' if is_flawed else 'expert'} trace")
    return traces


def with_calculator(completion: str) -> str:
    """Every computation line written as a calculator call; other lines (`#### 19`) unchanged.

    >>> with_calculator("25-5=20\\n20*4=80"), with_calculator("3*4=12\\n#### 12")
    ('<<25-5=20>>\\n<<20*4=80>>', '<<3*4=12>>\\n#### 12')
    """
    lines = []
    for line in completion.split("\n"):
        step, _, state = line.partition(" [")
        lines.append(f"<<{step}>>" + (f" [{state}" if state else "") if STEP.fullmatch(step) else line)
    return "\n".join(lines)
