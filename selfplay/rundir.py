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
and renamed; a directory (the adapter) is built in a temporary sibling and renamed.
Temporaries start with a dot and are swept when a round is resumed. `lock_run` keeps a second
process off a run directory while one writes it; the lock goes with the process that held it.

The trees file is the one file that grows: `append_trees` adds one gzip member per call and
fsyncs, so after a crash the file is some complete members plus at most one torn one: a
prefix of a member, the last thing in the file. Only that is forgiven. While a round samples,
`read_trees_prefix` leaves a torn last member out and `repair_trees` cuts it so appending can go
on; once sampling is over (the round's sft.jsonl or DONE is there) the file must be whole.
Damage anywhere else (a corrupt member, one cut short with complete members after it) is a
`DamagedFile` error naming the file, the byte and what to do: trees are never dropped silently.
`drop_duplicate_trees` undoes what two runs sharing a directory (before the lock) left: a
problem with two trees. A JSON file cut short or holding something other than an object is a
`DamagedFile` too, naming the file and how to have it written again.

Knows the layout, JSON, gzip and the tree format's validation; nothing about models or search.
"""
from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import os
import re
import shutil
import socket
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from search import FORMAT, Tree, TreeFormatError

FILE_MODE = 0o644  # run files are meant to be read by others; mkstemp alone makes 0600
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

    def finished_rounds(self) -> list[int]:
        """Indices K >= 1 of rounds with DONE, ascending."""
        return self.rounds_holding("DONE")

    def drop_duplicate_trees(self) -> dict[int, list[str]]:
        """In each round still sampling, keep only the first tree of every problem (runs that shared the
        directory before it was locked wrote some twice); round -> ids of the problems whose extra trees went."""
        dropped = {}
        for index in self.rounds_holding("trees.jsonl.gz"):
            round_dir = self.round(index)
            if not round_dir.sampling_over():
                dropped[index] = drop_duplicate_trees(round_dir.trees)
        return {index: ids for index, ids in dropped.items() if ids}


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
    """Write `data` to `path` atomically (temporary sibling, fsync, rename)."""
    with atomic_file(path) as out:
        out.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


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


@contextlib.contextmanager
def staging_dir(final: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling of `final` to fill; renamed to `final` when the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield staging
        staging.chmod(0o755)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


# --- the growing trees file --------------------------------------------------------------------

def tree_member(trees: Iterable[dict]) -> bytes:
    """One gzip member holding the trees, one JSON line each (mtime 0: the same trees give the same bytes)."""
    return gzip.compress("".join(json.dumps(tree, separators=(",", ":")) + "\n" for tree in trees).encode(), mtime=0)


def append_trees(path: str | os.PathLike, trees: Iterable[dict]) -> None:
    """Append the trees as one gzip member (one JSON line each), then flush and fsync."""
    member = tree_member(trees)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(handle, "ab") as out:
        if os.fstat(handle).st_size == 0:
            with contextlib.suppress(PermissionError):
                os.fchmod(handle, FILE_MODE)  # the mode of every run file, whatever the umask
        out.write(member)
        out.flush()
        os.fsync(handle)


@dataclass(frozen=True)
class TreesScan:
    """What a trees file holds: the trees of its complete members, grouped by member, and its sizes."""

    members: list[list[dict]]
    complete_bytes: int  # bytes of the complete members
    size: int  # bytes of the file

    @property
    def trees(self) -> list[dict]:
        return [tree for member in self.members for tree in member]

    @property
    def torn(self) -> int:
        """Bytes of the torn last member (0 when the file is whole)."""
        return self.size - self.complete_bytes


_CHUNK = 1 << 16
_MEMBER_START = b"\x1f\x8b\x08"  # gzip magic and deflate, as every member append_trees writes begins


def _inflate(data: memoryview, offset: int) -> tuple[bytes, int] | None:
    """(text, end offset) of the gzip member at `offset`; None when the data stops inside it; zlib.error if corrupt.

    Fed in chunks, so the decompressor never copies the rest of the file after a member.
    """
    inflater, parts, position = zlib.decompressobj(wbits=31), [], offset
    while not inflater.eof and position < len(data):
        chunk = data[position:position + _CHUNK]
        parts.append(inflater.decompress(chunk))
        position += len(chunk)
    if not inflater.eof:
        return None
    return b"".join(parts), position - len(inflater.unused_data)


def _complete_member_after(raw: bytes, data: memoryview, start: int) -> int | None:
    """The offset of the first complete gzip member that begins after `start`, if any."""
    position = raw.find(_MEMBER_START, start + 1)
    while position != -1:
        with contextlib.suppress(zlib.error):
            if _inflate(data, position) is not None:
                return position
        position = raw.find(_MEMBER_START, position + 1)
    return None


def _trees_in(text: bytes, path, member: int, first_line: int) -> list[dict]:
    """The trees of one member's text, each checked; TreeFormatError names the file's line."""
    try:
        lines = text.decode("utf-8").split("\n")  # not splitlines: U+2028 may sit inside a JSON string
    except UnicodeDecodeError as error:
        raise TreeFormatError(f"{path}:{first_line}: gzip member {member} is not UTF-8 text ({error.reason})") from None
    trees = []
    for number, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            tree = json.loads(line)
            Tree.from_dict(tree)
        except json.JSONDecodeError as error:
            raise TreeFormatError(f"{path}:{number}: not valid JSON ({error.msg}; gzip member {member})") from None
        except TreeFormatError as error:
            raise TreeFormatError(f"{path}:{number}: {error} (gzip member {member}; this lab reads {FORMAT})") \
                from None
        trees.append(tree)
    return trees


def _round_of(path: Path) -> RoundDir | None:
    match = re.fullmatch(r"round-(\d+)", path.parent.name)
    return RoundDir(path.parent, int(match.group(1))) if match and int(match.group(1)) > 0 else None


def scan_trees(path: str | os.PathLike, *, whole: bool | None = None) -> TreesScan:
    """The complete members of a trees file. A torn last member is left out (`torn` counts its bytes)
    unless the file must be `whole`; any other damage is DamagedFile. A missing file holds nothing.

    `whole` defaults to whether the file is the trees file of a round whose sampling is over.
    """
    path = Path(path)
    round_dir = _round_of(path)
    if whole is None:
        whole = round_dir is not None and round_dir.sampling_over()
    if not path.is_file():
        if round_dir is not None and round_dir.sampling_over():
            raise DamagedFile(f"{path}: missing, though round {round_dir.index}'s sampling is over. "
                              + _trees_remedy(path, 0, 0, whole=True))
        return TreesScan([], 0, 0)
    raw = path.read_bytes()
    data, members, offset, lines = memoryview(raw), [], 0, 1
    while offset < len(raw):
        intact = sum(map(len, members))
        where = f"{path}: damaged at byte {offset} of {len(raw)}: gzip member {len(members)}"
        try:
            inflated = _inflate(data, offset)
        except zlib.error as error:
            raise DamagedFile(f"{where} is corrupt ({error}). " + _trees_remedy(path, offset, intact, whole)) from None
        if inflated is None:
            later = _complete_member_after(raw, data, offset)
            if later is not None:
                raise DamagedFile(f"{where} stops short, yet a complete member follows at byte {later}. "
                                  + _trees_remedy(path, offset, intact, whole))
            if whole:
                raise DamagedFile(f"{where} is cut short ({len(raw) - offset} bytes of it are there). "
                                  + _trees_remedy(path, offset, intact, whole))
            break  # a torn last append
        text, offset = inflated
        members.append(_trees_in(text, path, len(members), lines))
        lines += text.count(b"\n")
    return TreesScan(members, offset, len(raw))


def _trees_remedy(path: Path, offset: int, intact: int, whole: bool) -> str:
    """What to do about a damaged trees file (`intact`: the trees before byte `offset`)."""
    round_dir = _round_of(path)
    if whole and round_dir is not None:
        return (f"Round {round_dir.index}'s sampling is over, so its trees file must be whole and nothing is cut: "
                f"restore it from a copy, or delete {round_dir.path.name}/ and the rounds after it and rerun to "
                f"redo them")
    if whole:
        return "Restore the file from a copy or write it again"
    rerun = " and rerun: the round samples the rest again" if round_dir is not None else ""
    return (f"Only a torn last append is cut by itself. To keep the {intact} intact trees before that byte, cut "
            f"the file there (truncate -s {offset} {path}){rerun}; or restore it from a copy")


def read_trees_prefix(path: str | os.PathLike) -> list[dict]:
    """Every tree in the complete gzip members of `path` (a torn last member of a sampling round is left out)."""
    return scan_trees(path).trees


def repair_trees(path: str | os.PathLike) -> int:
    """Cut a torn last member off a sampling round's trees file (atomically); returns the bytes dropped."""
    path = Path(path)
    scan = scan_trees(path)
    if scan.torn:
        write_bytes(path, path.read_bytes()[:scan.complete_bytes])
    return scan.torn


def drop_duplicate_trees(path: str | os.PathLike) -> list[str]:
    """Rewrite a trees file keeping the first tree of each problem; returns the ids whose later trees went.

    The file is left alone when no problem is there twice. A torn last member goes with the rewrite.
    """
    scan = scan_trees(path)
    seen, dropped, members = set(), [], []
    for member in scan.members:
        kept = []
        for tree in member:
            if tree["problem_id"] in seen:
                dropped.append(tree["problem_id"])
            else:
                seen.add(tree["problem_id"])
                kept.append(tree)
        if kept:
            members.append(tree_member(kept))
    if dropped:
        write_bytes(path, b"".join(members))
    return dropped
