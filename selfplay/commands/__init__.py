"""The `lab` command line, one module per subcommand, each the same shape: `register(subparsers)`
adds its parser and sets `run(args) -> int`, which wires the flags to library code and prints the
result. `lab.py` is the one entry point (`lab`, `python -m selfplay.commands.lab`, `jobs/`);
`pretrain` and `reward_model`, which load torch when imported, are handed their flags by `lab.main`
and parse them in their own `main(argv)`. `card` is `python -m selfplay.commands.card`.
"""
