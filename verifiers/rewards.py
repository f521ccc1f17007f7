"""Any verifier as a TRL-style reward function: `(prompts, completions, **columns) -> list[float]`.

    reward = VerifierReward()
    reward(prompts=["..."], completions=["25-5=20\\n20+4=24"], numbers=[[25, 5, 4]], target=[24])
    # -> [1.0]

Which verifier scores a row follows from its columns, as `lab eval` recognises task rows (the
`BUILTIN_ROW_KINDS`, in order): a `task` a kind names (`countdown`), else `numbers` + `target`
(countdown rules; an optional `use_all` column, or `meta["use_all"]`, asks for the standard game's
every-number-once rule), `entry_point` + `cases` (code run against cases), `test_code` (code run
against asserts), `answer` (final-answer check). A caller with more kinds (a task family's own
rows: `selfplay.tasks.spec.reward_row_kinds()`) passes them as `kinds`; nothing here is edited
from outside. A row that fits none is an error naming the row and its columns, never a silent zero.
Completions may be plain strings or chat messages (`[{"role": "assistant", "content": ...}]`).

Knows the verifiers and the column names of task rows; nothing about trainers or models.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from verifiers import code, math
from verifiers.verdict import Verdict

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def completion_text(completion: object) -> str:
    """The text of a completion given as a string or as a list of chat messages.

    >>> completion_text([{"role": "assistant", "content": "#### 4"}])
    '#### 4'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and all(isinstance(m, dict) for m in completion):
        return "".join(str(m.get("content", "")) for m in completion if m.get("role", "assistant") == "assistant")
    raise TypeError(f"a completion is a str or a list of chat messages, got {type(completion).__name__}")


def extract_program(text: str) -> str:
    """The program in a completion: the last fenced Python block if any, else the whole text.

    >>> extract_program("Here:\\n```python\\ndef f(x):\\n    return x\\n```\\nDone.")
    'def f(x):\\n    return x\\n'
    """
    blocks = _FENCE.findall(text)
    return blocks[-1] if blocks else text


@dataclass(frozen=True)
class RowKind:
    """One way to verify a row: which rows it takes and the verifier call."""

    name: str  # what `row_kind` answers
    shape: str  # the columns it takes, for error messages: "numbers+target"
    matches: Callable[[dict], bool]  # whether a row (tests columns merged in) has this kind's columns
    verify: Callable[[str, dict, float], Verdict]  # (completion, row, timeout_s) -> the verdict
    tasks: tuple[str, ...] = ()  # a row whose `task` is one of these is this kind, whatever its columns


def _meta(row: dict) -> dict:
    return row.get("meta") if isinstance(row.get("meta"), dict) else {}


def _verify_countdown(completion: str, row: dict, timeout_s: float) -> Verdict:
    numbers, target, use_all = row.get("numbers"), row.get("target"), row.get("use_all")
    meta = _meta(row)
    if numbers is None or target is None:
        numbers, target = meta.get("numbers"), meta.get("target")
    if use_all is None:
        use_all = meta.get("use_all", False)
    if not isinstance(use_all, bool):
        raise ValueError(f"column 'use_all' must be true or false, got {use_all!r:.40}")
    return math.check_countdown(numbers, target, completion, use_all=use_all)


def _verify_cases(completion: str, row: dict, timeout_s: float) -> Verdict:
    return code.run_cases(extract_program(completion), row["entry_point"], row["cases"], timeout_s=timeout_s)


def _verify_asserts(completion: str, row: dict, timeout_s: float) -> Verdict:
    return code.run_asserts(extract_program(completion), row["test_code"], timeout_s=timeout_s,
                            entry_point=row.get("entry_point"))


def _verify_answer(completion: str, row: dict, timeout_s: float) -> Verdict:
    return math.check(completion, str(row["answer"]))


BUILTIN_ROW_KINDS: tuple[RowKind, ...] = (
    RowKind("countdown", "numbers+target", tasks=("countdown",), verify=_verify_countdown,
            matches=lambda row: (row.get("numbers") is not None and row.get("target") is not None)
            or _meta(row).get("numbers") is not None),
    RowKind("cases", "entry_point+cases",
            lambda row: row.get("cases") is not None and row.get("entry_point") is not None, _verify_cases),
    RowKind("asserts", "test_code", lambda row: row.get("test_code") is not None, _verify_asserts),
    RowKind("answer", "answer", lambda row: row.get("answer") is not None, _verify_answer),
)


def _kind_of(row: dict, kinds: Sequence[RowKind]) -> RowKind:
    named = [kind for kind in kinds if row.get("task") in kind.tasks]
    matching = named or [kind for kind in kinds if kind.matches(row)]
    if not matching:
        known = " | ".join(["task", *(kind.shape for kind in kinds)])
        raise ValueError(f"cannot tell how to verify a row with columns {sorted(row)}; expected one of: {known}")
    return matching[0]


def row_kind(row: dict, kinds: Sequence[RowKind] = BUILTIN_ROW_KINDS) -> str:
    """Which verifier a row calls for: countdown, cases, asserts or answer (or one of `kinds`)."""
    return _kind_of(row, kinds).name


def verify_row(completion: str, row: dict, timeout_s: float = code.DEFAULT_TIMEOUT_S,
               kinds: Sequence[RowKind] = BUILTIN_ROW_KINDS) -> Verdict:
    """Score one completion against one row of task columns (a Problem's `tests` dict is read too)."""
    if isinstance(row.get("tests"), dict):
        row = {**row["tests"], **{key: value for key, value in row.items() if key != "tests"}}
    return _kind_of(row, kinds).verify(completion, row, timeout_s)


class VerifierReward:
    """A reward function for TRL trainers (GRPOTrainer's `reward_funcs`) or for plain use.

    `partial_credit` rewards the verdict's score (share of test cases passed) instead of 0/1;
    `kinds` are the row kinds tried in order (default: the verifiers' own).
    """

    def __init__(self, partial_credit: bool = False, timeout_s: float = code.DEFAULT_TIMEOUT_S,
                 kinds: Sequence[RowKind] = BUILTIN_ROW_KINDS):
        self.partial_credit, self.timeout_s, self.kinds = partial_credit, timeout_s, tuple(kinds)
        self.__name__ = "verifier_reward"  # TRL logs rewards by function name

    def __call__(self, prompts: list, completions: list, **columns) -> list[float]:
        if prompts is not None and len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        for name, values in columns.items():
            if isinstance(values, (list, tuple)) and len(values) != len(completions):
                raise ValueError(f"column {name!r} has {len(values)} values for {len(completions)} completions")
        rewards = []
        for index, completion in enumerate(completions):
            row = {name: values[index] for name, values in columns.items() if isinstance(values, (list, tuple))}
            try:
                verdict = verify_row(completion_text(completion), row, self.timeout_s, self.kinds)
            except ValueError as error:
                raise ValueError(f"row {index}: {error}") from None
            rewards.append(verdict.score if self.partial_credit else float(verdict.passed))
        return rewards
