"""The configuration of an improvement run (`jobs.improve`): frozen dataclasses, YAML presets, overrides.

    config = load_config("smoke", overrides=["sft.max_steps=4", "rounds=1"])   # configs/smoke.yaml
    config.sft.learning_rate, config.to_dict()

A preset is `configs/<name>.yaml` (or a path to any YAML file) whose keys are `RunConfig` fields;
the sections `sampling`, `selection`, `sft`, `eval` and `curriculum` are nested mappings. The
dataclass defaults are the `default` preset's values (a test holds them equal), so a preset names
only what it changes; one that names `train_files` must also name `curriculum.levels` (`[]` to
sample the train files), since the default curriculum's levels would otherwise take their place;
likewise `--set train_files=...` under a preset with levels is an error naming both keys, unless
the overrides also set `curriculum.levels` (`[]`: sample the train files).
`sampling.search` (SearchConfig fields) and `reward_model` (RewardModelConfig fields) are built
when the config loads, so a bad value there fails at once, naming its key. An override is
`key=value` with a dotted key (`sft.learning_rate=1e-3`) and a YAML value (`[a, b]`, `{x: 1}`,
`true`, `null`). Unknown keys, in a preset or an override, are errors naming the key.

Relative paths (`model`, `train_files`, `dev_files`) resolve against the repository root, which
is also where `ray job submit --working-dir .` puts its copy of the repo; `out` must end up
absolute (the default is under `~/selfplay-runs/`), so results never land in that copy.

Knows YAML, the fields' meaning, the config dataclasses of search and of the reward model (it
builds `SearchConfig` and `RewardModelConfig`) and whether a tracker's package is installed;
nothing about models, how search or training runs, or the files of a run beyond where its
directory is (`run_dir`).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from search import MAX_ANSWERS, SAMPLING, SEARCH, STRATEGIES, check_overrides, strategy_names
from selfplay.runfiles.config_files import (ConfigError, apply_override, build_config, coerce_overrides, parse_override,
                                        read_yaml)
from verifiers.lora_config import LoraTrainingConfig
from verifiers.scorer_config import RENAMED, RewardModelConfig

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
RUNS_HOME = Path("~/selfplay-runs")
# Fields that may change between invocations of one run: how it executes, not what it samples. Training
# precision, batch size and its accumulation change later adapters' numbers a little, not any tree already
# written; a change is logged and recorded in RUN/environment.json.
EXECUTION_FIELDS = ("rounds", "workers", "threads", "together", "name", "out", "preset", "sft.report_to", "sft.bf16", "sft.fp16",
                    "sft.batch_size", "sft.gradient_accumulation_steps", "sft.gradient_checkpointing",
                    "sft.log_every")
# `sft.report_to` values -> the pip package each needs (None: nothing to install)
TRACKERS = {"none": None, "tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "trackio": "trackio"}
AUTO = "auto"  # `workers`: one Ray actor per core of the cluster, or per GPU where it has GPUs
# The default curriculum: the easy level the built-in model was taught, then the standard game's 3, 4, 5 numbers.
DEFAULT_LEVELS = ("datasets/countdown/train.jsonl", "datasets/countdown/std3/train.jsonl",
                  "datasets/countdown/std4/train.jsonl", "datasets/countdown/std5/train.jsonl")


@dataclass(frozen=True)
class SamplingConfig:
    """How each training problem's tree is grown."""

    strategy: str = "sample"  # search strategy (search.STRATEGIES) that grows the round's trees
    budget: int = 8  # compute per problem, in complete sampled answers
    search: dict = field(default_factory=dict)  # SearchConfig fields to override (num_simulations, ...)

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ConfigError(f"sampling.strategy: {self.strategy!r} is not one of {list(STRATEGIES)}")
        if not 1 <= self.budget <= MAX_ANSWERS:
            raise ConfigError(f"sampling.budget must be from 1 to {MAX_ANSWERS:,} answers, got {self.budget}")
        try:
            check_overrides(self.search)
        except ValueError as error:
            raise ConfigError(f"sampling.search: {error}") from None


@dataclass(frozen=True)
class SelectionConfig:
    """Which verified traces become training data."""

    max_per_problem: int = 2  # distinct verified paths kept per problem (best first)
    replay_share: float = 0.25  # share of the round's SFT rows drawn from earlier rounds' selections
    rm_pairs_per_problem: int = 8  # (verified, failed) answer pairs per problem in rm.jsonl
    skip_all_passed: bool = True  # no rows from a problem whose every graded answer passed: it teaches nothing
    targets: str = "path"  # "path": the verified paths; "visits": each path node's children by visit share (MCTS)
    visit_copies: int = 4  # with "visits": a child's rows = its visit share x this, rounded
    passing_attempts: bool = True  # a failed answer's abandoned attempt that passes is a verified answer too
    hindsight_rows: int = 1000  # most rows per round from hindsight: an attempt's own result as the target
    # (tasks with a relabel hook: countdown); 0: none

    def __post_init__(self) -> None:
        if self.max_per_problem < 1 or self.rm_pairs_per_problem < 1:
            raise ConfigError("selection.max_per_problem and selection.rm_pairs_per_problem must be at least 1")
        if self.targets not in ("path", "visits"):
            raise ConfigError(f"selection.targets: 'path' or 'visits', got {self.targets!r}")
        if self.hindsight_rows < 0:
            raise ConfigError(f"selection.hindsight_rows must be at least 0, got {self.hindsight_rows}")
        if self.visit_copies < 1:
            raise ConfigError(f"selection.visit_copies must be at least 1, got {self.visit_copies}")
        if not 0 <= self.replay_share < 1:
            raise ConfigError(f"selection.replay_share must be in [0, 1), got {self.replay_share}")


@dataclass(frozen=True)
class CurriculumConfig:
    """Levels to climb: each round samples the active levels, and a level joins once search masters the last."""

    levels: tuple = DEFAULT_LEVELS  # train files from easy to hard; empty: sample `train_files` as they are
    start: int = 3  # levels active in round 1 (the first ones)
    promote_at: float = 0.5  # the hardest active level's solved share at which the next level joins
    retire_at: float = 0.95  # a level solved this often leaves the mix (never the hardest active one)

    def __post_init__(self) -> None:
        if not all(isinstance(level, str) and level for level in self.levels):
            raise ConfigError(f"curriculum.levels: a list of train files, got {list(self.levels)!r}")
        if len(set(self.levels)) != len(self.levels):
            raise ConfigError("curriculum.levels: a file is listed twice")
        if self.levels and not 1 <= self.start <= len(self.levels):
            raise ConfigError(f"curriculum.start must lie in 1..{len(self.levels)}, got {self.start}")
        if not 0 < self.promote_at <= 1 or not self.promote_at <= self.retire_at <= 1:
            raise ConfigError("curriculum: need 0 < promote_at <= retire_at <= 1")


@dataclass(frozen=True)
class FinetuneConfig(LoraTrainingConfig):
    """LoRA SFT of the policy on the selected traces (TRL SFTTrainer + PEFT). The LoRA knobs are
    `LoraTrainingConfig`'s (rank 16, alpha 32, learning rate 5e-4, 2 epochs over the round's rows,
    8 rows a step, 512 tokens kept per row from the start); `report_to` also takes the round
    scalars (TRACKERS; selfplay.runfiles.tracking)."""

    continue_adapter: bool = True  # train on from the previous round's adapter; False: refit a fresh LoRA each
    # round on every round's verified rows so far (ReST-EM), instead of this round's rows and a replay share
    target_modules: str = "all-linear"  # LoRA targets: "all-linear" or module names, e.g. "q_proj,v_proj"
    bf16: bool = False  # bf16 mixed precision (needs a GPU that has it; the CPU trains in fp32)
    fp16: bool = False  # fp16 mixed precision (needs a CUDA GPU)
    gradient_accumulation_steps: int = 1  # batches summed per optimizer step (a step sees batch_size x this rows)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~20% slower
    log_every: int = 10  # print the training loss every this many optimizer steps (0: never); --quiet sets 0
    trainer_args: dict = field(default_factory=dict)  # further TRL SFTConfig options, e.g. {warmup_ratio: 0.1}

    SECTION: ClassVar[str] = "sft"
    MIN_LENGTH: ClassVar[int] = 8

    def __post_init__(self) -> None:
        try:
            super().__post_init__()  # the LoRA knobs every trainer shares
        except ValueError as error:
            raise ConfigError(str(error)) from None
        check_trainer_args(self.trainer_args)
        if self.bf16 and self.fp16:
            raise ConfigError("sft.bf16 and sft.fp16: pick one mixed precision")
        if self.gradient_accumulation_steps < 1 or self.log_every < 0:
            raise ConfigError(f"sft.gradient_accumulation_steps must be >= 1 and sft.log_every >= 0, got "
                              f"{self.gradient_accumulation_steps} and {self.log_every}")
        if self.report_to not in TRACKERS:
            raise ConfigError(f"sft.report_to: {self.report_to!r} is not one of {list(TRACKERS)}")
        package = TRACKERS[self.report_to]
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(f"sft.report_to={self.report_to} needs the {package} package, which is not installed "
                              f"(pip install {package})")


# SFTConfig options the lab sets from its own keys or needs as they are (`selfplay.loop.finetune.sft_arguments`):
# `sft.trainer_args` may not name them. Key -> what to set instead.
LAB_TRAINER_ARGS = {
    "output_dir": "the lab trains in a scratch folder and saves the adapter itself",
    "per_device_train_batch_size": "sft.batch_size", "num_train_epochs": "sft.epochs", "max_steps": "sft.max_steps",
    "learning_rate": "sft.learning_rate", "gradient_accumulation_steps": "sft.gradient_accumulation_steps",
    "bf16": "sft.bf16", "fp16": "sft.fp16", "activation_checkpointing": "sft.gradient_checkpointing",
    "gradient_checkpointing": "sft.gradient_checkpointing", "seed": "seed (the run's, per round)",
    "data_seed": "seed (the run's, per round)", "max_length": "sft.max_length", "report_to": "sft.report_to",
    "logging_steps": "sft.log_every", "use_cpu": "set from the hardware",
    "completion_only_loss": "the lab masks prompts and tool output itself", "packing": "rows are trained unpacked",
    "save_strategy": "the adapter is saved once, atomically", "disable_tqdm": "sft.log_every",
    "include_num_input_tokens_seen": "the round counts tokens with it", "dataloader_num_workers": "fixed at 0",
}


def check_trainer_args(values: dict) -> None:
    """ConfigError naming the keys of `sft.trainer_args` that TRL's SFTConfig does not have, or that the lab
    sets itself (LAB_TRAINER_ARGS, naming the key to set instead). TRL is imported only when there are some."""
    if not values:
        return
    names = [name for name in values if not isinstance(name, str)]
    if names:
        raise ConfigError(f"sft.trainer_args: option names must be strings, got {names!r}")
    taken = {name: LAB_TRAINER_ARGS[name] for name in values if name in LAB_TRAINER_ARGS}
    if taken:
        raise ConfigError("sft.trainer_args: the lab sets " + "; ".join(f"{name} (use {instead})"
                                                                      for name, instead in taken.items()))
    from trl import SFTConfig

    known = {option.name for option in dataclasses.fields(SFTConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        hint = " (warmup_steps takes a ratio as a float below 1: warmup_steps: 0.1)" if "warmup_ratio" in unknown else ""
        raise ConfigError(f"sft.trainer_args: {unknown} are not options of TRL's SFTConfig{hint} (see "
                          f"https://huggingface.co/docs/trl/sft_trainer#trl.SFTConfig)")
    import tempfile
    import warnings

    with tempfile.TemporaryDirectory(prefix="sft-check-") as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TRL's own defaults use names transformers deprecated
        try:  # a bad value fails now, not after a round of sampling
            SFTConfig(output_dir=scratch, use_cpu=True, report_to="none", **values)
        except (TypeError, ValueError, KeyError) as error:
            raise ConfigError(f"sft.trainer_args: {' '.join(str(error).split())[:300]}") from None


@dataclass(frozen=True)
class EvalConfig:
    """Fast (greedy) and deliberate (search) accuracy on the dev split, every round."""

    strategy: str = "mcts"  # the deliberate strategy ("System 2")
    budget: int = 8  # its compute per problem, in complete answers
    limit: int = 50  # dev problems per dev file (the first ones), 0 for none
    max_new_tokens: int = 432  # answer cap of the fast (greedy) answers

    def __post_init__(self) -> None:
        answering = strategy_names(SAMPLING, SEARCH)  # greedy, the fast answer, is always run
        if self.strategy not in answering:
            raise ConfigError(f"eval.strategy: {self.strategy!r} is not one of {list(answering)} "
                              f"(greedy is always run)")
        if self.budget < 1 or self.limit < 0 or self.max_new_tokens < 1:
            raise ConfigError("eval.budget and eval.max_new_tokens must be >= 1, eval.limit >= 0")
        if self.budget > MAX_ANSWERS:
            raise ConfigError(f"eval.budget is at most {MAX_ANSWERS:,} answers, got {self.budget}")


@dataclass(frozen=True)
class RunConfig:
    """One `jobs.improve` run: K rounds of sample -> select -> finetune -> evaluate."""

    preset: str = ""  # the preset it was built from (informational)
    name: str = ""  # run name; the default out is ~/selfplay-runs/<name>
    out: str = ""  # run directory (absolute); empty: ~/selfplay-runs/<name or preset-timestamp>
    model: str = "models/search"  # base model directory (Hugging Face format)
    rounds: int = 5  # improvement rounds; rerunning with more continues the run
    seed: int = 0  # every sample's seed derives from (seed, round, problem id)
    workers: int | str = "auto"  # "auto": a Ray actor per core (per GPU when there are GPUs); 0: this process; N

    threads: int = 1  # torch CPU threads per process (small models run fastest on 1)
    together: int = 32  # problems a worker searches together, their model calls batched (search.batching); 1: one
    #                     at a time. Same trees either way (per-node seeds); only the speed changes
    # file -> share, sampled when curriculum.levels is empty
    train_files: dict = field(default_factory=lambda: {"datasets/countdown/std3/train.jsonl": 1.0})
    dev_files: tuple = ("datasets/countdown/dev.jsonl", "datasets/countdown/hard/dev.jsonl")  # evaluated each round
    problems_per_round: int = 384  # training problems drawn per round (disjoint across rounds until a file runs out)
    train_reward_model: bool = False  # also train a reward model on each round's rm.jsonl
    train_scorer: bool = False  # also fit the outcome and process scorers (verifiers.process_scorer) on each round's trees
    # RewardModelConfig fields to override (lora_rank, max_steps, ...); its seed derives from seed and the round
    reward_model: dict = field(default_factory=dict)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # growing the training trees
    selection: SelectionConfig = field(default_factory=SelectionConfig)  # picking training traces
    sft: FinetuneConfig = field(default_factory=FinetuneConfig)  # the LoRA finetune
    eval: EvalConfig = field(default_factory=EvalConfig)  # dev evaluation
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)  # levels the rounds climb
    tools: str = "auto"  # tools the policy may call: "auto" (those the model declares), "none", "calculator,python"

    def __post_init__(self) -> None:
        if self.workers != AUTO and (not isinstance(self.workers, int) or isinstance(self.workers, bool)
                                     or self.workers < 0):
            raise ConfigError(f"workers: expected 'auto' or a count >= 0, got {self.workers!r}")
        if self.rounds < 0 or self.threads < 1 or self.problems_per_round < 1 or self.together < 1:
            raise ConfigError("rounds must be >= 0, threads, together and problems_per_round >= 1")
        if not self.train_files or any(not isinstance(name, str) or not isinstance(share, (int, float))
                                       or not 0 < share < math.inf for name, share in self.train_files.items()):
            raise ConfigError(f"train_files: a mapping of file -> positive finite share, got {self.train_files!r}")
        if self.out and not Path(self.out).expanduser().is_absolute():
            raise ConfigError(f"out must be an absolute path (a relative one would land in Ray's copy of the "
                              f"repo), got {self.out!r}")
        if self.selection.targets == "visits" and self.sampling.strategy != "mcts":
            raise ConfigError(f"selection.targets=visits needs MCTS visit counts; sampling.strategy is "
                              f"{self.sampling.strategy!r}")
        if self.tools != "auto":
            from selfplay.tools import parse_tool_names
            try:
                parse_tool_names(self.tools)
            except ValueError as error:
                raise ConfigError(f"tools: {error} (or 'auto', 'none')") from None
        self.reward_model_config(seed=self.seed)  # a bad reward_model value fails at load, not after a round

    def reward_model_config(self, seed: int) -> RewardModelConfig:
        """The reward model's training config: `reward_model`'s overrides on the defaults, with `seed`; its
        losses go where the adapter's do (`sft.report_to`, the run's one tracker)."""
        known = {f.name for f in dataclasses.fields(RewardModelConfig)} - {"seed", "report_to"}
        unknown = sorted(set(self.reward_model) - known, key=str)
        if unknown:
            raise ConfigError(f"reward_model: unknown keys {unknown} (the seed derives from seed and the round, "
                              f"the tracker is sft.report_to); expected some of {sorted(known)}")
        try:
            return RewardModelConfig(**self.reward_model, seed=seed, report_to=self.sft.report_to)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"reward_model: {error}") from None

    def to_dict(self) -> dict:
        """Plain YAML/JSON values, sections nested."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def path(self, value: str) -> Path:
        """A configured path: `~` expanded, relative ones against the repository root."""
        return resolve_path(value)

    def run_dir(self) -> Path:
        return Path(self.out).expanduser()


def resolve_path(value: str | Path) -> Path:
    """A path as configs name them: `~` expanded, absolute as it is, relative against the repository root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO / path


SECTIONS = {"sampling": SamplingConfig, "selection": SelectionConfig, "sft": FinetuneConfig, "eval": EvalConfig,
            "curriculum": CurriculumConfig}
OVERRIDE_MAPPINGS = {"reward_model": RewardModelConfig}  # top-level mappings of a dataclass's field overrides


def _check_train_files_named_with_levels(values: dict) -> None:
    """`train_files` without `curriculum.levels` would be silently unused (the default curriculum has levels)."""
    curriculum = values.get("curriculum")
    if "train_files" in values and CurriculumConfig().levels and \
            not (isinstance(curriculum, dict) and "levels" in curriculum):
        raise ConfigError("train_files is sampled only when curriculum.levels is empty, and the default curriculum "
                          "has levels: also set curriculum.levels ([] to sample train_files)")


def preset_path(preset: str) -> Path:
    """`configs/<preset>.yaml`, or `preset` itself when it names a YAML file."""
    candidate = Path(preset).expanduser()
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ConfigError(f"{preset}: no such preset file")
        return candidate
    path = CONFIGS / f"{preset}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
        raise ConfigError(f"unknown preset {preset!r}; presets in {CONFIGS}: {names}")
    return path


def load_config(preset: str, overrides: list[str] = (), *, now: float | None = None) -> RunConfig:
    """The preset's values with `overrides` laid over them, validated, `out` filled in."""
    path = preset_path(preset)
    values = read_yaml(path)
    values = {**values, "preset": values.get("preset") or Path(preset).stem}
    overridden = set()
    for text in overrides:
        keys, value = parse_override(text)
        values = apply_override(values, keys, value)
        overridden.add(".".join(keys))
    config = from_dict(values)
    if "train_files" in overridden and config.curriculum.levels and not overridden & {"curriculum", "curriculum.levels"}:
        raise ConfigError(f"--set train_files is sampled only when curriculum.levels is empty, and preset "
                          f"{values['preset']!r} has {len(config.curriculum.levels)} levels, which would be sampled "
                          f"instead: also --set curriculum.levels=[] (or name the levels)")
    if not config.out:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        out = RUNS_HOME.expanduser() / (config.name or f"{config.preset}-{stamp}")
        config = dataclasses.replace(config, out=str(out))
    return dataclasses.replace(config, out=str(Path(config.out).expanduser()))


def from_dict(values: dict) -> RunConfig:
    """A config from its `to_dict` form (a run's config.yaml), or from a preset's values."""
    if isinstance(values, dict) and set(values) <= {f.name for f in dataclasses.fields(RunConfig)}:
        _check_train_files_named_with_levels(values)
    return build_config(RunConfig, values, "", builders={
        key: lambda value, where, cls=cls: coerce_overrides(value, cls, where, RENAMED)
        for key, cls in OVERRIDE_MAPPINGS.items()})


def to_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def flat_config(config: RunConfig) -> dict:
    """The config's values by dotted key (`sft.bf16`), sections flattened."""
    def flat(values: dict, prefix: str = "") -> dict:
        items = {}
        for key, value in values.items():
            if isinstance(value, dict) and key in SECTIONS:
                items.update(flat(value, f"{key}."))
            else:
                items[prefix + key] = value
        return items
    return flat(config.to_dict())


def differences(old: RunConfig, new: RunConfig, ignore=EXECUTION_FIELDS) -> list[str]:
    """Dotted keys whose values differ between two configs (execution fields left out)."""
    before, after = flat_config(old), flat_config(new)
    return sorted(key for key in before.keys() | after.keys()
                  if key not in ignore and before.get(key) != after.get(key))
