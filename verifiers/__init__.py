"""Verifiers: decide whether an answer is right, as data (`Verdict`).

`verifiers.math` checks final answers and countdown solutions, `verifiers.code` runs
candidate programs in a sandbox, `verifiers.rewards` wraps any of them as a TRL-style reward
function. Nothing here knows about search, models of the policy, files of a run, or Ray.
"""
from verifiers.verdict import Verdict

__all__ = ["Verdict"]
