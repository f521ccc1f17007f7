"""Seed derivation: one 63-bit seed per named piece of work, stable across runs, machines and Python versions.

    >>> derive_seed(0, 0, "expand")        # search: one model call on node 0, the root
    179856107918654894
    >>> derive_seed(5, "p0")               # evaluation: one problem's samples
    9018138581837410348

`derive_seed(seed, *parts)` hashes `"seed:part:part..."` (each part as `str` writes it) with
BLAKE2b (8 bytes) and keeps the top 63 bits, so the value is a non-negative int64. A seed never
depends on batch layout, worker or order, only on the names of the work it seeds.

The lab's seeds chain, each stage hashing the seed the stage above handed it:

    run seed --(round, problem id)--> a problem's sampling in one round            (selfplay.loop.work)
    that seed, or an evaluation's seed --(problem id, strategy)--> one search     (selfplay.answering.deliberate)
    that search's seed --(node, purpose)--> one model call in the search          (search.run)

and an evaluation seeds a problem's greedy or sampled answers with (its seed, problem id)
(`selfplay.answering.evaluate`). The chain is kept as it is, though one hash of all the names would do:
folding it would change every seed, and so every recorded tree and round result.

Two older schemes stay as they are, because their values are recorded: the committed task
splits and the pretraining corpus hash the names joined by "/" with SHA-256 into 32 bits
(`selfplay.tasks.splits`; changing it would change every committed data file), and a few
shuffles and picks seed `random.Random` with the text "seed:part:..." itself (the curriculum's
walk through a train file, the replay draw of selection, the scorers' training data), which
Python hashes with SHA-512.

Pure and standard library only.
"""
from __future__ import annotations

import hashlib


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for the work named by `parts` under `seed`: BLAKE2b of "seed:part:...", top 63 bits."""
    text = ":".join(str(part) for part in (seed, *parts))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
