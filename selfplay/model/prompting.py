"""How a problem becomes model input, and where one reasoning step ends.

Two formats, chosen by the tokenizer:
- built-in (the lab's own character-level model): the prompt, a newline, then the solution one
  step per line, then EOS. Countdown steps are `25-5=20` lines, arith steps are computations
  ending with a `#### N` line, funcs steps are lines of Python source.
- chat (any tokenizer with a chat template, e.g. a real instruct model): the problem and its task
  spec's instruction as the user turn, rendered by the tokenizer's own template with the
  generation prompt; steps are separated by a blank line (`\\n\\n`).

    >>> builtin_prompt("Use 3 5 8 to make 24 with + - * /. Each number at most once.")
    'Use 3 5 8 to make 24 with + - * /. Each number at most once.\\n'

Knows the task specs' instructions and tokenizers; nothing about models, search or verifiers.
"""
from __future__ import annotations

from dataclasses import dataclass

from selfplay.tasks.spec import FALLBACK_TASK, task_spec

BUILTIN_STEP_DELIMITER = "\n"
CHAT_STEP_DELIMITER = "\n\n"


def builtin_prompt(prompt: str) -> str:
    """The built-in format: the prompt and a newline; the model writes steps from there."""
    return prompt.rstrip("\n") + "\n"


@dataclass(frozen=True)
class PromptFormat:
    kind: str  # "builtin" or "chat"
    step_delimiter: str  # text that ends one reasoning step

    @property
    def add_special_tokens(self) -> bool:
        """Whether the tokenizer should add its special tokens (BOS) when encoding a rendered prompt.

        The built-in format relies on the tokenizer's BOS; a chat template writes its own special
        tokens into the text, and adding them again would double them.
        """
        return self.kind == "builtin"

    def render(self, prompt: str, task: str | None, tokenizer) -> str:
        if self.kind == "builtin":
            return builtin_prompt(prompt)
        return tokenizer.apply_chat_template(chat_messages(prompt, task), tokenize=False, add_generation_prompt=True)


def chat_messages(prompt: str, task: str | None) -> list[dict]:
    """The conversation a chat model is given: one user turn, the problem and its task's instruction."""
    instruction = task_spec(task or FALLBACK_TASK).instruction
    return [{"role": "user", "content": f"{prompt}\n\n{instruction}"}]


def format_for(tokenizer) -> PromptFormat:
    """Chat format where the tokenizer has a chat template, the built-in format otherwise."""
    if getattr(tokenizer, "chat_template", None):
        return PromptFormat("chat", CHAT_STEP_DELIMITER)
    return PromptFormat("builtin", BUILTIN_STEP_DELIMITER)


def prompt_renderer(model_dir: str):
    """(render(problem) -> the policy's prompt text, the EOS text), from the tokenizer alone."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompt_format = format_for(tokenizer)
    return (lambda problem: prompt_format.render(problem.prompt, problem.task, tokenizer)), tokenizer.eos_token or ""
