"""Tool calls in the web viewer, in a real headless browser (see tests/test_treeview_browser.py for
how the browser is found; without one the test skips, except in CI where it fails)."""
from __future__ import annotations

from selfplay.treeview import files
from tests.test_treeview import tool_tree_payload
from tests.test_treeview_browser import browser, page, row  # noqa: F401 (fixtures)


def test_node_details_show_the_calls_and_shade_their_output(tmp_path, page):  # noqa: F811
    out = files.write_html(tool_tree_payload(), tmp_path / "tools.html")
    page.goto(out.as_uri())
    page.wait_for_selector("#tree-box .row[data-node='0']")
    page.locator("#expand-all").click()
    assert "failed" in row(page, 1).locator(".tool").get_attribute("class")  # its last call failed
    assert "failed" not in row(page, 2).locator(".tool").get_attribute("class")
    row(page, 1).click()
    details = page.locator("#details")
    assert details.locator(".tool-head").all_text_contents() == ["python · error · 0.200 s"]
    assert details.locator("pre.tool-input").text_content() == "print(3 * 4"
    shaded = "```output\nerror: SyntaxError: '(' was never closed\n```\n"
    assert details.locator(".step-text .tool-output").text_content() == shaded
    assert details.locator(".step-text").text_content().endswith(shaded)
    row(page, 2).click()
    assert details.locator(".step-text .tool-output").text_content() == "12>>"
    assert page.problems == []
