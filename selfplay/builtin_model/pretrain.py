"""Pretrain the built-in base model from scratch on the imitation corpus, with HF `Trainer`.

    python -m jobs.pretrain --minutes 10          # or: lab pretrain --config configs/pretrain.yaml

A `LlamaForCausalLM` of 1-10 M parameters learns to continue `builtin_prompt(problem.prompt)`
with a trace and EOS. Choices, and why (measured on 3-number countdown, 1200 steps, dev loss on
expert completions):
- Loss on the completion (and its EOS) only: prompts are random numbers or templated text the
  model is never asked to write; loss on all tokens gave dev loss 0.80 against 0.70.
- Random batches that mix tasks, right-padded, each forwarded in two groups of rows of similar
  length (`LengthSplitTrainer`): countdown traces run 80 to 100 characters, arith and funcs ones
  up to 330, and one padded forward wasted half the compute. The loss is the same mean over
  completion tokens as one forward. Batches of similar traces learned far slower: sorted by
  length (HF `group_by_length`, dev loss 1.46) or one task per batch. Padding-free flattening (one
  row per batch, attention masked per trace) ran slower on CPU.
- fp32 on CPU, `threads` torch threads (1 by default), deterministic in the seed. `max_steps`
  sets the cosine schedule; `minutes` is a wall-clock cap that stops training early.
- The loss goes to `report_to` (`--report-to tensorboard`: event files in OUT-tensorboard, beside
  the model directory, which is replaced whole when the model is saved).
The output is a plain HF model directory (model, tokenizer, generation config) plus a model card,
the resolved config and `eval.json` (`card.py` writes those and measures the dev numbers). The
directory is built in a temporary sibling and renamed (`verifiers.atomic_files.staging_dir`),
so an interrupted save leaves the previous model whole.

Knows the corpus, the tokenizer, the recipe (`pretrain_config`) and HF training; nothing about
search, rounds or Ray.
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from transformers import (DataCollatorForSeq2Seq, GenerationConfig, LlamaForCausalLM, ProgressCallback, Trainer,
                          TrainerCallback, TrainingArguments, set_seed)

from selfplay.builtin_model.corpus import Trace, build_corpus, model_declarations, summarize
from selfplay.builtin_model.pretrain_config import PretrainConfig
from selfplay.builtin_model.tokenizer import build_tokenizer
from selfplay.runfiles.tracking import tensorboard_logging_to
from selfplay.tools.spans import encode_masked
from verifiers.atomic_files import FILE_MODE, staging_dir

IGNORE_INDEX = -100  # label of a token that carries no loss


def tokenize_traces(traces: list[Trace], tokenizer, max_positions: int, learn_tool_output: bool = False) -> Dataset:
    """input_ids = BOS prompt completion EOS; labels hide the prompt and tool output (IGNORE_INDEX):
    the model learns to call the calculator, and the tool writes the result. With
    `learn_tool_output` the tool's output is predicted too (the same token ids), so that the
    weights learn the arithmetic the calculator does; at answer time the tool still writes it.
    A trace longer than `max_positions` tokens is left out, not cut (a cut answer would teach
    the model to stop without EOS)."""
    prompts = tokenizer([t.prompt for t in traces])["input_ids"]
    rows = {"input_ids": [], "labels": []}
    for prompt, trace in zip(prompts, traces):
        completion, trainable = encode_masked(tokenizer, trace.completion, trace.tool_spans)
        if len(prompt) + len(completion) + 1 > max_positions:
            continue
        trainable = [1] * len(completion) if learn_tool_output else trainable
        labels = [token if keep else IGNORE_INDEX for token, keep in zip(completion, trainable)]
        rows["input_ids"].append(prompt + completion + [tokenizer.eos_token_id])
        rows["labels"].append([IGNORE_INDEX] * len(prompt) + labels + [tokenizer.eos_token_id])
    return Dataset.from_dict(rows)


def best_split(lengths: list[int]) -> int:
    """For lengths sorted ascending, the k where rows [:k] and [k:] padded to their own longest
    cost the fewest token slots (0 = one group).

    >>> best_split([80, 82, 90, 300, 310])
    3
    """
    costs = [k * lengths[k - 1] + (len(lengths) - k) * lengths[-1] if k else len(lengths) * lengths[-1]
             for k in range(len(lengths))]
    return min(range(len(lengths)), key=costs.__getitem__)


class LengthSplitTrainer(Trainer):
    """A Trainer whose loss forwards a right-padded batch as two groups of rows of similar length,
    each cut to its longest row: the mean over all completion tokens, with less padding computed."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        lengths = inputs["attention_mask"].sum(dim=1)  # (B,)
        order = lengths.argsort()
        split = best_split(lengths[order].tolist())
        total = torch.zeros((), device=lengths.device)
        for rows in (order[:split], order[split:]):
            if len(rows) == 0:
                continue
            width = int(lengths[rows].max())
            logits = model(input_ids=inputs["input_ids"][rows, :width],
                           attention_mask=inputs["attention_mask"][rows, :width]).logits  # (b, T, V)
            labels = inputs["labels"][rows, 1:width]  # (b, T-1): token t+1 is predicted at t
            total = total + torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
        return total / (inputs["labels"][:, 1:] != IGNORE_INDEX).sum().clamp(min=1)


class BudgetAndThroughput(TrainerCallback):
    """Stops training at the wall-clock budget and shows loss and tokens/s on the progress bar
    (and in the log history, as `tokens_per_s`). Tokens are non-padding input tokens."""

    def __init__(self, budget_s: float, progress: ProgressCallback | None):
        self.budget_s, self.progress = budget_s, progress
        self.start = time.monotonic()
        self.stopped_by_budget = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.start >= self.budget_s and state.global_step < state.max_steps:
            self.stopped_by_budget = control.should_training_stop = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        tokens_per_s = state.num_input_tokens_seen / max(time.monotonic() - self.start, 1e-9)
        state.log_history[-1]["tokens_per_s"] = round(tokens_per_s, 1)
        bar = getattr(self.progress, "training_bar", None)
        if bar is not None:
            bar.set_postfix(loss=f"{logs['loss']:.3f}", tok_s=f"{tokens_per_s:,.0f}")


def training_arguments(config: PretrainConfig, output_dir: str) -> TrainingArguments:
    return TrainingArguments(
        output_dir=output_dir, use_cpu=True, bf16=False, fp16=False, seed=config.seed, data_seed=config.seed,
        max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, lr_scheduler_type="cosine", warmup_steps=config.warmup,
        weight_decay=config.weight_decay, adam_beta2=0.98, max_grad_norm=1.0,
        logging_strategy="steps", logging_steps=config.logging_steps, save_strategy="no", report_to=config.report_to,
        dataloader_num_workers=0, include_num_input_tokens_seen="non_padding")


@contextlib.contextmanager
def tensorboard_logs(config: PretrainConfig) -> Iterator[None]:
    """With `report_to: tensorboard`, the trainer's event files go to OUT-tensorboard (the model
    directory itself is replaced whole when the model is saved)."""
    if config.report_to != "tensorboard":
        yield
        return
    out = Path(config.out)
    with tensorboard_logging_to(out.with_name(f"{out.name}-tensorboard")):
        yield


def save_model_dir(model, tokenizer, out: Path) -> None:
    """Model, tokenizer and a generation config into `out`, via a sibling temporary folder, so an
    interrupted save leaves the previous model intact. Refuses to replace a non-model folder."""
    if out.exists() and any(out.iterdir()) and not (out / "config.json").exists():
        raise FileExistsError(f"{out} exists and does not hold a model; refusing to replace it")
    model.config.use_cache = True  # training turns the KV cache off; answering wants it
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    with staging_dir(out) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for path in staging.iterdir():
            path.chmod(FILE_MODE)  # a model directory is meant to be shared, whatever the umask


@dataclass(frozen=True)
class PretrainResult:
    out: Path  # the saved model directory
    parameters: int  # trainable parameters (tied embeddings counted once)
    steps: int  # optimizer steps taken
    tokens: int  # non-padding tokens the model was trained on
    wall_s: float  # training wall time
    stopped_by_budget: bool  # True when the `minutes` cap ended training before max_steps
    log_history: list  # the Trainer's logged records (loss, learning_rate, tokens_per_s, ...)
    corpus: dict  # `corpus.summarize` of the training traces


def pretrain(config: PretrainConfig, traces: list[Trace] | None = None) -> PretrainResult:
    """Build the corpus (or take `traces`, a corpus built elsewhere), train a fresh model on it and
    save the model directory (no card)."""
    torch.set_num_threads(config.threads)
    tokenizer = build_tokenizer()
    traces = build_corpus(config.corpus, seed=config.seed) if traces is None else traces
    dataset = tokenize_traces(traces, tokenizer, config.model.max_positions, config.learn_tool_output)
    set_seed(config.seed)
    model = LlamaForCausalLM(config.model.llama_config(tokenizer))
    with tensorboard_logs(config), tempfile.TemporaryDirectory(prefix="pretrain-") as scratch:
        right_padding = build_tokenizer()
        right_padding.padding_side = "right"  # so that a group of rows is cut to its longest with one slice
        collator = DataCollatorForSeq2Seq(right_padding, label_pad_token_id=IGNORE_INDEX)
        trainer = LengthSplitTrainer(model=model, args=training_arguments(config, scratch), train_dataset=dataset,
                                     data_collator=collator)
        progress = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, ProgressCallback)), None)
        budget = BudgetAndThroughput(60.0 * config.minutes, progress)
        trainer.add_callback(budget)
        start = time.monotonic()
        trainer.train()
        wall_s = time.monotonic() - start
    out = Path(config.out)
    if config.corpus.calculator:  # Policy.from_pretrained turns on what the model was taught to call
        model.config.selfplay_tools = ["calculator"]
    for key, value in model_declarations(config.corpus, config.model.max_positions).items():
        setattr(model.config, key, value)  # e.g. answers that search in their text declare longer prices
    if config.pricing:  # prices the recipe declares for a task, over the family's (longer answers)
        model.config.selfplay_pricing = {**(getattr(model.config, "selfplay_pricing", None) or {}), **config.pricing}
    save_model_dir(model, tokenizer, out)
    return PretrainResult(out=out, parameters=model.num_parameters(), steps=trainer.state.global_step,
                          tokens=int(trainer.state.num_input_tokens_seen), wall_s=round(wall_s, 1),
                          stopped_by_budget=budget.stopped_by_budget, log_history=list(trainer.state.log_history),
                          corpus=summarize(traces))


