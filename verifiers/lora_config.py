"""The LoRA training settings every trainer of the lab shares: the policy's SFT
(`selfplay.runfiles.runconfig.FinetuneConfig`, a run's `sft:` section) and the reward and value models
(`verifiers.scorer_config.ScorerConfig`). One type, so one knob has one name in every config:
`epochs`, `learning_rate`, `lora_rank`, ... A trainer's config subclasses it, sets its own
defaults and checks its values in its `__post_init__`.

Knows the knobs' meaning; nothing about models, data or trainers.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoraTrainingConfig:
    """LoRA adapters trained with an AdamW schedule over a fixed number of passes or steps."""

    lora_rank: int = 16  # LoRA rank on every targeted linear layer
    lora_alpha: int = 32  # LoRA scale numerator (scale = alpha / rank)
    lora_dropout: float = 0.0  # dropout on the LoRA path
    learning_rate: float = 5e-4  # AdamW (peak) learning rate
    epochs: float = 2.0  # passes over the data, unless max_steps > 0
    max_steps: int = -1  # > 0: stop after this many optimizer steps
    batch_size: int = 8  # rows per optimizer step
    max_length: int = 512  # tokens kept per row
    report_to: str = "none"  # the trainer's tracker (none, tensorboard, wandb, mlflow, trackio)
