"""Tool calls at answer time: a failed call rules its path out of deliberate search."""
from selfplay.answering.deliberate import ToolFailureCheck, deliberate, last_tool_call_failed
from selfplay.tasks.countdown.spec import CountdownCheck
from tests.test_deliberate_compare import ARITH, TaskFakePolicy
from tests.test_search_fakes import Option

PYTHON_FAILED = "```python\nprint(3 * 4\n```\n```output\nerror: SyntaxError: '(' was never closed\n```\n"
PYTHON_OK = "```python\nprint(3 * 4)\n```\n```output\n12\n```\n"


def test_the_last_call_decides():
    assert last_tool_call_failed(PYTHON_FAILED) and not last_tool_call_failed(PYTHON_OK)
    assert not last_tool_call_failed(PYTHON_FAILED + PYTHON_OK)  # the model ran a fixed program after
    assert last_tool_call_failed(PYTHON_OK + "<<3/0=error: division by zero>>\n")
    assert not last_tool_call_failed("error: no call here\n") and not last_tool_call_failed("")


def test_a_failed_call_rules_out_a_countdown_path_and_the_rules_decide_the_rest():
    check = ToolFailureCheck(CountdownCheck((22, 4, 7), 88))
    assert check("22*4=88") == 1.0 and check("7+4=11") == 0.0
    assert check(PYTHON_FAILED + "22*4=88") == 0.0
    assert check.prefix(PYTHON_FAILED) == 0.0 and check.prefix("22*4=88\n") is None
    bare = ToolFailureCheck()  # arith: no check of its own
    assert bare.prefix(PYTHON_FAILED) == 0.0 and bare.prefix(PYTHON_OK) is None
    assert bare(PYTHON_FAILED + "#### 12") is None  # a whole answer still gets no value


def voting_policy(with_tools: bool):
    """Two answers of 7 whose calculator calls failed, one of 12 whose call worked."""
    def options(steps):
        return [Option("<<3+4=error: x>>\n#### 7", -0.5, n_tokens=6, terminal=True),
                Option("<<3*4=12>>\n#### 12", -1.0, n_tokens=6, terminal=True),
                Option("<<4+3=error: x>>\n#### 7", -0.6, n_tokens=6, terminal=True)] if not steps else []

    class Scripted(TaskFakePolicy):
        tools = object() if with_tools else None

        def _choose(self, state, options, count, temperature, seed):
            return [i % 3 for i in range(count)]

    return Scripted(options)


def test_an_answer_whose_call_failed_casts_no_vote_when_tools_are_on():
    assert deliberate(voting_policy(with_tools=False), ARITH, "majority", 3).result.answer_text.endswith("#### 7")
    outcome = deliberate(voting_policy(with_tools=True), ARITH, "majority", 3)
    assert outcome.verdict.passed and outcome.result.answer_text == "<<3*4=12>>\n#### 12"
