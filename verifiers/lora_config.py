"""The LoRA training settings every trainer of the lab shares: the policy's SFT
(`selfplay.runfiles.runconfig.FinetuneConfig`, a run's `sft:` section) and the reward and value models
(`verifiers.scorer_config.ScorerConfig`). One type, so one knob has one name in every config:
`epochs`, `learning_rate`, `lora_rank`, ... A trainer's config subclasses it, sets its own
defaults (and `SECTION`, the config section its errors name, and `MIN_LENGTH`), calls this
`__post_init__` for the shared checks and adds its own.

Knows the knobs' meaning; nothing about models, data or trainers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


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

    SECTION: ClassVar[str] = ""  # the config section a bad value is named under ("sft" -> "sft.lora_rank")
    MIN_LENGTH: ClassVar[int] = 2  # the fewest tokens a row may keep

    def __post_init__(self) -> None:
        key = f"{self.SECTION}." if self.SECTION else ""
        if self.lora_rank < 1 or self.batch_size < 1 or self.max_length < self.MIN_LENGTH:
            raise ValueError(f"{key}lora_rank and {key}batch_size must be >= 1, {key}max_length >= {self.MIN_LENGTH}, "
                             f"got {self.lora_rank}, {self.batch_size} and {self.max_length}")
        if self.learning_rate <= 0 or not 0 <= self.lora_dropout < 1:
            raise ValueError(f"{key}learning_rate must be > 0 and {key}lora_dropout in [0, 1), "
                             f"got {self.learning_rate} and {self.lora_dropout}")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError(f"{self.SECTION or 'LoRA training'}: train for epochs > 0 or max_steps > 0")
