"""Tools a policy may call in the middle of a reasoning step, and the record of each call.

A tool watches the text a row has written so far. When the text ends a call (`pending`), the
decode loop runs the tool and feeds its output back as forced tokens (prefill, never sampled),
then generation goes on. While a call is open (`inside`), a step does not end at the delimiter:
a fenced program may hold blank lines. Every run is a `ToolCall` on the step that made it, so
trees, training data and viewers can show (and training can mask) what the tool wrote.

    >>> box = Toolbox([Calculator()])
    >>> box.pending("<<48/2=")
    ('calculator', '48/2')
    >>> [call.output for call in box.run([("calculator", "48/2"), ("calculator", "1/0")])]
    ['24>>', 'error: division by zero>>']

Knows tool call formats and how to run them; nothing about models, tokens, search or files. The
tools by name are `selfplay.tools.catalog`'s: a tool module (`selfplay/tools/python.py`) imports
this one, never the other way.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from selfplay.tools import calculator

TOOL_NAMES = ("calculator", "python")


@dataclass(frozen=True)
class ToolCall:
    """One tool run: what the model asked, what came back, and where it sits in the step."""

    tool: str  # "calculator" or "python"
    input: str  # the expression or program the model wrote
    output: str  # the text fed back as forced tokens, end marker included
    status: str  # "ok", "error" or "timeout"
    wall_s: float  # time the tool took
    start: int = -1  # first character of the output within its step's text (-1: not yet placed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ToolCall:
        return cls(str(data["tool"]), str(data["input"]), str(data["output"]), str(data["status"]),
                   float(data.get("wall_s", 0.0)), int(data.get("start", -1)))

    @property
    def end(self) -> int:
        return self.start + len(self.output)


class Tool(Protocol):
    name: str

    def pending(self, text: str) -> str | None:
        """The call's input when `text` has just ended a call, else None."""

    def inside(self, text: str) -> bool:
        """Whether `text` holds an opened call that has not ended yet."""

    def run_many(self, inputs: Sequence[str]) -> list[ToolCall]:
        """Run every call (in one batch where the tool can), outputs in order."""


class Calculator:
    """`<<EXPR=` asks, `VALUE>>` answers (GSM8K's annotation). One line, at most 200 characters."""

    name = "calculator"
    _CALL = re.compile(r"<<([^<>\n]{1,%d})=$" % calculator.MAX_EXPRESSION_CHARS)

    def pending(self, text: str) -> str | None:
        if not text.endswith("="):
            return None
        match = self._CALL.search(text[-(calculator.MAX_EXPRESSION_CHARS + 3):])
        return match.group(1) if match else None

    def inside(self, text: str) -> bool:
        return False  # a call is one line; the step delimiter never falls inside it

    def run_many(self, inputs: Sequence[str]) -> list[ToolCall]:
        calls = []
        for expression in inputs:
            start = time.perf_counter()
            value = calculator.evaluate(expression)
            status = "error" if value.startswith("error") else "ok"
            calls.append(ToolCall(self.name, expression, f"{value}>>", status, time.perf_counter() - start))
        return calls


class Toolbox:
    """The tools switched on for a policy; asks each in turn whether a row's text ends a call."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools = {tool.name: tool for tool in tools}

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    def pending(self, text: str) -> tuple[str, str] | None:
        for tool in self.tools.values():
            request = tool.pending(text)
            if request is not None:
                return tool.name, request
        return None

    def inside(self, text: str) -> bool:
        return any(tool.inside(text) for tool in self.tools.values())

    def run(self, requests: Sequence[tuple[str, str]]) -> list[ToolCall]:
        """Run (tool, input) requests, each tool's requests in one batch; results in request order."""
        results: list[ToolCall | None] = [None] * len(requests)
        for name, tool in self.tools.items():
            indices = [i for i, (wanted, _) in enumerate(requests) if wanted == name]
            if indices:
                for index, call in zip(indices, tool.run_many([requests[i][1] for i in indices])):
                    results[index] = call
        return [call for call in results if call is not None]


def parse_tool_names(value: str | Sequence[str] | None) -> list[str]:
    """`"calculator,python"`, a list, or None/empty (no tools) as a checked list of names.

    >>> parse_tool_names("calculator, python"), parse_tool_names(None)
    (['calculator', 'python'], [])
    """
    if value is None:
        return []
    names = [part.strip() for part in value.split(",")] if isinstance(value, str) else [str(v) for v in value]
    names = [name for name in names if name and name != "none"]
    unknown = [name for name in names if name not in TOOL_NAMES]
    if unknown:
        raise ValueError(f"unknown tool {unknown[0]!r}; expected some of {', '.join(TOOL_NAMES)}")
    return list(dict.fromkeys(names))
