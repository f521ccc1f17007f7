"""What every strategy shares: one search in progress, its tree, its model calls and its result.

A `SearchRun` owns the tree and the policy states of its nodes (node `i`'s state is
`states[i]`), and is the only place a strategy calls a model: `expand` (the policy) and
`evaluate` / `score` (the scorer, the answer check). Each model call is checked against the
budget first (worst case, see `search.budget`) and seeded from the search seed, the node it
continues and the call's purpose (`search.seeds.derive_seed`), so a search is a function of its
seed, whatever the batch layout.

Knows the protocols, the tree, the budget and the seed derivation; nothing about any one strategy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from search.budget import Budget, TokenMeter, expand_cost_bound
from search.config import SearchConfig
from search.protocols import AnswerCheck, Scorer, StepPolicy
from search.seeds import derive_seed
from search.choice_math import mean_token_probability
from search.tree import ROOT_INDEX, Tree


@dataclass
class SearchResult:
    """The answer a strategy settled on, the tree it grew and what that cost."""

    answer_text: str | None  # None when no complete answer was reached
    answer_node: int | None
    tree: Tree
    tokens: int  # policy + scorer tokens spent (prefill + decode + scorer forwards)
    wall_s: float
    policy_tokens: int = 0
    scorer_tokens: int = 0
    policy_calls: int = 0
    scorer_calls: int = 0
    stopped_by_budget: bool = False  # a model call was skipped because its worst case did not fit
    candidates: list[int] = field(default_factory=list)  # complete answers considered, creation order


def affordable_count(cost_bounds: Sequence[int], remaining: int | None) -> int:
    """How many items, taken in order, fit in `remaining` tokens (all of them when unlimited).

    >>> affordable_count([10, 10, 10], 25)
    2
    """
    if remaining is None:
        return len(cost_bounds)
    total = 0
    for count, bound in enumerate(cost_bounds):
        total += bound
        if total > remaining:
            return count
    return len(cost_bounds)


def _call_dict(call) -> dict:
    """A step's tool call as the tree stores it (a policy's calls have `to_dict`; fakes may give dicts)."""
    return dict(call) if isinstance(call, dict) else call.to_dict()


class SearchRun:
    """One search in progress: tree, node states, budget meter and call counters."""

    def __init__(self, strategy: str, policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int,
                 budget: Budget | None = None, scorer: Scorer | None = None,
                 answer_check: AnswerCheck | None = None) -> None:
        self.started = time.perf_counter()
        self.policy, self.prompt_text, self.config, self.seed = policy, prompt_text, config, seed
        self.scorer, self.answer_check = scorer, answer_check
        self.meter = TokenMeter(budget, lambda: policy.usage.total_tokens,
                                (lambda: scorer.usage.total_tokens) if scorer is not None else None)
        self.tree = Tree(strategy=strategy)
        self.states = [policy.root(prompt_text)]
        self.prompt_tokens = len(self.states[ROOT_INDEX])
        self.prefix_tokens = [self.prompt_tokens]  # per node: prompt + steps up to it
        self.policy_calls = self.scorer_calls = 0
        self.prefix_check = getattr(answer_check, "prefix", None)
        self.dead: set[int] = set()  # unfinished nodes the prefix check ruled out
        self.pass_found = False  # some finished answer passed the answer check (value >= 1)
        self.checked: set[int] = set()  # finished nodes the answer check has seen (it runs once per node)

    # --- the policy ----------------------------------------------------------------------------

    def can_grow(self, node: int) -> bool:
        """Whether a path may continue from `node`: not an answer, not ruled out, under the depth cap."""
        return (not self.tree.terminal[node] and node not in self.dead
                and self.tree.depths[node] < self.config.max_depth)

    def cost_bound(self, node: int, num_samples: int) -> int:
        """Worst-case tokens of sampling `num_samples` next steps of `node`."""
        unfed = self.prompt_tokens if node == ROOT_INDEX else self.tree.token_counts[node]
        return expand_cost_bound([self.prefix_tokens[node]], [unfed], num_samples, self.config.max_step_tokens,
                                 self.policy.reuse_cache)

    def expand(self, nodes: Sequence[int], num_samples: int, *, temperature: float | None = None,
               merge_duplicates: bool = False, rollout: bool = False, purpose: str = "expand") -> list[list[int]]:
        """Sample `num_samples` next steps of each node in one policy call; the new children per node.

        Only the longest prefix of `nodes` whose worst case fits the budget is expanded, so the
        result may be shorter than `nodes` (empty: nothing fit). With `merge_duplicates`, a step
        text the node already has as a (non-rollout) child, or repeated among its samples, makes
        no new child. `purpose` tells apart the seeds of several calls on one node.
        """
        count = affordable_count([self.cost_bound(node, num_samples) for node in nodes], self.meter.remaining)
        if count < len(nodes):
            self.meter.stopped = True
        nodes = list(nodes[:count])
        if not nodes:
            return []
        temperature = self.config.temperature if temperature is None else temperature
        steps = self.policy.expand([self.states[node] for node in nodes], num_samples, temperature=temperature,
                                   top_p=self.config.top_p, max_step_tokens=self.config.max_step_tokens,
                                   seed=[derive_seed(self.seed, node, purpose) for node in nodes])
        self.policy_calls += 1
        return [self._add_children(node, node_steps, merge_duplicates, rollout) for node, node_steps in
                zip(nodes, steps)]

    def _add_children(self, node: int, steps, merge_duplicates: bool, rollout: bool) -> list[int]:
        children = []
        seen = {self.tree.step_texts[child] for child in self.tree.children(node) if not self.tree.rollout[child]}
        for step in steps:
            if merge_duplicates and step.text in seen:
                continue
            seen.add(step.text)
            child = self.tree.add_node(node, step.text, token_count=step.n_tokens, logprob=step.logprob,
                                       terminal=step.terminal, finish_reason=step.finish_reason, rollout=rollout,
                                       tool_calls=[_call_dict(call) for call in getattr(step, "tool_calls", ())])
            self.states.append(step.state)
            self.prefix_tokens.append(self.prefix_tokens[node] + step.n_tokens)
            children.append(child)
            if self.prefix_check is not None and not step.terminal:
                self._check_prefix(child)
        return children

    def _check_prefix(self, node: int) -> None:
        """Rule out an unfinished node whose path no passing answer can start with (value 0)."""
        value = self.prefix_check(self.tree.answer_text(node))
        if value is not None and float(value) <= 0.0:
            self.tree.answer_checks[node] = 0.0
            self.dead.add(node)

    # --- values --------------------------------------------------------------------------------

    def check(self, node: int) -> float | None:
        """The answer check of a terminal node (None without a check); recorded in the tree."""
        if self.answer_check is None or not self.tree.terminal[node]:
            return None
        if node in self.checked:
            return self.tree.answer_checks[node]
        self.checked.add(node)
        value = self.answer_check(self.tree.answer_text(node))
        self.tree.answer_checks[node] = None if value is None else float(value)
        if value is not None and value >= 1.0:
            self.pass_found = True
        return self.tree.answer_checks[node]

    def score(self, nodes: Sequence[int]) -> list[float] | None:
        """The scorer's values of the nodes' paths, in one call; None when it does not fit the budget."""
        if not nodes:
            return []
        paths = [self.tree.path_to(node) for node in nodes]
        if not self.meter.fits(self.scorer.cost_bound(self.prompt_text, paths)):
            return None
        values = [float(value) for value in self.scorer.score(self.prompt_text, paths)]
        self.scorer_calls += 1
        if len(values) != len(nodes) or any(not 0.0 <= value <= 1.0 for value in values):
            raise ValueError(f"a scorer must return one value in [0, 1] per path, got {values}")
        for node, value in zip(nodes, values):
            self.tree.scores[node] = value
        return values

    def fallback_value(self, node: int) -> float:
        """The policy's own confidence in the path: exp(mean token log-prob)."""
        return mean_token_probability(*self.tree.path_logprob(node))

    def evaluate(self, nodes: Sequence[int]) -> list[float] | None:
        """A value in [0, 1] per node; None when the scorer call does not fit the budget.

        A terminal node with an answer check gets the check's value, a node the prefix check
        ruled out 0; the rest get the scorer's
        (one call for all), or the fallback (mean token probability) when there is no scorer.
        """
        values: list[float | None] = [0.0 if node in self.dead else self.check(node) for node in nodes]
        unvalued = [index for index, value in enumerate(values) if value is None]
        if self.scorer is not None:
            scored = self.score([nodes[index] for index in unvalued])
            if scored is None:
                return None
            for index, value in zip(unvalued, scored):
                values[index] = value
        else:
            for index in unvalued:
                values[index] = self.fallback_value(nodes[index])
        return values

    # --- the result ----------------------------------------------------------------------------

    def finish(self, answer_node: int | None, candidates: Sequence[int] = ()) -> SearchResult:
        """Flag the chosen path and package the result."""
        if answer_node is not None:
            self.tree.mark_chosen(answer_node)
        answer_text = None if answer_node is None else self.tree.answer_text(answer_node)
        return SearchResult(answer_text=answer_text, answer_node=answer_node, tree=self.tree,
                            tokens=self.meter.spent, wall_s=time.perf_counter() - self.started,
                            policy_tokens=self.meter.policy_spent, scorer_tokens=self.meter.scorer_spent,
                            policy_calls=self.policy_calls, scorer_calls=self.scorer_calls,
                            stopped_by_budget=self.meter.stopped, candidates=list(candidates))
