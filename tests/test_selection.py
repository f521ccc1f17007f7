"""Selection on hand-built trees: exact picks, value-then-length order, dedupe, cap, replay, flags, EOS, RM pairs."""
import pytest

from search import Tree
from selfplay.runfiles.runconfig import SelectionConfig
from selfplay.loop.selection import (best_paths, replay_count, replay_rows, select_round, selection_stats,
                                verified_candidates, with_eos)

EOS = "<eos>"


def answer(tree: Tree, parent: int, text: str, *, passed: bool | None, tokens: int = 4, value: float | None = None,
           terminal: bool = True) -> int:
    """Add a step; terminal steps get a verdict (None: ungraded) and optionally one visit with `value`."""
    node = tree.add_node(parent, text, token_count=tokens, logprob=-1.0, terminal=terminal)
    if passed is not None:
        tree.set_verdict(node, passed, float(passed), "passed" if passed else "wrong")
    if value is not None:
        tree.visit_counts[node], tree.value_sums[node] = 2, 2 * value
    return node


def countdown_tree(problem_id: str = "p1") -> tuple[Tree, dict]:
    """Root -> "5+3=8\\n" -> {three answers}, plus a separate one-step answer. Returns (tree, node names)."""
    tree = Tree(strategy="mcts", problem_id=problem_id, task="countdown", round=1)
    first = answer(tree, 0, "5+3=8\n", passed=None, terminal=False)
    nodes = {
        "first": first,
        "long_high": answer(tree, first, "8*3=24", passed=True, tokens=6, value=0.9),
        "short_low": answer(tree, first, "8*3=24 ", passed=True, tokens=2, value=0.5),
        "wrong_best": answer(tree, first, "8+3=11", passed=False, tokens=1, value=1.0),
        "ungraded": answer(tree, first, "8-3=5", passed=None, tokens=1, value=1.0),
        "tie_long": answer(tree, 0, "3*8=24\n", passed=True, tokens=9, value=0.5),
    }
    return tree, nodes


def test_candidates_are_exactly_the_passed_terminals():
    tree, nodes = countdown_tree()
    picked = {candidate.node for candidate in verified_candidates(tree)}
    assert picked == {nodes["long_high"], nodes["short_low"], nodes["tie_long"]}
    by_node = {candidate.node: candidate for candidate in verified_candidates(tree)}
    assert by_node[nodes["long_high"]].text == "5+3=8\n8*3=24"
    assert by_node[nodes["long_high"]].tokens == 4 + 6  # the whole path, the first step included
    assert by_node[nodes["long_high"]].value == pytest.approx(0.9)


def test_best_first_by_value_then_fewer_tokens():
    tree, nodes = countdown_tree()
    order = [candidate.node for candidate in best_paths(tree, cap=10)]
    # 0.9 first; then the two 0.5s: 6 path tokens before 9
    assert order == [nodes["long_high"], nodes["short_low"], nodes["tie_long"]]
    assert [c.node for c in best_paths(tree, cap=1)] == [nodes["long_high"]]


def test_identical_texts_count_once_and_cap_applies_after_dedupe():
    tree = Tree(strategy="sample", problem_id="p", task="countdown")
    twins = [answer(tree, 0, "20-5=15", passed=True, tokens=3) for _ in range(3)]
    other = answer(tree, 0, "5+10=15", passed=True, tokens=3)
    picked = best_paths(tree, cap=2)
    assert [c.text for c in picked] == ["20-5=15", "5+10=15"]
    assert [c.node for c in picked] == [twins[0], other]  # the earliest of the twins
    assert len(best_paths(tree, cap=5)) == 2


def test_selected_flags_mark_exactly_the_chosen_paths_and_clear_old_ones():
    tree, nodes = countdown_tree()
    tree.selected[:] = [True] * len(tree)  # stale flags from an earlier selection
    flagged = tree.with_selected([nodes["long_high"]])
    assert [i for i, flag in enumerate(flagged.selected) if flag] == [nodes["first"], nodes["long_high"]]
    assert flagged.selected[0] is False  # the root (the prompt) is never trained on
    assert tree.selected[0] is True  # the input is not modified
    assert Tree.from_dict(flagged.to_dict()) == flagged  # still a valid tree


def test_completion_ends_in_exactly_one_eos():
    assert with_eos("8*3=24", EOS) == "8*3=24<eos>"
    assert with_eos("8*3=24<eos>", EOS) == "8*3=24<eos>"
    assert with_eos("8*3=24", "") == "8*3=24"


@pytest.mark.parametrize("fresh, share, available, expected", [
    (6, 0.25, 100, 2), (9, 0.5, 100, 9), (9, 0.5, 4, 4), (0, 0.5, 10, 0), (10, 0.0, 10, 0)])
def test_replay_count_makes_the_share(fresh, share, available, expected):
    assert replay_count(fresh, share, available) == expected


def test_replay_draws_earlier_rows_without_duplicating_fresh_ones():
    def row(problem, text, round_index):
        return {"prompt": f"{problem}?\n", "completion": text + EOS, "problem_id": problem, "round": round_index,
                "task": "countdown"}
    fresh = [row(f"new{i}", "1+1=2", 3) for i in range(6)]
    earlier = [row(f"old{i}", "2+2=4", 1) for i in range(10)] + [row("new0", "1+1=2", 2)]  # the last equals a fresh row
    earlier += [row("old0", "2+2=4", 1)]  # a duplicate of a round-1 row, as round 2's replay of it
    drawn = replay_rows(earlier, fresh, 0.25, seed=0, round_index=3)
    assert len(drawn) == 2
    assert all(r["problem_id"].startswith("old") and r["round"] == 1 for r in drawn)
    assert len({(r["problem_id"], r["completion"]) for r in drawn}) == 2
    assert drawn == replay_rows(earlier, fresh, 0.25, seed=0, round_index=3)  # seeded
    assert any(replay_rows(earlier, fresh, 0.25, seed=s, round_index=3) != drawn for s in range(1, 6))


def test_select_round_rows_flags_pairs_and_stats():
    first, nodes = countdown_tree("p1")
    unsolved = Tree(strategy="mcts", problem_id="p0", task="countdown", round=1)
    answer(unsolved, 0, "1+1=2", passed=False)
    prompts = {"p1": "Use 5 3 3 to make 24.\n", "p0": "Use 1 1 to make 7.\n"}
    earlier = [{"prompt": "old?\n", "completion": "9-2=7" + EOS, "problem_id": "old", "round": 1, "task": "countdown"}]
    config = SelectionConfig(max_per_problem=2, replay_share=0.25, rm_pairs_per_problem=8)
    selection = select_round([first, unsolved], prompts, earlier, config, round_index=2, eos_text=EOS, seed=0)
    assert [tree.problem_id for tree in selection.trees] == ["p0", "p1"]  # sorted, whatever the arrival order
    assert selection.rows == [
        {"prompt": prompts["p1"], "completion": "5+3=8\n8*3=24<eos>", "problem_id": "p1", "round": 2,
         "task": "countdown", "tool_spans": []},
        {"prompt": prompts["p1"], "completion": "5+3=8\n8*3=24 <eos>", "problem_id": "p1", "round": 2,
         "task": "countdown", "tool_spans": []},
        earlier[0],  # 2 fresh rows * 0.25 / 0.75 -> 1 replayed row
    ]
    flagged = selection.trees[1].selected
    assert [i for i, flag in enumerate(flagged) if flag] == [nodes["first"], nodes["long_high"], nodes["short_low"]]
    assert not any(selection.trees[0].selected)
    assert not any(first.selected)  # the trees passed in are left as they were
    # p1: 3 distinct correct x 1 wrong (the ungraded answer is no side of a pair); p0 has no correct answer
    assert len(selection.rm_rows) == 3
    assert {row["rejected"] for row in selection.rm_rows} == {"5+3=8\n8+3=11"}
    assert all(row["round"] == 2 and row["task"] == "countdown" for row in selection.rm_rows)
    assert selection.stats == {**selection_stats(selection.trees, selection.rows, selection.rm_rows, 2),
                               "skipped_all_passed": 0}
    assert selection.stats | {"answer_pass_rate": None, "skipped_all_passed": 0} == {
        "problems": 2, "problems_solved": 1, "graded_answers": 5, "verified_answers": 3, "distinct_verified": 3,
        "answer_pass_rate": None, "selected": 2, "replayed": 1, "sft_rows": 3, "selected_nodes": 3, "rm_pairs": 3,
        "skipped_all_passed": 0, "attempt_end_rows": 0, "solved_at_attempt_ends": 0, "hindsight_rows": 0}
    assert selection.stats["answer_pass_rate"] == pytest.approx(3 / 5)


def test_a_problem_every_answer_solves_gives_no_rows_and_tool_output_is_marked():
    solved = Tree(strategy="mcts", problem_id="easy", task="countdown", round=1)
    answer(solved, 0, "<<2*3=6>>", passed=True)
    mixed, _ = countdown_tree("p1")
    prompts = {"easy": "Use 2 3 to make 6.\n", "p1": "Use 5 3 3 to make 24.\n"}
    config = SelectionConfig(max_per_problem=1, replay_share=0.0, skip_all_passed=True)
    selection = select_round([solved, mixed], prompts, [], config, round_index=1, eos_text=EOS, seed=0)
    assert [row["problem_id"] for row in selection.rows] == ["p1"] and selection.stats["skipped_all_passed"] == 1
    kept = select_round([solved], prompts, [], SelectionConfig(replay_share=0.0, skip_all_passed=False),
                        round_index=1, eos_text=EOS, seed=0)
    (row,) = kept.rows
    assert row["completion"] == "<<2*3=6>><eos>" and row["tool_spans"] == [[6, 9]]


def visited_tree() -> tuple[Tree, dict]:
    """An MCTS-like tree: the root weighed three first steps (6, 2 and 0 visits); the verified answer lies below
    the most visited one, a failed answer beside it; the second-best first step has no answer yet."""
    tree = Tree(strategy="mcts", problem_id="v1", task="countdown", round=1)
    names = {"good": answer(tree, 0, "<<5*3=15>> [3 15]\n", passed=None, terminal=False),
             "fair": answer(tree, 0, "<<5+3=8>> [3 8]\n", passed=None, terminal=False),
             "unvisited": answer(tree, 0, "<<3-3=0>>\n", passed=None, terminal=False)}
    names["win"] = answer(tree, names["good"], "<<15+3=18>> [18]", passed=True)
    names["loss"] = answer(tree, names["good"], "<<15-3=12>> [12]", passed=False)
    for node, visits in ((names["good"], 6), (names["fair"], 2), (names["unvisited"], 0), (names["win"], 4),
                         (names["loss"], 2)):
        tree.visit_counts[node] = visits
    tree.visit_counts[0] = 8
    return tree, names


def test_visit_targets_follow_the_childrens_visit_shares_along_the_chosen_path():
    tree, names = visited_tree()
    prompt = "Use 5 3 3 to make 18.\n"
    config = SelectionConfig(max_per_problem=1, replay_share=0.0, targets="visits", visit_copies=4)
    selection = select_round([tree], {"v1": prompt}, [], config, round_index=1, eos_text=EOS, seed=0)
    rows = [(row["prompt"], row["completion"], row["copies"], row["partial"]) for row in selection.rows]
    assert rows == [
        (prompt, "<<5*3=15>> [3 15]\n", 3, True),  # 6/8 of the root's child visits x 4
        (prompt, "<<5+3=8>> [3 8]\n", 1, True),  # 2/8 x 4; the unvisited child gets nothing
        (prompt + "<<5*3=15>> [3 15]\n", "<<15+3=18>> [18]<eos>", 3, False),  # the failed sibling: no row
    ]
    assert [row["tool_spans"] for row in selection.rows] == [[[6, 10]], [[6, 9]], [[7, 11]]]
    path_rows = select_round([tree], {"v1": prompt}, [], SelectionConfig(max_per_problem=1, replay_share=0.0),
                             round_index=1, eos_text=EOS, seed=0).rows
    assert [row["completion"] for row in path_rows] == ["<<5*3=15>> [3 15]\n<<15+3=18>> [18]<eos>"]
    flags = selection.trees[0].selected
    assert [node for node, flag in enumerate(flags) if flag] == [names["good"], names["win"]]  # as with paths


def test_visit_targets_below_unvisited_children_keep_the_path_step():
    tree, _ = visited_tree()
    tree.visit_counts[:] = [0] * len(tree)  # e.g. a rollout's nodes: no visits recorded
    rows = select_round([tree], {"v1": "Q\n"}, [], SelectionConfig(replay_share=0.0, targets="visits"),
                        round_index=1, eos_text=EOS, seed=0).rows
    assert [(row["completion"], row["copies"]) for row in rows] == [("<<5*3=15>> [3 15]\n", 4),
                                                                     ("<<15+3=18>> [18]<eos>", 4)]


def test_partial_rows_end_without_eos_and_copies_repeat():
    from selfplay.loop.finetune import tokenized_row
    from selfplay.builtin_model.tokenizer import build_tokenizer
    tokenizer = build_tokenizer()
    whole = tokenized_row(tokenizer, {"prompt": "Q\n", "completion": "1+1=2\n"})
    partial = tokenized_row(tokenizer, {"prompt": "Q\n", "completion": "1+1=2\n", "partial": True})
    assert whole["input_ids"][-1] == tokenizer.eos_token_id and partial["input_ids"] == whole["input_ids"][:-1]
    assert partial["completion_mask"] == whole["completion_mask"][:-1]


@pytest.mark.parametrize("values, message", [({"targets": "children"}, "selection.targets"),
                                             ({"visit_copies": 0}, "visit_copies")])
def test_visit_target_settings_are_checked(values, message):
    from selfplay.runfiles.runconfig import ConfigError
    with pytest.raises(ConfigError, match=message):
        SelectionConfig(**values)


def test_visit_targets_need_mcts_sampling():
    from selfplay.runfiles.runconfig import ConfigError, load_config
    with pytest.raises(ConfigError, match="needs MCTS"):
        load_config("smoke", ["selection.targets=visits", "sampling.strategy=best_of_n"])
    assert load_config("smoke", ["selection.targets=visits", "sampling.strategy=mcts"]).selection.targets == "visits"
