"""The searching base model (models/search) and its preset: what the files promise one another."""
import json
from pathlib import Path

from selfplay.model.pretrain import load_config as load_recipe
from selfplay.model.pretrain import searching_pricing
from selfplay.runconfig import load_config

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "search"


def test_the_recipe_makes_the_committed_model():
    recipe = load_recipe(REPO / "configs" / "pretrain-search.yaml")
    made = load_recipe(MODEL / "pretrain.yaml")
    assert recipe.corpus == made.corpus and recipe.model == made.model
    assert (recipe.max_steps, recipe.learning_rate, recipe.seed) == (made.max_steps, made.learning_rate, made.seed)
    assert recipe.corpus.countdown_search > 0 and recipe.corpus.mistake_share == 0.0


def test_the_model_declares_its_retries_and_longer_answers():
    config = json.loads((MODEL / "config.json").read_text())
    assert config["selfplay_retries"] is True and config["selfplay_tools"] == ["calculator"]
    assert config["selfplay_pricing"] == {"countdown": searching_pricing(config["max_position_embeddings"])}


def test_the_preset_lets_an_answer_be_as_long_as_the_model_declares():
    preset = load_config("search")
    declared = json.loads((MODEL / "config.json").read_text())["selfplay_pricing"]["countdown"]
    assert preset.model == "models/search" and preset.eval.max_new_tokens == declared["answer_tokens"]
    assert preset.sft.max_length >= declared["answer_tokens"] + 64  # prompt and whole answer are trained on
    default = load_config("default")
    assert (preset.rounds, preset.curriculum, preset.dev_files) == (default.rounds, default.curriculum,
                                                                    default.dev_files)
