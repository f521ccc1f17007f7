"""Step-level beam search: keep the best `beam_width` partial paths, grow each by a step, repeat.

    result = beam(policy, prompt_text, SearchConfig(beam_width=4, expansions_per_beam=4), seed=0,
                  budget=Budget.from_answers(16, 120), scorer=value_model)

Each round expands every kept path in ONE policy call (`expansions_per_beam` samples each,
repeated step texts under one parent merged), then values all new children at once: a terminal
child with an answer check gets the check's value, the rest the scorer's (a value / process
reward model), or the mean token probability of the path when there is no scorer. Finished
answers leave the beam; the search ends when `beam_width` answers are finished, no path is
left, or the budget does not fit the next call. The answer is the best-valued finished answer
(ties: the earliest created). Every valued node records one visit with its value.

If only some kept paths fit the remaining budget, the best-valued ones are grown.

Knows the protocols and `SearchRun`; nothing about models or tasks.
"""
from __future__ import annotations

from search.budget import Budget
from search.config import SearchConfig
from search.protocols import AnswerCheck, AnswerKey, Scorer, StepPolicy
from search.run import SearchResult, SearchRun
from search.selection import best_index
from search.tree import ROOT_INDEX, Tree


def keep_best(tree: Tree, nodes: list[int], width: int) -> list[int]:
    """The `width` nodes of highest mean value, best first (ties: the earliest created)."""
    return sorted(nodes, key=lambda node: (-tree.mean_value(node), node))[:width]


def beam(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int, budget: Budget | None = None,
         scorer: Scorer | None = None, answer_check: AnswerCheck | None = None,
         answer_key: AnswerKey | None = None) -> SearchResult:
    """Step-level beam search of width `config.beam_width`; see the module docstring."""
    run = SearchRun("beam", policy, prompt_text, config, seed=seed, budget=budget, scorer=scorer,
                    answer_check=answer_check)
    tree = run.tree
    kept, finished = [ROOT_INDEX], []
    while kept and len(finished) < config.beam_width:
        grown = run.expand(kept, config.expansions_per_beam, merge_duplicates=True)
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
        kept = keep_best(tree, [child for child in children if run.can_grow(child)], config.beam_width)
    if not finished:
        return run.finish(None, finished)
    answer = finished[best_index([(tree.mean_value(node), -node) for node in finished])]
    return run.finish(answer, finished)
