"""The problem record every task produces and every loader returns, and its content key.

A `Problem` is plain data: `{id, task, prompt, answer | tests, meta}`. Its id is, unless a
user's file gave one, `"<task>-" + content_key(problem)[:16]`, a hash of the fields that
define the problem (countdown: the sorted numbers and the target; arith and qa: the question
text; funcs: prompt, entry point and hidden tests), never of the seed or the split. Equal
content therefore gets equal ids, and overlap between splits or files can be checked by
comparing content keys (decontamination), whatever ids the files carry.

This module knows nothing about how problems are generated, read from files or graded.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

TASKS = ("countdown", "arith", "funcs", "qa")
FIELDS = ("id", "task", "prompt", "answer", "tests", "meta")


def canonical_json(value: object) -> str:
    """JSON text that is equal for equal values: sorted keys, no spaces, UTF-8 kept.

    >>> canonical_json({"b": [1, 2], "a": "x"})
    '{"a":"x","b":[1,2]}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_fields(task: str, prompt: str, tests: dict | None, meta: dict) -> dict:
    """The fields that define a problem, as one JSON-able dict (task name included)."""
    if task == "countdown":
        return {"task": task, "numbers": sorted(meta["numbers"]), "target": meta["target"]}
    if task == "funcs":
        tests = tests or {}
        if "cases" in tests:
            return {"task": task, "prompt": prompt, "entry_point": tests.get("entry_point"),
                    "cases": tests["cases"]}
        return {"task": task, "prompt": prompt, "entry_point": tests.get("entry_point"),
                "test_code": tests.get("test_code")}
    return {"task": task, "question": prompt}


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


@dataclass(frozen=True)
class Problem:
    id: str  # stable content hash ("countdown-3f2a...") unless the source file gave its own id
    task: str  # one of TASKS; "qa" is a plain prompt with a final answer
    prompt: str  # the question text shown to a model
    answer: str | None  # the final answer as text ("24", "-3/4"); None for funcs
    tests: dict | None  # funcs only: {"entry_point", "cases"} (hidden) or {"entry_point", "test_code"}
    meta: dict = field(default_factory=dict)  # task-specific: numbers/target, solution, examples, knobs

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {TASKS}")
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"problem id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"problem {self.id}: prompt must be a non-empty string")
        if not isinstance(self.meta, dict):
            raise ValueError(f"problem {self.id}: meta must be a dict")
        if self.task == "funcs":
            if not isinstance(self.tests, dict):
                raise ValueError(f"problem {self.id}: a funcs problem needs a tests dict")
            if "cases" not in self.tests and "test_code" not in self.tests:
                raise ValueError(f"problem {self.id}: tests need 'cases' or 'test_code'")
        elif not isinstance(self.answer, str):
            raise ValueError(f"problem {self.id}: a {self.task} problem needs a string answer")
        if self.task == "countdown" and not {"numbers", "target"} <= set(self.meta):
            raise ValueError(f"problem {self.id}: a countdown problem needs meta numbers and target")

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
