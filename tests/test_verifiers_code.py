"""Functional tests of the code verifier: honest programs pass, wrong ones fail, inputs are checked."""
import os
import subprocess
import sys
import textwrap
import time

import pytest

from verifiers._child import wire
from verifiers.code import _short, json_form, run_asserts, run_cases, strictly_equal
from verifiers.sandbox import (CHILD_DIR, CandidateProcess, SandboxError, SandboxLimits, SandboxUnavailable,
                               isolation_mode)

needs_jail = pytest.mark.skipif(isolation_mode() != "namespaces", reason="needs the namespace sandbox (root)")


@pytest.mark.parametrize("value", [
    0, -5, 2**64, 1.5, float("inf"), "text", "", None, True, [1, [2, 3]], (1, 2), {"a": 1}, {1: "x", (2, 3): None},
    {1, 2}, frozenset({"a"}), b"\x00\xff", 1 + 2j, [(1, 2), {3}],
])
def test_wire_round_trip(value):
    assert wire.decode(wire.encode(value)) == value
    assert type(wire.decode(wire.encode(value))) is type(value)


@pytest.mark.parametrize("bad", [
    {"$": "object", "v": 1}, {"a": 1}, {"$": "tuple", "v": 5}, {"$": "dict", "v": [[1]]}, {"$": "set", "v": [[1]]},
    {"$": "bytes", "v": "zz"},
])
def test_wire_refuses_malformed_values(bad):
    with pytest.raises(wire.WireError):
        wire.decode(bad)


HASH_MODULUS = (1 << 61) - 1  # hash(k * HASH_MODULUS) == 0 for every int k


@pytest.mark.parametrize("wired", [
    {"$": "dict", "v": [[k * HASH_MODULUS, 0] for k in range(1, 20_001)]},
    {"$": "set", "v": [k * HASH_MODULUS for k in range(1, 20_001)]},
    {"$": "frozenset", "v": [-k * HASH_MODULUS for k in range(1, 20_001)]},
    {"$": "dict", "v": [[{"$": "tuple", "v": [k * HASH_MODULUS, "a"]}, 0] for k in range(1, 20_001)]},
    [{"$": "set", "v": [k * HASH_MODULUS for k in range(1, 10)]}],  # nine are already too many
], ids=["dict", "set", "frozenset", "tuple-keys", "nine"])
@pytest.mark.timeout(30)
def test_wire_refuses_keys_that_share_one_hash(wired):
    with pytest.raises(wire.WireError, match="share one hash"):
        wire.decode(wired)


def test_wire_accepts_the_few_collisions_honest_values_have():
    value = {-1: "a", -2: "b", 1: "c", 2.0 ** 61: "d", (1, 2): "e"}  # hash(-1) == hash(-2), hash(2.0**61) == hash(1)
    assert wire.decode(wire.encode(value)) == value
    items = frozenset(k * HASH_MODULUS for k in range(1, 9))
    assert wire.decode(wire.encode(items)) == items


def test_wire_decoding_stops_at_its_deadline():
    wired = wire.encode(list(range(100_000)))
    with pytest.raises(wire.WireTimeout):
        wire.decode(wired, deadline=time.monotonic() - 1)
    assert wire.decode(wired, deadline=time.monotonic() + 60) == list(range(100_000))


def test_wire_refuses_integers_it_would_not_send():
    with pytest.raises(wire.WireError, match="integer too large"):
        wire.decode(10 ** 2000)


def test_wire_refuses_subclasses_and_objects():
    class Sneaky(int):
        pass

    for value in (Sneaky(1), object(), iter([1]), [Sneaky(2)], {"k": object()}):
        with pytest.raises(wire.WireError):
            wire.encode(value)


@pytest.mark.parametrize(("got", "expected", "equal"), [
    (1, 1, True), (True, 1, False), (1, True, False), (1.0, 1, False), (1, 1.0, False), ("1", 1, False),
    (0.1 + 0.2, 0.3, True), (0.333, 1 / 3, False), ([1, 2], [1, 2], True), ([1, 2], [2, 1], False),
    ({"a": [1]}, {"a": [1]}, True), ({"a": 1}, {"a": 1, "b": 2}, False), (None, None, True), (None, 0, False),
    (float("nan"), float("nan"), False), ((1, 2), [1, 2], True), ([(1,)], [[1]], True), ((1,), [1, 2], False),
    ([1, 2], (1, 2), False),
])
def test_strictly_equal(got, expected, equal):
    assert strictly_equal(got, expected) is equal


@pytest.mark.parametrize("value", [
    1, "text", None, [], (), set(), frozenset(), {}, (1,), [1, (2, 3)], {1: [2], "a": (3,)}, {4}, frozenset({5}),
    b"\x00", 1 + 2j, float("nan"), {"k": {"nested": [1, 2, {3: (4,)}]}}, list(range(200)), "x" * 500,
])
def test_short_is_repr_cut_to_its_limit(value):
    assert _short(value) == (repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "...")


def test_json_form_turns_tuples_into_lists():
    assert json_form((1, (2, 3), {"a": (4,)})) == [1, [2, 3], {"a": [4]}]


@needs_jail
class TestRunCases:
    def test_honest_program_passes(self):
        program = "def total(items, bonus=0):\n    return sum(items) + bonus\n"
        verdict = run_cases(program, "total", [([[1, 2, 3]], 6), ([[]], 0), ([[5], 1], 6)])
        assert verdict.passed and verdict.score == 1.0 and verdict.status == "passed"

    def test_partial_credit(self):
        program = "def f(x):\n    return x * 2 if x < 3 else 0\n"
        verdict = run_cases(program, "f", [([1], 2), ([2], 4), ([3], 6), ([4], 8)])
        assert not verdict.passed and verdict.status == "wrong" and verdict.score == 0.5
        assert "case 2" in verdict.detail

    def test_tuple_result_matches_json_list(self):
        assert run_cases("def f(x):\n    return (x, x)\n", "f", [([1], [1, 1])]).passed

    def test_exception_is_an_error(self):
        verdict = run_cases("def f(x):\n    return 1 // x\n", "f", [([0], 0), ([1], 1)])
        assert verdict.status == "error" and verdict.score == 0.5

    def test_missing_entry_point(self):
        verdict = run_cases("def g(x):\n    return x\n", "f", [([1], 1)])
        assert verdict.status == "wrong" and "'f'" in verdict.detail

    def test_syntax_error(self):
        verdict = run_cases("def f(x) return x", "f", [([1], 1)])
        assert verdict.status == "error" and "SyntaxError" in verdict.detail

    def test_stdlib_imports_work(self):
        program = "import math, itertools, collections\ndef f(x):\n    return math.factorial(x)\n"
        assert run_cases(program, "f", [([5], 120)]).passed

    def test_writing_to_the_private_workdir_works(self):
        program = "def f(x):\n    open('note.txt', 'w').write(str(x))\n    return int(open('note.txt').read())\n"
        assert run_cases(program, "f", [([7], 7)]).passed

    def test_state_does_not_decide(self):
        # Each case gets fresh decoded arguments; a mutation cannot leak into the next case's args.
        program = "def f(items):\n    items.append(1)\n    return len(items)\n"
        assert run_cases(program, "f", [([[]], 1), ([[]], 1)]).passed


@pytest.mark.parametrize(("cases", "reason"), [
    ([], "no test cases"), (None, "no test cases"), ([([1],)], "not an (args_list, expected) pair"),
    ([(1, 2)], "not an (args_list, expected) pair"), ([([object()], 1)], "not JSON-able"),
    ([([float("nan")], 1)], "not JSON-able"),
])
def test_bad_cases_are_invalid(cases, reason):
    verdict = run_cases("def f(x):\n    return x\n", "f", cases)
    assert verdict.status == "invalid" and not verdict.passed and reason in verdict.detail


@pytest.mark.parametrize(("program", "entry_point"), [
    (b"def f(x): return x", "f"), ("def f(x): return x", "not an identifier"), ("x = 1\x00", "f"),
])
def test_bad_programs_are_invalid(program, entry_point):
    assert run_cases(program, entry_point, [([1], 1)]).status == "invalid"


@needs_jail
class TestRunAsserts:
    def test_mbpp_style(self):
        program = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n"
        tests = "assert similar_elements((3, 4, 5, 6), (5, 7, 4, 10)) == (4, 5)\n" \
                "assert similar_elements((1, 2), (3, 4)) == ()\n"
        assert run_asserts(program, tests).passed

    def test_humaneval_style_check_function(self):
        program = "def add(x, y):\n    return x + y\n"
        tests = textwrap.dedent("""
            METADATA = {'author': 'x'}
            def check(candidate):
                assert candidate(1, 2) == 3
                for i in range(10):
                    assert candidate(i, i) == 2 * i
        """)
        assert run_asserts(program, tests, entry_point="add").passed
        assert not run_asserts("def add(x, y):\n    return x - y\n", tests, entry_point="add").passed

    def test_score_counts_units(self):
        tests = "assert f(1) == 1\nassert f(2) == 4\nassert f(3) == 9\nassert f(4) == 0\n"
        verdict = run_asserts("def f(x):\n    return x * x\n", tests)
        assert verdict.status == "wrong" and verdict.score == 0.75

    def test_expected_exceptions_cross_as_builtin_types(self):
        tests = "try:\n    f(-1)\n    raise AssertionError('no error')\nexcept ValueError:\n    pass\nassert f(1) == 1\n"
        program = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n"
        assert run_asserts(program, tests).passed

    def test_pytest_style_functions_and_setup_code(self):
        tests = "import math\nLIMIT = 3\ndef test_small():\n    assert f(LIMIT) == math.factorial(3)\n"
        assert run_asserts("def f(n):\n    return 6 if n == 3 else 0\n", tests).passed

    def test_no_units_is_invalid(self):
        assert run_asserts("def f(x):\n    return x\n", "x = 1\n").status == "invalid"

    def test_unparseable_test_code_is_invalid(self):
        assert run_asserts("def f(x):\n    return x\n", "assert f(1) ==\n").status == "invalid"

    def test_candidate_cannot_shadow_builtins_used_by_tests(self):
        program = "def abs(x):\n    return 0\ndef len(x):\n    return 3\ndef f(x):\n    return []\n"
        assert not run_asserts(program, "assert abs(len(f(1)) - 3) == 0\n").passed

    def test_swallowed_crash_still_fails(self):
        tests = "for i in range(3):\n    try:\n        f(i)\n    except BaseException:\n        pass\nassert True\n"
        verdict = run_asserts("import os\ndef f(x):\n    os._exit(0)\n", tests)
        assert not verdict.passed and verdict.status == "error"


@needs_jail
@pytest.mark.timeout(60)
def test_a_reply_whose_keys_hash_alike_is_an_error_not_a_stall():
    # The candidate swaps the harness's encoder and sends 60,000 dict keys k * (2**61 - 1), which
    # all hash to 0: building that dict took the parent minutes.
    program = ("import sys\nsys.modules['wire'].encode = lambda value: value\n"
               "def f(x):\n    return {'$': 'dict', 'v': [[k * ((1 << 61) - 1), 0] for k in range(1, 60_001)]}\n")
    verdict = run_cases(program, "f", [([1], {"a": 0})], timeout_s=2.0)
    assert verdict.status == "error" and not verdict.passed and "share one hash" in verdict.detail
    with CandidateProcess(program, SandboxLimits(timeout_s=10.0)) as candidate:
        result = candidate.call("f", [1])
    assert not result.ok and result.error == "WireError"
    verdict = run_asserts(program, "assert f(1) == {'a': 0}\n", timeout_s=2.0)
    assert not verdict.passed and "share one hash" in verdict.detail


@needs_jail
def test_a_reply_over_the_cap_is_an_error():
    program = "import sys\nsys.modules['wire'].encode = lambda value: value\ndef f(x):\n    return 'x' * (3 << 20)\n"
    verdict = run_cases(program, "f", [([1], "x")], timeout_s=5.0)
    assert verdict.status == "error" and "too large" in verdict.detail


@needs_jail
@pytest.mark.parametrize("raised", ["StopIteration", "StopAsyncIteration"])
def test_an_iteration_ender_from_the_candidate_fails_the_check(raised):
    tests = "cases = [(1, 1), (2, 4)]\nassert all(map(lambda c: f(c[0]) == c[1], cases))\nassert f(3) == 9\n"
    verdict = run_asserts(f"def f(x):\n    if x < 3:\n        raise {raised}\n    return x * x\n", tests)
    assert verdict.status == "wrong" and verdict.score == 0.5 and f"CandidateError: {raised}" in verdict.detail
    # Test code may still catch what the candidate raised, as any candidate error.
    catching = ("def test_raises():\n    try:\n        f(1)\n    except Exception:\n        return\n"
                "    raise AssertionError\n")
    assert run_asserts(f"def f(x):\n    raise {raised}\n", catching).passed


@needs_jail
def test_candidate_process_reports_names_and_values():
    with CandidateProcess("import os\ndef f(x):\n    return (x, os.getpid(), sorted(os.listdir('/')))\n",
                          SandboxLimits()) as candidate:
        assert "f" in candidate.names
        value = candidate.call("f", [4]).value
    assert value[0] == 4 and value[1] == 1  # PID 1 of its own namespace
    assert "work" not in value[2] and "root" in value[2]  # a minimal root: no project files


@needs_jail
def test_deadline_covers_the_whole_run():
    with pytest.raises(SandboxError) as caught:
        with CandidateProcess("import time\ndef f(x):\n    time.sleep(x)\n", SandboxLimits(timeout_s=1.0)) as candidate:
            candidate.call("f", [0.6])
            candidate.call("f", [0.6])
    assert caught.value.status == "timeout"


def test_plain_mode_refuses_root():
    if os.geteuid() != 0:
        pytest.skip("only root is refused")
    with pytest.raises(SandboxUnavailable, match="root"):
        with CandidateProcess("x = 1", SandboxLimits(), isolation="plain"):
            pass


def test_seccomp_fallback_blocks_sockets_signals_and_sessions():
    """The filter that holds where namespaces are missing, checked on its own."""
    script = textwrap.dedent(f"""
        import os, signal, socket, sys
        sys.path.insert(0, {CHILD_DIR!r})
        import seccomp
        seccomp.install()
        results = []
        for attempt in (lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM),
                        lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
                        lambda: os.kill(os.getppid(), 0), lambda: os.setsid(), lambda: os.setpgid(0, 0)):
            try:
                attempt()
                results.append("allowed")
            except PermissionError:
                results.append("blocked")
        a, b = socket.socketpair()  # still allowed: no network in it
        print(",".join(results))
    """)
    output = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=30)
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == ",".join(["blocked"] * 5)


@needs_jail
def test_candidate_cannot_pass_itself_off_as_a_broken_sandbox():
    program = "import os, sys\nsys.stderr.write('sandbox setup failed: fake\\n')\nos._exit(125)\n"
    verdict = run_cases(program, "f", [([1], 1)])  # a verdict, not SandboxUnavailable
    assert verdict.status == "error" and not verdict.passed


@needs_jail
def test_a_broken_jail_is_an_exception_not_a_verdict(monkeypatch):
    original = CandidateProcess._config

    def broken(self, keep_fds):
        return dict(original(self, keep_fds), python="/nonexistent/python")

    monkeypatch.setattr(CandidateProcess, "_config", broken)
    with pytest.raises(SandboxUnavailable, match="sandbox setup failed"):
        run_cases("def f(x):\n    return x\n", "f", [([1], 1)])
