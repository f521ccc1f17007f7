"""The run directory of `jobs.improve`: where each artifact lives, and how it is written safely.

    RUN/config.yaml                  the resolved config
    RUN/.lock                        held (flock) by the one process writing the run; names its pid
    RUN/round-0/eval.json            the base model: fast and deliberate dev accuracy
    RUN/round-K/trees.jsonl.gz       one tree per training problem, appended as results arrive
               sft.jsonl rm.jsonl    selected traces (prompt/completion), preference pairs
               adapter/              PEFT LoRA adapter (+ training.json: the trainer's numbers)
               reward_model/         when trained
               metrics.json          selection stats, train loss, eval, compute, wall
               DONE                  written last; a round without it is resumed

Every whole file is written to a temporary name in the same folder, fsynced, given mode 0644
and renamed; a directory (the adapter) is built in a temporary sibling and renamed. Those
writers are `verifiers.atomic_files`' (`atomic_file`, `write_bytes`, `write_text`,
`staging_dir`), named here too so that run code writes through its run directory; `write_json`
and `write_jsonl` add the run files' JSON layout. Temporaries start with a dot and are swept
when a round is resumed. `lock_run` keeps a second process off a run directory while one writes
it; the lock goes with the process that held it.

The trees file, the one file that grows, is appended to and read by `selfplay.runfiles.treeio`. A JSON
file cut short or holding something other than an object is a `DamagedFile`, naming the file
and how to have it written again; so is a damaged trees file.

Knows the layout, the lock and JSON; a trees file's content is `selfplay.runfiles.treeio`'s, which imports
this module and never the other way; nothing about models or search.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from verifiers.atomic_files import FILE_MODE, atomic_file, staging_dir, write_bytes, write_text

__all__ = ["FILE_MODE", "LOCK_NAME", "DamagedFile", "RoundDir", "RunDir", "RunError", "RunLocked", "atomic_file",
           "lock_run", "read_json", "read_jsonl", "staging_dir", "write_bytes", "write_json", "write_jsonl",
           "write_text"]

LOCK_NAME = ".lock"


class RunError(ValueError):
    """A run, round, problem or file that is not there or cannot be read: a message for the user."""


class DamagedFile(RunError):
    """A run file that is there but cannot be trusted (cut short, corrupt, of the wrong shape)."""


class RunLocked(RunError):
    """The run directory is being written by another process."""


@dataclass(frozen=True)
class RoundDir:
    path: Path
    index: int

    trees = property(lambda self: self.path / "trees.jsonl.gz")
    sft = property(lambda self: self.path / "sft.jsonl")
    rm = property(lambda self: self.path / "rm.jsonl")
    adapter = property(lambda self: self.path / "adapter")
    reward_model = property(lambda self: self.path / "reward_model")
    metrics = property(lambda self: self.path / "metrics.json")
    eval = property(lambda self: self.path / "eval.json")
    done_marker = property(lambda self: self.path / "DONE")

    def is_done(self) -> bool:
        return self.done_marker.is_file()

    def sampling_over(self) -> bool:
        """Selection wrote sft.jsonl (or the round is done): the trees file is final and must be whole."""
        return self.sft.is_file() or self.is_done()

    def mark_done(self) -> None:
        write_text(self.done_marker, "done\n")

    def sweep_temporaries(self) -> list[str]:
        """Remove temporaries a crash left behind (dot-names); returns their names."""
        swept = []
        for leftover in sorted(self.path.glob(".*")) if self.path.is_dir() else []:
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            swept.append(leftover.name)
        return swept


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    def round(self, index: int) -> RoundDir:
        return RoundDir(self.path / f"round-{index}", index)

    def rounds_holding(self, name: str) -> list[int]:
        """Indices K >= 1 of rounds whose folder holds the file `name`, ascending."""
        found = []
        for child in self.path.glob("round-*"):
            suffix = child.name.removeprefix("round-")
            if suffix.isdigit() and int(suffix) > 0 and (child / name).is_file():
                found.append(int(suffix))
        return sorted(found)


# --- one writer at a time ----------------------------------------------------------------------

@contextlib.contextmanager
def lock_run(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the run directory `path` (made if missing) for the block; RunLocked when another process does.

    An exclusive `flock` on RUN/.lock, so the lock ends with the process however it ends; the file
    names the holder (pid, host, start) for the message a second run gets. A directory this call
    made and the block left empty is removed again.
    """
    path = Path(path)
    made = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    handle = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(_locked_message(path, os.pread(handle, 4096, 0))) from None
        with contextlib.suppress(PermissionError):
            os.fchmod(handle, FILE_MODE)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(handle, 0)
        os.pwrite(handle, (json.dumps(holder) + "\n").encode(), 0)
        try:
            yield path
        finally:
            if made and [child.name for child in path.iterdir()] == [LOCK_NAME]:
                (path / LOCK_NAME).unlink()
                path.rmdir()
    finally:
        os.close(handle)


def _locked_message(path: Path, recorded: bytes) -> str:
    try:
        holder = json.loads(recorded)
        who = f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
        stop = f" (or stop it: kill {holder['pid']} on {holder['host']})"
    except (ValueError, TypeError, KeyError):
        who, stop = "it has not written its pid yet", ""
    return (f"{path} is being written by another run ({who}); two runs on one directory would sample the "
            f"same problems twice. Wait for that run to end{stop}, or give this one another --out")


# --- whole files -------------------------------------------------------------------------------

def write_json(path: str | os.PathLike, value) -> Path:
    return write_text(path, json.dumps(value, indent=2, default=str) + "\n")


REMEDIES = {
    "metrics.json": "delete it and the DONE beside it, then rerun: the round is evaluated again (its adapter is kept)",
    "eval.json": "delete it and rerun: the base model is evaluated again",
}


def _damaged_json(path: Path, problem: str) -> DamagedFile:
    remedy = REMEDIES.get(path.name, "restore it from a copy, or delete it and rerun to write it again")
    return DamagedFile(f"{path}: {problem}; {remedy}")


def read_json(path: str | os.PathLike) -> dict:
    """The JSON object in `path`; DamagedFile (naming the file) when it is cut short or not an object."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise _damaged_json(path, f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}: "
                                  f"cut short or corrupt)") from None
    except UnicodeDecodeError:
        raise _damaged_json(path, "not UTF-8 text (corrupt)") from None
    if not isinstance(value, dict):
        raise _damaged_json(path, f"holds a JSON {type(value).__name__}, not the object this file has")
    return value


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The rows of a jsonl file; DamagedFile naming the file and line of one that is not a JSON object."""
    rows = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise _damaged_json(Path(path), f"line {number} is not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise _damaged_json(Path(path), f"line {number} is not a JSON object")
            rows.append(row)
    return rows
