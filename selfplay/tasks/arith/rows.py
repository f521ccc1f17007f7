"""Arith's public row shape: GSM8K `{question, answer "... #### N"}` (or an integer answer)."""
from __future__ import annotations

from selfplay.tasks.problem import Problem
from selfplay.tasks.rows import RowError, extra_fields, read_row_id, read_text, show
from selfplay.tasks.spec import RowFormat


def parse_gsm8k(row: dict) -> Problem:
    question, answer = read_text(row, "question"), row.get("answer")
    meta = extra_fields(row, {"question", "answer"})
    if isinstance(answer, str) and "####" in answer:
        final = answer.rsplit("####", 1)[1].strip()
        if not final:
            raise RowError("answer", "nothing after '####'")
        reasoning = answer.rsplit("####", 1)[0]
        meta.update(solution=answer.strip(), steps=len([line for line in reasoning.splitlines() if line.strip()]))
        return Problem.create("arith", question, answer=final, meta=meta, id=read_row_id(row))
    if isinstance(answer, int) and not isinstance(answer, bool):
        return Problem.create("arith", question, answer=str(answer), meta=meta, id=read_row_id(row))
    raise RowError("answer", f"expected text ending in '#### <answer>' or an integer, got {show(answer)}")


FORMATS = (RowFormat("GSM8K {question, answer}", lambda row: {"question", "answer"} <= row.keys(), parse_gsm8k),)
