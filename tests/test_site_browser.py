"""End to end: build the real site from the shipped data and read it in headless Chromium."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from generator.pipeline import load_and_check
from generator.views import INBOUND, OUTBOUND, role_lines
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def served_site(data_dir: Path, tmp_path: Path):
    """The real site built from a copy of data/ with the same options as `make html`,
    served on 127.0.0.1."""
    from sphinx.cmd.build import build_main

    outdir = tmp_path / "html"
    status = build_main(["-b", "html", "-c", str(ROOT), "-W", "--keep-going", "-n", "-q",
                         "-D", f"portbook_data={data_dir}", str(ROOT / "source"), str(outdir)])
    assert status == 0, "the site must build without warnings"
    handler = functools.partial(_QuietHandler, directory=str(outdir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output to the test's own
        pass


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_role_pages_and_search_in_a_browser(browser, served_site, data_dir):
    checked = load_and_check(data_dir)
    assert checked.ok
    model = checked.model
    page = browser.new_page()

    for role in model.roles:
        page.goto(f"{served_site}/roles/{role.id}.html")
        assert page.locator("h1").first.inner_text().strip().rstrip("#¶").strip() == role.name
        lines = role_lines(model, role.id)
        for way in (INBOUND, OUTBOUND):
            rows = page.locator(f"section#{way}-{role.id} tr[data-flow]")
            expected = [line.flow for line in lines if line.direction == way]
            assert rows.count() == len(expected), (role.id, way)
            for index, flow in enumerate(expected):
                cells = rows.nth(index).locator("td").all_inner_texts()
                assert flow.id == rows.nth(index).get_attribute("data-flow")
                assert flow.label in cells and flow.purpose in cells and flow.id in cells

    # A flow link on a role page lands on the flow's row of the reference page.
    flow = role_lines(model, model.roles[0].id)[0].flow
    page.goto(f"{served_site}/roles/{model.roles[0].id}.html")
    page.locator(f"tr[data-flow='{flow.id}'] a[href$='#flow-{flow.id}']").first.click()
    page.wait_for_url(f"**/reference.html#flow-{flow.id}")
    assert page.locator(f"tr#flow-{flow.id}").locator("td").all_inner_texts()[0] == flow.id

    # Sphinx search finds the pages of a port number (taken from the data, not assumed).
    # The index entry of a port points at the first flow using it.
    for flow in [f for f in model.flows if f.ports is not None and f.ports.is_single][:3]:
        first = next(f for f in model.flows if f.port_text == flow.port_text and f.transport == flow.transport)
        page.goto(f"{served_site}/search.html?q={flow.ports.first}")
        page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
        found = [link.get_attribute("href") for link in page.locator("#search-results ul.search li a").all()]
        assert f"reference.html#flow-{first.id}" in found, (flow.port_text, found)
