"""The run directory of `jobs.improve`: where each artifact lives, and how it is written safely.

    RUN/config.yaml                  the resolved config
    RUN/round-0/eval.json            the base model: fast and deliberate dev accuracy
    RUN/round-K/trees.jsonl.gz       one tree per training problem, appended as results arrive
               sft.jsonl rm.jsonl    selected traces (prompt/completion), preference pairs
               adapter/              PEFT LoRA adapter (+ training.json: the trainer's numbers)
               reward_model/         when trained
               metrics.json          selection stats, train loss, eval, compute, wall
               DONE                  written last; a round without it is resumed

Every whole file is written to a temporary name in the same folder, fsynced and renamed; a
directory (the adapter) is built in a temporary sibling and renamed. Temporaries start with a
dot and are swept when a round is resumed.

The trees file is the one file that grows: `append_trees` adds one gzip member per call and
fsyncs, so after a crash the file is some complete members plus at most one torn one.
`read_trees_prefix` reads the complete members only (a torn member at the end is not an error,
a bad one before it is), and `repair_trees` cuts the torn tail so appending can go on.

Knows the layout, JSON, gzip and the tree format's validation; nothing about models or search.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from search import Tree, TreeFormatError


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


# --- whole files -------------------------------------------------------------------------------

def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary sibling, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; run files are meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, value) -> Path:
    return write_text(path, json.dumps(value, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


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

def append_trees(path: str | os.PathLike, trees: Iterable[dict]) -> None:
    """Append the trees as one gzip member (one JSON line each), then flush and fsync."""
    data = "".join(json.dumps(tree, separators=(",", ":")) + "\n" for tree in trees).encode()
    member = gzip.compress(data, mtime=0)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as out:
        out.write(member)
        out.flush()
        os.fsync(out.fileno())


def _complete_members(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(decompressed text, end offset) of each complete gzip member; stops at a torn one."""
    offset = 0
    while offset < len(data):
        inflater = zlib.decompressobj(wbits=31)
        try:
            text = inflater.decompress(data[offset:])
        except zlib.error:
            return  # a torn header or body; a CRC mismatch on a full member is caught the same way
        if not inflater.eof:
            return
        offset = len(data) - len(inflater.unused_data)
        yield text, offset


def _trees_in(text: bytes, path, member: int) -> list[dict]:
    trees = []
    for line in text.decode("utf-8").splitlines():
        if not line.strip():
            continue
        try:
            tree = json.loads(line)
            Tree.from_dict(tree)
        except (json.JSONDecodeError, TreeFormatError) as error:
            raise TreeFormatError(f"{path}: member {member}: a bad tree ({error})") from None
        trees.append(tree)
    return trees


def scan_trees(path: str | os.PathLike) -> tuple[list[dict], int]:
    """(trees of the complete members, byte length of those members); ([], 0) for no file."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    trees, valid = [], 0
    for number, (text, end) in enumerate(_complete_members(path.read_bytes())):
        trees.extend(_trees_in(text, path, number))
        valid = end
    return trees, valid


def read_trees_prefix(path: str | os.PathLike) -> list[dict]:
    """Every tree in the complete gzip members of `path` (a torn last member is left out)."""
    return scan_trees(path)[0]


def repair_trees(path: str | os.PathLike) -> int:
    """Cut a torn tail off the trees file (atomically); returns the number of bytes dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    data = path.read_bytes()
    _, valid = scan_trees(path)
    if valid < len(data):
        write_bytes(path, data[:valid])
    return len(data) - valid
