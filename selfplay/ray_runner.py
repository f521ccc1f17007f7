"""Sampling a round on a Ray cluster: N actors, each holding one loaded policy, fed problems as a stream.

    with RayExecutor(workers=4) as executor:           # connects to a cluster, or starts a local one
        executor.run(problems, job, on_result)         # on_result(ProblemTrees), once per problem
        executor.run(problems, next_job, on_result)    # same actors: only the adapter is swapped

Each `SamplerActor` loads the base model once (`Policy.from_pretrained`, torch threads =
`threads_per_worker`) and switches to the job's LoRA adapter when it differs from the one it
holds, so rounds never reload the base. Adapter directories are compared by path: every round
writes its adapter to a new directory.

Streaming: at most `max_in_flight_per_worker` problems are queued on each actor; the driver
waits (always with a timeout) for whichever finishes first, hands it to `on_result` at once
and submits the next. Exactly once: a problem has at most one live attempt, and only a
successful attempt is delivered. Failures:
- the actor died (crash, OOM kill, lost node): Ray restarts it (`max_restarts`); the problem goes
  back to the front of the queue, up to `crash_retries` times (a problem that kills every
  worker it touches is reported, not retried forever); the actor gets no new work until a
  ping shows it is back;
- `sample_fn` raised: retried `retries` times, then `SamplingError` naming the problem;
- an actor's constructor raised (bad model directory): `ClusterError` at once;
- no problem finished for `stall_timeout_s` (say, actors waiting for resources): `ClusterError`.

Authentication: Ray 2.60 turns token auth on for clusters started without `RAY_AUTH_MODE`.
When this module starts a local cluster and the variable is unset, it sets
`RAY_AUTH_MODE=disabled` for this process and the cluster it starts. Connecting to an existing
cluster leaves the variable to the user (it must match the cluster's). See docs/ray.md.

The only module of `selfplay` that imports ray. Knows the executor protocol, `SampleJob` and
how to load a policy; nothing about search, verifiers, files or training.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections import Counter, deque
from typing import Callable, Sequence

import ray
from ray import exceptions as ray_errors

from selfplay.tasks import Problem
from selfplay.work import ProblemTrees, SampleJob

__all__ = ["RayExecutor", "SamplerActor", "SamplingError", "ClusterError", "connect", "load_policy"]

AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"
logger = logging.getLogger(__name__)

SampleFn = Callable[[object, Problem, SampleJob], ProblemTrees]
PolicyFactory = Callable[[str, int, str], object]  # (model_dir, threads, device) -> policy


class SamplingError(RuntimeError):
    """One problem could not be sampled: its sample function kept raising, or it kept killing workers."""

    def __init__(self, problem_id: str, message: str) -> None:
        super().__init__(message)
        self.problem_id = problem_id


class ClusterError(RuntimeError):
    """The cluster cannot do the work: workers fail to start, are all gone, or make no progress."""


def load_policy(model_dir: str, threads: int, device: str):
    """The default policy factory: the base model on `device`, torch limited to `threads` threads."""
    import torch

    from selfplay.model.policy import Policy
    torch.set_num_threads(threads)
    return Policy.from_pretrained(model_dir, device=device)


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Make sure this process talks to a Ray cluster; True when it started a new local one.

    An explicit `address`, `RAY_ADDRESS`, or a cluster started on this machine with `ray start`
    is joined; otherwise a local cluster with `num_cpus` CPUs is started, with token auth off
    unless `RAY_AUTH_MODE` says otherwise. Already connected: nothing to do.
    """
    if ray.is_initialized():
        return False
    address = address or _existing_cluster()
    if address is not None:
        ray.init(address=address, logging_level=logging.WARNING)
        return False
    os.environ.setdefault(AUTH_MODE_VARIABLE, "disabled")
    ray.init(num_cpus=num_cpus, logging_level=logging.WARNING)
    return True


def _existing_cluster() -> str | None:
    """The address `ray.init()` would join (RAY_ADDRESS, then the last `ray start` here), or None."""
    from ray._private import services  # the lookup ray.init itself uses; no public equivalent
    try:
        return services.canonicalize_bootstrap_address(None)
    except (ConnectionError, ValueError):
        return None


class Sampler:
    """One worker: a loaded policy, the adapter it currently holds, and the sample function."""

    def __init__(self, name: str, model_dir: str, policy_factory: PolicyFactory | None,
                 sample_fn: SampleFn | None, threads: int, device: str) -> None:
        self.name = f"{name}@{socket.gethostname()}:{os.getpid()}"
        self.policy = (policy_factory or load_policy)(model_dir, threads, device)
        if sample_fn is None:
            from selfplay.work import sample_problem as sample_fn
        self.sample_fn = sample_fn
        self.adapter_dir: str | None = None

    def ping(self) -> str:
        return self.name

    def sample(self, problem: Problem, job: SampleJob) -> ProblemTrees:
        if job.adapter_dir != self.adapter_dir:
            if job.adapter_dir is None:
                self.policy.unload_adapter()
            else:
                self.policy.load_adapter(job.adapter_dir)
            self.adapter_dir = job.adapter_dir
        return dataclasses.replace(self.sample_fn(self.policy, problem, job), worker=self.name)


SamplerActor = ray.remote(Sampler)


class RayExecutor:
    """`Executor` over N Ray actors that keep their policy loaded across runs (rounds)."""

    def __init__(self, workers: int | None = None, *, address: str | None = None, threads_per_worker: int = 1,
                 max_in_flight_per_worker: int = 2, gpus_per_worker: float | str = "auto",
                 sample_fn: SampleFn | None = None, policy_factory: PolicyFactory | None = None,
                 retries: int = 1, crash_retries: int = 3, max_restarts: int = 4,
                 stall_timeout_s: float = 900.0, poll_s: float = 1.0, get_timeout_s: float = 120.0) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1 (or None for one per core / GPU), got {workers}")
        if threads_per_worker < 1 or max_in_flight_per_worker < 1:
            raise ValueError("threads_per_worker and max_in_flight_per_worker must be >= 1")
        if gpus_per_worker != "auto" and not (isinstance(gpus_per_worker, (int, float)) and gpus_per_worker >= 0):
            raise ValueError(f"gpus_per_worker must be 'auto' or a number >= 0, got {gpus_per_worker!r}")
        if min(retries, crash_retries, max_restarts) < 0 or min(stall_timeout_s, poll_s, get_timeout_s) <= 0:
            raise ValueError("retry counts must be >= 0 and timeouts > 0")
        self.workers, self.address, self.threads_per_worker = workers, address, threads_per_worker
        self.max_in_flight_per_worker, self.gpus_per_worker = max_in_flight_per_worker, gpus_per_worker
        self.sample_fn, self.policy_factory = sample_fn, policy_factory
        self.retries, self.crash_retries, self.max_restarts = retries, crash_retries, max_restarts
        self.stall_timeout_s, self.poll_s, self.get_timeout_s = stall_timeout_s, poll_s, get_timeout_s
        self.actors: list = []  # actor handles, index = worker number
        self._model_dir: str | None = None
        self._dead: set[int] = set()  # out of restarts; replaced at the start of the next run
        self._started_cluster = False

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Kill the actors (and the local cluster, if this executor started it)."""
        self._kill_actors()
        if self._started_cluster:
            ray.shutdown()
            self._started_cluster = False

    def _kill_actors(self) -> None:
        if ray.is_initialized():
            for actor in self.actors:
                ray.kill(actor, no_restart=True)
        self.actors, self._model_dir, self._dead = [], None, set()

    def _ensure_actors(self, model_dir: str) -> None:
        if self.actors and model_dir != self._model_dir:
            self._kill_actors()  # another base model: new actors
        if not ray.is_initialized():
            self._started_cluster = connect(self.address, num_cpus=self._local_cpus())
        gpus = self._gpus_per_worker()
        if not self.actors:
            count = self.workers or self._default_workers(gpus)
            self.actors = [self._new_actor(index, model_dir, gpus) for index in range(count)]
        for index in sorted(self._dead):  # out of restarts in an earlier run: a fresh actor
            self.actors[index] = self._new_actor(index, model_dir, gpus)
        self._model_dir, self._dead = model_dir, set()

    def _new_actor(self, index: int, model_dir: str, gpus: float):
        options = dict(num_cpus=self.threads_per_worker, num_gpus=gpus, max_restarts=self.max_restarts,
                       max_task_retries=0)  # lost attempts are resubmitted by `run`, which counts them
        device = "cuda" if gpus > 0 else "cpu"
        return SamplerActor.options(**options).remote(f"ray-{index}", model_dir, self.policy_factory,
                                                       self.sample_fn, self.threads_per_worker, device)

    def _local_cpus(self) -> int | None:
        return None if self.workers is None else self.workers * self.threads_per_worker

    def _gpus_per_worker(self) -> float:
        if self.gpus_per_worker == "auto":
            return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        return float(self.gpus_per_worker)

    def _default_workers(self, gpus: float) -> int:
        resources = ray.cluster_resources()
        if gpus > 0:
            return max(1, int(resources.get("GPU", 0) // gpus))
        return max(1, int(resources.get("CPU", 1) // self.threads_per_worker))

    # --- one run -------------------------------------------------------------------------------

    def run(self, problems: Sequence[Problem], job: SampleJob, on_result: Callable[[ProblemTrees], None]) -> None:
        """Sample every problem once; `on_result` is called exactly once per problem, from this thread."""
        problems = list(problems)
        repeated = [pid for pid, n in Counter(p.id for p in problems).items() if n > 1]
        if repeated:
            raise ValueError(f"duplicate problem ids {repeated[:5]}: each problem is delivered once, by id")
        if not problems:
            return
        self._ensure_actors(job.model_dir)
        _Run(self, problems, job, on_result).loop()


class _Run:
    """The driver-side state of one `RayExecutor.run`: queue, attempts in flight, actor health."""

    def __init__(self, executor: RayExecutor, problems: list[Problem], job: SampleJob,
                 on_result: Callable[[ProblemTrees], None]) -> None:
        self.executor, self.problems, self.job, self.on_result = executor, problems, job, on_result
        self.queue = deque(range(len(problems)))  # problem indices waiting for an actor
        self.attempts: dict = {}  # ObjectRef -> (actor index, problem index)
        self.pings: dict = {}  # ObjectRef -> actor index: actors waiting to be seen alive again
        self.load = Counter()  # actor index -> attempts queued on it
        self.healthy = set(range(len(executor.actors)))
        self.errors, self.crashes = Counter(), Counter()  # problem index -> failed attempts
        self.delivered = 0

    def loop(self) -> None:
        last_progress = time.monotonic()
        try:
            while self.delivered < len(self.problems):
                self._submit()
                waiting = list(self.attempts) + list(self.pings)
                if not waiting:
                    raise ClusterError("every worker is gone (out of restarts); nothing can run the "
                                       f"{len(self.problems) - self.delivered} problems left")
                ready, _ = ray.wait(waiting, num_returns=1, timeout=self.executor.poll_s)
                if not ready:
                    if time.monotonic() - last_progress > self.executor.stall_timeout_s:
                        raise ClusterError(self._stall_message())
                    continue
                for ref in ready:
                    if ref in self.pings:
                        self._on_ping(ref)
                    elif self._on_attempt(ref):
                        last_progress = time.monotonic()
        finally:
            for ref in self.attempts:  # queued attempts of a failed run must not delay the next one
                ray.cancel(ref)

    def _submit(self) -> None:
        executor = self.executor
        while self.queue:
            free = [a for a in self.healthy if self.load[a] < executor.max_in_flight_per_worker]
            if not free:
                return
            actor = min(free, key=lambda a: (self.load[a], a))
            index = self.queue.popleft()
            ref = executor.actors[actor].sample.remote(self.problems[index], self.job)
            self.attempts[ref] = (actor, index)
            self.load[actor] += 1

    def _on_attempt(self, ref) -> bool:
        """Deliver a finished attempt, or requeue / raise for a failed one. True when delivered."""
        actor, index = self.attempts.pop(ref)
        self.load[actor] -= 1
        problem_id = self.problems[index].id
        try:
            result = ray.get(ref, timeout=self.executor.get_timeout_s)
        except (ray_errors.RayActorError, ray_errors.WorkerCrashedError, ray_errors.ObjectLostError) as error:
            self._on_actor_lost(actor, error)  # the worker or its node died; the attempt is lost
            self._retry(index, self.crashes, self.executor.crash_retries,
                        f"its worker died {self.crashes[index] + 1} times", error)
            return False
        except ray_errors.RayTaskError as error:
            self._retry(index, self.errors, self.executor.retries,
                        f"sampling raised {self.errors[index] + 1} times", error)
            return False
        if result.problem_id != problem_id:
            raise SamplingError(problem_id, f"problem {problem_id}: sample function returned trees of "
                                            f"{result.problem_id!r}")
        self.delivered += 1
        self.on_result(result)
        return True

    def _retry(self, index: int, failures: Counter, limit: int, what: str, error: Exception) -> None:
        failures[index] += 1
        problem_id = self.problems[index].id
        if failures[index] > limit:
            cause = getattr(error, "cause", None) or error
            raise SamplingError(problem_id, f"problem {problem_id} failed: {what}; last error: "
                                            f"{type(cause).__name__}: {cause}") from error
        logger.warning("problem %s: %s, retrying", problem_id, what)
        self.queue.appendleft(index)

    def _on_actor_lost(self, actor: int, error: ray_errors.RayError) -> None:
        if getattr(error, "actor_init_failed", False):
            raise ClusterError(f"worker ray-{actor} failed to start (loading {self.job.model_dir}): "
                               f"{error}") from error
        if actor in self.healthy:  # no new work until a ping shows the restarted actor is up
            self.healthy.discard(actor)
            self.pings[self.executor.actors[actor].ping.remote()] = actor

    def _on_ping(self, ref) -> None:
        actor = self.pings.pop(ref)
        try:
            ray.get(ref, timeout=self.executor.get_timeout_s)
        except ray_errors.RayActorError as error:
            if error.actor_init_failed:
                raise ClusterError(f"worker ray-{actor} failed to restart: {error}") from error
            logger.warning("worker ray-%d is out of restarts; going on without it", actor)
            self.executor._dead.add(actor)
            return
        self.healthy.add(actor)

    def _stall_message(self) -> str:
        executor = self.executor
        return (f"no problem finished in {executor.stall_timeout_s:.0f} s ({self.delivered}/{len(self.problems)} "
                f"done, {len(self.attempts)} in flight). Each of the {len(executor.actors)} workers needs "
                f"{executor.threads_per_worker} CPU and {executor._gpus_per_worker()} GPU; the cluster has "
                f"{ray.available_resources()} free of {ray.cluster_resources()}. Raise stall_timeout_s if "
                "one problem legitimately takes longer.")
