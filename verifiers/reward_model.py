"""The outcome reward model: P(correct) for a complete answer, learned from verified pairs in trees.

    pairs = preference_pairs(train_trees, prompts)                      # verifiers.scorer_data
    reward_model = train_reward_model(pairs, "models/base", "runs/x/round-1/reward_model")
    reward_model.score(["Use 3 5 8 ...\\n"], ["5+3=8\\n8*3=24"])            # -> [0.93]
    scorer = RewardModel.load("runs/x/round-1/reward_model").as_scorer()   # search's Scorer

The model is the policy's base as a sequence classifier with one output (a fresh linear `score`
head on the last token's hidden state) plus a LoRA adapter on every linear layer, trained by
TRL's `RewardTrainer` (Bradley-Terry: -log sigmoid(r_chosen - r_rejected), with TRL's reward
centring so that sigmoid(r) stays spread around 0.5). LoRA rather than a head on frozen
features: a frozen base was trained to predict the next token, not to check arithmetic, so the
head alone has little to read; LoRA lets the body adapt while the saved artifact stays small
(adapter + head, like the round's policy adapter) and one recipe also fits a real GPU model.

Text = prompt ids (with the tokenizer's BOS in the built-in format) + completion ids + EOS, cut
to the last `max_length` tokens; training and scoring share `encode`. Llama-style sequence
classifiers pool the rightmost token that is not `pad_token_id` (transformers 5 looks at ids,
not the attention mask), so batches are right-padded as in TRL's collator, positions then start
at 0 as in training, and the pooled token is the appended EOS.

Also here, shared with `verifiers.value_model`: `SequenceScorer` (batched `score`, token
`usage`, save / load in PEFT format with a `scorer.json`) and `PathScorer` (search's `Scorer`
protocol). The command that trains one on trees files is `lab reward-model`
(`selfplay.commands.reward_model`, which reads the files). The
training knobs (`ScorerConfig`, `RewardModelConfig`) live in `verifiers.scorer_config`, which
loads without torch, so a run config can build and check them.

A saved scorer directory is built in a temporary sibling and renamed, and `add_info` rewrites
scorer.json atomically (`verifiers.atomic_files`), so a crash leaves the old scorer or the new one.

Knows transformers, PEFT and TRL, and the shape of search's `Scorer` protocol (without importing
search); nothing about the policy or Ray. torch is imported here and in `value_model` only, so the
math and code verifiers load without it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from verifiers.atomic_files import staging_dir, write_text
from verifiers.scorer_config import RewardModelConfig, ScorerConfig
from verifiers.scorer_data import PreferencePair

FORMAT = "selfplay.scorer/1"
INFO_FILE = "scorer.json"


@dataclass
class ScorerUsage:
    """Tokens pushed through the scorer model (the `UsageCounter` search reads)."""

    total_tokens: int = 0
    forward_calls: int = 0


def load_base(base_dir: str | os.PathLike, dtype: torch.dtype = torch.float32):
    """The base checkpoint as a 1-output sequence classifier (a causal LM's head is dropped, `score` is new)."""
    from transformers import AutoModelForSequenceClassification
    try:  # TRL silences the expected "score.weight missing / lm_head unexpected" load report
        from trl.trainer.reward_trainer import suppress_seqcls_warning
    except ImportError:
        suppress_seqcls_warning = contextlib.nullcontext
    with suppress_seqcls_warning():
        return AutoModelForSequenceClassification.from_pretrained(str(base_dir), num_labels=1, dtype=dtype)


def load_tokenizer(directory: str | os.PathLike):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    if tokenizer.pad_token is None:  # as TRL does: sequence classifiers need a pad id to find the last token
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def lora_config(config: ScorerConfig):
    from peft import LoraConfig, TaskType
    return LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_rank, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules="all-linear", modules_to_save=["score"])


def encode(tokenizer, prompt: str, completion: str, *, append_eos: bool, max_length: int) -> list[int]:
    """Token ids of prompt + completion (+ EOS), the last `max_length` of them.

    The prompt gets the tokenizer's special tokens unless it is a chat template's rendering (which
    writes its own); the completion is encoded on its own, as the policy continues a prompt.
    """
    add_special = not getattr(tokenizer, "chat_template", None)
    ids = tokenizer(prompt, add_special_tokens=add_special)["input_ids"]
    ids = ids + tokenizer(completion, add_special_tokens=False)["input_ids"]
    if append_eos:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("prompt and completion encode to no tokens")
    return ids[-max_length:]


def right_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, T), padded on the right as TRL's preference collator does."""
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, :len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[index, :len(row)] = 1
    return input_ids, attention_mask


def training_arguments(config: ScorerConfig, output_dir: str, arguments_class=None, **extra):
    """Trainer arguments for a small CPU or single-GPU run: no checkpoints, fp32, losses to `config.report_to`."""
    if arguments_class is None:
        from transformers import TrainingArguments as arguments_class
    return arguments_class(output_dir=output_dir, learning_rate=config.learning_rate,
                           num_train_epochs=config.epochs, max_steps=config.max_steps,
                           per_device_train_batch_size=config.batch_size, seed=config.seed, data_seed=config.seed,
                           use_cpu=not torch.cuda.is_available(), bf16=False, fp16=False, save_strategy="no",
                           report_to=config.report_to, logging_steps=1, disable_tqdm=True, dataloader_num_workers=0, **extra)


def run_trainer(trainer) -> dict:
    """Train quietly (no per-step printing); return the loss curve's endpoints and the step count."""
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"steps": trainer.state.global_step, "train_loss": result.training_loss,
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}


class SequenceScorer:
    """A trained sequence classifier that maps (prompt, completion) to sigmoid(logit) in [0, 1]."""

    kind = "scorer"  # written to scorer.json; `load` refuses a directory of another kind
    append_eos = True  # whether a scored text ends with EOS (complete answers) or not (prefixes)

    def __init__(self, model, tokenizer, *, base_model: str, max_length: int, batch_size: int = 32,
                 info: dict | None = None) -> None:
        self.model = model.eval()
        self.model.config.pad_token_id = tokenizer.pad_token_id
        self.tokenizer = tokenizer
        self.base_model = str(base_model)
        self.max_length = max_length
        self.batch_size = batch_size
        self.info = dict(info or {})
        self.usage = ScorerUsage()
        self._prompt_ids: dict[str, list[int]] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, prompt: str, completion: str) -> list[int]:
        return encode(self.tokenizer, prompt, completion, append_eos=self.append_eos, max_length=self.max_length)

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """sigmoid(logit) per (prompt, completion), batched by length; counts tokens in `usage`."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        rows = [self.encode(prompt, completion) for prompt, completion in zip(prompts, completions)]
        order = sorted(range(len(rows)), key=lambda index: len(rows[index]))
        scores = [0.0] * len(rows)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            input_ids, attention_mask = right_padded([rows[index] for index in batch], self.tokenizer.pad_token_id)
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids.to(self.device),
                                    attention_mask=attention_mask.to(self.device)).logits  # (B, 1)
            for index, value in zip(batch, torch.sigmoid(logits.float()[:, 0]).tolist()):
                scores[index] = value
            self.usage.total_tokens += sum(len(rows[index]) for index in batch)
            self.usage.forward_calls += 1
        return scores

    def as_scorer(self) -> PathScorer:
        """This model behind search's `Scorer` protocol (shares this model's `usage`)."""
        return PathScorer(self)

    # --- files ---------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> None:
        """Adapter + head (PEFT format), tokenizer and scorer.json, built in a temporary sibling and renamed.

        Needs the PEFT model as trained: a loaded scorer is merged and has no adapter to save.
        """
        if not hasattr(self.model, "peft_config"):
            raise TypeError("only a freshly trained (unmerged PEFT) scorer can be saved")
        with staging_dir(directory) as staging:
            self.model.save_pretrained(staging)
            self.tokenizer.save_pretrained(staging)
            header = {"format": FORMAT, "kind": self.kind, "base_model": self.base_model,
                      "max_length": self.max_length, "append_eos": self.append_eos}
            (staging / INFO_FILE).write_text(json.dumps({**header, **self.info}, indent=2, default=str))

    @classmethod
    def load(cls, directory: str | os.PathLike, *, base_model: str | os.PathLike | None = None,
             device: str | torch.device | None = None, batch_size: int = 32):
        """Base + saved adapter, merged for speed; `base_model` overrides the path in scorer.json."""
        from peft import PeftModel
        info = json.loads((Path(directory) / INFO_FILE).read_text())
        if info.get("format") != FORMAT or info.get("kind") != cls.kind:
            raise ValueError(f"{directory}: a {info.get('kind')!r} scorer ({info.get('format')}), not {cls.kind!r}")
        base = str(base_model or info["base_model"])
        model = PeftModel.from_pretrained(load_base(base), str(directory)).merge_and_unload()
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        extra = {key: value for key, value in info.items() if key not in ("format", "kind", "base_model",
                                                                           "max_length", "append_eos")}
        return cls(model.to(device), load_tokenizer(directory), base_model=base, max_length=info["max_length"],
                   batch_size=batch_size, info=extra)


def add_info(directory: str | os.PathLike, fields: dict) -> None:
    """Merge `fields` into a saved scorer's scorer.json (written atomically)."""
    path = Path(directory) / INFO_FILE
    write_text(path, json.dumps({**json.loads(path.read_text()), **fields}, indent=2, default=str))


class PathScorer:
    """search's `Scorer`: scores lists of step texts after a prompt through a `SequenceScorer`."""

    def __init__(self, model: SequenceScorer) -> None:
        self.model = model
        self.usage = model.usage

    def score(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> list[float]:
        # Steps carry their delimiter (as in search.Tree.answer_text), so they join with nothing.
        return self.model.score([prompt_text] * len(paths), ["".join(path) for path in paths])

    def cost_bound(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> int:
        """Exactly the tokens `score` will count: every path's encoded length."""
        return sum(len(self.model.encode(prompt_text, "".join(path))) for path in paths)


class RewardModel(SequenceScorer):
    kind = "reward"
    append_eos = True


def train_reward_model(pairs: Sequence[PreferencePair], base_dir: str | os.PathLike, out_dir: str | os.PathLike,
                       config: RewardModelConfig = RewardModelConfig(), *, base_name: str | None = None) -> RewardModel:
    """LoRA + head on the base, trained with TRL's RewardTrainer on the pairs; saved to `out_dir`.
    `base_name` is the base model scorer.json records (default: `base_dir`, absolute), for a worker
    that trained on its own copy of the run's model."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer
    if not pairs:
        raise ValueError("no preference pairs: the trees hold no problem with both a correct and a wrong answer")
    tokenizer = load_tokenizer(base_dir)
    rows = [{"chosen_ids": encode(tokenizer, p.prompt, p.chosen, append_eos=True, max_length=config.max_length),
             "rejected_ids": encode(tokenizer, p.prompt, p.rejected, append_eos=True, max_length=config.max_length)}
            for p in pairs]
    set_seed(config.seed)  # the new head's initialisation
    with tempfile.TemporaryDirectory() as scratch:
        args = training_arguments(config, scratch, RewardConfig, max_length=None, disable_dropout=True,
                                  center_rewards_coefficient=config.center_rewards_coefficient or None)
        trainer = RewardTrainer(model=load_base(base_dir), args=args, train_dataset=Dataset.from_list(rows),
                                processing_class=tokenizer, peft_config=lora_config(config))
        training = run_trainer(trainer)
    kinds = {kind: sum(p.kind == kind for p in pairs) for kind in ("verified", "repeat", "pad")}
    info = {"config": dataclasses.asdict(config), "training": {**training, "pairs": kinds}}
    reward_model = RewardModel(trainer.model, tokenizer, base_model=base_name or os.path.abspath(base_dir),
                               max_length=config.max_length, info=info)
    reward_model.save(out_dir)
    reward_model.model = trainer.model.merge_and_unload().eval()
    return reward_model
