"""Monte Carlo tree search over reasoning steps, with PUCT selection (AlphaZero style).

    result = mcts(policy, prompt_text, SearchConfig(num_simulations=32, expansions_per_node=4), seed=0,
                  budget=Budget.from_answers(16, 120), scorer=value_model, answer_check=check)

One simulation:

1. select: from the root, follow the in-tree child of highest `puct_score` until a node that is
   due an expansion, or one that cannot grow (a finished answer, or the depth cap). A node is
   due its first expansion when it has none, and another (progressive widening: the policy's
   step space is open, so more samples can find steps the first ones missed) each time its
   visits pass (k-1)**2 * `widening_visits` for its k-th (`expansions_due`), or when all its
   children are settled (`settled`: ruled out by the answer check's prefix test, or finished
   answers the check has valued), which are never selected, since revisiting them costs a
   simulation and tells nothing new.
2. expand: sample `expansions_per_node` next steps of that node in ONE policy call; a step text
   it already has as a child makes no new child. Priors of all its children are the softmax of
   their step log-probs at `prior_temperature`.
3. evaluate: all new children at once (`SearchRun.evaluate`: a finished answer with an answer
   check is worth the check's value, so failing answers are worth 0 and passing ones 1; the
   rest the scorer's value, else the path's mean token probability). With `rollouts`, each
   new unfinished child is instead sampled on to an answer (all rollouts advance together, one
   policy call per step) and is worth that answer's value.
4. backup: each new child gets one visit with its value; every node on the selected path gets
   one visit per new child and the sum of their values. An expansion of a node whose children
   are all settled that brings no new step is fruitless: the path gets one visit of value 0, so
   the search turns to other branches.

A selected node that cannot grow is not expanded: its mean value is backed up once more.

Visit counts, exactly: for every in-tree node n, visit_counts[n] = sum of its in-tree children's
visit_counts + the number of times n's own value was backed up (once when it was created, plus
once per selection of n as a node that cannot grow, plus a 0 per fruitless expansion of n). The root is never valued itself, so its
visits are its children's sum. Rollout nodes (flag `rollout`) sit outside the search: they are
never selected; a rollout's final node records one visit with the value it gave.

The answer (`choose_answer`): the finished answer with the best positive answer-check value if
the check passed any (ties: more visits, then earlier); otherwise follow the most visited child
from the root (ties: higher mean value, then earlier) to a finished answer; if that walk stops
short of one, the finished answer of highest mean value; else none.

The search stops after `num_simulations`, as soon as a model call does not fit the budget, or
(with `stop_at_pass`) once a finished answer passes the answer check.

Knows the protocols, `SearchRun` and the choice math; nothing about models or tasks.
"""
from __future__ import annotations

import math

from search.budget import Budget
from search.config import SearchConfig
from search.protocols import AnswerCheck, AnswerKey, Scorer, StepPolicy
from search.run import SearchResult, SearchRun
from search.choice_math import best_index, puct_score, sibling_priors
from search.tree import ROOT_INDEX, Tree


def search_children(tree: Tree, node: int) -> list[int]:
    """`node`'s children inside the search (rollout nodes left out)."""
    return [child for child in tree.children(node) if not tree.rollout[child]]


def expansions_due(visit_count: int, widening_visits: int) -> int:
    """Expansions a node with `visit_count` visits is due: the k-th after (k-1)**2 * widening_visits visits.

    Sub-linear (progressive widening): a much-visited node keeps getting new steps, ever more rarely.

    >>> [expansions_due(visits, 8) for visits in (0, 7, 8, 31, 32, 72)], expansions_due(100, 0)
    ([1, 1, 2, 2, 3, 4], 1)
    """
    if not widening_visits:
        return 1
    return 1 + math.isqrt(visit_count // widening_visits)


def select_child(tree: Tree, node: int, c_puct: float, children: list[int] | None = None) -> int:
    """The in-tree child (among `children`, default all) of highest PUCT score (ties: the earliest created)."""
    children = search_children(tree, node) if children is None else children
    scores = [(puct_score(tree.priors[child], tree.visit_counts[child], tree.value_sums[child],
                          tree.visit_counts[node], c_puct),) for child in children]
    return children[best_index(scores)]


def settled(run: SearchRun, node: int) -> bool:
    """Whether revisiting `node` can teach the search nothing: ruled out by the prefix check,
    or a finished answer the answer check has valued."""
    return node in run.dead or (run.tree.terminal[node] and run.tree.answer_checks[node] is not None)


def select_path(run: SearchRun, expansion_counts: dict[int, int]) -> list[int]:
    """Nodes from the root down to the node this simulation will expand or revalue."""
    tree, config = run.tree, run.config
    path = [ROOT_INDEX]
    while run.can_grow(path[-1]):
        node = path[-1]
        if expansion_counts.get(node, 0) < expansions_due(tree.visit_counts[node], config.widening_visits):
            break
        path.append(select_child(tree, node, config.c_puct))
    return path


def set_priors(tree: Tree, node: int, temperature: float) -> None:
    """Priors of `node`'s in-tree children: softmax of their step log-probs."""
    children = search_children(tree, node)
    for child, prior in zip(children, sibling_priors([tree.logprobs[c] for c in children], temperature)):
        tree.priors[child] = prior


def backup(tree: Tree, path: list[int], values: list[float]) -> None:
    """Add one visit per value, and the values, to every node on `path`."""
    for node in path:
        tree.visit_counts[node] += len(values)
        tree.value_sums[node] += sum(values)


def rollout_values(run: SearchRun, children: list[int]) -> list[float] | None:
    """Each child's value, from sampling unfinished children on to an answer; None: budget ran out."""
    ends = list(children)
    while live := [index for index, node in enumerate(ends) if run.can_grow(node)]:
        grown = run.expand([ends[index] for index in live], 1, rollout=True, purpose="rollout")
        if len(grown) < len(live):
            return None
        for index, node_children in zip(live, grown):
            ends[index] = node_children[0]
    values = run.evaluate(ends)
    if values is None:
        return None
    for child, end, value in zip(children, ends, values):
        if end != child:
            run.tree.visit_counts[end] = 1
            run.tree.value_sums[end] = value
    return values


def simulate(run: SearchRun, expansion_counts: dict[int, int]) -> bool:
    """One select-expand-evaluate-backup round; False when the budget stopped it."""
    tree, config = run.tree, run.config
    path = select_path(run, expansion_counts)
    leaf = path[-1]
    if not run.can_grow(leaf):
        backup(tree, path, [tree.mean_value(leaf)])
        return True
    done = expansion_counts.get(leaf, 0)
    grown = run.expand([leaf], config.expansions_per_node, merge_duplicates=True, purpose=f"expand:{done}")
    if not grown:
        return False
    expansion_counts[leaf] = done + 1
    children = grown[0]
    if not children and all(settled(run, child) for child in search_children(tree, leaf)):
        backup(tree, path, [0.0])  # fruitless: new samples only repeated settled steps
        return True
    set_priors(tree, leaf, config.prior_temperature)
    values = rollout_values(run, children) if config.rollouts else run.evaluate(children)
    if values is None:
        return False
    for child, value in zip(children, values):
        tree.visit_counts[child] = 1
        tree.value_sums[child] = value
    backup(tree, path, values)
    return True


def choose_answer(tree: Tree) -> int | None:
    """The answer node by the rule in the module docstring, or None when no answer finished."""
    finished = tree.terminals()
    passed = [node for node in finished if (tree.answer_checks[node] or 0.0) > 0.0]
    if passed:
        return passed[best_index([(tree.answer_checks[node], tree.visit_counts[node], -node) for node in passed])]
    node = ROOT_INDEX
    while visited := [child for child in search_children(tree, node) if tree.visit_counts[child] > 0]:
        node = visited[best_index([(tree.visit_counts[c], tree.mean_value(c), -c) for c in visited])]
    if tree.terminal[node]:
        return node
    if not finished:
        return None
    return finished[best_index([(tree.mean_value(n), tree.visit_counts[n], -n) for n in finished])]


def mcts(policy: StepPolicy, prompt_text: str, config: SearchConfig, *, seed: int, budget: Budget | None = None,
         scorer: Scorer | None = None, answer_check: AnswerCheck | None = None,
         answer_key: AnswerKey | None = None) -> SearchResult:
    """PUCT tree search; see the module docstring."""
    run = SearchRun("mcts", policy, prompt_text, config, seed=seed, budget=budget, scorer=scorer,
                    answer_check=answer_check)
    expansion_counts: dict[int, int] = {}  # policy calls made on each node
    for _ in range(config.num_simulations):
        if not simulate(run, expansion_counts) or (config.stop_at_pass and run.pass_found):
            break
    return run.finish(choose_answer(run.tree), run.tree.terminals())
