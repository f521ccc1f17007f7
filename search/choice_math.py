"""Pure choice math: PUCT, sibling priors, fallback values, voting and ranking rules.

Every function here takes plain numbers and returns plain numbers; each is unit tested.
Knows nothing about trees, models or budgets.
"""
from __future__ import annotations

import math
from typing import Hashable, Sequence


def puct_score(prior: float, visit_count: int, value_sum: float, parent_visits: int, c_puct: float) -> float:
    """AlphaZero's PUCT: mean value plus a prior-weighted exploration bonus.

    score = Q + c_puct * prior * sqrt(parent_visits) / (1 + visit_count), with Q = value_sum /
    visit_count (0 for an unvisited child).

    >>> puct_score(prior=0.5, visit_count=1, value_sum=0.8, parent_visits=4, c_puct=1.0)
    1.3
    """
    mean_value = value_sum / visit_count if visit_count else 0.0
    return mean_value + c_puct * prior * math.sqrt(parent_visits) / (1 + visit_count)


def sibling_priors(logprobs: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Softmax of sibling step log-probs at `temperature`: the priors of one expansion.

    >>> [round(p, 3) for p in sibling_priors([math.log(0.2), math.log(0.6)])]
    [0.25, 0.75]
    """
    if not logprobs:
        return []
    scaled = [logprob / temperature for logprob in logprobs]
    top = max(scaled)
    weights = [math.exp(value - top) for value in scaled]
    total = sum(weights)
    return [weight / total for weight in weights]


def mean_token_probability(logprob: float, token_count: int) -> float:
    """exp(mean token log-prob): the fallback value of a path, in [0, 1] (1 for an empty path).

    >>> round(mean_token_probability(2 * math.log(0.5), 2), 6)
    0.5
    """
    return math.exp(logprob / token_count) if token_count else 1.0


def best_index(keys: Sequence[tuple]) -> int:
    """Index of the largest key; ties go to the earliest index.

    >>> best_index([(1.0, 2), (1.0, 3), (0.5, 9)])
    1
    """
    if not keys:
        raise ValueError("no candidates")
    best = 0
    for index, key in enumerate(keys):
        if key > keys[best]:
            best = index
    return best


def majority_vote(keys: Sequence[Hashable | None]) -> int | None:
    """Index of the first answer of the most common key; None keys do not vote.

    Ties between equally common keys go to the key that appeared first.

    >>> majority_vote(["7", None, "5", "5", "7", "5"])
    2
    >>> majority_vote(["7", "5", "5", "7"])
    0
    >>> majority_vote([None, None]) is None
    True
    """
    counts: dict[Hashable, int] = {}
    first_index: dict[Hashable, int] = {}
    for index, key in enumerate(keys):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first_index.setdefault(key, index)
    if not counts:
        return None
    winner = max(counts, key=lambda key: (counts[key], -first_index[key]))
    return first_index[winner]
