"""Read and write task files: `.jsonl`, `.jsonl.gz`, and (read only) `.parquet`.

Reading is strict. A bad row raises `TaskFileError` naming the file, the line and the
field (`datasets/x.jsonl:17: field 'target': expected a positive integer, got 'abc'`);
nothing is skipped except blank lines, which are not rows. A file without problems and
two rows with the same id are errors too. In a parquet file the "line" is the row number.

Writing is atomic (a temporary file in the same folder, then `os.replace`) and
deterministic: the same problems give the same bytes.

This module knows about files and formats of rows (through `rows.parse_row`), not about
generation or grading.
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from selfplay.tasks.problem import Problem
from selfplay.tasks.rows import RowError, parse_row

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


class TaskFileError(ValueError):
    """A task file that cannot be read, with where (`path`, `line`) and what (`field`)."""

    def __init__(self, path: str | os.PathLike, line: int | None, field: str | None, message: str) -> None:
        self.path, self.line, self.field = str(path), line, field
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: field {field!r}: {message}" if field else f"{where}: {message}")


def _suffix(path: str | os.PathLike) -> str:
    name = str(path).lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise TaskFileError(path, None, None, f"unsupported file type; expected one of {', '.join(SUFFIXES)}")


def _jsonl_rows(path: str | os.PathLike, suffix: str) -> Iterator[tuple[int, object]]:
    opener = gzip.open if suffix == ".jsonl.gz" else open
    with opener(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TaskFileError(path, line_number, None, f"not UTF-8 text ({error.reason})") from None
            if not text.strip():
                continue
            try:
                yield line_number, json.loads(text)
            except json.JSONDecodeError as error:
                raise TaskFileError(path, line_number, None,
                                    f"invalid JSON: {error.msg} (column {error.colno})") from None


def _parquet_rows(path: str | os.PathLike) -> Iterator[tuple[int, object]]:
    try:
        import pyarrow.parquet
    except ImportError:
        raise TaskFileError(path, None, None, "reading .parquet needs pyarrow (pip install pyarrow)") from None
    yield from enumerate(pyarrow.parquet.read_table(path).to_pylist(), start=1)


def load_problems(path: str | os.PathLike) -> list[Problem]:
    """Every problem in a task file, in file order; `TaskFileError` on any bad row."""
    suffix = _suffix(path)
    rows = _parquet_rows(path) if suffix == ".parquet" else _jsonl_rows(path, suffix)
    problems: list[Problem] = []
    first_line_of: dict[str, int] = {}
    for line_number, row in rows:
        try:
            problem = parse_row(row)
        except RowError as error:
            raise TaskFileError(path, line_number, error.field, error.message) from None
        if problem.id in first_line_of:
            raise TaskFileError(path, line_number, "id", f"duplicate id {problem.id!r} (first on line "
                                f"{first_line_of[problem.id]}; rows without ids get one from their content)")
        first_line_of[problem.id] = line_number
        problems.append(problem)
    if not problems:
        raise TaskFileError(path, None, None, "no problems in the file")
    return problems


def dump_line(problem: Problem) -> str:
    """One jsonl line (with its newline): compact, UTF-8 kept, fields in Problem order."""
    return json.dumps(problem.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


def save_problems(problems: Iterable[Problem], path: str | os.PathLike) -> Path:
    """Write `.jsonl` or `.jsonl.gz` atomically; duplicate ids are refused. Returns the path."""
    problems = list(problems)
    if _suffix(path) == ".parquet":
        raise TaskFileError(path, None, None, "writing .parquet is not supported; use .jsonl or .jsonl.gz")
    seen: set[str] = set()
    for problem in problems:
        if problem.id in seen:
            raise ValueError(f"duplicate problem id {problem.id!r}; a task file needs unique ids")
        seen.add(problem.id)
    data = "".join(dump_line(problem) for problem in problems).encode("utf-8")
    if _suffix(path) == ".jsonl.gz":
        data = gzip.compress(data, mtime=0)  # mtime=0: equal problems give equal bytes
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; a data file is meant to be shared
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return target
