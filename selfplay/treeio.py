"""Whole trees files: `trees.jsonl.gz`, one `selfplay.tree/1` object per line, written at once.

    write_trees("out/trees/mcts-8.jsonl.gz", [tree.to_dict() for tree in trees])
    for tree in read_trees("out/trees/mcts-8.jsonl.gz"): ...

A file is written through `selfplay.rundir.atomic_file` (a temporary in the same folder,
fsynced, mode 0644, renamed), so a crash leaves the old file or the new one, and every run file
has the same mode. Reading wants the whole file: a file cut short or corrupt anywhere is a
`rundir.DamagedFile` naming the byte, a tree of another format a TreeFormatError naming the
line. The trees file a round appends to while it samples, and the torn last member that alone
may be forgiven there, are `selfplay.rundir`'s.

Knows the tree format (from `search`) and the run's file writer; nothing about models or search algorithms.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Iterable

from selfplay.rundir import atomic_file, scan_trees


def write_trees(path: str | os.PathLike, trees: Iterable[dict]) -> Path:
    """Write tree dicts to `path` (gzip jsonl, one member) atomically; returns the path."""
    with atomic_file(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        for tree in trees:
            packed.write((json.dumps(tree, separators=(",", ":")) + "\n").encode())
    return Path(path)


def read_trees(path: str | os.PathLike) -> list[dict]:
    """The tree dicts of a whole trees file, each one's format checked."""
    return scan_trees(path, whole=True).trees
