"""Verifier-weighted majority: each sampled answer votes for its final answer with its scorer value.

    result = weighted_majority(policy, prompt_text, SearchConfig(num_samples=16), seed=0,
                               budget=Budget.from_answers(16, 120), scorer=outcome_scorer, answer_key=key)

Self-consistency counts votes; a learned verifier ranks answers one by one. Weighting each vote by
the verifier's P(correct) (Li et al. 2023, "Making Large Language Models Better Reasoners with
Step-Aware Verifier"; Uesato et al. 2022) uses both: many answers that agree still win, but a
value that only wrong-looking answers reach loses to fewer answers the verifier trusts. Without a
scorer, or when scoring does not fit the budget, every vote weighs 1 (plain majority).

Knows the protocols and `SearchRun`; nothing about models or tasks.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

from search.budget import Budget
from search.config import SearchConfig
from search.protocols import AnswerCheck, AnswerKey, Scorer, StepPolicy
from search.run import SearchResult, SearchRun
from search.sampling import draw_answers


def weighted_vote(keys: Sequence[Hashable | None], weights: Sequence[float]) -> int | None:
    """Index of the first answer of the key with the largest summed weight; None keys do not vote;
    ties go to the key that appeared first.

    >>> weighted_vote(["7", "5", "5", None], [0.9, 0.3, 0.4, 1.0])
    0
    >>> weighted_vote(["7", "5", "5"], [0.5, 0.3, 0.4])
    1
    >>> weighted_vote([None], [1.0]) is None
    True
    """
    if len(keys) != len(weights):
        raise ValueError(f"{len(keys)} keys but {len(weights)} weights")
    totals: dict[Hashable, float] = {}
    first_index: dict[Hashable, int] = {}
    for index, (key, weight) in enumerate(zip(keys, weights)):
        if key is None:
            continue
        totals[key] = totals.get(key, 0.0) + weight
        first_index.setdefault(key, index)
    if not totals:
        return None
    winner = max(totals, key=lambda key: (totals[key], -first_index[key]))
    return first_index[winner]


def weighted_majority(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int,
                      budget: Budget | None = None, scorer: Scorer | None = None,
                      answer_check: AnswerCheck | None = None, answer_key: AnswerKey | None = None) -> SearchResult:
    """`config.num_samples` answers; the final answer whose answers' scorer values sum highest wins.

    Each answer's node records one visit valued at its own weight (its scorer value, or 1).
    """
    if answer_key is None:
        raise ValueError("weighted_majority needs an answer_key (the final answer of a text, to vote on)")
    run = SearchRun("weighted_majority", policy, prompt_text, config, seed=seed, budget=budget, scorer=scorer)
    answers = draw_answers(run, config.num_samples)
    keys = [answer_key(run.tree.answer_text(node)) for node in answers]
    weights = (run.score(answers) if scorer is not None and answers else None) or [1.0] * len(answers)
    for node, weight in zip(answers, weights):
        run.tree.visit_counts[node] = 1
        run.tree.value_sums[node] = weight
    winner = weighted_vote(keys, weights)
    return run.finish(None if winner is None else answers[winner], answers)
