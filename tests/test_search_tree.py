"""The search tree: struct-of-arrays growth, paths, flags, and the versioned dict form."""
import json

import pytest

from search.tree import FORMAT, NO_PARENT, ROOT_INDEX, Tree, TreeFormatError


def small_tree() -> Tree:
    """root ─ 1 "12+3=15\\n" ─ 3 "#### 15" (terminal)
            └ 2 "12*3=36\\n" ─ 4 "#### 36" (terminal)"""
    tree = Tree(strategy="beam", problem_id="p1", task="arith", round=2)
    first = tree.add_node(ROOT_INDEX, "12+3=15\n", token_count=6, logprob=-1.0, terminal=False, prior=0.7)
    second = tree.add_node(ROOT_INDEX, "12*3=36\n", token_count=6, logprob=-2.0, terminal=False, prior=0.3)
    tree.add_node(first, "#### 15", token_count=3, logprob=-0.5, terminal=True, finish_reason="eos")
    tree.add_node(second, "#### 36", token_count=3, logprob=-0.1, terminal=True, finish_reason="eos")
    return tree


def test_nodes_are_numbered_in_creation_order_with_parents_and_depths():
    tree = small_tree()
    assert len(tree) == 5
    assert tree.parents == [NO_PARENT, 0, 0, 1, 2]
    assert tree.depths == [0, 1, 1, 2, 2]
    assert tree.children(ROOT_INDEX) == [1, 2] and tree.children(1) == [3] and tree.children(3) == []
    assert tree.leaves() == [3, 4] and tree.terminals() == [3, 4]


def test_paths_and_answer_text_join_the_steps_from_the_root():
    tree = small_tree()
    assert tree.path_nodes(4) == [0, 2, 4]
    assert tree.path_to(4) == ["12*3=36\n", "#### 36"]
    assert tree.answer_text(4) == "12*3=36\n#### 36"
    assert tree.answer_text(ROOT_INDEX) == "" and tree.path_to(ROOT_INDEX) == []
    assert tree.path_logprob(4) == (-2.1, 9)


def test_mark_chosen_flags_exactly_one_path():
    tree = small_tree()
    tree.mark_chosen(3)
    assert tree.chosen == [True, True, False, True, False] and tree.chosen_node() == 3
    tree.mark_chosen(4)
    assert tree.chosen == [True, False, True, False, True] and tree.chosen_node() == 4
    assert Tree().chosen_node() is None


def test_mean_value_and_verdicts():
    tree = small_tree()
    assert tree.mean_value(1) == 0.0
    tree.visit_counts[1], tree.value_sums[1] = 4, 3.0
    assert tree.mean_value(1) == 0.75
    tree.set_verdict(3, passed=True, score=1, status="passed")
    assert tree.verdicts[3] == {"passed": True, "score": 1.0, "status": "passed"}


def test_add_node_refuses_a_missing_parent():
    with pytest.raises(IndexError):
        Tree().add_node(5, "x", token_count=1, logprob=0.0, terminal=True)


def test_to_dict_round_trips_through_json():
    tree = small_tree()
    tree.visit_counts[:] = [2, 1, 1, 1, 1]
    tree.value_sums[:] = [1.0, 1.0, 0.0, 1.0, 0.0]
    tree.scores[1], tree.answer_checks[3] = 0.8, 1.0
    tree.set_verdict(4, False, 0.0, "wrong")
    tree.mark_chosen(3)
    tree.selected[3] = True
    data = json.loads(json.dumps(tree.to_dict()))
    assert data["format"] == FORMAT == "selfplay.tree/1"
    assert (data["problem_id"], data["task"], data["round"], data["strategy"]) == ("p1", "arith", 2, "beam")
    assert data["parents"] == [-1, 0, 0, 1, 2] and data["step_texts"][3] == "#### 15"
    back = Tree.from_dict(data)
    assert back.to_dict() == tree.to_dict()
    assert back.children(ROOT_INDEX) == [1, 2] and back.answer_text(3) == "12+3=15\n#### 15"
    back.add_node(3, "more", token_count=1, logprob=0.0, terminal=True)  # a read tree can grow
    assert back.children(3) == [5]


def test_to_dict_is_a_copy():
    tree = small_tree()
    tree.set_verdict(3, True, 1.0, "passed")
    data = tree.to_dict()
    data["parents"].append(99)
    data["verdicts"][3]["passed"] = False
    assert len(tree.parents) == 5 and tree.verdicts[3]["passed"] is True


def test_another_format_version_is_refused_clearly():
    data = small_tree().to_dict()
    data["format"] = "selfplay.tree/2"
    with pytest.raises(TreeFormatError, match=r"'selfplay.tree/2' is not supported.*selfplay.tree/1"):
        Tree.from_dict(data)
    with pytest.raises(TreeFormatError, match="None is not supported"):
        Tree.from_dict({key: value for key, value in small_tree().to_dict().items() if key != "format"})


@pytest.mark.parametrize("damage, message", [
    (lambda data: data["depths"].pop(), "differ in length"),
    (lambda data: data.pop("priors"), "missing node fields"),
    (lambda data: data.update(colour="red"), "unknown tree fields"),
    (lambda data: data["parents"].__setitem__(2, 3), "earlier node"),
    (lambda data: data["parents"].__setitem__(0, 0), "root"),
])
def test_inconsistent_dicts_are_refused(damage, message):
    data = small_tree().to_dict()
    damage(data)
    with pytest.raises(TreeFormatError, match=message):
        Tree.from_dict(data)
