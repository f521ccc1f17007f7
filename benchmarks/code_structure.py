"""Where a code model's greedy programs go wrong: the steps, their order, their numbers.

    python benchmarks/code_structure.py --model models/code --file datasets/funcs/pipes/dev.jsonl --limit 100

Answers the first `--limit` problems of a code-world file (`selfplay/tasks/func_pipes.py`) greedily,
reads each program back into steps (a line that is no step's line counts as a wrong step) and prints
one JSON line: how many programs have as many step lines as the reference (`length_right`), the
reference's kinds of step in its order (`kinds_right`), and every step with its number right too
(`all_right`), and the mean share of steps right in place (`steps_right`, summed over problems).
"""
import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from selfplay.tasks import load_problems
from selfplay.tasks.funcs import pipes as func_pipes  # noqa: E402
from verifiers.rewards import extract_program  # noqa: E402

LINES = {kind.render(value)[0]: (kind.name, value) for kind in func_pipes.KINDS for value in (kind.values or (None,))}


def steps(program: str) -> list[tuple]:
    """The (kind, value) of each `xs = ...` line; ("?", line) for a line that is no step's.

    >>> steps("def f(xs):\\n    xs = [x - 2 for x in xs]\\n    xs = sorted(xs)\\n    return xs\\n")
    [('add', -2), ('sort', None)]
    """
    lines = [line.strip() for line in program.splitlines()[1:] if line.strip().startswith("xs = ")]
    return [LINES.get(line, ("?", line)) for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "code"))
    parser.add_argument("--file", default=str(REPO / "datasets" / "funcs" / "hard" / "dev.jsonl"))
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from selfplay.model.policy import Policy
    from selfplay.model.prompting import builtin_prompt
    problems = load_problems(args.file)[:args.limit]
    policy = Policy.from_pretrained(args.model, device="cpu", dtype=torch.float32)
    answers = []
    for start in range(0, len(problems), 16):
        batch = [builtin_prompt(p.prompt) for p in problems[start:start + 16]]
        answers += [group[0].text for group in policy.complete(batch, 1, temperature=0.0, max_new_tokens=160, seed=0)]
    stats = {"file": args.file, "n": len(problems), "length_right": 0, "kinds_right": 0, "all_right": 0,
             "steps_right": 0.0}
    for problem, answer in zip(problems, answers):
        want = [tuple(stage) for stage in problem.meta["params"]["stages"]]
        got = steps(extract_program(answer))
        stats["length_right"] += len(got) == len(want)
        stats["kinds_right"] += [kind for kind, _ in got] == [kind for kind, _ in want]
        stats["all_right"] += got == want
        stats["steps_right"] += sum(g == w for g, w in zip(got, want)) / len(want)
    stats["steps_right"] = round(stats["steps_right"], 1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
