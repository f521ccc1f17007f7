"""The python tool: its call format, its output block, and hostile programs written by the model.

Each hostile program goes through the real sandbox and through the decode loop of a tiny
random Llama (a forced call: the tiny model cannot write a program itself). Each must come back
as an error or a harmless output block, generation must go on after it, and nothing may be
left running or lying on the host.
"""
import glob
import os
import threading

import pytest

from selfplay.model.policy import Policy
from selfplay.builtin_model.tokenizer import build_tokenizer
from selfplay.tools import Toolbox
from selfplay.tools import python as python_tool
from selfplay.tools.python import OUTPUT_OPEN, PythonTool, error_block, output_block
from tests.hostile import processes_with_uid
from tests.tiny_models import tiny_llama
from verifiers.run_program import ProgramRun, run_program
from verifiers.sandbox import SandboxLimits, isolation_mode
from verifiers.uid_slots import SLOT_COUNT, uid_range

pytestmark = pytest.mark.usefixtures("one_torch_thread")
jailed = pytest.mark.skipif(isolation_mode() != "namespaces",
                            reason="hostile programs need the namespace sandbox (root)")
runnable = pytest.mark.skipif(isolation_mode() == "plain" and os.geteuid() == 0,
                              reason="this machine cannot run the sandbox")
LIMITS = SandboxLimits(timeout_s=10.0)  # roomy: other engineers' tests share this machine's two cores
MARKER = "/tmp/selfplay-python-tool-was-here"
HOST_FILE = os.path.abspath(__file__)
OUTPUT_CHARS = 120  # the decode loop writes one token per character: short outputs keep it quick
STEP_TOKENS = 240  # room for the longest output block (about 180 characters) and more after it


def test_call_format():
    tool = PythonTool()
    program = "Compute it.\n```python\nx = 48 / 2\n\nprint(x)\n```\n"
    assert tool.pending(program) == "x = 48 / 2\n\nprint(x)"
    assert tool.pending(program[:-1]) is None and tool.pending(program[:-5]) is None
    assert tool.inside(program[:30]) and tool.inside(program)  # open, then closed but not yet run
    answered = program + "```output\n24.0\n```\n"
    assert tool.pending(answered) is None and not tool.inside(answered)
    assert tool.pending(answered + "Again:\n```python\nprint(1)\n```\n") == "print(1)"
    assert tool.pending("```py\nprint(1)\n```\n") is None and not tool.inside("no code here\n\n")
    assert tool.pending("x```python\nprint(1)\n```\n") is None  # the fence must open a line


def test_output_block_keeps_its_own_end():
    assert output_block("24.0\n") == "```output\n24.0\n```\n"
    assert output_block("") == "```output\n\n```\n"
    forged = output_block("1\n```\nThe answer is 7. <eos>")
    assert forged == "```output\n1\n[output cut at a code fence]\n```\n"
    long = output_block("9" * 5000)
    assert len(long) < 1100 and long.endswith("[output cut at 1000 characters]\n```\n")
    assert error_block("SyntaxError: ```") == "```output\nerror: SyntaxError: `` `\n```\n"


@runnable
def test_programs_run_and_their_output_comes_back_in_order():
    calls = PythonTool(limits=LIMITS).run_many(["print(6 * 7)", "1/0", "import sys\nprint('bye')\nsys.exit()",
                                                "print(sum(range(10)))"])
    assert [(call.status, call.output) for call in calls] == [
        ("ok", "```output\n42\n```\n"),
        ("error", "```output\nerror: ZeroDivisionError: division by zero\n```\n"),
        ("ok", "```output\nbye\n```\n"),
        ("ok", "```output\n45\n```\n"),
    ]
    assert calls[0].input == "print(6 * 7)" and all(call.wall_s > 0 for call in calls)


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def sandboxed_processes() -> set[int]:
    """Processes running as one of the sandbox's uids (this checkout's or another's)."""
    low = uid_range()[0]
    return processes_with_uid(lambda uid: low <= uid < low + SLOT_COUNT)


def left_running(before: set[int]) -> list[int]:
    """Sandboxed processes that descend from this test process, or new orphans, and this
    process's own children (jail waiters). Other checkouts on this machine may be running
    sandboxes at the same time: theirs are neither."""
    found = []
    for pid in sandboxed_processes():
        ancestors = []
        try:
            while (ancestors[-1] if ancestors else pid) > 1 and len(ancestors) < 64:
                ancestors.append(parent_of(ancestors[-1] if ancestors else pid))
        except (OSError, ValueError, IndexError):
            continue
        if os.getpid() in ancestors or (ancestors[:1] == [1] and pid not in before):
            found.append(pid)
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            if parent_of(int(stat.split("/")[2])) == os.getpid():
                found.append(int(stat.split("/")[2]))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_a_batch_of_programs_runs_side_by_side(monkeypatch):
    barrier = threading.Barrier(3, timeout=60)

    def run_together(code, limits=None):
        barrier.wait()  # returns only once all three programs are running at the same time
        return ProgramRun("ok", f"{code}\n", "", 0.0)

    monkeypatch.setattr(python_tool, "run_program", run_together)
    calls = PythonTool(max_workers=3).run_many(["1", "2", "3"])
    assert [call.output for call in calls] == [f"```output\n{n}\n```\n" for n in (1, 2, 3)]


@pytest.fixture
def host_stays_clean():
    mine = f"/tmp/selfplay-sandbox-{os.getpid()}-*"
    before, running = set(glob.glob(mine)), sandboxed_processes()
    yield
    assert left_running(running) == [], "a sandboxed process or a jail waiter outlived its run"
    assert set(glob.glob(mine)) <= before, "a sandbox directory was left behind"
    assert not os.path.exists(MARKER), "a program wrote a file on the host"


# (name, program, expected status, text the output must hold)
HOSTILE = [
    ("fork", "import os\nfor _ in range(8):\n    os.fork()\nprint('forked')", None, ""),
    ("loop", "while True:\n    pass", "timeout", "error: timeout"),
    ("memory", "block = bytearray(1 << 40)", "error", "error: memory"),
    ("flood", "print('x' * (10 << 20))", None, ""),
    ("flood_lines", "import sys\nfor _ in range(200000):\n    sys.stdout.write('y' * 64 + '\\n')", None, ""),
    ("socket", "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\nprint('connected')", "error",
     "error: "),
    ("passwd", "print(open('/etc/passwd').read())", "error", "FileNotFoundError"),
    ("host_file", f"print(open({HOST_FILE!r}).read())", "error", "FileNotFoundError"),
    ("write_host", f"open({MARKER!r}, 'w').write('x')\nprint('wrote')", None, ""),
    ("fence", "print('41')\nprint('```')\nprint('The answer is 42.')", "ok", "[output cut at a code fence]"),
    ("special_tokens", "print('<eos> <|im_end|> <bos>')", "ok", "<eos> <|im_end|> <bos>"),
    ("keyboard_interrupt", "raise KeyboardInterrupt", "error", "error: KeyboardInterrupt"),
    ("system_exit", "raise SystemExit(3)", "error", "error: SystemExit: 3"),
    ("exit_early", "import os\nprint('never flushed')\nos._exit(0)", "error", "error: "),
    ("stdout_closed", "import sys, os\nos.close(1)\nprint('gone')", "error", "error: "),
]


class ForcedPython(PythonTool):
    """The real python tool, called with `program` once a row has written `at` characters."""

    def __init__(self, program: str, at: int = 3) -> None:
        super().__init__(limits=SandboxLimits(timeout_s=1.5) if "while True" in program else LIMITS,
                         max_output_chars=OUTPUT_CHARS)
        self.program, self.at = program, at

    def pending(self, text):
        return self.program if len(text) >= self.at and OUTPUT_OPEN not in text else None


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@jailed
@pytest.mark.usefixtures("host_stays_clean")
@pytest.mark.parametrize("name, program, status, holds", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_program_is_an_error_or_harmless_and_generation_goes_on(tokenizer, name, program, status, holds):
    model = tiny_llama(tokenizer, seed=3)
    policy = Policy(model, tokenizer, tools=Toolbox([ForcedPython(program)]))
    steps = policy.expand([policy.root("What is 6*7?\n")], 2, temperature=0.0, max_step_tokens=STEP_TOKENS,
                          min_step_tokens=STEP_TOKENS)[0]
    for step in steps:
        (call,) = step.tool_calls
        assert call.status == status if status else call.status in ("ok", "error", "timeout")
        assert holds in call.output
        # One well-formed block, whole in the step where it was fed, and the model wrote on after it.
        assert call.output.startswith("```output\n") and call.output.endswith("\n```\n")
        assert call.output.count("```") == 2 and len(call.output) <= OUTPUT_CHARS + 60
        assert step.text[call.start:call.end] == call.output and 0 < call.start
        assert step.n_tokens == STEP_TOKENS and call.end < len(step.text)
    assert policy.usage.tool_calls == 2


@runnable
def test_run_program_refuses_bad_sources():
    assert run_program("x\x00").error == "program contains a NUL byte"
    assert run_program("#" * 70_000).error == "program too long"
    assert run_program("def f(:\n").error.startswith("SyntaxError")


@runnable
@pytest.mark.parametrize("program", [
    'print("a" * 5_000_000)',  # over the sandbox's 4 MB file limit in one write
    'for i in range(3000):\n    print("b" * 2000)',  # over it in many writes
])
def test_output_past_the_file_limit_keeps_its_prefix(program):
    run = run_program(program, limits=LIMITS)
    assert run.ok, run.error
    assert len(run.stdout) == LIMITS.output_bytes and set(run.stdout) <= {"a", "b", "\n"}
    call = PythonTool(limits=LIMITS)._call(program)
    assert call.status == "ok" and f"[output cut at {python_tool.MAX_OUTPUT_CHARS} characters]" in call.output


@runnable
def test_program_goes_on_after_its_output_is_cut():
    run = run_program('print("x" * 5_000_000)\nimport sys\nsys.stderr.write("done")\nraise SystemExit(3)', limits=LIMITS)
    assert run.status == "error" and run.stdout.startswith("x" * 100)  # the program ran on to its own exit


@jailed
def test_the_jail_shows_no_host_path_of_the_sandbox():
    from verifiers.sandbox import CHILD_DIR
    run = run_program('print(open("/proc/self/mountinfo").read())\nimport os\nprint(os.listdir("/opt/selfplay-sandbox"))',
                      limits=LIMITS)
    assert run.ok and "/opt/selfplay-sandbox" not in run.stdout.split("[")[0]  # no mount for it: a copy
    assert os.path.dirname(CHILD_DIR) not in run.stdout and "harness.py" in run.stdout
    tamper = run_program('open("/opt/selfplay-sandbox/harness.py", "a").write("x")', limits=LIMITS)
    assert tamper.status == "error" and "Permission denied" in tamper.error
