"""Fake policies and scorers for the search tests (no model), and tests that they behave as claimed.

- `FakePolicy(options)`: the next-step options of a prefix come from `options(steps)`; samples
  are drawn from softmax(logprob / temperature) with numpy, seeded per state like the real
  policy. Its usage counter charges what the real policy would: with cache reuse the root's
  prompt once and one pending token per expanded child; without, every sample re-encodes its
  prefix; decode is the steps' tokens.
- `bandit_policy(...)`: a fixed branching tree: step texts "a\\n", "b\\n", ... at every depth,
  fixed log-probs, answers end at depth D. `uniform_policy`: the same with equal log-probs.
- `ScriptedPolicy(script)`: each prefix hands out its listed steps in order (cycling), whatever
  the seed: for majority / best-of-N tests on known answers.
- `FakeScorer(value)`: `value(path) -> float`, charging `len(text) + 3` tokens per path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pytest

LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Option:
    text: str
    logprob: float
    n_tokens: int = 2
    terminal: bool = False


@dataclass(eq=False)
class FakeState:
    steps: tuple[str, ...]
    token_count: int  # prompt + steps
    parent: FakeState | None = None
    fed: bool = False  # the real policy's KV for the whole prefix is cached

    def __len__(self) -> int:
        return self.token_count


@dataclass(eq=False)
class FakeStep:
    text: str
    logprob: float
    n_tokens: int
    terminal: bool
    finish_reason: str
    state: FakeState


@dataclass
class FakeUsage:
    prefill_tokens: int = 0
    decode_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prefill_tokens + self.decode_tokens


class FakePolicy:
    def __init__(self, options: Callable[[tuple[str, ...]], list[Option]], *, prompt_tokens: int = 10,
                 reuse_cache: bool = True) -> None:
        self.options, self.prompt_tokens, self.reuse_cache = options, prompt_tokens, reuse_cache
        self.usage = FakeUsage()
        self.calls: list[tuple[int, int]] = []  # (states, samples) per expand call

    def root(self, prompt_text: str) -> FakeState:
        return FakeState((), self.prompt_tokens)

    def expand(self, states: Sequence[FakeState], num_samples: int, *, temperature: float = 1.0, top_p: float = 1.0,
               max_step_tokens: int = 64, seed: int | Sequence[int] | None = None) -> list[list[FakeStep]]:
        if temperature > 0 and seed is None:
            raise ValueError("sampling needs a seed")
        seeds = [seed] * len(states) if seed is None or isinstance(seed, int) else list(seed)
        assert len(seeds) == len(states)
        self.calls.append((len(states), num_samples))
        return [self._expand_one(state, num_samples, temperature, max_step_tokens, state_seed)
                for state, state_seed in zip(states, seeds)]

    def _choose(self, state: FakeState, options: list[Option], count: int, temperature: float, seed) -> list[int]:
        if temperature == 0:
            best = max(range(len(options)), key=lambda i: (options[i].logprob, -i))
            return [best] * count
        scaled = np.array([option.logprob for option in options]) / temperature
        probs = np.exp(scaled - scaled.max())
        return [int(i) for i in np.random.default_rng(seed).choice(len(options), size=count, p=probs / probs.sum())]

    def _expand_one(self, state, num_samples, temperature, max_step_tokens, seed) -> list[FakeStep]:
        if self.reuse_cache:
            self.usage.prefill_tokens += 0 if state.fed else (len(state) if state.parent is None else 1)
            state.fed = True
        else:
            self.usage.prefill_tokens += num_samples * len(state)
        options = self.options(state.steps)
        steps = []
        for index in self._choose(state, options, num_samples, temperature, seed):
            option = options[index]
            n_tokens = min(option.n_tokens, max_step_tokens)
            cut = option.n_tokens > max_step_tokens
            self.usage.decode_tokens += n_tokens
            child = FakeState(state.steps + (option.text,), len(state) + n_tokens, parent=state)
            steps.append(FakeStep(option.text, option.logprob, n_tokens, option.terminal or cut,
                                  "max_tokens" if cut else "eos" if option.terminal else "delimiter", child))
        return steps


class ScriptedPolicy(FakePolicy):
    """Each prefix gives out `script[prefix]` in order, cycling, whatever the seed or temperature."""

    def __init__(self, script: dict[tuple[str, ...], list[Option]] | Callable[[tuple[str, ...]], list[Option]],
                 **kwargs) -> None:
        super().__init__(script if callable(script) else script.__getitem__, **kwargs)
        self.handed_out: dict[tuple[str, ...], int] = {}

    def _choose(self, state, options, count, temperature, seed) -> list[int]:
        start = self.handed_out.get(state.steps, 0)
        self.handed_out[state.steps] = start + count
        return [(start + i) % len(options) for i in range(count)]


def bandit_options(branching: int, depth: int, probabilities: Sequence[float] | None = None,
                   n_tokens: int = 2) -> Callable[[tuple[str, ...]], list[Option]]:
    """Steps "a\\n", "b\\n", ... with fixed log-probs at every depth; answers end at `depth` steps."""
    probabilities = probabilities or [1.0 / branching] * branching
    assert len(probabilities) == branching

    def options(steps: tuple[str, ...]) -> list[Option]:
        terminal = len(steps) + 1 == depth
        return [Option(LETTERS[i] + "\n", math.log(probabilities[i]), n_tokens, terminal) for i in range(branching)]
    return options


def bandit_policy(branching: int = 3, depth: int = 3, probabilities: Sequence[float] | None = None,
                  **kwargs) -> FakePolicy:
    n_tokens = kwargs.pop("n_tokens", 2)
    return FakePolicy(bandit_options(branching, depth, probabilities, n_tokens), **kwargs)


def uniform_policy(branching: int = 3, depth: int = 3, **kwargs) -> FakePolicy:
    return bandit_policy(branching, depth, None, **kwargs)


def all_paths(branching: int, depth: int) -> list[str]:
    """Every answer text of a bandit tree."""
    paths = [""]
    for _ in range(depth):
        paths = [path + LETTERS[i] + "\n" for path in paths for i in range(branching)]
    return paths


class FakeScorer:
    def __init__(self, value: Callable[[str], float]) -> None:
        self.value = value
        self.usage = FakeUsage()
        self.calls = 0

    @staticmethod
    def path_cost(path: Sequence[str]) -> int:
        return len("".join(path)) + 3

    def score(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> list[float]:
        self.calls += 1
        self.usage.prefill_tokens += sum(self.path_cost(path) for path in paths)
        return [self.value("".join(path)) for path in paths]

    def cost_bound(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> int:
        return sum(self.path_cost(path) for path in paths)


def subtree_value(rewards: dict[str, float]) -> Callable[[str], float]:
    """An oracle value model: the mean reward of the answers below a path."""
    def value(text: str) -> float:
        below = [reward for answer, reward in rewards.items() if answer.startswith(text)]
        return sum(below) / len(below) if below else 0.0
    return value


# --- the fakes' own behaviour ------------------------------------------------------------------


def test_fake_policy_charges_like_the_real_one_with_cache_reuse():
    policy = bandit_policy(branching=2, depth=3, prompt_tokens=10)
    root = policy.root("p")
    children = policy.expand([root], 3, seed=1)[0]
    assert policy.usage.prefill_tokens == 10 and policy.usage.decode_tokens == 6
    policy.expand([children[0].state, children[1].state], 2, seed=[1, 2])
    assert policy.usage.prefill_tokens == 12 and policy.usage.decode_tokens == 14
    policy.expand([root], 1, seed=3)  # already fed: no prefill
    assert policy.usage.prefill_tokens == 12


def test_fake_policy_without_reuse_reencodes_every_sample():
    policy = bandit_policy(branching=2, depth=3, prompt_tokens=10, reuse_cache=False)
    child = policy.expand([policy.root("p")], 3, seed=1)[0][0]
    policy.expand([child.state], 2, seed=2)
    assert policy.usage.prefill_tokens == 3 * 10 + 2 * 12


def test_fake_policy_is_seeded_greedy_and_terminal_at_depth():
    policy = bandit_policy(branching=3, depth=2, probabilities=[0.2, 0.5, 0.3])
    root = policy.root("p")
    assert [s.text for s in policy.expand([root], 2, temperature=0)[0]] == ["b\n", "b\n"]
    first = [s.text for s in policy.expand([root], 8, seed=7)[0]]
    assert first == [s.text for s in policy.expand([root], 8, seed=7)[0]]
    assert first != [s.text for s in policy.expand([root], 8, seed=8)[0]]
    child = policy.expand([root], 1, seed=0)[0][0]
    assert not child.terminal and all(s.terminal for s in policy.expand([child.state], 3, seed=0)[0])
    with pytest.raises(ValueError):
        policy.expand([root], 1)


def test_scripted_policy_cycles_through_its_script():
    policy = ScriptedPolicy({(): [Option("x", -1.0, terminal=True), Option("y", -2.0, terminal=True)]})
    root = policy.root("p")
    assert [s.text for s in policy.expand([root], 3, seed=0)[0]] == ["x", "y", "x"]
    assert [s.text for s in policy.expand([root], 1, seed=5)[0]] == ["y"]


def test_fake_scorer_counts_what_it_bounds():
    scorer = FakeScorer(lambda text: 0.5)
    paths = [["a\n"], ["a\n", "b\n"]]
    assert scorer.score("p", paths) == [0.5, 0.5]
    assert scorer.usage.total_tokens == scorer.cost_bound("p", paths) == 5 + 7
