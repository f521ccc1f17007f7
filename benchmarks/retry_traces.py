"""Exploration: can one greedy answer search in context? Finetune on retry traces built from round trees.

A retry trace is up to N failed complete attempts of a problem (answers in the round's trees
that used the numbers but ended on the wrong value), each followed by a line `retry`, then the
tree's best verified answer. Finetuning on them (the preset's LoRA, from the base model) teaches
the policy to start again after a wrong final number, so that one greedy answer holds several
attempts. Greedy answers on the hard dev split are graded on their LAST attempt (the text after
the last `retry` line) by the countdown verifier, as the loop's verifier grades them too.

    python benchmarks/retry_traces.py --trees RUN/round-1/trees.jsonl.gz,RUN/round-2/trees.jsonl.gz \
        --max-failed 1 --set sft.learning_rate=0.001 --set sft.epochs=4

Prints accuracy before and after by level, mean answer tokens and retries per answer.
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RETRY = "retry\n"


def last_attempt(text: str) -> str:
    """The text after the last retry line.

    >>> last_attempt("1+1=2\\nretry\\n2*2=4"), last_attempt("1+1=2")
    ('2*2=4', '1+1=2')
    """
    cut = text.rfind(RETRY)
    return text if cut < 0 else text[cut + len(RETRY):]


def complete_attempt(problem, text: str) -> bool:
    """Whether `text` is a valid countdown answer to the problem with its own final value as the target:
    every step true and legal, (under `use_all`) every number used, ending on some value."""
    from verifiers.countdown import check_countdown, parse_step

    lines = [line for line in text.split("\n") if line.strip()]
    last = parse_step(lines[-1]) if lines else None
    if last is None or last.result < 1:
        return False
    return check_countdown(problem.meta["numbers"], last.result, text, bool(problem.meta.get("use_all"))).passed


def retry_rows(trees, problems, policy, eos_text: str, max_failed: int, seed: int) -> list[dict]:
    from selfplay.loop.selection import rank_key, verified_candidates, with_eos
    from selfplay.tools.spans import tool_output_spans

    rng, rows = random.Random(seed), []
    for tree in trees:
        candidates = sorted(verified_candidates(tree), key=rank_key)
        if not candidates:
            continue
        problem = problems[tree.problem_id]
        failed, seen = [], set()
        for node, passed in tree.graded():
            text = tree.answer_text(node)
            if not passed and text not in seen:
                seen.add(text)
                if complete_attempt(problem, text):
                    failed.append(text)
        rng.shuffle(failed)
        count = rng.randint(min(1, len(failed)), min(max_failed, len(failed)))
        text = "".join(attempt.rstrip("\n") + "\n" + RETRY for attempt in failed[:count]) + candidates[0].text
        completion = with_eos(text, eos_text)
        rows.append({"prompt": policy.render_prompt(problem), "completion": completion,
                     "tool_spans": [list(span) for span in tool_output_spans(completion)]})
    return rows


def greedy_by_level(policy, problems, max_new_tokens: int) -> dict:
    from selfplay.answering.grading import grade

    outputs = policy.complete([policy.render_prompt(problem) for problem in problems], 1, temperature=0.0,
                              max_new_tokens=max_new_tokens)
    solved, tokens, retries = collections.Counter(), 0, 0
    for problem, (answer,) in zip(problems, outputs):
        tokens, retries = tokens + answer.n_tokens, retries + answer.text.count(RETRY)
        solved[problem.meta.get("level", "?")] += grade(problem, last_attempt(answer.text)).passed
    return {"accuracy": sum(solved.values()) / len(problems), "solved_by_level": dict(solved),
            "tokens_per_answer": tokens / len(problems), "retries_per_answer": retries / len(problems)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", required=True, help="comma-separated trees.jsonl.gz files of a run")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--dev", default="datasets/countdown/hard/dev.jsonl")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--max-failed", type=int, default=2, help="failed attempts before the verified one, at most")
    parser.add_argument("--max-new-tokens", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from selfplay.loop.finetune import finetune
    from selfplay.commands.improve import quiet_libraries
    from selfplay.model.policy import Policy
    from selfplay.model.prompting import prompt_renderer
    from selfplay.runfiles.runconfig import load_config
    from selfplay.tasks import load_problems
    from selfplay.runfiles.treeio import read_trees

    quiet_libraries()
    config = load_config(args.preset, [*args.overrides, "sft.max_length=512"])
    model_dir = str(config.path(config.model))
    problems = {problem.id: problem for level in config.curriculum.levels or config.train_files
                for problem in load_problems(config.path(level))}
    policy = Policy.from_pretrained(model_dir)
    trees = [tree for name in args.trees.split(",") for tree in read_trees(name)]
    _, eos_text = prompt_renderer(model_dir)  # the EOS text the rounds end a verified answer with
    rows = retry_rows(trees, problems, policy, eos_text, args.max_failed, args.seed)
    dev = load_problems(config.path(args.dev))[:args.limit]
    summary = {"rows": len(rows), "with_retry": sum(RETRY in row["completion"] for row in rows),
               "before": greedy_by_level(policy, dev, args.max_new_tokens)}
    with tempfile.TemporaryDirectory(prefix="retry-lora-") as scratch:
        trained = finetune(rows, model_dir, Path(scratch) / "adapter", config.sft, seed=args.seed)
        policy.load_adapter(Path(scratch) / "adapter")
        summary["after"] = greedy_by_level(policy, dev, args.max_new_tokens)
    summary["train"] = {"steps": trained.steps, "first_loss": trained.first_loss, "last_loss": trained.last_loss}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
