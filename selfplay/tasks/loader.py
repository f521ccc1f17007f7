"""Read and write task files: `.jsonl`, `.jsonl.gz`, and (read only) `.parquet`, `.json`, `.csv`,
folders (`save_to_disk` output or data files) and Hub dataset ids (`selfplay.tasks.sources`).

Reading is strict. A bad row raises `TaskFileError` naming the file, the line and the
field (`datasets/x.jsonl:17: field 'target': expected a positive integer, got 'abc'`);
nothing is skipped except blank lines, which are not rows. A file without problems and
two rows with the same id are errors too, and so is a damaged file (corrupt or truncated
gzip data, a file that is not parquet, JSON nested too deeply for the parser or holding an
integer too long to convert). In a parquet file the "line" is the row number.

Writing is atomic (`verifiers.atomic_files.write_bytes`: a temporary sibling, fsynced, mode 0644, renamed) and
deterministic: the same problems give the same bytes.

This module knows about files and formats of rows (through `rows.parse_row`), not about
generation or grading.
"""
from __future__ import annotations

import errno
import gzip
import json
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from selfplay.tasks import sources
from selfplay.tasks.problem import Problem
from selfplay.tasks.rows import RowError, parse_row
from verifiers.atomic_files import write_bytes

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet", ".json", ".csv")  # files; folders and Hub ids: see `sources`


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


def _numbered_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """The file's lines, numbered from 1, gunzipped when the name ends in `.gz`; damaged gzip data
    (corrupt, truncated, not gzip at all) is a `TaskFileError` naming the line it broke in."""
    if not str(path).lower().endswith(".gz"):
        with open(path, "rb") as handle:
            yield from enumerate(handle, start=1)
        return
    line_number = 0
    with gzip.open(path, "rb") as handle:
        try:
            for line_number, raw in enumerate(handle, start=1):
                yield line_number, raw
        except (OSError, EOFError, zlib.error) as error:
            raise TaskFileError(path, line_number + 1, None, f"corrupt or truncated gzip data ({error})") from None


def _parse_json(path: str | os.PathLike, line_number: int, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TaskFileError(path, line_number, None, f"invalid JSON: {error.msg} (column {error.colno})") from None
    except RecursionError:
        raise TaskFileError(path, line_number, None, "invalid JSON: nested too deeply") from None
    except ValueError:  # json's only other error: int() refusing a number past sys.get_int_max_str_digits()
        raise TaskFileError(path, line_number, None, f"invalid JSON: an integer of more than "
                            f"{sys.get_int_max_str_digits()} digits") from None


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) for every non-blank line of a `.jsonl` or `.jsonl.gz` file, strictly:
    a line that is not UTF-8 or not JSON is a `TaskFileError` naming it."""
    for line_number, raw in _numbered_lines(path):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TaskFileError(path, line_number, None, f"not UTF-8 text ({error.reason})") from None
        if text.strip():
            yield line_number, _parse_json(path, line_number, text)


def _parquet_rows(path: str | os.PathLike) -> Iterator[tuple[int, object]]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise TaskFileError(path, None, None, "reading .parquet needs pyarrow (pip install pyarrow)") from None
    try:
        rows = pyarrow.parquet.read_table(path).to_pylist()
    except FileNotFoundError:  # pyarrow's says only the path; this reads as open()'s does
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path)) from None
    except pyarrow.ArrowException as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TaskFileError(path, None, None, f"not a readable parquet file ({reason})") from None
    yield from enumerate(rows, start=1)


def _file_rows(path: str | os.PathLike) -> Iterator[tuple[int, object]]:
    suffix = _suffix(path)
    if suffix == ".parquet":
        return _parquet_rows(path)
    if suffix == ".json":
        return sources.json_rows(path, sources.read_bounded(path))
    if suffix == ".csv":
        return sources.csv_rows(path, sources.read_bounded(path))
    return read_jsonl(path)


def _rows(source: str, base: str, split: str | None) -> Iterator[tuple[int, object]]:
    """(line or row number, row) of one file, a saved dataset folder or a Hub dataset id."""
    folder = Path(base)
    if folder.is_dir():
        return sources.saved_dataset_rows(folder, split)
    if not os.path.exists(source) and "/" in source and not source.lower().endswith(SUFFIXES) \
            and (match := sources.hub_id(source)) is not None:
        return sources.hub_rows(match)
    return _file_rows(source)


def load_problems(path: str | os.PathLike) -> list[Problem]:
    """Every problem in a task file, in order; `TaskFileError` on any bad row, naming the file and line.

    Also read: a folder written by `save_to_disk`, a folder of data files (all of them, or those of
    `folder@SPLIT`: each file's rows in turn, an error naming the file), and a Hub dataset id
    (`owner/name[:config][@split]`, where the Hub can be reached); see `selfplay.tasks.sources`.
    """
    base, split = sources.split_request(str(path))
    if Path(base).is_dir() and not sources.is_saved_dataset(Path(base)):
        try:
            files = sources.data_files(Path(base), split)
        except sources.SourceError as error:
            raise TaskFileError(path, None, None, str(error)) from None
        problems = [problem for file in files for problem in load_problems(file)]
        _check_unique(problems, files)
        return problems
    return _problems(path, _rows(str(path), base, split))


def _check_unique(problems: list[Problem], files: list[Path]) -> None:
    seen: set[str] = set()
    for problem in problems:
        if problem.id in seen:
            raise TaskFileError(files[0].parent, None, "id", f"duplicate id {problem.id!r} in two of its files")
        seen.add(problem.id)


def _problems(path: str | os.PathLike, rows: Iterator[tuple[int, object]]) -> list[Problem]:
    problems: list[Problem] = []
    first_line_of: dict[str, int] = {}
    while True:
        try:
            line_number, row = next(rows)
        except StopIteration:
            break
        except sources.SourceError as error:
            raise TaskFileError(path, error.where, None, str(error)) from None
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
    return write_bytes(path, data)
