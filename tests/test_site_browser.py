"""End to end: build the real site and read it in headless Chromium, as a reader would:
search, sorting and filtering, the diagram's links, and what fits the page."""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from generator.pipeline import load_and_check
from generator.views import INBOUND, OUTBOUND, role_lines
from tests.conftest import DATA, ROOT

TWO_PRODUCTS = Path(__file__).resolve().parent / "fixtures" / "two-products"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def build_site(data: Path, outdir: Path) -> Path:
    """The real site built from `data` with the same options as `make html`."""
    from sphinx.cmd.build import build_main

    status = build_main(["-b", "html", "-c", str(ROOT), "-W", "--keep-going", "-n", "-q",
                         "-D", f"portbook_data={data}", str(ROOT / "source"), str(outdir)])
    assert status == 0, "the site must build without warnings"
    return outdir


def serve(outdir: Path):
    handler = functools.partial(_QuietHandler, directory=str(outdir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def served_site(data_dir: Path, tmp_path: Path):
    """The site of a copy of data/, served on 127.0.0.1."""
    yield from serve(build_site(data_dir, tmp_path / "html"))


@pytest.fixture
def two_products(tmp_path: Path) -> Path:
    """The GitLab fixture with the shipped DPM dataset and its vendor registry beside it."""
    target = tmp_path / "data"
    shutil.copytree(TWO_PRODUCTS, target)
    shutil.copytree(DATA / "dpm-2012r2", target / "dpm-2012r2")
    shutil.copy(DATA / "registry" / "vendor-ports.csv", target / "registry" / "vendor-ports.csv")
    return target


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
        # Sphinx's index entries and the ports file name the same sections: each is listed once.
        assert len(found) == len(set(found)), found


# ---------------------------------------------------------------- two products, as a reader sees them

MEASURE_TABLES = """() => Array.from(document.querySelectorAll('article table')).map((table) => {
    const article = document.querySelector('article').getBoundingClientRect();
    const box = table.getBoundingClientRect();
    let scroller = null;
    for (let node = table.parentElement; node && node.tagName !== 'ARTICLE'; node = node.parentElement) {
        const style = getComputedStyle(node);
        if (['auto', 'scroll'].includes(style.overflowX)) { scroller = node; break; }
    }
    const frame = scroller ? scroller.getBoundingClientRect() : null;
    // The theme's table wrapper reaches a few pixels into the article's padding.
    return {width: box.width, height: box.height, column: article.width, visible: table.checkVisibility(),
            scroller: frame ? frame.width <= article.width + 12 : null};
})"""


def search_links(page, site: str, query: str) -> list[tuple[str, str]]:
    page.goto(f"{site}/search.html?q={query}")
    page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#search-results h2').textContent.startsWith('Search Results')",
                           timeout=30_000)
    return [(link.get_attribute("href"), link.inner_text()) for link in page.locator("#search-results ul.search li a").all()]


def test_two_products_search_tables_and_diagram_in_a_browser(browser, two_products, tmp_path):
    outdir = build_site(two_products, tmp_path / "html")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    model = load_and_check(two_products).model
    site_server = serve(outdir)
    site = next(site_server)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        # A port finds every role page showing it, before the reference page.
        for query in ("5432", "5432/tcp"):
            found = search_links(page, site, query)
            pages = [href.split("#")[0] for href, _ in found]
            showing = sorted({f"roles/{line.role}.html" for role in model.roles for line in role_lines(model, role.id)
                              if line.flow.label == "5432/tcp"})
            assert showing and set(showing) <= set(pages), (query, found)
            assert "reference.html" in pages
            # Role pages, then the reference, then pages where only a word matched ("tcp").
            last_role = max(index for index, page_path in enumerate(pages) if page_path in showing)
            assert last_role < pages.index("reference.html"), found
            others = [index for index, page_path in enumerate(pages) if page_path not in {*showing, "reference.html"}]
            assert not others or min(others) > pages.index("reference.html"), found
        page.screenshot(path=str(shots / "search.png"), full_page=True)

        # A port inside a range finds the pages showing the range.
        ranged = next(flow for flow in model.flows if flow.ports is not None and flow.ports.last - flow.ports.first > 2)
        inside = ranged.ports.first + 1
        pages = [href.split("#")[0] for href, _ in search_links(page, site, str(inside))]
        assert "reference.html" in pages and f"roles/{ranged.destination}.html" in pages, pages

        # Every role page: its tables visible, none wider than the column unless it scrolls.
        for role in model.roles:
            page.goto(f"{site}/roles/{role.id}.html")
            for table in page.evaluate(MEASURE_TABLES):
                assert table["visible"] and table["height"] > 0, (role.id, table)
                assert table["width"] <= table["column"] + 1 or table["scroller"], (role.id, table)
        page.screenshot(path=str(shots / "role.png"), full_page=True)

        # The reference: wide, so it scrolls inside its container; it sorts and filters.
        page.goto(f"{site}/reference.html")
        for table in page.evaluate(MEASURE_TABLES):
            assert table["width"] <= table["column"] + 1 or table["scroller"], table
        rows = page.locator("table.portbook-table tbody tr")
        header = page.locator("table.portbook-table th", has_text="Port").first
        header.click()
        ports = [model.flow_by_id[rows.nth(index).get_attribute("data-flow")] for index in range(rows.count())]
        keys = [(flow.ports.first, flow.ports.last) if flow.ports else (99999, 99999) for flow in ports]
        assert keys in (sorted(keys), sorted(keys, reverse=True)), keys
        assert len(set(keys)) > 1
        box = page.locator(".portbook-filter input").first
        box.fill("postgresql")
        shown = [rows.nth(index).get_attribute("data-flow") for index in range(rows.count()) if rows.nth(index).is_visible()]
        expected = {flow.id for flow in model.flows if "postgresql" in " ".join(
            [flow.id, flow.service, flow.source, flow.destination, flow.purpose, flow.program, flow.condition,
             model.role_name(flow.source), model.role_name(flow.destination)]).lower()}
        assert shown and set(shown) <= expected and len(shown) < rows.count(), shown
        page.screenshot(path=str(shots / "reference.png"), full_page=True)
        box.fill("")

        # The diagram: one per dataset, labels at least 10 px high, boxes linking to role pages.
        page.goto(f"{site}/diagram.html")
        drawings = page.locator("object.graphviz, img.graphviz, svg.graphviz")
        assert drawings.count() == len(model.datasets)
        page.wait_for_function("() => Array.from(document.querySelectorAll('object.graphviz')).every(o => o.contentDocument && o.contentDocument.querySelector('svg'))")
        measured = page.evaluate("""() => Array.from(document.querySelectorAll('object.graphviz')).map((object) => {
            const svg = object.contentDocument;
            const texts = Array.from(svg.querySelectorAll('text')).map((t) => t.getBoundingClientRect().height);
            const links = Array.from(svg.querySelectorAll('a')).map((a) => a.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || a.getAttribute('href'));
            return {smallest: Math.min(...texts), links};
        })""")
        page.screenshot(path=str(shots / "diagram.png"), full_page=True)
        for drawing in measured:
            assert drawing["smallest"] >= 10, measured
            assert drawing["links"] and all(link.startswith("../roles/") for link in drawing["links"]), drawing
        frame = page.frames[1]
        frame.locator("a").first.click()
        page.wait_for_url("**/roles/*.html")

        for name in ("index", "roles", "errata", "schema"):
            page.goto(f"{site}/{name}.html")
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        page.goto(f"{site}/roles/datasets/gitlab.html")
        page.screenshot(path=str(shots / "dataset.png"), full_page=True)
        # The sidebar groups the role pages under their datasets.
        sidebar = page.locator(".sidebar-tree").inner_text()
        for dataset in model.datasets:
            assert dataset.title in sidebar
    finally:
        next(site_server, None)

    # From file:// with every network request refused, tables still sort.
    context = browser.new_context()
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page = context.new_page()
    page.goto((outdir / "reference.html").as_uri())
    page.locator("table.portbook-table th").first.click()
    assert page.locator("table.portbook-table th[aria-sort]").count() == 1
    page.emulate_media(media="print")
    page.screenshot(path=str(shots / "reference-print.png"), full_page=True)
    assert not page.locator(".sidebar-drawer").is_visible()
    context.close()
