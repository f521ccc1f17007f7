"""Search trees on disk: `trees.jsonl.gz`, one `selfplay.tree/1` object per line.

Writes are atomic (a temporary file in the same folder, then a rename), so a crash leaves the
old file or the new one, never half of one. Reading checks every line's format version and
says which file and line is wrong.

    write_trees("runs/x/round-1/trees.jsonl.gz", [tree.to_dict() for tree in trees])
    for tree in read_trees("runs/x/round-1/trees.jsonl.gz"): ...

Knows the tree format (from `search`) and files; nothing about models or search algorithms.
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from search import FORMAT, Tree, TreeFormatError


def write_trees(path: str | os.PathLike, trees: Iterable[dict]) -> Path:
    """Write tree dicts to `path` (gzip jsonl) atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
            for tree in trees:
                packed.write((json.dumps(tree, separators=(",", ":")) + "\n").encode())
            packed.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_trees(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the tree dicts of a trees file, checking each one's format."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                Tree.from_dict(data)
            except json.JSONDecodeError as error:
                raise TreeFormatError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            except TreeFormatError as error:
                raise TreeFormatError(f"{path}:{number}: {error} (this lab reads {FORMAT})") from None
            yield data
