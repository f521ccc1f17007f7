"""Run every hostile program of tests/hostile.py through both code verifiers; print JSON.

    python benchmarks/hostile_sandbox.py [--timeout 2.0]

One line per program and API ({"program", "api", "status", "passed", "seconds"}), then a
summary line: how many runs, how many got through (the goal is none), the longest call, and the
longest overrun of the deadline (a call's seconds past --timeout, teardown included; the goal is
under a second whatever the candidate sends).
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile import CASES, PROGRAMS, asserts_for, pairs  # noqa: E402
from verifiers.code import run_asserts, run_cases  # noqa: E402
from verifiers.sandbox import isolation_mode  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.0, help="wall-clock limit per run, seconds")
    args = parser.parse_args()
    runs, through, longest = 0, [], (0.0, "")
    for name, api in pairs():
        program = PROGRAMS[name]
        start = time.perf_counter()
        if api == "run_cases":
            verdict = run_cases(program, "solve", CASES, timeout_s=args.timeout)
        else:
            verdict = run_asserts(program, asserts_for(name), timeout_s=args.timeout)
        seconds = time.perf_counter() - start
        runs += 1
        if verdict.passed:
            through.append(f"{name}/{api}")
        longest = max(longest, (seconds, f"{name}/{api}"))
        print(json.dumps({"program": name, "api": api, "status": verdict.status, "passed": verdict.passed,
                          "seconds": round(seconds, 3)}))
    print(json.dumps({"summary": True, "isolation": isolation_mode(), "programs": len(PROGRAMS), "runs": runs,
                      "got_through": through, "timeout_s": args.timeout, "longest_call_s": round(longest[0], 3),
                      "longest_call": longest[1],
                      "longest_overrun_s": round(max(0.0, longest[0] - args.timeout), 3)}))


if __name__ == "__main__":
    main()
