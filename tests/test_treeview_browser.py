"""The web viewer end to end in a real headless browser: Debian's `chromium`, driven by Playwright
(never a downloaded browser). Opens the viewer on the hand-made run, expands nodes, reads the page.

CI installs chromium (`.ci/run`) and sets CI, where a missing browser fails the test; elsewhere it skips.
"""
from __future__ import annotations

import os
import shutil
import threading

import pytest

from selfplay.runfiles import treeio
from selfplay.treeview.server import make_server
from tests.fixture_run import A, B, C, HOSTILE, build_tree, make_run, node

CHROMIUM = shutil.which("chromium")


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser test (see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if CHROMIUM is None:
        _missing("no chromium on PATH (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture()
def viewer(tmp_path):
    run = make_run(tmp_path)
    server = make_server(run, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, run
    server.shutdown()
    server.server_close()


@pytest.fixture()
def page(browser):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    yield page
    page.close()


def row(page, node: int):
    return page.locator(f"#tree-box .row[data-node='{node}']")


def test_viewer_lists_rounds_expands_a_tree_and_shows_node_details(viewer, page):
    server, _ = viewer
    page.goto(server.url)
    page.locator("#rounds button[data-round='1']").click()
    page.locator(f"#problems button[data-problem='{A}']").click()
    page.wait_for_selector("#tree-box .row[data-node='0']")
    assert page.locator("#tree-title").text_content() == f"round 1 · {A}"
    assert "verified 1/3" in page.locator("#tree-meta").text_content()
    # the chosen path is open: root, node 1 and its children; node 4's children are not built yet
    assert [row(page, n).count() for n in (0, 1, 2, 3, 4, 5)] == [1, 1, 1, 1, 1, 0]
    assert "chosen" in row(page, 2).get_attribute("class") and "selected" in row(page, 2).get_attribute("class")
    assert "★" in row(page, 2).text_content() and "✓" in row(page, 2).text_content()
    assert "⚠" in row(page, 4).text_content() and "⚠" not in row(page, 1).text_content()
    row(page, 4).locator(".toggle").click()
    assert row(page, 5).is_visible() and row(page, 6).is_visible()
    assert "✗" in row(page, 5).text_content() and "rollout" in row(page, 6).get_attribute("class")
    row(page, 5).click()
    details = page.locator("#details")
    assert "failed (wrong, score 0.00)" in details.text_content()
    assert details.locator(".path-text").text_content() == "93-91=2\n2*92=184"
    row(page, 4).locator(".toggle").click()
    assert not row(page, 5).is_visible()
    page.wait_for_function("() => document.getElementById('plot').naturalWidth > 0", timeout=30_000)  # drawn on demand
    assert page.problems == []


def test_hostile_step_text_is_shown_as_text(viewer, page):
    server, _ = viewer
    page.goto(f"{server.url}#round=2&problem={C}")
    page.wait_for_selector("#tree-box .row[data-node='1']")
    page.locator("#expand-all").click()
    row(page, 2).click()
    assert page.locator("#details .step-text").text_content() == "<script>window.__pwned=1</script>"
    assert row(page, 1).locator(".step").get_attribute("title") == HOSTILE.replace("\x1b", "\\x1b") + "⏎"
    assert page.locator("main img").count() == 1  # the plot, and no image from a step's text
    assert page.evaluate("window.__pwned") is None
    assert page.problems == []


def test_filters_across_rounds_and_a_growing_run(viewer, page):
    server, run = viewer
    page.goto(f"{server.url}#round=2")
    page.locator("#filters button[data-filter='new']").click()
    page.wait_for_function("() => document.querySelectorAll('#problems button').length === 1")
    assert page.locator("#problems button").get_attribute("data-problem") == B
    page.locator(f"#problems button[data-problem='{B}']").click()
    page.locator("#across").click()
    page.wait_for_selector("#across-box .column[data-round='2']")
    columns = page.locator("#across-box .column h3").all_text_contents()
    assert columns == ["round 1 · unsolved · ✓0/2 · 3 nodes", "round 2 · solved · ✓1/2 · 4 nodes"]
    page.locator("#filters button[data-filter='all']").click()
    page.wait_for_function("() => document.querySelectorAll('#problems button').length === 2")
    trees = run / "round-2" / "trees.jsonl.gz"
    treeio.repair_trees(trees)
    treeio.append_trees(trees, [build_tree("countdown-late", 2, [node(0, "7", terminal=True, passed=True)])])
    page.wait_for_selector("#problems button[data-problem='countdown-late']", timeout=15_000)  # the live poll
    assert page.problems == []


def test_exported_html_file_works_offline(tmp_path, page):
    from selfplay.commands import lab as cli

    run = make_run(tmp_path)
    out = tmp_path / "tree.html"
    assert cli.main(["tree", "export", str(run), "--problem", A, "--out", str(out)]) == 0
    page.goto(out.as_uri())
    page.wait_for_selector("#tree-box .row[data-node='0']")
    assert page.locator("nav").is_hidden() and page.locator("#across").is_hidden()
    page.locator("#expand-all").click()
    assert page.locator("#tree-box .row").count() == 7
    row(page, 3).click()
    assert page.locator("#details .path-text").text_content() == "91+92=183\n183-93=90"
    assert page.locator("#plot").evaluate("image => image.naturalWidth > 0")  # inlined as a data: URL
    assert page.problems == []
