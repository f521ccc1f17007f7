"""`python -m selfplay.commands.card`: measure a pretrained base model on dev (pass@k, greedy), and
with `--write` rewrite its eval.json and README.md. The library calls are
`selfplay.builtin_model.card.measure_dev` and `refresh`."""
from __future__ import annotations

import argparse
import json

from selfplay.builtin_model.card import REPO, measure_dev, refresh
from selfplay.commands.argtypes import answers, non_negative


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selfplay.commands.card",
                                     description="measure a base model on dev")
    parser.add_argument("--model", default=str(REPO / "models" / "base"), help="model directory")
    parser.add_argument("--samples", type=answers, default=32, help="samples per problem for pass@k")
    parser.add_argument("--funcs-limit", type=non_negative, default=50, help="funcs dev problems sampled")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--write", action="store_true", help="also rewrite the directory's eval.json and README.md")
    parser.add_argument("--stability", nargs="+", metavar="FILE",
                        help="expert_control.py --out summaries (a draw of expert rows each) to report as the "
                             "stability check")
    parser.add_argument("--keep-numbers", action="store_true", help="with --write: keep eval.json's dev numbers")
    args = parser.parse_args(argv)
    if args.write:
        print(json.dumps(refresh(args.model, args.samples, args.funcs_limit, args.seed, args.stability,
                                 measure=not args.keep_numbers)))
    else:
        print(json.dumps(measure_dev(args.model, args.samples, args.funcs_limit, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
