"""The checks of the model-running commands' flags (`--device`, `--model`'s config.json and weights,
`--adapter`), run before any weights load, so a bad flag ends in a one-line `UsageError`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from selfplay.answering.deliberate import check_model_settings


class UsageError(ValueError):
    """A flag whose value cannot work here: a device this machine lacks, a model or adapter that cannot load."""


def _read_json_file(path: Path) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: not valid JSON ({error.msg}, column {error.colno})") from None
    except (RecursionError, ValueError):
        raise UsageError(f"{path}: not valid JSON (nested too deeply or an integer too long)") from None


def _one_line(error: BaseException) -> str:
    """A library's (often multi-line) message folded into one line."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def _check_weights(path: Path) -> None:
    """A safetensors file whose header reads (a truncated or junk one fails here, not deep in a loader)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt"):
            pass
    except (SafetensorError, OSError) as error:
        raise UsageError(f"{path}: not a readable safetensors file ({_one_line(error)})") from None


def check_device(text: str) -> None:
    """`--device`: a torch device that exists on this machine (cpu, cuda, cuda:N, mps)."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {text!r}: not a torch device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {text}: no CUDA device is visible on this machine; use --device cpu")
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device {text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {text}: no MPS device on this machine; use --device cpu")
    elif device.type != "cpu":
        raise UsageError(f"--device {text}: the lab runs models on cpu, cuda or mps")


def check_model_dir(model: str) -> None:
    """`--model`: its config.json reads as JSON and as a transformers config, its weights' header reads
    (a missing directory or config.json is left to the loader, whose message already says so)."""
    config = Path(model) / "config.json"
    if not config.is_file():
        return
    settings = _read_json_file(config)
    if not isinstance(settings, dict):
        raise UsageError(f"{config}: not a JSON object")
    check_model_settings(settings, str(config))
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(model)
    except (OSError, ValueError, KeyError, TypeError, StrictDataclassError) as error:
        raise UsageError(f"{config}: not a usable model config: {_one_line(error)}") from None
    if (Path(model) / "model.safetensors").is_file():
        _check_weights(Path(model) / "model.safetensors")


def check_adapter_dir(adapter: str) -> None:
    """`--adapter`: a PEFT adapter directory whose adapter_config.json loads, named as the adapter
    (the model loader would report any failure as the model's)."""
    folder = Path(adapter)
    if not folder.is_dir():
        raise UsageError(f"{adapter}: no such adapter directory")
    config = folder / "adapter_config.json"
    if not config.is_file():
        raise UsageError(f"{adapter}: no adapter_config.json, not a PEFT adapter directory")
    _read_json_file(config)
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        _check_weights(weights)
    elif not (folder / "adapter_model.bin").is_file():
        raise UsageError(f"{adapter}: no adapter_model.safetensors, not a saved PEFT adapter")
    from peft import PeftConfig

    try:
        PeftConfig.from_pretrained(adapter)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{config}: not a usable adapter config: {_one_line(error)}") from None


def check_model_flags(args: argparse.Namespace) -> None:
    """The model-running commands' --device, --model and --adapter, before any weights load."""
    if getattr(args, "device", None):
        check_device(args.device)
    check_model_dir(args.model)
    if args.adapter:
        check_adapter_dir(args.adapter)
