"""Qa: a plain prompt with a final answer (`{prompt, answer}` rows), graded like arith by the final
answer; no generator, levels or corpus. `SPEC` is registered last, so its wide row shape is tried
after every other family's."""
from __future__ import annotations

from selfplay.tasks.arith.spec import grade_final_answer
from selfplay.tasks.problem import Problem
from selfplay.tasks.rows import extra_fields, read_answer, read_row_id, read_text
from selfplay.tasks.spec import Pricing, RowFormat, TaskSpec, priced


def parse_qa(row: dict) -> Problem:
    return Problem.create("qa", read_text(row, "prompt"), answer=read_answer(row.get("answer"), "answer"),
                          meta=extra_fields(row, {"prompt", "answer"}), id=read_row_id(row))


# Roomy for public rows.
SPEC = TaskSpec(
    name="qa", grade=grade_final_answer,
    instruction="Think step by step, separating steps with a blank line, and end with a line '#### <answer>'.",
    prices=priced(Pricing(answer_tokens=256, max_depth=12, step_tokens=64)),
    row_formats=(RowFormat("{prompt, answer}", lambda row: {"prompt", "answer"} <= row.keys(), parse_qa),))
