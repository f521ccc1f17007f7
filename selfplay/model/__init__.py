"""The model side: the lab's own tokenizer and base model, and the policy over any HF causal LM."""
