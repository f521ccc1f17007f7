"""What a model declares about itself in config.json's `selfplay_*` keys, read with their shapes checked.

    declared_per_task(config, "selfplay_pricing")   # {"countdown": {"answer_tokens": 432, ...}}
    declared_retries(config)                         # True: its answers search in their own text
    declared_tools(config)                           # ["calculator"]

`config` is a model's config.json as a dict. A key of the wrong shape raises ModelConfigError, which
names the file and the key; the values inside a task's object are checked by their users
(`selfplay.answering.deliberate.check_model_settings`: prices and search settings).

Knows the keys' shapes; nothing about torch, tasks or search, so a driver can check a model's
settings before it loads any weights.
"""
from __future__ import annotations


DEFAULT_WHERE = "the model's config.json"  # how a message names the file when the caller does not


class ModelConfigError(ValueError):
    """A model's declared settings (config.json's `selfplay_*` keys) the lab cannot use; names the key."""


def declared_per_task(config: dict, key: str, where: str = DEFAULT_WHERE) -> dict:
    """config.json's mapping of task name -> settings object under `key` ({} when absent), its shape
    checked (the values are checked by who uses them: `selfplay.answering.deliberate.check_model_settings`)."""
    declared = config.get(key)
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise ModelConfigError(f"{where}: {key} must map task names to objects, got {declared!r}")
    for task, value in declared.items():
        if not isinstance(value, dict):
            raise ModelConfigError(f"{where}: {key} for {task!r} must be an object, got {value!r}")
    return dict(declared)


def declared_retries(config: dict, where: str = DEFAULT_WHERE) -> bool:
    """config.json's `selfplay_retries`: true or false only ("false", 12345, [1] or NaN all used to mean true)."""
    retries = config.get("selfplay_retries", False)
    if not isinstance(retries, bool):
        raise ModelConfigError(f"{where}: selfplay_retries must be true or false, got {retries!r}")
    return retries


def declared_tools(config: dict, where: str = DEFAULT_WHERE) -> list[str]:
    """config.json's `selfplay_tools`: a list of tool names ([] when absent); a string was read letter by letter."""
    tools = config.get("selfplay_tools") or []
    if not isinstance(tools, list) or not all(isinstance(name, str) for name in tools):
        raise ModelConfigError(f"{where}: selfplay_tools must be a list of tool names, got {tools!r}")
    return tools
