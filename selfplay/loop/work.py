"""How a round's model work reaches whoever runs it: the requests, one problem's trees, the executors.

A round makes one `SampleJob` (round, model, adapter, strategy, budget, seed) and hands it to an
executor together with the round's training problems; the executor runs `sample_problem` on
each problem (in this process, or in Ray actors that each hold a loaded policy and are fed a few
problems at a time) and hands back `ProblemTrees` as they finish, in any order. The round writes
each result as it arrives, so a crash loses at most the problems in flight. A problem's seed
derives from (run seed, round, problem id) alone, so its tree does not depend on which worker
sampled it, or when.

    executor.run(problems, job, on_result)   # on_result(ProblemTrees) is called once per problem
    executor.finetune(train_request)         # the round's adapter, in train_request.out_dir on return
    executor.evaluate(problems, eval_request) # an EvalResult (greedy, sampling or a search, graded)
    executor.close()                         # at the end of the run: its workers and models go

Finetuning (`train_adapter`) and evaluation (`evaluate_problems`) run where the executor's
models are: here, or inside the Ray actors, which send the adapter's files back for the driver
to write.

Executors: `LocalExecutor` here (`--workers 0`), `selfplay.execution.ray_runner.RayExecutor` (N actors).
Both keep one loaded base model per worker for the whole run and swap LoRA adapters on it
(`Policy.load_adapter` / `unload_adapter`) when a job names another adapter.

Knows the policy surface, deliberation, the tree format and the entry points of finetuning and
evaluation; nothing about the run directory's layout.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from search import derive_seed, lookup_strategy
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
    tools: str = "auto"  # tools the policy may call: "auto" (the model's own), "none", "calculator,python"
    together: int = 1  # problems a worker searches together, their model calls batched (search.batching)

    def __post_init__(self) -> None:
        lookup_strategy(self.strategy)  # an unknown name fails here, in the driver, not inside a worker


@dataclass(frozen=True)
class EvalRequest:
    """How to answer and grade dev problems: one `selfplay.answering.evaluate.evaluate` call's settings."""

    model_dir: str  # the base model (a worker uses its own copy of it)
    adapter_dir: str | None  # the adapter to put on it (the driver's path; workers get its bytes)
    strategy: str
    budget: int
    seed: int
    max_new_tokens: int = 256
    tools: str = "auto"
    batch_size: int = 8  # problems per batched generation (greedy and sampling strategies)
    together: int = 1  # problems searched together, their model calls batched (search strategies)

    def __post_init__(self) -> None:
        lookup_strategy(self.strategy)


@dataclass(frozen=True)
class TrainRequest:
    """One round's training: the policy's LoRA (`selfplay.loop.finetune.finetune`, trainer "sft") or the
    reward model (`verifiers.reward_model.train_reward_model`, trainer "reward_model"), with where
    its tracker logs go."""

    rows: list  # sft rows, or the reward model's PreferencePairs
    model_dir: str
    out_dir: str  # where the adapter is saved (a worker trains into its own scratch copy)
    config: object  # selfplay.loop.finetune.FinetuneConfig, or verifiers.scorer_config.RewardModelConfig
    previous_adapter: str | None
    seed: int
    log_root: str  # the run directory; tracker logs go under it (selfplay.runfiles.tracking.trainer_logs)
    round_index: int
    base_name: str | None = None  # the base model the result records (default: model_dir)
    trainer: str = "sft"  # "sft" or "reward_model"

    def __post_init__(self) -> None:
        if self.trainer not in ("sft", "reward_model"):
            raise ValueError(f"trainer must be 'sft' or 'reward_model', got {self.trainer!r}")


@dataclass
class ProblemTrees:
    problem_id: str
    trees: list[dict]  # selfplay.tree/1 dicts, verdicts set on terminal nodes
    tokens: int  # model tokens spent on this problem
    wall_s: float
    worker: str = ""  # which worker ran it (for logs)
    sandbox_runs: int = 0  # answers graded by running them in the sandbox (programs)
    sandbox_s: float = 0.0  # seconds those runs took
    unlearnable: int = 0  # passes the task does not let a round learn from (`TaskSpec.unlearnable`: right by luck)


class Executor(Protocol):
    def run(self, problems: Sequence[Problem], job: SampleJob, on_result: Callable[[ProblemTrees], None]) -> None:
        """Sample every problem once; call `on_result` exactly once per problem, from this thread."""
        ...

    def finetune(self, request: TrainRequest) -> None:
        """Train the request's adapter; it is in `request.out_dir` (written atomically) on return."""
        ...

    def evaluate(self, problems: Sequence[Problem], request: EvalRequest, *, progress: bool = False):
        """`selfplay.answering.evaluate.EvalResult` of the request's strategy on `problems`, in their order."""
        ...

    def close(self) -> None:
        """Release the workers and their loaded models; the run is over."""
        ...


def sample_problem(policy, problem: Problem, job: SampleJob) -> ProblemTrees:
    """Grow one problem's tree with the job's strategy and budget; terminal verdicts set by the grader."""
    from selfplay.answering.deliberate import deliberate, scaled_knobs, search_config  # search loads only where work runs
    from selfplay.loop.grade_meter import GradeMeter
    from selfplay.tools.catalog import apply_tools

    apply_tools(policy, job.tools)
    start = time.perf_counter()
    config = search_config(policy, problem, **{**scaled_knobs(job.budget), **job.search_overrides})
    meter = GradeMeter()
    outcome = deliberate(policy, problem, job.strategy, job.budget,
                         seed=derive_seed(job.seed, job.round, problem.id), config=config, grader=meter.grade)
    tree = outcome.result.tree
    tree.problem_id, tree.task, tree.round, tree.strategy = problem.id, problem.task, job.round, job.strategy
    return ProblemTrees(problem.id, [tree.to_dict()], outcome.result.tokens, time.perf_counter() - start,
                        worker=f"{socket.gethostname()}:{os.getpid()}", sandbox_runs=meter.runs,
                        sandbox_s=round(meter.seconds, 4), unlearnable=meter.unlearnable)


def sample_problems(policy, problems: Sequence[Problem], job: SampleJob,
                    on_result: Callable[[ProblemTrees], None]) -> list[ProblemTrees]:
    """`sample_problem` for every problem, `job.together` at a time with their model calls batched
    (`search.batching`); `on_result` gets each problem's trees in the problems' order."""
    from search.batching import search_together
    from selfplay.tools.catalog import apply_tools

    apply_tools(policy, job.tools)  # the batch's model calls run on this policy, with the job's tools
    return search_together(policy, problems, lambda lane, problem: sample_problem(lane, problem, job),
                           width=job.together, on_result=lambda index, trees: on_result(trees))


class LocalExecutor:
    """Runs every problem in this process, in order, on one policy loaded once per base model."""

    def __init__(self, threads: int = 1, device: str | None = None) -> None:
        self.threads, self.device = threads, device
        self._policy = None
        self._model_dir: str | None = None

    def policy(self, model_dir: str, adapter_dir: str | None):
        """The loaded policy carrying `adapter_dir` (None: the bare base); the base loads only once."""
        import torch
        from selfplay.model.policy import Policy

        torch.set_num_threads(self.threads)
        if self._policy is None or self._model_dir != str(model_dir):
            self._policy, self._model_dir = Policy.from_pretrained(model_dir, device=self.device), str(model_dir)
        current = self._policy.adapter_dir
        if adapter_dir is None and current is not None:
            self._policy.unload_adapter()
        elif adapter_dir is not None and str(adapter_dir) != current:
            self._policy.load_adapter(adapter_dir)
        return self._policy

    def run(self, problems: Sequence[Problem], job: SampleJob, on_result: Callable[[ProblemTrees], None]) -> None:
        sample_problems(self.policy(job.model_dir, job.adapter_dir), problems, job, on_result)

    def close(self) -> None:
        """Drop the loaded policy (a later call loads the base model again)."""
        self._policy = self._model_dir = None

    def evaluate(self, problems: Sequence[Problem], request: EvalRequest, *, progress: bool = False):
        """`evaluate_problems` on this process's policy with the request's adapter."""
        return evaluate_problems(self.policy(request.model_dir, request.adapter_dir), problems, request,
                                 progress=progress)

    def finetune(self, request: TrainRequest) -> None:
        train_adapter(request)


def evaluate_problems(policy, problems: Sequence[Problem], request: EvalRequest, *, progress: bool = False):
    """The request's strategy on `problems`, graded: a `selfplay.answering.evaluate.EvalResult`."""
    from selfplay.answering.evaluate import evaluate
    from selfplay.tools.catalog import apply_tools

    apply_tools(policy, request.tools)
    return evaluate(policy, problems, request.strategy, request.budget, request.seed, together=request.together,
                    max_new_tokens=request.max_new_tokens, batch_size=request.batch_size, progress=progress)


def train_adapter(request: TrainRequest, *, model_dir: str | None = None, out_dir: str | None = None,
                  previous_adapter: str | None = None, log_root: str | None = None) -> None:
    """Train what the request asks into `out_dir`, tracker logs under `log_root`. A worker passes its
    own copies' paths; the result still records the request's (the run's) names."""
    from selfplay.runfiles import tracking

    model_dir, out_dir = model_dir or request.model_dir, out_dir or request.out_dir
    with tracking.trainer_logs(request.config.report_to, log_root or request.log_root, request.round_index,
                               request.trainer):
        if request.trainer == "reward_model":
            from verifiers.reward_model import train_reward_model
            train_reward_model(request.rows, model_dir, out_dir, request.config, base_name=request.base_name)
            return
        from selfplay.loop.finetune import finetune
        finetune(request.rows, model_dir, out_dir, request.config,
                 previous_adapter=previous_adapter or request.previous_adapter, seed=request.seed,
                 base_name=request.base_name, out_name=request.out_dir, previous_name=request.previous_adapter)
