"""Before the first round: the inputs exist, the hardware can train as asked, and the run directory's
config.yaml agrees with this invocation's (`prepare_run_dir`), so that a run fails before any work
rather than after a round of sampling.

A rerun may change the execution fields (`selfplay.runfiles.runconfig.EXECUTION_FIELDS`: workers,
training precision, batch size, tracker, ...); each change is logged and recorded in
RUN/environment.json. Any other difference is refused, and a config.yaml that cannot be read is
called damaged, naming it, not "other settings".

Knows the config, the run directory's config.yaml and environment record, and torch's view of the
device; nothing about the round's phases.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from selfplay.answering.deliberate import check_model_settings
from selfplay.model.settings import ModelConfigError
from selfplay.runfiles import environment, rundir
from selfplay.runfiles.config_files import read_yaml
from selfplay.runfiles.runconfig import (EXECUTION_FIELDS, ConfigError, RunConfig, differences, flat_config,
                                         from_dict, to_yaml)


def check_inputs(config: RunConfig) -> None:
    """Fail before any work when the model or a task file is missing."""
    model = config.path(config.model)
    if not (model / "config.json").is_file():
        raise FileNotFoundError(f"{model}: no Hugging Face model directory (config.json) there; set model=...")
    try:
        model_config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelConfigError(f"{model / 'config.json'}: not a JSON object ({error})") from None
    if not isinstance(model_config, dict):
        raise ModelConfigError(f"{model / 'config.json'}: not a JSON object")
    check_model_settings(model_config, str(model / "config.json"))
    for name in [*config.train_files, *config.dev_files]:
        if not config.path(name).is_file():
            raise FileNotFoundError(f"{config.path(name)}: no such task file")


def prepare_run_dir(config: RunConfig, log: Callable[[str], None] = print) -> rundir.RunDir:
    """The run directory with config.yaml; a rerun must match the existing config but for execution fields.

    A changed execution field (workers, training precision, batch size, tracker, ...: what does not change
    what was sampled) is logged and recorded in RUN/environment.json's entry for this start. A config.yaml
    that cannot be read, or lacks keys every one holds, is damage (`rundir.DamagedFile`), not other settings."""
    run = rundir.RunDir(config.run_dir())
    rundir.check_kinds([run.config])
    changes = {}
    if run.config.is_file():
        old = read_run_config(run.config)
        changed = differences(old, config)
        if changed:
            raise ConfigError(f"{run.config} was written with other settings ({', '.join(changed)}); "
                              f"continue with the same settings or pick a new --out")
        before, after = flat_config(old), flat_config(config)
        changes = {key: [before.get(key), after.get(key)] for key in EXECUTION_FIELDS
                   if key not in UNRECORDED and before.get(key) != after.get(key)}
        for key, (was, now) in changes.items():
            log(f"{key}: {was!r} -> {now!r} (an execution setting; recorded in {run.path / 'environment.json'})")
    rundir.write_text(run.config, to_yaml(config))
    environment.record_start(run.path, changes)
    return run


# Execution fields that change on a rerun as a matter of course and shift no number: not logged as changes.
UNRECORDED = ("rounds", "name", "out", "preset", "workers", "threads", "sft.log_every")
# Keys every run's config.yaml has held (`to_yaml` writes every field, in order, sections after the scalars):
# one that lacks any was cut short. Fields added since (curriculum, tools, ...) take their defaults in an
# older run's file, so they cannot be required.
WRITTEN_SINCE_THE_START = ("model", "seed", "train_files", "dev_files", "sampling", "selection", "sft", "eval")


def read_run_config(path: Path) -> RunConfig:
    """A run's config.yaml; DamagedFile naming it when it is not UTF-8 YAML, lacks a key every one holds
    (cut short), or holds a value no config takes."""
    remedy = ("restore it from a copy, or (if you know the run's settings) delete it and rerun with them: "
              "the rounds already written are kept")
    try:
        values = read_yaml(path)
    except ConfigError as error:
        raise rundir.DamagedFile(f"{path}: damaged, not a config this lab wrote ({error}); {remedy}") from None
    missing = [name for name in WRITTEN_SINCE_THE_START if name not in values]
    if missing:
        raise rundir.DamagedFile(f"{path}: damaged (cut short?): it lacks {', '.join(missing)}, which every run's "
                                 f"config.yaml holds; {remedy}")
    try:
        return from_dict(values)
    except ConfigError as error:
        raise rundir.DamagedFile(f"{path}: damaged: {error}; {remedy}") from None


def check_hardware(config: RunConfig, executor) -> None:
    """ConfigError naming the key before any work when the training precision asked for cannot run where
    the adapter is trained (the executor's `training_device()`, else this process): a bf16 run on a machine
    without it used to sample a whole round and then die in training."""
    asks = [key for key, wanted in (("sft.bf16", config.sft.bf16), ("sft.fp16", config.sft.fp16)) if wanted]
    if not asks:
        return
    probe = getattr(executor, "training_device", None)
    device = probe() if probe is not None else local_device()
    for key in asks:
        precision = key.removeprefix("sft.")
        if precision not in device.get("precisions", ()):
            raise ConfigError(f"{key}=true, but the adapter is trained on {device.get('name', 'this machine')}, "
                              f"which has no {precision} support; set {key}=false (an execution setting: a run "
                              f"already started continues with it)")


def local_device() -> dict:
    """This process's training device and the mixed precisions it supports."""
    import torch

    if not torch.cuda.is_available():
        return {"name": "the CPU (no CUDA device visible)", "precisions": ()}
    precisions = ("fp16", "bf16") if torch.cuda.is_bf16_supported() else ("fp16",)
    return {"name": torch.cuda.get_device_name(0), "precisions": precisions}
