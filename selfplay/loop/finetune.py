"""LoRA SFT of the policy on a round's selected traces: TRL `SFTTrainer` + PEFT, nothing hand-rolled.

    result = finetune(rows, "models/base", "runs/x/round-2/adapter", FinetuneConfig(),
                      previous_adapter="runs/x/round-1/adapter", seed=0)
    PeftModel.from_pretrained(base_model, "runs/x/round-2/adapter")   # what the next round samples with

Rows are `{"prompt", "completion", "tool_spans"?, "copies"?, "partial"?}` (extra columns are
dropped), tokenised here (`tokenized_row`) as the policy sees them: the prompt with the
tokenizer's special tokens (the built-in BOS; a chat template writes its own), the completion
in pieces split at tool output, and one EOS unless the row is `partial` (one step of a longer
answer, as step targets are). A row with `copies: n` is trained on n times an epoch. TRL takes
the pre-tokenised rows and masks the prompt and the tool output out of the loss through
`completion_mask` (`completion_only_loss`).

Continuing from the previous round's adapter (`continue_adapter`, the default) rather than a
fresh LoRA on the base each round: the adapter is the policy that sampled this round's trees, so
training on from it is ordinary expert iteration (each round a few steps on data the current
policy found), it costs a round only its own rows, and the replay share guards against drifting
from what earlier rounds learned. A fresh LoRA (STaR's restart-from-base) would need every
earlier round's data each time to keep what they taught. Round 1 starts a fresh LoRA either way.

With no rows (nothing verified, nothing to replay) the starting adapter is saved unchanged, so
`adapter/` always exists and always loads. The adapter directory is built in a temporary
sibling and renamed (`rundir.staging_dir`); it also holds `training.json` (rows, steps, losses,
tokens, wall) and a README.md (`adapter_card`: base model, data, round, numbers, how to load
it) in place of PEFT's template card.

Knows transformers, PEFT and TRL, and the run layout only to name a round's sft.jsonl in the card;
nothing about search, trees or Ray.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from selfplay.runfiles.runconfig import FinetuneConfig
from selfplay.runfiles.rundir import RoundDir, no_space, staging_dir, write_json

TRAINING_INFO = "training.json"


@dataclass
class TrainResult:
    rows: int  # training rows
    steps: int  # optimizer steps taken
    train_loss: float | None  # mean loss over training (None when nothing was trained)
    first_loss: float | None  # first and last logged losses
    last_loss: float | None
    tokens: int  # non-padding tokens seen
    wall_s: float
    continued_from: str | None  # the adapter training started from, or None for a fresh LoRA
    log_history: list = field(default_factory=list)

    def to_dict(self, with_history: bool = False) -> dict:
        data = asdict(self)
        if not with_history:
            data.pop("log_history")
        return data


def lora_config(config: FinetuneConfig):
    from peft import LoraConfig, TaskType
    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=config.lora_rank, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=lora_targets(config.target_modules))


def lora_targets(value: str) -> str | list[str]:
    """`all-linear` as PEFT spells it, or a comma-separated list of module names.

    >>> lora_targets("all-linear"), lora_targets("q_proj, v_proj")
    ('all-linear', ['q_proj', 'v_proj'])
    """
    if value.strip() == "all-linear":
        return "all-linear"
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ValueError("sft.target_modules: 'all-linear' or module names, e.g. 'q_proj,v_proj'")
    return names


def starting_model(model_dir: str | os.PathLike, config: FinetuneConfig, previous_adapter: str | None):
    """The base model with a trainable LoRA: the previous adapter's, or a fresh one."""
    from peft import PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if config.bf16 else torch.float32
    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
    if previous_adapter is not None and config.continue_adapter:
        return PeftModel.from_pretrained(base, str(previous_adapter), is_trainable=True)
    return get_peft_model(base, lora_config(config))


def sft_arguments(config: FinetuneConfig, output_dir: str, seed: int):
    """SFTConfig for a small CPU or single-GPU run: no checkpoints, TRL's GPU defaults undone; the loss
    goes to `config.report_to` (where: `selfplay.runfiles.tracking.trainer_logs` around the trainer).
    `config.trainer_args` (checked against SFTConfig and the options set here when the config loaded)
    come last, so a user's scheduler or warmup replaces the lab's."""
    from trl import SFTConfig

    for precision in ("bf16", "fp16"):
        if getattr(config, precision) and not torch.cuda.is_available():
            raise ValueError(f"sft.{precision} needs a GPU; none is visible (set sft.{precision}=false)")
    options = dict(
        output_dir=output_dir, use_cpu=not torch.cuda.is_available(), bf16=config.bf16, fp16=config.fp16,
        activation_checkpointing=config.gradient_checkpointing,  # TRL's default is on; small models only get slower
        learning_rate=config.learning_rate, num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.gradient_accumulation_steps,
        lr_scheduler_type="constant_with_warmup", warmup_steps=0.1,
        seed=seed, data_seed=seed, max_length=config.max_length, completion_only_loss=True, packing=False,
        save_strategy="no", report_to=config.report_to, logging_steps=1, disable_tqdm=True, dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding")
    return SFTConfig(**{**options, **config.trainer_args})


def loss_printer(every: int, rows: int, print_line=print):
    """A TrainerCallback that prints `train step S/N: loss L (T s)` every `every` optimizer steps and at the
    last, flushed, so the driver's log (and `ray job logs`, from an actor) shows training move."""
    from transformers import TrainerCallback

    class LossPrinter(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()
            print_line(f"train: {rows} rows, {state.max_steps} steps", flush=True)

        def on_log(self, args, state, control, logs=None, **kwargs):
            step, last = state.global_step, state.global_step >= state.max_steps
            if "loss" in (logs or {}) and (step % every == 0 or last):
                print_line(f"train step {step}/{state.max_steps}: loss {logs['loss']:.4f} "
                           f"({time.perf_counter() - self.start:.0f} s)", flush=True)

    return LossPrinter()


def finetune(rows: list[dict], model_dir: str | os.PathLike, out_dir: str | os.PathLike, config: FinetuneConfig,
             *, previous_adapter: str | os.PathLike | None = None, seed: int = 0, base_name: str | None = None,
             out_name: str | None = None, previous_name: str | None = None) -> TrainResult:
    """Train the LoRA on `rows` and save it to `out_dir` (atomically); returns the trainer's numbers.

    The names are what the saved adapter records where the paths are a worker's scratch copies:
    `base_name` its `base_model_name_or_path` (default: `model_dir`), `out_name` and `previous_name`
    the adapter's and its predecessor's places in the run (default: `out_dir`, `previous_adapter`)."""
    from datasets import Dataset
    from transformers import AutoTokenizer, set_seed
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    previous = str(previous_adapter) if previous_adapter is not None and config.continue_adapter else None
    continued_from = (previous_name or previous) if previous is not None else None
    set_seed(seed)  # a fresh LoRA's initialisation
    with _quiet_deprecations():
        model = starting_model(model_dir, config, previous)
    start, result = time.perf_counter(), None
    with staging_dir(out_dir) as staging, tempfile.TemporaryDirectory(prefix="sft-") as scratch:
        if rows:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            examples = [tokenized_row(tokenizer, row) for row in rows]
            dataset = Dataset.from_list([example for row, example in zip(rows, examples)
                                         for _ in range(row.get("copies", 1))])
            with _quiet_deprecations():
                trainer = SFTTrainer(model=model, args=sft_arguments(config, scratch, seed), train_dataset=dataset,
                                     processing_class=tokenizer)
                trainer.remove_callback(PrinterCallback)
                if config.log_every:
                    trainer.add_callback(loss_printer(config.log_every, len(rows)))
                output = trainer.train()
            losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
            result = TrainResult(len(rows), trainer.state.global_step, output.training_loss,
                                 losses[0] if losses else None, losses[-1] if losses else None,
                                 int(trainer.state.num_input_tokens_seen), 0.0, continued_from,
                                 list(trainer.state.log_history))
            model = trainer.model
        else:
            result = TrainResult(0, 0, None, None, None, 0, 0.0, continued_from)
        result.wall_s = round(time.perf_counter() - start, 3)
        for adapter_config in model.peft_config.values():  # what AutoPeftModel loads the adapter onto
            adapter_config.base_model_name_or_path = base_name or str(model_dir)
        try:
            model.save_pretrained(staging)
            write_json(staging / TRAINING_INFO, result.to_dict(with_history=True))
            (staging / "README.md").write_text(adapter_card(base_name or model_dir, out_name or out_dir, config,
                                                            result), encoding="utf-8")
        except OSError as error:  # the staging folder goes; the round resumes at finetuning
            full = no_space(error, "the adapter", out_name or out_dir)
            if full is None:
                raise
            raise full from None
    return result


def tokenized_row(tokenizer, row: dict) -> dict:
    """`input_ids` = the prompt (with the tokenizer's special tokens, as the policy encodes it), the
    completion and EOS (none for a `partial` row); `completion_mask` = 1 on the completion's own
    tokens, 0 on the prompt and on tool output (`row["tool_spans"]`), so the model learns to call a
    tool and not to imitate it.

    >>> from selfplay.builtin_model.tokenizer import build_tokenizer
    >>> row = tokenized_row(build_tokenizer(), {"prompt": "Q\\n", "completion": "<<1+1=2>>", "tool_spans": [[6, 9]]})
    >>> row["completion_mask"]
    [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    """
    from selfplay.tools.spans import encode_masked
    prompt_ids = tokenizer(row["prompt"])["input_ids"] if not getattr(tokenizer, "chat_template", None) \
        else tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
    completion = row["completion"]
    eos = tokenizer.eos_token or ""
    ends_with_eos = bool(eos) and completion.endswith(eos)
    body = completion[:-len(eos)] if ends_with_eos else completion
    ids, mask = encode_masked(tokenizer, body, row.get("tool_spans") or [])
    if not row.get("partial"):
        ids, mask = ids + [tokenizer.eos_token_id], mask + [1]
    return {"input_ids": prompt_ids + ids, "completion_mask": [0] * len(prompt_ids) + mask}


def adapter_card(model_dir: str | os.PathLike, out_dir: str | os.PathLike, config: FinetuneConfig,
                 result: TrainResult) -> str:
    """The adapter's README.md: YAML metadata, then what it was trained from and on, and how to load it.
    The round is read from the run layout (RUN/round-K/adapter) when the adapter sits in one."""
    import yaml

    base, adapter = str(model_dir), str(out_dir)
    folder = Path(adapter).absolute().parent
    match = re.fullmatch(r"round-(\d+)", folder.name)
    round_name = f"round {match.group(1)}" if match else "one round"
    data = f"`{RoundDir(folder, int(match.group(1))).sft}`: " if match else ""
    metadata = {"library_name": "peft", "base_model": base, "pipeline_tag": "text-generation",
                "tags": ["lora", "sft", "trl", "selfplay", "expert-iteration"]}
    start = f"the previous round's adapter `{result.continued_from}`" if result.continued_from else "a fresh LoRA"
    if result.rows:
        length = f"{result.steps} optimizer steps" + (f" (max_steps {config.max_steps})" if config.max_steps > 0
                                                      else f" ({config.epochs:g} epochs)")
        losses = ", ".join(f"{name} {value:.4f}" for name, value in (("mean", result.train_loss), ("first logged",
                           result.first_loss), ("last", result.last_loss)) if value is not None) or "not logged"
        batch = f"batch {config.batch_size}" + (f" x {config.gradient_accumulation_steps} accumulated"
                                                if config.gradient_accumulation_steps > 1 else "")
        schedule = str(config.trainer_args.get("lr_scheduler_type", "constant_with_warmup")).replace("_", " ")
        training = (f"{result.rows} rows, {length}, {batch}, AdamW at lr {config.learning_rate:g} "
                    f"({schedule}), {result.tokens:,} tokens, {result.wall_s:.0f} s; train loss {losses}")
    else:
        training = "no rows (nothing verified, nothing to replay): the starting adapter, saved unchanged"
    return f"""---
{yaml.safe_dump(metadata, sort_keys=False)}---

# selfplay LoRA adapter{f", {round_name}" if match else ""}

A LoRA adapter (PEFT; rank {config.lora_rank}, alpha {config.lora_alpha}, dropout {config.lora_dropout:g}, on
{_targets_text(config.target_modules)}) for the base model `{base}`, trained by {round_name} of a selfplay improvement run
(expert iteration: the policy searches, the verifiers check, it is finetuned on what checked out).

- Data: {data}the round's verified answers, found by the policy's own search on training problems,
  and a replay share of earlier rounds' selections, as prompt/completion pairs.
- Training: TRL `SFTTrainer`, loss on the completion only, starting from {start}:
  {training}. The trainer's numbers are in `training.json`.

## Load

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{base}")
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{base}"), "{adapter}")
```

or `lab eval --model {base} --adapter {adapter} --tasks FILE`.
"""


def _targets_text(target_modules: str) -> str:
    """What the card says the LoRA sits on: the card used to say every linear layer whatever was set.

    >>> _targets_text("all-linear"), _targets_text("q_proj,v_proj")
    ('every linear layer', 'the modules q_proj, v_proj')
    """
    targets = lora_targets(target_modules)
    return "every linear layer" if targets == "all-linear" else f"the modules {', '.join(targets)}"


@contextlib.contextmanager
def _quiet_deprecations():
    """PEFT and TRL ask transformers for `is_gradient_checkpointing`, deprecated in v5: not ours to fix."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def read_training(adapter_dir: str | os.PathLike) -> dict:
    """The `training.json` a finished `finetune` left in its adapter directory."""
    from selfplay.runfiles.rundir import read_json
    return read_json(os.path.join(adapter_dir, TRAINING_INFO))
