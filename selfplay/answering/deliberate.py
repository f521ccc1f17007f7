"""Deliberate answering: run a search strategy on a problem with only what is known at answer time.

Honest deliberation means the search may use signals available without the ground truth: the
task spec's `answer_check` (countdown: the rules check needs only the question, so it guides
search; funcs: the examples shown in the prompt can be run, the hidden cases only grade; arith
and plain question/answer rows: nothing, so majority vote or the learned scorers).
With tools on, a failed tool call is a signal too (`ToolFailureCheck`): outside tasks whose
answers are programs (`writes_code`), where running code that fails is part of writing it, a
path whose last call failed is ruled out. What an answer costs, its search depth and step size
come from the spec's prices for the policy's prompt format (built-in or chat), and a model may
declare its own prices and search settings for a task (`selfplay_pricing`, `selfplay_search`).
Accuracy is always graded afterwards against the ground truth (`selfplay.answering.grading.grade`), and
the grader's verdicts are written into the tree's terminal nodes for inspection and training.

    outcome = deliberate(policy, problem, "mcts", budget=16, seed=0)
    outcome.verdict.passed, outcome.result.tokens, outcome.result.tree.to_dict()

Knows task specs, the policy's surface and search; nothing about files, training or Ray.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Hashable, Mapping

from search import (GREEDY, Budget, BudgetTooSmall, derive_seed, SearchConfig, SearchResult, check_overrides,
                    lookup_strategy)
from selfplay.answering.grading import grade
from selfplay.model.prompting import BUILTIN_STEP_DELIMITER
from selfplay.model.settings import DEFAULT_WHERE, ModelConfigError, declared_per_task, declared_retries
from selfplay.tasks import Problem, task_spec
from selfplay.tasks.spec import Pricing
from verifiers import math
from verifiers.verdict import Verdict


@dataclass
class Deliberation:
    problem_id: str
    strategy: str
    budget: int
    result: SearchResult
    verdict: Verdict  # the chosen answer, graded against the ground truth


def answer_check_for(problem: Problem, retries: bool = False) -> Callable[[str], float | None] | None:
    """The answer-time signal for a problem (its spec's `answer_check`), or None when it has none;
    `retries`: the policy's answers search in their text (`Policy.retries`), where the check cares."""
    made = task_spec(problem.task).answer_check
    check = None if made is None else made(problem)
    return replace(check, retries=True) if retries and hasattr(check, "retries") else check


# Where a tool's output starts: after a calculator call (`<<48/2=`, answered `24>>`) or a python
# output block's opening line. Both tools answer `error: ...` when a call fails.
_TOOL_OUTPUT = re.compile(r"<<[^<>\n]{1,200}=(?=[^<>\n]*>>)|```output\n")


def last_tool_call_failed(text: str) -> bool:
    """Whether the last tool output in `text` is an error.

    >>> last_tool_call_failed("<<7/0=error: division by zero>>"), last_tool_call_failed("<<7/0=error: x>><<7=7>>")
    (True, False)
    """
    last = None
    for last in _TOOL_OUTPUT.finditer(text):
        pass
    return last is not None and text.startswith("error: ", last.end())


@dataclass(frozen=True)
class ToolFailureCheck:
    """A task's answer-time check (or none) plus one signal: a path whose last tool call failed
    is ruled out (0.0), whole or unfinished. Otherwise the task's check decides; without one a
    whole answer gets no value (None), as before: a 0.0 among Nones would rank above them."""

    check: Callable[[str], float | None] | None = None

    def __call__(self, text: str) -> float | None:
        if self.check is None:
            return None
        return 0.0 if last_tool_call_failed(text) else self.check(text)

    def prefix(self, text: str) -> float | None:
        if last_tool_call_failed(text):
            return 0.0
        prefix = getattr(self.check, "prefix", None)
        return None if prefix is None else prefix(text)


def with_tool_signals(problem: Problem, check, key) -> tuple[Callable, Callable]:
    """The answer check and vote key of a policy with tools: failed calls rule a path out, and
    an answer whose last call failed casts no vote. Tasks whose answers are programs keep theirs:
    a failing run is a draft."""
    if task_spec(problem.task).writes_code:
        return check, key
    return ToolFailureCheck(check), lambda text: None if last_tool_call_failed(text) else key(text)


def answer_key_for(problem: Problem) -> Callable[[str], Hashable | None]:
    """What makes two answers 'the same' for majority vote: the whole text (spacing aside) where the
    spec votes by text, else the final answer."""
    if task_spec(problem.task).vote_by_text:
        return lambda text: " ".join(text.split()) or None
    return lambda text: _final_answer_key(text)


def _final_answer_key(text: str) -> Hashable | None:
    answer = math.extract_answer(text)
    return None if answer is None else math.answer_key(answer)


def check_model_settings(config: Mapping, where: str = DEFAULT_WHERE) -> None:
    """Check every task's declared prices and search settings, and the retries flag, before any work.

    `config` is the model's config as a dict; a bad value raises ModelConfigError naming `where`, the
    key, the task and the value, where it used to mean something else silently (a NaN price passed
    `< 1`, and MCTS spent 27x its budget) or fail mid-run.
    """
    declared_retries(config, where)
    for key, check in (("selfplay_pricing", lambda fields: Pricing(**fields)), ("selfplay_search", check_overrides)):
        for task, fields in declared_per_task(config, key, where).items():
            try:
                check(dict(fields))
            except (TypeError, ValueError) as error:
                raise ModelConfigError(f"{where}: {key} for {task!r}: {error}") from None


def pricing_for(policy, task: str) -> Pricing:
    """The task's prices in the policy's prompt format: built-in where steps are lines, else chat;
    a built-in model's own prices for the task where it declares them (`Policy.pricing`)."""
    kind = "builtin" if policy.step_delimiter == BUILTIN_STEP_DELIMITER else "chat"
    declared = (getattr(policy, "pricing", None) or {}).get(task)
    if kind == "builtin" and declared is not None:
        try:
            return Pricing(**declared)
        except (TypeError, ValueError) as error:
            raise ModelConfigError(f"the model's selfplay_pricing for {task!r} must hold Pricing fields "
                             f"(answer_tokens, max_depth, step_tokens), got {declared!r}: {error}") from error
    return task_spec(task).pricing(kind)


def declared_search(policy, task: str) -> dict:
    """The search settings a model declares for `task` (`Policy.search_defaults`, from its config's
    `selfplay_search`: task -> SearchConfig fields), checked; {} when it declares none."""
    declared = (getattr(policy, "search_defaults", None) or {}).get(task)
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise ModelConfigError(f"the model's selfplay_search for {task!r} must hold SearchConfig fields, "
                               f"got {declared!r}")
    try:
        check_overrides(declared)
    except ValueError as error:
        raise ModelConfigError(f"the model's selfplay_search for {task!r}: {error}") from None
    return dict(declared)


def search_config(policy, problem: Problem, **overrides) -> SearchConfig:
    """The task's prices in the policy's format, then the model's declared settings, then `overrides`."""
    pricing = pricing_for(policy, problem.task)
    base = SearchConfig(max_depth=pricing.max_depth, max_step_tokens=pricing.step_tokens)
    return replace(base, **{**declared_search(policy, problem.task), **overrides})


def scaled_knobs(budget: int) -> dict:
    """Search sizes that grow with the budget, so every strategy can use what it is allowed.

    The token allowance is the binding limit; these only keep a strategy from stopping short
    of it (a fixed beam of 4 would spend the same at budget 4 and 32).

    >>> scaled_knobs(32)["beam_width"], scaled_knobs(32)["num_simulations"]
    (16, 4096)
    """
    return {"num_samples": budget, "beam_width": max(2, budget // 2), "expansions_per_beam": 4,
            "num_simulations": 128 * budget}


def tokens_per_answer(policy, prompt_text: str, task: str) -> int:
    """The price of one complete sampled answer: its prompt plus the task's answer allowance in the
    policy's prompt format."""
    return len(policy.encode(prompt_text, prompt=True)) + pricing_for(policy, task).answer_tokens


def deliberate(policy, problem: Problem, strategy: str, budget: int, seed: int = 0, *, scorer=None,
               config: SearchConfig | None = None, grader: Callable = grade) -> Deliberation:
    """Answer `problem` with `strategy` under `budget` answers' worth of compute, then grade it."""
    algorithm = lookup_strategy(strategy)  # an unknown name is a ValueError
    prompt_text = policy.render_prompt(problem)
    config = config or search_config(policy, problem, **scaled_knobs(budget))
    allowance = Budget.from_answers(budget, tokens_per_answer(policy, prompt_text, problem.task))
    check, key = answer_check_for(problem, getattr(policy, "retries", False)), answer_key_for(problem)
    if getattr(policy, "tools", None) is not None:
        check, key = with_tool_signals(problem, check, key)
    result = algorithm(
        policy, prompt_text, config, seed=derive_seed(seed, problem.id, strategy),
        budget=None if algorithm.kind == GREEDY else allowance, scorer=scorer, answer_check=check, answer_key=key)
    if result.stopped_by_budget and result.policy_tokens == 0:
        raise BudgetTooSmall(f"{strategy} x{budget}: {allowance.max_tokens} tokens pay for no model call on problem "
                             f"{problem.id} (one answer is priced {allowance.tokens_per_answer} tokens, a search's first "
                             f"call may cost several answers' worth); raise the budget")
    for node in result.tree.terminals():
        verdict = grader(problem, result.tree.answer_text(node))
        result.tree.set_verdict(node, verdict.passed, verdict.score, verdict.status)
    if result.answer_text is None:
        verdict = Verdict.fail("invalid", "the search reached no complete answer")
    else:
        verdict = grader(problem, result.answer_text)
    return Deliberation(problem.id, strategy, budget, result, verdict)
