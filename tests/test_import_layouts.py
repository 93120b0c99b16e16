"""`import` on the layouts vendor pages use: every number of a page ends in a draft row or
in a located line that says why not, drafts are filled as far as the page goes, and
`import --into` gives a dataset folder that `check` runs on at once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import SHARED, read_rows
from generator.cli import main
from generator.commands.import_page import inert
from generator.pages.parse import column_role
from generator.pipeline import load_and_check

PAGES = Path(__file__).parent / "pages"
SQL = SHARED / "pages" / "sql-server_configure-windows-firewall.md"
SEED = SHARED / "seed" / "configure-firewall-settings-for-dpm.md"


def imported(page: Path, tmp_path: Path, capsys, *extra: str, code: int = 0) -> tuple[dict, list[dict[str, str]]]:
    out = tmp_path / "draft.csv"
    assert main(["import", str(page), "--out", str(out), "--force", "--format", "json", *extra]) == code
    report = json.loads(capsys.readouterr().out)
    return report, read_rows(out)[1]


def fates(report: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for number in report["numbers"]:
        found.setdefault(number["fate"], set()).add(number["number"])
    return found


def reason(report: dict, number: str) -> str:
    return next(n["reason"] for n in report["numbers"] if n["number"] == number)


def assert_accounted(report: dict) -> None:
    """Every number has a fate, and every one that is not drafted says why."""
    assert all(n["fate"] in ("drafted", "listed", "not a port") for n in report["numbers"])
    assert all(n["reason"] for n in report["numbers"] if n["fate"] != "drafted")
    counts = report["counts"]
    assert counts["rows_drafted"] == report["rows"]
    assert counts["listed_only"] == sum(n["fate"] == "listed" for n in report["numbers"])
    assert counts["not_ports"] == sum(n["fate"] == "not a port" for n in report["numbers"])


def test_header_synonyms_name_the_columns():
    assert [column_role(h) for h in ("Port/protocol", "Port number and direction", "Ports", "Application protocol",
                                     "Protocol", "Transport", "Scenario", "Feature A")] == \
        ["port", "port", "port", "label", "protocol", "protocol", "label", "side"]


def test_port_protocol_header_with_named_ports_typos_and_not_ports(tmp_path, capsys):
    report, rows = imported(PAGES / "port-slash-protocol.md", tmp_path, capsys)
    got = [(r["port"], r["transport"], r["service"]) for r in rows]
    assert got == [("80", "tcp", "http"), ("8530", "tcp", "http"), ("443", "tcp", "https"), ("8531", "tcp", "https"),
                   ("80", "tcp", ""), ("135", "tcp", ""), ("3702", "udp", ""), ("135", "tcp", ""),
                   ("49152-65535", "tcp", ""), ("8531", "tcp", "")]
    assert "'UPD' is taken as udp" in rows[6]["assumption"]
    assert rows[8]["dynamic"] == "windows-2008"  # "135/TCP Dynamic" with the range in the details
    assert "2008" not in fates(report).get("drafted", set())
    assert reason(report, "2008") == "an OS or product version"
    assert reason(report, "2") == "a footnote marker"
    assert [r["assumption"].rsplit("Page line ", 1)[1] for r in rows] == ["8."] * 4 + ["9."] * 2 + ["10.", "11.", "11.", "12."]
    assert_accounted(report)


def test_transport_typo_tp_is_read_as_tcp(tmp_path, capsys):
    page = tmp_path / "tp.md"
    page.write_text("| Service | Protocol | Port |\n|---|---|---|\n| Sync | TP | 7100 |\n| Desktop | RDP | 3389 |\n", encoding="utf-8")
    _, rows = imported(page, tmp_path, capsys)
    assert [(r["port"], r["transport"]) for r in rows] == [("7100", "tcp"), ("3389", "")]
    assert "did you mean tcp?" in rows[0]["assumption"]


def test_port_in_another_cell_is_drafted_and_the_odd_number_listed(tmp_path, capsys):
    report, rows = imported(PAGES / "port-in-details.md", tmp_path, capsys)
    assert [(r["port"], r["transport"]) for r in rows] == [("7400", "tcp"), ("7041", "udp"), ("7443", "tcp")]
    assert "taken from the row's other cells" in rows[1]["assumption"]
    assert reason(report, "30") == "a count"
    assert fates(report)["not a port"] == {"30", "7433"}  # the page's other number for the console, said why
    assert_accounted(report)


def test_feature_columns_and_arrows_give_roles_and_direction(tmp_path, capsys):
    report, rows = imported(PAGES / "five-columns.md", tmp_path, capsys)
    got = [(r["port"], r["source"], r["destination"], r["direction"]) for r in rows]
    assert got == [("443", "web-front-end", "app-server", "one-way"), ("5672", "queue-broker", "app-server", "one-way"),
                   ("7800", "app-server", "cache-node", "both"), ("7801", "cache-node", "cache-nodes", "one-way")]
    assert rows[0]["purpose"] == "Configurable: No; Note: TLS from the front end."  # both extra columns kept
    assert rows[3]["transport"] == "udp"
    assert_accounted(report)


def test_the_range_wordings(tmp_path, capsys):
    report, rows = imported(PAGES / "ranges.md", tmp_path, capsys)
    assert [(r["port"], r["transport"]) for r in rows] == [
        ("1024-65535", "tcp"), ("1024-65535", "tcp"), ("1024-65535", "udp"), ("49152-65535", "tcp"), ("1025-65535", "tcp"),
        ("135", "tcp"), ("1024-65535", "tcp"), ("49152-65535", "tcp")]
    # "Dynamic (N-M)" is one pool with its range, not a pool without one and a range beside it.
    assert [r["dynamic"] for r in rows[-2:]] == ["", "windows-2008"]
    assert "no documented platform pool" in rows[-2]["assumption"]
    assert_accounted(report)


def test_findings_are_located(tmp_path, capsys):
    report, _ = imported(PAGES / "findings.md", tmp_path, capsys)
    found = {(f["line"], f["message"].split(":")[0].split(";")[0]) for f in report["findings"]}
    assert found == {
        (3, "header 'Featuret A' is spelled like no known header"),
        (6, "row repeats the row at line 5 exactly"),
        (7, "row has 3 cell(s) where the header has 4"),
        (8, "row has 5 cell(s) where the header has 4"),
        (9, "the row gives one dynamic pool two ranges"),
        (11, "table with no port column (Item | Price)"),
        (15, "the port table has no rows"),
    }
    assert_accounted(report)


def test_a_page_with_no_port_exits_1_and_says_why(tmp_path, capsys):
    out = tmp_path / "draft.csv"
    assert main(["import", str(PAGES / "no-ports.md"), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "no-ports.md:1:1: the page yields no draft row" in captured.err
    assert "the page states no port" in captured.out
    assert "2021: not imported: a year" in captured.out and "12: not imported: a count" in captured.out
    assert captured.out.rstrip().endswith("0 port(s) seen, 0 row(s) drafted, 0 listed only, 2 number(s) that are no port")


def test_port_lists_in_bullets_and_numbered_items(tmp_path, capsys):
    report, rows = imported(PAGES / "port-list.md", tmp_path, capsys)
    assert [(r["port"], r["transport"], r["service"], r["purpose"]) for r in rows] == [
        ("443", "tcp", "", "Ledger web console"), ("6379", "tcp", "", "Session cache"),
        ("5423", "tcp", "postgresql", "PostgreSQL"), ("514", "udp", "syslog", "Syslog forwarding"), ("9090", "", "", "metrics")]
    assert [m["port"] for m in report["prose_ports"]] == ["8443"]
    assert_accounted(report)


def test_into_writes_a_dataset_that_check_runs_on(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["import", str(PAGES / "service-by-name.md"), "--into", str(data / "ledger")]) == 0
    assert sorted(p.name for p in (data / "ledger").iterdir()) == ["dataset.toml", "flows.csv", "roles.csv"]
    assert sorted(p.name for p in data.iterdir()) == ["ledger"]  # nothing written beside the dataset
    _, roles = read_rows(data / "ledger" / "roles.csv")
    assert [r["id"] for r in roles] == ["ledger-server", "database-server", "browser", "domain-controller"]
    _, flows = read_rows(data / "ledger" / "flows.csv")
    assert all(r["id"].startswith("ledger-") for r in flows)
    checked = load_and_check(data)
    # The page's "PostgreSQL on 5423": the registry's name makes C201 name 5432 with no hand edit.
    assert [(i.code, "5432/tcp" in i.message) for i in checked.issues] == [("C201", True)]
    capsys.readouterr()
    assert main(["import", str(PAGES / "service-by-name.md"), "--into", str(data / "ledger")]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["import", str(PAGES / "service-by-name.md"), "--into", str(data / "ledger"), "--force"]) == 0


def test_check_on_an_imported_list_names_only_the_blanks_to_fill(tmp_path):
    data = tmp_path / "data"
    assert main(["import", str(PAGES / "port-list.md"), "--into", str(data / "ledger")]) == 0
    checked = load_and_check(data)
    assert {(i.code, i.field) for i in checked.issues} == {
        ("S101", "source"), ("S101", "destination"), ("S101", "direction"), ("S101", "transport")}
    assert sum(i.field == "transport" for i in checked.issues) == 1  # "Port 9090 (metrics)" gives none


def test_two_drafts_in_one_data_folder_do_not_collide(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["import", str(PAGES / "service-by-name.md"), "--into", str(data / "one")]) == 0
    assert main(["import", str(PAGES / "service-by-name.md"), "--into", str(data / "two")]) == 0
    checked = load_and_check(data)
    assert len(checked.model.flows) == 6
    assert not [i for i in checked.issues if i.code == "S107"]  # no id is used twice


def test_roles_that_may_be_one_are_noted(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["import", str(PAGES / "five-columns.md"), "--into", str(data / "litware")]) == 0
    _, roles = read_rows(data / "litware" / "roles.csv")
    notes = {r["id"]: r["description"] for r in roles}
    assert "merge the two" in notes["cache-node"] and "merge the two" in notes["cache-nodes"]
    assert "merge" not in notes["web-front-end"]


def test_saved_html_page(tmp_path, capsys):
    report, rows = imported(PAGES / "html-page.html", tmp_path, capsys)
    assert report["title"] == "Ports of the Contoso Relay"
    assert [(r["port"], r["transport"], r["reference"]) for r in rows] == [
        ("8443", "tcp", "inbound"), ("514", "udp", "inbound"), ("1514", "udp", "inbound"), ("5432", "tcp", "inbound")]
    assert report["sections"] == [{"key": "inbound", "title": "Inbound", "anchor": "inbound"}]
    lines = (PAGES / "html-page.html").read_text(encoding="utf-8").splitlines()
    where = {n["number"]: (n["line"], n["column"], n["fate"]) for n in report["numbers"]}
    assert where["8443"] == (9, lines[8].index("8443") + 1, "drafted")
    assert where["1514"] == (10, lines[9].index("1514") + 1, "drafted")
    assert where["1"][2] == "not a port" and where["8444"][2] == "listed"
    assert_accounted(report)


def test_formula_cells_are_made_inert_but_a_lone_dash_stays():
    assert [inert(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "-", "1433", "")] == \
        ["'=1+1", "'+1", "'-1", "'@x", "'\tx", "-", "1433", ""]


@pytest.mark.skipif(not SQL.exists(), reason=f"the SQL Server firewall page is not at {SQL}")
def test_every_port_of_the_sql_server_page_is_accounted_for(tmp_path, capsys):
    report, rows = imported(SQL, tmp_path, capsys)
    assert_accounted(report)
    found = fates(report)
    assert found["drafted"] == {"21", "80", "135", "137", "138", "139", "443", "445", "500", "1433", "1434", "2382",
                                "2383", "4022", "4500", "5022", "7022"}
    assert found["listed"] == {"80", "135", "443", "1024", "1433", "1434", "2382", "2389"}  # 2389: the page's slip for 2383
    assert found["not a port"] == {"3", "2003", "2008"}
    drafted = {(r["port"], r["transport"]) for r in rows}
    assert {("1433", "tcp"), ("1434", "tcp"), ("1434", "udp"), ("2383", "tcp"), ("4022", "tcp"), ("500", "udp")} <= drafted
    assert all(r["id"].startswith("sql-server-configure-win") for r in rows)


@pytest.mark.skipif(not SEED.exists(), reason=f"the seed page is not at {SEED}")
def test_every_port_of_the_seed_page_is_accounted_for(tmp_path, capsys):
    report, _ = imported(SEED, tmp_path, capsys)
    assert_accounted(report)
    found = fates(report)
    assert found["drafted"] == {"53", "88", "135", "137", "138", "139", "389", "445", "1024", "5718", "5719", "6075", "65535"}
    assert found["listed"] == {"80", "1433", "1434", "1443"}
    assert found["not a port"] == {"1", "2012"}


def test_gfm_tables_without_outer_pipes_with_escaped_pipes_and_inline_html():
    from generator.pages.mentions import read_statements
    from generator.pages.parse import parse_page

    page = parse_page("Port | Protocol | Details\n--- | --- | ---\n8080<sup>1</sup> | TCP | a \\| b<br>c &#40;d&#41;\n")
    [table] = page.tables
    [row] = table.rows
    assert row.cell("port") == "8080" and row.cell("details") == "a | b c (d)"
    assert row.cells["port"].notes == ((3, 10, "1"),)
    [stated] = read_statements(page).rows
    assert [(str(s.ports), s.transport, s.line, s.column) for s in stated.ports] == [("8080", "tcp", 3, 1)]


def test_the_roles_the_page_says_initiate_are_the_sources(tmp_path, capsys):
    page = tmp_path / "initiate.md"
    page.write_text("| Protocol | Port | Details |\n|---|---|---|\n"
                    "| TCP | 7810 | Between the archive server and the client computer: the archive server initiates the copy. |\n"
                    "| TCP | 7811 | Between the archive server and the client computer: the client computer initiates it. |\n"
                    "| TCP | 7812 | Both the archive server and the client computer initiate connections. |\n", encoding="utf-8")
    _, rows = imported(page, tmp_path, capsys, "--roles", str(PAGES / "fabrikam-roles.csv"))
    assert [(r["source"], r["destination"], r["direction"]) for r in rows] == [
        ("archive-server", "client-computer", "one-way"), ("client-computer", "archive-server", "one-way"),
        ("archive-server", "client-computer", "both")]


def test_saved_html_page_with_lists_head_and_body_rows(tmp_path, capsys):
    report, rows = imported(PAGES / "html-lists.html", tmp_path, capsys)
    assert report["title"] == "Woodgrove Sync: firewall ports"
    assert [(r["port"], r["transport"], r["purpose"]) for r in rows] == [
        ("7070", "tcp", "Sync agent"), ("7071", "udp", "Discovery"), ("7072", "tcp", "Replication"), ("7073", "tcp", "Replication")]
    assert report["sections"] == [{"key": "agent-ports", "title": "Agent ports", "anchor": "agent"}]
    assert "9999" not in {n["number"] for n in report["numbers"]}  # script text is no page text
    assert [(m["port"], m["line"]) for m in report["prose_ports"]] == [("7000", 17)]
    assert_accounted(report)


PAGE_ALPHABET = st.sampled_from(list("|-:<>/ \n0123456789tcpudTCPUDportsbr&#;*[]()") + ["<td>", "</td>", "<tr>", "<table>",
                                                                                          "</table>", "<br>", "<sup>", "</sup>",
                                                                                          "<li>", "<h2>", "</h2>"])


@settings(deadline=None, max_examples=80)
@given(st.lists(PAGE_ALPHABET, max_size=120).map("".join), st.booleans())
def test_any_page_is_accounted_for_and_located_on_it(text, as_html):
    from generator.pages.account import account
    from generator.pages.findings import find
    from generator.pages.mentions import read_statements
    from generator.pages.parse import parse_any

    stated = read_statements(parse_any(text, Path("page.html" if as_html else "page.md")))
    lines = text.split("\n")
    for where in [*stated.ports, *account(stated), *find(stated)]:
        assert 1 <= where.line <= len(lines)
        assert 1 <= where.column <= len(lines[where.line - 1]) + 1


def test_a_row_with_no_port_is_reported_not_dropped(tmp_path, capsys):
    page = tmp_path / "dash.md"
    page.write_text("| Service | Port |\n|---|---|\n| Console | - |\n| API | 8080 |\n", encoding="utf-8")
    report, rows = imported(page, tmp_path, capsys)
    assert [r["port"] for r in rows] == ["8080"]
    assert report["findings"] == [{"line": 3, "column": 3, "message": "the row states no port (its port cell says '-'), so it has no draft row"}]


def test_html_items_and_paragraphs_left_unclosed_end_where_the_next_begins(tmp_path, capsys):
    page = tmp_path / "open.html"
    page.write_text("<html><body><h2>Ports</h2><ul><li>TCP 7070: Agent<li>UDP 7071: Discovery</ul>"
                    "<p>One<p>Port 80 too<h3>More</h3></body></html>\n", encoding="utf-8")
    report, rows = imported(page, tmp_path, capsys)
    assert [(r["port"], r["purpose"]) for r in rows] == [("7070", "Agent"), ("7071", "Discovery")]
    assert [(m["port"], m["sentence"], m["column"]) for m in report["prose_ports"]] == [("80", "Port 80 too", 92)]


def test_gfm_footnote_references_are_markers_not_ports():
    from generator.pages.account import account
    from generator.pages.mentions import read_statements
    from generator.pages.parse import parse_page

    stated = read_statements(parse_page("| Protocol | Port |\n|---|---|\n| TCP | 1433[^1] |\n\n[^1]: Default instance.\n"))
    assert [(str(s.ports), s.transport) for row in stated.rows for s in row.ports] == [("1433", "tcp")]
    assert [(f.number, f.fate, f.reason, f.line, f.column) for f in account(stated)] == [
        ("1433", "drafted", "", 3, 9), ("1", "not a port", "a footnote marker", 3, 15), ("1", "not a port", "a footnote marker", 5, 3)]


def test_html_references_keep_the_columns_of_what_follows(tmp_path, capsys):
    page = tmp_path / "refs.html"
    text = "<html><body><table><tr><th>Port</th><th>Notes</th></tr><tr><td>&lt;&#8594; 8443</td><td>a &amp; b, port 9000</td></tr></table></body></html>\n"
    page.write_text(text, encoding="utf-8")
    report, rows = imported(page, tmp_path, capsys)
    assert [(n["number"], n["column"]) for n in report["numbers"]] == [("8443", text.index("8443") + 1), ("9000", text.index("9000") + 1)]
    assert rows[0]["purpose"] == "a & b, port 9000"
