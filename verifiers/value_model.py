"""The step value model: P(a rollout from this prefix ends verified-correct), for partial paths.

    labels = value_labels(train_trees, prompts)                          # verifiers.scorer_data
    value_model = train_value_model(labels, "models/base", "runs/x/round-1/value_model")
    value_model.as_scorer().score(prompt_text, [["25-5=20\\n"], ["25+5=30\\n"]])   # -> [0.71, 0.12]

Labels are Monte-Carlo values from the trees: for each prefix, the share of graded answers
below it that passed (soft labels in [0, 1]). The model is the same sequence classifier + LoRA
as the reward model (`verifiers.reward_model`), regressed onto the labels with binary cross
entropy on the logit: the Hugging Face sequence-classification loss with
`problem_type="multi_label_classification"` and one label, so a plain `transformers.Trainer`
trains it with no custom loss and no hand loop. BCE rather than squared error keeps
sigmoid(logit) a probability, the same read-out as the reward model's.

A prefix is scored as it is (no EOS appended): the model judges unfinished work, and search
hands it paths that may or may not be complete.

Knows transformers and PEFT, and (through `SequenceScorer`) the shape of search's `Scorer`
protocol; nothing about the policy or Ray, and it imports no search code.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from typing import Sequence

import torch

from verifiers.reward_model import (ScorerConfig, SequenceScorer, encode, load_base, load_tokenizer, lora_config,
                                    right_padded, run_trainer, training_arguments)
from verifiers.scorer_data import ValueLabel


@dataclass(frozen=True)
class ValueModelConfig(ScorerConfig):
    """Value-model training: the shared knobs plus which prefixes make training rows."""

    min_answers: int = 1  # prefixes with fewer graded answers below them are left out (too noisy)
    include_terminals: bool = True  # complete answers are prefixes too (label 0 or 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_answers < 1:
            raise ValueError(f"min_answers must be >= 1, got {self.min_answers}")


class ValueModel(SequenceScorer):
    kind = "value"
    append_eos = False


class _RightPadCollator:
    """Rows of `input_ids` + `labels` ([value]) into right-padded tensors, labels (B, 1) float."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict]) -> dict:
        input_ids, attention_mask = right_padded([row["input_ids"] for row in rows], self.pad_id)
        labels = torch.tensor([row["labels"] for row in rows], dtype=torch.float32)  # (B, 1)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def train_value_model(labels: Sequence[ValueLabel], base_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      config: ValueModelConfig = ValueModelConfig()) -> ValueModel:
    """LoRA + head on the base, trained with `transformers.Trainer` on BCE to the MC values; saved to `out_dir`."""
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import Trainer, set_seed
    if not labels:
        raise ValueError("no value labels: the trees hold no graded answers")
    tokenizer = load_tokenizer(base_dir)
    rows = [{"input_ids": encode(tokenizer, label.prompt, label.completion, append_eos=False,
                                 max_length=config.max_length), "labels": [label.value]} for label in labels]
    set_seed(config.seed)  # the new head's initialisation
    base = load_base(base_dir)
    base.config.pad_token_id = tokenizer.pad_token_id
    base.config.problem_type = "multi_label_classification"  # BCE-with-logits against soft labels
    model = get_peft_model(base, lora_config(config))
    with tempfile.TemporaryDirectory() as scratch:
        args = training_arguments(config, scratch, remove_unused_columns=False)
        trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                          data_collator=_RightPadCollator(tokenizer.pad_token_id), processing_class=tokenizer)
        training = run_trainer(trainer)
    info = {"config": dataclasses.asdict(config), "training": {**training, "prefixes": len(rows)}}
    value_model = ValueModel(trainer.model, tokenizer, base_model=os.path.abspath(base_dir),
                             max_length=config.max_length, info=info)
    value_model.save(out_dir)
    value_model.model = trainer.model.merge_and_unload().eval()
    return value_model
