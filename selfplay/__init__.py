"""selfplay: the model side, the tasks, the round logic and the `lab` command line, one sub-package
per concern, each importing only those listed before it:

- `tasks`: the problem record, the task families (one package each) and their specs;
  `tools`: the calculator and the sandboxed Python a model may call mid-answer;
- `model`: the policy runtime over any Hugging Face causal LM, and the prompt formats;
- `runfiles`: the run's configuration and its files (layout, trees, reading, export, tracking);
- `answering`: grading, deliberate (search) and fast answering, evaluation, comparison;
- `loop`: the improvement round (curriculum, the work a worker does, selection, finetuning);
- `builtin_model`: the built-in model's factory (tokenizer, corpus, pretraining, card);
- `execution`: the Ray executor, the one module that imports Ray;
- `treeview`: looking inside a run's trees;
- `commands`: the `lab` command line, one module per subcommand.
"""

__version__ = "0.1.0"
