"""Many searches advancing together: one policy call carries the frontier of several trees.

    results = search_together(policy, problems, lambda lane, problem: deliberate(lane, problem, ...), width=8)

A small model on a CPU (or any model on a GPU) spends most of a forward on its fixed cost, so one
search at a time leaves the batch nearly empty: a majority vote grows 8 chains, a rollout 1. Here
each item's search runs in its own thread against a `Lane`, a stand-in for the policy whose
`expand` hands its request to the coordinator (the calling thread) and waits. The coordinator
gathers the requests of the lanes that are waiting, merges those that can share a call (same
sample count and decoding settings; per-state seeds), makes one `policy.expand`, and hands each
lane its steps. It fires when every running search waits on it, or when a request has waited
`patience_s` while other searches are busy elsewhere (grading an answer in the sandbox, say), so a
slow grader never stalls the batch. As one search ends the next item starts: the batch stays full.

Same trees whatever the batching: a search's seeds are per node (`search.derive_seed`), a merged
call passes one seed per state, and a state's samples then do not depend on the rest of the batch
(texts identical; log-probs equal to float rounding, as with any batch layout). A request with a
single seed for the whole call at temperature > 0 (none of the lab's strategies make one) is served
alone, as it would be without batching.

Budgets see what they would see alone: a lane counts the tokens its own states cost
(`usage.total_tokens`), from the policy's per-state costs (`expand(..., costs=[])`, which
`selfplay.model.policy.Policy` fills). A policy that cannot report them is called once per request
instead (its usage delta is the request's cost), so any `StepPolicy` works, unbatched. A scorer is
wrapped the same way (`ScorerLane`), its calls taken in turns.

Everything else a search asks of the policy (`root`, `render_prompt`, `pricing`, ...) goes to the
real policy, calls in turns (tokenizers are not safe to share across threads). Only the
coordinator thread runs the model.

Knows the `StepPolicy` and `Scorer` protocols and threads; nothing about models, tasks or grading.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

PATIENCE_S = 0.02  # how long a request waits for searches busy elsewhere before the batch goes without them
JOIN_S = 60.0  # how long a failed batch waits for its other searches to stop


class _Stopped(Exception):
    """Raised in a waiting search when the batch stops (another search failed)."""


@dataclass
class LaneUsage:
    """The tokens one search's own calls cost (the `usage` a `TokenMeter` reads)."""

    total_tokens: int = 0
    calls: int = 0


@dataclass(eq=False)
class _Request:
    lane: "Lane"
    states: list
    num_samples: int
    options: dict  # temperature, top_p, max_step_tokens, min_step_tokens
    seed: Any
    submitted: float = field(default_factory=time.monotonic)
    steps: list | None = None
    error: BaseException | None = None
    done: bool = False

    def key(self) -> tuple:
        """Requests with equal keys can share one policy call."""
        sampled = self.options.get("temperature", 1.0) > 0
        alone = sampled and not isinstance(self.seed, (list, tuple))  # one seed for a whole call: keep it alone
        return (self.num_samples, tuple(sorted(self.options.items())), id(self) if alone else None)


class _Hub:
    def __init__(self, policy, patience_s: float) -> None:
        self.policy, self.patience_s = policy, patience_s
        self.cond = threading.Condition()
        self.turns = threading.RLock()  # every other call on the policy or a scorer, one at a time
        self.pending: list[_Request] = []
        self.busy = 0  # searches running outside a wait on the coordinator
        self.stopped = False
        self.costs = bool(getattr(policy, "reports_costs", False))

    def submit(self, request: _Request) -> list:
        with self.cond:
            if self.stopped:
                raise _Stopped()
            self.pending.append(request)
            self.busy -= 1
            self.cond.notify_all()
            while not request.done and not self.stopped:
                self.cond.wait()
            if not request.done:
                raise _Stopped()
        if request.error is not None:
            raise request.error
        return request.steps

    def serve(self, requests: list[_Request]) -> None:
        """Answer `requests` (outside the lock): merged calls where they can be merged."""
        groups: dict[tuple, list[_Request]] = {}
        for request in requests:
            groups.setdefault(request.key(), []).append(request)
        for group in groups.values():
            try:
                if self.costs:
                    self._merged(group)
                else:
                    for request in group:
                        self._alone(request)
            except Exception as error:  # noqa: BLE001 - handed to the searches that asked; they raise it
                for request in group:
                    if request.steps is None:
                        request.error = error

    def _merged(self, group: list[_Request]) -> None:
        states = [state for request in group for state in request.states]
        options = dict(group[0].options)
        if len(group) == 1:
            seed = group[0].seed
        elif options.get("temperature", 1.0) > 0:
            seed = [s for request in group for s in request.seed]
        else:
            seed = None
        costs: list[int] = []
        steps = self.policy.expand(states, group[0].num_samples, seed=seed, costs=costs, **options)
        first = 0
        for request in group:
            count = len(request.states)
            request.steps = steps[first:first + count]
            request.lane.usage.total_tokens += sum(costs[first:first + count])
            request.lane.usage.calls += 1
            first += count

    def _alone(self, request: _Request) -> None:
        before = self.policy.usage.total_tokens
        request.steps = self.policy.expand(request.states, request.num_samples, seed=request.seed,
                                           **request.options)
        request.lane.usage.total_tokens += self.policy.usage.total_tokens - before
        request.lane.usage.calls += 1


class Lane:
    """The policy as one search among several sees it: `expand` waits for the coordinator's batched
    call; `usage` counts this search's own tokens; anything else is the real policy's (calls in turns)."""

    def __init__(self, hub: _Hub) -> None:
        self._hub = hub
        self.usage = LaneUsage()
        self.reuse_cache = hub.policy.reuse_cache

    def expand(self, states: Sequence[Any], num_samples: int, *, temperature: float = 1.0, top_p: float = 1.0,
               max_step_tokens: int = 64, min_step_tokens: int = 0,
               seed: int | Sequence[int] | None = None) -> list[list]:
        states = list(states)
        if not states:
            return []
        if isinstance(seed, (list, tuple)) and len(seed) != len(states):
            raise ValueError(f"got {len(seed)} seeds for {len(states)} states")
        options = {"temperature": temperature, "top_p": top_p, "max_step_tokens": max_step_tokens}
        if min_step_tokens:
            options["min_step_tokens"] = min_step_tokens
        return self._hub.submit(_Request(self, states, num_samples, options,
                                         list(seed) if isinstance(seed, (list, tuple)) else seed))

    def __getattr__(self, name: str):
        value = getattr(self._hub.policy, name)
        if not callable(value):
            return value
        turns = self._hub.turns

        def in_turn(*args, **kwargs):
            with turns:
                return value(*args, **kwargs)
        return in_turn


class ScorerLane:
    """A scorer as one search among several sees it: calls in turns, `usage` its own tokens."""

    def __init__(self, scorer, turns: threading.RLock) -> None:
        self._scorer, self._turns = scorer, turns
        self.usage = LaneUsage()

    def score(self, prompt_text: str, paths):
        with self._turns:
            before = self._scorer.usage.total_tokens
            values = self._scorer.score(prompt_text, paths)
            self.usage.total_tokens += self._scorer.usage.total_tokens - before
            self.usage.calls += 1
            return values

    def cost_bound(self, prompt_text: str, paths) -> int:
        with self._turns:
            return self._scorer.cost_bound(prompt_text, paths)

    def __getattr__(self, name: str):
        return getattr(self._scorer, name)


def search_together(policy, items: Sequence[Item], work: Callable[..., Result], *, width: int = 8, scorer=None,
                    on_result: Callable[[int, Result], None] | None = None,
                    patience_s: float = PATIENCE_S) -> list[Result]:
    """`work(lane, item)` (with a scorer: `work(lane, item, scorer_lane)`) for every item, up to `width`
    searches at a time, their policy calls batched; the results in item order.

    `on_result(index, result)` is called from this thread in item order, as soon as a result and all
    before it are in. The first search to raise stops the batch: the others are stopped at their next
    policy call and the error is raised here. `width=1` runs the items one after another, unthreaded.
    """
    items = list(items)
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    if width == 1 or len(items) <= 1:
        results = []
        for index, item in enumerate(items):
            result = work(policy, item) if scorer is None else work(policy, item, scorer)
            results.append(result)
            if on_result is not None:
                on_result(index, result)
        return results
    hub = _Hub(policy, patience_s)
    done: dict[int, tuple[bool, Any]] = {}
    threads: list[threading.Thread] = []

    def run(index: int, item) -> None:
        lane = Lane(hub)
        try:
            outcome = (True, work(lane, item) if scorer is None else work(lane, item, ScorerLane(scorer, hub.turns)))
        except BaseException as error:  # noqa: BLE001 - raised again in the coordinator
            outcome = (False, error)
        with hub.cond:
            done[index] = outcome
            hub.busy -= 1
            hub.cond.notify_all()

    results: list = [None] * len(items)
    started = delivered = 0
    failure: BaseException | None = None
    try:
        while delivered < len(items):
            with hub.cond:
                while started < len(items) and started - len(done) < width:
                    hub.busy += 1
                    thread = threading.Thread(target=run, args=(started, items[started]), daemon=True,
                                              name=f"search-{started}")
                    threads.append(thread)
                    thread.start()
                    started += 1
                while True:
                    waited = time.monotonic() - hub.pending[0].submitted if hub.pending else 0.0
                    fire = bool(hub.pending) and (hub.busy == 0 or waited >= hub.patience_s)
                    free_slot = started < len(items) and started - len(done) < width
                    if fire or free_slot or delivered in done:
                        break
                    hub.cond.wait(timeout=hub.patience_s - waited if hub.pending else 1.0)
                requests = hub.pending if fire else []
                if fire:
                    hub.pending = []
            while delivered in done:
                ok, value = done[delivered]
                if not ok:
                    failure = value
                    break
                results[delivered] = value
                if on_result is not None:
                    on_result(delivered, value)
                delivered += 1
            if failure is not None:
                for request in requests:
                    request.error = _Stopped()
            else:
                hub.serve(requests)
            with hub.cond:
                for request in requests:
                    request.done = True
                    hub.busy += 1
                hub.cond.notify_all()
            if failure is not None:
                raise failure
    finally:
        with hub.cond:
            hub.stopped = True
            hub.cond.notify_all()
        if failure is not None or delivered < len(items):
            deadline = time.monotonic() + JOIN_S
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return results
