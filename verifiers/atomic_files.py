"""Atomic files and directories: a crash leaves the old version or the new one, never half of either.

    write_text("runs/x/config.yaml", text)             # or write_bytes(path, data)
    with atomic_file("out/trees.jsonl.gz") as raw:     # a binary file to fill, renamed when the block ends
        raw.write(data)
    with staging_dir("runs/x/round-2/adapter") as staging:
        model.save_pretrained(staging)                 # the whole folder appears at once, or not at all

A file is written to a temporary sibling (`.NAME.XXXXXXXX`, from `mkstemp`, so two writers never
share one), fsynced, given mode 0644 (`mkstemp` alone makes 0600) and renamed over its path. A
directory is filled in a temporary sibling (`.NAME-XXXXXXXX`), given mode 0755 (`mkdtemp` alone
makes 0700) and renamed over its path, an old directory there being removed first. When the
block raises, the temporary goes. Temporaries start with a dot, so a run directory can sweep
what a killed process left (`selfplay.runfiles.rundir.RoundDir.sweep_temporaries`).

The one writer of whole files and folders for every layer: the run directory (`selfplay.runfiles.rundir`,
`selfplay.runfiles.treeio`), task files, model directories and model cards in `selfplay`, and the saved
scorers of `verifiers.reward_model`. It lives in `verifiers` because that is the lowest package
both may import: `search` holds no file code, and `verifiers` must not import `selfplay`.

Standard library only; knows files and renames, nothing about what goes in them.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

FILE_MODE = 0o644  # written files are meant to be read by others
DIR_MODE = 0o755


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to fill; when the block succeeds it is fsynced, made 0644 and renamed to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary sibling, fsync, mode 0644, rename); returns the path."""
    with atomic_file(path) as out:
        out.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` as UTF-8, atomically."""
    return write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staging_dir(final: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling of `final` to fill; made 0755 and renamed to `final` when the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield staging
        staging.chmod(DIR_MODE)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
