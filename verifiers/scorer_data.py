"""Training data for the learned scorers, harvested from search trees.

    pairs = preference_pairs(trees, prompts, max_pairs_per_problem=32, seed=0)   # reward model
    labels = value_labels(trees, prompts)                                        # value model
    branches = branch_pairs(trees, prompts)                                      # step-level pairs (export)

A tree is a `search.Tree` (as `selfplay.runfiles.treeio` reads them): its `problem_id`, its per-node
arrays and its walkers (`answer_text`, `children`, `graded`, `subtree_counts`). A tree holds no
prompt: `prompts` maps `problem_id` to the rendered prompt text the policy continued.

- `preference_pairs`: per problem, every distinct verified-correct answer against every distinct
  failed one (`kind="verified"`), shuffled by (seed, problem id) and capped; plus, with
  `robustness_copies`, each answer against its own repeated and whitespace-padded copies
  (`kind="repeat"` / `"pad"`, the "chosen" side being the original, whether it passed or not),
  so a reward model learns that repeating or padding an answer never raises its score.
- `value_labels`: per distinct (problem, prefix), the Monte-Carlo value: the share of graded
  answers below that prefix, over every tree of the problem, that were verified correct.
- `branch_pairs`: step-level pairs from sibling subtrees: after a shared prefix, the
  continuation through a child below which an answer verified is preferred to the continuation
  through a sibling below which answers were graded and none verified.

Knows the Tree's fields and walkers (it takes trees, it does not import `search`); nothing about
search algorithms, models or files.
"""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Trailing whitespace added by the `pad` perturbation: spaces, then newlines.
PAD_SUFFIXES = ("   ", "\n\n\n")


@dataclass(frozen=True)
class GradedAnswer:
    """One complete answer in a tree and its verifier's verdict."""

    problem_id: str
    prompt: str
    completion: str  # the steps' texts joined
    passed: bool


@dataclass(frozen=True)
class PreferencePair:
    problem_id: str
    prompt: str
    chosen: str  # a verified-correct completion
    rejected: str  # a failed completion, or a perturbed copy of `chosen`
    kind: str  # "verified", "repeat" or "pad"


@dataclass(frozen=True)
class BranchPair:
    problem_id: str
    prompt: str  # the problem's prompt followed by the shared steps (the branch point's path)
    chosen: str  # from the branch point through one child to a verified answer
    rejected: str  # from the branch point through a sibling, below which no graded answer passed
    depth: int  # steps shared before the branch (0: the two differ from the first step)


@dataclass(frozen=True)
class ValueLabel:
    problem_id: str
    prompt: str
    completion: str  # the prefix: steps from the root to the node, joined
    passed: int  # graded answers below the prefix that passed
    total: int  # graded answers below the prefix

    @property
    def value(self) -> float:
        return self.passed / self.total


def prompt_of(tree, prompts: Mapping[str, str] | None) -> str:
    """The rendered prompt of a tree's problem, from `prompts`."""
    if prompts is not None and tree.problem_id in prompts:
        return prompts[tree.problem_id]
    raise KeyError(f"no prompt for problem {tree.problem_id!r}: pass prompts={{problem_id: rendered prompt}}")


def graded_answers(trees: Iterable, prompts: Mapping[str, str] | None = None) -> list[GradedAnswer]:
    """Every graded terminal node's answer, deduplicated per problem (first verdict of a text wins)."""
    answers, seen = [], set()
    for tree in trees:
        problem_id, prompt = tree.problem_id, prompt_of(tree, prompts)
        for node, passed in tree.graded():
            completion = tree.answer_text(node)
            if (problem_id, completion) not in seen:
                seen.add((problem_id, completion))
                answers.append(GradedAnswer(problem_id, prompt, completion, passed))
    return answers


def repeated(completion: str, step_delimiter: str = "\n") -> str:
    """The answer written twice, one delimiter between the copies.

    >>> repeated("1+2=3")
    '1+2=3\\n1+2=3'
    """
    separator = "" if completion.endswith(step_delimiter) else step_delimiter
    return completion + separator + completion


def padded(completion: str) -> list[str]:
    """The answer with trailing whitespace added, one copy per `PAD_SUFFIXES` entry."""
    return [completion + suffix for suffix in PAD_SUFFIXES]


def preference_pairs(trees: Iterable, prompts: Mapping[str, str] | None = None, *, max_pairs_per_problem: int = 32,
                     robustness_copies: bool = True, step_delimiter: str = "\n", seed: int = 0) -> list[PreferencePair]:
    """(correct, incorrect) completion pairs per problem, deduplicated, capped, shuffled by seed.

    The cap applies to the verified pairs; robustness pairs come on top: one repeat and one pad
    copy per answer, for at most `max_pairs_per_problem` correct and as many wrong answers.
    """
    by_problem: dict[str, list[GradedAnswer]] = defaultdict(list)
    for answer in graded_answers(trees, prompts):
        by_problem[answer.problem_id].append(answer)
    pairs = []
    for problem_id, answers in by_problem.items():
        rng = random.Random(f"{seed}:{problem_id}")
        correct = [a for a in answers if a.passed]
        wrong = [a for a in answers if not a.passed]
        verified = [PreferencePair(problem_id, c.prompt, c.completion, w.completion, "verified")
                    for c in correct for w in wrong]
        rng.shuffle(verified)
        pairs.extend(verified[:max_pairs_per_problem])
        if robustness_copies:
            pairs.extend(_robustness_pairs(answers, step_delimiter, rng, max_pairs_per_problem))
    return pairs


def _robustness_pairs(answers: list[GradedAnswer], step_delimiter: str, rng: random.Random,
                      cap: int) -> list[PreferencePair]:
    """Answers preferred to their own repeated copy and to one padded copy (up to `cap` correct + `cap` wrong).

    Correct answers are the point (a repeated correct answer fails the strict verifiers); wrong
    ones are included too, so that padding cannot lift a wrong answer's score either.
    """
    pairs = []
    for passed in (True, False):
        group = [a for a in answers if a.passed == passed]
        rng.shuffle(group)
        for answer in group[:cap]:
            copy = repeated(answer.completion, step_delimiter)
            pairs.append(PreferencePair(answer.problem_id, answer.prompt, answer.completion, copy, "repeat"))
            pad = rng.choice(padded(answer.completion))
            pairs.append(PreferencePair(answer.problem_id, answer.prompt, answer.completion, pad, "pad"))
    return pairs


def value_labels(trees: Iterable, prompts: Mapping[str, str] | None = None, *, min_answers: int = 1,
                 include_terminals: bool = True) -> list[ValueLabel]:
    """Monte-Carlo values of every prefix (node below the root) with at least `min_answers` graded answers.

    A prefix's counts are summed over all trees of its problem that contain the same text, so
    MCTS rollouts, beam children and sampled answers all add to one estimate. A terminal node is
    its own only answer (label 0 or 1) and is kept when `include_terminals`.
    """
    counts: dict[tuple[str, str], list] = {}
    for tree in trees:
        problem_id, prompt = tree.problem_id, prompt_of(tree, prompts)
        for node, (passed, total) in enumerate(tree.subtree_counts()):
            if node == 0 or total == 0 or (tree.terminal[node] and not include_terminals):
                continue
            key = (problem_id, tree.answer_text(node))
            entry = counts.setdefault(key, [prompt, 0, 0])
            entry[1] += passed
            entry[2] += total
    return [ValueLabel(problem_id, prompt, completion, passed, total)
            for (problem_id, completion), (prompt, passed, total) in counts.items() if total >= min_answers]


def _best_answers(tree) -> tuple[list, list]:
    """Per node, the shortest (then earliest) passed and failed graded answer in its subtree, or None."""
    parents, step_texts = tree.parents, tree.step_texts
    lengths = [0] * len(parents)
    for node in range(1, len(parents)):
        lengths[node] = lengths[parents[node]] + len(step_texts[node])
    best: dict[bool, list] = {True: [None] * len(parents), False: [None] * len(parents)}
    for node, outcome in tree.graded():
        best[outcome][node] = (lengths[node], node)
    for node in range(len(parents) - 1, 0, -1):  # parents[i] < i: children before parents
        for outcome in (True, False):
            mine, parent = best[outcome][node], parents[node]
            if mine is not None and (best[outcome][parent] is None or mine < best[outcome][parent]):
                best[outcome][parent] = mine
    return ([None if b is None else b[1] for b in best[True]], [None if b is None else b[1] for b in best[False]])


def branch_pairs(trees: Iterable, prompts: Mapping[str, str] | None = None, *,
                 max_pairs_per_problem: int | None = None, seed: int = 0) -> list[BranchPair]:
    """(verified, failed) continuations of the same prefix, from sibling subtrees.

    At every node with children A and B where A's subtree holds a passed answer and B's holds
    graded answers none of which passed, one pair: prompt + path to the node, then A's side
    (its subtree's shortest passed answer, the earliest on ties) over B's (its shortest failed
    answer). The root's children give whole-answer pairs, deeper nodes step-level ones. Pairs
    are distinct per problem (over all its trees), in tree and node order; with a cap they are
    shuffled by (seed, problem id) first.
    """
    by_problem: dict[str, list[BranchPair]] = defaultdict(list)
    seen = set()
    for tree in trees:
        problem_id, prompt = tree.problem_id, prompt_of(tree, prompts)
        counts, (best_passed, best_failed) = tree.subtree_counts(), _best_answers(tree)
        for node in range(len(tree)):
            below = tree.children(node)
            winners = [child for child in below if counts[child][0] > 0]
            losers = [child for child in below if counts[child][1] > 0 and counts[child][0] == 0]
            if not winners or not losers:
                continue
            prefix = tree.answer_text(node)
            for winner in winners:
                chosen = tree.answer_text(best_passed[winner])[len(prefix):]
                for loser in losers:
                    rejected = tree.answer_text(best_failed[loser])[len(prefix):]
                    key = (problem_id, prefix, chosen, rejected)
                    if chosen != rejected and key not in seen:
                        seen.add(key)
                        by_problem[problem_id].append(
                            BranchPair(problem_id, prompt + prefix, chosen, rejected, tree.depths[node]))
    pairs = []
    for problem_id, found in by_problem.items():
        if max_pairs_per_problem is not None:
            random.Random(f"{seed}:{problem_id}:branch").shuffle(found)
            found = found[:max_pairs_per_problem]
        pairs.extend(found)
    return pairs


def split_by_problem(trees: list, held_out_share: float, seed: int = 0) -> tuple[list, list]:
    """(train, held-out) trees, split by problem so no problem is on both sides."""
    problem_ids = sorted({tree.problem_id for tree in trees}, key=str)
    random.Random(seed).shuffle(problem_ids)
    held_out = set(problem_ids[:round(len(problem_ids) * held_out_share)])
    return ([t for t in trees if t.problem_id not in held_out], [t for t in trees if t.problem_id in held_out])
