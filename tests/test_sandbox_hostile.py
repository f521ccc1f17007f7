"""Adversarial suite: every hostile program is rejected, in bounded time, leaving the host clean.

The catalogue (tests/hostile.py) is built so that a passing verdict can only mean a hole.
Each program runs through both `run_cases` and `run_asserts`.
"""
import glob
import os
import time

import pytest

from tests.hostile import CASES, ITERATING_TEST_CODE, PROGRAMS, TEST_CODE, asserts_for, pairs, processes_with_uid
from verifiers import uid_slots
from verifiers.code import run_asserts, run_cases
from verifiers.sandbox import isolation_mode

TIMEOUT_S = 2.0
TEARDOWN_ALLOWANCE_S = 4.0  # process start, killing the namespace and removing the directory

pytestmark = pytest.mark.skipif(isolation_mode() != "namespaces",
                                reason="the full adversarial suite needs the namespace sandbox (root)")


def sandbox_processes(uids: set[int]) -> list[int]:
    """Processes running as one of `uids` (this test's own runs: other sessions may be sandboxing too)."""
    return sorted(processes_with_uid(uids.__contains__))


def helper_processes() -> list[str]:
    """Our own children still around: jail waiters and testers, running or unreaped."""
    found = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(path[:-4] + "cmdline", "rb") as handle:
                command = handle.read()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and (b"_child/jail.py" in command or b"_child/tester.py" in command or not command):
            found.append(command.decode(errors="replace")[:80])
    return found


@pytest.fixture(autouse=True)
def host_stays_clean(monkeypatch):
    mine = f"/tmp/selfplay-sandbox-{os.getpid()}-*"  # other processes may be running sandboxes too
    before = set(glob.glob(mine))
    uids = set()

    class RecordedSlot(uid_slots.Slot):
        def __init__(self) -> None:
            super().__init__()
            uids.add(self.uid)

    monkeypatch.setattr(uid_slots, "Slot", RecordedSlot)
    yield
    assert uids, "no run took a sandbox uid"
    assert sandbox_processes(uids) == [], "a sandboxed process outlived its run"
    assert helper_processes() == [], "a jail waiter or tester outlived its run"
    assert set(glob.glob(mine)) <= before, "a sandbox directory was left behind"
    assert not os.path.exists("/usr/selfplay-was-here")


@pytest.mark.parametrize(("name", "api"), pairs())
def test_hostile_program_is_rejected(name, api):
    start = time.monotonic()
    if api == "run_cases":
        verdict = run_cases(PROGRAMS[name], "solve", CASES, timeout_s=TIMEOUT_S)
    else:
        verdict = run_asserts(PROGRAMS[name], asserts_for(name), timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - start
    assert not verdict.passed, f"{name} got through {api}: {verdict}"
    assert verdict.score == 0.0, verdict
    assert verdict.status != "passed"
    assert elapsed < TIMEOUT_S + TEARDOWN_ALLOWANCE_S, f"{name} held {api} for {elapsed:.1f} s"


def test_catalogue_is_large_and_honest():
    assert len(PROGRAMS) >= 25
    honest = "def solve(x):\n    return x * 7919 + 13\n"
    assert run_cases(honest, "solve", CASES).passed
    for code in [TEST_CODE, *ITERATING_TEST_CODE.values()]:
        assert run_asserts(honest, code).passed, code
    assert {asserts_for(name) for name in PROGRAMS} == {TEST_CODE, *ITERATING_TEST_CODE.values()}


def test_run_asserts_judges_with_the_test_codes_own_equality():
    assert run_asserts(PROGRAMS["float_for_int"], TEST_CODE).passed
    assert not run_asserts(PROGRAMS["float_for_int"], "assert type(solve(3)) is int\n").passed


def test_timeouts_are_reported_as_timeouts():
    verdict = run_cases(PROGRAMS["infinite_loop"], "solve", CASES, timeout_s=1.0)
    assert verdict.status == "timeout"


def test_memory_bomb_is_reported_as_memory():
    verdict = run_cases(PROGRAMS["memory_bomb"], "solve", CASES, timeout_s=TIMEOUT_S)
    assert verdict.status == "memory", verdict


def test_parent_survives_kill_attempts():
    parent = os.getpid()
    run_cases(PROGRAMS["kill_parent"], "solve", CASES, timeout_s=TIMEOUT_S)
    run_cases(PROGRAMS["kill_everything"], "solve", CASES, timeout_s=TIMEOUT_S)
    assert os.getpid() == parent  # still here to say so
