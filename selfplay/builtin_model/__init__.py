"""The built-in model's factory: `tokenizer` (the character-level tokenizer it is built with),
`corpus` (the imitation corpus, from the train splits and each family's `CorpusRecipe`),
`pretrain` (training from scratch with HF `Trainer`) and `card` (the dev numbers, `eval.json` and
the model card). `lab pretrain` and `python -m jobs.pretrain` run it; what it makes is an ordinary
Hugging Face model directory that `selfplay.model.policy.Policy` loads like any other.
"""
