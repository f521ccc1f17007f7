"""How a scorer (reward or value model) is trained: frozen config dataclasses, without torch.

    config = RewardModelConfig(lora_rank=4, max_steps=100, seed=3)   # ValueError on a bad value

Kept apart from `verifiers.reward_model` so that a run config (`selfplay.runfiles.runconfig`) can build and
check these at load without importing torch or transformers.

Knows the knobs' meaning; nothing about models, data, search or Ray.
"""
from __future__ import annotations

from dataclasses import dataclass

from verifiers.lora_config import LoraTrainingConfig

RENAMED = {"num_train_epochs": "epochs"}  # older names of fields, still read in a run's `reward_model` overrides


@dataclass(frozen=True)
class ScorerConfig(LoraTrainingConfig):
    """How a scorer (reward or value model) is trained; shared by both kinds. The LoRA knobs are
    `LoraTrainingConfig`'s, with a scorer's defaults: rank 8 on every linear layer of the base
    model, learning rate 1e-3 (LoRA and head), 16 rows (reward: pairs) a step, `max_length` tokens
    kept per scored text (its end: the pooled token is last); a run passes its own `report_to`."""

    lora_rank: int = 8
    lora_alpha: int = 16
    learning_rate: float = 1e-3
    batch_size: int = 16
    seed: int = 0  # head initialisation, data order


@dataclass(frozen=True)
class RewardModelConfig(ScorerConfig):
    """Reward-model training: the shared knobs plus pair harvesting and reward centring."""

    max_pairs_per_problem: int = 32  # verified (correct, wrong) pairs kept per problem
    robustness_copies: bool = True  # also prefer each correct answer to its repeated / padded copy
    center_rewards_coefficient: float = 0.01  # TRL's penalty on mean reward^2, keeps sigmoid(r) near 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_pairs_per_problem < 1 or self.center_rewards_coefficient < 0:
            raise ValueError("max_pairs_per_problem must be >= 1 and center_rewards_coefficient >= 0")
