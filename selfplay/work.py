"""One unit of a round's sampling work, and how a round hands work to whoever runs it.

A round shards its training problems into `SampleJob`s' worth of work and gives them to an
executor; the executor runs `sample_problem` on each (in this process, or in Ray actors that
each hold a loaded policy) and hands back `ProblemTrees` as they finish, in any order. The
round writes each result as it arrives, so a crash loses at most the problems in flight.

    executor.run(problems, job, on_result)   # on_result(ProblemTrees) is called once per problem

Executors: `LocalExecutor` here (`--workers 0`), `selfplay.ray_runner.RayExecutor` (N actors).
Knows the policy surface, deliberation and the tree format; nothing about files or training.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from selfplay.tasks import Problem


@dataclass(frozen=True)
class SampleJob:
    """What every worker needs to know to sample one round's trees (small and picklable)."""

    round: int  # the round being sampled (round K samples with the adapter of round K-1)
    model_dir: str  # the base model: loaded once per worker, never reloaded between rounds
    adapter_dir: str | None  # the previous round's LoRA adapter, or None for the base model
    strategy: str  # search strategy that grows each problem's tree (see `search.STRATEGIES`)
    budget: int  # compute per problem, in complete sampled answers
    seed: int  # run seed; a problem's seed derives from (seed, round, problem id)
    search_overrides: dict = field(default_factory=dict)  # SearchConfig fields to override


@dataclass
class ProblemTrees:
    problem_id: str
    trees: list[dict]  # selfplay.tree/1 dicts, verdicts set on terminal nodes
    tokens: int  # model tokens spent on this problem
    wall_s: float
    worker: str = ""  # which worker ran it (for logs)


def problem_round_seed(seed: int, round_index: int, problem_id: str) -> int:
    """The seed of one problem's sampling in one round: replayable, independent of sharding."""
    digest = hashlib.blake2b(f"{seed}:{round_index}:{problem_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class Executor(Protocol):
    def run(self, problems: Sequence[Problem], job: SampleJob, on_result: Callable[[ProblemTrees], None]) -> None:
        """Sample every problem once; call `on_result` exactly once per problem, from this thread."""
        ...
