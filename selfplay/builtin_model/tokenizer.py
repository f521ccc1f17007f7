"""The built-in tokenizer: one token per printable ASCII character, plus BOS, EOS, PAD, UNK.

A character vocabulary covers all three task families (digits and operators, word problems,
Python source) with 100 symbols, which keeps a 1-10 M parameter model's embedding small and
makes every step boundary (`\\n`) a token of its own. It is a real
`transformers.PreTrainedTokenizerFast`, saved with `save_pretrained` and loaded back with
`AutoTokenizer.from_pretrained`.

    >>> tokenizer = build_tokenizer()
    >>> tokenizer.decode(tokenizer("12+3=15")["input_ids"], skip_special_tokens=True)
    '12+3=15'

Knows nothing about models or tasks.
"""
from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
CHARACTERS = tuple(c for c in string.printable if c not in "\r\x0b\x0c")  # keeps \n and \t


def build_tokenizer(model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """A fresh character-level tokenizer that prepends BOS to every encoded text. `model_max_length`
    is the model's positions (512: the built-in model's), which the tokenizer config reports."""
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    # A BPE model with no merges splits text into single characters and never into anything else.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, padding_side="left", model_max_length=model_max_length)
