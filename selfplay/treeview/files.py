"""The viewer page, and one tree as a file: self-contained HTML or Graphviz DOT.

    html = viewer_page()                                  # what `lab tree serve` sends for /
    write_html(tree_payload(run, 2, "countdown-4c48"), "tree.html")   # opens offline, no server
    write_dot(tree_payload(run, 2, "countdown-4c48"), "tree.dot")     # dot -Tsvg tree.dot > tree.svg

The page is `static/viewer.html`: one HTML file with its style and script inline and no outside
resource. A Content-Security-Policy allows exactly that style and that script (by their
sha256), so even text that slipped into the page as markup could not run. The HTML export is
the same page with the tree's payload in a `<script type="application/json">` data block, its
`<`, `>` and `&` written as JSON escapes so no step text can close the block.

DOT labels escape backslashes and quotes; step text shows newlines as ⏎ and control characters
as \\xNN (`text.printable`). Knows the payloads and the page; nothing about HTTP or runs.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

from selfplay.runfiles.rundir import write_text
from selfplay.treeview.text import printable, subtree_size

PAGE = Path(__file__).resolve().parent / "static" / "viewer.html"
CSP_SLOT = "<!--CSP-->"
DATA_SLOT = "<!--EMBEDDED-->"


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def content_policy(page: str, *, standalone: bool) -> str:
    """The page's CSP: its own inline style and script only; the server page may fetch from its origin."""
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    sources = "img-src data:" if standalone else "img-src 'self' data:; connect-src 'self'"
    return (f"default-src 'none'; script-src {_digest(script)}; style-src {_digest(style)}; {sources}; "
            "base-uri 'none'; form-action 'none'")


def script_json(value) -> str:
    """JSON that is safe inside a <script> data block.

    >>> script_json({"t": "</script><b>&"})
    '{"t": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    text = json.dumps(value, ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def viewer_page(embedded: dict | None = None) -> tuple[str, str]:
    """(the page's HTML, its CSP): the server's page, or with `embedded` a standalone one-tree page."""
    page = PAGE.read_text(encoding="utf-8")
    policy = content_policy(page, standalone=embedded is not None)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    data = "" if embedded is None else \
        f'<script id="embedded-tree" type="application/json">{script_json(embedded)}</script>'
    return page.replace(CSP_SLOT, meta, 1).replace(DATA_SLOT, data, 1), policy


def write_html(payload: dict, path: str | os.PathLike, plot_png: bytes | None = None) -> Path:
    """One tree as a self-contained HTML file (optionally with the round's plot inlined)."""
    embedded = dict(payload)
    if plot_png:
        embedded["plot"] = "data:image/png;base64," + base64.b64encode(plot_png).decode()
    return write_text(path, viewer_page(embedded)[0])


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(tree: dict, nodes: dict, node: int, width: int) -> str:
    lines = [("★ " if tree["selected"][node] else "") + (printable(tree["step_texts"][node], width) if node
                                                          else "(prompt)")]
    value = nodes["value"][node]
    stats = f"N={tree['visit_counts'][node]}" + ("" if value is None else f" V={value:.2f}")
    if tree["scores"][node] is not None:
        stats += f" S={tree['scores'][node]:.2f}"
    if nodes["graded_below"][node]:
        stats += f" ✓{nodes['verified_below'][node]}/{nodes['graded_below'][node]}"
    lines.append(stats + (" ⚠" if nodes["disagree"][node] else ""))
    verdict = tree["verdicts"][node]
    if verdict is not None:
        lines.append(("✓ " if verdict.get("passed") else "✗ ") + printable(str(verdict.get("status")), 20))
    return "\\n".join(_dot_string(line)[1:-1] for line in lines)


def to_dot(payload: dict, *, depth: int | None = None, width: int = 40) -> str:
    """The tree as a Graphviz digraph: chosen path bold green, selected nodes yellow, verdicts coloured."""
    tree, nodes = payload["tree"], payload["nodes"]
    title = f"round {payload['round']}  {payload['problem_id']}  {tree['strategy']}"
    lines = ["digraph tree {",
             f'  graph [rankdir=TB, labelloc=t, fontname="Helvetica", label={_dot_string(title)}];',
             '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
             '  edge [color="#888888"];']
    for node in range(len(tree["parents"])):
        if depth is not None and tree["depths"][node] > depth:
            continue
        verdict = tree["verdicts"][node]
        fill = "#fff3c4" if tree["selected"][node] else \
            "#dff2e1" if verdict and verdict.get("passed") else "#fbe0e0" if verdict else "#ffffff"
        border = ', color="#2e7d32", penwidth=2.5' if tree["chosen"][node] else ""
        style = ', style="rounded,filled,dashed"' if tree["rollout"][node] else ""
        lines.append(f'  n{node} [label="{_dot_label(tree, nodes, node, width)}", fillcolor="{fill}"{border}{style}];')
        parent = tree["parents"][node]
        if parent >= 0:
            edge = ' [color="#2e7d32", penwidth=2.5]' if tree["chosen"][node] else ""
            lines.append(f"  n{parent} -> n{node}{edge};")
        if depth is not None and tree["depths"][node] == depth and nodes["children"][node]:
            hidden = subtree_size(nodes, node) - 1
            lines.append(f'  more{node} [label="… {hidden} nodes", shape=plaintext, style=""];')
            lines.append(f"  n{node} -> more{node} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(payload: dict, path: str | os.PathLike, *, depth: int | None = None) -> Path:
    return write_text(path, to_dot(payload, depth=depth))
