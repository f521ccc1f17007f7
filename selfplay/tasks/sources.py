"""Rows from the containers Hugging Face `datasets.load_dataset` reads, beside the lab's own jsonl.

    numbered_rows("gsm8k.json")              # a JSON array (or JSON Lines in a .json file)
    numbered_rows("mbpp.csv")                # a header line, then one row per record
    numbered_rows("saved/")                  # a folder written by Dataset(Dict).save_to_disk
    numbered_rows("data/")                   # a folder of data files (jsonl, json, csv, parquet)
    numbered_rows("openai/gsm8k:main@test")  # a Hub dataset (NAME[:CONFIG][@SPLIT]), where the Hub is reachable

Each yields (where, row) pairs: `where` is the line a row starts on in a text file, else its row
number, so a bad row is named by `TaskFileError(path, where, field, ...)` as in a jsonl file. A
folder or Hub dataset with several splits needs `@SPLIT` (`saved/@test`); the error lists them.

CSV cells are text; as `datasets`' CSV reader infers numbers, a cell that is a whole number becomes
an int, and a cell that starts with `[` or `{` is read as JSON (a countdown row's `numbers`, a funcs
row's `cases`); an empty cell is no field at all. Every other cell stays text.

Knows file containers and `datasets`' on-disk forms; what a row means is `selfplay.tasks.rows`'.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

MAX_TEXT_FILE_BYTES = 2 * 1024**3  # a .json or .csv file is read whole; larger ones are refused unread
DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".csv", ".parquet")  # what a folder of data files may hold
_HUB_ID = re.compile(r"(?P<name>[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.-]+))?")
_WHOLE_NUMBER = re.compile(r"[-+]?[0-9]{1,18}")
Rows = Iterator[tuple[int, object]]


class SourceError(ValueError):
    """A container that cannot be read: the loader names the path (and the row, where there is one)."""

    def __init__(self, message: str, where: int | None = None) -> None:
        super().__init__(message)
        self.where = where


def split_request(source: str) -> tuple[str, str | None]:
    """`saved/@test` -> ("saved/", "test"); a source that exists as named, or has no `@`, asks for no split.

    >>> split_request("data/@dev"), split_request("data.csv")
    (('data/', 'dev'), ('data.csv', None))
    """
    base, at, split = source.rpartition("@")
    if not at or not base or not split or "/" in split or os.path.exists(source):
        return source, None
    return base, split


def hub_id(source: str) -> re.Match | None:
    """The parts of a Hub dataset id (`owner/name[:config][@split]`), or None for anything else.

    >>> hub_id("openai/gsm8k:main@test").group("name", "config", "split")
    ('openai/gsm8k', 'main', 'test')
    """
    return _HUB_ID.fullmatch(source) if not os.path.exists(source) else None


def json_rows(path: str | os.PathLike, read: Callable[[], bytes]) -> Rows:
    """The elements of a JSON array, each with the line it starts on; a JSON Lines body (as `datasets`
    also reads from `.json`) gives its lines; one object holding one list of rows gives that list."""
    text = _text(path, read())
    start = len(text) - len(text.lstrip())
    if not text[start:start + 1] in ("[", "{"):
        raise SourceError("not JSON: expected an array of rows")
    decoder = json.JSONDecoder()
    try:
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as error:
        raise SourceError(f"invalid JSON: {error.msg} (column {error.colno})", error.lineno) from None
    except (RecursionError, ValueError):
        raise SourceError(f"invalid JSON: nested too deeply or an integer of more than "
                          f"{sys.get_int_max_str_digits()} digits") from None
    if text[end:].strip():  # more values after the first: JSON Lines
        yield from _json_lines(text)
        return
    if isinstance(value, dict):
        lists = [key for key, item in value.items() if isinstance(item, list)]
        if len(lists) != 1:
            raise SourceError("a JSON object must hold exactly one list of rows (as {\"data\": [...]}), "
                              f"this one holds {len(lists)}")
        value = value[lists[0]]
    if not isinstance(value, list):
        raise SourceError("not an array of rows")
    yield from _array_rows(text, value)


def _array_rows(text: str, rows: list) -> Rows:
    """Each element with the line it starts on: elements are found again by decoding in place."""
    decoder, position, line = json.JSONDecoder(), text.index("[") if text.lstrip().startswith("[") else None, 1
    if position is None:  # an object holding the list: report row numbers
        yield from enumerate(rows, start=1)
        return
    counted = 0
    for row in rows:
        position = _skip(text, position + 1)
        line += text.count("\n", counted, position)
        counted = position
        _, position = decoder.raw_decode(text, position)
        yield line, row
        position = _skip(text, position)  # at the `,` or the closing `]`


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _json_lines(text: str) -> Rows:
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield line_number, json.loads(line)
            except json.JSONDecodeError as error:
                raise SourceError(f"invalid JSON: {error.msg} (column {error.colno})", line_number) from None
            except (RecursionError, ValueError):
                raise SourceError("invalid JSON: nested too deeply or an integer too long", line_number) from None


def csv_rows(path: str | os.PathLike, read: Callable[[], bytes]) -> Rows:
    """One dict per record after the header line, each with the line it starts on."""
    reader = csv.reader(io.StringIO(_text(path, read()), newline=""))
    try:
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise SourceError("no header line naming the columns", 1)
        names = [name.strip() for name in header]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise SourceError(f"columns named twice: {', '.join(duplicated)}", 1)
        ended = reader.line_num
        for cells in reader:
            start, ended = ended + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                raise SourceError(f"{len(cells)} cells where the header names {len(names)} columns", start)
            row = {name: _cell(cell, name, start) for name, cell in zip(names, cells)}
            yield start, {name: value for name, value in row.items() if value is not None}  # empty: no field
    except csv.Error as error:
        raise SourceError(f"not readable CSV ({error})", reader.line_num) from None


def _cell(text: str, name: str, line: int) -> object:
    stripped = text.strip()
    if not stripped:
        return None
    if _WHOLE_NUMBER.fullmatch(stripped):
        return int(stripped)
    if stripped[0] in "[{":
        try:
            return json.loads(stripped)
        except (json.JSONDecodeError, RecursionError, ValueError) as error:
            raise SourceError(f"column {name!r}: a cell starting with {stripped[0]} must be JSON ({error})",
                              line) from None
    return text


def _text(path: str | os.PathLike, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(f"not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_bounded(path: str | os.PathLike) -> Callable[[], bytes]:
    """A reader of the whole file that refuses one past MAX_TEXT_FILE_BYTES before reading it."""
    def read() -> bytes:
        if os.path.getsize(path) > MAX_TEXT_FILE_BYTES:
            raise SourceError(f"larger than {MAX_TEXT_FILE_BYTES:,} bytes; split it or use .jsonl")
        with open(path, "rb") as handle:
            return handle.read()
    return read


def dataset_rows(dataset, split: str | None, name: str) -> Rows:
    """Rows of a `datasets.Dataset`, or of one split of a `DatasetDict` (named, or its only one)."""
    if hasattr(dataset, "keys"):  # a DatasetDict
        splits = sorted(dataset.keys())
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in dataset:
            asked = f"no split {split!r}" if split else "several splits"
            raise SourceError(f"{asked}; name one as {name}@SPLIT, from: {', '.join(splits)}")
        dataset = dataset[split]
    elif split is not None:
        raise SourceError(f"a single dataset has no splits; drop @{split}")
    yield from enumerate(dataset, start=1)


def saved_dataset_rows(folder: Path, split: str | None) -> Rows:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    import datasets

    try:
        dataset = datasets.load_from_disk(str(folder))
    except (FileNotFoundError, ValueError, KeyError, TypeError, OSError) as error:
        raise SourceError(f"not a readable saved dataset ({type(error).__name__}: {str(error).splitlines()[0]})") \
            from None
    yield from dataset_rows(dataset, split, str(folder))


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def data_files(folder: Path, split: str | None) -> list[Path]:
    """A folder's data files (itself and its `data/`), those whose name holds `split` when one is asked for."""
    found = sorted(path for place in (folder, folder / "data") if place.is_dir() for path in place.iterdir()
                   if path.is_file() and path.name.lower().endswith(DATA_SUFFIXES))
    if split is not None:
        found = [path for path in found if re.search(rf"(^|[-_.]){re.escape(split)}([-_.]|$)", path.name)]
    if not found:
        wanted = f" for split {split!r}" if split else ""
        raise SourceError(f"no data files{wanted} ({', '.join(DATA_SUFFIXES)}) and not a saved dataset")
    return found


def hub_rows(match: re.Match) -> Rows:
    """A Hub dataset through `datasets.load_dataset`; without a reachable Hub this is a SourceError."""
    import datasets

    name, config, split = match.group("name", "config", "split")
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except Exception as error:  # the Hub client raises many kinds (connection, not found, gated): one line
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SourceError(f"no such local file or folder, and the Hub dataset {name!r} could not be loaded "
                          f"({type(error).__name__}: {reason})") from None
    yield from dataset_rows(dataset, None, match.group(0))  # a split asked for is already the one loaded
