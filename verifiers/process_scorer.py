"""Learned answer-time scorers for word problems: outcome (ORM) and process (PRM), from the lab's own
graded answers, over features of the text that need no reference answer.

    outcome = fit_outcome_scorer(trees, prompts)        # complete answers, label: the verifier passed it
    process = fit_process_scorer(trees, prompts)        # every prefix, label: the share of answers below it
    outcome.score([prompt], [completion])               # -> [0.83]
    process.as_scorer().score(prompt, [["<<3*6=18>>\\n"], ["<<3*5=15>>\\n"]])   # search's Scorer
    process.save("runs/x/round-1/process_scorer"); load_feature_scorer("runs/x/round-1/process_scorer")

Why features and not a sequence classifier on the 1M-parameter policy: the built-in model's mistakes
in a word problem are choices, not arithmetic (the calculator computes every step): it copies a
number wrongly (`5*16` where the story says 15), uses the distracting sentence's number, leaves a
quantity out, or computes a result and never uses it. Each of these shows in the text as a fact
about its numbers: an operand that is neither in the question nor an earlier result, a question
number left unused, a dangling intermediate result, a number taken from a sentence about someone
else. A LoRA + fresh head on the policy, trained on a few hundred pairs (`verifiers.reward_model`),
must discover these relations from characters; here they are read off the text and a logistic
regression learns how much each one counts, refitted each round on that round's answers (the
policy moves and so do its mistakes). Every feature is computable for an unfinished path too, so
one feature map serves both scorers: the outcome scorer is fitted on complete answers (label 0/1),
the process scorer on every prefix with its Monte-Carlo value (the share of graded answers below
it that passed, `scorer_data.value_labels`, as in Math-Shepherd), so beam and MCTS can rank partial
paths.

The scorer runs no neural model: `usage.total_tokens` stays 0, and `cost_bound` is 0, so search's
budget spends nothing on it (honestly: it costs microseconds of CPU per path).

Knows the built-in answer format's numbers (`<<a*b=c>>` or `a*b=c` lines, `#### N`) and the tree's
walkers (through `scorer_data`); nothing about models, search algorithms, Ray or round files.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from verifiers.atomic_files import staging_dir
from verifiers.scorer_data import graded_answers, value_labels

FORMAT = "selfplay.scorer/1"
INFO_FILE = "scorer.json"
KIND = "features"
_STEP = re.compile(r"(\d+(?:\.\d+)?)\s*([-+*/])\s*(\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")
_FINAL = re.compile(r"####\s*(-?\d+(?:\.\d+)?)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WORD_NUMBERS = {"doubles": "2", "triples": "3", "twice": "2", "half": "2", "one": "1"}
_NOT_NAMES = {"A", "An", "The", "Then", "She", "He", "They", "It", "Each", "How", "Her", "His"}
FEATURES = ("bias", "ungrounded_operands", "any_ungrounded", "unused_question_numbers", "used_question_share",
            "dangling_results", "numbers_used_twice", "other_person_numbers", "steps", "has_final",
            "final_is_last_result", "final_missing_result", "steps_per_question_number")


@dataclass(frozen=True)
class Question:
    """The numbers of a question, the ones in sentences about someone other than the person asked about."""

    numbers: tuple[str, ...]
    other_person: frozenset[str]


def read_question(prompt: str) -> Question:
    """Numbers in the question and those said about another person (a sentence whose first word is a
    capitalised name other than the one the question asks about, or an age or a walk).

    >>> read_question("Ann has 5 cards. Leo has 9 cards. She loses 2 cards. How many cards does Ann have now?")
    Question(numbers=('5', '9', '2'), other_person=frozenset({'9'}))
    """
    sentences = [s.strip() for s in re.split(r"(?<=[.?!])\s+", prompt.strip()) if s.strip()]
    asked = re.search(r"does (\w+)", sentences[-1]) if sentences else None
    person = asked.group(1) if asked else None
    numbers, other = [], set()
    for sentence in sentences[:-1] if len(sentences) > 1 else sentences:
        found = _NUMBER.findall(sentence)
        numbers.extend(found)
        first = sentence.split()[0].rstrip(",")
        about_other = first[:1].isupper() and first not in _NOT_NAMES and person is not None and first != person
        if about_other or "years old" in sentence or " steps " in sentence or first.endswith("'s"):
            other.update(found)
    for word, value in _WORD_NUMBERS.items():
        if re.search(rf"\b{word}\b", prompt):
            numbers.append(value)
    return Question(tuple(numbers), frozenset(other))


def features(prompt: str, completion: str) -> list[float]:
    """The feature vector (`FEATURES`, in order) of a complete or partial answer to `prompt`.

    >>> f = dict(zip(FEATURES, features("Ann has 5 cards. She loses 2 cards. How many cards does Ann have now?",
    ...                                 "<<5-2=3>>\\n#### 3")))
    >>> f["ungrounded_operands"], f["unused_question_numbers"], f["final_is_last_result"]
    (0.0, 0.0, 1.0)
    """
    question = read_question(prompt)
    available = set(question.numbers)
    unused = list(question.numbers)
    results: list[str] = []
    result_uses: dict[int, int] = {}
    ungrounded = used_twice = other_used = 0
    steps = _STEP.findall(completion)
    for left, _, right, value in steps:
        for operand in (left, right):
            earlier = [index for index, result in enumerate(results) if result == operand]
            if earlier:
                result_uses[earlier[-1]] = result_uses.get(earlier[-1], 0) + 1
            elif operand in unused:
                unused.remove(operand)
                other_used += operand in question.other_person
            elif operand in available:
                used_twice += 1
            else:
                ungrounded += 1
        results.append(value)
    dangling = sum(1 for index in range(len(results) - 1) if index not in result_uses)
    final = _FINAL.search(completion)
    final_value = final.group(1) if final else None
    n_question = max(1, len(set(question.numbers)))
    values = {
        "bias": 1.0, "ungrounded_operands": float(ungrounded), "any_ungrounded": float(ungrounded > 0),
        "unused_question_numbers": float(len(unused)) if final else 0.0,
        "used_question_share": (len(question.numbers) - len(unused)) / max(1, len(question.numbers)),
        "dangling_results": float(dangling), "numbers_used_twice": float(used_twice),
        "other_person_numbers": float(other_used), "steps": float(len(steps)),
        "has_final": float(final is not None),
        "final_is_last_result": float(final_value is not None and bool(results) and final_value == results[-1]),
        "final_missing_result": float(final_value is not None and final_value not in results),
        "steps_per_question_number": len(steps) / n_question,
    }
    return [values[name] for name in FEATURES]


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, value))))


def fit_logistic(rows: Sequence[Sequence[float]], targets: Sequence[float], weights: Sequence[float] | None = None,
                 *, l2: float = 1e-2, iterations: int = 50) -> list[float]:
    """Coefficients of a logistic regression (soft targets in [0, 1], per-row weights), by Newton's
    method with an L2 penalty (not on the first, bias, column). Deterministic; no randomness.

    >>> coefficients = fit_logistic([[1, 0], [1, 0], [1, 1], [1, 1]], [0, 0, 1, 1], l2=0.01)
    >>> coefficients[1] > 1
    True
    """
    import numpy as np
    x = np.asarray(rows, dtype=float)  # (N, F)
    y = np.asarray(targets, dtype=float)  # (N,)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    if x.ndim != 2 or len(x) != len(y) or len(w) != len(y) or not len(y):
        raise ValueError(f"need rows (N, F), targets and weights of one length N > 0; got {x.shape}, {len(y)}, {len(w)}")
    scale = np.maximum(np.abs(x).max(axis=0), 1e-9)  # columns to [-1, 1], so one penalty fits all
    z = x / scale
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        gradient = z.T @ (w * (p - y)) / w.sum() + penalty * beta
        hessian = (z * (w * p * (1 - p))[:, None]).T @ z / w.sum() + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return (beta / scale).tolist()


@dataclass
class ScorerUsage:
    """Tokens pushed through a model: none, this scorer runs no model (search reads `total_tokens`)."""

    total_tokens: int = 0
    forward_calls: int = 0


@dataclass
class FeatureScorer:
    """P(correct) of an answer or prefix: sigmoid(coefficients . features(prompt, completion))."""

    coefficients: list[float]
    role: str  # "outcome" (fitted on complete answers) or "process" (on prefixes, Monte-Carlo values)
    info: dict = field(default_factory=dict)
    usage: ScorerUsage = field(default_factory=ScorerUsage)

    def __post_init__(self) -> None:
        if len(self.coefficients) != len(FEATURES):
            raise ValueError(f"{len(self.coefficients)} coefficients for {len(FEATURES)} features")
        if self.role not in ("outcome", "process"):
            raise ValueError(f"role must be 'outcome' or 'process', got {self.role!r}")

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        return [_sigmoid(sum(c * f for c, f in zip(self.coefficients, features(prompt, completion))))
                for prompt, completion in zip(prompts, completions)]

    def as_scorer(self) -> "FeaturePathScorer":
        return FeaturePathScorer(self)

    def save(self, directory: str | os.PathLike) -> None:
        """scorer.json (format, kind, role, features, coefficients, info), built in a temporary sibling and renamed."""
        with staging_dir(directory) as staging:
            record = {"format": FORMAT, "kind": KIND, "role": self.role, "features": list(FEATURES),
                      "coefficients": self.coefficients, **self.info}
            (staging / INFO_FILE).write_text(json.dumps(record, indent=2, default=str))


class FeaturePathScorer:
    """search's `Scorer`: lists of step texts after a prompt, scored by a `FeatureScorer`."""

    def __init__(self, model: FeatureScorer) -> None:
        self.model = model
        self.usage = model.usage

    def score(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> list[float]:
        return self.model.score([prompt_text] * len(paths), ["".join(path) for path in paths])

    def cost_bound(self, prompt_text: str, paths: Sequence[Sequence[str]]) -> int:
        return 0  # no model forward


def load_feature_scorer(directory: str | os.PathLike) -> FeatureScorer:
    with open(os.path.join(directory, INFO_FILE), encoding="utf-8") as handle:
        record = json.load(handle)
    if record.get("format") != FORMAT or record.get("kind") != KIND:
        raise ValueError(f"{directory}: a {record.get('kind')!r} scorer, not {KIND!r}")
    if record.get("features") != list(FEATURES):
        raise ValueError(f"{directory}: fitted on features {record.get('features')}, this code reads {list(FEATURES)}")
    info = {key: value for key, value in record.items()
            if key not in ("format", "kind", "role", "features", "coefficients")}
    return FeatureScorer(list(record["coefficients"]), record["role"], info)


def fit_outcome_scorer(trees: Iterable, prompts: Mapping[str, str], *, l2: float = 1e-2) -> FeatureScorer:
    """Fitted on every distinct graded answer of the trees: features -> passed (0/1)."""
    answers = graded_answers(trees, prompts)
    if len({a.passed for a in answers}) < 2:
        raise ValueError("the trees need both passed and failed graded answers to fit an outcome scorer")
    coefficients = fit_logistic([features(a.prompt, a.completion) for a in answers],
                                [float(a.passed) for a in answers], l2=l2)
    return FeatureScorer(coefficients, "outcome", {"training": {"answers": len(answers),
                                                                "passed": sum(a.passed for a in answers), "l2": l2}})


def fit_process_scorer(trees: Iterable, prompts: Mapping[str, str], *, l2: float = 1e-2) -> FeatureScorer:
    """Fitted on every prefix of the trees with its Monte-Carlo value (share of answers below that
    passed), each prefix weighted by its answer count, so a prefix seen in many answers counts more."""
    labels = value_labels(list(trees), prompts)
    if not labels or len({label.value > 0 for label in labels}) < 2:
        raise ValueError("the trees need prefixes above both passed and failed answers to fit a process scorer")
    coefficients = fit_logistic([features(label.prompt, label.completion) for label in labels],
                                [label.value for label in labels], [float(label.total) for label in labels], l2=l2)
    return FeatureScorer(coefficients, "process", {"training": {"prefixes": len(labels), "l2": l2}})
