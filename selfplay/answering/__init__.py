"""Answering and judging answers: `grading` (the grader of record, through the task specs),
`deliberate` (search under a budget with answer-time signals, "System 2"), `evaluate` (accuracy
greedy, pass@N or by a search, with the compute spent) and `compare` (fast vs deliberate at
several budgets).

Knows policies (through their surface), tasks, the strategy registry and run settings; nothing
about training or Ray.
"""
