"""How a scorer (reward or value model) is trained: frozen config dataclasses, without torch.

    config = RewardModelConfig(lora_rank=4, max_steps=100, seed=3)   # ValueError on a bad value

Kept apart from `verifiers.reward_model` so that a run config (`selfplay.runs.runconfig`) can build and
check these at load without importing torch or transformers.

Knows the knobs' meaning; nothing about models, data, search or Ray.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScorerConfig:
    """How a scorer (reward or value model) is trained; shared by both kinds."""

    lora_rank: int = 8  # LoRA rank on every linear layer of the base model
    lora_alpha: int = 16  # LoRA scale numerator (scale = alpha / rank)
    lora_dropout: float = 0.0  # dropout on the LoRA path
    learning_rate: float = 1e-3  # AdamW learning rate (LoRA and head)
    num_train_epochs: float = 2.0  # passes over the data, unless max_steps > 0
    max_steps: int = -1  # > 0: stop after this many optimizer steps
    batch_size: int = 16  # rows (reward: pairs) per optimizer step
    max_length: int = 512  # tokens kept per scored text (its end: the pooled token is last)
    seed: int = 0  # head initialisation, data order
    report_to: str = "none"  # the trainer's tracker (none, tensorboard, wandb, mlflow, trackio); a run passes its own

    def __post_init__(self) -> None:
        if self.lora_rank < 1 or self.batch_size < 1 or self.max_length < 2:
            raise ValueError("lora_rank and batch_size must be >= 1, max_length >= 2")
        if self.learning_rate <= 0 or not 0 <= self.lora_dropout < 1:
            raise ValueError("learning_rate must be > 0 and lora_dropout in [0, 1)")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("train for num_train_epochs > 0 or max_steps > 0")


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
