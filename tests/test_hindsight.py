"""Hindsight: an attempt that missed its target is the verified answer to the problem whose target it reached."""
import pytest

from search import Tree
from selfplay.loop.rounds import relabeled_answers
from selfplay.runfiles.runconfig import ConfigError, SelectionConfig
from selfplay.loop.selection import attempt_stops, select_round, selection_stats
from selfplay.tasks import task_spec
from selfplay.tasks.countdown.spec import countdown_relabel
from selfplay.tasks.countdown import make_problem
from selfplay.tasks.problem import Problem, normalised_key
from selfplay.tasks.splits import DATASETS, held_out_index
from selfplay.tasks.countdown.traces import with_state
from tests.test_passing_attempts import chain  # one sampled answer, a node per line

EOS = "<eos>"
PROBLEM = make_problem([3, 5, 2], 16, use_all=True, level="std3", id="cd-16")


def render(problem: Problem) -> str:
    return problem.prompt + "\n"


def lines_of(numbers: list[int], solution: str) -> list[str]:
    return with_state(numbers, solution).split("\n")


def tree_of(problem: Problem) -> Tree:
    return Tree(strategy="sample", problem_id=problem.id, task=problem.task)


def relabeled_targets(found) -> list[tuple[int, str]]:
    return sorted((int(item.prompt.split(" to make ")[1].split()[0]), item.text) for item in found)


# --- the relabeling rule ---------------------------------------------------------------------------

def test_the_last_attempts_result_becomes_the_target_under_the_same_rule_and_level():
    other = countdown_relabel(PROBLEM, "5*3=15\n15+2=17")
    assert other.meta["numbers"] == [3, 5, 2] and other.meta["target"] == 17
    assert other.meta["use_all"] is True and other.meta["level"] == "std3" and other.meta["hindsight_of"] == PROBLEM.id
    assert other.prompt == "Use 3 5 2 to make 17 with + - * /. Each number exactly once."
    assert other.id == make_problem([3, 5, 2], 17).id  # content names a problem, whoever made it
    easy = make_problem([3, 5, 2], 16)
    assert countdown_relabel(easy, "5*3=15").prompt.endswith("Each number at most once.")


@pytest.mark.parametrize("completion, why", [
    ("5+3=8\n8*2=16", "the problem's own target: that answer is the problem's"),
    ("5-3=2\n2/2=1", "below the level's targets (10-200)"),
    ("5*3=15\n15*20=300", "above the level's targets"),
    ("5-2=3", "a given number is never a target"),
    ("5*3=15\n15+2=17\nretry\n5+2=7\n7+3=10\nretry\n2+3=5\n5*3=15\n15+2=17", "an earlier attempt reached it first"),
    ("retry", "no step"),
    ("5*3=15\nI give up", "the last line is not a step"),
    ("", "nothing"),
])
def test_no_relabeling_where_the_result_is_no_new_target(completion, why):
    assert countdown_relabel(PROBLEM, completion) is None, why


def test_under_the_default_rule_any_earlier_step_that_reached_the_result_rules_it_out():
    easy = make_problem([3, 5, 2], 64)  # each number at most once: the answer could have stopped at any step
    assert countdown_relabel(easy, "5+3=8\n8*2=16\nretry\n5*3=15\n15+2=17").meta["target"] == 17
    assert countdown_relabel(easy, "5*3=15\n15+2=17\nretry\n5*2=10\n10+3=13\nretry\n2+3=5\n5*3=15") is None
    assert countdown_relabel(easy, "5*3=15\n15-2=13\n13+2=15") is None  # 15 already, one step in
    # the standard game ends an answer only when every number is used, so only attempts' ends count
    assert countdown_relabel(PROBLEM, "5*3=15\n15-2=13\nretry\n2*3=6\n6+5=11\nretry\n5*2=10\n10+3=13") is None
    assert countdown_relabel(PROBLEM, "5*3=15\n15-2=13\nretry\n5+3=8\n8*2=16\nretry\n3*5=15\n15+2=17") \
        .meta["target"] == 17


def test_a_problem_without_a_level_takes_the_first_levels_targets():
    unlevelled = make_problem([25, 5, 4], 80)
    assert countdown_relabel(unlevelled, "25*5=125\n125-4=121") is None  # the easy level's targets end at 100
    assert countdown_relabel(unlevelled, "25*4=100").meta["target"] == 100


def test_only_countdown_relabels():
    assert task_spec("countdown").relabel is countdown_relabel
    assert task_spec("arith").relabel is None and task_spec("funcs").relabel is None


# --- which answers the round keeps -----------------------------------------------------------------

def test_every_finished_attempt_of_a_graded_answer_is_a_stop():
    tree = tree_of(PROBLEM)
    failed = chain(tree, lines_of([3, 5, 2], "5*3=15\n15+2=17\nretry\n5-3=2\n2*2=4"), passed=False)
    passed = chain(tree, lines_of([3, 5, 2], "5+2=7\n7*3=21\nretry\n5+3=8\n8*2=16"), passed=True)
    chain(tree, lines_of([3, 5, 2], "2*3=6\n6+5=11\nretry\n5+3=8"), passed=None)  # ungraded: never a stop
    assert attempt_stops(tree, "retry") == [failed[1], failed[4], passed[1], passed[4]]


def test_the_grader_decides_on_the_relabeled_problem():
    tree = tree_of(PROBLEM)
    chain(tree, lines_of([3, 5, 2], "5*3=15\n15+2=17\nretry\n5+2=7\n7*3=21"), passed=False)  # 17 and 21: both true
    chain(tree, ["5*3=15 [2 15]", "15+2=18 [18]"], passed=False)  # false arithmetic claims 18
    chain(tree, ["5*3=15 [2 15]", "15*2=30 [2 30]"], passed=False)  # a false state claims a 2 is still there
    chain(tree, lines_of([3, 5, 2], "5*3=15\n15-2=13\nretry\n5*3=15"), passed=False)  # 15 leaves the 2 unused
    chain(tree, ["5*3=16 [2 16]", "16+2=18 [18]", "retry"] + lines_of([3, 5, 2], "5*2=10\n10+3=13"),
          passed=False)  # 13 is reached, but an abandoned attempt above it is false
    found = relabeled_answers([tree], [PROBLEM], render, {})
    assert relabeled_targets(found) == [
        (13, "5*3=15 [2 15]\n15-2=13 [13]"),
        (17, "5*3=15 [2 15]\n15+2=17 [17]"),
        (21, "5*3=15 [2 15]\n15+2=17 [17]\nretry\n5+2=7 [3 7]\n7*3=21 [21]"),
    ]
    assert all(item.source == PROBLEM.id and item.prompt == render(countdown_relabel(PROBLEM, item.text))
               for item in found)


def test_relabeled_problems_in_a_dev_or_test_split_are_never_kept():
    tree = tree_of(PROBLEM)
    chain(tree, lines_of([3, 5, 2], "5*3=15\n15+2=17\nretry\n5+2=7\n7*3=21"), passed=False)
    held = make_problem([2, 3, 5], 17, use_all=True, id="a-dev-problem")  # same content, another id and order
    found = relabeled_answers([tree], [PROBLEM], render, {normalised_key(held): "datasets/x/dev.jsonl"})
    assert relabeled_targets(found) == [(21, "5*3=15 [2 15]\n15+2=17 [17]\nretry\n5+2=7 [3 7]\n7*3=21 [21]")]


def test_the_held_out_index_covers_every_committed_dev_and_test_file():
    index = held_out_index()
    files = set(index.values())
    assert {"datasets/countdown/hard/test-large.jsonl", "datasets/countdown/std5/dev.jsonl",
            "datasets/arith/hard/test-large.jsonl", "datasets/arith/dev.jsonl", "datasets/countdown/dev.jsonl"} <= files
    assert not any("train" in name or "fixtures" in name for name in files)
    assert DATASETS.name == "datasets" and DATASETS.is_dir()


def test_tasks_without_a_relabel_hook_give_nothing():
    arith = Problem.create("arith", "What is 2 + 3?", answer="5")
    tree = tree_of(arith)
    chain(tree, ["2 + 3 = 6", "#### 6"], passed=False)
    assert relabeled_answers([tree], [arith], render, {}) == []


# --- rows -------------------------------------------------------------------------------------------

def selection_with(trees, problems, config, round_index=1, seed=0):
    found = relabeled_answers(trees, problems, render, {})
    return select_round(trees, {p.id: render(p) for p in problems}, [], config, round_index=round_index,
                        eos_text=EOS, seed=seed, relabeled=found)


def test_rows_name_the_relabeled_problem_and_flag_the_path_they_came_from():
    tree = tree_of(PROBLEM)
    nodes = chain(tree, lines_of([3, 5, 2], "5*3=15\n15+2=17\nretry\n5-3=2\n2*2=4"), passed=False)
    selection = selection_with([tree], [PROBLEM], SelectionConfig(hindsight_rows=10))
    [row] = selection.rows  # 4 is below the level's targets
    other = countdown_relabel(PROBLEM, "5*3=15\n15+2=17")
    assert row == {"prompt": render(other), "completion": "5*3=15 [2 15]\n15+2=17 [17]" + EOS,
                   "problem_id": other.id, "round": 1, "task": "countdown", "hindsight_of": PROBLEM.id,
                   "tool_spans": []}
    assert [node for node, flag in enumerate(selection.trees[0].selected) if flag] == nodes[:2]
    stats = selection_stats(selection.trees, selection.rows, selection.rm_rows, 1)
    assert stats["hindsight_rows"] == 1 and stats["problems_solved"] == 0 and stats["sft_rows"] == 1


def test_each_relabeled_problem_keeps_its_shortest_answer_and_the_cap_holds():
    tree = tree_of(PROBLEM)
    chain(tree, lines_of([3, 5, 2], "5+3=8\n8+2=10\nretry\n5*3=15\n15+2=17"), passed=False)
    chain(tree, lines_of([3, 5, 2], "5*3=15\n15+2=17"), passed=False)  # 17 again, in fewer tokens
    chain(tree, lines_of([3, 5, 2], "5*2=10\n10*3=30\nretry\n3*2=6\n6*5=30"), passed=False)  # 30 only once: first
    rows = selection_with([tree], [PROBLEM], SelectionConfig(hindsight_rows=10)).rows
    assert sorted(row["completion"] for row in rows) == sorted([
        "5+3=8 [2 8]\n8+2=10 [10]" + EOS, "5*3=15 [2 15]\n15+2=17 [17]" + EOS, "5*2=10 [3 10]\n10*3=30 [30]" + EOS])
    capped = [selection_with([tree], [PROBLEM], SelectionConfig(hindsight_rows=2), seed=seed).rows for seed in (0, 0, 1)]
    assert all(len(rows) == 2 for rows in capped) and capped[0] == capped[1]  # seeded


def test_a_relabeled_problem_the_round_posed_is_left_to_its_own_tree():
    posed = make_problem([3, 5, 2], 17, use_all=True, level="std3", id="cd-17")
    tree, own = tree_of(PROBLEM), tree_of(posed)
    chain(tree, lines_of([3, 5, 2], "5*3=15\n15+2=17"), passed=False)
    chain(own, lines_of([3, 5, 2], "5+3=8\n8*2=16\nretry\n5*2=10\n10*3=30"), passed=False)
    rows = selection_with([tree, own], [PROBLEM, posed], SelectionConfig(hindsight_rows=10)).rows
    # 17 and 16 are posed (by content: the ids here are made up), 30 is not
    assert [(row["problem_id"], row["hindsight_of"]) for row in rows] == [(make_problem([2, 3, 5], 30).id, posed.id)]


def test_hindsight_is_off_at_zero_and_under_visit_targets():
    tree = tree_of(PROBLEM)
    chain(tree, lines_of([3, 5, 2], "5*3=15\n15+2=17"), passed=False)
    assert selection_with([tree], [PROBLEM], SelectionConfig(hindsight_rows=0)).rows == []
    assert selection_with([tree], [PROBLEM], SelectionConfig(hindsight_rows=5, targets="visits")).rows == []


def test_the_setting_refuses_a_negative_count():
    with pytest.raises(ConfigError, match="hindsight_rows"):
        SelectionConfig(hindsight_rows=-1)


def test_round_table_counts_the_relabeled_rows_among_the_sft_rows():
    from rich.console import Console

    from selfplay.commands.improve import rounds_table
    from selfplay.runfiles.runconfig import RunConfig

    selection = {"problems": 384, "problems_solved": 134, "sft_rows": 1100, "hindsight_rows": 640}
    console = Console(width=200, record=True)
    console.print(rounds_table([{"round": 1, "selection": selection, "wall_s": 190.0}], RunConfig()))
    assert "1100 (h 640)" in console.export_text()
