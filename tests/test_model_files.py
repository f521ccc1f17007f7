"""What a model or adapter directory says about itself: the base model's card metadata, generation
config and tokenizer length (committed and as written), the adapter's card, and a forward pass
that warns about nothing."""
import json
import warnings
from pathlib import Path

import pytest
import yaml

from selfplay.loop.finetune import TrainResult, adapter_card, finetune
from selfplay.builtin_model import card
from selfplay.model.policy import Policy
from selfplay.builtin_model.tokenizer import build_tokenizer
from selfplay.runfiles.runconfig import FinetuneConfig
from tests.tiny_models import tiny_llama

BASE = Path(__file__).resolve().parents[1] / "models" / "base"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def front_matter(text: str) -> dict:
    """The `---`-fenced YAML a card starts with."""
    assert text.startswith("---\n"), text[:80]
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny model saved as `pretrain` saves one: a generic generation config, the tokenizer's default length."""
    tokenizer = build_tokenizer()
    path = tmp_path_factory.mktemp("tiny") / "model"
    tiny_llama(tokenizer, max_positions=128).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_committed_card_carries_hub_metadata_and_the_measured_numbers():
    metadata = front_matter((BASE / "README.md").read_text(encoding="utf-8"))
    assert (metadata["license"], metadata["library_name"], metadata["pipeline_tag"]) == (
        "apache-2.0", "transformers", "text-generation")
    measured = json.loads((BASE / "eval.json").read_text())["tasks"]
    (index,) = metadata["model-index"]
    figures = {entry["dataset"]["name"]: {metric["type"]: metric["value"] for metric in entry["metrics"]}
               for entry in index["results"]}
    for task, numbers in measured.items():
        assert figures[f"selfplay {task} dev"] == {"accuracy": numbers["greedy"],
                                                   f"pass@{numbers['samples']}": numbers["pass_at_samples"]}


def test_committed_generation_config_and_tokenizer_fit_the_model():
    generation = json.loads((BASE / "generation_config.json").read_text())
    assert generation["do_sample"] is False and generation["max_new_tokens"] == card.ANSWER_TOKENS
    positions = json.loads((BASE / "config.json").read_text())["max_position_embeddings"]
    assert json.loads((BASE / "tokenizer_config.json").read_text())["model_max_length"] == positions == 512


def test_set_generation_defaults_writes_what_the_directory_lacks(tiny_model_dir):
    from transformers import AutoTokenizer, GenerationConfig

    assert AutoTokenizer.from_pretrained(tiny_model_dir).model_max_length == 512  # build_tokenizer's default
    card.set_generation_defaults(tiny_model_dir)
    generation = GenerationConfig.from_pretrained(tiny_model_dir)
    assert (generation.do_sample, generation.max_new_tokens) == (False, card.ANSWER_TOKENS)
    assert generation.eos_token_id == build_tokenizer().eos_token_id  # kept
    assert AutoTokenizer.from_pretrained(tiny_model_dir).model_max_length == 128  # the model's positions


def test_card_metadata_without_numbers_has_no_model_index():
    metadata = front_matter(card.front_matter(card.card_metadata("selfplay-x", None)) + "# card\n")
    assert "model-index" not in metadata and metadata["library_name"] == "transformers"
    sampled_none = {"countdown": {"greedy": 0.5, "samples": 0, "pass_at_samples": 0.0}}
    (entry,) = card.card_metadata("selfplay-x", sampled_none)["model-index"][0]["results"]
    assert entry["metrics"] == [{"type": "accuracy", "name": "greedy accuracy", "value": 0.5}]


def test_adapter_directory_gets_its_own_card_naming_base_round_and_data(tiny_model_dir, tmp_path):
    adapter = tmp_path / "run" / "round-2" / "adapter"
    adapter.parent.mkdir(parents=True)
    finetune([], tiny_model_dir, adapter, FinetuneConfig(lora_rank=4), seed=0)
    text = (adapter / "README.md").read_text(encoding="utf-8")
    metadata = front_matter(text)
    assert (metadata["library_name"], metadata["base_model"]) == ("peft", str(tiny_model_dir))
    assert "# selfplay LoRA adapter, round 2" in text and "rank 4" in text
    assert str(adapter.parent / "sft.jsonl") in text and "no rows" in text
    assert f'PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{tiny_model_dir}"), "{adapter}")' in text
    assert "[More Information Needed]" not in text  # PEFT's template card is gone


def test_adapter_card_reports_the_training_numbers():
    result = TrainResult(rows=40, steps=10, train_loss=0.5, first_loss=0.9, last_loss=0.3, tokens=12_000, wall_s=7.0,
                         continued_from="/runs/a/round-1/adapter")
    text = adapter_card("/models/base", "/runs/a/round-2/adapter", FinetuneConfig(max_steps=10), result)
    assert "40 rows, 10 optimizer steps (max_steps 10)" in text and "12,000 tokens" in text
    assert "mean 0.5000, first logged 0.9000, last 0.3000" in text
    assert "previous round's adapter `/runs/a/round-1/adapter`" in text


def test_answering_through_the_kv_cache_warns_about_nothing():
    tokenizer = build_tokenizer()
    policy = Policy(tiny_llama(tokenizer), tokenizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        answers = policy.complete(["1+1=", "22*4="], 2, temperature=1.0, max_new_tokens=6, seed=0)
    assert [len(group) for group in answers] == [2, 2] and all(c.n_tokens > 0 for g in answers for c in g)
