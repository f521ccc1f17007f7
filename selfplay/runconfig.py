"""The configuration of an improvement run (`jobs.improve`): frozen dataclasses, YAML presets, overrides.

    config = load_config("smoke", overrides=["sft.max_steps=4", "rounds=1"])   # configs/smoke.yaml
    config.sft.learning_rate, config.to_dict()

A preset is `configs/<name>.yaml` (or a path to any YAML file) whose keys are `RunConfig` fields;
the sections `sampling`, `selection`, `sft`, `eval` and `curriculum` are nested mappings. The
dataclass defaults are the `default` preset's values (a test holds them equal), so a preset names
only what it changes; one that names `train_files` must also name `curriculum.levels` (`[]` to
sample the train files), since the default curriculum's levels would otherwise take their place.
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
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from search import SAMPLING, SEARCH, STRATEGIES, check_overrides, strategy_names
from verifiers.scorer_config import RewardModelConfig

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
RUNS_HOME = Path("~/selfplay-runs")
# Fields that may change between invocations of one run: how it executes, not what it computes.
EXECUTION_FIELDS = ("rounds", "workers", "threads", "name", "out", "preset", "sft.report_to")
# `sft.report_to` values -> the pip package each needs (None: nothing to install)
TRACKERS = {"none": None, "tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "trackio": "trackio"}
AUTO = "auto"  # `workers`: one Ray actor per core of the cluster, or per GPU where it has GPUs
# The default curriculum: the easy level the built-in model was taught, then the standard game's 3, 4, 5 numbers.
DEFAULT_LEVELS = ("datasets/countdown/train.jsonl", "datasets/countdown/std3/train.jsonl",
                  "datasets/countdown/std4/train.jsonl", "datasets/countdown/std5/train.jsonl")


class ConfigError(ValueError):
    """A preset or override that cannot be turned into a config (unknown key, bad value)."""


@dataclass(frozen=True)
class SamplingConfig:
    """How each training problem's tree is grown."""

    strategy: str = "sample"  # search strategy (search.STRATEGIES) that grows the round's trees
    budget: int = 8  # compute per problem, in complete sampled answers
    search: dict = field(default_factory=dict)  # SearchConfig fields to override (num_simulations, ...)

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ConfigError(f"sampling.strategy: {self.strategy!r} is not one of {list(STRATEGIES)}")
        if self.budget < 1:
            raise ConfigError(f"sampling.budget must be at least 1, got {self.budget}")
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
class FinetuneConfig:
    """LoRA SFT of the policy on the selected traces (TRL SFTTrainer + PEFT)."""

    continue_adapter: bool = True  # train on from the previous round's adapter; False: refit a fresh LoRA each
    # round on every round's verified rows so far (ReST-EM), instead of this round's rows and a replay share
    target_modules: str = "all-linear"  # LoRA targets: "all-linear" or module names, e.g. "q_proj,v_proj"
    lora_rank: int = 16  # LoRA rank on every linear layer
    lora_alpha: int = 32  # LoRA scale numerator (scale = alpha / rank)
    lora_dropout: float = 0.0  # dropout on the LoRA path
    learning_rate: float = 5e-4  # AdamW peak learning rate
    epochs: float = 2.0  # passes over the round's rows, unless max_steps > 0
    max_steps: int = -1  # > 0: stop after this many optimizer steps
    batch_size: int = 8  # rows per optimizer step
    max_length: int = 512  # tokens kept per row (prompt + completion), from the start
    bf16: bool = False  # bf16 mixed precision (needs a GPU; the CPU trains in fp32)
    report_to: str = "none"  # tracker for the trainers' logs and the round scalars (TRACKERS; selfplay.tracking)

    def __post_init__(self) -> None:
        if self.report_to not in TRACKERS:
            raise ConfigError(f"sft.report_to: {self.report_to!r} is not one of {list(TRACKERS)}")
        package = TRACKERS[self.report_to]
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(f"sft.report_to={self.report_to} needs the {package} package, which is not installed "
                              f"(pip install {package})")
        if self.lora_rank < 1 or self.batch_size < 1 or self.max_length < 8:
            raise ConfigError("sft.lora_rank and sft.batch_size must be >= 1, sft.max_length >= 8")
        if self.learning_rate <= 0 or not 0 <= self.lora_dropout < 1:
            raise ConfigError("sft.learning_rate must be > 0 and sft.lora_dropout in [0, 1)")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ConfigError("sft: train for epochs > 0 or max_steps > 0")


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
        if self.rounds < 0 or self.threads < 1 or self.problems_per_round < 1:
            raise ConfigError("rounds must be >= 0, threads and problems_per_round >= 1")
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


def _coerce(value, annotation, key: str):
    """`value` as the field's declared type (YAML already typed it; ints pass as floats)."""
    origin = typing.get_origin(annotation)
    if annotation is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:  # ints pass as floats; PyYAML (YAML 1.1) reads `3e-4`, without a dot, as a string
            number = float(value)
        except (ValueError, OverflowError):
            number = None
        if number is not None and not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        if number is not None:
            return number
    if origin is tuple or annotation is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(value)
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    expected = {bool: bool, int: int, float: float, str: str, dict: dict}.get(origin or annotation)
    if expected is None:
        return value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {expected.__name__}, got {value!r}")
    return value


def _build(cls, values: dict, where: str):
    """`cls(**values)`, checking keys and types; nested sections built from mappings."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        prefix = f"{where}." if where else ""
        names = ", ".join(f"'{prefix}{name}'" for name in unknown)
        raise ConfigError(f"unknown config key {names}; {where or 'the config'} has {sorted(hints)}")
    if cls is RunConfig:
        _check_train_files_named_with_levels(values)
    built = {}
    for key, value in values.items():
        dotted = f"{where}.{key}" if where else key
        section = SECTIONS.get(key) if cls is RunConfig else None
        built[key] = _build(section, value or {}, dotted) if section else _coerce(value, hints[key], dotted)
        if cls is RunConfig and key in OVERRIDE_MAPPINGS:
            built[key] = _coerce_overrides(built[key], OVERRIDE_MAPPINGS[key], dotted)
    try:
        return cls(**built)
    except TypeError as error:
        raise ConfigError(f"{where or 'config'}: {error}") from None


def _coerce_overrides(values: dict, cls, where: str) -> dict:
    """A mapping of `cls` field overrides, each value as its field's type; unknown names are left to `cls`."""
    hints = typing.get_type_hints(cls)
    return {key: _coerce(value, hints[key], f"{where}.{key}") if key in hints else value
            for key, value in values.items()}


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


def parse_override(text: str) -> tuple[list[str], object]:
    """`"sft.learning_rate=1e-3"` -> (["sft", "learning_rate"], 0.001)."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise ConfigError(f"override {text!r}: expected key=value")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # ValueError: an integer too long to convert
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ConfigError(f"override {shown!r}: value is not YAML ({_one_line(error)[:200]})") from None
    return key.strip().split("."), parsed


def apply_override(values: dict, keys: list[str], value) -> dict:
    """A copy of the nested `values` with `keys` (a dotted path) set to `value`."""
    result = dict(values)
    if len(keys) == 1:
        result[keys[0]] = value
    else:
        inner = result.get(keys[0]) or {}
        if not isinstance(inner, dict):
            raise ConfigError(f"{keys[0]} is not a section; cannot set {'.'.join(keys)}")
        result[keys[0]] = apply_override(inner, keys[1:], value)
    return result


def _one_line(error: BaseException) -> str:
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def read_preset(path: Path) -> object:
    """A preset file's YAML; text that is not UTF-8 or not YAML is a `ConfigError` naming the line."""
    try:
        return yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({error.problem or error.context})") from None
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # ValueError: an integer too long to convert
        raise ConfigError(f"{path}: not valid YAML ({_one_line(error)})") from None


def load_config(preset: str, overrides: list[str] = (), *, now: float | None = None) -> RunConfig:
    """The preset's values with `overrides` laid over them, validated, `out` filled in."""
    path = preset_path(preset)
    values = read_preset(path) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    values = {**values, "preset": values.get("preset") or Path(preset).stem}
    for text in overrides:
        keys, value = parse_override(text)
        values = apply_override(values, keys, value)
    config = _build(RunConfig, values, "")
    if not config.out:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        out = RUNS_HOME.expanduser() / (config.name or f"{config.preset}-{stamp}")
        config = dataclasses.replace(config, out=str(out))
    return dataclasses.replace(config, out=str(Path(config.out).expanduser()))


def from_dict(values: dict) -> RunConfig:
    """A config from its `to_dict` form (a run's config.yaml)."""
    return _build(RunConfig, values, "")


def to_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def differences(old: RunConfig, new: RunConfig, ignore=EXECUTION_FIELDS) -> list[str]:
    """Dotted keys whose values differ between two configs (execution fields left out)."""
    def flat(values: dict, prefix: str = "") -> dict:
        items = {}
        for key, value in values.items():
            if isinstance(value, dict) and key in SECTIONS:
                items.update(flat(value, f"{key}."))
            else:
                items[prefix + key] = value
        return items
    before, after = flat(old.to_dict()), flat(new.to_dict())
    return sorted(key for key in before.keys() | after.keys()
                  if key not in ignore and before.get(key) != after.get(key))
