"""How far direct training on the hard level takes a model of a given size: the ceiling rounds work under.

The rounds teach the built-in model the standard game (every number used once) from its own
verified answers. This benchmark asks what the same architecture reaches when it is *pretrained*
on expert solutions of the hard levels directly: the std3 and std4 train splits (4,000 problems,
up to 8 distinct expert solutions each, through the calculator, with the default recipe's
mistake share), same corpus size, steps and learning rate as `configs/pretrain.yaml`. If that
model's hard-dev greedy accuracy is only a few points above what the rounds reach, the policy's
size, not the loop, is what holds fast accuracy down.

    python benchmarks/capacity.py --out /tmp/cap-base                      # the built-in shape
    python benchmarks/capacity.py --out /tmp/cap-big --hidden 192 --layers 6 --heads 6 --minutes 45
    python benchmarks/capacity.py --out /tmp/cap-deep --layers 8 --threads 2 --learning-rate 0.002 \\
        --max-steps 2800 --quick
    python benchmarks/capacity.py --out /tmp/cap-tool --threads 2 --learn-tool-output --quick

`--quick` skips the model card (pass@32, arith, funcs: minutes more for a larger model) and
measures greedy accuracy on the easy and the hard countdown dev splits only.

The data folder it builds holds only train files (the hard dev and test splits stay held out);
the model is written to `--out` with its card, and its `eval.json` (easy dev, hard dev, arith)
is printed as one JSON line with the shape and steps.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HARD_TRAIN = ("datasets/countdown/std3/train.jsonl", "datasets/countdown/std4/train.jsonl")


def hard_datasets(folder: Path) -> Path:
    """A datasets folder whose countdown train file is std3 + std4 train; arith and funcs as committed."""
    (folder / "countdown").mkdir(parents=True)
    with open(folder / "countdown" / "train.jsonl", "w", encoding="utf-8") as out:
        for name in HARD_TRAIN:
            out.write((REPO / name).read_text(encoding="utf-8"))
    for task in ("arith", "funcs"):
        (folder / task).symlink_to(REPO / "datasets" / task)
    return folder


def greedy_dev(model_dir: str, threads: int) -> dict[str, dict]:
    """Greedy accuracy of the model on the easy and the hard countdown dev splits (200 problems each)."""
    from dataclasses import asdict

    from selfplay.builtin_model.card import evaluate_model
    from selfplay.tasks import load_problems

    splits = {"countdown": "datasets/countdown/dev.jsonl", "countdown_hard": "datasets/countdown/hard/dev.jsonl"}
    return {name: asdict(evaluate_model(model_dir, load_problems(REPO / file), samples=0, threads=threads))
            for name, file in splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument("--hidden", type=int, help="hidden size (default: the built-in model's)")
    parser.add_argument("--layers", type=int)
    parser.add_argument("--heads", type=int)
    parser.add_argument("--minutes", type=float, help="wall-clock cap on training (default: the recipe's)")
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (default: the recipe's)")
    parser.add_argument("--threads", type=int, help="torch threads for training (default: the recipe's)")
    parser.add_argument("--learn-tool-output", action="store_true",
                        help="also train on the calculator's results (arithmetic in the weights)")
    parser.add_argument("--quick", action="store_true",
                        help="greedy accuracy on the easy and hard dev splits instead of the model card")
    args = parser.parse_args(argv)

    from selfplay.commands.pretrain import main as pretrain

    recipe = yaml.safe_load((REPO / "configs" / "pretrain.yaml").read_text())
    shape = recipe["model"]
    if args.hidden:
        shape["hidden_size"], shape["intermediate_size"] = args.hidden, 4 * args.hidden
    shape["layers"] = args.layers or shape["layers"]
    shape["heads"] = args.heads or shape["heads"]
    recipe["minutes"] = args.minutes or recipe["minutes"]
    recipe["max_steps"] = args.max_steps or recipe["max_steps"]
    recipe["learning_rate"] = args.learning_rate or recipe["learning_rate"]
    recipe["threads"] = args.threads or recipe["threads"]
    if args.quick:
        recipe["evaluate"] = False
    recipe["learn_tool_output"] = args.learn_tool_output
    with tempfile.TemporaryDirectory(prefix="capacity-") as scratch:
        recipe["corpus"]["datasets"] = str(hard_datasets(Path(scratch) / "datasets"))
        recipe["out"] = args.out
        config = Path(scratch) / "pretrain.yaml"
        config.write_text(yaml.safe_dump(recipe, sort_keys=False))
        code = pretrain(["--config", str(config)])
    if code:
        return code
    if args.quick:
        measured = {"tasks": greedy_dev(args.out, recipe["threads"])}
    else:
        measured = json.loads((Path(args.out) / "eval.json").read_text())
    print(json.dumps({"model": shape, "max_steps": recipe["max_steps"], "minutes": recipe["minutes"],
                      "learning_rate": recipe["learning_rate"], "threads": recipe["threads"],
                      "learn_tool_output": recipe["learn_tool_output"],
                      "trained_on": list(HARD_TRAIN), "eval": measured.get("tasks"),
                      "training": measured.get("training")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
