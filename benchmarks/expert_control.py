"""Control for the learning benchmark: the rounds' finetuning on expert solutions instead of the model's own.

If finetuning on N correct, varied countdown solutions written by the exact solver (the best
training data there could be) leaves greedy dev accuracy where it was, then a round's N
verified traces cannot be expected to raise it either, and the limit lies in the model and
the amount of finetuning, not in what search and selection hand over.

Trains the preset's LoRA (`selfplay.loop.finetune.finetune`, the code the rounds use, with the
preset's `sft` settings) on N expert (prompt, completion) rows of countdown TRAIN problems,
each solution drawn among up to 8 distinct ones, then compares greedy dev answers with the
base model's: accuracy, answers unchanged, problems gained and lost, sign test.

    python benchmarks/expert_control.py --rows 1000
    python benchmarks/expert_control.py --rows 1000 --set sft.learning_rate=0.0003

The model card's stability check is this control with one epoch on the level the model was taught
(`--train datasets/countdown/train.jsonl --dev datasets/countdown/dev.jsonl --set sft.epochs=1`): a
round's finetuning on good data must not cost the model what it knew. For a model that calls the
calculator, expert solutions are written as calculator calls and the results are tool output
(masked out of the loss), as in its own rounds; for a model whose answers search in their text
(its recipe's countdown `search` setting), expert answers search the same way.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from rich.console import Console  # noqa: E402

from learning import answer_changes, greedy_answers  # noqa: E402


def expert_rows(train_file: Path, count: int, seed: int, eos_text: str, calculator: bool = False,
                state: bool = False, search: int = 0) -> list[dict]:
    """`count` rows {"prompt", "completion", "tool_spans"}: a random train problem, one of its solver's
    solutions (with the numbers left after each step when `state`, as calculator calls when
    `calculator`, searching in the text with at most `search` abandoned attempts when `search`:
    the form the model was pretrained on), EOS."""
    from selfplay.builtin_model.corpus import with_calculator
    from selfplay.tasks.countdown.traces import with_state
    from selfplay.model.prompting import builtin_prompt
    from selfplay.tasks import load_problems
    from selfplay.tasks.countdown import solve_all
    from selfplay.tasks.countdown.traces import countdown_search
    from selfplay.tools.spans import tool_output_spans

    problems = [problem for problem in load_problems(train_file) if problem.task == "countdown"]
    rng = random.Random(seed)
    rng.shuffle(problems)
    rows = []
    for problem in problems:
        numbers, target, use_all = problem.meta["numbers"], problem.meta["target"], bool(problem.meta.get("use_all"))
        if search:
            searched = countdown_search(list(numbers), target, use_all, search, rng)
            solutions = [searched.split("\n")] if searched else []
        else:
            solutions = solve_all(numbers, target, limit=8, use_all=use_all)
        if solutions:
            text = "\n".join(rng.choice(solutions))
            text = with_state(problem.meta["numbers"], text) if state else text
            text = with_calculator(text) if calculator else text
            rows.append({"prompt": builtin_prompt(problem.prompt), "completion": text + eos_text,
                         "tool_spans": [list(span) for span in tool_output_spans(text)]})
        if len(rows) == count:
            break
    return rows


def countdown_corpus(model_dir: str):
    """Countdown's corpus settings in the model's pretraining recipe (`state`: it writes the numbers left
    after each countdown step; `search`: its answers search in their text), None when the model has no
    recipe."""
    from selfplay.builtin_model.pretrain_config import load_recipe
    recipe = Path(model_dir) / "pretrain.yaml"
    return load_recipe(recipe).corpus.options["countdown"] if recipe.is_file() else None


def writes_state(model_dir: str) -> bool:
    """Whether the model was pretrained to write the numbers left after each countdown step."""
    settings = countdown_corpus(model_dir)
    return bool(settings and settings.state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", help="train file of the expert problems (default: the preset's first)")
    parser.add_argument("--dev", help="dev file to measure greedy accuracy on (default: the preset's dev files)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="write the summary here (JSON)")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from selfplay.loop.finetune import finetune
    from selfplay.commands.improve import quiet_libraries
    from selfplay.model.policy import Policy
    from selfplay.loop.rounds import dev_problems
    from selfplay.model.prompting import prompt_renderer
    from selfplay.runfiles.runconfig import load_config

    quiet_libraries()
    config = load_config(args.preset, args.overrides)
    model_dir = str(config.path(config.model))
    train_file = config.path(args.train or next(iter(config.train_files)))
    _, eos_text = prompt_renderer(model_dir)
    policy = Policy.from_pretrained(model_dir)
    calculator = policy.tools is not None and "calculator" in policy.tools.names
    rows = expert_rows(train_file, args.rows, args.seed, eos_text, calculator, writes_state(model_dir),
                       countdown_corpus(model_dir).search if countdown_corpus(model_dir) else 0)
    if args.dev:
        from selfplay.tasks import load_problems
        problems = load_problems(config.path(args.dev))[:config.eval.limit]
    else:
        problems = dev_problems(config)
    console = Console()
    base = greedy_answers(policy, problems, config.eval.max_new_tokens)
    with tempfile.TemporaryDirectory(prefix="expert-lora-") as scratch:
        trained = finetune(rows, model_dir, Path(scratch) / "adapter", config.sft, seed=args.seed)
        policy.load_adapter(Path(scratch) / "adapter")
        after = greedy_answers(policy, problems, config.eval.max_new_tokens)
    changes = answer_changes(base, after)
    summary = {"preset": args.preset, "model": config.model, "seed": args.seed, "train": str(train_file),
               "expert_rows": len(rows), "sft": config.sft.__dict__,
               "steps": trained.steps, "first_loss": trained.first_loss, "last_loss": trained.last_loss,
               "dev_problems": len(problems),
               "greedy_before": sum(passed for _, passed in base) / len(problems),
               "greedy_after": sum(passed for _, passed in after) / len(problems),
               "answers_unchanged": changes["unchanged_answers"], "gained": changes["gained"],
               "lost": changes["lost"], "sign_test_p": changes["sign_test_p"],
               "command": "python benchmarks/expert_control.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    console.print_json(json.dumps(summary))
    if args.out:
        from selfplay.runfiles.rundir import write_json
        write_json(Path(args.out), summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
