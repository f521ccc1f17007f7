"""The batched decode loop: from many prefix states to sampled continuations, in one loop.

`generate(model, states, settings, ...)` runs two phases:

1. prefill: each state's uncached tokens are fed through the model on top of its cached KV
   (`kv.assemble`, left padding, per-row position ids). With cache reuse this is one row per
   state, usually just its pending last token, and the KV of longer runs (a root's prompt) is
   written back into the state so it is never encoded again; without reuse every sample row
   re-encodes its whole prefix (what `generate(num_return_sequences=K)` does).
2. decode: the prefilled rows are repeated `num_samples` times (siblings share their parent's
   KV rather than re-encoding it) into a `GrowingCache`, and all rows decode together, one token
   per forward, until each has hit its stop (delimiter, EOS, or a length cap).

The caller turns the rows into steps or completions; `Generation.cache` still holds each row's
KV from its state's last token (slot `decode_start - 1`) onward, so children can keep it.

Log-probs reported are the model's own (log-softmax of the logits), before temperature/top-p.

Knows the HF forward signature, caches and stop rules; nothing about prompts, text or search.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol, Sequence

import torch

from selfplay.model.kv import GrowingCache, KVSegment, PrefixState, Scratch, assemble, cached_pieces, row_kv
from selfplay.model.next_token import StopRule, choose_tokens


@dataclass
class Usage:
    """Tokens pushed through the model: prefill builds caches, decode generates tokens."""

    prefill_tokens: int = 0  # tool output fed back as forced tokens counts here too
    decode_tokens: int = 0
    forward_calls: int = 0
    tool_calls: int = 0  # tool runs (calculator, python)

    @property
    def total_tokens(self) -> int:
        return self.prefill_tokens + self.decode_tokens

    def copy(self) -> Usage:
        return Usage(self.prefill_tokens, self.decode_tokens, self.forward_calls, self.tool_calls)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.prefill_tokens - other.prefill_tokens, self.decode_tokens - other.decode_tokens,
                     self.forward_calls - other.forward_calls, self.tool_calls - other.tool_calls)

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prefill_tokens + other.prefill_tokens, self.decode_tokens + other.decode_tokens,
                     self.forward_calls + other.forward_calls, self.tool_calls + other.tool_calls)

    def to_dict(self) -> dict:
        return {"prefill_tokens": self.prefill_tokens, "decode_tokens": self.decode_tokens,
                "forward_calls": self.forward_calls, "total_tokens": self.total_tokens,
                "tool_calls": self.tool_calls}


@dataclass(frozen=True)
class DecodeSettings:
    num_samples: int  # continuations per state
    temperature: float  # 0 = greedy
    top_p: float  # nucleus mass kept when sampling
    max_tokens: int  # cap on tokens per continuation
    min_tokens: int  # no stop (delimiter or EOS) before this many tokens
    max_total_tokens: int  # cap on prefix + continuation (the model's context)

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.max_tokens < 1:
            raise ValueError("num_samples and max_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")


@dataclass
class GeneratedRow:
    token_ids: list[int]
    token_logprobs: list[float]
    finish_reason: str  # "delimiter", "eos", "max_tokens" or "max_total_tokens"
    forced: list[bool] = field(default_factory=list)  # per token: fed from a tool's output, not sampled
    tool_calls: list = field(default_factory=list)  # ToolCall per run, `start` = its output's first token


class ToolFeed(Protocol):
    """What the decode loop needs from the policy's tools (see `selfplay.tools`)."""

    def pending(self, text: str) -> tuple[str, str] | None: ...
    def inside(self, text: str) -> bool: ...
    def run(self, requests: Sequence[tuple[str, str]]) -> list: ...
    def encode(self, text: str) -> list[int]: ...


@dataclass
class Generation:
    rows: list[GeneratedRow]  # len(states) * num_samples, the samples of state i at i*K .. i*K+K-1
    cache: GrowingCache  # row r: its state's last token at slot decode_start-1, then its generated tokens
    decode_start: int
    prefilled: list[int] = field(default_factory=list)  # tokens each prefill row fed (a state with cache reuse,
    # a sample row without): with each row's generated tokens, what the call cost per state


@dataclass
class _Prefill:
    cache: object  # DynamicCache over B rows, L slots
    mask: torch.Tensor  # (B, L) 1 on real tokens
    logprobs: torch.Tensor  # (B, V) next-token log-probs per row
    fed: list[int]  # tokens fed per row


def forward(model, input_ids, attention_mask, position_ids, cache) -> torch.Tensor:
    """Next-token log-probs after the last input position, per row: (B, V) float32."""
    output = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   cache=cache, use_cache=True, logits_to_keep=1)
    return torch.log_softmax(output.logits[:, -1].float(), dim=-1)


def _cached(state: PrefixState, reuse_cache: bool, version: int) -> tuple[list, int]:
    """(cached pieces, cached length) for one row; the last token is always fed again."""
    if not reuse_cache:
        return [], 0
    pieces, cached = cached_pieces(state, version)
    return (pieces, cached) if cached < len(state.token_ids) else ([], 0)


def _prefill(model, rows: list[PrefixState], reuse_cache: bool, version: int, pad_id: int, room: int,
             scratch: Scratch, usage: Usage) -> _Prefill:
    plans = [_cached(state, reuse_cache, version) for state in rows]
    cached = [plan[1] for plan in plans]
    pending = [state.token_ids[n:] for state, n in zip(rows, cached)]  # never empty
    longest_cached, longest_pending = max(cached), max(map(len, pending))
    device = model.device
    cache = assemble([plan[0] for plan in plans], cached, longest_pending + room, scratch)
    mask = torch.zeros(len(rows), longest_cached + longest_pending, dtype=torch.long, device=device)  # (B, L)
    input_ids = torch.full((len(rows), longest_pending), pad_id, dtype=torch.long, device=device)  # (B, P)
    position_ids = torch.zeros_like(input_ids)  # (B, P)
    for row, (n, tokens) in enumerate(zip(cached, pending)):
        mask[row, longest_cached - n:longest_cached] = 1
        mask[row, mask.shape[1] - len(tokens):] = 1
        input_ids[row, longest_pending - len(tokens):] = torch.tensor(tokens, device=device)
        position_ids[row, longest_pending - len(tokens):] = torch.arange(n, n + len(tokens), device=device)
    logprobs = forward(model, input_ids, mask, position_ids, cache)  # (B, V)
    usage.prefill_tokens += sum(map(len, pending))
    usage.forward_calls += 1
    if reuse_cache:
        _write_back(rows, plans, pending, cache, mask.shape[1], version)
    return _Prefill(cache, mask, logprobs, [len(tokens) for tokens in pending])


def _write_back(rows, plans, pending, cache, length: int, version: int) -> None:
    """Keep the KV of the tokens just fed, all but each state's last, on their states."""
    for row, (state, (pieces, _), tokens) in enumerate(zip(rows, plans, pending)):
        if len(tokens) < 2:
            continue
        keys, values = row_kv(cache, row, length - len(tokens), length - 1)
        own = pieces[-1][0] if pieces else None  # the state's segment before this call (a state may repeat)
        state.segment = own.extended(keys, values) if own else KVSegment(0, keys, values, version)


def generate(model, states: Sequence[PrefixState], settings: DecodeSettings, stop: StopRule, *,
             reuse_cache: bool, version: int, pad_id: int, generators, groups: Sequence[int],
             usage: Usage, scratch: Scratch | None = None, tools: ToolFeed | None = None) -> Generation:
    """Sample `settings.num_samples` continuations of every state; `groups[i]` picks state i's generator."""
    samples = settings.num_samples
    # No row decodes past the model's context, so no buffer is made longer than that: a cap of 10**9
    # new tokens used to be allocated as it was asked (terabytes) before the context stopped every row.
    room = max(1, settings.max_total_tokens - min(len(state) for state in states))
    if settings.max_tokens > room:
        settings = replace(settings, max_tokens=room)
    rows = list(states) if reuse_cache else [state for state in states for _ in range(samples)]
    repeats = samples if reuse_cache else 1
    # With one sample per row, the prefill cache gets room to decode in and is used as it is.
    in_place = repeats == 1
    scratch = scratch or Scratch()
    prefill = _prefill(model, rows, reuse_cache, version, pad_id, settings.max_tokens if in_place else 0, scratch,
                       usage)
    start = prefill.mask.shape[1]
    cache = prefill.cache
    if not (in_place and isinstance(cache, GrowingCache)):
        cache = GrowingCache.repeated(cache, repeats, start + settings.max_tokens, scratch)
    count = len(states) * samples
    mask = prefill.mask.new_zeros(count, start + settings.max_tokens)  # (R, L + T)
    mask[:, :start] = prefill.mask.repeat_interleave(repeats, dim=0)
    logprobs = prefill.logprobs.repeat_interleave(repeats, dim=0)  # (R, V)
    base = torch.tensor([len(states[r // samples]) for r in range(count)], device=mask.device)  # (R,)
    row_groups = [groups[r // samples] for r in range(count)]
    results = _decode_loop(model, cache, mask, logprobs, base, start, settings, stop, generators, row_groups, pad_id,
                           usage, tools)
    return Generation(results, cache, start, prefill.fed)


def _decode_loop(model, cache, mask, logprobs, base, start, settings, stop, generators, row_groups, pad_id,
                 usage, tools=None) -> list[GeneratedRow]:
    count = logprobs.shape[0]
    rows = [GeneratedRow([], [], "") for _ in range(count)]
    texts, active = [""] * count, list(range(count))
    forced_queue: list[list[int]] = [[] for _ in range(count)]  # tool output still to feed, per row
    eos = torch.tensor(sorted(stop.eos_ids), dtype=torch.long, device=logprobs.device)
    base_list = base.tolist()
    for step in range(settings.max_tokens):
        scores = logprobs
        if step + 1 < settings.min_tokens and eos.numel():
            scores = logprobs.index_fill(1, eos, float("-inf"))
        chosen = choose_tokens(scores, settings.temperature, settings.top_p, generators, row_groups)  # (R,)
        forcing = [r for r in active if forced_queue[r]]
        if forcing:  # a tool's output is fed, not sampled
            chosen = chosen.clone()
            chosen[forcing] = torch.tensor([forced_queue[r].pop(0) for r in forcing], device=chosen.device)
        chosen_logprobs = logprobs.gather(1, chosen[:, None])[:, 0].tolist()
        chosen_list = chosen.tolist()
        forcing_set, requests, still = set(forcing), [], []
        for r in active:
            row, token = rows[r], chosen_list[r]
            row.token_ids.append(token)
            is_forced = r in forcing_set
            row.token_logprobs.append(0.0 if is_forced else chosen_logprobs[r])
            row.forced.append(is_forced)
            if is_forced:
                reason, texts[r] = None, texts[r] + stop.text_of(token)
            else:
                reason, texts[r] = stop.check(texts[r], token, allow_stop=step + 1 >= settings.min_tokens)
                if tools is not None and reason == "delimiter" and tools.inside(texts[r]):
                    reason = None  # an open call (a fenced program) holds the step together
            if reason is None and base_list[r] + step + 1 >= settings.max_total_tokens:
                reason = "max_total_tokens"
            elif reason is None and step + 1 == settings.max_tokens:
                reason = "max_tokens"
            if reason is None:
                still.append(r)
                if tools is not None and not is_forced and not forced_queue[r]:
                    request = tools.pending(texts[r])
                    if request is not None:
                        requests.append((r, request))
            else:
                row.finish_reason = reason
        usage.decode_tokens += len(active) - len(forcing)
        usage.prefill_tokens += len(forcing)
        if requests:
            _run_tools(tools, requests, rows, forced_queue, usage)
        active = still
        if not active:
            break
        live = torch.zeros(count, dtype=torch.bool, device=mask.device)
        live[active] = True
        mask[:, start + step] = live.long()
        input_ids = torch.where(live, chosen, torch.full_like(chosen, pad_id))[:, None]  # (R, 1)
        logprobs = forward(model, input_ids, mask[:, :start + step + 1], (base + step)[:, None], cache)  # (R, V)
        usage.forward_calls += 1
    return rows


def _run_tools(tools: ToolFeed, requests, rows, forced_queue, usage: Usage) -> None:
    """Run the calls rows just ended (one batch) and queue each output as that row's forced tokens."""
    calls = tools.run([request for _, request in requests])
    usage.tool_calls += len(calls)
    for (r, _), call in zip(requests, calls):
        forced_queue[r] = list(tools.encode(call.output))
        rows[r].tool_calls.append(replace(call, start=len(rows[r].token_ids)))
