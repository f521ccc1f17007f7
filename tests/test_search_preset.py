"""The searching base model (models/search) and the default preset that runs it: what the files promise one another."""
import json
from pathlib import Path

import pytest

from selfplay.builtin_model.pretrain_config import load_recipe
from selfplay.tasks.countdown.traces import searching_pricing, searching_search
from selfplay.runfiles.runconfig import load_config

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "search"


def test_the_recipe_makes_the_committed_model():
    recipe = load_recipe(REPO / "configs" / "pretrain-search.yaml")
    made = load_recipe(MODEL / "pretrain.yaml")
    assert recipe.corpus == made.corpus and recipe.model == made.model
    assert (recipe.max_steps, recipe.learning_rate, recipe.seed) == (made.max_steps, made.learning_rate, made.seed)
    assert recipe.corpus.options["countdown"].search > 0 and recipe.corpus.mistake_share == 0.0


def test_the_model_declares_its_retries_and_longer_answers():
    config = json.loads((MODEL / "config.json").read_text())
    assert config["selfplay_retries"] is True and config["selfplay_tools"] == ["calculator"]
    assert config["selfplay_pricing"] == {"countdown": searching_pricing(config["max_position_embeddings"])}
    assert config["selfplay_search"] == {"countdown": searching_search()}


def test_deliberate_answers_search_the_committed_model_with_its_declared_settings():
    from selfplay.answering.deliberate import search_config
    from selfplay.model.policy import Policy
    from selfplay.tasks import load_problems
    policy = Policy.from_pretrained(MODEL, device="cpu")
    problem = load_problems(REPO / "datasets" / "countdown" / "hard" / "dev.jsonl")[0]
    config = search_config(policy, problem, num_simulations=64)
    assert config.rollouts and config.expansions_per_node == 8 and config.max_depth == 40
    assert config.num_simulations == 64
    assert not search_config(policy, problem, rollouts=False).rollouts  # a caller's setting wins


def test_the_committed_card_measures_pass_at_32_and_the_stability_check_on_the_default_preset():
    from selfplay.builtin_model.card import stability_verdict
    record = json.loads((MODEL / "eval.json").read_text())
    easy, hard = record["tasks"]["countdown"], record["tasks"]["countdown_hard"]
    assert easy["n_greedy"] == hard["n_greedy"] == 200 and easy["samples"] == hard["samples"] == 32
    assert hard["greedy"] < easy["greedy"] and hard["pass_at_samples"] >= 2 * hard["greedy"]  # room for the rounds
    draws = record["stability"]  # one epoch of the default preset's finetuning on expert answers, three draws
    assert [draw["seed"] for draw in draws] == [0, 1, 2] and {draw["preset"] for draw in draws} == {"default"}
    assert all(draw["dev_problems"] == 200 and draw["model"] == "models/search" for draw in draws)
    assert stability_verdict(draws)["met"]
    card = (MODEL / "README.md").read_text()
    assert "pass@32" in card and "## Stability check" in card and "Not measured by the card" not in card


def test_the_default_preset_lets_an_answer_be_as_long_as_the_model_declares():
    preset = load_config("default")
    declared = json.loads((MODEL / "config.json").read_text())["selfplay_pricing"]["countdown"]
    assert preset.model == "models/search" and preset.eval.max_new_tokens == declared["answer_tokens"]
    assert preset.sft.max_length >= declared["answer_tokens"] + 64  # prompt and whole answer are trained on
    assert preset.rounds == 5 and preset.selection.passing_attempts  # five rounds of about 5 minutes each
    assert preset.selection.hindsight_rows > 0


def test_the_base_preset_runs_the_same_loop_on_the_calculator_model():
    default, base = load_config("default"), load_config("base")
    assert base.model == "models/base" and base.selection.hindsight_rows == 0
    assert (base.curriculum, base.dev_files, base.problems_per_round) == \
        (default.curriculum, default.dev_files, default.problems_per_round)
    assert (base.sampling.strategy, base.sampling.budget, base.eval.max_new_tokens) == ("mcts", 16, 96)


@pytest.mark.slow
def test_a_round_of_the_search_preset_trains_on_verified_searches(tmp_path):
    from selfplay.commands import improve as improve_cli
    from selfplay.runfiles import rundir, treeio
    from selfplay.answering.grading import grade
    from selfplay.tasks import load_problems
    from selfplay.tasks.countdown.spec import countdown_relabel
    out = tmp_path / "run"
    argv = ["--preset", "default", "--out", str(out), "--workers", "0", "--rounds", "1",
            "--set", "problems_per_round=12", "--set", "sampling.budget=4", "--set", "sft.max_steps=2",
            "--set", "eval.limit=3", "--set", "eval.budget=2"]
    assert improve_cli.main(argv) == 0
    trees = treeio.read_trees_prefix(out / "round-1" / "trees.jsonl.gz")
    assert any(text.strip() == "retry" for tree in trees for text in tree.step_texts)  # the answers search
    problems = {p.id: p for name in ("train", "std3/train", "std4/train")
                for p in load_problems(REPO / "datasets" / "countdown" / f"{name}.jsonl")}
    rows = rundir.read_jsonl(out / "round-1" / "sft.jsonl")
    assert rows and any(row.get("hindsight_of") for row in rows)
    posed = {tree.problem_id for tree in trees}
    for row in rows:
        answer = row["completion"].removesuffix("<eos>")
        problem = problems.get(row["problem_id"])
        if row.get("hindsight_of"):  # the relabeling is made again from the row's source and answer
            assert row["problem_id"] not in posed and row["hindsight_of"] in posed
            problem = countdown_relabel(problems[row["hindsight_of"]], answer)
            assert problem.id == row["problem_id"] and row["prompt"] == problem.prompt + "\n"
        assert grade(problem, answer).passed
