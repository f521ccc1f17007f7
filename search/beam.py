"""Step-level beam search: keep the best `beam_width` partial paths, grow each by a step, repeat.

    result = beam(policy, prompt_text, SearchConfig(beam_width=4, expansions_per_beam=4), seed=0,
                  budget=Budget.from_answers(16, 120), scorer=value_model)

Each round draws `beam_width * expansions_per_beam` next steps, split evenly among the kept
paths, in ONE policy call (repeated step texts under one parent merged), so a beam thinned by
finished or ruled-out paths refills; then it values all new children at once: a terminal child
with an answer check gets the check's value, the rest the scorer's (a value / process reward
model), or the mean token probability of the path when there is no scorer. Finished answers
leave the beam; when no path is left the beam starts again from the prompt (new draws; at
most `beam_width` restarts). The
search ends when `beam_width` answers are finished, a round draws nothing new, the budget does
not fit the next call, or (with `stop_at_pass`) an answer passes the answer check. The answer
is the best-valued finished answer (ties: the earliest created). Every valued node records one
visit with its value.

A round that does not fit the remaining budget draws fewer steps per path; if even one each
does not fit, the best-valued paths that fit are grown.

Knows the protocols and `SearchRun`; nothing about models or tasks.
"""
from __future__ import annotations

import itertools

from search.budget import Budget
from search.config import SearchConfig
from search.protocols import AnswerCheck, AnswerKey, Scorer, StepPolicy
from search.run import SearchResult, SearchRun
from search.choice_math import best_index
from search.tree import ROOT_INDEX, Tree


def keep_best(tree: Tree, nodes: list[int], width: int) -> list[int]:
    """The `width` nodes of highest mean value, best first (ties: the earliest created)."""
    return sorted(nodes, key=lambda node: (-tree.mean_value(node), node))[:width]


def affordable_draws(run: SearchRun, nodes: list[int], wanted: int) -> int:
    """The most draws per node, up to `wanted`, whose worst case for all `nodes` fits the budget (at least 1)."""
    remaining = run.meter.remaining
    for count in range(wanted, 1, -1):
        if remaining is None or sum(run.cost_bound(node, count) for node in nodes) <= remaining:
            return count
    return 1


def beam(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int, budget: Budget | None = None,
         scorer: Scorer | None = None, answer_check: AnswerCheck | None = None,
         answer_key: AnswerKey | None = None) -> SearchResult:
    """Step-level beam search of width `config.beam_width`; see the module docstring."""
    run = SearchRun("beam", policy, prompt_text, config, seed=seed, budget=budget, scorer=scorer,
                    answer_check=answer_check)
    tree = run.tree
    kept, finished, draws = [ROOT_INDEX], [], config.beam_width * config.expansions_per_beam
    restarts = 0
    for step_round in itertools.count():
        if not kept:  # every path finished or was ruled out: start again from the prompt
            restarts += 1
            if restarts > config.beam_width:
                break
            kept = [ROOT_INDEX]
        per_path = affordable_draws(run, kept, -(-draws // len(kept)))
        grown = run.expand(kept, per_path, merge_duplicates=True, purpose=f"beam:{step_round}")
        children = [child for node_children in grown for child in node_children]
        if not children:
            break
        values = run.evaluate(children)
        if values is None:
            break
        for child, value in zip(children, values):
            tree.visit_counts[child] = 1
            tree.value_sums[child] = value
        finished += [child for child in children if tree.terminal[child]]
        if len(finished) >= config.beam_width or (config.stop_at_pass and run.pass_found):
            break
        kept = keep_best(tree, [child for child in children if run.can_grow(child)], config.beam_width)
    if not finished:
        return run.finish(None, finished)
    answer = finished[best_index([(tree.mean_value(node), -node) for node in finished])]
    return run.finish(answer, finished)
