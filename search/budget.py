"""One compute budget for every strategy: tokens pushed through any model, policy and scorer.

`--budget N` means compute worth N complete sampled answers:

    budget = Budget.from_answers(16, tokens_per_answer=120)   # allowance: 1920 tokens

`tokens_per_answer` is the caller's estimate of prefill + decode tokens for one complete sampled
answer. A search never goes over the allowance: before every model call it asks the meter
whether the call's worst-case cost still fits (`expand_cost_bound` for the policy,
`Scorer.cost_bound` for the scorer) and stops when it does not. What it reports is what it
actually spent, read from the usage counters.

Knows nothing about models or algorithms; only token arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class Budget:
    """A token allowance for one search (None: unlimited)."""

    max_tokens: int | None = None
    # The estimated cost of one complete answer, when known: strategies that draw whole answers
    # start no more of them than the allowance covers at this rate, rather than starting many
    # and leaving most unfinished.
    tokens_per_answer: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 0:
            raise ValueError(f"a budget cannot be negative, got {self.max_tokens}")
        if self.tokens_per_answer is not None and self.tokens_per_answer < 1:
            raise ValueError(f"tokens_per_answer must be at least 1, got {self.tokens_per_answer}")

    @classmethod
    def from_answers(cls, num_answers: int, tokens_per_answer: int) -> Budget:
        """Compute worth `num_answers` complete sampled answers of `tokens_per_answer` tokens each."""
        if num_answers < 1 or tokens_per_answer < 1:
            raise ValueError("num_answers and tokens_per_answer must be at least 1")
        if num_answers > MAX_ANSWERS:
            raise ValueError(f"a budget is at most {MAX_ANSWERS:,} answers, got {num_answers:,}")
        return cls(num_answers * tokens_per_answer, tokens_per_answer)

    def answers_within(self, tokens: int | None) -> int | None:
        """How many whole answers `tokens` pay for at `tokens_per_answer` (None: no limit known).

        >>> Budget.from_answers(8, 100).answers_within(350)
        3
        """
        if tokens is None or self.tokens_per_answer is None:
            return None
        return tokens // self.tokens_per_answer

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(None)


def expand_cost_bound(prefix_tokens: Sequence[int], unfed_tokens: Sequence[int], num_samples: int,
                      max_step_tokens: int, reuse_cache: bool) -> int:
    """Most tokens one `policy.expand(states, num_samples)` call can cost.

    Decode: every sample writes at most `max_step_tokens`. Prefill: with cache reuse, each state
    feeds at most its tokens not yet fed (`unfed_tokens`: the whole prompt for the root, the last
    step's tokens for a child); without, every sample re-encodes its whole prefix.

    >>> expand_cost_bound([40, 47], [40, 7], num_samples=4, max_step_tokens=16, reuse_cache=True)
    175
    >>> expand_cost_bound([40, 47], [40, 7], num_samples=4, max_step_tokens=16, reuse_cache=False)
    476
    """
    decode = len(prefix_tokens) * num_samples * max_step_tokens
    prefill = sum(unfed_tokens) if reuse_cache else num_samples * sum(prefix_tokens)
    return decode + prefill


MAX_ANSWERS = 4096  # the largest budget in complete answers a problem may ask for (pass@4096 and below)


class BudgetTooSmall(ValueError):
    """Raised by callers that answer for a user (`lab eval`, `lab compare`, a round): a search whose
    budget paid for not one model call reports 0 tokens and no answer, and its 0.000 accuracy would
    read as a measurement. A search itself returns that empty result (a tight budget is legal)."""


class TokenMeter:
    """Tokens spent since the search began (policy + scorer), against a budget."""

    def __init__(self, budget: Budget | None, policy_tokens: Callable[[], int],
                 scorer_tokens: Callable[[], int] | None = None) -> None:
        self.budget = budget or Budget.unlimited()
        self._policy_tokens = policy_tokens
        self._scorer_tokens = scorer_tokens or (lambda: 0)
        self._policy_start = policy_tokens()
        self._scorer_start = self._scorer_tokens()
        self.stopped = False  # a call was refused because its worst case did not fit

    @property
    def policy_spent(self) -> int:
        return self._policy_tokens() - self._policy_start

    @property
    def scorer_spent(self) -> int:
        return self._scorer_tokens() - self._scorer_start

    @property
    def spent(self) -> int:
        return self.policy_spent + self.scorer_spent

    @property
    def remaining(self) -> int | None:
        """Tokens left (None: unlimited)."""
        limit = self.budget.max_tokens
        return None if limit is None else limit - self.spent

    def fits(self, cost_bound: int) -> bool:
        """Whether a call costing at most `cost_bound` tokens stays within the budget; remembers a refusal."""
        remaining = self.remaining
        if remaining is None or cost_bound <= remaining:
            return True
        self.stopped = True
        return False
