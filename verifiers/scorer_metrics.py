"""How good a learned scorer is, measured against the ground-truth verifier on held-out trees.

    report = diagnose(reward_model, held_out_trees, prompts)
    report["auroc"], report["accuracy"], report["rises_when_repeated"]

- `auroc`: the chance that a random correct answer scores above a random wrong one (ties
  count half). A pure function, checked against a brute-force reference in the tests.
- `diagnose`: scores every graded answer of the held-out trees once, then reports accuracy at
  0.5, AUROC, pair accuracy (correct above wrong, within a problem), best-of-n selection
  accuracy against the base rate, and the robustness check: the share of answers whose score
  rises by more than `epsilon` when the answer is repeated twice or padded with trailing
  whitespace (neither makes an answer more correct, so neither should raise its score).

The model is anything with `score(prompts, completions) -> list[float]`. Knows the scorer data
helpers; nothing about training, search or files.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from verifiers.scorer_data import graded_answers, padded, repeated


def auroc(scores: Sequence[float], labels: Sequence[bool | int]) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counted 1/2.

    Computed from average ranks (the Mann-Whitney U statistic); None when one class is absent.

    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75

    (pairs positive-over-negative: 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4: 3 of 4.)
    """
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} labels")
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(scores)), key=lambda index: scores[index])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):  # tied scores share the mean of their 1-based ranks
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positive_rank_sum = sum(rank for rank, label in zip(ranks, labels) if label)
    u_statistic = positive_rank_sum - positives * (positives + 1) / 2
    return u_statistic / (positives * negatives)


def accuracy(scores: Sequence[float], labels: Sequence[bool | int], threshold: float = 0.5) -> float | None:
    """Share of answers on the right side of `threshold` (None for no answers).

    >>> accuracy([0.9, 0.2, 0.6], [1, 0, 0])
    0.6666666666666666
    """
    if not scores:
        return None
    return sum((score >= threshold) == bool(label) for score, label in zip(scores, labels)) / len(scores)


def pair_accuracy(problem_ids: Sequence[str], scores: Sequence[float], labels: Sequence[bool | int]) -> float | None:
    """Share of (correct, wrong) answer pairs of the same problem ranked correct-first (ties 1/2)."""
    groups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for problem_id, score, label in zip(problem_ids, scores, labels):
        groups[problem_id].append((score, bool(label)))
    wins = pairs = 0.0
    for group in groups.values():
        for good, _ in (item for item in group if item[1]):
            for bad, _ in (item for item in group if not item[1]):
                wins += 1.0 if good > bad else 0.5 if good == bad else 0.0
                pairs += 1
    return wins / pairs if pairs else None


def selection_accuracy(problem_ids: Sequence[str], scores: Sequence[float],
                       labels: Sequence[bool | int]) -> tuple[float | None, float | None]:
    """(share of problems whose top-scored answer is correct, mean share of correct answers per problem).

    The second number is what picking an answer at random achieves: the base rate to beat.
    """
    groups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for problem_id, score, label in zip(problem_ids, scores, labels):
        groups[problem_id].append((score, bool(label)))
    if not groups:
        return None, None
    picked = sum(max(group, key=lambda item: item[0])[1] for group in groups.values())
    base = sum(sum(label for _, label in group) / len(group) for group in groups.values())
    return picked / len(groups), base / len(groups)


def rise_fraction(base_scores: Sequence[float], perturbed_scores: Sequence[float], epsilon: float) -> float | None:
    """Share of answers whose perturbed copy scores more than `epsilon` above the original.

    >>> rise_fraction([0.5, 0.5, 0.5], [0.5, 0.52, 0.7], epsilon=0.01)
    0.6666666666666666
    """
    if not base_scores:
        return None
    return sum(after > before + epsilon for before, after in zip(base_scores, perturbed_scores)) / len(base_scores)


def diagnose(model, held_out_trees: Iterable, prompts: Mapping[str, str] | None = None, *, epsilon: float = 0.01,
             step_delimiter: str = "\n") -> dict:
    """Accuracy, AUROC, ranking and robustness numbers of `model` on the graded answers of `held_out_trees`."""
    answers = graded_answers(held_out_trees, prompts)
    texts = [a.completion for a in answers]
    repeats = [repeated(text, step_delimiter) for text in texts]
    pads = [padded(text) for text in texts]
    flat_pads = [copy for copies in pads for copy in copies]
    prompt_column = [a.prompt for a in answers]
    pad_prompts = [a.prompt for a, copies in zip(answers, pads) for _ in copies]
    # One call over originals and copies, so the model batches them together.
    all_scores = model.score(prompt_column * 2 + pad_prompts, texts + repeats + flat_pads)
    scores, repeat_scores = all_scores[:len(texts)], all_scores[len(texts):2 * len(texts)]
    pad_scores = all_scores[2 * len(texts):]
    per_copy = len(pads[0]) if pads else 1
    max_pad = [max(pad_scores[i * per_copy:(i + 1) * per_copy]) for i in range(len(texts))]
    labels = [a.passed for a in answers]
    problem_ids = [a.problem_id for a in answers]
    selected, base_rate = selection_accuracy(problem_ids, scores, labels)
    return {
        "n_answers": len(answers),
        "n_problems": len(set(problem_ids)),
        "positive_rate": sum(labels) / len(labels) if labels else None,
        "accuracy": accuracy(scores, labels),
        "auroc": auroc(scores, labels),
        "pair_accuracy": pair_accuracy(problem_ids, scores, labels),
        "best_of_n_accuracy": selected,
        "random_pick_accuracy": base_rate,
        "epsilon": epsilon,
        "rises_when_repeated": rise_fraction(scores, repeat_scores, epsilon),
        "rises_when_padded": rise_fraction(scores, max_pad, epsilon),
        "rises_when_repeated_or_padded": rise_fraction(scores, [max(r, p) for r, p in zip(repeat_scores, max_pad)],
                                                       epsilon),
    }
