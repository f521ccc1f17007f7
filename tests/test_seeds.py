"""Every seed the lab derives keeps its value: golden numbers recorded before the derivations became
one function (`search.derive_seed`), so recorded trees and rounds replay the same."""
from __future__ import annotations

import doctest
import hashlib

import pytest

import search.seeds
from search import derive_seed
from selfplay.answering.evaluate import problem_seed
from selfplay.tasks.splits import pool_seed as split_seed


def test_the_module_examples_hold():
    result = doctest.testmod(search.seeds)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("parts, golden", [
    ((0, 0, "expand"), 179856107918654894),  # search: (search seed, node, purpose)
    ((7, 3, "rollout"), 6950031217562975534),
    ((123456789, 42, "expand"), 7443128823750447786),
    ((0, 1, "cd-abc"), 2894339134259750),  # a round's problem: (run seed, round, problem id)
    ((7, 3, "p1"), 2227330336582626558),
    ((0, "cd-abc"), 6951247537162733457),  # evaluation samples: (eval seed, problem id)
    ((5, "p0"), 9018138581837410348),
    ((0, "cd-abc", "mcts"), 8005087749870481999),  # one search: (seed, problem id, strategy)
    ((5, "p0", "beam"), 7042710571934934079),
])
def test_derived_seeds_keep_their_recorded_values(parts, golden):
    assert derive_seed(*parts) == golden


def test_evaluation_seeds_keep_their_recorded_values():
    assert [problem_seed(0, "cd-abc"), problem_seed(5, "p0")] == [6951247537162733457, 9018138581837410348]


def test_a_seed_is_63_bits_and_the_blake2b_of_its_names():
    digest = hashlib.blake2b(b"11:2:p9:mcts", digest_size=8).digest()
    assert derive_seed(11, 2, "p9", "mcts") == int.from_bytes(digest, "big") >> 1
    assert all(0 <= derive_seed(seed, "x") < 2 ** 63 for seed in range(200))
    assert derive_seed(1, 23) != derive_seed(12, 3)  # the separator keeps the names apart


def test_the_data_scheme_keeps_its_recorded_values():
    """The committed splits and the corpus were generated with this one: it must not move."""
    assert [split_seed(0, "countdown", "3"), split_seed(1, "corpus", "shuffle"), split_seed(0, "arith")] \
        == [1747547693, 2995617832, 921268768]


def test_a_round_sample_seeds_its_search_with_the_run_seed_round_and_problem(monkeypatch):
    """The first link of the chain: `deliberate` gets blake2b("seed:round:problem id"), as before."""
    from selfplay.answering import deliberate
    from selfplay.loop import work
    from selfplay.tasks.countdown import make_problem

    seen = {}

    def fake_deliberate(policy, problem, strategy, budget, seed=0, **options):
        seen["deliberate"] = seed
        raise StopIteration

    monkeypatch.setattr(deliberate, "deliberate", fake_deliberate)
    monkeypatch.setattr(deliberate, "search_config", lambda *args, **options: None)
    monkeypatch.setattr("selfplay.tools.catalog.apply_tools", lambda policy, tools: None)
    problem = make_problem([2, 3], 6)
    job = work.SampleJob(round=1, model_dir="m", adapter_dir=None, strategy="mcts", budget=2, seed=0)
    with pytest.raises(StopIteration):
        work.sample_problem(object(), problem, job)
    digest = hashlib.blake2b(f"0:1:{problem.id}".encode(), digest_size=8).digest()
    assert seen["deliberate"] == int.from_bytes(digest, "big") >> 1
