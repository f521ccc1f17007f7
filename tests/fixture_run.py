"""A small run directory built by hand (no model): two rounds of trees written with rundir's writers.

    round 1 (DONE, metrics.json)
      A  solved    root ─ 1 "91+92=183" ─ 2 "183+93=276" ✓ (chosen, selected)
                        │               └ 3 "183-93=90"  ✗ wrong
                        └ 4 "93-91=2" (score 0.9: disagrees) ─ 5 "2*92=184" ✗ wrong
                                                             └ 6 "2+92=94" (rollout, ungraded)
      B  unsolved  root ─ 1 "91*2=182" ✗ wrong (chosen) | 2 "bad" ✗ timeout
    round 2 (running: no DONE, a torn gzip member at the end of its trees file)
      B  solved, newly   root ─ 1 "94+95=189" ─ 2 "189+96=285" ✓ (chosen, selected) | 3 "96-94=2" ✗
      C  unsolved        root ─ 1 HOSTILE ─ 2 "<script>…" ✗ (chosen)
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import yaml

from search import Tree
from selfplay.runfiles import rundir, treeio
from selfplay.tasks import Problem, save_problems

HOSTILE = '<img src=x onerror="window.__pwned=1">\x1b[2J</script>'
HOSTILE_ANSWER = "<script>window.__pwned=1</script>"


def problem(index: int) -> Problem:
    numbers, target = [91, 92, 93 + index], 500 + index
    return Problem.create("countdown", f"Use {' '.join(map(str, numbers))} to make {target} with + - * /. "
                          "Each number at most once.", answer=str(target), meta={"numbers": numbers, "target": target})


PROBLEMS = [problem(index) for index in range(3)]
A, B, C = (p.id for p in PROBLEMS)


def node(parent, text, *, terminal=False, passed=None, status=None, visits=1, value=0.0, score=None, rollout=False):
    return dict(parent=parent, text=text, terminal=terminal, passed=passed, status=status, visits=visits,
                value=value, score=score, rollout=rollout)


def build_tree(problem_id: str, round_index: int, nodes: list[dict], *, chosen: int | None = None,
               selected: tuple = ()) -> dict:
    tree = Tree(strategy="mcts", problem_id=problem_id, task="countdown", round=round_index)
    for spec in nodes:
        index = tree.add_node(spec["parent"], spec["text"], token_count=len(spec["text"]), logprob=-1.0,
                              terminal=spec["terminal"], rollout=spec["rollout"])
        tree.visit_counts[index], tree.value_sums[index] = spec["visits"], spec["value"]
        tree.scores[index] = spec["score"]
        if spec["passed"] is not None:
            status = spec["status"] or ("passed" if spec["passed"] else "wrong")
            tree.set_verdict(index, spec["passed"], float(spec["passed"]), status)
    tree.visit_counts[0] = sum(spec["visits"] for spec in nodes if spec["parent"] == 0)
    if chosen is not None:
        tree.mark_chosen(chosen)
    for index in selected:
        tree.selected[index] = True
    return tree.to_dict()


def round_one() -> list[dict]:
    a = build_tree(A, 1, [node(0, "91+92=183\n", visits=4, value=3.0),
                          node(1, "183+93=276", terminal=True, passed=True, visits=2, value=2.0),
                          node(1, "183-93=90", terminal=True, passed=False),
                          node(0, "93-91=2\n", visits=2, score=0.9),
                          node(4, "2*92=184", terminal=True, passed=False),
                          node(4, "2+92=94", terminal=True, rollout=True)], chosen=2, selected=(1, 2))
    b = build_tree(B, 1, [node(0, "91*2=182", terminal=True, passed=False),
                          node(0, "bad", terminal=True, passed=False, status="timeout")], chosen=1)
    return [a, b]


def round_two() -> list[dict]:
    b = build_tree(B, 2, [node(0, "94+95=189\n", visits=2, value=1.0),
                          node(1, "189+96=285", terminal=True, passed=True, value=1.0),
                          node(0, "96-94=2", terminal=True, passed=False)], chosen=2, selected=(1, 2))
    c = build_tree(C, 2, [node(0, HOSTILE + "\n"), node(1, HOSTILE_ANSWER, terminal=True, passed=False)], chosen=2)
    return [b, c]


def evaluation(fast: float, deliberate: float) -> dict:
    return {"fast": {"strategy": "greedy", "budget": 1, "n": 10, "accuracy": fast, "tokens": 600},
            "deliberate": {"strategy": "mcts", "budget": 8, "n": 10, "accuracy": deliberate, "tokens": 4000}}


def make_run(root: Path, *, extra_round_one: list[dict] = (), extra_problems: list[Problem] = ()) -> Path:
    """The run directory described in the module docstring, under `root`; returns its path."""
    model = root / "model"
    model.mkdir(parents=True)
    (model / "tokenizer_config.json").write_text("{}")  # no chat template: the built-in prompt format
    train = save_problems([*PROBLEMS, *extra_problems], root / "train.jsonl")
    run = root / "run"
    rundir.write_text(run / "config.yaml", yaml.safe_dump({"model": str(model), "train_files": {str(train): 1.0},
                                                           "dev_files": []}))
    rundir.write_json(run / "round-0" / "eval.json", {"round": 0, "eval": evaluation(0.1, 0.3)})
    one = rundir.RunDir(run).round(1)
    treeio.append_trees(one.trees, [*round_one(), *extra_round_one])
    rundir.write_json(one.metrics, {"round": 1, "eval": evaluation(0.2, 0.4)})
    one.mark_done()
    two = rundir.RunDir(run).round(2)
    treeio.append_trees(two.trees, round_two()[:1])
    treeio.append_trees(two.trees, round_two()[1:])
    torn = gzip.compress(json.dumps(build_tree("countdown-torn", 2, [node(0, "1+1=2", terminal=True)])).encode())
    with open(two.trees, "ab") as out:
        out.write(torn[: len(torn) // 2])  # a job writing its next tree right now
    return run
