"""The built-in model's pretraining recipe: `PretrainConfig` (steps, minutes, learning rate, ...) with
its `corpus` (`CorpusConfig`) and `model` (`ModelShape`) sections, read from a YAML preset such as
`configs/pretrain.yaml` (`load_recipe`, with the run config's builder, `selfplay.runfiles.config_files`)
and written back resolved into the model directory.

Knows the fields and their checks; nothing about training or measuring (`pretrain`, `card`).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from transformers import LlamaConfig

from selfplay.tasks.spec import Pricing
from selfplay.builtin_model.corpus import CorpusConfig, read_older_keys
from selfplay.runfiles.config_files import build_config, read_yaml
from selfplay.runfiles.runconfig import TRACKERS

DEFAULT_CONFIG = "configs/pretrain.yaml"


@dataclass(frozen=True)
class ModelShape:
    hidden_size: int = 128  # width of the residual stream
    layers: int = 4  # transformer blocks
    heads: int = 4  # attention heads; hidden_size must divide by it
    intermediate_size: int = 512  # MLP width
    max_positions: int = 512  # longest sequence the model accepts, prompt and completion together

    def __post_init__(self) -> None:
        if min(self.hidden_size, self.layers, self.heads, self.intermediate_size, self.max_positions) < 1:
            raise ValueError(f"every model size must be positive, got {self}")
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} does not divide by heads {self.heads}")

    def llama_config(self, tokenizer) -> LlamaConfig:
        return LlamaConfig(vocab_size=len(tokenizer), hidden_size=self.hidden_size,
                           num_hidden_layers=self.layers, num_attention_heads=self.heads,
                           num_key_value_heads=self.heads, intermediate_size=self.intermediate_size,
                           max_position_embeddings=self.max_positions, tie_word_embeddings=True,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id, use_cache=False)  # no cache in training


@dataclass(frozen=True)
class PretrainConfig:
    out: str = "models/base"  # model directory to write; relative paths start at the working directory
    seed: int = 0  # seeds the corpus, the initial weights, the data order and the dev samples
    max_steps: int = 2200  # optimizer steps; the learning-rate schedule spans them
    minutes: float = 15.0  # wall-clock cap on training; training stops early (schedule unfinished) at it
    batch_size: int = 16  # traces per optimizer step; corpus traces should cover max_steps * batch_size
    learning_rate: float = 3e-3  # peak AdamW learning rate
    warmup: float = 0.03  # share of max_steps spent warming up the learning rate
    weight_decay: float = 0.1  # AdamW weight decay
    threads: int = 1  # torch CPU threads
    logging_steps: int = 50  # steps between logged losses
    evaluate: bool = True  # measure dev numbers after training and put them in the card
    learn_tool_output: bool = False  # also predict the tool's output (arithmetic in the weights); the tool
    #                                  still writes it when the model answers
    eval_samples: int = 32  # samples per problem for pass@k on dev
    eval_funcs_limit: int = 50  # funcs dev problems evaluated (its sandbox costs ~0.1 s a sample)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)  # what the model imitates
    model: ModelShape = field(default_factory=ModelShape)  # the architecture
    pricing: dict = field(default_factory=dict)  # task -> the answer prices the model declares (Pricing fields,
    #                          config.json selfplay_pricing), where its answers outgrow the family's
    report_to: str = "none"  # the trainer's tracker (none, tensorboard, wandb, mlflow, trackio); TensorBoard
    #                          logs go to OUT-tensorboard beside the model directory

    def __post_init__(self) -> None:
        if self.report_to not in TRACKERS:
            raise ValueError(f"report_to must be one of {list(TRACKERS)}, got {self.report_to!r}")
        if self.max_steps < 1 or self.batch_size < 1 or self.threads < 1 or self.logging_steps < 1:
            raise ValueError("max_steps, batch_size, threads and logging_steps must be at least 1")
        if self.minutes <= 0 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError("minutes and learning_rate must be positive, weight_decay non-negative")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a share of max_steps in [0, 1), got {self.warmup}")
        if self.eval_samples < 1 or self.eval_funcs_limit < 0:
            raise ValueError("eval_samples must be at least 1 and eval_funcs_limit non-negative")
        for task, fields in self.pricing.items():  # a Pricing's fields, so that the model's config loads
            try:
                Pricing(**fields)
            except (TypeError, ValueError) as error:
                raise ValueError(f"pricing[{task!r}] must hold Pricing fields, got {fields!r}: {error}") from None

    def to_dict(self) -> dict:
        """Plain JSON/YAML values (tuples become lists), nested sections included."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def config_from_dict(values: dict) -> PretrainConfig:
    """A recipe from its YAML values (`corpus:` and `model:` nested), built and checked as a run config is
    (a task's corpus settings written flat by an older recipe, `countdown_search: 6`, are read too)."""
    values = dict(values or {})
    if isinstance(values.get("corpus"), Mapping):
        values["corpus"] = read_older_keys(values["corpus"])
    return build_config(PretrainConfig, values, "")


def load_recipe(path: str | Path) -> PretrainConfig:
    """A recipe from a YAML preset whose keys are PretrainConfig fields (`corpus:`, `model:` nested)."""
    return config_from_dict(read_yaml(path))
