"""Exploration: does one greedy answer that searches in its own text beat the capacity ceiling?

`benchmarks/capacity.py` shows that the built-in architecture, pretrained directly on expert
solutions of the hard levels, answers about 15% of hard dev problems greedily, and
`benchmarks/headroom.py` that nearly every failed answer picked a first step from which the
target could no longer be made. This benchmark pretrains the same architecture on the same
problems (std3 + std4 train, the recipe's corpus size, arith and funcs traces as in the recipe),
but each countdown trace is a search: first steps tried in a random order, each failed one
finished to its end (the calculator writes every result) and followed by a line `retry`, until
a first step from which the target can be made, then a solution through it. A trace holds at
most `--max-failed` failed attempts (the first steps from which the target cannot be made, in
the order drawn). So the model is taught to try a first step, see where it ends, and try
another one it has not tried. With `--order given` the first steps come in a fixed order the
model can see (`in_given_order`), and a problem with more dead first steps before its first
live one than `--max-failed` gives no trace; traces longer than 430 characters are left out
(prompt and answer stay within 512 positions).

Greedy answers on the hard dev split are graded on their LAST attempt (the text after the last
`retry` line) by the countdown verifier under the problem's rule; they are also graded on their
first attempt alone (what one attempt of this model gets). The loop's verifier grades such
answers the same way (`verifiers.countdown`: the last attempt counts, every abandoned one must be
legal), and the built-in recipe can pretrain on them from the easy level (countdown's `search` corpus setting).

    python benchmarks/search_traces.py --out /tmp/search-traces --threads 2 --max-steps 2000 --minutes 26
    python benchmarks/search_traces.py --out /tmp/search-given --order given --max-failed 6 \\
        --threads 2 --max-steps 2000 --minutes 26

Prints one JSON line: accuracy on the last and on the first attempt, per level, attempts and
characters per answer, the share of answers that try some first step twice, and the training
figures. `--grade-only` grades the model already at `--out`.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from verifiers.countdown import RETRY  # noqa: E402 - the verifier's retry line


def first_steps(numbers: list[int]) -> list[str]:
    """Every legal first step (`larger op smaller=result`), pairs in sorted order, equal pairs once.

    >>> first_steps([3, 2])
    ['3+2=5', '3*2=6', '3-2=1']
    """
    return in_given_order(sorted(numbers))


def in_given_order(numbers: list[int]) -> list[str]:
    """Every legal first step in a fixed order a model can follow by looking: pairs in the order
    the problem gives its numbers, then `+ * - /` (the corpus's `first_steps`, which the built-in
    recipe's countdown `search` setting uses too).

    >>> in_given_order([6, 5, 13])[:4]
    ['6+5=11', '6*5=30', '6-5=1', '13+6=19']
    """
    from selfplay.tasks.countdown.traces import first_steps as fixed_order

    return fixed_order(numbers)


def after(numbers: list[int], step: str) -> list[int]:
    """The numbers left after a step line `a op b=c` on `numbers`.

    >>> after([6, 5, 13], "13*6=78")
    [5, 78]
    """
    from selfplay.tasks.countdown.traces import numbers_after

    return numbers_after(numbers, step)


def finish_anyhow(numbers: list[int], rng: random.Random) -> list[str]:
    """Random legal steps on `numbers` until one number is left (every number used)."""
    steps = []
    while len(numbers) > 1:
        step = rng.choice(first_steps(numbers))
        steps.append(step)
        numbers = after(numbers, step)
    return steps


def search_trace(numbers: list[int], target: int, max_failed: int, rng: random.Random,
                 order_name: str = "random") -> str | None:
    """A countdown answer (standard game) that tries first steps in an order (`random`, or `given`:
    `in_given_order`): each dead one finished to a wrong end, then `retry`; then a solution through
    a live first step. None when the problem has no solution, and in the `given` order when more
    than `max_failed` dead steps come before the first live one (the trace would skip some)."""
    from selfplay.tasks.countdown import solve

    if order_name == "given":
        order = in_given_order(numbers)
    else:
        order = first_steps(numbers)
        rng.shuffle(order)
    attempts, live = [], None
    for step in order:
        rest = after(numbers, step)
        solution = [] if rest == [target] else solve(rest, target, use_all=True) if len(rest) > 1 else None
        if solution is not None:
            live = [step, *solution]
            break
        if order_name == "given" and len(attempts) == max_failed:
            return None
        if len(attempts) < max_failed:
            tail = finish_anyhow(rest, rng)
            while after_all(rest, tail) == target:  # a dead step cannot end on the target; redraw if it did
                tail = finish_anyhow(rest, rng)
            attempts.append([step, *tail])
    if live is None:
        return None
    return f"\n{RETRY}\n".join("\n".join(steps) for steps in [*attempts, live])


def after_all(numbers: list[int], steps: list[str]) -> int:
    for step in steps:
        numbers = after(numbers, step)
    return numbers[0]


def written(numbers: list[int], answer: str) -> str:
    """The answer as the built-in model writes it: each attempt's steps through the calculator,
    each followed by the numbers left (counted from the problem's numbers again after `retry`)."""
    from selfplay.builtin_model.corpus import with_calculator
    from selfplay.tasks.countdown.traces import with_state

    return f"\n{RETRY}\n".join(with_calculator(with_state(numbers, attempt))
                               for attempt in answer.split(f"\n{RETRY}\n"))


def search_corpus(problems, count: int, max_failed: int, seed: int, order_name: str = "random",
                  max_chars: int = 430) -> list:
    from selfplay.builtin_model.corpus import Trace
    from selfplay.model.prompting import builtin_prompt
    from selfplay.tools.spans import tool_output_spans

    rng, traces = random.Random(seed), []
    while len(traces) < count:
        problem = problems[rng.randrange(len(problems))]
        answer = search_trace(list(problem.meta["numbers"]), problem.meta["target"], max_failed, rng, order_name)
        if answer is None:
            continue
        completion = written(problem.meta["numbers"], answer)
        if len(completion) > max_chars:  # prompt and answer within the model's 512 positions
            continue
        traces.append(Trace(problem.id, "countdown", builtin_prompt(problem.prompt), completion, "expert",
                            tuple(tool_output_spans(completion))))
    return traces


def attempts_of(text: str) -> list[str]:
    """
    >>> attempts_of("a\\nretry\\nb"), attempts_of("a")
    (['a', 'b'], ['a'])
    """
    return [part.strip("\n") for part in text.split(f"\n{RETRY}\n")]


def grade_greedy(model_dir: str, problems, max_new_tokens: int, threads: int) -> dict:
    import torch

    from selfplay.model.policy import Policy
    from selfplay.model.prompting import builtin_prompt
    from verifiers.countdown import check_countdown

    torch.set_num_threads(threads)
    policy = Policy.from_pretrained(model_dir, device="cpu", dtype=torch.float32)
    texts = []
    for first in range(0, len(problems), 50):
        chunk = problems[first:first + 50]
        answers = policy.complete([builtin_prompt(p.prompt) for p in chunk], 1, temperature=0.0,
                                  max_new_tokens=max_new_tokens, seed=0)
        texts += [group[0].text for group in answers]
    by_level: dict[str, list[int]] = {}
    last_ok = first_ok = attempts = chars = repeats = 0
    for problem, text in zip(problems, texts):
        parts = attempts_of(text)
        openings = [part.split("\n")[0] for part in parts]
        repeats += len(set(openings)) < len(openings)
        check = lambda part: check_countdown(problem.meta["numbers"], problem.meta["target"], part,  # noqa: E731
                                             use_all=bool(problem.meta.get("use_all"))).passed
        last, first = check(parts[-1]), check(parts[0])
        last_ok, first_ok, attempts, chars = last_ok + last, first_ok + first, attempts + len(parts), chars + len(text)
        by_level.setdefault(problem.meta.get("level", "easy"), [0, 0])
        by_level[problem.meta.get("level", "easy")][0] += last
        by_level[problem.meta.get("level", "easy")][1] += 1
    n = len(problems)
    return {"n": n, "last_attempt": round(last_ok / n, 4), "first_attempt": round(first_ok / n, 4),
            "by_level_last_attempt": {level: round(ok / total, 4) for level, (ok, total) in by_level.items()},
            "attempts_per_answer": round(attempts / n, 2), "characters_per_answer": round(chars / n, 1),
            "answers_repeating_a_first_step": round(repeats / n, 4),
            "examples": texts[:3]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument("--max-failed", type=int, default=4, help="failed attempts a trace holds at most")
    parser.add_argument("--order", choices=("random", "given"), default="random",
                        help="the order first steps are tried in (given: the problem's numbers' order, + * - /)")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (default: the recipe's)")
    parser.add_argument("--minutes", type=float, help="wall-clock cap on training (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=400, help="answer length cap when grading")
    parser.add_argument("--grade-only", action="store_true", help="grade the model already at --out")
    args = parser.parse_args(argv)

    from selfplay.builtin_model.corpus import build_corpus, load_train_problems
    from selfplay.builtin_model.pretrain import pretrain
    from selfplay.builtin_model.pretrain_config import config_from_dict
    from selfplay.tasks import load_problems

    sys.path.insert(0, str(REPO / "benchmarks"))
    import capacity
    recipe = yaml.safe_load((REPO / "configs" / "pretrain.yaml").read_text())
    recipe.update(out=args.out, evaluate=False, threads=args.threads,
                  max_steps=args.max_steps or recipe["max_steps"], minutes=args.minutes or recipe["minutes"])
    training = None
    if not args.grade_only:
        with tempfile.TemporaryDirectory(prefix="search-traces-") as scratch:
            recipe["corpus"]["datasets"] = str(capacity.hard_datasets(Path(scratch) / "datasets"))
            config = config_from_dict(recipe)
            others = [t for t in build_corpus(config.corpus, seed=config.seed) if t.task != "countdown"]
            hard = load_train_problems(Path(recipe["corpus"]["datasets"]) / "countdown" / "train.jsonl")
            countdown = search_corpus(hard, config.corpus.traces - len(others), args.max_failed, config.seed,
                                      args.order)
            traces = others + countdown
            random.Random(config.seed).shuffle(traces)
            result = pretrain(config, traces)
        training = {"parameters": result.parameters, "steps": result.steps, "tokens": result.tokens,
                    "wall_s": result.wall_s, "stopped_by_budget": result.stopped_by_budget,
                    "countdown_traces": len(countdown),
                    "mean_attempts": round(sum(t.completion.count(f"\n{RETRY}\n") + 1 for t in countdown)
                                           / len(countdown), 2)}
    hard_dev = load_problems(REPO / "datasets" / "countdown" / "hard" / "dev.jsonl")
    measured = grade_greedy(args.out, hard_dev, args.max_new_tokens, args.threads)
    print(json.dumps({"max_failed": args.max_failed, "order": args.order, "max_new_tokens": args.max_new_tokens, "training": training,
                      "hard_dev": measured}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
