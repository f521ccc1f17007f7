"""The search tree: struct-of-arrays growth, paths, flags, and the versioned dict form."""
import json

import pytest

from search.strategies import STRATEGIES
from search.tree import FORMAT, LOOP_FIELDS, NO_PARENT, ROOT_INDEX, Tree, TreeFormatError


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


# One stored line of a real round's trees file (MCTS, countdown, round 1), as the run wrote it: verdicts,
# `selected` flags, tool calls and floats whose shortest repr is long.
STORED = ('{"format":"selfplay.tree/1","problem_id":"countdown-98bcf5a8b4322b94","task":"countdown","round":1,'
          '"strategy":"mcts","parents":[-1,0,0,0],"depths":[0,1,1,1],"step_texts":["","<<23-5=18>>",'
          '"<<23*9=207>>\\n","<<23-6=17>>"],"token_counts":[0,12,13,12],"logprobs":[0.0,-2.4476350989571074,'
          '-8.318053698851145,-2.377073663446936],"priors":[1.0,0.4817113037410975,0.00135924089682542,'
          '0.5169294553620771],"visit_counts":[3,1,1,1],"value_sums":[1.0,1.0,0.0,0.0],"scores":[null,null,null,null],'
          '"answer_checks":[null,1.0,0.0,0.0],"verdicts":[null,{"passed":true,"score":1.0,"status":"passed"},null,'
          '{"passed":false,"score":0.0,"status":"wrong"}],"finish_reasons":["","eos","delimiter","eos"],'
          '"terminal":[false,true,false,true],"rollout":[false,false,false,false],"chosen":[true,true,false,false],'
          '"selected":[false,true,false,false],"tool_calls":[[],[{"tool":"calculator","input":"23-5","output":"18>>",'
          '"status":"ok","wall_s":6.0318999658193206e-05,"start":7}],[{"tool":"calculator","input":"23*9",'
          '"output":"207>>","status":"ok","wall_s":1.5021999843156664e-05,"start":7}],[{"tool":"calculator",'
          '"input":"23-6","output":"17>>","status":"ok","wall_s":9.784000212675892e-06,"start":7}]]}')


@pytest.mark.parametrize("line", [STORED, json.dumps(small_tree().to_dict(), separators=(",", ":"))],
                         ids=["stored-with-tools", "without-tools"])
def test_a_stored_line_reads_and_writes_back_byte_for_byte(line):
    tree = Tree.from_dict(json.loads(line))
    assert json.dumps(tree.to_dict(), separators=(",", ":")) == line
    again = tree.with_selected([node for node, flag in enumerate(tree.selected) if flag])
    assert json.dumps(again.to_dict(), separators=(",", ":")) == line  # selecting the same nodes again changes nothing


def test_graded_and_subtree_counts_read_the_verdicts():
    tree = Tree.from_dict(json.loads(STORED))
    assert tree.graded() == [(1, True), (3, False)]  # node 2 is no answer: not terminal, no verdict
    assert tree.subtree_counts() == [(1, 2), (1, 1), (0, 0), (0, 1)]
    assert tree.chosen_node() == 1 and tree.with_selected([3]).selected == [False, False, False, True]
    assert tree.selected == [False, True, False, False]  # with_selected leaves the tree as it was


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_no_strategy_sets_the_loop_fields(name):
    from search import SearchConfig
    from tests.test_search_fakes import bandit_policy

    config = SearchConfig(num_samples=3, num_simulations=4, beam_width=2, max_depth=3, max_step_tokens=2)
    tree = STRATEGIES[name](bandit_policy(2, 2), "q", config, seed=0, answer_check=lambda text: 1.0,
                            answer_key=lambda text: text).tree
    assert len(tree) > 1 and any(tree.terminal)
    empty = {"problem_id": None, "task": None, "round": None, "verdicts": [None] * len(tree),
             "selected": [False] * len(tree)}
    assert {name: getattr(tree, name) for name in LOOP_FIELDS} == empty  # the caller's to fill in


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


CALL = {"tool": "calculator", "input": "12+3", "output": "15>>", "status": "ok", "wall_s": 0.001, "start": 7}


def tool_tree() -> Tree:
    """root ─ 1 "<<12+3=15>>\\n" (a calculator call) ─ 2 "#### 15" (terminal)"""
    tree = Tree(strategy="greedy")
    first = tree.add_node(ROOT_INDEX, "<<12+3=15>>\n", token_count=12, logprob=-1.0, terminal=False, tool_calls=[CALL])
    tree.add_node(first, "#### 15", token_count=7, logprob=-0.5, terminal=True)
    return tree


def test_tool_calls_round_trip_and_place_their_output_in_the_answer():
    tree = tool_tree()
    data = json.loads(json.dumps(tree.to_dict()))
    assert data["tool_calls"] == [[], [CALL], []]
    back = Tree.from_dict(data)
    assert back.tool_calls == [[], [CALL], []] and back.to_dict() == tree.to_dict()
    (start, end), = back.tool_spans(2)
    assert back.answer_text(2)[start:end] == "15>>" and (start, end) == (7, 11)
    assert back.tool_spans(ROOT_INDEX) == []
    back.add_node(1, "<<15*2=30>>", token_count=11, logprob=0.0, terminal=True,
                  tool_calls=[dict(CALL, input="15*2", output="30>>")])
    assert back.tool_spans(3) == [(7, 11), (19, 23)] and back.answer_text(3)[19:23] == "30>>"


def test_a_tree_without_tool_calls_stores_none_and_an_old_tree_reads_as_none():
    data = small_tree().to_dict()
    assert "tool_calls" not in data  # trees of tool-less runs are written exactly as before
    old = {key: value for key, value in tool_tree().to_dict().items() if key != "tool_calls"}
    assert Tree.from_dict(old).tool_calls == [[], [], []]
    assert Tree.from_dict(old).tool_spans(2) == []


@pytest.mark.parametrize("tool_calls, message", [
    ([[], [CALL]], "differ in length"),
    ([[], ["15>>"], []], "tool_calls must hold"),
    ([[], [{"tool": "calculator"}], []], "tool_calls must hold"),
    ({"1": [CALL]}, "tool_calls must hold"),
])
def test_damaged_tool_calls_are_refused(tool_calls, message):
    data = tool_tree().to_dict()
    data["tool_calls"] = tool_calls
    with pytest.raises(TreeFormatError, match=message):
        Tree.from_dict(data)


def test_a_search_records_the_tool_calls_of_the_policy_steps():
    from dataclasses import dataclass

    from search import SearchConfig
    from search.sampling import greedy

    @dataclass
    class Call:
        start: int

        def to_dict(self):
            return dict(CALL, start=self.start)

    @dataclass
    class Step:
        text: str
        terminal: bool
        tool_calls: tuple
        logprob: float = -1.0
        n_tokens: int = 4
        finish_reason: str = "delimiter"
        state: tuple = ()

    class ToolPolicy:
        reuse_cache, usage = True, type("Usage", (), {"total_tokens": 0})()

        def root(self, prompt_text):
            return ()

        def expand(self, states, num_samples, **knobs):
            return [[Step("#### 15" if state else "<<12+3=15>>\n", bool(state), () if state else (Call(7),),
                          state=state + ("step",))] * num_samples for state in states]

    tree = greedy(ToolPolicy(), "12+3?\n", SearchConfig(max_depth=4), seed=0).tree
    assert tree.tool_calls == [[], [CALL], []] and tree.tool_spans(2) == [(7, 11)]
