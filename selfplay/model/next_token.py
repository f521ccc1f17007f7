"""Choosing the next token and deciding where a step ends.

`choose_tokens` turns next-token log-probs into token ids: argmax at temperature 0, otherwise
temperature and nucleus (top-p) sampling with explicit `torch.Generator`s, one per group of rows
(so a state's samples do not depend on what else is in the batch when each state has its own
generator).

    >>> logprobs = torch.log(torch.tensor([[0.1, 0.7, 0.2]]))
    >>> choose_tokens(logprobs, temperature=0.0, top_p=1.0, generators=[None], groups=[0]).tolist()
    [1]

`StopRule` ends a step at the step delimiter (found in the decoded text, so a delimiter that
spans tokens, or a token that holds the delimiter plus more text, still ends the step) or at an
end-of-sequence token.

Knows tensors and token texts; nothing about models, caches or prompts.
"""
from __future__ import annotations

from typing import Sequence

import torch


def make_generators(seed: int | Sequence[int] | None, count: int, temperature: float,
                    device: torch.device) -> tuple[list[torch.Generator | None], list[int]]:
    """Generators and, per item, which generator it uses.

    An int seeds one generator for the whole call; a sequence gives item i its own generator
    seeded with seed[i]. Sampling (temperature > 0) without a seed is an error.
    """
    if temperature == 0:
        return [None], [0] * count
    if seed is None:
        raise ValueError("sampling (temperature > 0) needs an explicit seed")
    if isinstance(seed, int):
        return [torch.Generator(device=device).manual_seed(seed)], [0] * count
    if len(seed) != count:
        raise ValueError(f"got {len(seed)} seeds for {count} items")
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seed], list(range(count))


def choose_tokens(logprobs: torch.Tensor, temperature: float, top_p: float,
                  generators: list[torch.Generator | None], groups: Sequence[int]) -> torch.Tensor:
    """Next token per row of `logprobs` (R, V); row r samples with generators[groups[r]]."""
    if temperature == 0:
        return logprobs.argmax(dim=-1)  # (R,)
    if temperature == 1.0:
        probs = logprobs.float().exp()  # (R, V) already normalised
    else:
        probs = torch.softmax(logprobs.float() / temperature, dim=-1)  # (R, V)
    if top_p < 1.0:
        probs = _nucleus(probs, top_p)
    # multinomial is an exponential race (argmax of p / Exp(1) noise): a tiny change in the logits
    # (another batch layout) flips a sample only when two tokens nearly tie, unlike inverse-CDF
    # sampling, whose cumulative sums move every boundary at once.
    if len(generators) == 1:
        return torch.multinomial(probs, 1, generator=generators[0]).squeeze(-1)
    chosen = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    group_tensor = torch.as_tensor(list(groups), device=probs.device)
    for index, generator in enumerate(generators):
        rows = (group_tensor == index).nonzero().squeeze(-1)
        if rows.numel():
            chosen[rows] = torch.multinomial(probs[rows], 1, generator=generator).squeeze(-1)
    return chosen


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero all but the smallest set of most likely tokens whose mass reaches top_p."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (R, V)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)


class StopRule:
    """Where a step ends: at `delimiter` in the decoded text, or at an end-of-sequence token."""

    def __init__(self, token_texts: Sequence[str], eos_ids: set[int], delimiter: str | None) -> None:
        self.token_texts, self.eos_ids, self.delimiter = token_texts, eos_ids, delimiter

    def text_of(self, token_id: int) -> str:
        return self.token_texts[token_id] if token_id < len(self.token_texts) else ""

    def check(self, step_text: str, token_id: int, allow_stop: bool = True) -> tuple[str | None, str]:
        """(`"eos"`, `"delimiter"` or None, the step's text with this token appended)."""
        if token_id in self.eos_ids and allow_stop:
            return "eos", step_text
        piece = self.text_of(token_id)
        text = step_text + piece
        if allow_stop and piece and self.delimiter and self.delimiter in text[-(len(piece) + len(self.delimiter) - 1):]:
            return "delimiter", text
        return None, text
