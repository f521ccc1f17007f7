"""Tiny random Llama models with the built-in tokenizer, shared by the model-side tests."""
import torch
from transformers import LlamaConfig, LlamaForCausalLM


def tiny_llama(tokenizer, *, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
               max_positions: int = 512, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised LlamaForCausalLM over `tokenizer`'s vocabulary, in eval mode."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=max_positions, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).eval()


def save_tiny_model(path, **shape):
    """A tiny random model and the built-in tokenizer saved to `path` as a Hugging Face model directory."""
    from selfplay.builtin_model.tokenizer import build_tokenizer
    tokenizer = build_tokenizer()
    tiny_llama(tokenizer, **shape).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
