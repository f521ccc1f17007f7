"""The improvement round (`rounds.improve`): `curriculum` (which problems a round draws),
`work` (what a worker does with a job: sample, finetune, evaluate; the `Executor` protocol and the
in-process `LocalExecutor`), `selection` (which traces become training rows), `finetune` (LoRA SFT
with TRL) and `rounds` (the phases, the run directory, resuming).

Knows answering, run files and the policy runtime; nothing about Ray (`selfplay.execution`).
"""
