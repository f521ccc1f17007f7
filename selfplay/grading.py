"""Grade a completion for a Problem with the right verifier, against the ground truth.

Countdown is checked by its rules (numbers, target and `meta["use_all"]`, the standard game's
every-number-once rule), arith and plain question/answer rows by their final answer, funcs by
running the program in the sandbox on the hidden cases (or on the row's assert code). This
is the grader of record: search may use weaker, answer-time signals, but accuracy is always this.

Knows tasks and verifiers; nothing about models, search or Ray.
"""
from __future__ import annotations

from selfplay.tasks import Problem
from verifiers import code, math
from verifiers.rewards import extract_program
from verifiers.verdict import Verdict


def grade(problem: Problem, completion: str, timeout_s: float = code.DEFAULT_TIMEOUT_S) -> Verdict:
    """The verdict on `completion` as an answer to `problem`."""
    if problem.task == "countdown":
        return math.check_countdown(problem.meta["numbers"], problem.meta["target"], completion,
                                    use_all=problem.meta.get("use_all", False))
    if problem.task == "funcs":
        tests = problem.tests or {}
        program = extract_program(completion)
        if tests.get("cases") is not None:
            return code.run_cases(program, tests["entry_point"], tests["cases"], timeout_s=timeout_s)
        return code.run_asserts(program, tests.get("test_code", ""), timeout_s=timeout_s,
                                entry_point=tests.get("entry_point"))
    if problem.answer is None:
        return Verdict.fail("invalid", f"problem {problem.id} has no answer to grade against")
    return math.check(completion, problem.answer)


def reference_completion(problem: Problem) -> str | None:
    """The expert solution a generated problem carries, in the form a model should write."""
    return problem.meta.get("solution")
