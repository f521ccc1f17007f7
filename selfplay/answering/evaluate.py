"""Evaluation: how many problems a policy solves, answering fast or with several samples.

    lab eval --model models/base --tasks datasets/countdown/dev.jsonl --strategy sample --budget 16 --json

The strategy names and their kinds come from `search.STRATEGIES`, the one list of them:

- greedy kind (`greedy`): one greedy answer per problem ("System 1"); `--budget` does not apply.
- sampling kind (`sample`): `budget` answers at temperature 1.0; a problem counts as solved if ANY
  of them verifies (pass@N against the ground truth, with `selfplay.answering.grading.grade`): a diagnostic
  of what search could find, not a way of answering.
- search kind (`majority`, `best_of_n`, `beam`, `mcts`; "System 2"): a search under `budget`
  answers' worth of compute, using only answer-time signals; `selfplay.answering.deliberate` runs it
  (`together` problems at a time, their model calls batched by `search.batching`), and its one
  chosen answer is graded against the ground truth.

Greedy and sampling answers are drawn in batches with `policy.complete`, not step by step
through the search package's functions of the same names.

The result also carries the compute spent (all model tokens: prefill + decode, from the policy's
usage counter), the tool calls made (`--tools calculator,python`: the policy may call them
mid-answer; tool output counts as prefill) and wall time, so accuracy can be plotted against compute next to the search
strategies. Sample seeds derive from (seed, problem id) (`search.derive_seed`), so a problem's
answers do not depend on batch size or on which other problems are in the file.

`evaluate(...)` is the library entry point (rounds and compare reuse it); `lab eval` is
`selfplay/commands/evaluate.py`.

Knows policies (through `complete`), tasks, grading and the strategy registry; a search it hands
to `selfplay.answering.deliberate`, knowing nothing of how one runs; nothing about training.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Callable, Sequence

from tqdm import tqdm

from search import MAX_ANSWERS, GREEDY, SEARCH, STRATEGIES, derive_seed, lookup_strategy
from selfplay.answering.grading import grade
from selfplay.tasks import Problem


@dataclass
class ProblemOutcome:
    id: str
    task: str
    solved: bool  # at least one answer verified
    n_samples: int
    n_passed: int
    tokens: int  # tokens generated for this problem's answers


@dataclass
class EvalResult:
    strategy: str
    budget: int  # as asked; greedy always answers once
    samples_per_problem: int
    n: int
    solved: int
    accuracy: float  # solved / n (pass@samples_per_problem)
    sample_accuracy: float  # passed answers / all answers (pass@1 estimate)
    by_task: dict[str, float]  # accuracy per task
    tokens: int  # prefill + decode tokens pushed through the policy (and the scorer, when one is used)
    prefill_tokens: int
    decode_tokens: int
    forward_calls: int
    tool_calls: int  # tool runs (calculator, python) made while answering
    wall_s: float
    problems: list[ProblemOutcome] = field(default_factory=list)

    def to_dict(self, with_problems: bool = False) -> dict:
        data = asdict(self)
        if not with_problems:
            data.pop("problems")
        return data


def problem_seed(seed: int, problem_id: str) -> int:
    """The seed of one problem's greedy or sampled answers: (seed, problem id) through `search.derive_seed`."""
    return derive_seed(seed, problem_id)


def evaluate(policy, problems: Sequence[Problem], strategy: str, budget: int = 1, seed: int = 0, *,
             max_new_tokens: int = 256, batch_size: int = 8, progress: bool = False,
             grader: Callable | None = None, scorer=None, on_tree: Callable | None = None,
             together: int = 1) -> EvalResult:
    """Answer every problem with `strategy` and grade the answers (with `grade` unless `grader` is given).

    Search strategies may use a learned `scorer`; `on_tree(problem, deliberation)` receives each
    search's result (tree included) in the problems' order, e.g. to write trees to disk. `together`
    problems are searched at a time with their model calls batched (`search.batching`: the same
    answers, faster); greedy and sampling answers come `batch_size` problems a call.
    """
    grader = grader or grade
    kind = lookup_strategy(strategy).kind  # an unknown name is a ValueError
    if budget < 1 or batch_size < 1 or together < 1:
        raise ValueError("budget, batch_size and together must be at least 1")
    if budget > MAX_ANSWERS:  # sampling decodes budget x batch rows at once
        raise ValueError(f"a budget is at most {MAX_ANSWERS:,} answers a problem, got {budget:,}")
    if kind == SEARCH:
        return _evaluate_search(policy, problems, strategy, budget, seed, progress, grader, scorer, on_tree, together)
    samples = 1 if kind == GREEDY else budget
    temperature = 0.0 if kind == GREEDY else 1.0
    start, usage_before = time.perf_counter(), _snapshot(policy.usage)
    outcomes: list[ProblemOutcome] = []
    with tqdm(total=len(problems), desc=f"eval {strategy}", unit="problem", disable=not progress) as bar:
        for first in range(0, len(problems), batch_size):
            batch = problems[first:first + batch_size]
            answers = policy.complete([policy.render_prompt(problem) for problem in batch], samples,
                                      temperature=temperature, max_new_tokens=max_new_tokens,
                                      seed=[problem_seed(seed, problem.id) for problem in batch])
            for problem, completions in zip(batch, answers):
                passed = sum(grader(problem, completion.text).passed for completion in completions)
                outcomes.append(ProblemOutcome(problem.id, problem.task, passed > 0, len(completions), passed,
                                               sum(completion.n_tokens for completion in completions)))
            bar.update(len(batch))
    used = _snapshot(policy.usage, minus=usage_before)
    return _summarise(outcomes, strategy, budget, samples, used, time.perf_counter() - start)


def _evaluate_search(policy, problems, strategy, budget, seed, progress, grader, scorer, on_tree,
                     together) -> EvalResult:
    from search.batching import search_together
    from selfplay.answering.deliberate import deliberate  # loaded only when a search is asked for

    start, usage_before = time.perf_counter(), _snapshot(policy.usage)
    scorer_before = scorer.usage.total_tokens if scorer is not None else 0
    outcomes: list[ProblemOutcome] = []
    problems = list(problems)

    def answer(lane, problem, scorer_lane=None):
        return deliberate(lane, problem, strategy, budget, seed, scorer=scorer_lane, grader=grader)

    with tqdm(total=len(problems), desc=f"eval {strategy} x{budget}", unit="problem", disable=not progress) as bar:
        def answered(index: int, outcome) -> None:
            problem = problems[index]
            outcomes.append(ProblemOutcome(problem.id, problem.task, outcome.verdict.passed, 1,
                                           int(outcome.verdict.passed), outcome.result.tokens))
            if on_tree is not None:
                on_tree(problem, outcome)
            bar.update(1)

        search_together(policy, problems, answer, width=together, scorer=scorer, on_result=answered)
    used = _snapshot(policy.usage, minus=usage_before)
    result = _summarise(outcomes, strategy, budget, 1, used, time.perf_counter() - start)
    if scorer is not None:
        result.tokens += scorer.usage.total_tokens - scorer_before
    return result


def _snapshot(usage, minus=None) -> SimpleNamespace:
    """The counters a search needs from any policy usage (only `total_tokens` is required)."""
    names = ("total_tokens", "prefill_tokens", "decode_tokens", "forward_calls", "tool_calls")
    values = {name: getattr(usage, name, 0) for name in names}
    if minus is not None:
        values = {name: values[name] - getattr(minus, name) for name in names}
    return SimpleNamespace(**values)


def _summarise(outcomes, strategy, budget, samples, used, wall_s) -> EvalResult:
    per_task = defaultdict(list)
    for outcome in outcomes:
        per_task[outcome.task].append(outcome.solved)
    n, solved = len(outcomes), sum(outcome.solved for outcome in outcomes)
    answers = sum(outcome.n_samples for outcome in outcomes)
    return EvalResult(
        strategy=strategy, budget=budget, samples_per_problem=samples, n=n, solved=solved,
        accuracy=solved / n if n else 0.0,
        sample_accuracy=sum(outcome.n_passed for outcome in outcomes) / answers if answers else 0.0,
        by_task={task: sum(flags) / len(flags) for task, flags in sorted(per_task.items())},
        tokens=used.total_tokens, prefill_tokens=used.prefill_tokens, decode_tokens=used.decode_tokens,
        forward_calls=used.forward_calls, tool_calls=used.tool_calls, wall_s=round(wall_s, 3), problems=outcomes)


def merge_results(parts: Sequence[EvalResult], strategy: str, budget: int, wall_s: float) -> EvalResult:
    """One result from the results of consecutive slices of a problem list, in their order."""
    names = ("tokens", "prefill_tokens", "decode_tokens", "forward_calls", "tool_calls")
    used = SimpleNamespace(**{name: sum(getattr(part, name) for part in parts) for name in names})
    used.total_tokens = used.tokens
    samples = parts[0].samples_per_problem if parts else 1
    return _summarise([outcome for part in parts for outcome in part.problems], strategy, budget, samples, used,
                      wall_s)


