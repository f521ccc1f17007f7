"""The built-in character tokenizer: exact round trips on every task's text, <unk>, save/load."""
import string
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from selfplay.builtin_model.tokenizer import CHARACTERS, build_tokenizer
from selfplay.model.prompting import builtin_prompt
from selfplay.tasks import load_problems

DATASETS = Path(__file__).resolve().parent.parent / "datasets"


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def _task_texts(task: str, count: int = 20) -> list[str]:
    problems = load_problems(DATASETS / task / "train.jsonl")[:count]
    return [builtin_prompt(problem.prompt) + problem.meta["solution"] for problem in problems]


@pytest.mark.parametrize("task", ["countdown", "arith", "funcs"])
def test_round_trip_on_task_texts(tokenizer, task):
    for text in _task_texts(task):
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id
        assert len(ids) == len(text) + 1  # one token per character, after <bos>
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_every_printable_character_round_trips(tokenizer):
    text = "".join(CHARACTERS) * 2
    assert set(string.printable) - set(CHARACTERS) == {"\r", "\x0b", "\x0c"}
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tokenizer.decode(ids) == text


def test_unknown_characters_map_to_unk(tokenizer):
    ids = tokenizer("a\u00e9b\rc", add_special_tokens=False)["input_ids"]
    assert ids[1] == ids[3] == tokenizer.unk_token_id
    assert tokenizer.convert_ids_to_tokens(ids) == ["a", "<unk>", "b", "<unk>", "c"]


def test_eos_and_padding(tokenizer):
    batch = tokenizer(["12+3=15", "1"], padding=True)["input_ids"]
    assert batch[1][: len(batch[1]) - 2] == [tokenizer.pad_token_id] * (len(batch[1]) - 2)  # padded on the left
    assert tokenizer.decode(tokenizer("7")["input_ids"] + [tokenizer.eos_token_id], skip_special_tokens=True) == "7"


def test_save_and_load_with_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = _task_texts("funcs", 1)[0]
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert (loaded.bos_token_id, loaded.eos_token_id, loaded.pad_token_id, loaded.unk_token_id) == \
           (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    assert loaded.padding_side == "left" and len(loaded) == len(tokenizer)
