"""A run's work on a Ray cluster: N actors, each holding one loaded policy, fed work as a stream.

    with RayExecutor(workers=4) as executor:           # connects to a cluster, or starts a local one
        executor.run(problems, job, on_result)         # sampling: on_result(ProblemTrees), once per problem
        executor.finetune(request)                     # one actor trains the round's adapter (the others wait,
                                                       # so on the CPU it takes their threads too)
        executor.evaluate(problems, request)           # dev problems spread over the actors

Each `SamplerActor` loads the base model once (`Policy.from_pretrained`, torch threads =
`threads_per_worker`) and switches to the job's LoRA adapter when it differs from the one it
holds, so rounds never reload the base. The driver does no model work: sampling, finetuning and
evaluation all run in the actors, which hold the CPUs and GPUs.

Nothing is shared by path. Adapters travel through Ray's object store as their files' bytes
(`selfplay.execution.shipping.pack_dir`), put once per run and unpacked by each actor into its own scratch directory; the
trained adapter (and its tracker logs) come back the same way and only the driver writes them
under the run directory. The base model is sent as both the driver's path and that path relative
to the driver's working directory: an actor uses its own working directory's copy (what
`ray job submit --working-dir .` unpacks on every node), else the driver's path where its node
sees it (a shared file system), else a name that is not a path (a hub id) as given. A path no
node can open fails the run at start, naming the node.

Streaming: at most `max_in_flight_per_worker` items are queued on each actor; the driver
waits (always with a timeout) for whichever finishes first, hands it on at once and submits
the next. Exactly once: an item has at most one live attempt, and only a successful attempt is
delivered. Failures:
- the actor died (crash, OOM kill, lost node): Ray restarts it (`max_restarts`); the item goes
  back to the front of the queue, up to `crash_retries` times (a problem that kills every
  worker it touches is reported, not retried forever); the actor gets no new work until a
  ping shows it is back;
- the work function raised: retried `retries` times, then `SamplingError` naming the problem;
- an actor's constructor raised (bad model directory), or actors did not start within
  `start_timeout_s` (say, waiting for resources the cluster lacks): `ClusterError` at start;
- nothing finished for `stall_timeout_s` (say, actors waiting for resources): `ClusterError`
  (finetuning waits up to `train_timeout_s` instead).

Authentication: Ray 2.60 turns token auth on for clusters started without `RAY_AUTH_MODE`.
When this module starts a local cluster and the variable is unset, it sets
`RAY_AUTH_MODE=disabled` for this process and the cluster it starts. Connecting to an existing
cluster leaves the variable to the user (it must match the cluster's). See docs/ray.md.

The only module of `selfplay` that imports ray. Knows the executor protocol, `SampleJob`, and the
entry points of sampling, finetuning and evaluation it calls inside the actors; the run directory
and what a round does with the results are the driver's.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import tempfile
import time
from collections import Counter, deque
from typing import Callable, Sequence

import ray
from ray import exceptions as ray_errors

from selfplay.execution.shipping import Files, pack_dir, portable_model, resolve_model, unpack_dir
from selfplay.tasks import Problem
from selfplay.loop.work import EvalRequest, ProblemTrees, SampleJob, TrainRequest

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


def actor_state(actor) -> str:
    """ALIVE, RESTARTING, PENDING_CREATION or DEAD, as the cluster's control store has it (DEAD when
    it cannot tell): a failed call alone does not say whether Ray will restart the actor."""
    from ray._private import state  # the lookup `ray list actors` makes, without needing the dashboard
    try:
        info = state.actors(actor_id=actor._actor_id.hex())
    except Exception:  # noqa: BLE001 - no answer is treated as gone; the run goes on with the others
        return "DEAD"
    return str(info.get("State", "DEAD")) if info else "DEAD"


class Sampler:
    """One worker: a loaded policy, the adapter it currently holds, and the work functions."""

    def __init__(self, name: str, model: tuple[str | None, str], policy_factory: PolicyFactory | None,
                 sample_fn: SampleFn | None, threads: int, device: str) -> None:
        self.name = f"{name}@{socket.gethostname()}:{os.getpid()}"
        # a custom factory gets the path as the driver gave it; the real loader this node's copy
        self.model_dir = model[1] if policy_factory is not None else resolve_model(model)
        self.policy = (policy_factory or load_policy)(self.model_dir, threads, device)
        self.sample_fn = sample_fn  # None: the lab's own (`selfplay.loop.work.sample_problems`, batched)
        self.adapter_dir: str | None = None  # the driver's name of the adapter held (the job's adapter_dir)
        self.scratch = tempfile.mkdtemp(prefix="selfplay-actor-")
        self._unpacked = 0

    def ping(self) -> str:
        return self.name

    def node_id(self) -> str:
        """The Ray node this worker runs on."""
        return ray.get_runtime_context().get_node_id()

    def _use_adapter(self, adapter_dir: str | None, box: list | None) -> None:
        """Hold the driver's adapter `adapter_dir`: from its bytes in `box` ([ObjectRef]), else by path."""
        if adapter_dir == self.adapter_dir:
            return
        if adapter_dir is None:
            self.policy.unload_adapter()
        else:
            local = adapter_dir
            if box:
                self._unpacked += 1
                shutil.rmtree(os.path.join(self.scratch, "adapter"), ignore_errors=True)
                local = str(unpack_dir(ray.get(box[0]), os.path.join(self.scratch, "adapter", str(self._unpacked))))
            self.policy.load_adapter(local)
        self.adapter_dir = adapter_dir

    def sample(self, problems: list[Problem], job: SampleJob, adapter: list | None = None) -> list[ProblemTrees]:
        """Each problem's trees, in order: searched `job.together` at a time with their model calls batched
        (a custom `sample_fn` is called once per problem)."""
        self._use_adapter(job.adapter_dir, adapter)
        if self.sample_fn is None:
            from selfplay.loop.work import sample_problems
            results = sample_problems(self.policy, problems, job, lambda trees: None)
        else:
            results = [self.sample_fn(self.policy, problem, job) for problem in problems]
        return [dataclasses.replace(result, worker=self.name) for result in results]

    def evaluate(self, problems: list[Problem], request: EvalRequest, adapter: list | None = None):
        """`selfplay.answering.evaluate.evaluate` of `problems` with the request's adapter on this actor's policy."""
        from selfplay.loop.work import evaluate_problems
        self._use_adapter(request.adapter_dir, adapter)
        return evaluate_problems(self.policy, problems, request)

    def finetune(self, request: TrainRequest, previous: list | None = None, threads: int = 1) -> tuple[Files, Files]:
        """Train the request's adapter here; (its files, its tracker log files) go back to the driver.
        The other actors wait meanwhile, so on the CPU it takes up to `threads` torch threads (the
        run's actors' share, at most this node's cores), then goes back to its own."""
        import torch

        own = torch.get_num_threads()
        torch.set_num_threads(max(own, min(threads, os.cpu_count() or 1)))
        try:
            return self._finetune(request, previous)
        finally:
            torch.set_num_threads(own)

    def _finetune(self, request: TrainRequest, previous: list | None) -> tuple[Files, Files]:
        from selfplay.loop.work import train_adapter
        with tempfile.TemporaryDirectory(prefix="train-", dir=self.scratch) as scratch:
            previous_dir = None
            if previous:
                previous_dir = str(unpack_dir(ray.get(previous[0]), os.path.join(scratch, "previous")))
            out, logs = os.path.join(scratch, "adapter"), os.path.join(scratch, "logs")
            train_adapter(request, model_dir=self.model_dir, out_dir=out, previous_adapter=previous_dir, log_root=logs)
            return pack_dir(out), (pack_dir(logs) if os.path.isdir(logs) else {})


SamplerActor = ray.remote(Sampler)


class RayExecutor:
    """`Executor` over N Ray actors that keep their policy loaded across runs (rounds)."""

    def __init__(self, workers: int | None = None, *, address: str | None = None, threads_per_worker: int = 1,
                 max_in_flight_per_worker: int = 2, gpus_per_worker: float | str = "auto",
                 sample_fn: SampleFn | None = None, policy_factory: PolicyFactory | None = None,
                 retries: int = 1, crash_retries: int = 3, max_restarts: int = 4,
                 stall_timeout_s: float = 900.0, start_timeout_s: float = 900.0, train_timeout_s: float = 6 * 3600.0,
                 health_timeout_s: float = 30.0, poll_s: float = 1.0, get_timeout_s: float = 120.0) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1 (or None for one per core / GPU), got {workers}")
        if threads_per_worker < 1 or max_in_flight_per_worker < 1:
            raise ValueError("threads_per_worker and max_in_flight_per_worker must be >= 1")
        if gpus_per_worker != "auto" and not (isinstance(gpus_per_worker, (int, float)) and gpus_per_worker >= 0):
            raise ValueError(f"gpus_per_worker must be 'auto' or a number >= 0, got {gpus_per_worker!r}")
        if min(retries, crash_retries, max_restarts) < 0 or \
                min(stall_timeout_s, start_timeout_s, train_timeout_s, health_timeout_s, poll_s, get_timeout_s) <= 0:
            raise ValueError("retry counts must be >= 0 and timeouts > 0")
        self.workers, self.address, self.threads_per_worker = workers, address, threads_per_worker
        self.max_in_flight_per_worker, self.gpus_per_worker = max_in_flight_per_worker, gpus_per_worker
        self.sample_fn, self.policy_factory = sample_fn, policy_factory
        self.retries, self.crash_retries, self.max_restarts = retries, crash_retries, max_restarts
        self.stall_timeout_s, self.start_timeout_s, self.train_timeout_s = stall_timeout_s, start_timeout_s, \
            train_timeout_s
        self.health_timeout_s, self.poll_s, self.get_timeout_s = health_timeout_s, poll_s, get_timeout_s
        self.actors: list = []  # actor handles, index = worker number
        self._model_dir: str | None = None
        self._dead: set[int] = set()  # out of restarts; replaced at the start of the next run
        self._pings: dict = {}  # ObjectRef -> actor index: lost actors not yet seen back (kept across runs)
        self._started_cluster = False
        self._adapter: tuple[str, list] | None = None  # (driver path, [ObjectRef of its files]) last sent

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
        self.actors, self._model_dir, self._dead, self._adapter, self._pings = [], None, set(), None, {}

    def _ensure_actors(self, model_dir: str) -> None:
        if self.actors and model_dir != self._model_dir:
            self._kill_actors()  # another base model: new actors
        if not ray.is_initialized():
            self._started_cluster = connect(self.address, num_cpus=self._local_cpus())
        gpus = self._gpus_per_worker()
        if not self.actors:  # the first actors: one that cannot load the model is a setup error
            count = self.workers or self._default_workers(gpus)
            self.actors = [self._new_actor(index, model_dir, gpus) for index in range(count)]
            self._model_dir, self._dead = model_dir, set()
            self._check_started(list(range(count)), model_dir)
            return
        for index in sorted(self._dead):  # out of restarts in an earlier run: a fresh actor, work once it answers
            self.actors[index] = self._new_actor(index, model_dir, gpus)
            self._pings = {ref: actor for ref, actor in self._pings.items() if actor != index}
            self._pings[self.actors[index].ping.remote()] = index
        self._model_dir, self._dead = model_dir, set()
        self._check_health()

    def _check_health(self) -> None:
        """Ping the actors: one that does not answer within `health_timeout_s` (its node went away
        between runs, and its restart waits for resources) gets no work until it answers."""
        waiting_on = set(self._pings.values())
        refs = {self.actors[index].ping.remote(): index for index in range(len(self.actors))
                if index not in waiting_on}
        if not refs:
            return
        ready, waiting = ray.wait(list(refs), num_returns=len(refs), timeout=self.health_timeout_s)
        for ref in waiting:
            self._pings[ref] = refs[ref]
        for ref in ready:
            try:
                ray.get(ref, timeout=self.get_timeout_s)
            except ray_errors.RayActorError:
                self._lost(refs[ref])

    def _lost(self, index: int) -> None:
        """Actor `index` failed a call: watch for its restart, or replace it next run if it is out of restarts."""
        if actor_state(self.actors[index]) == "DEAD":
            logger.warning("worker ray-%d is out of restarts; going on without it", index)
            self._dead.add(index)
        else:  # restarting (perhaps waiting for a node with room): a ping answers once it is back
            self._pings[self.actors[index].ping.remote()] = index

    def _check_started(self, indices: list[int], model_dir: str) -> None:
        """Wait for new actors to load the model: one that cannot (no such path on its node) fails the run now."""
        pings = {self.actors[index].ping.remote(): index for index in indices}
        if not pings:
            return
        ready, waiting = ray.wait(list(pings), num_returns=len(pings), timeout=self.start_timeout_s)
        for ref in ready:
            try:
                ray.get(ref, timeout=self.get_timeout_s)
            except ray_errors.RayActorError as error:
                self._kill_actors()
                raise ClusterError(f"worker ray-{pings[ref]} failed to start (loading {model_dir}): {error}") \
                    from error
        if waiting:
            raise ClusterError(f"{len(waiting)} of {len(pings)} workers did not start in "
                               f"{self.start_timeout_s:.0f} s; the cluster has {ray.available_resources()} free of "
                               f"{ray.cluster_resources()}")

    def _new_actor(self, index: int, model_dir: str, gpus: float):
        options = dict(num_cpus=self.threads_per_worker, num_gpus=gpus, max_restarts=self.max_restarts,
                       max_task_retries=0)  # lost attempts are resubmitted by `_Run`, which counts them
        device = "cuda" if gpus > 0 else "cpu"
        return SamplerActor.options(**options).remote(f"ray-{index}", portable_model(model_dir), self.policy_factory,
                                                       self.sample_fn, self.threads_per_worker, device)

    def _local_cpus(self) -> int | None:
        return None if self.workers is None else self.workers * self.threads_per_worker

    def _gpus_per_worker(self) -> float:
        if self.gpus_per_worker == "auto":
            return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        return float(self.gpus_per_worker)

    def training_device(self) -> dict:
        """Where the adapter trains, for `selfplay.loop.preflight.check_hardware`: actors with a GPU are trusted
        with both mixed precisions (the actor's own check names a GPU without bf16); CPU actors have none."""
        if self.gpus_per_worker == "auto" and not ray.is_initialized():
            self._started_cluster = connect(self.address, num_cpus=self._local_cpus())
        if self._gpus_per_worker() > 0:
            return {"name": "the cluster's GPUs", "precisions": ("fp16", "bf16")}
        return {"name": "the cluster's CPUs (no GPU given to the actors)", "precisions": ()}

    def _default_workers(self, gpus: float) -> int:
        resources = ray.cluster_resources()
        if gpus > 0:
            return max(1, int(resources.get("GPU", 0) // gpus))
        return max(1, int(resources.get("CPU", 1) // self.threads_per_worker))

    def _adapter_box(self, adapter_dir: str | None) -> list | None:
        """[ObjectRef] of the adapter's files, put in the object store once per adapter; None for no adapter."""
        if adapter_dir is None:
            return None
        if self._adapter is None or self._adapter[0] != adapter_dir:
            self._adapter = (adapter_dir, [ray.put(pack_dir(adapter_dir))])
        return self._adapter[1]  # in a list: Ray passes it on unresolved, actors fetch it when they switch

    # --- work ----------------------------------------------------------------------------------

    def _searched_per_call(self, together: int, count: int) -> int:
        """Problems an actor call carries to be searched together: up to `together`, fewer where that
        would leave actors idle."""
        return max(1, min(together, -(-count // max(len(self.actors), 1))))

    def run(self, problems: Sequence[Problem], job: SampleJob, on_result: Callable[[ProblemTrees], None]) -> None:
        """Sample every problem once; `on_result` is called exactly once per problem, from this thread."""
        problems = list(problems)
        repeated = [pid for pid, n in Counter(p.id for p in problems).items() if n > 1]
        if repeated:
            raise ValueError(f"duplicate problem ids {repeated[:5]}: each problem is delivered once, by id")
        if not problems:
            return
        self._ensure_actors(job.model_dir)
        adapter = self._adapter_box(job.adapter_dir)

        size = self._searched_per_call(job.together, len(problems))  # a failed call is retried whole
        chunks = [problems[first:first + size] for first in range(0, len(problems), size)]

        def deliver(index: int, results: list[ProblemTrees]) -> None:
            for problem, result in zip(chunks[index], results):
                if result.problem_id != problem.id:
                    raise SamplingError(problem.id, f"problem {problem.id}: sample function returned "
                                                    f"trees of {result.problem_id!r}")
            if len(results) != len(chunks[index]):
                raise SamplingError(chunks[index][0].id, f"problems {[p.id for p in chunks[index]]}: "
                                                         f"{len(results)} results for {len(chunks[index])} problems")
            for result in results:
                on_result(result)

        _Run(self, [chunk[0].id for chunk in chunks],
             lambda actor, index: actor.sample.remote(chunks[index], job, adapter), deliver).loop()

    def evaluate(self, problems: Sequence[Problem], request: EvalRequest, *, progress: bool = False):
        """`selfplay.loop.work.evaluate_problems` spread over the actors: batch-sized slices for greedy and
        sampling strategies (the same batches as in one process), slices of up to `together` problems for a
        search (searched together on the actor, fewer where that would leave actors idle)."""
        from tqdm import tqdm

        from search import SEARCH, lookup_strategy
        from selfplay.answering.evaluate import merge_results

        problems = list(problems)
        self._ensure_actors(request.model_dir)
        adapter = self._adapter_box(request.adapter_dir)
        search = lookup_strategy(request.strategy).kind == SEARCH
        size = self._searched_per_call(request.together, len(problems)) if search else request.batch_size
        slices = [problems[first:first + size] for first in range(0, len(problems), size)]
        parts: list = [None] * len(slices)
        start = time.perf_counter()
        label = f"eval {request.strategy}" + (f" x{request.budget}" if search else "")
        with tqdm(total=len(problems), desc=label, unit="problem", disable=not progress) as bar:
            def deliver(index: int, result) -> None:
                parts[index] = result
                bar.update(len(slices[index]))

            _Run(self, [chunk[0].id for chunk in slices],
                 lambda actor, index: actor.evaluate.remote(slices[index], request, adapter), deliver,
                 kind="evaluation").loop()
        return merge_results(parts, request.strategy, request.budget, time.perf_counter() - start)

    def finetune(self, request: TrainRequest) -> None:
        """Train on one actor (it holds the CPUs or GPU); the driver writes the adapter and the logs."""
        from selfplay.runfiles.rundir import staging_dir

        self._ensure_actors(request.model_dir)
        previous = None
        if request.previous_adapter is not None and request.config.continue_adapter:
            previous = [ray.put(pack_dir(request.previous_adapter))]
        returned: list = []
        threads = len(self.actors) * self.threads_per_worker  # theirs: they all wait for the adapter
        _Run(self, [str(request.round_index)], lambda actor, index: actor.finetune.remote(request, previous, threads),
             lambda index, files: returned.append(files), kind="training", noun="round",
             stall_timeout_s=self.train_timeout_s, get_timeout_s=self.train_timeout_s).loop()
        adapter_files, log_files = returned[0]
        with staging_dir(request.out_dir) as staging:
            unpack_dir(adapter_files, staging)
        unpack_dir(log_files, request.log_root)


class _Run:
    """The driver-side state of one stream of work items over the actors: queue, attempts in flight,
    actor health. `submit(actor, index)` starts item `index` on an actor; `deliver(index, result)`
    receives each item's result once."""

    def __init__(self, executor: RayExecutor, labels: list[str], submit: Callable, deliver: Callable, *,
                 kind: str = "sampling", noun: str = "problem", stall_timeout_s: float | None = None,
                 get_timeout_s: float | None = None) -> None:
        self.executor, self.labels, self.submit, self.deliver = executor, labels, submit, deliver
        self.kind, self.noun = kind, noun  # for messages: "problem p3 failed: sampling raised 2 times"
        self.stall_timeout_s = stall_timeout_s or executor.stall_timeout_s
        self.get_timeout_s = get_timeout_s or executor.get_timeout_s
        self.queue = deque(range(len(labels)))  # item indices waiting for an actor
        self.attempts: dict = {}  # ObjectRef -> (actor index, item index)
        self.pings = executor._pings  # actors waiting to be seen alive again (a restart may wait for a node)
        self.load = Counter()  # actor index -> attempts queued on it
        self.healthy = set(range(len(executor.actors))) - set(self.pings.values())
        self.errors, self.crashes = Counter(), Counter()  # item index -> failed attempts
        self.delivered = 0

    def loop(self) -> None:
        last_progress = time.monotonic()
        try:
            while self.delivered < len(self.labels):
                self._submit()
                waiting = list(self.attempts) + list(self.pings)
                if not waiting:
                    raise ClusterError("every worker is gone (out of restarts); nothing can run the "
                                       f"{len(self.labels) - self.delivered} left")
                ready, _ = ray.wait(waiting, num_returns=1, timeout=self.executor.poll_s)
                if not ready:
                    if time.monotonic() - last_progress > self.stall_timeout_s:
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
            self.attempts[self.submit(executor.actors[actor], index)] = (actor, index)
            self.load[actor] += 1

    def _on_attempt(self, ref) -> bool:
        """Deliver a finished attempt, or requeue / raise for a failed one. True when delivered."""
        actor, index = self.attempts.pop(ref)
        self.load[actor] -= 1
        try:
            result = ray.get(ref, timeout=self.get_timeout_s)
        except (ray_errors.RayActorError, ray_errors.WorkerCrashedError, ray_errors.ObjectLostError) as error:
            self._on_actor_lost(actor, error)  # the worker or its node died; the attempt is lost
            self._retry(index, self.crashes, self.executor.crash_retries,
                        f"its worker died {self.crashes[index] + 1} times", error)
            return False
        except ray_errors.RayTaskError as error:
            self._retry(index, self.errors, self.executor.retries,
                        f"{self.kind} raised {self.errors[index] + 1} times", error)
            return False
        self.delivered += 1
        self.deliver(index, result)
        return True

    def _retry(self, index: int, failures: Counter, limit: int, what: str, error: Exception) -> None:
        failures[index] += 1
        label = self.labels[index]
        if failures[index] > limit:
            cause = getattr(error, "cause", None) or error
            raise SamplingError(label, f"{self.noun} {label} failed: {what}; last error: "
                                       f"{type(cause).__name__}: {cause}") from error
        logger.warning("%s %s: %s, retrying", self.noun, label, what)
        self.queue.appendleft(index)

    def _on_actor_lost(self, actor: int, error: ray_errors.RayError) -> None:
        if getattr(error, "actor_init_failed", False):
            raise ClusterError(f"worker ray-{actor} failed to start (loading {self.executor._model_dir}): "
                               f"{error}") from error
        if actor in self.healthy:  # no new work until a ping shows the restarted actor is up
            self.healthy.discard(actor)
            self.pings[self.executor.actors[actor].ping.remote()] = actor

    def _on_ping(self, ref) -> None:
        actor = self.pings.pop(ref)
        try:
            ray.get(ref, timeout=self.get_timeout_s)
        except ray_errors.RayActorError as error:
            if error.actor_init_failed:
                raise ClusterError(f"worker ray-{actor} failed to restart: {error}") from error
            self.executor._lost(actor)
            return
        self.healthy.add(actor)

    def _stall_message(self) -> str:
        executor = self.executor
        return (f"no {self.noun} finished in {self.stall_timeout_s:.0f} s ({self.delivered}/{len(self.labels)} "
                f"done, {len(self.attempts)} in flight). Each of the {len(executor.actors)} workers needs "
                f"{executor.threads_per_worker} CPU and {executor._gpus_per_worker()} GPU; the cluster has "
                f"{ray.available_resources()} free of {ray.cluster_resources()}. Raise stall_timeout_s if "
                "one legitimately takes longer.")
