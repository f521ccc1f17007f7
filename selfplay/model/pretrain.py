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

Knows the corpus, the tokenizer and HF training; nothing about search, rounds or Ray.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from datasets import Dataset
from transformers import (DataCollatorForSeq2Seq, GenerationConfig, LlamaConfig, LlamaForCausalLM,
                          ProgressCallback, Trainer, TrainerCallback, TrainingArguments, set_seed)

from selfplay.model import card
from selfplay.model.corpus import REPO, CorpusConfig, Trace, build_corpus, summarize
from selfplay.model.tokenizer import build_tokenizer
from selfplay.runconfig import TRACKERS
from selfplay.tasks.spec import Pricing
from selfplay.tracking import tensorboard_logging_to
from selfplay.tools.spans import encode_masked
from verifiers.atomic_files import FILE_MODE, staging_dir

DEFAULT_CONFIG = "configs/pretrain.yaml"
IGNORE_INDEX = -100  # label of a token that carries no loss


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
            except TypeError as error:
                raise ValueError(f"pricing[{task!r}] must hold Pricing fields, got {fields!r}") from error

    def to_dict(self) -> dict:
        """Plain JSON/YAML values (tuples become lists), nested sections included."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _build(cls, values: dict, where: str):
    """`cls(**values)`, with unknown keys reported by name instead of as a TypeError."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(names)}")
    return cls(**values)


def config_from_dict(values: dict) -> PretrainConfig:
    values = dict(values or {})
    corpus = _build(CorpusConfig, values.pop("corpus", None) or {}, "corpus")
    model = _build(ModelShape, values.pop("model", None) or {}, "model")
    return _build(PretrainConfig, {**values, "corpus": corpus, "model": model}, "pretrain config")


def load_config(path: str | Path) -> PretrainConfig:
    """A config from a YAML preset whose keys are PretrainConfig fields (`corpus:`, `model:` nested)."""
    return config_from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


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


def searching_pricing(max_positions: int) -> dict:
    """The countdown prices of a model whose answers search in their text (`retry` lines), as
    `Pricing` fields: an answer may fill the positions a prompt leaves (a countdown prompt is at
    most 80 characters), a path holds up to 40 lines (7 attempts of 4 numbers and their retries).

    >>> searching_pricing(512)
    {'answer_tokens': 432, 'max_depth': 40, 'step_tokens': 32}
    """
    return {"answer_tokens": max(max_positions - 80, 64), "max_depth": 40, "step_tokens": 32}


def searching_search() -> dict:
    """The countdown search settings of a model whose answers search in their text, as SearchConfig
    fields. Its whole answers already search, so MCTS values a new step by sampling on from it to an
    answer that the rules check grades (`rollouts`), eight steps an expansion so the rollouts advance
    together; the path's mean token probability, the default value, ranks confident misses high.

    >>> searching_search()
    {'rollouts': True, 'expansions_per_node': 8}
    """
    return {"rollouts": True, "expansions_per_node": 8}


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
    if config.corpus.countdown_search:  # its answers search in their text: one answer's worth is longer
        model.config.selfplay_pricing = {"countdown": searching_pricing(config.model.max_positions)}
        model.config.selfplay_retries = True  # search may leave a finished attempt open for a `retry` line
        model.config.selfplay_search = {"countdown": searching_search()}
    if config.pricing:
        model.config.selfplay_pricing = {**(getattr(model.config, "selfplay_pricing", None) or {}), **config.pricing}
    save_model_dir(model, tokenizer, out)
    return PretrainResult(out=out, parameters=model.num_parameters(), steps=trainer.state.global_step,
                          tokens=int(trainer.state.num_input_tokens_seen), wall_s=round(wall_s, 1),
                          stopped_by_budget=budget.stopped_by_budget, log_history=list(trainer.state.log_history),
                          corpus=summarize(traces))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(REPO / DEFAULT_CONFIG), help="YAML preset (PretrainConfig fields)")
    parser.add_argument("--out", help="model directory to write (default: the config's, models/base)")
    parser.add_argument("--seed", type=int, help="seed for corpus, weights, data order and dev samples")
    parser.add_argument("--minutes", type=float, help="wall-clock cap on training")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (the schedule's length)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, help="traces per optimizer step")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate")
    parser.add_argument("--mistake-share", type=float, help="share of traces with a deliberate mistake")
    parser.add_argument("--traces", type=int, help="corpus size in traces")
    parser.add_argument("--eval-samples", type=int, help="samples per dev problem for pass@k")
    parser.add_argument("--no-eval", action="store_true", help="skip the dev evaluation")
    parser.add_argument("--report-to", choices=list(TRACKERS),
                        help="tracker for the training loss (tensorboard: event files in OUT-tensorboard)")


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The YAML preset with the flags given on the command line laid over it."""
    config = load_config(args.config)
    corpus = {"mistake_share": args.mistake_share, "traces": args.traces}
    corpus = dataclasses.replace(config.corpus, **{k: v for k, v in corpus.items() if v is not None})
    flags = {"out": args.out, "seed": args.seed, "minutes": args.minutes, "max_steps": args.max_steps,
             "threads": args.threads, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
             "eval_samples": args.eval_samples, "evaluate": False if args.no_eval else None,
             "report_to": getattr(args, "report_to", None)}
    return dataclasses.replace(config, corpus=corpus, **{k: v for k, v in flags.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = pretrain(config)
    argv = getattr(args, "argv", None)
    command = shlex.join(["python", "-m", "jobs.pretrain", *argv] if argv is not None else ["lab", *sys.argv[1:]])
    card.finish(result, config, command)
    print(f"saved {result.out} ({result.parameters:,} parameters, {result.steps} steps, "
          f"{result.tokens:,} tokens, {result.wall_s:.0f} s)")
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the `pretrain` subcommand to a `lab` subparsers object."""
    parser = subparsers.add_parser("pretrain", help="pretrain the built-in base model from scratch (CPU)")
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m jobs.pretrain [flags]`."""
    parser = argparse.ArgumentParser(prog="python -m jobs.pretrain", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return run(args)
