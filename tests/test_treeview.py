"""Tree inspection on a hand-made run: listing and filters, the text view, DOT and HTML files, the
JSON server (re-reading a growing run), and clear messages for a missing run, round, problem or format."""
from __future__ import annotations

import doctest
import gzip
import json
import re
import socket
import threading
import urllib.error
import urllib.request

import pytest
from rich.console import Console

from search import Tree, TreeFormatError
from selfplay.commands import lab as cli
from selfplay.runfiles import runread, treeio
from selfplay.runfiles.runread import RunError, node_annotations, open_run
from selfplay.treeview import files, payload, server as server_module, text
from selfplay.treeview.server import make_server
from tests.fixture_run import A, B, C, HOSTILE, HOSTILE_ANSWER, build_tree, make_run, node, round_one
from verifiers import scorer_data


@pytest.fixture()
def run_path(tmp_path):
    return make_run(tmp_path)


def rendered(renderable, width: int = 160) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("module", [text, files, scorer_data, server_module])
def test_doctests(module):
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0


# --- reading the run ---------------------------------------------------------------------------

def test_summaries_count_answers_and_mark_problems_newly_solved(run_path):
    run = open_run(run_path)
    assert run.round_indices() == [1, 2]  # round 2's torn tree is left out, not an error
    one = {row["problem_id"]: row for row in run.summaries(1)}
    two = {row["problem_id"]: row for row in run.summaries(2)}
    assert sorted(two) == sorted([B, C])
    assert (one[A]["answers"], one[A]["passed"], one[A]["solved"], one[A]["selected"]) == (3, 1, True, 2)
    assert one[A]["chosen_status"] == "passed" and one[B]["chosen_status"] == "wrong"
    assert [two[B]["new"], two[C]["new"], one[A]["new"]] == [True, False, False]  # B failed in round 1
    assert payload.filter_summaries(run.summaries(2), "new") == [two[B]]
    assert [row["problem_id"] for row in payload.filter_summaries(run.summaries(1), "unsolved")] == [B]
    assert run.rounds_of(B) == [1, 2] and run.rounds_of(A) == [1]
    assert run.resolve(1, A[:14]) == A  # a unique prefix names a problem


def test_node_annotations_count_verified_answers_below_and_flag_disagreement():
    annotations = node_annotations(Tree.from_dict(round_one()[0]))
    assert annotations["children"][0] == [1, 4] and annotations["children"][4] == [5, 6]
    assert annotations["verified_below"][:5] == [1, 1, 1, 0, 0]
    assert annotations["graded_below"][:5] == [3, 2, 1, 1, 1]
    assert annotations["value"][1] == pytest.approx(0.75)
    # node 4: the scorer says 0.9, its one graded answer failed; node 1: value 0.75, 1 of 2 verified
    assert [n for n, flag in enumerate(annotations["disagree"]) if flag] == [4]


def test_run_payload_lists_rounds_with_dev_accuracy(run_path):
    data = payload.run_payload(open_run(run_path))
    assert [(r["round"], r["done"], r["problems"], r["solved"], r["new"]) for r in data["rounds"]] == \
        [(0, True, 0, 0, 0), (1, True, 2, 1, 0), (2, False, 2, 1, 1)]
    assert [(r["fast"], r["deliberate"]) for r in data["rounds"]] == [(0.1, 0.3), (0.2, 0.4), (None, None)]
    rows = payload.plot_rows(open_run(run_path), 2)  # round 2 has no metrics yet: rounds 0 and 1 only
    assert [(row["strategy"], row["tokens_per_problem"], row["accuracy"]) for row in rows] == \
        [("round 0", 60, 0.1), ("round 0", 400, 0.3), ("round 1", 60, 0.2), ("round 1", 400, 0.4)]


def test_problem_ids_and_rounds_that_are_not_there_get_clear_errors(run_path, tmp_path):
    run = open_run(run_path)
    with pytest.raises(RunError, match=r"no trees for round 5 \(rounds with trees: 1, 2\)"):
        run.trees(5)
    with pytest.raises(RunError, match=f"no problem '{A}' in round 2 .* it is in round 1"):
        run.tree(2, A)
    with pytest.raises(RunError, match="matches 2 problems in round 2"):
        run.tree(2, "countdown-")
    with pytest.raises(RunError, match="no such run directory"):
        open_run(tmp_path / "missing")
    with pytest.raises(RunError, match="not a run directory"):
        open_run(tmp_path / "model")


def test_a_tree_of_another_format_version_is_a_clear_error(run_path):
    future = {**round_one()[0], "format": "selfplay.tree/2"}
    treeio.append_trees(run_path / "round-3" / "trees.jsonl.gz", [future])
    with pytest.raises(TreeFormatError, match="selfplay.tree/2"):
        open_run(run_path).trees(3)


def test_a_growing_trees_file_is_read_again(run_path):
    run = open_run(run_path)
    assert len(run.trees(2)) == 2
    path = run_path / "round-2" / "trees.jsonl.gz"
    treeio.repair_trees(path)  # what a resumed job does before appending
    treeio.append_trees(path, [build_tree("countdown-late", 2, [node(0, "7", terminal=True, passed=True)])])
    assert [row["problem_id"] for row in run.summaries(2)][-1] == "countdown-late"


# --- the command line --------------------------------------------------------------------------

def test_tree_list_filters_and_prints_json(run_path, capsys):
    assert cli.main(["tree", "list", str(run_path), "--filter", "new", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(row["round"], row["problem_id"], row["new"]) for row in rows] == [(2, B, True)]
    assert cli.main(["tree", "list", str(run_path), "--round", "1", "--filter", "solved", "--json"]) == 0
    assert [json.loads(line)["problem_id"] for line in capsys.readouterr().out.splitlines()] == [A]


def test_tree_list_table_shows_rounds_and_problems(run_path):
    run = open_run(run_path)
    shown = rendered(text.rounds_table(payload.run_payload(run))) + \
        rendered(text.problems_table(run.summaries(2), "round 2"))
    assert re.search(r"│\s+2 │\s+no │\s+2 │\s+1 │\s+1 │", shown)  # round 2: running, 2 problems, 1 solved, 1 new
    assert "newly solved" in shown and C in shown


def test_tree_show_marks_chosen_path_selected_nodes_verdicts_and_disagreement(run_path):
    shown = rendered(text.tree_view(payload.tree_payload(open_run(run_path), 1, A)))
    lines = {line.split("#", 1)[1].split(" ", 1)[0]: line for line in shown.splitlines() if "#" in line}
    assert "★" in lines["1"] and "★" in lines["2"] and "★" not in lines["3"]
    assert "✓ passed" in lines["2"] and "✗ wrong" in lines["3"] and "· ungraded" in lines["6"]
    assert "91+92=183⏎" in lines["1"] and "N=4 V=0.75" in lines["1"] and "✓1/2" in lines["1"]
    assert "⚠" in lines["4"] and "S=0.90" in lines["4"] and "⚠" not in lines["1"]
    assert "(rollout)" in lines["6"]
    assert "prompt: Use 91 92 93 to make 500" in shown


def test_tree_show_styles_the_chosen_path():
    label = text.node_label(round_one()[0], node_annotations(Tree.from_dict(round_one()[0])), 2, 60)
    styled = {label.plain[span.start:span.end]: str(span.style) for span in label.spans}
    assert styled["183+93=276"] == "bold green"


def test_tree_show_depth_and_top_keep_big_trees_short(run_path):
    wide = build_tree("countdown-wide", 1, [node(0, f"{i}+1={i + 1}\n", visits=i) for i in range(1, 9)] +
                      [node(8, "deep\n"), node(9, "deeper", terminal=True, passed=False)], chosen=10)
    data = {"round": 1, "problem_id": "countdown-wide", "prompt": None, "tree": wide,
            "nodes": node_annotations(Tree.from_dict(wide)), "summary": runread.tree_summary(Tree.from_dict(wide))}
    shown = rendered(text.tree_view(data, top=2, depth=1))
    kept = re.findall(r"#(\d+) ", shown)
    assert kept == ["0", "7", "8"]  # the two most visited children (8 is also on the chosen path)
    assert "… 6 more children, 6 nodes (--top 2)" in shown
    assert "… 2 nodes below (--depth 1)" in shown  # under node 8


def test_tree_show_prints_hostile_step_text_inertly(run_path):
    shown = rendered(text.tree_view(payload.tree_payload(open_run(run_path), 2, C)))
    assert "\x1b" not in shown and "\\x1b[2J" in shown
    assert '<img src=x onerror="window.__pwned=1">' in shown  # as text; a terminal has no markup to run


def test_bad_input_ends_with_a_message_not_a_traceback(run_path, tmp_path, capsys):
    assert cli.main(["tree", "show", str(tmp_path / "nope"), "--problem", A]) == 2
    assert cli.main(["tree", "show", str(run_path), "--problem", A, "--round", "4"]) == 2
    assert cli.main(["tree", "show", str(run_path), "--problem", "countdown-ffff"]) == 2
    assert cli.main(["tree", "export", str(run_path), "--problem", A, "--out", str(tmp_path / "t.svg")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [f"lab: error: {tmp_path / 'nope'}: no such run directory",
                      f"lab: error: {run_path}: no trees for round 4 (rounds with trees: 1, 2)",
                      f"lab: error: no problem 'countdown-ffff' in any round of {run_path} (rounds with trees: 1, 2)",
                      f"lab: error: {tmp_path / 't.svg'}: export a tree to .html or .dot"]
    treeio.append_trees(run_path / "round-3" / "trees.jsonl.gz", [{**round_one()[0], "format": "other/9"}])
    assert cli.main(["tree", "list", str(run_path)]) == 2
    assert "tree format 'other/9' is not supported" in capsys.readouterr().err


def test_tree_show_defaults_to_the_latest_round_with_the_problem(run_path, capsys):
    assert cli.main(["tree", "show", str(run_path), "--problem", B[:16]]) == 0
    assert f"round 2  {B}" in capsys.readouterr().out


# --- files -------------------------------------------------------------------------------------

def test_dot_export_draws_every_node_with_escaped_labels(run_path, tmp_path):
    assert cli.main(["tree", "export", str(run_path), "--problem", C, "--out", str(tmp_path / "c.dot")]) == 0
    dot = (tmp_path / "c.dot").read_text()
    assert dot.startswith("digraph tree {") and dot.rstrip().endswith("}")
    assert re.findall(r"^\s+n(\d+) \[", dot, re.M) == ["0", "1", "2"]
    assert "n0 -> n1" in dot and "n1 -> n2" in dot
    assert '\\"window.__pwned=1\\"' in dot and "\x1b" not in dot
    wide = files.to_dot(payload.tree_payload(open_run(run_path), 2, C), width=100)
    assert 'label="<img src=x onerror=\\"window.__pwned=1\\">\\\\x1b[2J</script>⏎\\n' in wide  # quotes, backslashes
    a = files.to_dot(payload.tree_payload(open_run(run_path), 1, A), depth=1)
    assert 'n1 -> n2' not in a and "… 2 nodes" in a  # depth 1 keeps the root's children
    whole = files.to_dot(payload.tree_payload(open_run(run_path), 1, A))
    assert re.search(r'n2 \[label="★ 183\+93=276.*penwidth=2.5', whole)  # selected, on the chosen path


def test_html_export_is_self_contained_and_keeps_step_text_inside_its_data_block(run_path, tmp_path):
    out = tmp_path / "c.html"
    assert cli.main(["tree", "export", str(run_path), "--problem", C, "--round", "2", "--out", str(out)]) == 0
    page = out.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert "Content-Security-Policy" in page and "connect-src" not in page
    assert page.count("</script>") == 2  # the data block and the page script: step text closes none
    block = re.search(r'<script id="embedded-tree" type="application/json">(.*?)</script>', page, re.S).group(1)
    data = json.loads(block)
    assert data["tree"]["step_texts"][1] == HOSTILE + "\n" and data["tree"]["step_texts"][2] == HOSTILE_ANSWER
    assert data["plot"].startswith("data:image/png;base64,")  # rounds 0 and 1 were evaluated


def test_the_page_policy_allows_its_own_script_only():
    page, policy = files.viewer_page()
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    assert files._digest(script) in policy and "'unsafe-inline'" not in policy and "default-src 'none'" in policy


# --- the server --------------------------------------------------------------------------------

@pytest.fixture()
def server(run_path):
    server = make_server(run_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def get(server, path: str, host: str | None = None, headers: dict | None = None):
    headers = {**({"Host": host} if host else {}), **(headers or {})}
    request = urllib.request.Request(server.url + path.lstrip("/"), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_server_json_endpoints(server):
    status, headers, body = get(server, "/api/run")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [r["round"] for r in json.loads(body)["rounds"]] == [0, 1, 2]
    status, _, body = get(server, "/api/problems?round=2&filter=new")
    assert [row["problem_id"] for row in json.loads(body)["problems"]] == [B]
    status, _, body = get(server, f"/api/tree?round=1&problem={A[:14]}")
    tree = json.loads(body)
    assert tree["problem_id"] == A and tree["nodes"]["disagree"][4] and tree["rounds"] == [1]
    assert tree["prompt"].startswith("Use 91 92 93")
    status, headers, body = get(server, "/api/plot.png?round=1")
    assert status == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"
    status, headers, body = get(server, "/")
    assert status == 200 and b"selfplay trees" in body and "script-src 'sha256-" in headers["Content-Security-Policy"]


def test_server_errors_are_json_messages(server, run_path):
    assert get(server, "/api/tree?round=7&problem=x")[0] == 404
    status, _, body = get(server, "/api/tree?round=one&problem=x")
    assert status == 400 and "must be an integer" in json.loads(body)["error"]
    assert get(server, "/api/tree?round=1")[0] == 400
    assert get(server, "/api/problems?round=1&filter=bogus")[0] == 404
    assert get(server, "/etc/passwd")[0] == 404
    assert get(server, "/api/run", host="attacker.example:80")[0] == 403
    treeio.append_trees(run_path / "round-3" / "trees.jsonl.gz", [{**round_one()[0], "format": "selfplay.tree/0"}])
    status, _, body = get(server, "/api/problems?round=3")
    assert status == 422 and "selfplay.tree/0" in json.loads(body)["error"]


def test_server_sees_trees_appended_while_it_runs(server, run_path):
    path = run_path / "round-2" / "trees.jsonl.gz"
    assert len(json.loads(get(server, "/api/problems?round=2")[2])["problems"]) == 2
    treeio.repair_trees(path)
    treeio.append_trees(path, [build_tree("countdown-late", 2, [node(0, "7", terminal=True, passed=True)])])
    with open(path, "ab") as out:
        out.write(gzip.compress(b'{"format": "selfplay.tree/1"')[:10])  # the next append, torn
    problems = json.loads(get(server, "/api/problems?round=2")[2])["problems"]
    assert [row["problem_id"] for row in problems] == sorted([B, C, "countdown-late"])


def test_plots_are_drawn_only_for_rounds_that_exist_and_the_cache_is_bounded(server, monkeypatch):
    drawn = []
    monkeypatch.setattr(server_module, "render_plot", lambda run, index: drawn.append(index) or b"png")
    monkeypatch.setattr(server_module, "PLOT_CACHE", 2)
    for index in ("1000000000000", "3", "-1"):
        status, _, body = get(server, f"/api/plot.png?round={index}")
        assert status == 404 and "(rounds: 0, 1, 2)" in json.loads(body)["error"]
    assert drawn == []
    for index in (0, 1, 2, 0):
        assert get(server, f"/api/plot.png?round={index}")[2] == b"png"
    assert drawn == [0, 1, 2, 0] and len(server._plots) == 2  # round 0 fell out of the cache of two


def test_plot_rows_read_only_the_rounds_there_are(run_path, monkeypatch):
    run = open_run(run_path)
    asked = []
    real = run.evaluation
    monkeypatch.setattr(run, "evaluation", lambda index: asked.append(index) or real(index))
    assert [row["strategy"] for row in payload.plot_rows(run, 10 ** 12)] == ["round 0"] * 2 + ["round 1"] * 2
    assert asked == [0, 1]


def test_requests_another_site_makes_are_refused(server):
    assert get(server, "/api/plot.png?round=1", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert get(server, "/api/run", headers={"Sec-Fetch-Site": "same-site"})[0] == 403  # another port, say
    assert get(server, "/api/run", headers={"Sec-Fetch-Site": "same-origin"})[0] == 200
    assert get(server, "/", headers={"Sec-Fetch-Site": "none"})[0] == 200  # an address typed in


def test_bound_to_every_address_the_host_check_stays_on(run_path):
    server = make_server(run_path, host="0.0.0.0", port=0, allow_hosts=("Viewer.Example",))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        def status(host: str) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/run", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        assert status("attacker.example") == 403  # a rebound DNS name
        assert status(f"attacker.example:{port}") == 403
        assert status(f"localhost:{port}") == 200 and status(f"127.0.0.1:{port}") == 200
        assert status(f"{socket.gethostname()}:{port}") == 200
        assert status(f"viewer.example:{port}") == 200  # --allow-host
    finally:
        server.shutdown()
        server.server_close()


def test_host_check_allows_this_machine_and_the_named_hosts_only():
    loopback = server_module.allowed_hosts("127.0.0.1")
    assert loopback == {"localhost", "127.0.0.1", "::1"}
    everywhere = server_module.allowed_hosts("0.0.0.0", ("proxy.example",))
    assert {"localhost", "proxy.example", server_module.host_name(socket.gethostname())} <= everywhere
    assert "attacker.example" not in everywhere


def test_tree_serve_takes_allow_host(run_path, monkeypatch):
    made = {}

    class Stop(Exception):
        pass

    def fake(run_dir, host, port, quiet, allow_hosts):
        made.update(host=host, allow_hosts=allow_hosts)
        raise Stop

    monkeypatch.setattr(server_module, "make_server", fake)
    with pytest.raises(Stop):
        cli.main(["tree", "serve", str(run_path), "--host", "0.0.0.0", "--allow-host", "a.example",
                  "--allow-host", "b.example"])
    assert made == {"host": "0.0.0.0", "allow_hosts": ("a.example", "b.example")}


def tool_tree_payload() -> dict:
    tree = Tree(strategy="greedy", problem_id="arith-tools", task="arith", round=1)
    code = "print(3 * 4\n"
    step = f"```python\n{code}```\n```output\nerror: SyntaxError: '(' was never closed\n```\n"
    first = tree.add_node(0, step, token_count=len(step), logprob=-1.0, terminal=False, tool_calls=[
        {"tool": "python", "input": code.strip(), "output": step[len(code) + 14:], "status": "error",
         "wall_s": 0.2, "start": len(code) + 14}])
    tree.add_node(first, "<<3*4=12>>\n#### 12", token_count=18, logprob=-0.5, terminal=True, tool_calls=[
        {"tool": "calculator", "input": "3*4", "output": "12>>", "status": "ok", "wall_s": 0.0, "start": 6}])
    return {"round": 1, "problem_id": "arith-tools", "prompt": None, "rounds": [1], "tree": tree.to_dict(),
            "nodes": node_annotations(tree), "summary": runread.tree_summary(tree)}


def test_tree_show_prints_each_call_under_its_node(run_path):
    calls = re.findall(r"⚙ ((?:python|calculator) .*?)\s*$", rendered(text.tree_view(tool_tree_payload())), re.M)
    assert calls == ["python error: print(3 * 4 → ```output⏎error: SyntaxError: '(' was never closed⏎```⏎",
                     "calculator ok: 3*4 → 12>>"]
    old = payload.tree_payload(open_run(run_path), 1, A)  # written without tool calls
    assert "tool_calls" not in old["tree"]
    assert re.findall(r"⚙ (?:python|calculator) ", rendered(text.tree_view(old))) == []


def test_html_export_keeps_the_tool_calls(tmp_path):
    out = files.write_html(tool_tree_payload(), tmp_path / "tools.html")
    block = re.search(r'<script id="embedded-tree" type="application/json">(.*?)</script>', out.read_text(), re.S)
    tree = json.loads(block.group(1))["tree"]
    assert [[call["tool"] for call in calls] for calls in tree["tool_calls"]] == [[], ["python"], ["calculator"]]
    (call,) = tree["tool_calls"][1]
    assert tree["step_texts"][1][call["start"]:call["start"] + len(call["output"])] == call["output"]
