"""Passing attempts: a failed answer that searched past a right attempt gives that attempt, graded, as an answer."""
from search import Tree
from selfplay.loop.rounds import passing_attempts
from selfplay.runfiles.runconfig import SelectionConfig
from selfplay.loop.selection import attempt_ends, candidate_at, select_round, selection_stats
from selfplay.tasks.countdown import make_problem
from selfplay.tasks.countdown.traces import with_state

EOS = "<eos>"
PROBLEM = make_problem([3, 5, 2], 16, use_all=True, id="cd-16")


def chain(tree: Tree, lines: list[str], *, passed: bool | None) -> list[int]:
    """One sampled answer, a node per line (steps carry their line break, the last one none)."""
    nodes, parent = [], 0
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        parent = tree.add_node(parent, line if last else line + "\n", token_count=3, logprob=-1.0, terminal=last)
        nodes.append(parent)
    if passed is not None:
        tree.set_verdict(nodes[-1], passed, float(passed), "passed" if passed else "wrong")
    return nodes


def answer_lines(solution: str) -> list[str]:
    return with_state(PROBLEM.meta["numbers"], solution).split("\n")


def test_attempt_ends_are_the_nodes_before_a_retry_on_failed_paths_only():
    tree = Tree(strategy="sample", problem_id=PROBLEM.id, task="countdown")
    failed = chain(tree, answer_lines("5+3=8\n8*2=16\nretry\n5*3=15\n15+2=17\nretry\n5-3=2\n2*2=4"), passed=False)
    passed = chain(tree, answer_lines("5*3=15\n15+2=17\nretry\n5+3=8\n8*2=16"), passed=True)
    ungraded = chain(tree, answer_lines("5+2=7\n7*3=21\nretry\n3*2=6"), passed=None)
    assert attempt_ends(tree, "retry") == [failed[1], failed[4]]  # not the passed answer's, not the ungraded one's
    assert passed and ungraded
    candidate = candidate_at(tree, failed[1], 1.0)
    assert candidate.text == "5+3=8 [2 8]\n8*2=16 [16]" and candidate.tokens == 6


def test_only_attempts_the_grader_passes_become_candidates():
    tree = Tree(strategy="sample", problem_id=PROBLEM.id, task="countdown")
    right_then_wrong = chain(tree, answer_lines("5+3=8\n8*2=16\nretry\n5*3=15\n15+2=17"), passed=False)
    chain(tree, answer_lines("5*3=15\n15+2=17\nretry\n5-3=2\n2*2=4"), passed=False)  # no attempt makes 16
    # 16 with a number left over: the standard game uses every number, so this attempt does not pass
    short = make_problem([3, 5, 2, 1], 16, use_all=True, id="cd-16-four")
    lines = with_state([3, 5, 2, 1], "5+3=8\n8*2=16\nretry\n5*3=15\n15+2=17\n17-1=16").split("\n")
    unused = Tree(strategy="sample", problem_id=short.id, task="countdown")
    chain(unused, lines[:-1] + ["17+1=18 [18]"], passed=False)
    found = passing_attempts([tree, unused], [PROBLEM, short])
    assert list(found) == [PROBLEM.id]
    assert [candidate.node for candidate in found[PROBLEM.id]] == [right_then_wrong[1]]


def test_a_false_attempt_is_never_a_candidate():
    """The abandoned attempt claims 16 with a false step: the grader, not the text, decides."""
    tree = Tree(strategy="sample", problem_id=PROBLEM.id, task="countdown")
    chain(tree, ["5+3=8 [2 8]", "8*3=16 [16]", "retry", "5*3=15 [2 15]", "15+2=17 [17]"], passed=False)
    chain(tree, ["5+3=8 [2 8]", "8*2=16 [2 16]", "retry", "5*3=15 [2 15]", "15+2=17 [17]"], passed=False)
    assert passing_attempts([tree], [PROBLEM]) == {}


def test_selection_trains_on_the_attempt_with_eos_and_counts_it():
    tree = Tree(strategy="sample", problem_id=PROBLEM.id, task="countdown")
    failed = chain(tree, answer_lines("5*3=15\n15+2=17\nretry\n5+3=8\n8*2=16\nretry\n5-3=2\n2*2=4"), passed=False)
    chain(tree, answer_lines("5*3=15\n15+2=17"), passed=False)
    found = passing_attempts([tree], [PROBLEM])
    selection = select_round([tree], {PROBLEM.id: "Q:"}, [], SelectionConfig(), round_index=1, eos_text=EOS, seed=0,
                             passing_attempts=found)
    [row] = selection.rows
    assert row["completion"] == "5*3=15 [2 15]\n15+2=17 [17]\nretry\n5+3=8 [2 8]\n8*2=16 [16]" + EOS
    assert row["attempt_end"] is True
    flagged = selection.trees[0].selected
    assert [node for node, flag in enumerate(flagged) if flag] == failed[:5]
    stats = selection_stats(selection.trees, selection.rows, selection.rm_rows, 1)
    assert stats["problems_solved"] == 0  # whole answers: none passed
    assert stats["attempt_end_rows"] == 1 and stats["solved_at_attempt_ends"] == 1


def test_a_shorter_passing_attempt_outranks_a_longer_passing_answer_and_visits_targets_ignore_them():
    tree = Tree(strategy="sample", problem_id=PROBLEM.id, task="countdown")
    failed = chain(tree, answer_lines("5+3=8\n8*2=16\nretry\n5*3=15\n15+2=17"), passed=False)
    chain(tree, answer_lines("5*3=15\n15+2=17\nretry\n5-3=2\n2+2=4\nretry\n5+3=8\n8*2=16"), passed=True)
    found = passing_attempts([tree], [PROBLEM])
    config = SelectionConfig(max_per_problem=1)
    [row] = select_round([tree], {PROBLEM.id: "Q:"}, [], config, round_index=1, eos_text=EOS, seed=0,
                         passing_attempts=found).rows
    assert row["completion"] == "5+3=8 [2 8]\n8*2=16 [16]" + EOS and row["attempt_end"]
    assert failed[1] == found[PROBLEM.id][0].node
    visits = SelectionConfig(max_per_problem=1, targets="visits")
    rows = select_round([tree], {PROBLEM.id: "Q:"}, [], visits, round_index=1, eos_text=EOS, seed=0,
                        passing_attempts=found).rows
    assert rows and not any(row.get("attempt_end") for row in rows)


def test_round_table_shows_problems_only_attempt_ends_solved():
    from rich.console import Console

    from selfplay.commands.improve import rounds_table
    from selfplay.runfiles.runconfig import RunConfig

    selection = {"problems": 384, "problems_solved": 134, "solved_at_attempt_ends": 31, "sft_rows": 242}
    console = Console(width=200, record=True)
    console.print(rounds_table([{"round": 1, "selection": selection, "wall_s": 190.0}], RunConfig()))
    assert "134/384 +31" in console.export_text()
