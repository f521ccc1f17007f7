"""Tools the policy calls mid-answer: the calculator's exact arithmetic and bounds, the toolbox's
call detection, and forced tool output inside the batched, cache-sharing decode loop."""
import pytest
import torch

from selfplay.model.policy import Policy
from selfplay.builtin_model.tokenizer import build_tokenizer
from selfplay.tools import ToolCall, Toolbox, parse_tool_names
from selfplay.tools.catalog import make_toolbox
from selfplay.tools.calculator import evaluate
from tests.tiny_models import tiny_llama

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("expression, value", [
    ("48/2", "24"), ("25-5", "20"), ("3*4+2", "14"), ("(3+4)*2", "14"), ("7/2", "3.5"), ("1/3", "1/3"),
    ("-3-4", "-7"), ("0.1+0.2", "0.3"), ("2**10", "1024"), ("2**-2", "0.25"), (" 12 \u00d7 3 ", "36"),
    ("99999999999*99999999999", "9999999999800000000001"), ("1e5", "100000"), ("10/4", "2.5"),
])
def test_calculator_is_exact(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", [
    "9**9**9", "10**10**10", "1" * 10_000, "(" * 100_000 + "1" + ")" * 100_000, "2**0.5", "1/0", "0**-1",
    "1e999", "1e-999", "10**59*10**59", "__import__('os').system('true')", "().__class__", "abs(-1)",
    "lambda: 1", "[1, 2]", "x+1", "1 if 1 else 2", "'a'*3", "", "   ", "1;2", "True+1", "3 x 4",
])
def test_calculator_refuses_anything_but_bounded_arithmetic(expression):
    assert evaluate(expression).startswith("error: ")


# Literals whose exact value needs a huge power of ten: Fraction(literal) built 10**exponent first and
# held the decode loop for minutes. Each is refused from the literal's text, before any number grows.
@pytest.mark.timeout(10)
@pytest.mark.parametrize("expression", [
    "1e99999999", "1e9999999", "1e-9999999", "1e-99999999", "1E+99999999", ".5e99999999", "9.e99999999",
    "1_0e9_9999_999", "1e99999999*0", "0*1e99999999", "1e99999999-1e99999999", "2**1e99999999",
    "1e99999999**0", "(1e9999999)", "-1e99999999", "1.000000000000000000000000000001e-99999999",
    "1e" + "9" * 57, "1e-" + "9" * 56, "1e121", "1e-121",
])
def test_calculator_refuses_huge_exponent_literals_before_computing_them(expression):
    assert evaluate(expression).startswith("error: ")


@pytest.mark.parametrize("expression, value", [
    ("2.5e-1", "0.25"), ("1_000.5", "1000.5"), ("1e50", "1" + "0" * 50), ("0e99999999", "0"),
    ("0.0e-99999999", "0"), ("1.5E3", "1500"), (".5", "0.5"), ("5.", "5"), ("1e-5", "0.00001"),
])
def test_calculator_reads_decimal_literals_exactly(expression, value):
    assert evaluate(expression) == value


@pytest.mark.timeout(60)
def test_calculator_stays_bounded_on_random_hostile_expressions():
    """A thousand expressions drawn from pieces that grow numbers (exponents, powers, long literals,
    nesting): every one is answered, and no answer holds more than the calculator's digit bound."""
    import random
    pieces = ["1e99999999", "9e-9999", "10**64", "(2**64)", "9" * 59, "0.000000001", "7", "**", "*", "/",
              "+", "-", "(", ")", "1e60", "3", "0", "**-64", ".5e-60", "1_0"]
    rng = random.Random(0)
    for _ in range(1000):
        expression = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        result = evaluate(expression)
        assert result.startswith("error: ") or sum(ch.isdigit() for ch in result) <= 2 * 60 + 1, expression


def test_calculator_call_format_and_toolbox_batches_in_order():
    box = make_toolbox(["calculator"])
    assert box.pending("Use 3 5\n<<25-5=") == ("calculator", "25-5")
    assert box.pending("<<25-5=20>>") is None and box.pending("25-5=") is None and box.pending("<<\n25=") is None
    calls = box.run([("calculator", "2+2"), ("calculator", "9**9**9")])
    assert [(c.output, c.status) for c in calls] == [("4>>", "ok"), ("error: exponent too large>>", "error")]
    assert ToolCall.from_dict(calls[0].to_dict()) == calls[0]


def test_tool_names_are_checked():
    assert parse_tool_names("calculator,python,calculator") == ["calculator", "python"]
    assert parse_tool_names("none") == [] and parse_tool_names("") == []
    with pytest.raises(ValueError, match="unknown tool 'abacus'"):
        parse_tool_names("calculator,abacus")
    with pytest.raises(ValueError, match="unknown tool"):
        make_toolbox(["shell"])


class AfterChars:
    """A fake tool: once a row's step text reaches `at` characters (and holds no output yet), answer `output`."""

    name = "fake"

    def __init__(self, at: int, output: str) -> None:
        self.at, self.output, self.inputs = at, output, []

    def pending(self, text):
        return text if len(text) >= self.at and self.output not in text else None

    def inside(self, text):
        return False

    def run_many(self, inputs):
        self.inputs.append(list(inputs))
        return [ToolCall(self.name, text, self.output, "ok", 0.0) for text in inputs]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def make_policy(tokenizer, tool, reuse_cache=True):
    return Policy(tiny_llama(tokenizer, seed=3), tokenizer, tools=Toolbox([tool]), reuse_cache=reuse_cache)


def test_forced_output_sits_in_the_step_and_the_model_continues_on_top_of_it(tokenizer):
    tool = AfterChars(3, "[42]\n<eos>")  # a delimiter and an EOS marker inside the output end nothing
    policy = make_policy(tokenizer, tool)
    root = policy.root("12+30=?\n")
    before = policy.usage.copy()
    step = policy.expand([root], 2, temperature=0.0, max_step_tokens=20, min_step_tokens=20)[0][0]
    assert tool.inputs == [[step.text[:3], step.text[:3]]]  # both rows' calls ran in one batch
    (call,) = step.tool_calls
    assert call.start == 3 and step.text[3:3 + len(call.output)] == "[42]\n<eos>"
    assert step.n_tokens == 20 and len(step.text) == 20
    spent = policy.usage - before
    assert spent.tool_calls == 2 and spent.decode_tokens == 2 * (20 - len(call.output))
    assert spent.prefill_tokens == len(policy.encode("12+30=?\n", prompt=True)) + 2 * len(call.output)
    # What the model wrote after the output is what it would write with that output in its context.
    forced = [i for i in range(3, 3 + len(call.output))]
    assert all(step.token_logprobs[i] == 0.0 for i in forced)
    teacher = policy.logprobs("12+30=?\n", list(step.token_ids))
    after = range(3 + len(call.output), 20)
    assert [step.token_logprobs[i] for i in after] == pytest.approx([teacher[i] for i in after], abs=1e-4)


def test_forced_output_matches_with_and_without_the_cache(tokenizer):
    texts = []
    for reuse in (True, False):
        policy = make_policy(tokenizer, AfterChars(2, "7>>"), reuse_cache=reuse)
        root = policy.root("Use 3 5 8 to make 24\n")
        first = policy.expand([root], 1, temperature=0.0, max_step_tokens=12, min_step_tokens=12)[0][0]
        second = policy.expand([first.state], 1, temperature=0.0, max_step_tokens=12, min_step_tokens=12)[0][0]
        texts.append((first.text, second.text, [c.start for c in second.tool_calls]))
    assert texts[0] == texts[1] and len(texts[0][2]) == 1


def test_complete_reports_tool_calls_at_character_offsets(tokenizer):
    policy = make_policy(tokenizer, AfterChars(5, "<<ok>>"))
    (completion,) = policy.complete(["12+30=?\n"], 1, temperature=0.0, max_new_tokens=16)[0]
    (call,) = completion.tool_calls
    assert call.start == 5 and completion.text[5:11] == "<<ok>>"


def test_no_toolbox_means_no_calls(tokenizer):
    policy = Policy(tiny_llama(tokenizer, seed=3), tokenizer)
    step = policy.expand([policy.root("<<2+2=\n")], 1, temperature=0.0, max_step_tokens=8)[0][0]
    assert step.tool_calls == () and policy.usage.tool_calls == 0
