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


def test_a_round_does_not_learn_from_a_final_answer_right_by_luck():
    """An arith answer that passes by its final answer alone, not its own computation, fails a round's
    grading (training rows, judge labels, solved shares); eval's grader still passes it."""
    from selfplay.answering.grading import grade
    from selfplay.tasks import Problem

    problem = Problem.create("arith", "Maya makes 7 muffins every day for 3 days. She loses 2 muffins. "
                             "How many muffins does Maya have now?", answer="19")
    lucky = "<<7*3=21>>\n<<201-8=193>>\n#### 19"
    derived = "<<7*3=21>>\n<<21-2=19>>\n#### 19"
    meter = GradeMeter()
    assert grade(problem, lucky).passed  # the grader of record reads the final answer
    verdict = meter.grade(problem, lucky)
    assert not verdict.passed and "not the last computed result 193" in verdict.detail
    assert meter.grade(problem, derived).passed and meter.unlearnable == 1
    assert meter.grade(problem, "#### 19").passed  # no calculator call: nothing to check it against
    assert not meter.grade(problem, "<<7*3=21>>\n#### 20").passed  # a wrong answer stays wrong
