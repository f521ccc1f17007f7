"""The child process behind `verifiers.symbolic`: compares two LaTeX answers with math-verify.

Run as a script (`python -I _symbolic_worker.py`), never imported by the lab. It reads one JSON
line per request, `{"gold": "...", "pred": "..."}`, and writes one JSON line back,
`{"equal": true|false}` (with `"error"` when the comparison failed). The first line it writes is
`{"ready": true}`, once sympy and math-verify are loaded.

It runs untrusted text through sympy, so it lives in its own process: the parent kills it when a
comparison passes its deadline (a big-integer power holds the GIL, so no thread could stop it),
and its address space and the CPU time of each request are capped, so a blow-up ends here.

math-verify is used for its parser and its structural comparison (sets, tuples, intervals,
equations, symbolic simplification), with its two tolerances taken out, because the loop trains
on what passes: decimals are rewritten to exact fractions before parsing (no `0.333333 == 1/3`
by rounding), and its numeric comparison (`evalf(chop=True)`, which passes `\\sqrt{2} + 10^{-20}`
for `\\sqrt{2}` and an integer `9%` for `9`) is replaced by exact equality of evaluated values.
Only the parsed expressions are compared, never math-verify's string fallback (which reads
`0.5%` as `0.5`). This file knows nothing about the lab.
"""
from __future__ import annotations

import json
import re
import resource
import sys

MEMORY_BYTES = 2 * 1024**3  # address-space cap of this process
PARSE_TIMEOUT_S = 2  # math-verify's own (signal) timeouts: this process runs in its main thread
VERIFY_TIMEOUT_S = 2
CPU_SECONDS_PER_REQUEST = 30  # an orphaned comparison ends here at the latest
_DECIMAL = re.compile(r"(?<![0-9.])([0-9]+)\.([0-9]+)(?![0-9.])")


def _exact_decimals(latex: str) -> str:
    """`0.25` becomes `(\\frac{25}{100})`, so sympy never sees a Float."""
    def fraction(match: re.Match) -> str:
        whole, decimals = match.groups()
        numerator = (whole + decimals).lstrip("0") or "0"
        return f"(\\frac{{{numerator}}}{{1{'0' * len(decimals)}}})"
    return _DECIMAL.sub(fraction, latex)


def _install_exact_numbers(grader, sympy) -> None:
    def exact_numeric_eq(a, b, float_rounding, numeric_precision):
        try:
            a, b = grader.safe_sympy_doit(a), grader.safe_sympy_doit(b)
            if a.has(sympy.Float) or b.has(sympy.Float):
                return False
            return bool(a.is_Number and b.is_Number and a == b)
        except Exception:
            return False
    grader.sympy_numeric_eq = exact_numeric_eq


def _parsed(parse, config, latex: str):
    found = parse(f"${_exact_decimals(latex)}$", extraction_config=config,
                  parsing_timeout=PARSE_TIMEOUT_S)
    # parse returns [expression, string]; only the expression is compared
    return [item for item in found if not isinstance(item, str)][:1]


def _limit_cpu_for_one_request() -> None:
    """End this process (SIGXCPU) if one request uses CPU_SECONDS_PER_REQUEST: the parent kills
    it sooner, but a parent that died mid-comparison cannot, and PR_SET_PDEATHSIG would fire
    when the parent's *thread* that started it ends."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + CPU_SECONDS_PER_REQUEST
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(MEMORY_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    import sympy
    from math_verify import LatexExtractionConfig, grader, parse, verify

    _install_exact_numbers(grader, sympy)
    config = [LatexExtractionConfig()]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:  # ends when the parent closes the pipe or dies
        _limit_cpu_for_one_request()
        try:
            request = json.loads(line)
            gold = _parsed(parse, config, request["gold"])
            pred = _parsed(parse, config, request["pred"])
            if any(item.has(sympy.Float) for item in gold + pred):
                reply = {"equal": False, "error": "a decimal was left as a float"}
            else:
                equal = bool(gold and pred and verify(gold, pred, timeout_seconds=VERIFY_TIMEOUT_S))
                reply = {"equal": equal}
        except BaseException as error:  # MemoryError, RecursionError, math-verify's timeout
            reply = {"equal": False, "error": type(error).__name__}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
