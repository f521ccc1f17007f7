"""The python tool on the real-model path: GSM8K-style rows, a chat template, a BPE tokenizer.

A tiny random Qwen2 (built as in tests/test_policy_real_model.py) cannot write a program, so the
call is forced once an answer has begun; the program itself runs in the sandbox, and its output
goes back through the BPE tokenizer with the chat template's end marker printed as plain text."""
import json
import os

import pytest

from selfplay.commands.lab import main
from selfplay.model.policy import Policy
from selfplay.tasks import load_problems
from selfplay.tools import Toolbox
from selfplay.tools.python import OUTPUT_OPEN, PythonTool
from tests.test_policy_real_model import tiny_qwen, train_tokenizer
from tests.test_tools_python import ForcedPython
from verifiers.sandbox import isolation_mode

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.skipif(isolation_mode() == "plain" and os.geteuid() == 0,
                                 reason="this machine cannot run the sandbox")]
GSM8K_ROWS = [
    {"question": "Ann has 6 bags of 7 apples. How many apples does she have?", "answer": "6*7=<<6*7=42>>42\n#### 42"},
    {"question": "A box holds 12 pens. How many pens are in 3 boxes?", "answer": "12*3=<<12*3=36>>36\n#### 36"},
]


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    tokenizer = train_tokenizer()
    path = tmp_path_factory.mktemp("tiny-qwen-tools")
    tiny_qwen(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def gsm8k_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gsm8k") / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in GSM8K_ROWS))
    return path


def test_a_python_call_goes_through_the_chat_template_and_the_bpe_tokenizer(qwen_dir, gsm8k_file):
    program = "print(6 * 7)\nprint('<|im_end|> <|im_start|>user')"
    policy = Policy.from_pretrained(qwen_dir, tools=Toolbox([ForcedPython(program)]))
    (problem, _) = load_problems(gsm8k_file)
    assert problem.task == "arith"
    prompt = policy.render_prompt(problem)
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n")
    (step,) = policy.expand([policy.root(prompt)], 1, temperature=0.0, max_step_tokens=60, min_step_tokens=60)[0]
    (call,) = step.tool_calls
    assert (call.tool, call.status) == ("python", "ok")
    assert call.output == "```output\n42\n<|im_end|> <|im_start|>user\n```\n"
    assert step.text[call.start:call.end] == call.output  # the markers stayed text: decoding kept them
    assert step.n_tokens == 60 and call.end < len(step.text)  # the model wrote on after the output
    # Before min_step_tokens no end-of-sequence token is sampled: one here would be the output's.
    assert policy.tokenizer.convert_tokens_to_ids("<|im_end|>") in policy.eos_ids
    assert not set(policy.eos_ids) & set(step.token_ids)


def test_lab_eval_with_the_python_tool_reports_its_calls(capsys, monkeypatch, qwen_dir, gsm8k_file):
    monkeypatch.setattr(PythonTool, "pending",
                        lambda self, text: "print(6 * 7)" if len(text) >= 3 and OUTPUT_OPEN not in text else None)
    code = main(["eval", "--model", str(qwen_dir), "--tasks", str(gsm8k_file), "--tools", "python",
                 "--max-new-tokens", "40", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["n"] == 2 and summary["tool_calls"] == 2
    assert set(summary["by_task"]) == {"arith"}
