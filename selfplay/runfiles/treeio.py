"""Trees files: `trees.jsonl.gz`, one `selfplay.tree/1` object per line, gzip.

    write_trees("out/trees/mcts-8.jsonl.gz", [tree.to_dict() for tree in trees])   # at once
    for tree in read_trees("out/trees/mcts-8.jsonl.gz"): ...                      # the whole file, as Trees
    append_trees("RUN/round-2/trees.jsonl.gz", [tree.to_dict()])   # a sampling round, as results arrive
    read_trees_prefix("RUN/round-2/trees.jsonl.gz")      # what it holds so far

Writing takes the stored dicts (`Tree.to_dict`); reading gives `search.Tree` objects, each line
parsed once, so no reader walks dicts. For every line that `to_dict` wrote, `to_dict` of the
tree read gives the same keys in the same order: a rewritten file keeps its trees' bytes.

A whole file is written through `verifiers.atomic_files.atomic_file` (a temporary in the same
folder, fsynced, mode 0644, renamed), so a crash leaves the old file or the new one, and every
run file has the same mode. Reading wants the whole file: a file cut short or corrupt anywhere is a
`rundir.DamagedFile` naming the byte, a tree of another format a TreeFormatError naming the
line.

A round's trees file is the one run file that grows: `append_trees` adds one gzip member per
call and fsyncs, so after a crash the file is some complete members plus at most one torn one:
a prefix of a member, the last thing in the file. Only that is forgiven. While a round samples,
`read_trees_prefix` leaves a torn last member out and `repair_trees` cuts it so appending can go
on; once sampling is over (the round's sft.jsonl or DONE is there) the file must be whole.
Damage anywhere else (a corrupt member, one cut short with complete members after it) is a
`DamagedFile` naming the file, the byte and what to do: trees are never dropped silently.
`drop_duplicate_trees` undoes what two runs sharing a directory (before the lock) left: a
problem with two trees.

Knows the tree format (from `search`), gzip, the run's layout and the atomic file writer; nothing
about models or search algorithms.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from search import FORMAT, Tree, TreeFormatError
from selfplay.runfiles.rundir import DamagedFile, RoundDir, RunDir
from verifiers.atomic_files import FILE_MODE, atomic_file, write_bytes


def write_trees(path: str | os.PathLike, trees: Iterable[dict]) -> Path:
    """Write tree dicts to `path` (gzip jsonl, one member) atomically; returns the path."""
    with atomic_file(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        for tree in trees:
            packed.write((json.dumps(tree, separators=(",", ":")) + "\n").encode())
    return Path(path)


def read_trees(path: str | os.PathLike) -> list[Tree]:
    """The trees of a whole trees file."""
    return scan_trees(path, whole=True).trees


# --- the growing trees file of a round --------------------------------------------------------------------

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

    members: list[list[Tree]]
    complete_bytes: int  # bytes of the complete members
    size: int  # bytes of the file

    @property
    def trees(self) -> list[Tree]:
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


def _trees_in(text: bytes, path, member: int, first_line: int) -> list[Tree]:
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
            tree = Tree.from_dict(json.loads(line))
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


def read_trees_prefix(path: str | os.PathLike) -> list[Tree]:
    """Every tree in the complete gzip members of `path` (a torn last member of a sampling round is left out)."""
    return scan_trees(path).trees


def repair_trees(path: str | os.PathLike, scan: TreesScan | None = None) -> int:
    """Cut a torn last member off a sampling round's trees file (atomically); returns the bytes dropped.

    `scan` is the file's `scan_trees` when the caller has it already (the file is then not read again).
    """
    path = Path(path)
    scan = scan_trees(path) if scan is None else scan
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
            if tree.problem_id in seen:
                dropped.append(tree.problem_id)
            else:
                seen.add(tree.problem_id)
                kept.append(tree.to_dict())
        if kept:
            members.append(tree_member(kept))
    if dropped:
        write_bytes(path, b"".join(members))
    return dropped


def drop_duplicate_run_trees(run: RunDir) -> dict[int, list[str]]:
    """In each round of `run` still sampling, keep only the first tree of every problem (runs that shared
    the directory before it was locked wrote some twice); round -> ids of the problems whose extra trees went."""
    dropped = {}
    for index in run.rounds_holding("trees.jsonl.gz"):
        round_dir = run.round(index)
        if not round_dir.sampling_over():
            dropped[index] = drop_duplicate_trees(round_dir.trees)
    return {index: ids for index, ids in dropped.items() if ids}
