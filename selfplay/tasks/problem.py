"""The problem record every task produces and every loader returns, and its content key.

A `Problem` is plain data: `{id, task, prompt, answer | tests, meta}`. Its id is, unless a
user's file gave one, `"<task>-" + content_key(problem)[:16]`, a hash of the fields that
define the problem (countdown: the sorted numbers and the target; arith and qa: the question
text; funcs: prompt, entry point and hidden tests), never of the seed or the split. Equal
content therefore gets equal ids, and overlap between splits or files can be checked by
comparing content keys (decontamination), whatever ids the files carry.

The content key is exact: one trailing space makes another key. `normalised_key` is the key a
leak guard compares: it leaves out what a copy can change without changing the problem
(whitespace, letter case, how numbers are written, the order of countdown numbers and of hidden
test cases, the name of the entry point, the layout of test code).

A task's own invariants and the fields that define its problems come from its spec
(`selfplay.tasks.spec`), each family's in its package (`selfplay/tasks/countdown/spec.py`); the
normalising helpers they use are here.

This module knows nothing about how problems are generated, read from files or graded.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field, replace

from selfplay.tasks.spec import task_spec

FIELDS = ("id", "task", "prompt", "answer", "tests", "meta")


def canonical_json(value: object) -> str:
    """JSON text that is equal for equal values: sorted keys, no spaces, UTF-8 kept.

    >>> canonical_json({"b": [1, 2], "a": "x"})
    '{"a":"x","b":[1,2]}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_fields(task: str, prompt: str, tests: dict | None, meta: dict) -> dict:
    """The fields that define a problem, as one JSON-able dict (task name included): the task
    spec's `content_fields`, else the task name and the question text."""
    fields = task_spec(task).content_fields
    return {"task": task, "question": prompt} if fields is None else fields(task, prompt, tests, meta)


def content_hash(task: str, prompt: str, tests: dict | None, meta: dict) -> str:
    """sha256 hex digest of the canonical JSON of `content_fields`."""
    text = canonical_json(content_fields(task, prompt, tests, meta))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_id(task: str, prompt: str, tests: dict | None, meta: dict) -> str:
    """The id a problem gets when none is given: `"<task>-<first 16 hex digits>"`."""
    return f"{task}-{content_hash(task, prompt, tests, meta)[:16]}"


def content_key(problem: "Problem") -> str:
    """The decontamination key of a problem: equal for equal content, whatever its id."""
    return content_hash(problem.task, problem.prompt, problem.tests, problem.meta)


def normalised_key(problem: "Problem") -> str:
    """A content key that reformatting cannot change: equal for copies a reader would call the same.

    >>> a = Problem.create("arith", "What is 1,000 + 2.50?", answer="1002.5")
    >>> b = Problem.create("qa", "  what is 1000 +2.5 ? ", answer="1002.5", id="renamed")
    >>> normalised_key(a) == normalised_key(b), content_key(a) == content_key(b)
    (True, False)

    Coarser than `content_key` (equal content keys give equal normalised keys), so a guard that
    compares it refuses every exact copy too. arith and qa share one key space: both are a
    question. It may call two problems the same that differ only in such formatting.
    """
    return hashlib.sha256(canonical_json(normalised_fields(problem)).encode("utf-8")).hexdigest()


def normalised_fields(problem: "Problem") -> dict:
    """What `normalised_key` hashes: `content_fields` with the formatting taken out (the task
    spec's `normalised_fields`, else the question's normalised text)."""
    fields = task_spec(problem.task).normalised_fields
    return {"kind": "question", "question": normalised_text(problem.prompt)} if fields is None else fields(problem)


_SPACED_SYMBOL = re.compile(r"\s*([^\w\s])\s*")
_WRITTEN_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?!\w)")
ENTRY_POINT = "entry_point_"  # what the entry point's name becomes


def normalised_text(text: str) -> str:
    """Text with Unicode forms, case, whitespace and the writing of numbers taken out.

    >>> normalised_text("  Ann pays  $1,000.50 for 007 pens ,  then 3.0 more. ")
    'ann pays$1000.5 for 7 pens,then 3 more.'
    """
    text = " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())
    text = _SPACED_SYMBOL.sub(r"\1", text)
    return _WRITTEN_NUMBER.sub(_plain_number, text)


def _plain_number(match: re.Match) -> str:
    whole = match.group(1).replace(",", "").lstrip("0") or "0"
    fraction = (match.group(2) or "").rstrip("0")
    return whole + fraction if len(fraction) > 1 else whole


def normalised_number(value: object) -> object:
    """A number as one JSON value however it was written: 24, 24.0 and "24" all give 24."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            value = int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        except ValueError:
            return normalised_text(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else repr(value)
    return normalised_json(value)


def normalised_json(value: object) -> object:
    """A JSON-like value with integral floats written as ints (2.0 -> 2); strings stay exact."""
    if isinstance(value, (list, tuple)):
        return [normalised_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): normalised_json(item) for key, item in value.items()}
    if isinstance(value, float):
        return normalised_number(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


def normalised_code(code: object, entry_point: object = None) -> str:
    """Python test code as parsed and printed again: comments, layout, quotes, number spelling go.

    >>> normalised_code("assert  f(1_000)==0x10  # why", "f")
    'assert entry_point_(1000) == 16'
    """
    text = str(code)
    try:
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == entry_point:
                node.id = ENTRY_POINT
        return ast.unparse(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python: compare its words
        return " ".join(text.split())


def without_name(text: str, name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        return text
    return re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", ENTRY_POINT, text)


@dataclass(frozen=True)
class Problem:
    id: str  # stable content hash ("countdown-3f2a...") unless the source file gave its own id
    task: str  # a registered task (`spec.task_names()`); "qa" is a plain prompt with a final answer
    prompt: str  # the question text shown to a model
    answer: str | None  # the final answer as text ("24", "-3/4"); None for funcs
    tests: dict | None  # funcs only: {"entry_point", "cases"} (hidden) or {"entry_point", "test_code"}
    meta: dict = field(default_factory=dict)  # task-specific: numbers/target, solution, examples, knobs

    def __post_init__(self) -> None:
        spec = task_spec(self.task)  # an unknown task is a ValueError naming the known ones
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"problem id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"problem {self.id}: prompt must be a non-empty string")
        if not isinstance(self.meta, dict):
            raise ValueError(f"problem {self.id}: meta must be a dict")
        if spec.writes_code:
            if not isinstance(self.tests, dict):
                raise ValueError(f"problem {self.id}: a {self.task} problem needs a tests dict")
        elif not isinstance(self.answer, str):
            raise ValueError(f"problem {self.id}: a {self.task} problem needs a string answer")
        spec.check_problem(self)

    @staticmethod
    def create(task: str, prompt: str, answer: str | None = None, tests: dict | None = None,
               meta: dict | None = None, id: str | None = None) -> "Problem":
        """A problem whose id is its content id unless `id` is given."""
        problem = Problem(id="pending" if id is None else id, task=task, prompt=prompt,
                          answer=answer, tests=tests, meta=dict(meta or {}))  # validate, then hash
        if id is None:
            problem = replace(problem, id=content_id(task, prompt, tests, problem.meta))
        return problem

    def to_dict(self) -> dict:
        return {"id": self.id, "task": self.task, "prompt": self.prompt, "answer": self.answer,
                "tests": self.tests, "meta": self.meta}

    @staticmethod
    def from_dict(row: dict) -> "Problem":
        """Inverse of `to_dict`; a missing id is computed from the content."""
        unknown = set(row) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown problem fields {sorted(unknown)}; expected {FIELDS}")
        return Problem.create(task=row["task"], prompt=row["prompt"], answer=row.get("answer"),
                              tests=row.get("tests"), meta=row.get("meta"), id=row.get("id"))
