"""The policy runtime over any Hugging Face causal LM: `policy` (loading a model directory with its
tokenizer and adapters, answering, tool calls), `decoding` (the batched decode loop), `kv` (the KV
cache shared along a tree) and `next_token` (sampling and stop rules).

Knows prompting and tools; nothing of the built-in model's factory (`selfplay.builtin_model`), the
round loop, grading, run configuration, tracking or task traces.
"""
