"""GradeMeter: the grader of record with a count of sandbox runs, each program graded once."""
from selfplay.loop.grade_meter import GradeMeter
from selfplay.answering.grading import grade
from selfplay.tasks.funcs import pipes as func_pipes
from selfplay.tasks.countdown import make_problem


def test_programs_are_counted_and_graded_once_per_problem():
    first, second = func_pipes.generate(2, seed=0, level="pipes")
    meter = GradeMeter()
    right = f"```python\n{first.meta['solution']}```"
    verdicts = [meter.grade(first, right), meter.grade(first, first.meta["solution"]),
                meter.grade(first, "def f(xs):\n    return []\n"), meter.grade(second, first.meta["solution"])]
    assert [v.passed for v in verdicts] == [True, True, False, grade(second, first.meta["solution"]).passed]
    assert meter.runs == 3 and meter.reused == 1 and meter.seconds > 0


def test_answers_that_are_not_programs_cost_no_sandbox_run():
    meter = GradeMeter()
    assert meter.grade(make_problem([3, 5, 8], 16), "3+5=8\n8+8=16").passed
    assert meter.runs == 0 and meter.seconds == 0.0
