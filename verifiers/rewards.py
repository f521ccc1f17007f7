"""Any verifier as a TRL-style reward function: `(prompts, completions, **columns) -> list[float]`.

    reward = VerifierReward()
    reward(prompts=["..."], completions=["25-5=20\\n20+4=24"], numbers=[[25, 5, 4]], target=[24])
    # -> [1.0]

Which verifier scores a row follows from its columns, as `lab eval` recognises task rows:
`task` if given, else `numbers` + `target` (countdown rules; an optional `use_all` column, or
`meta["use_all"]`, asks for the standard game's every-number-once rule), `entry_point` + `cases`
(code run against cases), `test_code` (code run against asserts), `answer` (final-answer check).
A row that fits none is an error naming the row and its columns, never a silent zero.
Completions may be plain strings or chat messages (`[{"role": "assistant", "content": ...}]`).

Knows the verifiers and the column names of task rows; nothing about trainers or models.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

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


def row_kind(row: dict) -> str:
    """Which verifier a row calls for: countdown, cases, asserts or answer."""
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    has_numbers = row.get("numbers") is not None and row.get("target") is not None
    if row.get("task") == "countdown" or has_numbers or meta.get("numbers") is not None:
        return "countdown"
    if row.get("cases") is not None and row.get("entry_point") is not None:
        return "cases"
    if row.get("test_code") is not None:
        return "asserts"
    if row.get("answer") is not None:
        return "answer"
    known = "task | numbers+target | entry_point+cases | test_code | answer"
    raise ValueError(f"cannot tell how to verify a row with columns {sorted(row)}; expected one of: {known}")


def verify_row(completion: str, row: dict, timeout_s: float = code.DEFAULT_TIMEOUT_S) -> Verdict:
    """Score one completion against one row of task columns (a Problem's `tests` dict is read too)."""
    if isinstance(row.get("tests"), dict):
        row = {**row["tests"], **{key: value for key, value in row.items() if key != "tests"}}
    kind = row_kind(row)
    if kind == "countdown":
        numbers, target, use_all = row.get("numbers"), row.get("target"), row.get("use_all")
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        if numbers is None or target is None:
            numbers, target = meta.get("numbers"), meta.get("target")
        if use_all is None:
            use_all = meta.get("use_all", False)
        if not isinstance(use_all, bool):
            raise ValueError(f"column 'use_all' must be true or false, got {use_all!r:.40}")
        return math.check_countdown(numbers, target, completion, use_all=use_all)
    if kind == "cases":
        return code.run_cases(extract_program(completion), row["entry_point"], row["cases"], timeout_s=timeout_s)
    if kind == "asserts":
        return code.run_asserts(extract_program(completion), row["test_code"], timeout_s=timeout_s,
                                entry_point=row.get("entry_point"))
    return math.check(completion, str(row["answer"]))


class VerifierReward:
    """A reward function for TRL trainers (GRPOTrainer's `reward_funcs`) or for plain use.

    `partial_credit` rewards the verdict's score (share of test cases passed) instead of 0/1.
    """

    def __init__(self, partial_credit: bool = False, timeout_s: float = code.DEFAULT_TIMEOUT_S):
        self.partial_credit, self.timeout_s = partial_credit, timeout_s
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
                verdict = verify_row(completion_text(completion), row, self.timeout_s)
            except ValueError as error:
                raise ValueError(f"row {index}: {error}") from None
            rewards.append(verdict.score if self.partial_credit else float(verdict.passed))
        return rewards
