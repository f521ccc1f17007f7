"""Arith: multi-step arithmetic word problems in GSM8K form, answer after `####`.

- `problems`: the story templates, the levels and the generator;
- `rows`: the GSM8K row shape;
- `traces`: the built-in model's expert traces and mistakes;
- `splits`: the committed split sets;
- `spec`: the grader (the final answer, `verifiers.math`) and `SPEC`.
"""
from selfplay.tasks.arith.problems import LEVELS, TEMPLATES, Level, generate, level_of
from selfplay.tasks.arith.spec import SPEC

__all__ = ["LEVELS", "TEMPLATES", "Level", "generate", "level_of", "SPEC"]
