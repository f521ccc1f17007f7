"""The real-model path without downloads: a tiny random Qwen2 with a BPE tokenizer trained here and
a chat template, saved to disk, then loaded like any Hugging Face model directory (chat prompts,
`\\n\\n` steps, completions, `lab eval`, and a LoRA adapter through `--adapter`)."""
import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from selfplay.commands.lab import main
from selfplay.model.policy import Policy
from selfplay.tasks import load_problems

DATASETS = Path(__file__).resolve().parent.parent / "datasets"
CHAT_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def task_texts() -> list[str]:
    texts = []
    for task in ("countdown", "arith", "funcs"):
        for problem in load_problems(DATASETS / task / "dev.jsonl")[:40]:
            texts.append(problem.prompt + "\n\n" + (problem.meta.get("solution") or "").replace("\n", "\n\n"))
    return texts


def train_tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(task_texts(), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        padding_side="left")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_qwen(tokenizer, seed=0) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=96, intermediate_size=256, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=None, tie_word_embeddings=True)
    return Qwen2ForCausalLM(config).eval()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tokenizer = train_tokenizer()
    path = tmp_path_factory.mktemp("tiny-qwen")
    model = tiny_qwen(tokenizer)
    assert 100_000 < model.num_parameters() < 1_000_000
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def adapter_dir(model_dir, tmp_path_factory):
    torch.manual_seed(1)
    base = Qwen2ForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    path = tmp_path_factory.mktemp("adapter")
    get_peft_model(base, config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tasks_file(tmp_path_factory):
    lines = [line for task in ("countdown", "arith", "funcs")
             for line in (DATASETS / task / "dev.jsonl").read_text().splitlines()[:2]]
    path = tmp_path_factory.mktemp("tasks") / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_chat_prompt_is_rendered_with_the_template_and_encoded_without_extra_specials(model_dir):
    policy = Policy.from_pretrained(model_dir)
    assert (policy.prompt_format.kind, policy.step_delimiter) == ("chat", "\n\n")
    problem = load_problems(DATASETS / "arith" / "dev.jsonl")[0]
    prompt = policy.render_prompt(problem)
    assert prompt.startswith("<|im_start|>user\n" + problem.prompt) and prompt.endswith("<|im_start|>assistant\n")
    root = policy.root(prompt)
    assert list(root.token_ids) == policy.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert root.token_ids[0] == policy.tokenizer.convert_tokens_to_ids("<|im_start|>")


def test_steps_end_at_a_blank_line_and_match_teacher_forcing(model_dir):
    policy = Policy.from_pretrained(model_dir)
    newline, letter = (policy.tokenizer.convert_tokens_to_ids(t) for t in ("Ċ", "a"))
    head = torch.nn.Linear(policy.model.config.hidden_size, policy.model.config.vocab_size, bias=True)
    with torch.no_grad():  # a bandit head: "a" or a single newline, never a "\n\n" token at once
        head.weight.zero_()
        head.bias.fill_(-30.0)
        head.bias[[newline, letter]] = 0.0
    policy.model.lm_head = head
    root = policy.root(policy.render_prompt(load_problems(DATASETS / "countdown" / "dev.jsonl")[0]))
    children = policy.expand([root], 6, seed=0, max_step_tokens=10)[0]
    grandchildren = [s for steps in policy.expand([c.state for c in children], 2, seed=1, max_step_tokens=10)
                     for s in steps]
    for step in children + grandchildren:
        assert (step.finish_reason == "delimiter") == step.text.endswith("\n\n")
        assert "\n\n" not in step.text[:-1]
        parent = step.state.token_ids[:-step.n_tokens]
        reference = policy.logprobs(list(parent), list(step.token_ids))
        assert max(abs(a - b) for a, b in zip(reference, step.token_logprobs)) < 1e-4
    assert "delimiter" in {step.finish_reason for step in children + grandchildren}


def test_complete_returns_batched_answers(model_dir):
    policy = Policy.from_pretrained(model_dir)
    problems = load_problems(DATASETS / "arith" / "dev.jsonl")[:2]
    answers = policy.complete([policy.render_prompt(p) for p in problems], 3, temperature=1.0, max_new_tokens=9,
                              seed=[1, 2])
    assert [len(row) for row in answers] == [3, 3]
    for completion in (c for row in answers for c in row):
        assert 1 <= completion.n_tokens <= 9 and completion.logprob < 0
        assert completion.finished == (completion.finish_reason == "eos")
    assert policy.usage.decode_tokens == sum(c.n_tokens for row in answers for c in row)


def test_lab_eval_runs_on_the_saved_model_with_and_without_adapter(capsys, model_dir, adapter_dir, tasks_file):
    common = ["eval", "--model", str(model_dir), "--tasks", str(tasks_file), "--strategy", "sample", "--budget", "2",
              "--max-new-tokens", "8", "--json"]
    for extra in ([], ["--adapter", str(adapter_dir)]):
        assert main(common + extra) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["n"] == 6 and summary["tokens"] > 0 and isinstance(summary["accuracy"], float)
        assert set(summary["by_task"]) == {"countdown", "arith", "funcs"}
        assert summary["adapter"] == (extra[1] if extra else None)


def test_adapter_changes_the_logprobs(model_dir, adapter_dir):
    base = Policy.from_pretrained(model_dir)
    adapted = Policy.from_pretrained(model_dir, adapter_dir)
    prompt = base.render_prompt(load_problems(DATASETS / "arith" / "dev.jsonl")[0])
    continuation = "3*6=18\n\n#### 18"
    before, after = base.logprobs(prompt, continuation), adapted.logprobs(prompt, continuation)
    assert len(before) == len(after) > 3
    assert max(abs(a - b) for a, b in zip(before, after)) > 1e-3
    adapted.unload_adapter()
    assert adapted.logprobs(prompt, continuation) == pytest.approx(before, abs=1e-5)
