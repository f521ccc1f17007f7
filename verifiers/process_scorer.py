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
from verifiers.scorer_data import value_labels

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
            "final_is_last_result", "final_missing_result", "steps_per_question_number", "wrong_operations",
            "agreement")


@dataclass(frozen=True)
class Question:
    """The numbers of a question, the ones in sentences about someone other than the person asked about."""

    numbers: tuple[str, ...]
    other_person: frozenset[str]
    expected_op: tuple[tuple[str, str], ...] = ()  # (number, the operation its sentence's verb implies), where clear


def read_question(prompt: str) -> Question:
    """Numbers in the question and those said about another person (a sentence whose first word is a
    capitalised name other than the one the question asks about, or an age or a walk).

    >>> read_question("Ann has 5 cards. Leo has 9 cards. She loses 2 cards. How many cards does Ann have now?")
    Question(numbers=('5', '9', '2'), other_person=frozenset({'9'}), expected_op=(('2', '-'),))
    """
    sentences = [s.strip() for s in re.split(r"(?<=[.?!])\s+", prompt.strip()) if s.strip()]
    asked = re.search(r"does (\w+)", sentences[-1]) if sentences else None
    person = asked.group(1) if asked else None
    numbers, other, expected = [], set(), []
    for sentence in sentences[:-1] if len(sentences) > 1 else sentences:
        found = _NUMBER.findall(sentence)
        numbers.extend(found)
        first = sentence.split()[0].rstrip(",")
        about_other = first[:1].isupper() and first not in _NOT_NAMES and person is not None and first != person
        if about_other or "years old" in sentence or " steps " in sentence or first.endswith("'s"):
            other.update(found)
        op = _implied_op(sentence)
        if op is not None:
            expected.extend((number, op) for number in found if number not in dict(expected))
    for word, value in _WORD_NUMBERS.items():
        if re.search(rf"\b{word}\b", prompt):
            numbers.append(value)
    return Question(tuple(numbers), frozenset(other), tuple(expected))


def _implied_op(sentence: str) -> str | None:
    """The operation a sentence's numbers enter with, where its words say so plainly; else None.
    `-` and `/` take the number on the right, `-<` on the left (a bill paid, minus the total).

    >>> _implied_op("She gives 4 friends 5 cards each."), _implied_op("He sells 13 cards."), _implied_op("Ann has 5.")
    ('*', '-', None)
    """
    if re.search(r"\bpays with\b", sentence):
        return "-<"  # the bill, minus the total: the number is the left operand
    if re.search(r"\beach\b|\bevery day\b", sentence):
        return "*"
    if "equally" in sentence:
        return "/"
    if re.search(r"\b(gives|loses|sells)\b", sentence):
        return "-"
    if re.search(r"\b(finds|buys|gets|is given)\b", sentence) and "more" in sentence:
        return "+"
    return None


def final_answer(text: str) -> str | None:
    found = _FINAL.search(text)
    return found.group(1) if found else None


def agreements(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    """Per answer, the share of the OTHER answers to the same prompt (among those given) that reach
    the same final answer; 0 for an answer without one or alone with its prompt. Self-consistency as
    a feature: the scorer sees what majority vote counts.

    >>> agreements(["q"] * 4 + ["r"], ["#### 5", "#### 5", "#### 7", "<<1+1=2>>", "#### 5"])
    [0.3333333333333333, 0.3333333333333333, 0.0, 0.0, 0.0]
    """
    groups: dict[str, list[str | None]] = {}
    for prompt, completion in zip(prompts, completions):
        groups.setdefault(prompt, []).append(final_answer(completion))
    shares = []
    for prompt, completion in zip(prompts, completions):
        finals, mine = groups[prompt], final_answer(completion)
        shares.append(0.0 if mine is None or len(finals) < 2 else (finals.count(mine) - 1) / (len(finals) - 1))
    return shares


def features(prompt: str, completion: str, agreement: float = 0.0) -> list[float]:
    """The feature vector (`FEATURES`, in order) of a complete or partial answer to `prompt`;
    `agreement`: the share of other answers to the prompt with the same final answer (`agreements`).

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
    ungrounded = used_twice = other_used = wrong_op = 0
    implied = dict(question.expected_op)
    steps = _STEP.findall(completion)
    for left, op, right, value in steps:
        for side, operand in (("left", left), ("right", right)):
            wanted = implied.get(operand)
            if wanted is not None and operand in unused and not any(r == operand for r in results):
                if wanted == "-<":
                    wrong_op += op != "-" or side != "left"
                else:
                    wrong_op += op != wanted or (wanted in "-/" and side == "left")
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
        "steps_per_question_number": len(steps) / n_question, "wrong_operations": float(wrong_op),
        "agreement": float(agreement),
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
        shares = agreements(prompts, completions)  # among the answers of one prompt in this call
        return [_sigmoid(sum(c * f for c, f in zip(self.coefficients, features(prompt, completion, share))))
                for prompt, completion, share in zip(prompts, completions, shares)]

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


def tree_answers(trees: Iterable, prompts: Mapping[str, str]) -> dict[str, list[tuple[str, bool]]]:
    """Per problem, every graded answer of its trees as (text, passed), repeats kept (they are votes)."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for tree in trees:
        if tree.problem_id not in prompts:
            raise KeyError(f"no prompt for problem {tree.problem_id!r}")
        found.setdefault(tree.problem_id, []).extend((tree.answer_text(node), passed) for node, passed in tree.graded())
    return found


def _answer_rows(trees: Iterable, prompts: Mapping[str, str]) -> tuple[list[list[float]], list[float], list[str]]:
    """Features (with agreement among the problem's answers) and labels of every graded answer."""
    rows, labels, problem_ids = [], [], []
    for problem_id, answers in tree_answers(trees, prompts).items():
        texts = [text for text, _ in answers]
        shares = agreements([problem_id] * len(texts), texts)
        rows += [features(prompts[problem_id], text, share) for text, share in zip(texts, shares)]
        labels += [float(passed) for _, passed in answers]
        problem_ids += [problem_id] * len(texts)
    return rows, labels, problem_ids


def fit_outcome_scorer(trees: Iterable, prompts: Mapping[str, str], *, l2: float = 1e-3) -> FeatureScorer:
    """Fitted on every graded answer of the trees (repeats too: they are votes): features -> passed (0/1)."""
    rows, labels, _ = _answer_rows(trees, prompts)
    if len(set(labels)) < 2:
        raise ValueError("the trees need both passed and failed graded answers to fit an outcome scorer")
    coefficients = fit_logistic(rows, labels, l2=l2)
    return FeatureScorer(coefficients, "outcome", {"training": {"answers": len(labels), "passed": int(sum(labels)),
                                                                "l2": l2}})


def fit_process_scorer(trees: Iterable, prompts: Mapping[str, str], *, l2: float = 1e-3) -> FeatureScorer:
    """Fitted on every prefix of the trees with its Monte-Carlo value (share of answers below that
    passed), each prefix weighted by its answer count, so a prefix seen in many answers counts more.
    A complete answer's agreement is read among its problem's answers; a prefix has none yet."""
    trees = list(trees)
    labels = value_labels(trees, prompts)
    if not labels or len({label.value > 0 for label in labels}) < 2:
        raise ValueError("the trees need prefixes above both passed and failed answers to fit a process scorer")
    finals = {problem_id: [final_answer(text) for text, _ in answers]
              for problem_id, answers in tree_answers(trees, prompts).items()}

    def agreement(label) -> float:
        votes, mine = finals[label.problem_id], final_answer(label.completion)
        return 0.0 if mine is None or len(votes) < 2 else max(0, votes.count(mine) - 1) / (len(votes) - 1)
    coefficients = fit_logistic([features(label.prompt, label.completion, agreement(label)) for label in labels],
                                [label.value for label in labels], [float(label.total) for label in labels], l2=l2)
    return FeatureScorer(coefficients, "process", {"training": {"prefixes": len(labels), "l2": l2}})


def held_out_report(scorer: FeatureScorer, trees: Iterable, prompts: Mapping[str, str]) -> dict:
    """How the scorer ranks the graded answers of held-out trees, each problem's answers scored together
    (so agreement is read among them, as at answer time): AUROC, pair accuracy, and the share of
    problems whose top-scored answer passed against a random pick's."""
    from verifiers.scorer_metrics import auroc, pair_accuracy, selection_accuracy
    scores, labels, problem_ids = [], [], []
    for problem_id, answers in tree_answers(trees, prompts).items():
        texts = [text for text, _ in answers]
        scores += scorer.score([prompts[problem_id]] * len(texts), texts)
        labels += [passed for _, passed in answers]
        problem_ids += [problem_id] * len(texts)
    picked, base_rate = selection_accuracy(problem_ids, scores, labels)
    return {"n_answers": len(labels), "positive_rate": sum(labels) / len(labels) if labels else None,
            "auroc": auroc(scores, labels), "pair_accuracy": pair_accuracy(problem_ids, scores, labels),
            "best_of_n_accuracy": picked, "random_pick_accuracy": base_rate}
