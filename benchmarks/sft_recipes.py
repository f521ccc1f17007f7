"""Finetuning recipes side by side: one round's SFT rows, several `sft` settings, greedy dev accuracy.

Trains a LoRA from the base model on the same rows (a run's `round-K/sft.jsonl`) once per recipe,
with the rounds' own `selfplay.loop.finetune.finetune`, and prints greedy accuracy on the first N
problems of each dev file: whether a recipe distils more of what search found into the policy,
without the cost of a whole run (the README's "How hard to finetune" and LoRA rank / targets).

    python benchmarks/sft_recipes.py --rows ~/selfplay-runs/default/round-1/sft.jsonl \\
        '{}' '{"learning_rate": 0.001, "epochs": 8}' '{"lora_rank": 8, "lora_alpha": 16}'

Each recipe is a JSON object of FinetuneConfig fields overriding the preset's `sft`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="+", help="JSON objects of sft overrides ('{}' = the preset's)")
    parser.add_argument("--rows", required=True, help="an sft.jsonl of a run")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--dev", action="append", help="dev files (default: the preset's)")
    parser.add_argument("--limit", type=int, default=100, help="first N problems of each dev file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from selfplay.answering.evaluate import evaluate
    from selfplay.loop.finetune import finetune
    from selfplay.commands.improve import quiet_libraries
    from selfplay.model.policy import Policy
    from selfplay.runfiles.rundir import read_jsonl
    from selfplay.runfiles.runconfig import load_config
    from selfplay.tasks import load_problems

    quiet_libraries()
    config = load_config(args.preset, [])
    model_dir = str(config.path(config.model))
    rows = read_jsonl(Path(args.rows).expanduser())
    dev = {name: load_problems(config.path(name))[:args.limit] for name in (args.dev or config.dev_files)}
    policy = Policy.from_pretrained(model_dir)
    for recipe in args.recipes:
        sft = dataclasses.replace(config.sft, **json.loads(recipe))
        with tempfile.TemporaryDirectory(prefix="sft-recipe-") as scratch:
            trained = finetune(rows, model_dir, Path(scratch) / "adapter", sft, seed=args.seed)
            policy.load_adapter(Path(scratch) / "adapter")
            greedy = {name: evaluate(policy, problems, "greedy", 1, 0, max_new_tokens=config.eval.max_new_tokens).accuracy
                      for name, problems in dev.items()}
            policy.unload_adapter()
        print(json.dumps({"recipe": json.loads(recipe), "rows": len(rows), "steps": trained.steps,
                          "train_loss": round(trained.train_loss or 0.0, 4), "greedy": greedy}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
