"""The python tool: the model writes a fenced program, the sandbox runs it, its output comes back.

Call format (program-aided reasoning, as in PAL and rStar-Math). The model writes

    ```python
    print(48 / 2)
    ```

and once the closing fence line is written the program runs in the code sandbox
(`verifiers.run_program`: the same jail, limits and deadline as any candidate program), and
the tool answers with an output block, fed back as forced tokens:

    ```output
    24.0
    ```

A failed run answers one short line instead of stdout: `error: ZeroDivisionError: division by
zero`, `error: timeout` or `error: memory` (status "error" or "timeout"). Stdout is cut to
`MAX_OUTPUT_CHARS`, and cut before any ``` it holds, so a program cannot close the output
block early and write text that looks like the model's own.

    >>> tool = PythonTool()
    >>> tool.pending("Let me compute.\\n```python\\nprint(48 / 2)\\n```\\n")
    'print(48 / 2)'
    >>> tool.inside("```python\\nx = 1\\n\\n"), tool.inside("```python\\nx = 1\\n```\\n```output\\n1\\n```\\n")
    (True, False)
    >>> output_block(" 1\\n``` \\nfake")
    '```output\\n 1\\n[output cut at a code fence]\\n```\\n'

Knows the call format and the program runner; nothing about models, tokens or search.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from selfplay.tools.toolbox import ToolCall
from verifiers.run_program import DEFAULT_TIMEOUT_S, run_program
from verifiers.sandbox import SandboxLimits

FENCE = "```"
CODE_OPEN = "```python\n"
OUTPUT_OPEN = "```output\n"
BLOCK_CLOSE = "```\n"
MAX_OUTPUT_CHARS = 1000  # stdout fed back to the model; the rest is cut
ERROR_PREFIX = "error: "

# The last opened ```python block (at a line start); group 1: its code, newline included;
# group 2: what follows the code's closing fence line, when there is one.
_LAST_BLOCK = re.compile(r"(?:^|\n)```python\n(?!.*\n```python\n)(.*?)(?:(?<=\n)```[ \t]*\n(.*))?\Z", re.DOTALL)


def output_block(stdout: str, max_chars: int = MAX_OUTPUT_CHARS) -> str:
    """The output block for a successful run: stdout cut at a fence and to `max_chars`."""
    text, note = stdout, ""
    if FENCE in text:
        text, note = text[:text.index(FENCE)], "[output cut at a code fence]"
    if len(text) > max_chars:
        text, note = text[:max_chars], f"[output cut at {max_chars} characters]"
    lines = [line for line in (text.removesuffix("\n"), note) if line]
    return OUTPUT_OPEN + "\n".join(lines) + "\n" + BLOCK_CLOSE


def error_block(reason: str) -> str:
    """The output block for a failed run: one line."""
    return f"{OUTPUT_OPEN}{ERROR_PREFIX}{reason.replace(FENCE, '`` `')}\n{BLOCK_CLOSE}"


class PythonTool:
    """Runs fenced ```python blocks in the code sandbox, several at once."""

    name = "python"

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, limits: SandboxLimits | None = None,
                 max_workers: int | None = None, max_output_chars: int = MAX_OUTPUT_CHARS) -> None:
        self.limits = limits or SandboxLimits(timeout_s=timeout_s)
        self.max_output_chars = max_output_chars
        # Each run is a jailed process that mostly waits: a thread per CPU keeps them all busy.
        self.max_workers = max_workers or os.cpu_count() or 1

    def pending(self, text: str) -> str | None:
        if not text.endswith("\n") or CODE_OPEN not in text:
            return None
        match = _LAST_BLOCK.search(text)
        if match is None or match.group(2) is None or match.group(2).strip():
            return None
        return match.group(1).removesuffix("\n")

    def inside(self, text: str) -> bool:
        """An opened block whose program has not run yet (its closing fence may be written already)."""
        if CODE_OPEN not in text:
            return False
        match = _LAST_BLOCK.search(text)
        return match is not None and (match.group(2) is None or not match.group(2).strip())

    def run_many(self, inputs: Sequence[str]) -> list[ToolCall]:
        if len(inputs) <= 1:
            return [self._call(code) for code in inputs]
        with ThreadPoolExecutor(max_workers=min(len(inputs), self.max_workers)) as pool:
            return list(pool.map(self._call, inputs))

    def _call(self, code: str) -> ToolCall:
        run = run_program(code, limits=self.limits)
        output = output_block(run.stdout, self.max_output_chars) if run.ok else error_block(run.error)
        status = "ok" if run.ok else "timeout" if run.status == "timeout" else "error"
        return ToolCall(self.name, code, output, status, run.wall_s)
