"""Countdown: reach a target from given numbers with + - * and exact /, one step per line.

- `problems`: the rules, the levels, a solver and the generator;
- `rows`: the public row shape `{numbers, target}`;
- `traces`: the built-in model's expert traces and mistakes;
- `splits`: the committed split sets, the hard split among them;
- `spec`: the grader, the answer-time check, hindsight, content fields and `SPEC`.

Its verifier is `verifiers/countdown.py` (rules and the `retry` marker) with
`verifiers.math.check_countdown`.
"""
from selfplay.tasks.countdown.problems import (HARD_LEVELS, LEVELS, Level, generate, level_of, make_problem,
                                               make_prompt, reachable, reachable_all, solve, solve_all)
from selfplay.tasks.countdown.spec import SPEC

__all__ = ["HARD_LEVELS", "LEVELS", "Level", "generate", "level_of", "make_problem", "make_prompt", "reachable",
           "reachable_all", "solve", "solve_all", "SPEC"]
