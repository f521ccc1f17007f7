"""Reward-model data, metrics and training: pairs from hand-built trees, AUROC against brute force,
a tiny random Llama trained a few steps with TRL's RewardTrainer on a separable set."""
from __future__ import annotations

import gzip
import itertools
import json
import random
import stat

import pytest
import torch

from verifiers.math import check_countdown
from selfplay.commands.reward_model import main
from verifiers.reward_model import RewardModel, RewardModelConfig, load_base, train_reward_model
from search import Tree
from verifiers.scorer_data import (GradedAnswer, graded_answers, padded, preference_pairs, repeated,
                                  split_by_problem)
from verifiers.scorer_metrics import auroc, diagnose

torch.set_num_threads(1)


# --- helpers shared with test_value_model ----------------------------------------------------------

def make_tree(problem_id: str, nodes: list[tuple[int, str, bool, bool | None]]) -> Tree:
    """A tree from (parent, step text, terminal, passed or None) per node after the root."""
    tree = Tree(strategy="sample", problem_id=problem_id, task="countdown", round=0)
    for parent, text, terminal, passed in nodes:
        node = tree.add_node(parent, text, token_count=len(text), logprob=0.0, terminal=terminal)
        if passed is not None:
            tree.set_verdict(node, passed, float(passed), "passed" if passed else "wrong")
    return tree


def make_tiny_base(directory) -> str:
    """A random 2-layer LlamaForCausalLM with the built-in character tokenizer, saved to `directory`."""
    from transformers import LlamaConfig, LlamaForCausalLM, set_seed

    from selfplay.builtin_model.tokenizer import build_tokenizer
    tokenizer = build_tokenizer()
    set_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def marker_trees(count: int, first_id: int, seed: int) -> tuple[list[Tree], dict[str, str]]:
    """Problems with 2 correct answers (ending `=Y`) and 2 wrong ones (ending `=N`) each: separable."""
    rng = random.Random(seed)
    trees, prompts = [], {}
    for index in range(first_id, first_id + count):
        problem_id = f"p{index}"
        prompts[problem_id] = f"{rng.randint(10, 99)}?\n"
        answers = [("".join(rng.choice("0123456789") for _ in range(4)) + ("=Y" if ok else "=N"), ok)
                   for ok in (True, True, False, False)]
        trees.append(make_tree(problem_id, [(0, text, True, ok) for text, ok in answers]))
    return trees, prompts


# Measured over 4 seeds of the random base and of the trainer (150 steps at 3e-3): held-out AUROC 1.0
# and a repeat costs every correct answer at least 0.87 of its score with robustness copies, against
# AUROC 0.65 on one seed at the earlier 60 steps at 1e-2. The asserts below keep wide margins.
TINY = RewardModelConfig(max_steps=150, batch_size=8, learning_rate=3e-3, lora_rank=4, max_length=64,
                         max_pairs_per_problem=4)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return make_tiny_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def marker_data():
    train_trees, train_prompts = marker_trees(24, 0, seed=0)
    held_out, held_out_prompts = marker_trees(8, 100, seed=1)
    return train_trees, held_out, {**train_prompts, **held_out_prompts}


@pytest.fixture(scope="module")
def trained(base_dir, marker_data, tmp_path_factory):
    train_trees, _, prompts = marker_data
    out = tmp_path_factory.mktemp("rm") / "reward_model"
    pairs = preference_pairs(train_trees, prompts, max_pairs_per_problem=4)
    return train_reward_model(pairs, base_dir, out, TINY), out


# --- harvesting pairs ------------------------------------------------------------------------------

def test_pairs_pair_every_distinct_correct_with_every_distinct_wrong_answer():
    first = make_tree("a", [(0, "1+2=3\n", False, None), (1, "3*4=12", True, True), (1, "3+4=7", True, False),
                            (0, "9-1=8", True, False), (0, "ungraded", True, None)])
    second = make_tree("a", [(0, "1+2=3\n", False, None), (1, "3+4=7", True, False), (0, "4*3=12", True, True)])
    only_correct = make_tree("b", [(0, "7", True, True)])
    pairs = preference_pairs([first, second, only_correct], {"a": "A\n", "b": "B\n"}, max_pairs_per_problem=10)
    verified = {(p.chosen, p.rejected) for p in pairs if p.kind == "verified"}
    assert verified == {("1+2=3\n3*4=12", "1+2=3\n3+4=7"), ("1+2=3\n3*4=12", "9-1=8"),
                        ("4*3=12", "1+2=3\n3+4=7"), ("4*3=12", "9-1=8")}
    assert sum(p.kind == "verified" for p in pairs) == 4  # the duplicate wrong answer is counted once
    assert sorted((p.problem_id, p.kind) for p in pairs if p.kind != "verified") == \
        [("a", "pad")] * 4 + [("a", "repeat")] * 4 + [("b", "pad"), ("b", "repeat")]
    assert {p.prompt for p in pairs if p.problem_id == "b"} == {"B\n"}


def test_pairs_are_capped_and_deterministic_by_seed():
    answers = [(0, f"ok{i}", True, True) for i in range(4)] + [(0, f"no{i}", True, False) for i in range(5)]
    trees = [make_tree("a", answers)]
    capped = preference_pairs(trees, {"a": ""}, max_pairs_per_problem=7, robustness_copies=False, seed=3)
    assert len(capped) == 7
    assert capped == preference_pairs(trees, {"a": ""}, max_pairs_per_problem=7, robustness_copies=False, seed=3)
    uncapped = preference_pairs(trees, {"a": ""}, max_pairs_per_problem=100, robustness_copies=False)
    assert len(uncapped) == 20


def test_answers_join_the_steps_and_a_missing_prompt_is_an_error():
    tree = make_tree("a", [(0, "25-5=20\n", False, None), (1, "20+4=24", True, True)])
    assert graded_answers([tree], {"a": "P\n"}) == [GradedAnswer("a", "P\n", "25-5=20\n20+4=24", True)]
    with pytest.raises(KeyError, match="no prompt"):
        graded_answers([tree], {})


def test_repeated_answers_fail_the_strict_verifier_and_padding_adds_only_whitespace():
    answer = "25-5=20\n20+4=24"
    assert check_countdown([25, 5, 4], 24, answer).passed
    assert not check_countdown([25, 5, 4], 24, repeated(answer)).passed
    assert all(copy.startswith(answer) and copy[len(answer):].isspace() for copy in padded(answer))


def test_split_by_problem_keeps_each_problem_on_one_side():
    trees = [make_tree(f"p{i % 5}", []) for i in range(10)]
    train, held_out = split_by_problem(trees, 0.4, seed=1)
    assert len({t.problem_id for t in held_out}) == 2
    assert not {t.problem_id for t in train} & {t.problem_id for t in held_out}


# --- metrics -------------------------------------------------------------------------------------

def brute_force_auroc(scores, labels):
    positive = [s for s, label in zip(scores, labels) if label]
    negative = [s for s, label in zip(scores, labels) if not label]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positive, negative))
    return wins / (len(positive) * len(negative))


@pytest.mark.parametrize("seed", range(6))
def test_auroc_matches_brute_force_with_ties(seed):
    rng = random.Random(seed)
    size = rng.randint(2, 40)
    scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) if seed % 2 else rng.random() for _ in range(size)]
    labels = [rng.random() < 0.4 for _ in range(size)]
    labels[0], labels[1] = True, False
    assert auroc(scores, labels) == pytest.approx(brute_force_auroc(scores, labels))


def test_auroc_edge_cases():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert auroc([0.2, 0.9], [1, 0]) == 0.0
    assert auroc([0.3, 0.3], [1, 0]) == 0.5
    assert auroc([0.1, 0.2], [1, 1]) is None


# --- training ------------------------------------------------------------------------------------

def test_training_changes_the_adapted_weights_and_the_head(trained, base_dir):
    from transformers import set_seed
    reward_model, _ = trained
    set_seed(TINY.seed)  # the head as the trainer initialised it
    fresh = load_base(base_dir)
    trained_params = dict(reward_model.model.named_parameters())
    assert not torch.allclose(trained_params["score.weight"], fresh.score.weight)
    name = "model.layers.0.self_attn.q_proj.weight"  # LoRA merged in: differs only if LoRA B moved from 0
    assert not torch.allclose(trained_params[name], dict(fresh.named_parameters())[name])
    assert torch.equal(trained_params["model.embed_tokens.weight"], fresh.model.embed_tokens.weight)  # frozen
    assert reward_model.info["training"]["last_loss"] < reward_model.info["training"]["first_loss"]


def test_trained_model_ranks_held_out_correct_answers_first(trained, marker_data):
    reward_model, _ = trained
    _, held_out, prompts = marker_data
    report = diagnose(reward_model, held_out, prompts)
    assert report["n_answers"] == 32 and report["positive_rate"] == 0.5
    assert report["auroc"] >= 0.95 and report["pair_accuracy"] >= 0.95
    assert report["best_of_n_accuracy"] == 1.0 and report["random_pick_accuracy"] == 0.5
    assert report["rises_when_repeated_or_padded"] <= 0.1
    assert set(report) >= {"accuracy", "rises_when_repeated", "rises_when_padded", "epsilon"}


def test_robustness_copies_teach_the_model_not_to_reward_repeats(base_dir, marker_data, tmp_path):
    train_trees, held_out, prompts = marker_data
    correct = [a for a in graded_answers(held_out, prompts) if a.passed]
    drops = {}
    for copies in (False, True):
        pairs = preference_pairs(train_trees, prompts, max_pairs_per_problem=4, robustness_copies=copies)
        model = train_reward_model(pairs, base_dir, tmp_path / str(copies), TINY)
        originals = model.score([a.prompt for a in correct], [a.completion for a in correct])
        repeats = model.score([a.prompt for a in correct], [repeated(a.completion) for a in correct])
        drops[copies] = [before - after for before, after in zip(originals, repeats)]
    assert sum(drops[False]) / len(correct) < 0.1  # the marker task alone says nothing about repeats
    assert min(drops[True]) > 0.2


def test_batched_scores_equal_one_at_a_time_scores(trained):
    reward_model, _ = trained
    prompts = ["12?\n", "3?\n", "99?\n"]
    completions = ["1234=Y", "1=N", "12345678901234=Y"]  # different lengths: padding in the batch
    batched = reward_model.score(prompts, completions)
    single = [reward_model.score([p], [c])[0] for p, c in zip(prompts, completions)]
    assert batched == pytest.approx(single, abs=1e-5)
    assert all(0.0 <= value <= 1.0 for value in batched)


def test_save_then_load_gives_the_same_scores(trained):
    reward_model, out = trained
    loaded = RewardModel.load(out)
    assert json.loads((out / "scorer.json").read_text())["kind"] == "reward"
    assert (out / "adapter_config.json").is_file()
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # built in a temporary sibling, renamed, shared
    assert not [path.name for path in out.parent.iterdir() if path.name.startswith(".")]
    prompts, completions = ["12?\n", "40?\n"], ["5555=Y", "0000=N"]
    assert loaded.score(prompts, completions) == pytest.approx(reward_model.score(prompts, completions), abs=1e-5)


def test_a_scorer_recording_a_repository_relative_base_is_read_against_the_repository(trained, tmp_path,
                                                                                     monkeypatch):
    import shutil
    import types
    from selfplay.answering import compare
    from selfplay.runfiles.runconfig import resolve_path
    _, out = trained
    copy = tmp_path / "reward_model"
    shutil.copytree(out, copy)
    info = json.loads((copy / "scorer.json").read_text())  # a round records the preset's name for its base
    (copy / "scorer.json").write_text(json.dumps({**info, "base_model": "models/base"}))
    monkeypatch.chdir(tmp_path)  # not the repository root
    asked = []

    def load(cls, directory, base_model=None, **options):  # the base is all this test looks at
        asked.append(base_model)
        return types.SimpleNamespace(as_scorer=lambda: "scorer")

    monkeypatch.setattr(RewardModel, "load", classmethod(load))
    assert compare.load_scorer(str(copy)) == "scorer" and asked == [resolve_path("models/base")]


def test_scorer_adapter_cost_bound_covers_usage(trained):
    reward_model, _ = trained
    scorer = reward_model.as_scorer()
    paths = [["12", "34=Y"], ["0000=N"], ["9\n", "8\n", "7=Y"]]
    bound = scorer.cost_bound("12?\n", paths)
    before = scorer.usage.total_tokens
    values = scorer.score("12?\n", paths)
    assert before < scorer.usage.total_tokens <= before + bound
    assert bound == len("12?\n") * 3 + sum(len("".join(p)) for p in paths) + 3 * 2  # chars + BOS + EOS
    assert values == pytest.approx(reward_model.score(["12?\n"] * 3, ["1234=Y", "0000=N", "9\n8\n7=Y"]))


def test_main_trains_and_prints_diagnostics(base_dir, marker_data, tmp_path, capsys):
    train_trees, held_out, prompts = marker_data
    trees_file = tmp_path / "trees.jsonl.gz"
    with gzip.open(trees_file, "wt") as lines:
        for tree in train_trees[:10] + held_out[:4]:
            lines.write(json.dumps({**tree.to_dict(), "prompt": prompts[tree.problem_id]}) + "\n")
    assert main(["--trees", str(trees_file), "--base", base_dir, "--out", str(tmp_path / "rm"),
                 "--max-steps", "2", "--held-out", "0.3"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["training"]["steps"] == 2
    assert report["held_out"]["n_problems"] == 4 and 0.0 <= report["held_out"]["auroc"] <= 1.0
    saved = json.loads((tmp_path / "rm" / "scorer.json").read_text())
    assert saved["diagnostics"]["n_answers"] == report["held_out"]["n_answers"]
    assert not [path.name for path in (tmp_path / "rm").iterdir() if path.name.startswith(".")]  # add_info's temporary
