"""The Sphinx extension, built for real with sphinx.testing over a small data folder."""
from __future__ import annotations

import gc
import shutil
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest

from generator.pipeline import load_and_check
from generator.schema import ERRATA, FLOWS, INVENTORY, ROLES
from generator.site.data import DataError
from generator.views import INBOUND, OUTBOUND, role_lines
from tests.conftest import append_row, edit_row, read_rows, write_rows
from tests.hostile import HOSTILE_TEXT

pytest_plugins = ("sphinx.testing.fixtures",)

@pytest.fixture(scope="session")
def rootdir() -> Path:
    return Path(__file__).resolve().parent / "roots"


def site(name: str, builder: str = "html"):
    """Each test gets its own copy of tests/roots/test-site, so data edits stay private."""
    return pytest.mark.sphinx(builder, testroot="site", srcdir=f"site-{name}")


def write_dataset(folder: Path, metadata: str, roles: list[dict], flows: list[dict], errata: list[dict] = ()) -> None:
    """One dataset folder: dataset.toml from `metadata`, and its CSV files."""
    folder.mkdir()
    (folder / "dataset.toml").write_text(textwrap.dedent(metadata))
    write_rows(folder / "roles.csv", ROLES.column_names, roles)
    write_rows(folder / "flows.csv", FLOWS.column_names, flows)
    if errata:
        write_rows(folder / "errata.csv", ERRATA.column_names, list(errata))


def flow(id, transport, port, source, destination, purpose, **more) -> dict[str, str]:
    return dict(id=id, transport=transport, port=port, source=source, destination=destination,
                direction=more.pop("direction", "one-way"), purpose=purpose, reference="overview", **more)


def write_lab_data(folder: Path) -> Path:
    """Two small made-up products: a backup vault with agents, and a monitor that polls
    the same agents. One role's name and a run of flows carry hostile text."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "portbook.toml").write_text('[registry]\nsystem = ""\n\n[inventory]\nfile = "inventory.csv"\n')
    write_rows(folder / "inventory.csv", INVENTORY.column_names, [
        dict(role="vault", host="vault1", address="10.0.0.5", note="Lab vault"),
        dict(role="agent", host="agents", address="10.0.1.0/24", note="Lab agent subnet"),
    ])
    backup_roles = [
        dict(id="vault", name="Vault server", description="Keeps the backup copies."),
        dict(id="agent", name="Backup agent host", description="Any host whose disks the vault copies."),
        dict(id="catalog", name="Catalog database", description="Database of what was copied when."),
        dict(id="odd", name="<b>bold</b> *odd* role", description="<script>alert(1)</script>"),
    ]
    flows = [
        flow("vault-agent-control", "tcp", "7410", "vault", "agent", "Job control between the vault and its agents.",
             direction="both", service="tv-control", program="vaultd", rule="Tapevault control"),
        flow("agent-data-push", "tcp", "7411", "agent", "vault", "Backup data stream from an agent into the vault.",
             service="tv-data", program="agentd"),
        flow("agent-discovery", "udp", "7412", "agent", "vault", "Agents announce themselves to the vault."),
        flow("catalog-sql", "tcp", "5432", "vault", "catalog", "Catalog reads and writes.", service="postgresql"),
    ]
    # One flow per hostile string, each string in a different text column in turn.
    text_columns = ["purpose", "condition", "assumption", "program", "rule"]
    for index, text in enumerate(HOSTILE_TEXT):
        row = flow(f"hostile-{index}", "tcp", str(7500 + index), "agent", "odd", "Hostile text carrier.")
        row[text_columns[index % len(text_columns)]] = text
        flows.append(row)
    write_dataset(folder / "lab-backup", """\
        id = "lab-backup"
        title = "Tapevault 3 backup suite"
        short_title = "Tapevault 3"
        version = "1.0"

        [source]
        title = "Tapevault network notes"

        [sections.overview]
        title = "Network overview"
        """, backup_roles, flows, [
        dict(id="E1", flow="agent-data-push", field="port", published="7141", corrected="7411",
             rationale="Digits swapped in the notes; the agent binary connects to 7411.",
             evidence="Packet capture of an agent backup <b>run</b>", reference="overview"),
    ])
    write_dataset(folder / "lab-monitor", """\
        id = "lab-monitor"
        title = "Pollster monitoring"
        version = "0.1"

        [source]
        title = "Pollster firewall notes"

        [sections.overview]
        title = "Ports"
        """, [
        dict(id="monitor", name="Monitor", description="Polls agents for metrics."),
        dict(id="agent", name="Backup agent host", description="Any host whose disks the vault copies."),
    ], [
        flow("monitor-poll", "tcp", "9100", "monitor", "agent", "Metrics scrape of each agent."),
        flow("monitor-trap", "udp", "9162", "agent", "monitor", "Agents push alerts to the monitor."),
    ])
    return folder


def prepare(app_params) -> tuple[list, dict, Path]:
    args, kwargs = app_params
    srcdir = Path(kwargs["srcdir"])
    write_lab_data(srcdir / "_data")
    return args, kwargs, srcdir


def build(make_app, args, kwargs, **more):
    app = make_app(*args, **{**kwargs, **more})
    app.build()
    return app


class Page(HTMLParser):
    """What the tests look at in a page: elements met, table rows and their cells."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[dict] = []  # {"flow": id or None, "id": anchor, "cells": [text]}
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._tables: list[list[dict]] = []
        self.tables: list[list[dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._tables.append([])
        elif tag == "tr" and self._tables:
            row = {"flow": attrs.get("data-flow"), "id": attrs.get("id"), "cells": []}
            self._tables[-1].append(row)
            self.rows.append(row)
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._tables:
            self._tables[-1][-1]["cells"].append("".join(self._cell))
            self._cell = None
        elif tag == "table" and self._tables:
            self.tables.append(self._tables.pop())

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def flow_tables(self) -> list[list[str]]:
        """Flow ids of each flows table, in page order."""
        return [[row["flow"] for row in table if row["flow"]] for table in self.tables if any(r["flow"] for r in table)]


def page(app, name: str) -> Page:
    return Page((Path(app.outdir) / name).read_text(encoding="utf-8"))


def main_part(app, name: str) -> Page:
    """The page's own content, without the theme's frame (which has scripts of its own)."""
    text = (Path(app.outdir) / name).read_text(encoding="utf-8")
    start = text.index('role="main"')
    return Page(text[text.index(">", start) + 1 : text.index('class="sphinxsidebar"', start)])


def squash(text: str) -> str:
    return " ".join(text.split())


def model_of(data: Path):
    checked = load_and_check(data)
    assert checked.ok, [i.format() for i in checked.issues]
    return checked.model


@site("filters")
def test_port_table_options_filter_rows_as_the_data_says(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    assert app.statuscode == 0
    assert "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    model = model_of(srcdir / "_data")
    flows = model.flows
    expected = [
        [f.id for f in flows if f.touches("catalog")],
        [f.id for f in flows if f.source == "agent"],
        [f.id for f in flows if f.destination == "vault"],
        [f.id for f in flows if f.transport == "udp"],
        [f.id for f in flows if f.service in ("tv-control", "postgresql")],
        [f.id for f in flows if f.dataset == "lab-monitor"],
        [f.id for f in flows if f.source == "agent" and f.destination == "vault" and f.transport == "tcp"],
    ]
    assert all(expected), "every filter of the fixture must select something"
    html = page(app, "filters.html")
    assert html.flow_tables() == expected
    # :columns: picks the headers, in the order given.
    headers = [[cell for cell in table[0]["cells"]] for table in html.tables]
    assert headers[0] == ["Flow", "Port"]
    assert headers[6] == ["Flow", "Port", "Program", "Firewall rule"]
    combined = {row["flow"]: row["cells"] for row in html.tables[6] if row["flow"]}
    push = model.flow_by_id["agent-data-push"]
    assert combined[push.id] == [push.id, push.label, push.program, push.rule]
    assert "No flow matches." in "".join(html.text)


@site("columns")
def test_unknown_column_or_role_is_a_located_warning(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    (srcdir / "bad.rst").write_text("Bad\n===\n\n.. port-table::\n   :role: nobody\n   :columns: id, colour\n")
    app = build(make_app, args, kwargs)
    warnings = app.warning.getvalue()
    assert "bad.rst:4: WARNING: port-table: unknown role 'nobody'" in warnings
    assert "unknown column(s) 'colour'" in warnings


@site("prose")
def test_port_role_shows_the_port_and_links_to_the_stable_anchor(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    model = model_of(srcdir / "_data")
    prose = page(app, "prose.html")
    links = [attrs["href"] for tag, attrs in prose.tags if tag == "a" and "portbook-flow" in attrs.get("class", "")]
    assert links == ["reference.html#flow-vault-agent-control", "reference.html#flow-catalog-sql"]
    text = squash("".join(prose.text))
    assert f"agents on {model.flow_by_id['vault-agent-control'].label};" in text
    assert f"answers on {model.flow_by_id['catalog-sql'].label}." in text
    # The anchors exist on the reference page, one per flow.
    reference = page(app, "reference.html")
    anchors = [row["id"] for row in reference.rows if row["flow"]]
    assert anchors == [f"flow-{f.id}" for f in model.flows]


@site("unknown")
def test_unknown_flow_id_in_port_role_warns_at_its_line(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    (srcdir / "prose.rst").write_text("Prose\n=====\n\nFirst line.\n\nThe vault listens on :port:`no-such-flow`.\n")
    app = build(make_app, args, kwargs)
    warnings = app.warning.getvalue()
    assert "prose.rst:6: WARNING: unknown flow id 'no-such-flow' in :port:" in warnings


@site("anchors")
def test_anchors_do_not_depend_on_row_order(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    before = {row["flow"]: row["id"] for row in page(app, "reference.html").rows if row["flow"]}
    flows_csv = srcdir / "_data" / "lab-backup" / "flows.csv"
    header, rows = read_rows(flows_csv)
    write_rows(flows_csv, header, rows[::-1])
    app = build(make_app, args, kwargs)
    after_rows = [row for row in page(app, "reference.html").rows if row["flow"]]
    assert [row["flow"] for row in after_rows] != list(before)  # the order did change
    assert {row["flow"]: row["id"] for row in after_rows} == before


@site("hostile")
def test_hostile_text_comes_out_as_literal_text(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    assert "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    model = model_of(srcdir / "_data")
    for name in ("reference.html", "roles/odd.html", "roles/agent.html", "errata.html", "roles.html", "index.html"):
        html = main_part(app, name)
        tags = {tag for tag, _ in html.tags}
        assert "script" not in tags and "img" not in tags, name
        assert "b" not in tags and "strong" not in tags and "em" not in tags, name
    reference = page(app, "reference.html")
    cells = {row["flow"]: [squash(c) for c in row["cells"]] for row in reference.rows if row["flow"]}
    for index, text in enumerate(HOSTILE_TEXT):
        carrier = model.flow_by_id[f"hostile-{index}"]
        held = [carrier.purpose, carrier.condition, carrier.assumption, carrier.program, carrier.rule]
        assert squash(text) in [squash(value) for value in held], "the loader kept the text"
        assert squash(text) in cells[carrier.id], text
    odd = page(app, "roles/odd.html")
    assert "<b>bold</b> *odd* role" in "".join(odd.text)
    assert "<script>alert(1)</script>" in "".join(odd.text)


@site("text", builder="text")
def test_other_builders_get_a_docutils_table_of_plain_text(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    assert "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    text = (Path(app.outdir) / "reference.txt").read_text(encoding="utf-8")
    model = model_of(srcdir / "_data")
    for f in model.flows:
        assert f.id in text and f.label in text
    assert "+---" in text or "===" in text  # drawn as a table
    assert ".. raw:: html" in text and "<script>alert(1)</script>" in text


@site("roles")
def test_every_role_gets_a_page_with_its_lines(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    model = model_of(srcdir / "_data")
    for role in model.roles:
        html = page(app, f"roles/{role.id}.html")
        lines = role_lines(model, role.id)
        tables = html.flow_tables()
        inbound = [l.flow.id for l in lines if l.direction == INBOUND]
        outbound = [l.flow.id for l in lines if l.direction == OUTBOUND]
        assert tables == [t for t in (inbound, outbound) if t], role.id
        assert role.name in "".join(html.text)
    # Each page is read from a generated source in roles/ holding just its directive.
    sources = sorted((srcdir / "roles").glob("*.rst"))
    assert [path.name for path in sources] == sorted(f"{role.id}.rst" for role in model.roles)
    # and each dataset's page of roles in roles/datasets/.
    assert sorted(path.name for path in (srcdir / "roles" / "datasets").iterdir()) == sorted(
        f"{dataset.id}.rst" for dataset in model.datasets)
    for path in sources:
        assert path.read_text(encoding="utf-8").endswith(f"\n.. role-page:: {path.stem}\n")
    # Hosts of the inventory and the programs show on the role page.
    agent = "".join(page(app, "roles/agent.html").text)
    assert "10.0.1.0/24" in agent and "agentd" in agent and "vaultd" in agent


@site("newrole")
def test_a_role_added_to_the_data_gets_its_page_on_rebuild(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    build(make_app, args, kwargs)
    data = srcdir / "_data" / "lab-monitor"
    append_row(data / "roles.csv", id="relay", name="Alert relay", description="Forwards alerts.")
    append_row(data / "flows.csv", id="relay-forward", transport="tcp", port="9163", source="monitor",
               destination="relay", direction="one-way", purpose="Alerts forwarded on.", reference="overview")
    app = build(make_app, args, kwargs)
    assert page(app, "roles/relay.html").flow_tables() == [["relay-forward"]]
    assert "Alert relay" in "".join(page(app, "roles.html").text)


@site("gonerole")
def test_a_role_gone_from_the_data_loses_its_source_and_a_hand_written_page_stays(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    data = srcdir / "_data" / "lab-monitor"
    original = {name: (data / name).read_bytes() for name in ("roles.csv", "flows.csv")}
    append_row(data / "roles.csv", id="relay", name="Alert relay", description="Forwards alerts.")
    append_row(data / "flows.csv", id="relay-forward", transport="tcp", port="9163", source="monitor",
               destination="relay", direction="one-way", purpose="Alerts forwarded on.", reference="overview")
    build(make_app, args, kwargs)
    assert (srcdir / "roles" / "relay.rst").is_file()
    for name, content in original.items():
        (data / name).write_bytes(content)
    (srcdir / "roles" / "notes.rst").write_text("Notes\n=====\n\nWritten by hand.\n")
    app = build(make_app, args, kwargs)
    assert app.statuscode == 0
    assert not (srcdir / "roles" / "relay.rst").exists()
    assert (srcdir / "roles" / "notes.rst").read_text() == "Notes\n=====\n\nWritten by hand.\n"
    assert "Written by hand." in "".join(page(app, "roles/notes.html").text)
    assert "Alert relay" not in "".join(page(app, "roles.html").text)


@site("deps")
def test_a_data_edit_rewrites_the_pages_that_use_it_and_only_those(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    out = Path(app.outdir)
    watched = ["reference.html", "roles/vault.html", "plain.html", "schema.html", "monitor.html"]
    before = {name: (out / name).stat().st_mtime_ns for name in watched}
    edit_row(srcdir / "_data" / "lab-backup" / "flows.csv", "id", "catalog-sql", purpose="Catalog reads, writes and vacuum.")
    app = build(make_app, args, kwargs)
    status = app.status.getvalue()
    after = {name: (out / name).stat().st_mtime_ns for name in watched}
    assert "Catalog reads, writes and vacuum." in "".join(page(app, "reference.html").text)
    assert after["reference.html"] != before["reference.html"]
    assert after["roles/vault.html"] != before["roles/vault.html"]
    # Pages that do not show lab-backup's flows are neither read nor written again.
    for name in ("plain.html", "schema.html", "monitor.html"):
        assert after[name] == before[name], name
    assert "1 changed" in status or "changed" in status


@site("downloads")
def test_role_pages_link_the_other_outputs_that_exist(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    outputs = Path(kwargs["builddir"])
    (outputs / "xlsx").mkdir(parents=True)
    (outputs / "xlsx" / "vault.xlsx").write_bytes(b"workbook bytes for the test")
    (outputs / "policy" / "vault" / "nft").mkdir(parents=True)
    (outputs / "policy" / "vault" / "nft" / "vault.nft").write_text("table inet filter {}\n")
    (outputs / "policy" / "out").mkdir(parents=True)
    (outputs / "policy" / "out" / "vault.bat").write_text("rem vault\n")
    (outputs / "policy" / "out" / "agent.bat").write_text("rem agent\n")
    app = build(make_app, args, kwargs)
    vault = page(app, "roles/vault.html")
    hrefs = [attrs["href"] for tag, attrs in vault.tags if tag == "a" and "download" in attrs.get("class", "")]
    assert [h.rsplit("/", 1)[-1] for h in hrefs] == ["vault.xlsx", "vault.bat", "vault.nft"]
    for href in hrefs:
        copied = (Path(app.outdir) / "roles" / href).resolve()
        assert copied.is_file()
    assert (Path(app.outdir) / "roles" / hrefs[0]).resolve().read_bytes() == b"workbook bytes for the test"
    # Roles without outputs say so instead of linking nothing.
    assert not [a for t, a in page(app, "roles/catalog.html").tags if t == "a" and "download" in a.get("class", "")]
    # A file that appears later is picked up by the next incremental build.
    (outputs / "markdown" / "roles").mkdir(parents=True)
    (outputs / "markdown" / "roles" / "vault.md").write_text("| flow |\n")
    app = build(make_app, args, kwargs)
    vault = page(app, "roles/vault.html")
    hrefs = [attrs["href"] for tag, attrs in vault.tags if tag == "a" and "download" in attrs.get("class", "")]
    assert [h.rsplit("/", 1)[-1] for h in hrefs] == ["vault.xlsx", "vault.md", "vault.bat", "vault.nft"]


@site("parallel")
def test_parallel_build_gives_the_same_pages(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs, parallel=2)
    assert app.statuscode == 0 and "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    model = model_of(srcdir / "_data")
    assert [r["flow"] for r in page(app, "reference.html").rows if r["flow"]] == [f.id for f in model.flows]
    for role in model.roles:
        lines = role_lines(model, role.id)
        assert sum(map(len, page(app, f"roles/{role.id}.html").flow_tables())) == len(lines)


@site("errata")
def test_errata_page_shows_both_values_and_links_the_flow(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    model = model_of(srcdir / "_data")
    html = page(app, "errata.html")
    erratum = model.errata[0]
    text = squash(" ".join(html.text))
    for label, value in (("Published", erratum.published), ("Corrected", erratum.corrected),
                         ("Why", erratum.rationale), ("Evidence", erratum.evidence)):
        assert squash(f"{label}: {value}") in text.replace(" :", ":").replace(": ", ": "), label
    hrefs = [a["href"] for t, a in html.tags if t == "a" and "portbook-flow" in a.get("class", "")]
    assert hrefs == [f"reference.html#flow-{erratum.flow}"]


@site("schema")
def test_schema_page_follows_the_schema_and_the_catalog(app_params, make_app):
    from generator import checks, issues, schema

    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    text = squash("".join(page(app, "schema.html").text))
    for table in schema.DATASET_TABLES + (schema.INVENTORY,):
        assert table.filename in text
        for column in table.columns:
            assert squash(column.description) in text
    for key, *_ in schema.DATASET_KEYS:
        assert key in text
    for code in issues.CATALOG.values():
        assert code.code in text and code.summary in text
    for entry in checks.CHECKS:
        assert squash(entry.doc) in text


@site("dot")
def test_diagram_without_dot_falls_back_to_a_list_without_warnings(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs, confoverrides={"graphviz_dot": "portbook-no-such-dot"})
    assert "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    assert "was not found (Debian package graphviz)" in app.status.getvalue()
    assert "the arrows are listed instead" in "".join(page(app, "diagram.html").text)
    text = "".join(page(app, "diagram.html").text)
    assert "Vault server <-> Backup agent host: 7410/tcp" in text


@site("graphviz")
def test_diagram_is_drawn_by_graphviz(app_params, make_app):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' is not installed (Debian package graphviz)")
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    assert "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    images = list((Path(app.outdir) / "_images").glob("graphviz-*.png"))
    assert images and images[0].read_bytes().startswith(b"\x89PNG")


@site("baddata")
def test_bad_data_stops_the_build_with_located_messages(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    line = edit_row(srcdir / "_data" / "lab-monitor" / "flows.csv", "id", "monitor-poll", port="70000")
    with pytest.raises(DataError) as raised:
        make_app(*args, **kwargs)
    assert f"flows.csv:{line}:" in str(raised.value) and "S103" in str(raised.value)


ROOT = Path(__file__).resolve().parent.parent


def test_shipped_site_names_the_peer_of_each_direction_of_a_two_way_flow(tmp_path):
    """The DPM server's lines of the two-way DCOM endpoint mapper flow (135/tcp) both
    have the protected computer as peer, as the workbooks and Markdown tables say."""
    from io import StringIO

    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    # The shipped conf.py over a copy of source/, as `make html` builds it.
    srcdir = tmp_path / "source"
    shutil.copytree(ROOT / "source", srcdir, ignore=shutil.ignore_patterns("roles"))
    warnings = StringIO()
    with docutils_namespace():  # as sphinx-build does: what the build registers in docutils goes with it
        app = Sphinx(srcdir, ROOT, tmp_path / "html", tmp_path / "doctrees", "html", status=StringIO(), warning=warnings,
                     confoverrides={"portbook_data": str(ROOT / "data"), "portbook_outputs": str(tmp_path / "none")})
        app.build()
    assert app.statuscode == 0 and "WARNING" not in warnings.getvalue(), warnings.getvalue()
    model = model_of(ROOT / "data")
    flow = model.flow_by_id["dcom-endpoint-mapper"]
    assert (flow.label, flow.source, flow.bidirectional) == ("135/tcp", "dpm-server", True)
    dpm = page(app, "roles/dpm-server.html")
    inbound, outbound = [{row["flow"]: row["cells"] for row in table if row["flow"]} for table in dpm.tables[1:3]]
    headers = dpm.tables[1][0]["cells"]
    assert headers[:2] == ["Peer role", "Port"]
    assert inbound[flow.id][:2] == ["Protected computer", "135/tcp"]
    assert outbound[flow.id][:2] == ["Protected computer", "135/tcp"]


def search_index(app) -> dict:
    import json

    text = (Path(app.outdir) / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1 : text.rindex(")")])


@site("search")
def test_every_page_showing_a_port_is_found_by_it_and_no_build_path_is_written(app_params, make_app):
    import json

    args, kwargs, srcdir = prepare(app_params)
    # A range, for the ranges file the search page reads.
    append_row(srcdir / "_data" / "lab-monitor" / "flows.csv",
               **flow("monitor-dynamic", "tcp", "49152-65535", "monitor", "agent", "Callbacks on a dynamic port."))
    app = build(make_app, args, kwargs)
    model = model_of(srcdir / "_data")
    index = search_index(app)
    docs = index["docnames"]
    entries = {entry: {(docs[file], target) for file, target, _main in found} for entry, found in index["indexentries"].items()}
    # 5432/tcp: the reference page and both role pages showing it.
    assert {doc for doc, _ in entries["5432/tcp"]} == {"reference", "roles/vault", "roles/catalog"}
    assert entries["5432"] == entries["5432/tcp"]  # "5432" alone too (see generator.site.search)
    assert ("roles/catalog", "inbound-catalog") in entries["5432/tcp"]
    assert ("roles/vault", "outbound-vault") in entries["5432/tcp"]
    for role in model.roles:  # every port of every role page
        for line in role_lines(model, role.id):
            assert (f"roles/{role.id}", f"{line.direction}-{role.id}") in entries[line.flow.label.lower()]
    script = (Path(app.outdir) / "_static" / "portbook-port-ranges.js").read_text(encoding="utf-8")
    ranges = json.loads(script.removeprefix("var PORTBOOK_PORT_RANGES = ").removesuffix(";\n"))
    assert [49152, 65535, "tcp", "roles/agent", "inbound-agent", "Backup agent host", "inbound", True] in ranges
    assert [49152, 65535, "tcp", "roles/monitor", "outbound-monitor", "Monitor", "outbound", True] in ranges
    assert [49152, 65535, "tcp", "reference", "flow-monitor-dynamic", "Reference", "monitor-dynamic", False] in ranges
    assert len([record for record in ranges if record[0] < record[1]]) == 3
    # Single ports too, each section of each page that shows one, from the whole data: Sphinx's
    # own index entries hold only the pages its last build wrote.
    expected = {(f"roles/{role.id}", f"{line.direction}-{role.id}", line.flow.port_text)
                for role in model.roles for line in role_lines(model, role.id) if line.flow.ports is not None}
    listed = {(docname, anchor, str(first) if first == last else f"{first}-{last}")
              for first, last, _transport, docname, anchor, *_ in ranges if docname.startswith("roles/")}
    assert listed == expected
    first_flows = {}
    for carried in model.flows:
        if carried.ports is not None:
            first_flows.setdefault(carried.label, carried.id)
    assert {record[4] for record in ranges if record[3] == "reference"} == {f"flow-{flow_id}" for flow_id in first_flows.values()}
    # The scorer that puts role pages first is part of the search page's scripts.
    assert 'docname.startsWith("roles/")' in (Path(app.outdir) / "_static" / "language_data.js").read_text(encoding="utf-8")
    # No output carries where the build ran.
    for path in Path(app.outdir).rglob("*"):
        if path.is_file() and ".doctrees" not in path.parts and path.suffix in {".html", ".js", ".svg", ".json", ".txt", ".css"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            for folder in (str(srcdir), str(srcdir.resolve()), str(Path(app.outdir).resolve()), str(Path.cwd())):
                assert folder not in text, (path, folder)


@site("empty-columns")
def test_role_page_leaves_out_columns_empty_in_all_its_rows(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    # The catalog's one line has a service but no program, rule or condition.
    headers = page(app, "roles/catalog.html").tables[-1][0]["cells"]
    assert headers == ["Peer role", "Port", "Service", "Purpose", "Flow"]
    # The vault's lines name programs and rules.
    assert "Program" in page(app, "roles/vault.html").tables[-1][0]["cells"]


@site("datasets")
def test_roles_are_grouped_by_dataset_and_errata_are_told_apart(app_params, make_app):
    from generator.site.directives import erratum_anchors

    args, kwargs, srcdir = prepare(app_params)
    write_rows(srcdir / "_data" / "lab-monitor" / "errata.csv", ERRATA.column_names, [dict(
        id="E1", flow="monitor-poll", field="port", published="9101", corrected="9100",
        rationale="A typing slip in the notes.", evidence="The exporter listens on 9100.", reference="overview")])
    app = build(make_app, args, kwargs)
    assert "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    # The sidebar's tree: roles > dataset > its roles; a role of both datasets under both.
    includes = app.env.toctree_includes
    assert includes["roles"] == ["roles/datasets/lab-backup", "roles/datasets/lab-monitor"]
    assert includes["roles/datasets/lab-backup"] == ["roles/vault", "roles/agent", "roles/catalog", "roles/odd"]
    assert includes["roles/datasets/lab-monitor"] == ["roles/monitor", "roles/agent"]
    roles = main_part(app, "roles.html")
    sections = [attrs["id"] for tag, attrs in roles.tags if tag == "section" and attrs.get("id", "").startswith("roles-of-")]
    assert sections == ["roles-of-lab-backup", "roles-of-lab-monitor"]
    role_tables = [[row["cells"][1] for row in table[1:]] for table in roles.tables]
    assert role_tables == [["vault", "agent", "catalog", "odd"], ["monitor", "agent"]]
    # Each dataset numbers its errata from E1: titles and anchors still differ.
    errata = page(app, "errata.html")
    ids = [attrs["id"] for tag, attrs in errata.tags if tag == "section" and attrs.get("id", "").startswith("erratum-")]
    assert ids == ["erratum-lab-backup-e1", "erratum-lab-monitor-e1"]
    text = squash(" ".join(errata.text))
    assert "Tapevault 3 E1: port of agent-data-push" in text and "Pollster monitoring E1: port of monitor-poll" in text
    # Anchors are lower case: E1 and e1 of one dataset get one each.
    assert erratum_anchors([("d", "E1"), ("d", "e1"), ("d", "e1-2")]) == ["erratum-d-e1", "erratum-d-e1-2", "erratum-d-e1-2-2"]


@site("svg")
def test_diagram_per_dataset_links_role_pages_and_draws_entities_literally(app_params, make_app):
    import xml.etree.ElementTree as ElementTree

    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' is not installed (Debian package graphviz)")
    args, kwargs, srcdir = prepare(app_params)
    name = "&#1; &#x1F; &lt;script&gt; & odd"
    edit_row(srcdir / "_data" / "lab-backup" / "roles.csv", "id", "odd", name=name)
    app = build(make_app, args, kwargs, confoverrides={"graphviz_output_format": "svg"})
    assert "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    svgs = sorted((Path(app.outdir) / "_images").glob("graphviz-*.svg"))
    assert len(svgs) == 2  # one per dataset
    ns = {"svg": "http://www.w3.org/2000/svg", "xlink": "http://www.w3.org/1999/xlink"}
    texts, links = [], []
    for svg in svgs:
        tree = ElementTree.parse(svg)
        texts += ["".join(text.itertext()) for text in tree.iterfind(".//svg:text", ns)]
        links += [a.get(f"{{{ns['xlink']}}}href") for a in tree.iterfind(".//svg:a", ns)]
        sizes = {float(text.get("font-size")) for text in tree.iterfind(".//svg:text", ns)}
        assert min(sizes) >= 12  # points: the body text's size
    assert name in texts
    assert "../roles/odd.html" in links and "../roles/monitor.html" in links
    assert "7410/tcp" in texts  # arrows carry their ports


@site("links")
def test_source_url_is_a_link_only_for_safe_schemes(app_params, make_app):
    from generator.urls import safe_url

    args, kwargs, srcdir = prepare(app_params)
    toml = srcdir / "_data" / "lab-monitor" / "dataset.toml"
    toml.write_text(toml.read_text().replace('title = "Pollster firewall notes"',
                                             'title = "Pollster firewall notes"\nurl = "javascript:alert(1)"'))
    toml = srcdir / "_data" / "lab-backup" / "dataset.toml"
    toml.write_text(toml.read_text().replace('title = "Tapevault network notes"',
                                             'title = "Tapevault network notes"\nurl = "https://example.com/notes"'))
    checked = load_and_check(srcdir / "_data")
    if not checked.ok:  # the loader refuses the URL itself: the build stops, located
        with pytest.raises(DataError, match="dataset.toml:"):
            make_app(*args, **kwargs)
    else:
        app = build(make_app, args, kwargs)
        index = main_part(app, "index.html")
        hrefs = [attrs.get("href", "") for tag, attrs in index.tags if tag == "a"]
        assert "https://example.com/notes" in hrefs
        assert not any("javascript" in href.lower() for href in hrefs)
        assert "javascript:alert(1)" in "".join(index.text)  # shown, as text
    for url in ("javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,<b>", "vbscript:x", ""):
        assert not safe_url(url), url
    for url in ("https://example.com", "http://example.com/a?b#c", "mailto:ops@example.com", "../page.html", "#part", "page.html"):
        assert safe_url(url), url


@site("changed")
def test_role_pages_and_reference_say_when_their_rows_last_changed(app_params, make_app):
    import os
    import subprocess

    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    for name in ("roles/vault.html", "reference.html"):
        assert "When these rows last changed is not known" in "".join(page(app, name).text)

    data = srcdir / "_data"
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                   "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2026-03-04T05:06:07Z",
                   "GIT_COMMITTER_DATE": "2026-03-04T05:06:07Z"}
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "data"]):
        subprocess.run(["git", "-C", str(data), *command], check=True, env=environment, capture_output=True)
    commit = subprocess.run(["git", "-C", str(data), "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    app = build(make_app, args, kwargs)
    for name in ("roles/vault.html", "reference.html"):
        assert f"These rows last changed on 2026-03-04, in commit {commit}" in "".join(page(app, name).text)


def test_the_site_stems_search_words_as_sphinx_english_does_and_each_word_once():
    from sphinx.search.en import SearchEnglish

    from generator.site.search import EnglishStemmedOnce, _english_stem

    words = ["Replication", "replicating", "agents", "Firewalls", "listening", "SQLServr", "dpm-agent", "ports", "x"]
    ours, sphinx = EnglishStemmedOnce({}), SearchEnglish({})
    assert [ours.stem(word) for word in words] == [sphinx.stem(word) for word in words]
    before = _english_stem.cache_info()
    for _ in range(3):
        EnglishStemmedOnce({}).stem("replicating")  # another page, another build: no new stem
    after = _english_stem.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 3


@site("collector-frozen-while-writing")
def test_the_collector_leaves_out_what_lives_through_the_build_while_pages_are_written(app_params, make_app):
    args, kwargs, srcdir = prepare(app_params)
    app = make_app(*args, **kwargs)
    frozen_while_writing = []
    app.connect("html-page-context", lambda *_: frozen_while_writing.append(gc.get_freeze_count()))
    assert gc.get_freeze_count() == 0
    app.build()
    assert app.statuscode == 0
    assert frozen_while_writing and min(frozen_while_writing) > 0
    # Thawed at the end, so that what the build leaves behind is collected as usual.
    assert gc.get_freeze_count() == 0


def rows_folder(app) -> Path:
    return Path(app.outdir) / ".portbook-rows"


def leave_reference_unspliced(app, marks: bytes) -> bytes:
    """Put the reference page in the state a build stopped between writing it and its end
    leaves: `marks` where its table's rows were, and those rows in its rows file. Returns
    the page as the build wrote it whole."""
    reference = Path(app.outdir) / "reference.html"
    whole = reference.read_bytes()
    start = whole.index(b"<tbody>\n", whole.index(b"portbook-table")) + len(b"<tbody>\n")
    end = whole.index(b"</tbody>", start)
    rows_folder(app).mkdir()
    (rows_folder(app) / "reference.0.html").write_bytes(whole[start:end])
    reference.write_bytes(whole[:start] + marks + whole[end:])
    return whole


@site("streamed")
def test_table_rows_are_written_beside_their_page_and_put_into_it_when_the_build_ends(app_params, make_app):
    """A table's rows go to a file of their own as the page is written, not through the
    page's whole copies in memory; when the build ends they are in the page, in place, and
    neither a mark nor a rows file is left."""
    args, kwargs, srcdir = prepare(app_params)
    app = make_app(*args, **kwargs)
    as_written = {}

    def look(app, exception):  # before the extension's handler puts the rows in
        as_written["reference"] = (Path(app.outdir) / "reference.html").read_text(encoding="utf-8")
        as_written["rows"] = sorted(path.name for path in rows_folder(app).iterdir())

    app.connect("build-finished", look, priority=100)
    app.build()
    assert app.statuscode == 0 and "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    model = model_of(srcdir / "_data")
    assert "<!--portbook-rows 0-->" in as_written["reference"]
    assert not any(f'data-flow="{f.id}"' in as_written["reference"] for f in model.flows)
    assert "reference.0.html" in as_written["rows"]
    assert any(name.startswith("roles%2F") for name in as_written["rows"])
    assert [r["flow"] for r in page(app, "reference.html").rows if r["flow"]] == [f.id for f in model.flows]
    for role in model.roles:
        assert sum(map(len, page(app, f"roles/{role.id}.html").flow_tables())) == len(role_lines(model, role.id))
    for written in Path(app.outdir).rglob("*.html"):
        assert "portbook-rows" not in written.read_text(encoding="utf-8"), written
    assert not rows_folder(app).exists()


@pytest.mark.parametrize("builder, reference, streamed", [
    pytest.param("dirhtml", "reference/index.html", True, marks=site("rows-dirhtml", "dirhtml")),
    pytest.param("singlehtml", "index.html", False, marks=site("rows-singlehtml", "singlehtml")),
])
def test_every_html_builder_gets_every_row_and_no_mark(builder, reference, streamed, app_params, make_app):
    """dirhtml streams the rows as html does, into its own page paths; singlehtml, which
    joins the pages into one before the build ends, gets them inline."""
    args, kwargs, srcdir = prepare(app_params)
    app = make_app(*args, **kwargs)
    rows_files = []
    app.connect("build-finished", lambda app, exception: rows_files.extend(
        rows_folder(app).iterdir() if rows_folder(app).is_dir() else ()), priority=100)
    app.build()
    assert app.builder.name == builder
    assert bool(rows_files) == streamed, rows_files
    assert app.statuscode == 0 and "WARNING" not in app.warning.getvalue(), app.warning.getvalue()
    model = model_of(srcdir / "_data")
    shown = [r["flow"] for r in page(app, reference).rows if r["flow"]]
    assert all(f.id in shown for f in model.flows)
    assert not any("portbook-rows" in written.read_text(encoding="utf-8") for written in Path(app.outdir).rglob("*.html"))
    assert not rows_folder(app).exists()


@site("unspliced")
def test_a_page_whose_rows_never_went_in_gets_them_at_the_next_build(app_params, make_app):
    """A build stopped after writing a page and before its end leaves the page with the
    mark and its rows beside it; Sphinx takes the page for up to date, and the next build
    puts the rows in."""
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    reference = Path(app.outdir) / "reference.html"
    whole = leave_reference_unspliced(app, b"<!--portbook-rows 0-->")

    again = make_app(*args, **kwargs)
    written = []
    again.connect("html-page-context", lambda app, pagename, *rest: written.append(pagename))
    again.build()
    assert again.statuscode == 0, again.warning.getvalue()
    assert "reference" not in written  # not written again: the rows went into the page as it was
    assert reference.read_bytes() == whole
    assert not rows_folder(again).exists()


@site("lostrows")
def test_a_page_that_lost_its_rows_is_written_again_and_a_stray_file_is_left_alone(app_params, make_app):
    """A page holding a mark whose rows file is gone cannot be finished: it is removed with
    a warning at the page, and the next build writes it whole. A file in the rows folder
    that is no rows file (an editor's, the system's) is left where it is."""
    args, kwargs, srcdir = prepare(app_params)
    app = build(make_app, args, kwargs)
    reference = Path(app.outdir) / "reference.html"
    whole = leave_reference_unspliced(app, b"<!--portbook-rows 0--><!--portbook-rows 1-->")  # no rows file for 1
    (rows_folder(app) / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")

    again = build(make_app, args, kwargs)
    assert again.statuscode == 0
    assert "reference" in again.warning.getvalue() and "lost the rows" in again.warning.getvalue()
    assert not reference.exists()
    assert sorted(path.name for path in rows_folder(again).iterdir()) == [".DS_Store"]

    third = build(make_app, args, kwargs)
    # (A third app in one process also hears Sphinx's own "already registered" notices.)
    assert third.statuscode == 0 and "portbook" not in third.warning.getvalue(), third.warning.getvalue()
    assert reference.read_bytes() == whole


@pytest.mark.parametrize("count", [0, 1, 25_001])
def test_the_port_ranges_script_written_in_slices_is_one_json_text(count):
    """The script is made a slice of records at a time; it is the text one json.dumps of
    every record gives, "<" escaped, whatever the slices' edges."""
    import json

    from generator.site.search import port_ranges_script

    records = [[number, number + 1, "tcp", f"roles/r{number % 7}", "inbound-r", "</script><b>", f"flow-{number}", True]
               for number in range(count)]
    expected = "var PORTBOOK_PORT_RANGES = " + json.dumps(records, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c") + ";\n"
    assert "".join(port_ranges_script(iter(records))) == expected
