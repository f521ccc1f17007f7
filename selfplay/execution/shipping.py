"""How a directory and the base model reach a worker that shares no files with the driver.

    files = pack_dir("RUN/round-1/adapter")        # {relative path: bytes}: one picklable value
    unpack_dir(files, scratch / "adapter")          # on the worker; names that would leave it are refused
    sent = portable_model("/repo/models/base")      # ("models/base", "/repo/models/base") from /repo
    resolve_model(sent)                             # on the worker: its own copy, a shared path or a hub id

Used by `selfplay.execution.ray_runner` to send adapters through Ray's object store and to let each node
load the model from its own working directory. Knows files and paths only; nothing about Ray.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

Files = dict[str, bytes]  # a directory's files: relative POSIX path -> content


def pack_dir(path: str | os.PathLike) -> Files:
    """Every file under `path` (recursively) by relative POSIX path: a directory as one picklable value."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory to send to the workers")
    return {file.relative_to(root).as_posix(): file.read_bytes() for file in sorted(root.rglob("*"))
            if file.is_file()}


def unpack_dir(files: Files, path: str | os.PathLike) -> Path:
    """Write `files` (from `pack_dir`) under `path`, refusing names that would leave it."""
    root = Path(path)
    for name, content in files.items():
        target = root / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"refusing to unpack {name!r} outside {root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def portable_model(model_dir: str) -> tuple[str | None, str]:
    """(the model's path relative to this process's working directory when it lies inside it, the path)."""
    path = Path(model_dir)
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix(), model_dir
        except ValueError:
            return None, model_dir
    return (path.as_posix() if path.exists() else None), model_dir


def resolve_model(model: tuple[str | None, str]) -> str:
    """Where this node finds the base model (see the module docstring); FileNotFoundError naming the node."""
    relative, given = model
    if relative is not None and os.path.isdir(relative):
        return os.path.abspath(relative)
    if os.path.exists(given):
        return given
    if os.path.isabs(given) or relative is not None or given.startswith("."):
        raise FileNotFoundError(
            f"base model {given!r} is not on node {socket.gethostname()} (working directory {os.getcwd()}): "
            "ship it inside the job's --working-dir or give a path every node sees")
    return given  # not a path: a model id the loader resolves itself
