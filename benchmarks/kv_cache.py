"""Prefix KV-cache reuse versus re-encoding, on the policy's real code path.

Expands the same fixed tree twice (root -> B children -> B^2 -> B^3 nodes, level by level, fixed
seeds), once with `Policy(reuse_cache=True)` (the prompt is encoded once, each node feeds only its
one pending token, siblings share their parent's KV) and once with `reuse_cache=False` (every
sample re-encodes its whole prefix, as `generate(num_return_sequences=B)` per node would). Both
modes sample the same tokens (same seeds, same model), so tokens/s compare like for like.

    python benchmarks/kv_cache.py                    # both workloads, 1 thread
    python benchmarks/kv_cache.py --workloads real-shape --threads 2

Workloads:
- `default`: `models/base` if present, else a random ~2.6 M-parameter Llama with the built-in
  tokenizer; a countdown dev prompt; steps end at the delimiter (or 16 tokens).
- `real-shape`: a random ~34 M-parameter Llama (hidden 512, 8 layers, 8 heads, vocab 32000), a
  256-token prompt, fixed 16-token steps (stops ignored until 16 tokens).

Prints one JSON line per workload: {"workload", "cached_tok_s", "naive_tok_s", "ratio", ...}, where
tokens/s = generated step tokens / wall seconds for the whole tree.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from selfplay.model.policy import Policy  # noqa: E402
from selfplay.builtin_model.tokenizer import build_tokenizer  # noqa: E402
from selfplay.tasks import load_problems  # noqa: E402


def expand_tree(policy: Policy, prompt: str, depth: int, branching: int, step_options: dict, seed: int) -> dict:
    """Expand every node of a full tree level by level; generated tokens, usage and wall time."""
    policy.usage = type(policy.usage)()
    start = time.perf_counter()
    frontier, generated, steps = [policy.root(prompt)], 0, []
    for level in range(depth):
        children = [s for row in policy.expand(frontier, branching, seed=seed + level, **step_options) for s in row]
        generated += sum(step.n_tokens for step in children)
        steps += [step.token_ids for step in children]
        frontier = [step.state for step in children]
    wall = time.perf_counter() - start
    return {"generated": generated, "wall_s": wall, "usage": policy.usage.to_dict(), "steps": steps}


def compare(name: str, model, tokenizer, prompt: str, step_options: dict, args, extra: dict) -> dict:
    runs = {}
    for mode, reuse in (("cached", True), ("naive", False)):
        policy = Policy(model, tokenizer, reuse_cache=reuse)
        expand_tree(policy, prompt, 1, 2, step_options, seed=99)  # warm-up
        trials = [expand_tree(policy, prompt, args.depth, args.branching, step_options, args.seed)
                  for _ in range(args.repeats)]
        runs[mode] = min(trials, key=lambda run: run["wall_s"])
    cached, naive = runs["cached"], runs["naive"]
    cached_tok_s, naive_tok_s = cached["generated"] / cached["wall_s"], naive["generated"] / naive["wall_s"]
    return {"workload": name, "cached_tok_s": round(cached_tok_s, 1), "naive_tok_s": round(naive_tok_s, 1),
            "ratio": round(cached_tok_s / naive_tok_s, 2), "generated_tokens": cached["generated"],
            "same_tokens": cached["steps"] == naive["steps"], "nodes": len(cached["steps"]) + 1,
            "prompt_tokens": len(Policy(model, tokenizer).root(prompt)),
            "cached_wall_s": round(cached["wall_s"], 3), "naive_wall_s": round(naive["wall_s"], 3),
            "cached_usage": cached["usage"], "naive_usage": naive["usage"],
            "params": model.num_parameters(), "threads": torch.get_num_threads(), **extra}


def default_workload(args) -> dict:
    base = REPO / "models" / "base"
    problem = load_problems(REPO / "datasets" / "countdown" / "dev.jsonl")[0]
    if (base / "config.json").exists():
        policy, source = Policy.from_pretrained(base, device="cpu"), "models/base"
    else:
        tokenizer = build_tokenizer()
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                             num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        policy, source = Policy(LlamaForCausalLM(config).eval(), tokenizer), "random Llama (models/base absent)"
    prompt = policy.render_prompt(problem)
    options = {"temperature": 1.0, "max_step_tokens": 16}
    return compare("default", policy.model, policy.tokenizer, prompt, options, args, {"model": source})


def word_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over `vocab_size` made-up words: decodable text for random token ids."""
    specials = ["<pad>", "<eos>"]
    vocab = {token: i for i, token in enumerate(specials + [f"w{i}" for i in range(vocab_size - len(specials))])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", padding_side="left")


def real_shape_workload(args) -> dict:
    tokenizer = word_tokenizer(32000)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=768, num_hidden_layers=8,
                         num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=2048,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config).eval()
    words = random.Random(args.seed).choices(range(2, 32000), k=args.prompt_tokens)
    prompt = " ".join(f"w{i - 2}" for i in words)
    options = {"temperature": 1.0, "max_step_tokens": args.step_tokens, "min_step_tokens": args.step_tokens}
    return compare("real-shape", model, tokenizer, prompt, options, args, {"model": "random Llama"})


WORKLOADS = {"default": default_workload, "real-shape": real_shape_workload}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--branching", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=256, help="real-shape prompt length")
    parser.add_argument("--step-tokens", type=int, default=16, help="real-shape step length")
    parser.add_argument("--repeats", type=int, default=1, help="best of N timings per mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.workloads:
        print(json.dumps(WORKLOADS[name](args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
