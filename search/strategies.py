"""The one list of strategies: each name, its function and its kind. Everything else derives from it.

    from search import STRATEGIES, SEARCH, lookup_strategy, strategy_names
    STRATEGIES["mcts"](policy, prompt_text, config, seed=0, budget=budget)   # a `Strategy` is callable
    lookup_strategy("beam").kind                                             # -> "search"
    strategy_names(SEARCH)                                                   # -> ('majority', ..., 'mcts')

A strategy's kind says how it answers, so callers need not list names:

- `greedy` ("System 1"): one temperature-0 answer; a budget does not apply.
- `sampling`: independent answers at temperature 1 with no way of choosing among them; graded
  by whether ANY of them passes (pass@N), a diagnostic of what search could find.
- `search` ("System 2"): spends a budget to choose one answer, from answer-time signals only.

An unknown name is a `ValueError` naming the known ones (`lookup_strategy`).

Knows the strategy functions; nothing about models, tasks, files or Ray.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable

from search.beam import beam
from search.mcts import mcts
from search.run import SearchResult
from search.sampling import best_of_n, greedy, majority, sample
from search.weighted import weighted_majority

GREEDY, SAMPLING, SEARCH = "greedy", "sampling", "search"
KINDS = (GREEDY, SAMPLING, SEARCH)


@dataclass(frozen=True)
class Strategy:
    """One registered strategy; calling it runs its search function."""

    name: str
    run: Callable[..., SearchResult]  # (policy, prompt_text, config, *, seed, budget, ...) -> SearchResult
    kind: str  # GREEDY, SAMPLING or SEARCH

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"strategy {self.name!r}: kind {self.kind!r} is not one of {KINDS}")

    def __call__(self, *args, **kwargs) -> SearchResult:
        return self.run(*args, **kwargs)


STRATEGIES = MappingProxyType({strategy.name: strategy for strategy in (
    Strategy("greedy", greedy, GREEDY),
    Strategy("sample", sample, SAMPLING),
    Strategy("majority", majority, SEARCH),
    Strategy("best_of_n", best_of_n, SEARCH),
    Strategy("beam", beam, SEARCH),
    Strategy("mcts", mcts, SEARCH),
    Strategy("weighted_majority", weighted_majority, SEARCH),
)})


def strategy_names(*kinds: str) -> tuple[str, ...]:
    """The registered names, in registry order; only those of `kinds` when any are given.

    >>> strategy_names(GREEDY, SAMPLING)
    ('greedy', 'sample')
    """
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ValueError(f"unknown strategy kinds {unknown}; expected some of {KINDS}")
    return tuple(name for name, strategy in STRATEGIES.items() if not kinds or strategy.kind in kinds)


def lookup_strategy(name: str) -> Strategy:
    """The strategy called `name`; an unknown name is a `ValueError` listing the known ones.

    >>> lookup_strategy("beam").kind
    'search'
    """
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name, e.g. a list from YAML
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}") from None
