"""Reading a configuration: one builder of frozen config dataclasses from YAML values, and one
YAML reader, for the run configuration (`selfplay.runfiles.runconfig`) and the built-in model's recipe
(`selfplay.builtin_model.pretrain_config`) alike.

`build_config(cls, values)` checks every key against the dataclass's fields (an unknown one is a
`ConfigError` naming it and the known ones), builds a field typed as a dataclass from its nested
mapping, and gives every other value its declared type (`coerce`: YAML typed it already; an int
passes as a float, a list as a tuple). The dataclass's own `__post_init__` checks the values.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Shape:
    ...     width: float = 1.0
    ...     sizes: tuple = ()
    >>> build_config(Shape, {"width": 3, "sizes": [1, 2]})
    Shape(width=3.0, sizes=(1, 2))

Knows YAML and dataclasses; no field of any config.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A preset or override that cannot be turned into a config (unknown key, bad value)."""


def coerce(value, annotation, key: str):
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


def parse_override(text: str) -> tuple[list[str], object]:
    """`"sft.learning_rate=1e-3"` -> (["sft", "learning_rate"], 0.001)."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise ConfigError(f"override {text!r}: expected key=value")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # ValueError: an integer too long to convert
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ConfigError(f"override {shown!r}: value is not YAML ({one_line(error)[:200]})") from None
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


def one_line(error: BaseException) -> str:
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
        raise ConfigError(f"{path}: not valid YAML ({one_line(error)})") from None


def build_config(cls, values: dict, where: str = "", builders: Mapping[str, Callable] | None = None):
    """`cls(**values)`, checking keys and types; a field typed as a dataclass is built from its mapping;
    `builders` maps a field name to `(value, dotted key) -> value`, for a field that needs more."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
    hints = {name: hint for name, hint in typing.get_type_hints(cls).items()
             if name in {option.name for option in dataclasses.fields(cls)}}  # fields, not ClassVars
    unknown = sorted(set(values) - set(hints))
    if unknown:
        prefix = f"{where}." if where else ""
        names = ", ".join(f"'{prefix}{name}'" for name in unknown)
        raise ConfigError(f"unknown config key {names}; {where or 'the config'} has {sorted(hints)}")
    built = {}
    for key, value in values.items():
        dotted = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(hints[key]):
            built[key] = build_config(hints[key], value or {}, dotted)
        else:
            built[key] = coerce(value, hints[key], dotted)
        if builders and key in builders:
            built[key] = builders[key](built[key], dotted)
    try:
        return cls(**built)
    except TypeError as error:
        raise ConfigError(f"{where or 'config'}: {error}") from None


def coerce_overrides(values: dict, cls, where: str, renamed: Mapping[str, str] | None = None) -> dict:
    """A mapping of `cls` field overrides, each value as its field's type (a name in `renamed`, an older
    spelling, read as its new name); unknown names are left to `cls`."""
    hints = typing.get_type_hints(cls)
    values = {(renamed or {}).get(key, key): value for key, value in values.items()}
    return {key: coerce(value, hints[key], f"{where}.{key}") if key in hints else value
            for key, value in values.items()}


def read_yaml(path: str | Path) -> dict:
    """A config file's mapping (an empty file: {}); anything else is a `ConfigError` naming the file."""
    values = read_preset(Path(path)) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    return values
