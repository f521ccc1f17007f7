"""`lab tree`: list, show, serve and export a run's search trees.

    lab tree list RUN [--round K] [--filter solved|unsolved|new] [--task T] [--json]
    lab tree show RUN --problem ID [--round K] [--depth D] [--top N] [--width W]
    lab tree serve RUN [--host 127.0.0.1] [--port 8765] [--allow-host NAME ...]
    lab tree export RUN --problem ID [--round K] --out FILE.html|FILE.dot [--depth D]

A problem is named by its id or a unique prefix of it; without `--round`, `show` and `export`
take the latest round that holds the problem. Knows argparse and rich; the work is in the
sibling modules.
"""
from __future__ import annotations

import argparse
import json

from rich.console import Console

from selfplay.commands.argtypes import non_negative, positive
from selfplay.runfiles.runread import RunError, RunView, open_run
from selfplay.treeview.payload import FILTERS, filter_summaries, run_payload, tree_payload


def _round_for(run: RunView, args: argparse.Namespace) -> int:
    if args.round is not None:
        return args.round
    rounds = run.rounds_of(args.problem)
    if not rounds:
        raise RunError(f"no problem {args.problem!r} in any round of {run.path} "
                       f"(rounds with trees: {', '.join(map(str, run.round_indices())) or 'none yet'})")
    return rounds[-1]


def list_cli(args: argparse.Namespace) -> int:
    from selfplay.treeview.text import problems_table, rounds_table

    run = open_run(args.run_dir)
    rounds = [args.round] if args.round is not None else run.round_indices()
    rows = [row for index in rounds for row in filter_summaries(run.summaries(index), args.filter, args.task)]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    console = Console()
    console.print(rounds_table(run_payload(run)))
    title = f"{args.filter} problems of round {', '.join(map(str, rounds)) or '-'}" + (f", task {args.task}"
                                                                                     if args.task else "")
    console.print(problems_table(rows, title))
    return 0


def show_cli(args: argparse.Namespace) -> int:
    from selfplay.treeview.text import tree_view

    run = open_run(args.run_dir)
    payload = tree_payload(run, _round_for(run, args), args.problem)
    Console().print(tree_view(payload, depth=args.depth, top=args.top, width=args.width))
    return 0


def serve_cli(args: argparse.Namespace) -> int:
    from selfplay.treeview.server import make_server

    try:
        server = make_server(args.run_dir, args.host, args.port, quiet=not args.verbose,
                             allow_hosts=tuple(args.allow_hosts))
    except OSError as error:  # a busy port, an address not on this machine, a host name that does not resolve
        raise OSError(f"--host {args.host} --port {args.port}: cannot serve there "
                      f"({error.strerror or error})") from None
    print(f"serving {server.run.path} at {server.url}  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def export_cli(args: argparse.Namespace) -> int:
    from selfplay.treeview.files import write_dot, write_html

    run = open_run(args.run_dir)
    index = _round_for(run, args)
    payload = {**tree_payload(run, index, args.problem), "run_path": str(run.path)}
    suffix = args.out.rsplit(".", 1)[-1].lower()
    if suffix in ("html", "htm"):
        from selfplay.treeview.server import render_plot

        path = write_html(payload, args.out, render_plot(run, index) if args.plot else None)
    elif suffix in ("dot", "gv"):
        path = write_dot(payload, args.out, depth=args.depth)
    else:
        raise RunError(f"{args.out}: export a tree to .html or .dot")
    print(f"wrote round {index} tree of {payload['problem_id']} to {path}")
    return 0


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535 (0: any free one), got {text}")
    return value


def _one_tree_parser(actions, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand about one problem's tree: RUN, --problem, --round."""
    parser = actions.add_parser(name, help=help_text)
    parser.add_argument("run_dir", metavar="RUN", help="the run directory")
    parser.add_argument("--problem", required=True, help="problem id (or a unique prefix)")
    parser.add_argument("--round", type=non_negative, help="round (default: the latest holding the problem)")
    return parser


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("tree", help="inspect a run's search trees: list, show, serve, export")
    actions = parser.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="rounds and problems, with filters")
    listing.add_argument("run_dir", metavar="RUN", help="the run directory")
    listing.add_argument("--round", type=non_negative, help="only this round")
    listing.add_argument("--filter", default="all", choices=FILTERS,
                         help="solved, unsolved, or new: solved here after failing in an earlier round")
    listing.add_argument("--task", help="only this task")
    listing.add_argument("--json", action="store_true", help="one JSON object per problem")
    listing.set_defaults(run=list_cli)

    show = _one_tree_parser(actions, "show", "one problem's tree in the terminal")
    show.add_argument("--depth", type=non_negative, help="show this many steps below the root, count the rest")
    show.add_argument("--top", type=positive, help="per node, show the N most visited children (+ chosen, selected)")
    show.add_argument("--width", type=positive, default=60, help="characters of step text per node")
    show.set_defaults(run=show_cli)

    serve = actions.add_parser("serve", help="a local web viewer of the run (re-reads it as it is written)")
    serve.add_argument("run_dir", metavar="RUN", help="the run directory")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    serve.add_argument("--port", type=_port, default=8765, help="port (0: any free one)")
    serve.add_argument("--allow-host", dest="allow_hosts", action="append", default=[], metavar="NAME",
                       help="also answer requests for this host name (say, a proxy's or a DNS alias); repeatable. "
                            "localhost, the bound address and, off loopback, this machine's names are always answered")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.set_defaults(run=serve_cli)

    export = _one_tree_parser(actions, "export", "one tree to a self-contained .html or a Graphviz .dot file")
    export.add_argument("--out", required=True, help="FILE.html or FILE.dot")
    export.add_argument("--depth", type=non_negative, help="DOT: leave out nodes deeper than this")
    export.add_argument("--no-plot", dest="plot", action="store_false",
                        help="HTML: leave out the round's accuracy-versus-compute plot")
    export.set_defaults(run=export_cli)
    return parser
