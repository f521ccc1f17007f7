"""Deliberate answering: run a search strategy on a problem with only what is known at answer time.

Honest deliberation means the search may use signals available without the ground truth:
- countdown: the rules check needs only the question (numbers and target), so it guides search;
- funcs: the examples shown in the prompt can be run (the hidden cases only grade);
- arith and plain question/answer rows: nothing, so majority vote or the learned scorers.
With tools on, a failed tool call is a signal too (`ToolFailureCheck`): outside funcs, where
running code that fails is part of writing it, a path whose last call failed is ruled out.
Accuracy is always graded afterwards against the ground truth (`selfplay.grading.grade`), and
the grader's verdicts are written into the tree's terminal nodes for inspection and training.

    outcome = deliberate(policy, problem, "mcts", budget=16, seed=0)
    outcome.verdict.passed, outcome.result.tokens, outcome.result.tree.to_dict()

Knows tasks, verifiers, the policy's surface and search; nothing about files, training or Ray.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Callable, Hashable

from search import GREEDY, Budget, SearchConfig, SearchResult, lookup_strategy
from selfplay.grading import grade
from selfplay.tasks import Problem
from verifiers import code, math
from verifiers.countdown import prefix_error
from verifiers.rewards import extract_program
from verifiers.verdict import Verdict

# Tokens one complete answer is allowed on top of its prompt, per task: about the length of a
# long expert answer of the built-in tasks (a countdown answer of the built-in model writes each
# step as a calculator call and the numbers left: `<<25-5=20>> [4 20]`), and roomy for public rows.
ANSWER_TOKENS = {"countdown": 64, "arith": 64, "funcs": 96, "qa": 256}
# Step caps and depths for the built-in format (one step per line); chat models get CHAT_CONFIG.
TASK_CONFIGS = {
    "countdown": SearchConfig(max_depth=6, max_step_tokens=32),
    "arith": SearchConfig(max_depth=8, max_step_tokens=24),
    "funcs": SearchConfig(max_depth=10, max_step_tokens=64),
    "qa": SearchConfig(max_depth=12, max_step_tokens=64),
}
CHAT_CONFIG = SearchConfig(max_depth=12, max_step_tokens=160)
EXAMPLE_TIMEOUT_S = 2.0


@dataclass
class Deliberation:
    problem_id: str
    strategy: str
    budget: int
    result: SearchResult
    verdict: Verdict  # the chosen answer, graded against the ground truth


@dataclass(frozen=True)
class CountdownCheck:
    """Countdown's rules, from the question alone: a whole answer passes or fails, and an
    unfinished path is ruled out (`prefix` 0.0) once a step breaks the rules or no step is left."""

    numbers: tuple[int, ...]
    target: int
    use_all: bool = False  # the standard game: every number exactly once

    def __call__(self, text: str) -> float:
        return float(math.check_countdown(list(self.numbers), self.target, text, use_all=self.use_all).passed)

    def prefix(self, text: str) -> float | None:
        return 0.0 if prefix_error(list(self.numbers), self.target, text, use_all=self.use_all) else None


def answer_check_for(problem: Problem) -> Callable[[str], float | None] | None:
    """The answer-time signal for a problem, or None when its task has none."""
    if problem.task == "countdown":
        return CountdownCheck(tuple(problem.meta["numbers"]), problem.meta["target"],
                              problem.meta.get("use_all", False))
    examples = problem.meta.get("examples") if problem.task == "funcs" else None
    entry_point = (problem.tests or {}).get("entry_point")
    if examples and entry_point:
        return lambda text: code.run_cases(extract_program(text), entry_point, examples,
                                           timeout_s=EXAMPLE_TIMEOUT_S).score
    return None


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
    an answer whose last call failed casts no vote. Funcs keep theirs: a failing run is a draft."""
    if problem.task == "funcs":
        return check, key
    return ToolFailureCheck(check), lambda text: None if last_tool_call_failed(text) else key(text)


def answer_key_for(problem: Problem) -> Callable[[str], Hashable | None]:
    """What makes two answers 'the same' for majority vote."""
    if problem.task in ("countdown", "funcs"):
        return lambda text: " ".join(text.split()) or None
    return lambda text: _final_answer_key(text)


def _final_answer_key(text: str) -> Hashable | None:
    answer = math.extract_answer(text)
    return None if answer is None else math.answer_key(answer)


def search_config(policy, problem: Problem, **overrides) -> SearchConfig:
    base = TASK_CONFIGS.get(problem.task, TASK_CONFIGS["qa"]) if policy.step_delimiter == "\n" else CHAT_CONFIG
    return replace(base, **overrides)


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
    """The price of one complete sampled answer: its prompt plus the task's answer allowance."""
    return len(policy.encode(prompt_text, prompt=True)) + ANSWER_TOKENS.get(task, ANSWER_TOKENS["qa"])


def problem_seed(seed: int, problem_id: str, strategy: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{problem_id}:{strategy}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def deliberate(policy, problem: Problem, strategy: str, budget: int, seed: int = 0, *, scorer=None,
               config: SearchConfig | None = None, grader: Callable = grade) -> Deliberation:
    """Answer `problem` with `strategy` under `budget` answers' worth of compute, then grade it."""
    algorithm = lookup_strategy(strategy)  # an unknown name is a ValueError
    prompt_text = policy.render_prompt(problem)
    config = config or search_config(policy, problem, **scaled_knobs(budget))
    allowance = Budget.from_answers(budget, tokens_per_answer(policy, prompt_text, problem.task))
    check, key = answer_check_for(problem), answer_key_for(problem)
    if getattr(policy, "tools", None) is not None:
        check, key = with_tool_signals(problem, check, key)
    result = algorithm(
        policy, prompt_text, config, seed=problem_seed(seed, problem.id, strategy),
        budget=None if algorithm.kind == GREEDY else allowance, scorer=scorer, answer_check=check, answer_key=key)
    for node in result.tree.terminals():
        verdict = grader(problem, result.tree.answer_text(node))
        result.tree.set_verdict(node, verdict.passed, verdict.score, verdict.status)
    if result.answer_text is None:
        verdict = Verdict.fail("invalid", "the search reached no complete answer")
    else:
        verdict = grader(problem, result.answer_text)
    return Deliberation(problem.id, strategy, budget, result, verdict)
