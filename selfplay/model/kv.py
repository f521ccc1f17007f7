"""Prefix states and their key/value caches, shared along a tree of reasoning steps.

A `PrefixState` is one tree node seen from the model: the token ids of the whole prefix
(prompt + steps so far) and, where computed, the keys/values of those tokens. A node stores
only the KV of its own tokens (a `KVSegment`), and reaches the rest through its parent, so a
tree of N nodes holds each token's KV once: the prompt's KV lives on the root and every child
reads it from there.

    root  (41 tokens)  segment: prompt tokens [0, 40)     <- encoded once, on first expansion
     └─ child  (49)    segment: tokens [40, 48)           <- only what its step added
         └─ grandchild (57)   segment: [48, 56)

A state's last token is always "pending": its KV is not kept, and every expansion feeds it (one
token per state) to get the next-token distribution. That costs one token per expansion and
saves keeping a vocabulary-sized log-prob vector on every node of a large tree.

Batching rows of different lengths: `assemble` left-pads each row's cached KV to the longest
one; padded slots are masked out and position ids are each row's own, so every row computes
what it would alone. `GrowingLayer` is a cache layer with room reserved for the tokens a step
will add, so decoding writes in place instead of re-concatenating the whole cache every token;
`Scratch` keeps those buffers from one expansion to the next.

Keys and values are stored per layer as (H, T, D) tensors (heads, tokens, head dim), exactly as
the model's cache layers hold them, so any full-attention HF decoder works. Sliding-window and
linear-attention caches are not supported (`check_supported`).

Knows HF cache layers and tensors; nothing about tokenizers, sampling, prompts or search.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


@dataclass(eq=False)
class KVSegment:
    """Keys/values of the prefix tokens [start, end), one (H, T, D) tensor per layer."""

    start: int
    keys: list[torch.Tensor]  # per layer (H, T, D)
    values: list[torch.Tensor]  # per layer (H, T, D)
    version: int  # the policy's weights version (adapters) these were computed with

    @property
    def end(self) -> int:
        return self.start + (self.keys[0].shape[-2] if self.keys else 0)

    def extended(self, keys: list[torch.Tensor], values: list[torch.Tensor]) -> KVSegment:
        """This segment followed by more tokens' KV."""
        return KVSegment(self.start, [torch.cat(pair, dim=-2) for pair in zip(self.keys, keys)],
                         [torch.cat(pair, dim=-2) for pair in zip(self.values, values)], self.version)


@dataclass(eq=False)
class PrefixState:
    """One node's prefix: token ids, and a handle on whatever KV of them is cached.

    `token_ids` is the truth; the cache is an optimisation that can be missing or stale (for
    example after an adapter swap), in which case the prefix is simply encoded again.
    """

    token_ids: tuple[int, ...]
    parent: PrefixState | None = None
    segment: KVSegment | None = None
    terminal: bool = False  # the step that made this state ended the answer (EOS or a length cap)

    def __len__(self) -> int:
        return len(self.token_ids)


def cached_pieces(state: PrefixState, version: int) -> tuple[list[tuple[KVSegment, int, int]], int]:
    """The segments that cover the state's cached tokens [0, n), root first, and n.

    Each piece is (segment, lo, hi): use the segment's tokens [lo, hi). A chain with a missing
    or stale link counts as nothing cached.
    """
    own = state.segment
    if own is None or own.version != version:
        return [], 0
    pieces, high, node = [], own.end, state
    while high > 0:
        segment = node.segment if node is not None else None
        if segment is None or segment.version != version or not segment.start <= high <= segment.end:
            return [], 0
        pieces.append((segment, segment.start, high))
        high, node = segment.start, node.parent
    return pieces[::-1], own.end


def assemble(rows: list[list[tuple[KVSegment, int, int]]], lengths: list[int], room: int,
             scratch: Scratch | None = None) -> DynamicCache:
    """A batch cache with each row's cached KV right-aligned (left padding) to max(lengths).

    Pad slots hold zeros (masked by the caller, but they must be finite); `room` more slots are
    reserved for the tokens the caller feeds next. An empty cache when nothing is cached.
    """
    scratch = scratch or Scratch()
    longest = max(lengths, default=0)
    if longest == 0:
        return DynamicCache()
    reference = next(piece[0] for row in rows for piece in row)
    layers = []
    for layer in range(len(reference.keys)):
        shape = (len(rows), reference.keys[layer].shape[0], longest + room)  # (B, H, M + room)
        keys = scratch.take(("assemble", "keys", layer), (*shape, reference.keys[layer].shape[-1]),
                            reference.keys[layer])  # (B, H, M + room, D)
        values = scratch.take(("assemble", "values", layer), (*shape, reference.values[layer].shape[-1]),
                              reference.values[layer])
        for row, (pieces, length) in enumerate(zip(rows, lengths)):
            offset = longest - length
            keys[row, :, :offset] = 0
            values[row, :, :offset] = 0
            for segment, low, high in pieces:
                source = slice(low - segment.start, high - segment.start)
                keys[row, :, offset + low:offset + high] = segment.keys[layer][:, source]
                values[row, :, offset + low:offset + high] = segment.values[layer][:, source]
        layers.append(GrowingLayer(keys, values, longest))
    return GrowingCache(layers)


def row_kv(cache: Cache, row: int, start: int, stop: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Copies of one row's KV at cache slots [start, stop), per layer (H, T, D)."""
    keys = [layer.keys[row, :, start:stop].clone() for layer in cache.layers]
    values = [layer.values[row, :, start:stop].clone() for layer in cache.layers]
    return keys, values


class GrowingLayer(DynamicLayer):
    """A dynamic cache layer over a preallocated (B, H, capacity, D) buffer: `update` writes in place."""

    def __init__(self, key_buffer: torch.Tensor, value_buffer: torch.Tensor, length: int) -> None:
        super().__init__()
        self._key_buffer, self._value_buffer, self._length = key_buffer, value_buffer, length
        self.dtype, self.device, self.is_initialized = key_buffer.dtype, key_buffer.device, True
        self._expose()

    @classmethod
    def repeated(cls, keys: torch.Tensor, values: torch.Tensor, repeats: int, capacity: int, scratch: Scratch,
                 layer: int) -> GrowingLayer:
        """Row b of (B, H, L, D) `keys`/`values` becomes rows b*repeats .. b*repeats+repeats-1."""
        batch, heads, length, _ = keys.shape
        key_buffer = scratch.take(("decode", "keys", layer), (batch * repeats, heads, capacity, keys.shape[-1]),
                                  keys)  # (B*K, H, C, D)
        value_buffer = scratch.take(("decode", "values", layer),
                                    (batch * repeats, heads, capacity, values.shape[-1]), values)
        key_view = key_buffer.view(batch, repeats, heads, capacity, -1)
        value_view = value_buffer.view(batch, repeats, heads, capacity, -1)
        for copy in range(repeats):  # siblings share a prefix: one copy each, no re-encoding
            key_view[:, copy, :, :length] = keys
            value_view[:, copy, :, :length] = values
        return cls(key_buffer, value_buffer, length)

    def _expose(self) -> None:
        self.keys = self._key_buffer[:, :, :self._length]
        self.values = self._value_buffer[:, :, :self._length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        new = key_states.shape[-2]
        if self._length + new > self._key_buffer.shape[-2]:  # more tokens than reserved: grow
            grow = max(new, self._key_buffer.shape[-2])
            self._key_buffer = torch.cat([self._key_buffer, self._key_buffer.new_zeros(
                *self._key_buffer.shape[:2], grow, self._key_buffer.shape[-1])], dim=-2)
            self._value_buffer = torch.cat([self._value_buffer, self._value_buffer.new_zeros(
                *self._value_buffer.shape[:2], grow, self._value_buffer.shape[-1])], dim=-2)
        self._key_buffer[:, :, self._length:self._length + new] = key_states
        self._value_buffer[:, :, self._length:self._length + new] = value_states
        self._length += new
        self._expose()
        return self.keys, self.values


class GrowingCache(DynamicCache):
    """A cache made of `GrowingLayer`s."""

    def __init__(self, layers: list[GrowingLayer]) -> None:
        Cache.__init__(self, layers=layers)

    @classmethod
    def repeated(cls, source: Cache, repeats: int, capacity: int, scratch: Scratch | None = None) -> GrowingCache:
        """A copy of `source` with each row repeated `repeats` times and room for `capacity` slots."""
        scratch = scratch or Scratch()
        return cls([GrowingLayer.repeated(layer.keys, layer.values, repeats, capacity, scratch, index)
                    for index, layer in enumerate(source.layers)])


class Scratch:
    """Batch-cache buffers kept from one expansion to the next.

    A batch cache is rebuilt for every expansion and dropped after it (children keep copies of
    their own slices). Allocating it afresh each time costs more than filling it: on CPU, touching
    hundreds of MB of new pages took longer than the model's forwards in `benchmarks/kv_cache.py`.
    The price is that the largest batch's buffers stay allocated while the owner lives.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple, torch.Tensor] = {}

    def take(self, name: tuple, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor of `shape`, dtype and device of `like`, reusing buffer `name`."""
        count = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < count or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self._buffers[name] = like.new_empty(count)
        return buffer[:count].view(shape)

    def clear(self) -> None:
        self._buffers.clear()


def check_supported(config) -> None:
    """Raise for models whose cache is not one full-attention KV layer per decoder layer."""
    text_config = config.get_text_config(decoder=True)
    layer_types = getattr(text_config, "layer_types", None) or []
    if getattr(text_config, "use_sliding_window", False) or any(kind != "full_attention" for kind in layer_types):
        raise NotImplementedError("prefix caching supports full-attention decoders only "
                                  f"(this model has layer types {sorted(set(layer_types))})")
