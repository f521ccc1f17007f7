"""Funcs: write a small Python function from input/output examples; the code-execution family.

- `families`: the function families and their parameters (trusted reference sources);
- `problems`: the generator (visible examples, hidden cases);
- `rows`: public row shapes (cases, asserts, MBPP, HumanEval);
- `traces`: the built-in model's expert traces and mistakes;
- `splits`: the committed split set, cut by function;
- `spec`: the grader (the sandbox, `verifiers.code`), the answer-time check and `SPEC`.
"""
from selfplay.tasks.funcs.families import BY_NAME, ENTRY_POINT, FAMILIES, FAMILY_NAMES, FuncFamily, Limits
from selfplay.tasks.funcs.problems import (N_VISIBLE, Function, function_key, generate, generate_for, is_plain_json,
                                           load_reference, make_problem, make_prompt)
from selfplay.tasks.funcs.spec import SPEC

__all__ = ["BY_NAME", "ENTRY_POINT", "FAMILIES", "FAMILY_NAMES", "FuncFamily", "Limits", "N_VISIBLE", "Function",
           "function_key", "generate", "generate_for", "is_plain_json", "load_reference", "make_problem", "make_prompt",
           "SPEC"]
