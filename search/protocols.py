"""What search needs from the outside world, as structural types (`typing.Protocol`).

The real policy (`selfplay.model.policy.Policy`) satisfies `StepPolicy` as it is, without this
package importing it; tests satisfy it with small fakes (bandits, uniform, scripted policies).

- `StepPolicy`: samples next steps from prefix states, and counts the tokens it pushes through
  its model in `usage.total_tokens` (prefill + decode). A policy whose `expand` also takes
  `costs=[]` (filled with the tokens each state cost) and says so (`reports_costs = True`) lets
  `search.batching` merge several searches' calls into one.
- `Scorer`: a value / process reward model: a score in [0, 1] for partial or complete paths,
  with its own token counter and an upper bound on what a call will cost (for the budget).
- `AnswerCheck`: an answer-time signal for one complete answer, from the question alone (for
  example countdown's rules check): a float in [0, 1] (1 = passes), or None when there is none.
- `AnswerKey`: the answer a complete text commits to, for majority voting (None: no answer).

Knows nothing about torch, tokenizers, files or Ray.
"""
from __future__ import annotations

from typing import Any, Hashable, Protocol, Sequence


class UsageCounter(Protocol):
    """A running count of tokens pushed through a model."""

    @property
    def total_tokens(self) -> int: ...


class PolicyState(Protocol):
    """An opaque prefix (prompt + steps) the policy can continue; `len` is its token count."""

    def __len__(self) -> int: ...


class PolicyStep(Protocol):
    """One sampled step: its text (delimiter included) and the state it leads to."""

    text: str
    logprob: float  # summed token log-probs of the step
    n_tokens: int
    terminal: bool  # the answer ends with this step
    finish_reason: str
    state: Any  # a PolicyState; expand it to continue
    # Optional: the tool runs the step made, each with `to_dict()` (see `Tree.tool_calls`); fakes may omit it.


class StepPolicy(Protocol):
    """Step-wise sampling from a language model (temperature 0 is greedy)."""

    usage: UsageCounter
    # True when an expanded prefix keeps its KV, so expanding a child feeds only its own step's
    # tokens; False when every sample re-encodes its whole prefix. The budget's bound relies on it.
    reuse_cache: bool

    def root(self, prompt_text: str) -> PolicyState: ...

    def expand(self, states: Sequence[Any], num_samples: int, *, temperature: float = 1.0, top_p: float = 1.0,
               max_step_tokens: int = 64, seed: int | Sequence[int] | None = None) -> list[list[PolicyStep]]: ...


class Scorer(Protocol):
    """Scores paths (lists of step texts after the prompt) in [0, 1]: higher is more likely correct."""

    usage: UsageCounter

    def score(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> list[float]: ...

    def cost_bound(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> int:
        """At least the tokens `score(prompt_text, paths)` would add to `usage.total_tokens`."""
        ...


class AnswerCheck(Protocol):
    """`check(answer_text) -> float | None`: 1.0 passes, 0.0 fails, None when the task has no check.

    A check may also have a `prefix(partial_text) -> float | None` method, for the text of an
    unfinished path (whole steps): 0.0 when no answer starting with it can pass (for example a
    countdown step that breaks the rules), None otherwise. Search then values that node 0 and
    grows it no further (`SearchRun.dead`); its `answer_checks` entry records the 0.
    """

    def __call__(self, answer_text: str) -> float | None: ...


class AnswerKey(Protocol):
    """`key(answer_text) -> hashable | None`: the final answer to vote on (None: none found)."""

    def __call__(self, answer_text: str) -> Hashable | None: ...
