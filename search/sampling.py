"""Strategies that draw whole answers independently: greedy, sample, majority, best_of_n.

    result = best_of_n(policy, prompt_text, SearchConfig(num_samples=8), seed=0,
                       budget=Budget.from_answers(8, 120), answer_check=check)

Answers are drawn step by step as separate chains from the root (all first steps in one call,
then every live chain one step further per call), so the tree holds `num_samples` paths and
the budget can stop drawing between steps. No more chains start than the budget pays for at its
`tokens_per_answer` (when it has one); chains that meet the budget stay unfinished, and earlier
chains go first, so a tight budget yields fewer complete answers rather than many broken ones.

Knows the protocols and `SearchRun`; nothing about models or tasks.
"""
from __future__ import annotations

from search.budget import Budget
from search.config import SearchConfig
from search.protocols import AnswerCheck, AnswerKey, Scorer, StepPolicy
from search.run import SearchResult, SearchRun
from search.choice_math import best_index, majority_vote
from search.tree import ROOT_INDEX


def greedy(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int, budget: Budget | None = None,
           scorer: Scorer | None = None, answer_check: AnswerCheck | None = None,
           answer_key: AnswerKey | None = None) -> SearchResult:
    """One temperature-0 path until it ends or hits the depth cap ("System 1"); ignores the budget.

    The answer is the path's last node, finished or not (the grader judges a cut-off answer).
    """
    run = SearchRun("greedy", policy, prompt_text, config, seed=seed, budget=None)
    node = ROOT_INDEX
    while run.can_grow(node):
        node = run.expand([node], 1, temperature=0.0)[0][0]
    return run.finish(None if node == ROOT_INDEX else node, [node] if run.tree.terminal[node] else [])


def draw_answers(run: SearchRun, num_answers: int, *, stop_at_pass: bool = False) -> list[int]:
    """Sample up to `num_answers` independent chains to their ends; the complete answers' nodes.

    With `stop_at_pass`, answers are checked as they finish and drawing stops (the other chains
    left unfinished) once one passes the answer check.
    """
    affordable = run.meter.budget.answers_within(run.meter.remaining)
    if affordable is not None:
        num_answers = min(num_answers, max(affordable, 1))
    first_steps = 0
    for count in range(num_answers, 0, -1):  # as many first steps as the budget's worst case allows
        if run.meter.fits(run.cost_bound(ROOT_INDEX, count)):
            first_steps = count
            break
    if first_steps == 0:
        return []
    chain_ends = run.expand([ROOT_INDEX], first_steps)[0]
    while True:
        if stop_at_pass:
            for node in chain_ends:
                run.check(node)  # once per finished node; None for the rest
            if run.pass_found:
                break
        live = [index for index, node in enumerate(chain_ends) if run.can_grow(node)]
        grown = run.expand([chain_ends[index] for index in live], 1)
        if not grown:
            break
        for index, children in zip(live, grown):
            chain_ends[index] = children[0]
    return [node for node in chain_ends if run.tree.terminal[node]]


def sample(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int, budget: Budget | None = None,
           scorer: Scorer | None = None, answer_check: AnswerCheck | None = None,
           answer_key: AnswerKey | None = None) -> SearchResult:
    """`config.num_samples` complete answers; `candidates` holds them all (for pass@N).

    The nominal answer is the first complete one.
    """
    run = SearchRun("sample", policy, prompt_text, config, seed=seed, budget=budget)
    answers = draw_answers(run, config.num_samples)
    return run.finish(answers[0] if answers else None, answers)


def majority(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int,
             budget: Budget | None = None, scorer: Scorer | None = None, answer_check: AnswerCheck | None = None,
             answer_key: AnswerKey | None = None) -> SearchResult:
    """Self-consistency: the most common `answer_key` among the sampled answers wins.

    Ties go to the key drawn first; the answer returned is that key's first answer. Each answer's
    node records one visit valued at its key's share of the votes.
    """
    if answer_key is None:
        raise ValueError("majority needs an answer_key (the final answer of a text, to vote on)")
    run = SearchRun("majority", policy, prompt_text, config, seed=seed, budget=budget)
    answers = draw_answers(run, config.num_samples)
    keys = [answer_key(run.tree.answer_text(node)) for node in answers]
    votes = sum(key is not None for key in keys)
    for node, key in zip(answers, keys):
        run.tree.visit_counts[node] = 1
        run.tree.value_sums[node] = keys.count(key) / votes if key is not None else 0.0
    winner = majority_vote(keys)
    return run.finish(None if winner is None else answers[winner], answers)


def best_of_n(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int,
              budget: Budget | None = None, scorer: Scorer | None = None, answer_check: AnswerCheck | None = None,
              answer_key: AnswerKey | None = None) -> SearchResult:
    """The best of `config.num_samples` answers: by answer check, then scorer, then log-prob.

    Each signal only breaks the ties the one before left: answers are ranked by the check's
    value (no value ranks lowest); the scorer is called only on the answers tied at the top
    (skipped if it does not fit the budget); the policy's mean token probability decides the
    rest, then the earliest answer. Each answer's node records one visit valued by the last
    signal it was ranked with.
    """
    run = SearchRun("best_of_n", policy, prompt_text, config, seed=seed, budget=budget, scorer=scorer,
                    answer_check=answer_check)
    answers = draw_answers(run, config.num_samples, stop_at_pass=config.stop_at_pass and answer_check is not None)
    if not answers:
        return run.finish(None, answers)
    checks = [run.check(node) for node in answers]
    check_ranks = [-1.0 if value is None else value for value in checks]
    finalists = [node for node, rank in zip(answers, check_ranks) if rank == max(check_ranks)]
    scores = run.score(finalists) if scorer is not None and len(finalists) > 1 else None
    scores = scores or [0.0] * len(finalists)
    keys = [(score, run.fallback_value(node)) for node, score in zip(finalists, scores)]
    for node, check in zip(answers, checks):
        run.tree.visit_counts[node] = 1
        run.tree.value_sums[node] = _recorded_value(run, node, check)
    return run.finish(finalists[best_index(keys)], answers)


def _recorded_value(run: SearchRun, node: int, check: float | None) -> float:
    """The value an answer was last ranked by: its check, else its score, else its fallback."""
    if check is not None:
        return check
    score = run.tree.scores[node]
    return run.fallback_value(node) if score is None else score
