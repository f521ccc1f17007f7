"""Searches batched across problems (`search.batching`): the same trees and token counts as one at a
time, on the real policy and the built-in model; per-state costs that add up; errors that stop the batch."""
import threading
import time

import pytest

from search import STRATEGIES, Budget, SearchConfig, derive_seed, lookup_strategy
from search.batching import Lane, search_together
from selfplay.model.policy import Policy
from tests.test_search_real_policy import answer_check, model, tokenizer  # noqa: F401 - the same bandit model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = [f"Use {a} {b} {c} to make {t}.\n" for a, b, c, t in
           [(3, 5, 8, 16), (2, 7, 9, 18), (4, 4, 6, 14), (1, 8, 9, 72), (5, 6, 7, 11), (9, 9, 2, 20)]]
CONFIG = SearchConfig(max_depth=3, max_step_tokens=5, num_samples=3, beam_width=2, expansions_per_beam=2,
                      num_simulations=4, expansions_per_node=2, widening_visits=2)


def shape(tree) -> list:
    """A tree without its float values: what must not depend on the batch."""
    return [(tree.parents[i], tree.step_texts[i], tree.token_counts[i], tree.terminal[i], tree.rollout[i])
            for i in range(len(tree.parents))]


def run_all(policy, strategy: str, width: int, budget: Budget | None):
    search = lookup_strategy(strategy).run

    def one(lane, item):
        index, prompt = item
        return search(lane, prompt, CONFIG, seed=derive_seed(7, index), budget=budget, answer_check=answer_check,
                      answer_key=lambda text: text.strip()[-2:] or None)
    return search_together(policy, list(enumerate(PROMPTS)), one, width=width)


@pytest.mark.parametrize("strategy", [name for name in STRATEGIES if name != "greedy"] + ["greedy"])
@pytest.mark.parametrize("reuse_cache", [True, False])
def test_searches_together_grow_the_same_trees_and_spend_the_same_tokens(model, tokenizer, strategy, reuse_cache):
    budget = Budget.from_answers(3, 20)
    alone_policy, together_policy = Policy(model, tokenizer, reuse_cache=reuse_cache), \
        Policy(model, tokenizer, reuse_cache=reuse_cache)
    alone = run_all(alone_policy, strategy, 1, budget)
    together = run_all(together_policy, strategy, 4, budget)
    assert [shape(r.tree) for r in together] == [shape(r.tree) for r in alone]
    assert [r.answer_text for r in together] == [r.answer_text for r in alone]
    assert [r.policy_tokens for r in together] == [r.policy_tokens for r in alone]
    assert [r.stopped_by_budget for r in together] == [r.stopped_by_budget for r in alone]
    for a, b in zip(alone, together):
        assert b.tree.logprobs == pytest.approx(a.tree.logprobs, abs=1e-4)
    # every token is some search's: the batch's total is the sum of the searches' own counts
    assert together_policy.usage.total_tokens == sum(r.policy_tokens for r in together)
    assert together_policy.usage.total_tokens == alone_policy.usage.total_tokens
    if strategy != "greedy":
        assert together_policy.usage.forward_calls < alone_policy.usage.forward_calls  # the calls were shared


@pytest.mark.parametrize("reuse_cache", [True, False])
def test_expand_reports_what_each_state_cost(model, tokenizer, reuse_cache):
    policy = Policy(model, tokenizer, reuse_cache=reuse_cache)
    roots = [policy.root(prompt) for prompt in PROMPTS[:3]]
    costs: list[int] = []
    before = policy.usage.total_tokens
    steps = policy.expand(roots, 2, seed=[1, 2, 3], costs=costs)
    assert sum(costs) == policy.usage.total_tokens - before
    fed = [len(root) for root in roots]
    assert costs == [(1 if reuse_cache else 2) * n + sum(s.n_tokens for s in row) for n, row in zip(fed, steps)]
    children = [row[0].state for row in steps]
    before = policy.usage.total_tokens
    policy.expand(children, 3, seed=[4, 5, 6], costs=costs)
    assert sum(costs) == policy.usage.total_tokens - before and len(costs) == 3


def test_the_built_in_model_answers_the_same_word_problems_together(tmp_path):
    """The lab's own path: a round's `sample_problems` on models/base, 1 and 4 problems at a time."""
    from selfplay.loop.work import SampleJob, sample_problems
    from selfplay.tasks import load_problems

    problems = load_problems("datasets/arith/hard/dev.jsonl")[:6]
    policy = Policy.from_pretrained("models/base")
    trees = {}
    for together in (1, 4):
        job = SampleJob(round=1, model_dir="models/base", adapter_dir=None, strategy="sample", budget=3, seed=0,
                        together=together, search_overrides={"max_depth": 4})
        delivered = []
        results = sample_problems(policy, problems, job, delivered.append)
        assert [r.problem_id for r in delivered] == [p.id for p in problems]  # in order, each once
        assert results == delivered
        trees[together] = [(r.tokens, r.trees[0]["parents"], r.trees[0]["step_texts"], r.trees[0]["verdicts"])
                           for r in results]
    assert trees[4] == trees[1]


class CountingPolicy:
    """A step policy that cannot report per-state costs: each request is then served alone."""

    reuse_cache = True

    def __init__(self) -> None:
        from search.protocols import UsageCounter  # noqa: F401 - the protocol it satisfies
        self.usage = type("U", (), {"total_tokens": 0})()
        self.calls = 0

    def root(self, prompt_text):
        return (prompt_text,)

    def expand(self, states, num_samples, *, temperature=1.0, top_p=1.0, max_step_tokens=64, seed=None):
        from types import SimpleNamespace
        self.calls += 1
        self.usage.total_tokens += len(states) * (num_samples + 1)
        return [[SimpleNamespace(text="x\n", logprob=-1.0, n_tokens=1, terminal=len(state) >= 2,
                                 finish_reason="eos", state=state + ("x",)) for _ in range(num_samples)]
                for state in states]


def test_a_policy_without_per_state_costs_is_called_once_per_request():
    policy = CountingPolicy()
    search = lookup_strategy("sample").run
    results = search_together(policy, PROMPTS, lambda lane, prompt: search(lane, prompt, CONFIG, seed=1), width=3)
    assert policy.calls == sum(r.policy_calls for r in results)
    assert [r.policy_tokens for r in results] == [4 + 3 * 2] * len(PROMPTS)  # root: 1 x (3 + 1); then 3 chains: 3 x (1 + 1)


def test_results_come_in_item_order_and_a_slow_search_does_not_hold_the_others(model, tokenizer):
    policy = Policy(model, tokenizer)
    order = []
    finished = []

    def work(lane, index):
        lane.expand([lane.root(PROMPTS[index % len(PROMPTS)])], 2, seed=[index])
        if index == 0:
            time.sleep(0.5)  # busy outside the model (a sandboxed grader, say)
        finished.append(index)
        return index * 10

    results = search_together(policy, list(range(8)), work, width=4,
                              on_result=lambda index, result: order.append((index, result)))
    assert results == [i * 10 for i in range(8)] and order == list(enumerate(results))
    assert finished.index(0) > 0  # the others went on while problem 0 was busy


def test_a_failing_search_stops_the_batch_and_raises_its_error(model, tokenizer):
    policy = Policy(model, tokenizer)
    started = []

    def work(lane, index):
        started.append(index)
        for step in range(50):
            lane.expand([lane.root(PROMPTS[0])], 1, seed=[step])
            if index == 2 and step == 1:
                raise RuntimeError("grader exploded on problem 2")
        return index

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="problem 2"):
        search_together(policy, list(range(20)), work, width=4)
    assert len(started) < 20  # stopped, not run to the end
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before  # no search thread is left waiting


def test_a_lane_passes_everything_else_to_the_policy(model, tokenizer):
    policy = Policy(model, tokenizer)
    seen = {}

    def work(lane, item):
        assert isinstance(lane, Lane)
        seen["delimiter"] = lane.step_delimiter
        seen["encoded"] = lane.encode("8+8", prompt=False)
        return lane.usage.total_tokens

    assert search_together(policy, [1, 2], work, width=2) == [0, 0]
    assert seen["delimiter"] == policy.step_delimiter and seen["encoded"] == policy.encode("8+8", prompt=False)
    with pytest.raises(ValueError, match="width"):
        search_together(policy, [1], work, width=0)
