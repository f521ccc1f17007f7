"""What a run ran on: RUN/environment.json, one entry per start of `jobs.improve` on the run directory.

    {"starts": [{"time": "2026-12-07 22:30:00", "git": {"commit": "ee18a5e...", "dirty": true},
                 "python": "3.11.9", "versions": {"torch": "2.9.0", "transformers": "5.0.0", ...},
                 "device": "cpu", "changed": {"sft.bf16": [true, false]}}]}

`changed` holds the execution settings (`runconfig.EXECUTION_FIELDS`) this start changed from the
last one, as [before, after]: a run whose numbers shift between rounds says why. The file is
rewritten whole (atomically) with the new entry appended.

Knows git, the installed packages' versions and the run directory; nothing about models or rounds.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path

from selfplay.runfiles import rundir

NAME = "environment.json"
PACKAGES = ("torch", "transformers", "peft", "trl", "datasets", "ray")
REPO = Path(__file__).resolve().parents[2]


def git_state(repo: Path = REPO) -> dict | None:
    """The checkout's commit and whether it has uncommitted changes; None outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=20,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def versions() -> dict[str, str | None]:
    """Installed versions of the libraries a run's numbers depend on (None: not installed)."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def device() -> str:
    """The driver's accelerator: the CUDA device's name, or cpu (actors on other nodes may differ)."""
    try:
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "unknown"


def describe() -> dict:
    return {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "host": platform.node(), "pid": os.getpid(),
            "git": git_state(), "python": platform.python_version(), "versions": versions(), "device": device()}


def record_start(run_path: str | os.PathLike, changed: dict) -> Path:
    """Append this start (`describe()` and the changed execution settings) to RUN/environment.json."""
    path = Path(run_path) / NAME
    starts = rundir.read_json(path).get("starts", []) if path.exists() else []
    if not isinstance(starts, list):
        raise rundir.DamagedFile(f"{path}: its \"starts\" is not a list; delete it and rerun (it is only a record)")
    return rundir.write_json(path, {"starts": [*starts, {**describe(), "changed": changed}]})
