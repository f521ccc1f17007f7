"""The run directory of `jobs.improve`: where each artifact lives, and how it is written safely.

    RUN/config.yaml                  the resolved config
    RUN/.lock                        names the pid of the one process writing the run (which flocks RUN itself)
    RUN/environment.json, log.txt    each start's commit, versions and device; what the run printed
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

A file that is there but cannot be trusted is a `DamagedFile` naming it and its remedy (`REMEDIES`):
JSON cut short, not UTF-8 or nested past the parser, metrics without their round (`read_metrics`), a
folder where a file belongs (`check_kinds`), an adapter whose safetensors header disagrees with its
length (`check_adapter`). A disk that fills while a run file is saved is `NoSpace` (`no_space`).

The trees file, the one file that grows, is appended to and read by `selfplay.runfiles.treeio`. A JSON
file cut short or holding something other than an object is a `DamagedFile`, naming the file
and how to have it written again; so is a damaged trees file.

Knows the layout, the lock and JSON; a trees file's content is `selfplay.runfiles.treeio`'s, which imports
this module and never the other way; nothing about models or search.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from verifiers.atomic_files import FILE_MODE, atomic_file, staging_dir, write_bytes, write_text

__all__ = ["FILE_MODE", "LOCK_NAME", "DamagedFile", "NoSpace", "RoundDir", "RunDir", "RunError", "RunLocked",
           "atomic_file", "check_adapter", "check_kinds", "lock_run", "no_space", "read_json", "read_jsonl",
           "read_metrics", "staging_dir", "write_bytes", "write_json", "write_jsonl", "write_text"]

LOCK_NAME = ".lock"
UNLOCKABLE_FOLDER = (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL)  # flock on a folder's fd refused


class RunError(ValueError):
    """A run, round, problem or file that is not there or cannot be read: a message for the user."""


class DamagedFile(RunError):
    """A run file that is there but cannot be trusted (cut short, corrupt, of the wrong shape)."""


class RunLocked(RunError):
    """The run directory is being written by another process."""


class NoSpace(RunError):
    """The disk filled up while a run file was saved; nothing half-written is left."""


def no_space(error: OSError, what: str, path: str | os.PathLike) -> NoSpace | None:
    """A `NoSpace` for an ENOSPC (or EDQUOT) `error` raised while saving `what` to `path`, else None."""
    if error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = Path(path).parent
    try:
        free = f"{os.statvfs(where).f_bavail * os.statvfs(where).f_frsize / 2**20:.0f} MiB free now"
    except OSError:
        free = "free space unknown"
    return NoSpace(f"no space left on the device holding {where} while saving {what} {path} ({free}); nothing "
                   f"half-written was kept: free some space and rerun the same command to resume there")


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
        """DONE is there; DamagedFile when something other than a file has its name."""
        check_kinds([self.done_marker])
        return self.done_marker.is_file()

    def check_kinds(self) -> None:
        """DamagedFile naming the first run file of this round that is there as the wrong kind (a folder
        where a file belongs, or a file where the adapter's folder belongs): it would be skipped or read as
        nothing."""
        check_kinds([self.trees, self.sft, self.rm, self.metrics, self.eval, self.done_marker],
                    [self.adapter, self.reward_model])

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

    An exclusive `flock` on the run directory itself, so the lock ends with the process however it
    ends, and deleting a file cannot release it (a lock on RUN/.lock alone let a second run in once
    the file was deleted); RUN/.lock names the holder (pid, host, start) for the message a second run
    gets. A directory this call made and the block left empty is removed again.
    """
    path = Path(path)
    made = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            try:
                fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:  # NFS emulates flock with a write lock, which a directory cannot take
                if isinstance(error, BlockingIOError) or error.errno not in UNLOCKABLE_FOLDER:
                    raise
                os.close(folder)
                folder = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
                fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the lock file's own lock, as it was
        except BlockingIOError:
            try:
                recorded = (path / LOCK_NAME).read_bytes()[:4096]
            except OSError:
                recorded = b""
            raise RunLocked(_locked_message(path, recorded)) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        if stat.S_ISDIR(os.fstat(folder).st_mode):
            write_text(path / LOCK_NAME, json.dumps(holder) + "\n")
        else:  # the locked file itself: written in place, a renamed one would not be the one locked
            os.ftruncate(folder, 0)
            os.pwrite(folder, (json.dumps(holder) + "\n").encode(), 0)
        try:
            yield path
        finally:
            if made and [child.name for child in path.iterdir()] == [LOCK_NAME]:
                (path / LOCK_NAME).unlink()
                path.rmdir()
    finally:
        os.close(folder)


def _locked_message(path: Path, recorded: bytes) -> str:
    try:
        holder = json.loads(recorded)
        who = f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
        stop = f" (or stop it: kill {holder['pid']} on {holder['host']})"
    except (ValueError, TypeError, KeyError):
        who, stop = f"its {LOCK_NAME}, which names it, is not there or not written yet", ""
    return (f"{path} is being written by another run ({who}); two runs on one directory would sample the "
            f"same problems twice. Wait for that run to end{stop}, or give this one another --out")


# --- whole files -------------------------------------------------------------------------------

def write_json(path: str | os.PathLike, value) -> Path:
    return write_text(path, json.dumps(value, indent=2, default=str) + "\n")


REMEDIES = {
    "metrics.json": "delete it and the DONE beside it, then rerun: the round is evaluated again (its adapter is kept)",
    "eval.json": "delete it and rerun: the base model is evaluated again",
    "sft.jsonl": "delete it, rm.jsonl and everything after them in the round (adapter/, metrics.json, DONE), then "
                 "rerun: selection runs again on the round's trees",
    "rm.jsonl": "delete it, sft.jsonl and everything after them in the round (adapter/, metrics.json, DONE), then "
                "rerun: selection runs again on the round's trees",
    "adapter_config.json": "delete the adapter folder and what follows it in the round (metrics.json, DONE), then "
                           "rerun: the round is trained again",
    "adapter_model.safetensors": "delete the adapter folder and what follows it in the round (metrics.json, DONE), "
                                 "then rerun: the round is trained again",
    "training.json": "delete the adapter folder and what follows it in the round (metrics.json, DONE), then "
                     "rerun: the round is trained again",
}
# What every round's metrics.json holds, and round 0's eval.json: the readers index these.
METRICS_KEYS = ("round", "eval")


def _damaged_json(path: Path, problem: str) -> DamagedFile:
    remedy = REMEDIES.get(path.name, "restore it from a copy, or delete it and rerun to write it again")
    return DamagedFile(f"{path}: {problem}; {remedy}")


def read_json(path: str | os.PathLike) -> dict:
    """The JSON object in `path`; DamagedFile (naming the file) when it is cut short or not an object."""
    path = Path(path)
    if path.is_dir():
        raise _damaged_json(path, "a folder where a file belongs")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise _damaged_json(path, "nested too deeply to be this file (corrupt)") from None
    except json.JSONDecodeError as error:
        raise _damaged_json(path, f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}: "
                                  f"cut short or corrupt)") from None
    except UnicodeDecodeError:
        raise _damaged_json(path, "not UTF-8 text (corrupt)") from None
    if not isinstance(value, dict):
        raise _damaged_json(path, f"holds a JSON {type(value).__name__}, not the object this file has")
    return value


def read_metrics(path: str | os.PathLike) -> dict:
    """A round's metrics.json (round 0: eval.json); DamagedFile naming it when it lacks what every one holds."""
    value = read_json(path)
    missing = [key for key in METRICS_KEYS if key not in value]
    if missing:
        raise _damaged_json(Path(path), f"lacks {', '.join(map(repr, missing))}, which every one holds")
    if not isinstance(value["round"], int) or isinstance(value["round"], bool):
        raise _damaged_json(Path(path), f"its \"round\" is {value['round']!r}, not a round number")
    wrong = [key for key in ("eval", "selection", "train", "curriculum", "sampling")
             if value.get(key) is not None and not isinstance(value[key], dict)]
    if wrong:
        raise _damaged_json(Path(path), f"its {', '.join(map(repr, wrong))} is not an object")
    return value


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The rows of a jsonl file; DamagedFile naming the file and line of one that is not a JSON object."""
    rows = []
    if Path(path).is_dir():
        raise _damaged_json(Path(path), "a folder where a file belongs")
    with open(path, encoding="utf-8", errors="strict") as lines:
        for number, line in enumerate(_decoded(Path(path), lines), 1):
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


def _decoded(path: Path, lines) -> Iterator[str]:
    """The lines of a text file opened for UTF-8; DamagedFile naming it where the bytes are not UTF-8."""
    try:
        yield from lines
    except UnicodeDecodeError:
        raise _damaged_json(path, "not UTF-8 text (corrupt)") from None


def check_kinds(files: Iterable[Path], folders: Iterable[Path] = ()) -> None:
    """DamagedFile naming the first of `files` that is there but not a file, or of `folders` there but not one."""
    for path in files:
        if path.exists() and not path.is_file():
            raise DamagedFile(f"{path}: a folder (or other non-file) where the run's file belongs, which would be "
                              f"read as nothing; restore the file from a copy, or remove it and rerun to have "
                              f"it written again")
    for path in folders:
        if path.exists() and not path.is_dir():
            raise DamagedFile(f"{path}: a file where the run's folder belongs; remove it and rerun")


def check_adapter(path: str | os.PathLike) -> None:
    """DamagedFile naming the file when the PEFT adapter in `path` cannot load: adapter_config.json not a
    JSON object naming its LoRA, or adapter_model.safetensors missing, cut short or not safetensors (its
    header is read and the file's length checked against it; no tensor is loaded)."""
    path = Path(path)
    settings = read_json(path / "adapter_config.json") if (path / "adapter_config.json").exists() else None
    if settings is None:
        raise _damaged_json(path / "adapter_config.json", "missing from the adapter")
    if not isinstance(settings.get("peft_type"), str) or not isinstance(settings.get("r"), int):
        raise _damaged_json(path / "adapter_config.json", "not a PEFT adapter config (no peft_type and rank r)")
    weights = path / "adapter_model.safetensors"
    if not weights.is_file():
        raise _damaged_json(weights, "missing from the adapter")
    problem = _safetensors_problem(weights)
    if problem:
        raise _damaged_json(weights, problem)


def _safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file's framing (8-byte header length, JSON header, data length), or None."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"{size} bytes: cut short (empty or no header)"
        length = int.from_bytes(head, "little")
        if length > size - 8:
            return f"its header claims {length} bytes but the file holds {size}: cut short or corrupt"
        try:
            header = json.loads(handle.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return "its header is not JSON: corrupt, not a safetensors file"
    if not isinstance(header, dict):
        return "its header is not a JSON object: corrupt"
    ends = [entry.get("data_offsets", [0, 0])[1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict)]
    needed = 8 + length + max(ends, default=0)
    if size < needed:
        return f"{size} bytes where its header needs {needed}: cut short"
    return None
