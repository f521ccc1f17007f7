"""`lab tree list` and `lab tree show`: a run's rounds and problems as tables, one tree as a rich tree.

    console.print(rounds_table(run_payload(run)))
    console.print(problems_table(rows, title="round 2"))
    console.print(tree_view(tree_payload(run, 2, "countdown-4c48"), depth=4, top=3))

A node's line: `#index`, the step text (newlines as ⏎, control characters as \\xNN, cut to
`width`), N visits, V mean value, S scorer score, the verified share of the answers below it,
and at a graded leaf the verdict. The chosen answer's path is bold green, nodes selected as
training data carry ★, a node where the scorer or value and the verified share below it are
0.5 or more apart carries ⚠. Under a node's line, one line per tool call its step made:
`⚙ tool status: input → output` (red when the call failed). `depth` cuts the tree below that
many steps; `top` keeps the children with the most visits (plus any on the chosen path or
selected) and counts the rest.

Step text is model output: it only ever goes into `rich.text.Text` objects, never into markup.
Knows rich and the payloads of `selfplay.treeview.payload`; nothing about files or HTTP.
"""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree as RichTree

LEGEND = ("bold green: chosen answer's path   ★ selected for training   ✓/✗ verdict   "
          "⚠ value and verifier disagree   ⚙ tool call")


def printable(text: str, width: int | None = None) -> str:
    """Step text on one line: newlines as ⏎, tabs as →, other control characters as \\xNN; cut to `width`.

    >>> printable("25-5=20\\n\\x1b[2J", 40)
    '25-5=20⏎\\\\x1b[2J'
    >>> printable("abcdef", 4)
    'abc…'
    """
    shown = "".join("⏎" if char == "\n" else "→" if char == "\t" else
                    f"\\x{ord(char):02x}" if ord(char) < 32 or 127 <= ord(char) < 160 else char for char in text)
    return shown if width is None or len(shown) <= width else shown[:width - 1] + "…"


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def rounds_table(payload: dict) -> Table:
    table = Table(title=f"{payload['path']}: rounds")
    for column in ("round", "done", "problems", "solved", "newly solved", "dev fast", "dev deliberate"):
        table.add_column(column, justify="right")
    for row in payload["rounds"]:
        counts = ("-", "-", "-") if row["round"] == 0 else (str(row["problems"]), str(row["solved"]), str(row["new"]))
        table.add_row(str(row["round"]), "yes" if row["done"] else "no", *counts, _accuracy(row["fast"]),
                      _accuracy(row["deliberate"]))
    return table


def problems_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("round", "problem", "task", "strategy", "nodes", "depth", "✓/graded", "chosen", "selected",
                   "status"):
        table.add_column(column, justify="left" if column in ("problem", "task", "strategy", "status") else "right",
                         no_wrap=column in ("problem", "status"))
    for row in rows:
        status = Text("newly solved", style="bold green") if row["new"] else \
            Text("solved", style="green") if row["solved"] else Text("unsolved", style="red")
        table.add_row(str(row["round"]), Text(row["problem_id"]), Text(str(row["task"])), Text(str(row["strategy"])),
                      str(row["nodes"]), str(row["depth"]), f"{row['passed']} / {row['answers']}",
                      Text(row["chosen_status"] or "-"), str(row["selected"]), status)
    return table


def node_label(tree: dict, nodes: dict, node: int, width: int) -> Text:
    """One node's line (see the module docstring)."""
    on_path, style = tree["chosen"][node], "bold green" if tree["chosen"][node] else ""
    label = Text()
    if tree["selected"][node]:
        label.append("★ ", style="yellow")
    label.append(f"#{node} ", style="dim")
    label.append(printable(tree["step_texts"][node], width) if node else "(prompt)", style=style or None)
    stats = f"  N={tree['visit_counts'][node]}"
    if nodes["value"][node] is not None:
        stats += f" V={nodes['value'][node]:.2f}"
    if tree["scores"][node] is not None:
        stats += f" S={tree['scores'][node]:.2f}"
    label.append(stats, style="cyan" if on_path else "dim")
    if nodes["graded_below"][node]:
        label.append(f" ✓{nodes['verified_below'][node]}/{nodes['graded_below'][node]}", style="dim")
    verdict = tree["verdicts"][node]
    if verdict is not None:
        passed = bool(verdict.get("passed"))
        label.append(f"  {'✓' if passed else '✗'} {verdict.get('status')}", style="green" if passed else "red")
    elif tree["terminal"][node]:
        label.append("  · ungraded", style="dim")
    if tree["rollout"][node]:
        label.append(" (rollout)", style="dim")
    if nodes["disagree"][node]:
        label.append(" ⚠", style="bold yellow")
    calls = tree.get("tool_calls") or []  # trees written before tools, or without calls, have none
    for call in calls[node] if node < len(calls) else []:
        label.append("\n")
        label.append_text(call_line(call, width))
    return label


def call_line(call: dict, width: int) -> Text:
    """One tool call under its node: `⚙ python ok: print(6*7) → ```output⏎42⏎```⏎`."""
    failed = call.get("status") != "ok"
    line = Text(f"⚙ {call.get('tool')} {call.get('status')}: ", style="red" if failed else "blue")
    line.append(printable(str(call.get("input", "")), width // 2))
    line.append(" → ", style="dim")
    line.append(printable(str(call.get("output", "")), width), style="red" if failed else None)
    return line


def shown_children(tree: dict, nodes: dict, node: int, top: int | None) -> tuple[list[int], list[int]]:
    """(children to show, children left out): the `top` most visited, plus chosen and selected ones."""
    children = nodes["children"][node]
    if top is None or len(children) <= top:
        return children, []
    ranked = sorted(children, key=lambda child: (-tree["visit_counts"][child], child))
    keep = set(ranked[:top]) | {child for child in children if tree["chosen"][child] or tree["selected"][child]}
    return [child for child in children if child in keep], [child for child in children if child not in keep]


def subtree_size(nodes: dict, node: int) -> int:
    size, stack = 0, [node]
    while stack:
        current = stack.pop()
        size += 1
        stack.extend(nodes["children"][current])
    return size


def tree_view(payload: dict, *, depth: int | None = None, top: int | None = None, width: int = 60) -> Group:
    """The tree of a `tree_payload` as a rich renderable: a header, the prompt, the tree, the legend."""
    tree, nodes, summary = payload["tree"], payload["nodes"], payload["summary"]
    header = Text(f"round {payload['round']}  {payload['problem_id']}  {summary['task']}  {summary['strategy']}  "
                  f"{summary['nodes']} nodes  verified {summary['passed']}/{summary['answers']}  "
                  f"selected {summary['selected']} nodes", style="bold")
    root = RichTree(node_label(tree, nodes, 0, width))
    stack = [(root, 0)]
    while stack:
        branch, node = stack.pop()
        if depth is not None and tree["depths"][node] >= depth and nodes["children"][node]:
            below = subtree_size(nodes, node) - 1
            branch.add(Text(f"… {below} nodes below (--depth {depth})", style="dim"))
            continue
        shown, hidden = shown_children(tree, nodes, node, top)
        for child in shown:
            stack.append((branch.add(node_label(tree, nodes, child, width)), child))
        if hidden:
            count = sum(subtree_size(nodes, child) for child in hidden)
            children = "child" if len(hidden) == 1 else "children"
            branch.add(Text(f"… {len(hidden)} more {children}, {count} nodes (--top {top})", style="dim"))
    parts = [header]
    if payload.get("prompt"):
        parts.append(Text("prompt: ", style="dim") + Text(printable(payload["prompt"])))
    return Group(*parts, root, Text(LEGEND, style="dim"))
