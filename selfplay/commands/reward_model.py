"""`lab reward-model`: train a reward model on stored trees files and print held-out diagnostics.

    lab reward-model --trees RUN/round-1/trees.jsonl.gz --base models/base --out /tmp/rm \
        --problems datasets/countdown/train.jsonl

Reads the trees (`search.Tree`) and the problems' prompts, then hands them to `verifiers`: pairs
(`verifiers.scorer_data.preference_pairs`), training (`verifiers.reward_model.train_reward_model`)
and diagnostics (`verifiers.scorer_metrics.diagnose`). The command lives here, not in `verifiers/`,
because reading trees files is the run side's business: `verifiers` knows nothing about search.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
from collections.abc import Callable, Sequence

import torch

from search import Tree
from verifiers.reward_model import add_info, train_reward_model
from verifiers.scorer_config import RewardModelConfig
from verifiers.scorer_data import preference_pairs, split_by_problem


def read_trees(path: str | os.PathLike) -> tuple[list, dict[str, str]]:
    """(search.Trees, problem id -> prompt) from a gzip (or plain) jsonl file of stored trees, one per
    line; a line may carry its problem's rendered prompt under an extra `prompt` key."""
    opener = gzip.open if str(path).endswith(".gz") else open
    trees, prompts = [], {}
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                data = json.loads(line)
                if "prompt" in data:
                    prompts[data["problem_id"]] = data.pop("prompt")
                trees.append(Tree.from_dict(data))
    return trees, prompts


def builtin_render(row: dict) -> str:
    """The built-in prompt format (prompt, then a newline), as `selfplay.model.prompting` renders it."""
    return str(row["prompt"]).rstrip("\n") + "\n"


def read_prompts(path: str | os.PathLike, render: Callable[[dict], str]) -> dict[str, str]:
    """problem id -> rendered prompt, from a jsonl of problem rows (`id`, `prompt`, ...)."""
    with open(path, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return {row["id"]: render(row) for row in rows}


def main(argv: Sequence[str] | None = None, render_prompt: Callable[[dict], str] = builtin_render) -> int:
    """Train a reward model on a trees file, print held-out diagnostics as one JSON object.

    Prompts come from `--problems` rendered by `render_prompt` (the built-in format by default;
    a chat model's caller passes its own renderer), or from a `prompt` key in each tree line.
    """
    from verifiers.scorer_metrics import diagnose
    parser = argparse.ArgumentParser(prog="reward_model", description=main.__doc__.splitlines()[0])
    parser.add_argument("--trees", required=True, action="append", help="trees.jsonl.gz (repeatable)")
    parser.add_argument("--base", required=True, help="base model directory (Hugging Face format)")
    parser.add_argument("--out", required=True, help="directory to write the reward model to")
    parser.add_argument("--problems", help="problem rows (jsonl with id and prompt) for the trees' prompts")
    parser.add_argument("--held-out", type=float, default=0.2, help="share of problems kept for diagnostics")
    parser.add_argument("--max-steps", type=int, default=-1, help="optimizer steps (default: by epochs)")
    parser.add_argument("--epochs", type=float, default=RewardModelConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    read = [read_trees(path) for path in args.trees]
    trees = [tree for found, _ in read for tree in found]
    prompts = {problem_id: prompt for _, found in read for problem_id, prompt in found.items()}
    prompts.update(read_prompts(args.problems, render_prompt) if args.problems else {})
    config = RewardModelConfig(max_steps=args.max_steps, epochs=args.epochs, seed=args.seed)
    train_trees, held_out = split_by_problem(trees, args.held_out, seed=args.seed)
    pairs = preference_pairs(train_trees, prompts, max_pairs_per_problem=config.max_pairs_per_problem,
                             robustness_copies=config.robustness_copies, seed=args.seed)
    reward_model = train_reward_model(pairs, args.base, args.out, config)
    report = {"out": str(args.out), "training": reward_model.info["training"],
              "held_out": diagnose(reward_model, held_out, prompts) if held_out else None}
    add_info(args.out, {"diagnostics": report["held_out"]})
    print(json.dumps(report, default=str))
    return 0
