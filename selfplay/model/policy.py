"""The policy: a Hugging Face causal LM (plus an optional LoRA adapter) that writes reasoning steps.

    policy = Policy.from_pretrained("models/base")
    root = policy.root(policy.render_prompt(problem))          # the prompt, encoded lazily
    children = policy.expand([root], 4, temperature=1.0, seed=0)[0]   # 4 sampled next steps
    grandchildren = policy.expand([c.state for c in children], 4, seed=1)  # reuses their KV

Tree search (`search/`) builds on `root` / `expand`; evaluation on `complete`. Every call is
batched over states and samples and counted in `policy.usage` (prefill tokens, decode tokens,
forward calls). `reuse_cache=False` turns prefix caching off (every sample re-encodes its
whole prefix): the baseline of `benchmarks/kv_cache.py`, and a cross-check in tests.

Tools (`selfplay.tools`: a calculator, a sandboxed Python interpreter) are off unless a
`Toolbox` is given: then a row whose text ends a call pauses, the tool runs, and its output is
fed back as forced tokens inside the same batched decode loop (the KV cache is kept); steps and
completions carry their `tool_calls` and which tokens were forced.

Adapters are swapped in place (`load_adapter` / `unload_adapter`) through PEFT, without
reloading the base model; each swap bumps a weights version so caches computed under other
weights are recomputed rather than reused.

Knows models, tokenizers, prompt formats and caches; nothing about verifiers, search or tasks
beyond rendering a `Problem`'s prompt.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from selfplay.model.settings import (DEFAULT_WHERE, ModelConfigError, declared_per_task, declared_retries,
                                     declared_tools)
from selfplay.model.decoding import DecodeSettings, Generation, GeneratedRow, Usage, generate
from selfplay.model.kv import KVSegment, PrefixState, Scratch, check_supported, row_kv
from selfplay.model.next_token import StopRule, make_generators
from selfplay.model.prompting import PromptFormat, format_for
from selfplay.tools import ToolCall, Toolbox

__all__ = ["Policy", "PrefixState", "Step", "Completion", "Usage"]


@dataclass(eq=False)
class Step:
    """One sampled reasoning step and the child state it leads to."""

    text: str  # decoded step, delimiter included, special tokens (EOS) left out
    token_ids: tuple[int, ...]
    logprob: float  # sum of token_logprobs
    token_logprobs: tuple[float, ...]  # the model's log-probs (before temperature / top-p)
    n_tokens: int
    terminal: bool  # the answer ends here: EOS, or a length cap was hit
    finish_reason: str  # "delimiter", "eos", "max_tokens" (step cap) or "max_total_tokens" (context)
    state: PrefixState  # the child; expand it to continue from this step
    tool_calls: tuple[ToolCall, ...] = ()  # runs made in this step; `start` is a character offset in `text`


@dataclass
class Completion:
    """A whole sampled answer."""

    text: str  # special tokens (EOS) left out
    token_ids: tuple[int, ...]
    n_tokens: int
    logprob: float
    finished: bool  # ended with EOS rather than a length cap
    finish_reason: str
    tool_calls: tuple[ToolCall, ...] = ()  # runs made in the answer; `start` is a character offset in `text`


class Policy:
    """Step-wise and whole-answer sampling from one causal LM, with prefix KV reuse."""

    def __init__(self, model, tokenizer, *, prompt_format: PromptFormat | None = None, reuse_cache: bool = True,
                 max_total_tokens: int | None = None, tools: Toolbox | None = None) -> None:
        check_supported(model.config)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.prompt_format = prompt_format or format_for(tokenizer)
        self.reuse_cache = reuse_cache
        self.usage = Usage()
        self.adapter_dir: str | None = None
        self.max_total_tokens = max_total_tokens or getattr(model.config, "max_position_embeddings", 2048)
        if not isinstance(self.max_total_tokens, int) or self.max_total_tokens < 2:  # -1 answered nothing, silently
            raise ModelConfigError(f"the model's context (max_position_embeddings) must be at least 2 tokens, "
                                   f"got {self.max_total_tokens!r}")
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
        self._version = 0  # bumped on every adapter change; caches of older versions are not reused
        self._token_texts: list[str] | None = None
        self._scratch = Scratch()  # batch-cache buffers reused across calls
        self.tools = tools if tools is not None and tools.tools else None
        self.declared_tools = self.tools  # what the policy was built with; `apply_tools(policy, "auto")` restores it
        # a task's answer prices the model declares (`selfplay_pricing`, `Pricing` fields), where its answers
        # are longer than the task's built-in prices allow (a model whose countdown answers search in their text)
        declared = model.config.to_dict()
        self.pricing = declared_per_task(declared, "selfplay_pricing")
        self.retries = declared_retries(declared)  # its answers search in their text
        # a task's search settings the model declares (`selfplay_search`, SearchConfig fields), where the
        # defaults search it badly (a model whose answers search in their text: rollouts value a step)
        self.search_defaults = declared_per_task(declared, "selfplay_search")

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, adapter_dir: str | os.PathLike | None = None, *,
                        device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
                        **kwargs) -> Policy:
        """Load a local model directory (weights + tokenizer), and an adapter on top if given.

        `tools="auto"` (the default) switches on the tools the model declares in its config
        (`selfplay_tools`, written by `lab pretrain`); pass a `Toolbox` or None to choose.
        """
        if not os.path.isdir(model_dir):
            raise FileNotFoundError(f"{model_dir}: no such model directory")
        if not os.path.isfile(os.path.join(model_dir, "config.json")):
            raise FileNotFoundError(f"{model_dir}: no config.json, not a Hugging Face model directory")
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype is None:
            dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = _load_weights(model_dir, dtype).to(device)
        if kwargs.get("tools", "auto") == "auto":  # the tools the model was trained to call, none if it declares none
            declared = declared_tools(model.config.to_dict(), f"{model_dir}/config.json")
            from selfplay.tools.catalog import make_toolbox  # the sandboxed tool's modules load when asked for
            kwargs["tools"] = make_toolbox(declared) if declared else None
        try:
            policy = cls(model, tokenizer, **kwargs)
        except ModelConfigError as error:
            raise ModelConfigError(f"{model_dir}/config.json: {str(error).removeprefix(DEFAULT_WHERE + ': ')}") from None
        if adapter_dir is not None:
            policy.load_adapter(adapter_dir)
        return policy

    # --- weights -------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self._lm.device

    @property
    def _lm(self):
        """The causal LM to run: with an adapter, PEFT's LoRA layers live inside it."""
        return self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model

    def load_adapter(self, adapter_dir: str | os.PathLike) -> None:
        """Put a saved LoRA adapter on the base model, replacing the current one, in place."""
        if not os.path.isdir(adapter_dir):
            raise FileNotFoundError(f"{adapter_dir}: no such adapter directory")
        with warnings.catch_warnings():  # PEFT asks transformers for `is_gradient_checkpointing` (deprecated in v5)
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            self._swap_adapter(adapter_dir)

    def _swap_adapter(self, adapter_dir: str | os.PathLike) -> None:
        name = f"adapter{self._version + 1}"
        if isinstance(self.model, PeftModel):
            previous = self.model.active_adapter
            self.model.unmerge_adapter()  # back to the exact base weights before the swap
            self.model.load_adapter(str(adapter_dir), adapter_name=name, is_trainable=False)
            self.model.set_adapter(name)
            self.model.delete_adapter(previous)
        else:
            self.model = PeftModel.from_pretrained(self.model, str(adapter_dir), adapter_name=name, is_trainable=False)
        # Merged LoRA weights cost nothing per token (unmerged, every forward runs the LoRA
        # matmuls beside the base ones: about 3x slower on CPU); unmerging restores the base.
        self.model.merge_adapter()
        self.model.eval()
        self.adapter_dir, self._version = str(adapter_dir), self._version + 1

    def unload_adapter(self) -> None:
        """Back to the bare base model (merged LoRA weights taken out again, LoRA layers removed)."""
        if isinstance(self.model, PeftModel):
            self.model.unmerge_adapter()
            self.model = self.model.unload().eval()
            self.adapter_dir, self._version = None, self._version + 1

    # --- prompts -------------------------------------------------------------------------------

    @property
    def step_delimiter(self) -> str:
        return self.prompt_format.step_delimiter

    def render_prompt(self, problem) -> str:
        """The text the model continues for `problem` (built-in or chat format)."""
        return self.prompt_format.render(problem.prompt, problem.task, self.tokenizer)

    def encode(self, text: str, *, prompt: bool) -> list[int]:
        """Token ids of a prompt (with the format's special tokens) or of a continuation (none)."""
        special = self.prompt_format.add_special_tokens if prompt else False
        return self.tokenizer(text, add_special_tokens=special)["input_ids"]

    def root(self, prompt_text: str) -> PrefixState:
        """The state of a rendered prompt; encoded on first expansion, once for the whole tree."""
        token_ids = self.encode(prompt_text, prompt=True)
        if not token_ids:
            raise ValueError("the prompt encodes to no tokens")
        return PrefixState(tuple(token_ids))

    # --- sampling ------------------------------------------------------------------------------

    reports_costs = True  # `expand(..., costs=[])` says what each state cost (`search.batching` relies on it)

    def expand(self, states: Sequence[PrefixState], num_samples: int, *, temperature: float = 1.0,
               top_p: float = 1.0, max_step_tokens: int = 64, min_step_tokens: int = 0,
               seed: int | Sequence[int] | None = None, costs: list[int] | None = None) -> list[list[Step]]:
        """`num_samples` next steps for each state, in one batched decode loop.

        A step ends at the step delimiter, EOS, or `max_step_tokens`; `min_step_tokens` forbids an
        earlier end (benchmarks use it for fixed-length steps). `seed` is one int for the call or
        one per state (then a state's samples do not depend on the rest of the batch). A `costs` list
        is filled with the tokens each state cost (its prefill and its samples' tokens; they sum to
        what `usage.total_tokens` grew by), so searches that share a call can each count their own.
        """
        states = list(states)
        if not states:
            return []
        generation = self._generate(states, num_samples, temperature, top_p, max_step_tokens, min_step_tokens,
                                    seed, self.step_delimiter)
        steps = [[self._step(state, generation, index * num_samples + sample) for sample in range(num_samples)]
                 for index, state in enumerate(states)]
        if costs is not None:
            fed = generation.prefilled
            per_state = 1 if self.reuse_cache else num_samples  # prefill rows per state
            costs[:] = [sum(fed[index * per_state:(index + 1) * per_state]) + sum(step.n_tokens for step in row)
                        for index, row in enumerate(steps)]
        return steps

    def complete(self, prompts: Sequence[str], num_samples: int = 1, *, temperature: float = 0.0,
                 top_p: float = 1.0, max_new_tokens: int = 256,
                 seed: int | Sequence[int] | None = None) -> list[list[Completion]]:
        """`num_samples` whole answers per rendered prompt (ended by EOS or `max_new_tokens`)."""
        roots = [self.root(prompt) for prompt in prompts]
        if not roots:
            return []
        generation = self._generate(roots, num_samples, temperature, top_p, max_new_tokens, 0, seed, None)
        completions = []
        for row in generation.rows:
            text = self._decode(row.token_ids)
            completions.append(Completion(text, tuple(row.token_ids), len(row.token_ids), sum(row.token_logprobs),
                                          row.finish_reason == "eos", row.finish_reason, self._placed_calls(row)))
        return [completions[i * num_samples:(i + 1) * num_samples] for i in range(len(roots))]

    def logprobs(self, prefix: str | Sequence[int], continuation: str | Sequence[int]) -> list[float]:
        """Teacher-forced log-prob of each continuation token after `prefix`: one plain forward, no cache."""
        prefix_ids = self.encode(prefix, prompt=True) if isinstance(prefix, str) else list(prefix)
        continuation_ids = self.encode(continuation, prompt=False) if isinstance(continuation, str) \
            else list(continuation)
        if not prefix_ids or not continuation_ids:
            return []
        ids = torch.tensor([prefix_ids + continuation_ids], device=self.device)  # (1, T)
        with torch.inference_mode():
            logits = self._lm(input_ids=ids, use_cache=False).logits[0, len(prefix_ids) - 1:-1]  # (C, V)
        self.usage.prefill_tokens += ids.shape[1]
        self.usage.forward_calls += 1
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        return logprobs.gather(1, torch.tensor(continuation_ids, device=self.device)[:, None])[:, 0].tolist()

    # --- internals -----------------------------------------------------------------------------

    def _generate(self, states, num_samples, temperature, top_p, max_tokens, min_tokens, seed,
                  delimiter) -> Generation:
        settings = DecodeSettings(num_samples, temperature, top_p, max_tokens, min_tokens, self.max_total_tokens)
        generators, groups = make_generators(seed, len(states), temperature, self.device)
        stop = StopRule(self._texts(), self.eos_ids, delimiter)
        feed = _ToolFeed(self.tools, self.tokenizer) if self.tools is not None else None
        with torch.inference_mode():
            return generate(self._lm, states, settings, stop, reuse_cache=self.reuse_cache, version=self._version,
                            pad_id=self.pad_id, generators=generators, groups=groups, usage=self.usage,
                            scratch=self._scratch, tools=feed)

    def _decode(self, token_ids) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _placed_calls(self, row: GeneratedRow) -> tuple[ToolCall, ...]:
        """The row's tool calls with `start` moved from a token index to a character offset in its text."""
        return tuple(ToolCall(c.tool, c.input, c.output, c.status, c.wall_s, len(self._decode(row.token_ids[:c.start])))
                     for c in row.tool_calls)

    def _step(self, parent: PrefixState, generation: Generation, row_index: int) -> Step:
        row = generation.rows[row_index]
        segment = None
        if self.reuse_cache:  # keep the KV this step fed: the parent's last token and all but its own last
            start = generation.decode_start - 1
            keys, values = row_kv(generation.cache, row_index, start, start + len(row.token_ids))
            segment = KVSegment(len(parent) - 1, keys, values, self._version)
        terminal = row.finish_reason != "delimiter"
        state = PrefixState(parent.token_ids + tuple(row.token_ids), parent=parent, segment=segment,
                            terminal=terminal)
        return Step(self._decode(row.token_ids), tuple(row.token_ids), sum(row.token_logprobs),
                    tuple(row.token_logprobs), len(row.token_ids), terminal, row.finish_reason, state,
                    self._placed_calls(row))

    def _texts(self) -> list[str]:
        """Each token id's text, for finding the step delimiter as tokens arrive."""
        if self._token_texts is None:
            self._token_texts = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))],
                                                            skip_special_tokens=False,
                                                            clean_up_tokenization_spaces=False)
        return self._token_texts


def _load_weights(model_dir: str | os.PathLike, dtype: torch.dtype):
    """The causal LM, refused when its weights do not fit its config.json: a config with fewer layers
    (or another shape) used to load with the extra weights dropped or fresh ones drawn, and answer
    nonsense with a warning at most; a vocabulary of another size raised a traceback."""
    try:
        model, info = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, output_loading_info=True)
    except RuntimeError as error:  # transformers logs a table of the mismatched shapes, then raises
        if "mismatch" not in str(error):
            raise
        raise ModelConfigError(f"{model_dir}/config.json: the weights' shapes do not fit this config "
                               "(a size mismatch; transformers' table of the tensors is above)") from None
    misfits = [(name, keys) for name in ("missing_keys", "unexpected_keys", "mismatched_keys")
               if (keys := list(info.get(name) or []))]
    if misfits:
        detail = "; ".join(f"{len(keys)} {name.replace('_', ' ')} (e.g. {keys[0]})" for name, keys in misfits)
        raise ModelConfigError(f"{model_dir}: the weights do not fit config.json: {detail}")
    return model


def _eos_ids(model, tokenizer) -> set[int]:
    """Tokens that end an answer: the tokenizer's EOS and the model's generation-config EOS ids."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    return {i for i in ids if i < model.config.get_text_config().vocab_size}


class _ToolFeed:
    """The policy's tools as the decode loop sees them: tool outputs become token ids.

    Output is encoded with special tokens split into plain text, so a program that prints
    `<eos>` or a chat template's end marker cannot end the answer or fake a turn.
    """

    def __init__(self, toolbox: Toolbox, tokenizer) -> None:
        self.toolbox, self.tokenizer = toolbox, tokenizer

    def pending(self, text: str):
        return self.toolbox.pending(text)

    def inside(self, text: str) -> bool:
        return self.toolbox.inside(text)

    def run(self, requests):
        return self.toolbox.run(requests)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
