"""Selecting a round's training data from its trees: pure functions over `search.Tree`s and rows.

    selection = select_round(trees, prompts, earlier_rows, SelectionConfig(), round_index=2,
                             eos_text="<eos>", seed=0)
    selection.rows       # sft.jsonl: {"prompt", "completion", "problem_id", "round", "task", "tool_spans"}
                         # (+ "attempt_end" or "hindsight_of" where rules 5 and 6 made the row)
    selection.rm_rows    # rm.jsonl: {"prompt", "chosen", "rejected", "problem_id", "round", "task", "kind"}
    selection.trees      # copies of the trees, `selected` flags set on the nodes that became rows

The rules, in order:
1. Candidates are the terminal nodes whose grader verdict passed (verified-correct root-to-leaf
   paths); anything unverified or failed is never training data.
2. Best first: higher node value (the terminal node's mean backed-up value: MCTS visits, the
   answer check of best-of-N, the vote share of majority; 0 when the strategy kept none), then
   fewer path tokens, then shorter text, then the earlier node.
3. Identical path texts count once (the first in that order), then at most `max_per_problem`.
   With `skip_all_passed`, a problem whose every graded answer passed gives no rows: the policy
   already solves it, so it teaches nothing (a problem with no passed answer gives none anyway).
4. With `targets: visits` (MCTS trees only), AlphaZero's policy target replaces the paths: at
   every node on the chosen paths (the root included), each child gets rows in proportion to its
   share of the node's child visits (`visit_copies` rows for a share of 1, rounded half up; a
   row's `copies` says how many, and finetuning repeats it that often; below a node whose
   children have no visits, such as a rollout's, the path's own child gets all of them). The
   prompt is the problem's prompt followed by the path to the node, the completion is the
   child's one step; a child that ended in a failed answer gets none (only verified answers end
   in EOS; the other steps are `partial` rows, trained without EOS). So the policy learns the
   search's preference among the moves it weighed, not only the move it took.
5. Passing attempts (`passing_attempts`, for answers that search in their own text): a failed
   answer that abandoned an attempt (the next step on its path is the `retry` line) may have
   abandoned a right one. `attempt_ends` names those nodes; the caller grades the answer ending
   there with the task's grader (`selfplay.loop.rounds`), and each one that passes is a candidate like
   any verified answer (rule 2 ranks them together): the answer stopped where it should have.
   Its row says `attempt_end: true`. Nothing unverified is added; only the path targets use them.
6. Hindsight (`hindsight_rows` > 0, tasks whose spec can relabel: countdown): every attempt an
   answer finishes reaches some result, and that answer solves the problem whose target is that
   result (hindsight experience replay, Andrychowicz et al. 2017). `attempt_stops` names the
   nodes where a graded answer finishes an attempt; the caller relabels each answer ending there
   (`TaskSpec.relabel`), grades it on the relabeled problem with the grader of record and drops
   problems of the round or of any dev or test split (`selfplay.loop.rounds`). Each relabeled problem
   keeps its answer of fewest tokens; at most `hindsight_rows` of them are drawn, seeded by
   (seed, round). Their rows name the relabeled problem and say `hindsight_of`: the problem whose
   tree holds the answer. Only path targets use them.
7. Replay: rows that earlier rounds selected for themselves (a row's `round` is the round whose
   trees it came from) are drawn, seeded by (seed, round), so that they make `replay_share` of
   the round's rows; a replayed row keeps its original `round`, and never duplicates a fresh row
   (rows are the same when problem, prompt and completion are).

EOS: a step's text leaves special tokens out, so the completion is the path text with the
tokenizer's EOS text appended (`eos_text`, e.g. `<eos>`, or a chat model's end-of-turn token);
the tokenizer reads it back as the one EOS token. TRL appends EOS only where it is missing, so
it is never doubled, and the model learns to stop after a verified answer.

`tool_spans` are the character spans of tool output (calculator results, python output blocks)
in the completion, which finetuning leaves out of the loss.

The `selected` flags mark the steps of each chosen path (the root, the prompt, is never trained
on and stays unflagged) on copies of the trees (`Tree.with_selected`); flags from an earlier
selection of the same trees are not carried over, and the trees passed in are left as they are.

Knows the Tree and the row formats; nothing about models, files or training.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from search import Tree
from selfplay.runfiles.runconfig import SelectionConfig
from selfplay.tools.spans import tool_output_spans
from verifiers.scorer_data import preference_pairs


@dataclass(frozen=True)
class Candidate:
    """A verified-correct complete path of one tree."""

    node: int  # the terminal node it ends at
    text: str  # the steps' texts joined (no EOS)
    value: float  # the terminal node's mean backed-up value
    tokens: int  # policy tokens along the path


@dataclass(frozen=True)
class Relabeled:
    """A verified answer, in one of the round's trees, to a problem the round did not pose (rule 6)."""

    problem_id: str  # the relabeled problem
    prompt: str  # its prompt, as the policy sees it
    source: str  # the round's problem whose tree holds the answer
    node: int  # where the answer ends in that tree
    text: str  # the answer (no EOS)
    tokens: int  # policy tokens along the path


@dataclass
class Selection:
    rows: list[dict]  # sft.jsonl rows: fresh ones first (by problem id), then replayed ones
    rm_rows: list[dict]  # rm.jsonl rows (verified vs failed pairs)
    trees: list[Tree]  # copies of the round's trees, sorted by problem id, `selected` flags set
    stats: dict = field(default_factory=dict)  # `selection_stats` of the above


def _passed(verdict) -> bool:
    return bool(verdict and verdict.get("passed"))


def verified_candidates(tree: Tree) -> list[Candidate]:
    """Every terminal node with a passed verdict, in creation order."""
    return [Candidate(node, tree.answer_text(node), tree.mean_value(node), tree.path_logprob(node)[1])
            for node, passed in tree.graded() if passed]


def rank_key(candidate: Candidate) -> tuple:
    """Sort key, best first: higher value, fewer tokens, shorter text, earlier node.

    >>> candidates = [Candidate(3, "ab", 0.5, 2), Candidate(5, "a", 0.5, 1), Candidate(9, "abc", 0.9, 3)]
    >>> [candidate.node for candidate in sorted(candidates, key=rank_key)]
    [9, 5, 3]
    """
    return (-candidate.value, candidate.tokens, len(candidate.text), candidate.node)


def all_passed(tree: Tree) -> bool:
    """Whether the tree has graded answers and every one of them passed."""
    graded = tree.graded()
    return bool(graded) and all(passed for _, passed in graded)


def attempt_ends(tree: Tree, marker: str) -> list[int]:
    """Nodes at which a failed answer abandoned an attempt: on the path to a failed terminal node,
    each node whose next step is the line `marker`, once each, in creation order.

    >>> tree = Tree(problem_id="p", task="countdown")
    >>> a = tree.add_node(0, "1+2=3\\n", token_count=1, logprob=0.0, terminal=False)
    >>> r = tree.add_node(a, "retry\\n", token_count=1, logprob=0.0, terminal=False)
    >>> b = tree.add_node(r, "1*2=2", token_count=1, logprob=0.0, terminal=True)
    >>> tree.set_verdict(b, False, 0.0, "failed")
    >>> attempt_ends(tree, "retry") == [a]
    True
    """
    return sorted({node for end, passed in tree.graded() if not passed for node in abandoned_on(tree, end, marker)})


def abandoned_on(tree: Tree, end: int, marker: str) -> list[int]:
    """The nodes on the path to `end` (the root aside) whose next step is the line `marker`."""
    path = tree.path_nodes(end)
    return [before for before, after in zip(path[1:], path[2:]) if tree.step_texts[after].strip() == marker]


def attempt_stops(tree: Tree, marker: str) -> list[int]:
    """Nodes at which a graded answer (passed or failed) finishes an attempt: each node whose
    next step on the answer's path is the line `marker`, and the answer's last node; once each,
    in creation order.

    >>> tree = Tree(problem_id="p", task="countdown")
    >>> a = tree.add_node(0, "1+2=3\\n", token_count=1, logprob=0.0, terminal=False)
    >>> r = tree.add_node(a, "retry\\n", token_count=1, logprob=0.0, terminal=False)
    >>> b = tree.add_node(r, "1*2=2", token_count=1, logprob=0.0, terminal=True)
    >>> c = tree.add_node(0, "2*1=2", token_count=1, logprob=0.0, terminal=True)
    >>> tree.set_verdict(b, True, 1.0, "passed")
    >>> attempt_stops(tree, "retry") == [a, b]
    True
    """
    return sorted({node for end, _ in tree.graded() for node in (*abandoned_on(tree, end, marker), end)})


def candidate_at(tree: Tree, node: int, value: float) -> Candidate:
    """The answer that ends at `node` (an attempt's end: its last line without the line break)."""
    return Candidate(node, tree.answer_text(node).rstrip("\n"), value, tree.path_logprob(node)[1])


def best_paths(tree: Tree, cap: int, extra: Sequence[Candidate] = ()) -> list[Candidate]:
    """The tree's best verified paths (with `extra` verified candidates), identical texts once, at most `cap`."""
    chosen, seen = [], set()
    for candidate in sorted([*verified_candidates(tree), *extra], key=rank_key):
        if candidate.text in seen:
            continue
        seen.add(candidate.text)
        chosen.append(candidate)
        if len(chosen) == cap:
            break
    return chosen


def _row_key(row: Mapping) -> tuple[str, str, str]:
    return row["problem_id"], row["prompt"], row["completion"]


def visit_target_rows(tree: Tree, prompt: str, paths: Sequence[int], copies: int, eos_text: str,
                      round_index: int) -> list[dict]:
    """AlphaZero-style step targets (rule 4) for the paths ending at `paths`.

    >>> tree = Tree(problem_id="p", task="countdown")
    >>> a, b, c = (tree.add_node(0, text, token_count=1, logprob=0.0, terminal=False) for text in "abc")
    >>> d = tree.add_node(a, "d", token_count=1, logprob=0.0, terminal=True)
    >>> tree.set_verdict(d, True, 1.0, "passed")
    >>> tree.visit_counts[a:d + 1] = [6, 1, 0, 5]
    >>> [(r["prompt"], r["completion"], r["copies"], r["partial"])
    ...  for r in visit_target_rows(tree, "Q:", [d], 4, "<e>", 1)]
    [('Q:', 'a', 3, True), ('Q:', 'b', 1, True), ('Q:a', 'd<e>', 4, False)]
    """
    rows, done = [], set()
    for end in paths:
        nodes = tree.path_nodes(end)
        for node, on_path in zip(nodes, nodes[1:]):
            if node in done:
                continue
            done.add(node)
            visits = {kid: tree.visit_counts[kid] for kid in tree.children(node)}
            total = sum(visits.values())
            if not total:  # below a node whose children were never visited (a rollout's): the path's own step
                visits, total = {on_path: 1}, 1
            prefix = prompt + tree.answer_text(node)
            for kid, visited in visits.items():
                count = int(copies * visited / total + 0.5)
                terminal = tree.terminal[kid]
                if count < 1 or (terminal and not _passed(tree.verdicts[kid])):
                    continue
                step = with_eos(tree.step_texts[kid], eos_text) if terminal else tree.step_texts[kid]
                rows.append({"prompt": prefix, "completion": step, "problem_id": tree.problem_id,
                             "round": round_index, "task": tree.task, "copies": count, "partial": not terminal,
                             "tool_spans": [list(span) for span in tool_output_spans(step)]})
    return rows


def with_eos(path: str, eos_text: str) -> str:
    """The path text ending in exactly one EOS text.

    >>> with_eos("1+2=3", "<eos>"), with_eos("1+2=3<eos>", "<eos>")
    ('1+2=3<eos>', '1+2=3<eos>')
    """
    return path if not eos_text or path.endswith(eos_text) else path + eos_text


def replay_count(fresh: int, share: float, available: int) -> int:
    """Replay rows so that they are `share` of all rows (at most `available`).

    >>> replay_count(6, 0.25, 100), replay_count(6, 0.25, 1), replay_count(0, 0.5, 9)
    (2, 1, 0)
    """
    if share <= 0 or fresh <= 0:
        return 0
    return min(available, int(share * fresh / (1 - share) + 0.5))


def replay_rows(earlier_rows: Sequence[dict], fresh_rows: Sequence[dict], share: float, seed: int,
                round_index: int) -> list[dict]:
    """Earlier rounds' own selections, drawn to make `share` of the rows, none equal to a fresh row."""
    taken = {_row_key(row) for row in fresh_rows}
    pool = []
    for row in earlier_rows:
        key = _row_key(row)
        if row["round"] < round_index and key not in taken:
            taken.add(key)
            pool.append(row)
    count = replay_count(len(fresh_rows), share, len(pool))
    return random.Random(f"{seed}:{round_index}:replay").sample(pool, count)


def hindsight_picks(relabeled: Sequence[Relabeled], cap: int, posed: set[str], seed: int,
                    round_index: int) -> list[Relabeled]:
    """Rule 6: per relabeled problem not among `posed`, its answer of fewest tokens (then shorter
    text, then source and node); at most `cap` problems, drawn seeded by (seed, round), by problem id.

    >>> r = lambda problem, tokens, node: Relabeled(problem, "Q", "src", node, "x" * tokens, tokens)
    >>> [(p.problem_id, p.node) for p in hindsight_picks([r("b", 5, 1), r("a", 3, 2), r("b", 4, 3), r("c", 1, 4)],
    ...                                                   9, {"c"}, 0, 1)]
    [('a', 2), ('b', 3)]
    >>> len(hindsight_picks([r(str(i), 1, i) for i in range(10)], 4, set(), 0, 1))
    4
    """
    best: dict[str, Relabeled] = {}
    for item in relabeled:
        if item.problem_id in posed:
            continue
        kept = best.get(item.problem_id)
        if kept is None or (item.tokens, len(item.text), item.source, item.node) < \
                (kept.tokens, len(kept.text), kept.source, kept.node):
            best[item.problem_id] = item
    ids = sorted(best)
    if len(ids) > cap:
        ids = sorted(random.Random(f"{seed}:{round_index}:hindsight").sample(ids, cap))
    return [best[problem_id] for problem_id in ids]


def rm_rows(trees: Sequence[Tree], prompts: Mapping[str, str], pairs_per_problem: int, seed: int,
            round_index: int) -> list[dict]:
    """Verified-vs-failed preference pairs (`verifiers.scorer_data.preference_pairs`), as rows."""
    tasks = {tree.problem_id: tree.task for tree in trees}
    pairs = preference_pairs(trees, prompts, max_pairs_per_problem=pairs_per_problem, robustness_copies=False,
                             seed=seed)
    return [{"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected,
             "problem_id": pair.problem_id, "round": round_index, "task": tasks[pair.problem_id], "kind": pair.kind}
            for pair in pairs]


def selection_stats(trees: Sequence[Tree], rows: Sequence[dict], rm: Sequence[dict], round_index: int) -> dict:
    """Counts a round reports about its selection (recomputable from the round's files)."""
    graded = passed = solved = 0
    distinct, solved_ids = set(), set()
    for tree in trees:
        wins = [c.text for c in verified_candidates(tree)]
        graded, passed, solved = graded + len(tree.graded()), passed + len(wins), solved + bool(wins)
        if wins:
            solved_ids.add(tree.problem_id)
        distinct.update((tree.problem_id, text) for text in wins)
    fresh = [row for row in rows if row["round"] == round_index]
    attempt_rows = [row for row in fresh if row.get("attempt_end")]
    hindsight = [row for row in fresh if row.get("hindsight_of")]
    return {"problems": len(trees), "problems_solved": solved, "graded_answers": graded,
            "verified_answers": passed, "distinct_verified": len(distinct),
            "answer_pass_rate": passed / graded if graded else 0.0,
            "selected": len(fresh), "replayed": len(rows) - len(fresh), "sft_rows": len(rows),
            "attempt_end_rows": len(attempt_rows),
            "solved_at_attempt_ends": len({row["problem_id"] for row in attempt_rows} - solved_ids),
            "hindsight_rows": len(hindsight),
            "selected_nodes": sum(sum(tree.selected) for tree in trees), "rm_pairs": len(rm)}


def select_round(trees: Sequence[Tree], prompts: Mapping[str, str], earlier_rows: Sequence[dict],
                 config: SelectionConfig, *, round_index: int, eos_text: str, seed: int,
                 passing_attempts: Mapping[str, Sequence[Candidate]] | None = None,
                 relabeled: Sequence[Relabeled] = ()) -> Selection:
    """The round's SFT rows, RM rows and flagged trees (see the module docstring for the rules);
    `passing_attempts`: per problem id, verified answers that end at an abandoned attempt (rule 5);
    `relabeled`: verified answers to relabeled problems (rule 6)."""
    ordered = sorted(trees, key=lambda tree: tree.problem_id)
    passing_attempts = passing_attempts or {}
    hindsight = hindsight_picks(relabeled, config.hindsight_rows, {tree.problem_id for tree in ordered}, seed,
                                round_index) if config.targets == "path" and config.hindsight_rows else []
    hindsight_nodes: dict[str, list[int]] = {}
    for item in hindsight:
        hindsight_nodes.setdefault(item.source, []).append(item.node)
    fresh, flagged = [], []
    skipped = 0
    for tree in ordered:
        skip = config.skip_all_passed and all_passed(tree)
        skipped += skip
        extra = passing_attempts.get(tree.problem_id, ()) if config.targets == "path" else ()
        picks = [] if skip else best_paths(tree, config.max_per_problem, extra)
        flagged.append(tree.with_selected([pick.node for pick in picks] + hindsight_nodes.get(tree.problem_id, [])))
        if config.targets == "visits":
            fresh.extend(visit_target_rows(tree, prompts[tree.problem_id], [pick.node for pick in picks],
                                           config.visit_copies, eos_text, round_index))
            continue
        for pick in picks:
            completion = with_eos(pick.text, eos_text)
            fresh.append({"prompt": prompts[tree.problem_id], "completion": completion,
                          "problem_id": tree.problem_id, "round": round_index, "task": tree.task,
                          "tool_spans": [list(span) for span in tool_output_spans(completion)]})
            if not tree.terminal[pick.node]:
                fresh[-1]["attempt_end"] = True  # rule 5: the answer ends at a passing abandoned attempt
    tasks = {tree.problem_id: tree.task for tree in ordered}
    for item in hindsight:
        completion = with_eos(item.text, eos_text)
        fresh.append({"prompt": item.prompt, "completion": completion, "problem_id": item.problem_id,
                      "round": round_index, "task": tasks[item.source], "hindsight_of": item.source,
                      "tool_spans": [list(span) for span in tool_output_spans(completion)]})
    rows = fresh + replay_rows(earlier_rows, fresh, config.replay_share, seed, round_index)
    pairs = rm_rows(ordered, prompts, config.rm_pairs_per_problem, seed, round_index)
    stats = {**selection_stats(flagged, rows, pairs, round_index), "skipped_all_passed": skipped}
    return Selection(rows, pairs, flagged, stats)


def refit_rows(earlier_rows: Sequence[dict], rows: Sequence[dict], round_index: int) -> list[dict]:
    """ReST-EM's training set for round K: every round's own verified rows so far (rounds 1..K-1 as
    they selected them, then round K's fresh ones), each (problem, completion) once; replays dropped.

    >>> row = lambda problem, completion, round: {"problem_id": problem, "prompt": "Q", "completion": completion,
    ...                                           "round": round}
    >>> earlier = [row("a", "x", 1), row("b", "y", 1)]
    >>> now = [row("a", "x", 2), row("c", "z", 2), row("b", "y", 1)]
    >>> [(row["problem_id"], row["round"]) for row in refit_rows(earlier, now, 2)]
    [('a', 1), ('b', 1), ('c', 2)]
    """
    chosen, seen = [], set()
    fresh = [row for row in rows if row["round"] == round_index]
    for row in [*earlier_rows, *fresh]:
        key = _row_key(row)
        if key not in seen:
            seen.add(key)
            chosen.append(row)
    return chosen
