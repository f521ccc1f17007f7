"""Where tool output sits in a text, and token ids that leave it out of the training loss.

A tool's output is fed to the model as forced tokens, so training should teach the model to
*call* the tool, not to imitate what the tool wrote. Two call formats leave output in a text:
the calculator's `<<48/2=24>>` (output `24>>`) and the python tool's fenced output block
("```output\\n...\\n```\\n" after a ```python block).

    >>> text = "<<25-5=20>>\\n<<20*4=80>>"
    >>> [text[start:end] for start, end in tool_output_spans(text)]
    ['20>>', '80>>']

`encode_masked` tokenises the pieces in and out of those spans separately, as the decode loop
does (model tokens and forced tokens are never merged into one token), and marks which ids
carry loss. Knows the call formats and tokenizers; nothing about models or training.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

_CALCULATOR_OUTPUT = re.compile(r"<<[^<>\n=]{1,200}=(([^<>\n]{0,200})>>)")  # 1: the tool's output, 2: its result
_PYTHON_OUTPUT = re.compile(r"```python\n.*?```\n(```output\n.*?```\n?)", re.DOTALL)


def tool_output_spans(text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of calculator and python outputs in `text`, in order."""
    spans = [match.span(1) for match in _CALCULATOR_OUTPUT.finditer(text)]
    spans += [match.span(1) for match in _PYTHON_OUTPUT.finditer(text)]
    return sorted(spans)


def calculator_results(text: str) -> list[str]:
    """The results the calculator wrote in `text`, in order (`<<3*4=12>>` -> "12").

    >>> calculator_results("<<3*4=12>>\\n<<12/5=12/5>>\\n#### 2")
    ['12', '12/5']
    """
    return [match.group(2).strip() for match in _CALCULATOR_OUTPUT.finditer(text)]


def encode_masked(tokenizer, text: str, spans: Sequence[Sequence[int]]) -> tuple[list[int], list[int]]:
    """(token ids of `text`, 1 where the id is the model's own and 0 inside a tool output span).

    >>> from selfplay.builtin_model.tokenizer import build_tokenizer
    >>> encode_masked(build_tokenizer(), "<<2+2=4>>\\n", [(6, 9)])[1]
    [1, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    """
    ids: list[int] = []
    mask: list[int] = []
    cursor = 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if not 0 <= cursor <= start <= end <= len(text):
            raise ValueError(f"tool span {start}:{end} overlaps another or lies outside a text of {len(text)} characters")
        for piece, trainable in ((text[cursor:start], 1), (text[start:end], 0)):
            if piece:
                piece_ids = _encode(tokenizer, piece, split_special=not trainable)
                ids += piece_ids
                mask += [trainable] * len(piece_ids)
        cursor = end
    if cursor < len(text):
        piece_ids = _encode(tokenizer, text[cursor:], split_special=False)
        ids += piece_ids
        mask += [1] * len(piece_ids)
    return ids, mask


def _encode(tokenizer, text: str, split_special: bool) -> list[int]:
    return tokenizer(text, add_special_tokens=False, split_special_tokens=split_special)["input_ids"]
