"""Run the table of answer pairs through `verifiers.math.check` and Hugging Face's math-verify; print JSON.

    python benchmarks/math_verify_agreement.py [--pairs tests/test_verifiers_math_pairs.jsonl] [--rows]

Each row of the table is `{"gold", "completion", "right", "why"}`: `right` is the verdict a
verifier should give. math-verify reads the gold as `$gold$` and the completion as it stands
(`parse` with its default extraction, `verify` with its defaults), as it is used to grade model
output. The summary says how often each verifier gives the right verdict on right and on wrong
answers, how often the two agree, and lists every pair where they differ, in each direction,
with which of the two is right there (the close decimals are where this lab differs on purpose).
`--rows` adds one line per pair before the summary.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from verifiers.math import check  # noqa: E402

DEFAULT_PAIRS = REPO / "tests" / "test_verifiers_math_pairs.jsonl"


def reference_verdict(gold: str, completion: str) -> bool:
    """math-verify's verdict, used as the field uses it (main thread, its own timeouts)."""
    from math_verify import parse, verify

    return bool(verify(parse(f"${gold}$"), parse(completion)))


def summarise(rows: list[dict]) -> dict:
    """Counts of right verdicts per verifier and the pairs where the two differ.

    >>> rows = [{"gold": "1/3", "completion": "#### 0.333333", "right": False, "ours": False, "theirs": True}]
    >>> summary = summarise(rows)
    >>> summary["agree"], summary["ours_reject_theirs_accept"][0]["right_side"]
    (0, 'ours')
    """
    right = [row for row in rows if row["right"]]
    wrong = [row for row in rows if not row["right"]]

    def differ(ours: bool) -> list[dict]:
        return [{"gold": row["gold"], "completion": row["completion"], "why": row.get("why", ""),
                 "right_side": "ours" if row["ours"] == row["right"] else "math-verify"}
                for row in rows if row["ours"] == ours and row["theirs"] != ours]

    return {
        "pairs": len(rows), "right_answers": len(right), "wrong_answers": len(wrong),
        "ours_accepts_right": sum(row["ours"] for row in right),
        "ours_rejects_wrong": sum(not row["ours"] for row in wrong),
        "math_verify_accepts_right": sum(row["theirs"] for row in right),
        "math_verify_rejects_wrong": sum(not row["theirs"] for row in wrong),
        "agree": sum(row["ours"] == row["theirs"] for row in rows),
        "ours_accept_theirs_reject": differ(True),
        "ours_reject_theirs_accept": differ(False),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="jsonl table of answer pairs")
    parser.add_argument("--rows", action="store_true", help="print one JSON line per pair too")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.pairs.read_text(encoding="utf-8").splitlines() if line.strip()]
    ours_s = theirs_s = 0.0
    for row in rows:
        start = time.perf_counter()
        row["ours"] = check(row["completion"], row["gold"]).passed
        middle = time.perf_counter()
        row["theirs"] = reference_verdict(row["gold"], row["completion"])
        ours_s, theirs_s = ours_s + middle - start, theirs_s + time.perf_counter() - middle
        if args.rows:
            print(json.dumps(row, ensure_ascii=False))
    summary = summarise(rows)
    summary.update(ours_s=round(ours_s, 2), math_verify_s=round(theirs_s, 2))
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
