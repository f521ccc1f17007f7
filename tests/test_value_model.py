"""Step value model: Monte-Carlo labels from hand-built trees (exact fractions), and a tiny random
Llama trained a few steps with transformers.Trainer whose scores move toward the labels."""
from __future__ import annotations

import random
from fractions import Fraction

import pytest
import torch

from tests.test_reward_model import make_tiny_base, make_tree
from verifiers.scorer_data import ValueLabel, value_labels
from verifiers.scorer_metrics import diagnose
from verifiers.value_model import ValueModel, ValueModelConfig, train_value_model

torch.set_num_threads(1)

TINY = ValueModelConfig(max_steps=40, batch_size=8, learning_rate=1e-2, lora_rank=4, max_length=64)


def fractions(labels):
    return {label.completion: Fraction(label.passed, label.total) for label in labels}


# --- labels --------------------------------------------------------------------------------------

def mc_trees():
    #  root ─ a ─ a1 (pass) | a2 (fail) | a3 ─ a3x (pass)
    #       ├ b ─ b1 (fail) | b2 (ungraded)
    #       └ c              (no answer below: no label)
    first = make_tree("p", [(0, "a\n", False, None), (1, "a1", True, True), (1, "a2", True, False),
                            (1, "a3\n", False, None), (4, "a3x", True, True), (0, "b\n", False, None),
                            (6, "b1", True, False), (6, "b2", True, None), (0, "c\n", False, None)])
    second = make_tree("p", [(0, "a\n", False, None), (1, "a4", True, True)])  # same prefix, another tree
    other = make_tree("q", [(0, "a\n", False, None), (1, "z", True, False)])  # same text, other problem
    return [first, second, other]


def test_value_labels_are_exact_fractions_summed_over_trees_of_a_problem():
    labels = value_labels(mc_trees(), {"p": "P\n", "q": "Q\n"})
    by_problem = {pid: fractions(l for l in labels if l.problem_id == pid) for pid in ("p", "q")}
    assert by_problem["p"] == {"a\n": Fraction(3, 4), "a\na1": 1, "a\na2": 0, "a\na3\n": 1, "a\na3\na3x": 1,
                               "b\n": 0, "b\nb1": 0, "a\na4": 1}
    assert by_problem["q"] == {"a\n": 0, "a\nz": 0}
    a_label = next(l for l in labels if l.problem_id == "p" and l.completion == "a\n")
    assert (a_label.passed, a_label.total, a_label.prompt) == (3, 4, "P\n")


def test_value_labels_filters():
    prompts = {"p": "P\n", "q": "Q\n"}
    assert fractions(value_labels(mc_trees()[:2], prompts, min_answers=2)) == {"a\n": Fraction(3, 4)}
    internal = value_labels(mc_trees()[:2], prompts, include_terminals=False)
    assert fractions(internal) == {"a\n": Fraction(3, 4), "a\na3\n": 1, "b\n": 0}


# --- training ------------------------------------------------------------------------------------

def synthetic_labels(count: int, seed: int) -> list[ValueLabel]:
    """Prefixes whose last step starts with `+` are worth 0.8, with `-` 0.2 (as rollout counts of 5)."""
    rng = random.Random(seed)
    labels = []
    for index in range(count):
        good = index % 2 == 0
        prefix = "".join(rng.choice("0123456789") for _ in range(3)) + "\n" + ("+" if good else "-") + "1\n"
        labels.append(ValueLabel(f"p{index}", f"{rng.randint(10, 99)}?\n", prefix, 4 if good else 1, 5))
    return labels


def mean_squared_error(model, labels):
    scores = model.score([l.prompt for l in labels], [l.completion for l in labels])
    return sum((score - l.value) ** 2 for score, l in zip(scores, labels)) / len(labels)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base_dir = make_tiny_base(tmp_path_factory.mktemp("base"))
    out = tmp_path_factory.mktemp("vm") / "value_model"
    return train_value_model(synthetic_labels(48, seed=0), base_dir, out, TINY), out, base_dir


def test_scores_move_toward_the_labels(trained):
    from transformers import set_seed

    from verifiers.reward_model import load_base, load_tokenizer
    value_model, _, base_dir = trained
    held_out = synthetic_labels(16, seed=1)
    set_seed(TINY.seed)  # the model as it was before training
    untrained = ValueModel(load_base(base_dir), load_tokenizer(base_dir), base_model=base_dir, max_length=64)
    before, after = mean_squared_error(untrained, held_out), mean_squared_error(value_model, held_out)
    assert after < 0.5 * before and after < 0.03
    trained_params = dict(value_model.model.named_parameters())
    assert not torch.allclose(trained_params["score.weight"], untrained.model.score.weight)
    name = "model.layers.1.mlp.down_proj.weight"
    assert not torch.allclose(trained_params[name], dict(untrained.model.named_parameters())[name])


def test_prefixes_are_scored_without_eos_and_save_load_round_trips(trained):
    value_model, out, _ = trained
    ids = value_model.encode("12?\n", "345\n+1\n")
    assert ids[-1] != value_model.tokenizer.eos_token_id and len(ids) == 1 + len("12?\n345\n+1\n")
    loaded = ValueModel.load(out)
    labels = synthetic_labels(6, seed=2)
    assert loaded.score([l.prompt for l in labels], [l.completion for l in labels]) == \
        pytest.approx(value_model.score([l.prompt for l in labels], [l.completion for l in labels]), abs=1e-5)
    with pytest.raises(ValueError, match="not 'reward'"):
        from verifiers.reward_model import RewardModel
        RewardModel.load(out)


def test_scorer_adapter_scores_partial_paths_within_its_cost_bound(trained):
    value_model, _, _ = trained
    scorer = value_model.as_scorer()
    paths = [["123\n"], ["123\n", "+1\n"], ["123\n", "-1\n"]]
    bound = scorer.cost_bound("55?\n", paths)
    before = scorer.usage.total_tokens
    values = scorer.score("55?\n", paths)
    assert scorer.usage.total_tokens - before == bound
    assert values[1] > values[2]


def test_diagnose_works_on_a_value_model(trained):
    value_model, _, _ = trained
    trees = [make_tree(f"t{i}", [(0, "123\n", False, None), (1, "+1\n", True, True), (1, "-1\n", True, False)])
             for i in range(3)]
    report = diagnose(value_model, trees, {f"t{i}": f"{40 + i}?\n" for i in range(3)})
    assert report["n_answers"] == 6 and report["auroc"] == 1.0 and report["pair_accuracy"] == 1.0
