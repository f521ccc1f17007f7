"""The knobs of every search strategy, in one frozen dataclass (each strategy reads its own).

Knows nothing about models, files or Ray; YAML and CLI loading live in `selfplay`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class SearchConfig:
    max_depth: int = 12  # steps per answer; a path this deep that has not ended is cut off
    max_step_tokens: int = 64  # token cap of one step (also the budget's per-sample decode bound)
    temperature: float = 1.0  # sampling temperature of steps (greedy always uses 0)
    top_p: float = 1.0  # nucleus mass kept when sampling
    num_samples: int = 8  # sample / majority / best_of_n: complete answers drawn
    beam_width: int = 4  # beam: partial paths kept after each step
    expansions_per_beam: int = 4  # beam: next steps sampled from each kept path
    num_simulations: int = 32  # mcts: select-expand-evaluate-backup rounds
    expansions_per_node: int = 4  # mcts: next steps sampled when a node is expanded
    c_puct: float = 1.5  # mcts: weight of the prior-driven exploration term
    prior_temperature: float = 1.0  # mcts: softmax temperature over sibling step log-probs
    widening_visits: int = 16  # mcts: visits before a node's 2nd expansion, (k-1)**2 times it for its k-th; 0: once
    rollouts: bool = False  # mcts: value a new non-terminal node by sampling it to an answer
    stop_at_pass: bool = True  # best_of_n / beam / mcts: stop once an answer passes the answer check

    def __post_init__(self) -> None:
        kinds = {"int": int, "float": (int, float), "bool": bool}  # annotations are strings (__future__)
        for knob in fields(self):
            value = getattr(self, knob.name)
            if not isinstance(value, kinds[knob.type]) or isinstance(value, bool) != (knob.type == "bool"):
                raise ValueError(f"{knob.name} must be {knob.type}, got {value!r}")
            if knob.type == "float" and not math.isfinite(value):
                raise ValueError(f"{knob.name} must be a finite number, got {value}")
        positive = ("max_depth", "max_step_tokens", "num_samples", "beam_width", "expansions_per_beam",
                    "num_simulations", "expansions_per_node")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.widening_visits < 0:
            raise ValueError(f"widening_visits must be >= 0, got {self.widening_visits}")
        if self.c_puct < 0:
            raise ValueError(f"c_puct must be >= 0, got {self.c_puct}")
        if self.prior_temperature <= 0:
            raise ValueError(f"prior_temperature must be > 0, got {self.prior_temperature}")



def check_overrides(values: dict) -> None:
    """Refuse `values` as SearchConfig field overrides: a ValueError naming unknown keys, or the knob
    whose value no config takes (callers say where the values came from)."""
    if not isinstance(values, dict):
        raise ValueError(f"expected a mapping of SearchConfig fields, got {values!r}")
    known = {knob.name for knob in fields(SearchConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown keys {unknown}; expected some of {sorted(known)}")
    SearchConfig(**values)  # the values, as every search will build them
