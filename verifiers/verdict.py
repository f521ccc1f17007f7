"""The result every verifier returns.

A verdict is data, never a string with codes inside it: the loop selects training traces
by `passed`, weighs them by `score`, and reports `status` counts per round.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

STATUSES = ("passed", "wrong", "error", "timeout", "memory", "invalid")


@dataclass(frozen=True)
class Verdict:
    passed: bool  # True only when the answer is fully correct
    score: float  # in [0, 1]: 1.0 when passed, partial credit (e.g. share of test cases) otherwise
    status: str  # one of STATUSES
    detail: str = ""  # a short human-readable reason; never parsed by code

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown verdict status {self.status!r}; expected one of {STATUSES}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"verdict score must lie in [0, 1], got {self.score}")
        if self.passed and (self.status != "passed" or self.score != 1.0):
            raise ValueError("a passed verdict has status 'passed' and score 1.0")
        if not self.passed and self.status == "passed":
            raise ValueError("status 'passed' requires passed=True")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def ok(detail: str = "") -> "Verdict":
        return Verdict(True, 1.0, "passed", detail)

    @staticmethod
    def fail(status: str, detail: str = "", score: float = 0.0) -> "Verdict":
        return Verdict(False, score, status, detail)
