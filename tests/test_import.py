"""`import PAGE.md`: draft flows from published port pages, and ports stated in prose."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import DATA, ROOT, SHARED, read_rows
from generator.cli import main
from generator.pipeline import load_and_check
from generator.pages.draft import role_aliases
from generator.pages.mentions import port_cell_statements, protocol_transports, read_statements
from generator.pages.parse import MAX_PAGE_BYTES, TOP, clean, column_role, parse_page
from generator.schema import FLOWS, ID_PATTERN
from hostile import HOSTILE_TEXT

PAGES = Path(__file__).parent / "pages"
MSDOCS = PAGES / "msdocs-style.md"
GFM = PAGES / "plain-gfm.md"
SEED = SHARED / "seed" / "configure-firewall-settings-for-dpm.md"


def run_import(page: Path, out: Path, *extra: str) -> int:
    return main(["import", str(page), "--out", str(out), *extra])


def draft(page: Path, tmp_path: Path, roles: Path | None = None) -> tuple[list[str], list[dict[str, str]]]:
    out = tmp_path / "draft.csv"
    assert run_import(page, out, *(["--roles", str(roles)] if roles else [])) == 0
    return read_rows(out)


def cell(text: str, protocol: str = ""):
    return [(s.ports and str(s.ports), s.transport, s.dynamic)
            for s in port_cell_statements(clean([(1, 1, text)]), protocol, TOP, [])]


def test_port_cells_in_the_styles_pages_use():
    assert cell(r"137\/UDP, 138\/UDP and 139\/TCP") == [("137", "udp", False), ("138", "udp", False), ("139", "tcp", False)]
    assert cell("5718/TCP<br /><br />5719/TCP") == [("5718", "tcp", False), ("5719", "tcp", False)]
    assert cell(r"135\/TCP Dynamic") == [("135", "tcp", False), (None, "tcp", True)]
    assert cell("49152-65535", "TCP") == [("49152-65535", "tcp", False)]
    assert cell("1024 through 65535/UDP") == [("1024-65535", "udp", False)]
    assert cell("All ports", "All protocols") == [(None, "any", False)]
    assert cell("53", "TCP and UDP") == [("53", "tcp", False), ("53", "udp", False)]
    assert cell("9100", "Metrics") == [("9100", "", False)]  # no transport stated: left open
    assert cell("1024—65535", "TCP") == [("1024-65535", "tcp", False)]  # em dash, as in prose
    assert cell("0, 70000/TCP, 139-137 and ١٤٣٣", "TCP") == []  # no port among them


def test_prose_ranges_read_as_the_port_cells_read_them():
    stated = read_statements(parse_page("RPC uses TCP ports 1024—65535. The listener is on port 70000.\n"))
    assert [(str(s.ports), s.transport, s.column) for s in stated.prose] == [("1024-65535", "tcp", 20)]


def test_header_words_choose_the_columns():
    assert [column_role(h) for h in ("Protocol", "Port", "Details", "Rule name", "Transport", "Port(s)", "From", "To", "Description", "Service")] == \
        ["protocol", "port", "details", "rule", "protocol", "port", "source", "destination", "details", "label"]
    assert protocol_transports("All protocols") == ["any"]
    assert protocol_transports("DNS") == []


def test_cleaning_keeps_page_positions():
    text = clean([(7, 3, r"a\/b<br />c \(d\_e\) **f** [g](http://x)")])
    assert text.text == "a/b\nc (d_e) f g"
    assert text.at(text.text.index("c")) == (7, 3 + r"a\/b<br />".__len__())


def test_msdocs_page_gives_one_row_per_port_and_transport(tmp_path):
    header, rows = draft(MSDOCS, tmp_path, PAGES / "fabrikam-roles.csv")
    assert header == FLOWS.column_names
    stated = sorted((r["port"], r["transport"], r["reference"]) for r in rows)
    top, rules = "firewall-ports-for-fabrikam-archive", "firewall-rules-the-installer-creates"
    assert stated == sorted([
        ("135", "tcp", top), ("1025-5000", "tcp", top), ("7810", "tcp", top), ("7811", "tcp", top),
        ("137", "udp", top), ("138", "udp", top), ("139", "tcp", top), ("443", "tcp", top),
        ("any", "any", rules), ("7810", "tcp", rules),
    ])
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(ID_PATTERN, i) for i in ids)
    by_port = {(r["port"], r["reference"]): r for r in rows}
    # Escapes and line breaks of the page are gone from the text the draft keeps.
    copy = by_port[("7810", top)]
    assert "(bulk data)" in copy["purpose"] and "\\" not in copy["purpose"] and "<br" not in copy["purpose"]
    assert by_port[("7810", rules)]["rule"] == "Fabrikam Archive Copy_Stream"
    # A range the page calls dynamic, equal to a documented pool, is marked as that pool.
    assert by_port[("1025-5000", top)]["dynamic"] == "windows-2003"
    # "between A and B" names the roles; the direction is never guessed.
    assert (copy["source"], copy["destination"], copy["direction"]) == ("archive-server", "client-computer", "")
    assert "direction" in copy["assumption"]
    engine = by_port[("any", rules)]
    assert engine["program"] == "Faengine.exe" and engine["rule"] == "Fabrikam Archive Engine"
    # Only one role named: left blank, and the assumption says what to decide.
    console = by_port[("443", top)]
    assert console["source"] == console["destination"] == ""
    assert "archive-server" in console["assumption"]


def test_plain_gfm_page_with_from_and_to_columns(tmp_path):
    _, rows = draft(GFM, tmp_path, PAGES / "scheduler-roles.csv")
    got = {(r["port"], r["transport"]): (r["source"], r["destination"], r["direction"]) for r in rows}
    assert got == {
        ("8080", "tcp"): ("web-tier", "scheduler", "one-way"),
        ("137", "udp"): ("scheduler", "directory-server", "one-way"),
        ("138", "udp"): ("scheduler", "directory-server", "one-way"),
        ("49152-65535", "tcp"): ("scheduler", "worker", "one-way"),
        ("9100", ""): ("monitoring", "worker", "one-way"),
        ("any", "any"): ("worker", "worker", "one-way"),
    }
    metrics = next(r for r in rows if r["port"] == "9100")
    assert "tcp or udp" in metrics["assumption"]


def test_without_roles_the_page_columns_name_the_roles(tmp_path):
    _, rows = draft(GFM, tmp_path)
    got = {(r["port"], r["transport"]): (r["source"], r["destination"]) for r in rows}
    assert got[("8080", "tcp")] == ("web-tier", "scheduler")
    assert got[("137", "udp")] == ("scheduler", "directory-server")


def test_without_roles_rows_without_role_columns_ask_for_roles(tmp_path):
    _, rows = draft(MSDOCS, tmp_path)
    assert rows and all(r["source"] == r["destination"] == "" and "--roles" in r["assumption"] for r in rows)


def test_prose_ports_are_reported_with_their_sentences(tmp_path, capsys):
    assert run_import(MSDOCS, tmp_path / "d.csv", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    mentions = {(m["port"], m["transport"]): m for m in report["prose_ports"]}
    assert set(mentions) == {("5342", "tcp"), ("5432", ""), ("5433", "udp")}
    assert mentions[("5342", "tcp")]["sentence"] == ("Clients reach the catalog database at TCP port 5342 by default, "
                                                     "though an administrator may pick another.")
    assert (mentions[("5342", "tcp")]["line"], mentions[("5342", "tcp")]["column"]) == (31, 52)
    lines = MSDOCS.read_text(encoding="utf-8").splitlines()
    assert lines[30][51:55] == "5342"
    # A year in prose is not a port; table ports are not prose.
    assert "2019" not in json.dumps(report["prose_ports"]) and "7810" not in json.dumps(report["prose_ports"])
    assert {s["key"]: s["anchor"] for s in report["sections"]}["firewall-rules-the-installer-creates"] == "FW_RULES"

    assert run_import(GFM, tmp_path / "g.csv") == 0
    out = capsys.readouterr().out
    assert "plain-gfm.md:15:43: port 7001: Workers also accept" in out
    assert "8443/tcp" in out


def test_existing_draft_is_kept_unless_forced(tmp_path, capsys):
    out = tmp_path / "draft.csv"
    out.write_text("mine\n", encoding="utf-8")
    assert run_import(GFM, out) == 2
    assert out.read_text(encoding="utf-8") == "mine\n"
    assert "--force" in capsys.readouterr().err
    assert run_import(GFM, out, "--force") == 0
    assert read_rows(out)[0] == FLOWS.column_names


def test_unreadable_pages_give_located_errors(tmp_path, capsys):
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"# Title\n| Port |\n|---|\n| 80\xff |\n")
    assert run_import(bad, tmp_path / "d.csv") == 1
    err = capsys.readouterr().err
    assert ":4:5:" in err and "UTF-8" in err
    assert run_import(tmp_path / "missing.md", tmp_path / "d.csv") == 1
    assert "missing.md:0:0:" in capsys.readouterr().err
    assert not (tmp_path / "d.csv").exists()


def test_hostile_text_stays_text_in_the_draft(tmp_path):
    page = tmp_path / "hostile.md"
    rows = "\n".join(f"| TCP | {1000 + n}/TCP | {text.replace(chr(10), ' ').replace(chr(13), ' ').replace('|', chr(92) + '|')} |"
                     for n, text in enumerate(HOSTILE_TEXT))
    page.write_text(f"# ../../{HOSTILE_TEXT[0]}\n\n| Protocol | Port | Details |\n|---|---|---|\n{rows}\n", encoding="utf-8")
    _, drafted = draft(page, tmp_path)
    assert [r["port"] for r in drafted] == [str(1000 + n) for n in range(len(HOSTILE_TEXT))]
    assert all(re.fullmatch(ID_PATTERN, r["id"]) and re.fullmatch(ID_PATTERN, r["reference"]) for r in drafted)
    assert drafted[0]["purpose"].startswith("'=HYPERLINK(")  # the page's text, made inert for spreadsheets
    assert drafted[HOSTILE_TEXT.index("| pipe | in | cell |")]["purpose"] == "| pipe | in | cell |"


def test_draft_in_a_data_folder_lists_what_is_left_to_decide(tmp_path, data_dir, capsys):
    folder = data_dir / "fabrikam-draft"
    folder.mkdir()
    assert run_import(MSDOCS, folder / "flows.csv", "--roles", str(PAGES / "fabrikam-roles.csv"), "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    shutil.copy(PAGES / "fabrikam-roles.csv", folder / "roles.csv")
    sections = "\n".join(f'[sections.{s["key"]}]\ntitle = {json.dumps(s["title"])}\nanchor = {json.dumps(s["anchor"])}\n'
                         for s in report["sections"])
    (folder / "dataset.toml").write_text(
        f'id = "fabrikam-draft"\ntitle = "Fabrikam Archive"\nversion = "0.1"\n[source]\ntitle = {json.dumps(report["title"])}\n{sections}',
        encoding="utf-8")
    checked = load_and_check(data_dir)
    codes = {(i.code, i.field) for i in checked.issues if i.file.endswith("fabrikam-draft/flows.csv")}
    # The schema accepts the draft; what remains are the blanks a person must fill.
    assert not any(code.startswith("L") for code, _ in codes)
    assert ("S101", "direction") in codes and ("S101", "source") in codes
    assert {i.code for i in checked.issues if "fabrikam-draft" in i.file} <= {"S101", "C204", "C211", "C212", "C202", "C206"}


def test_seed_page_import(tmp_path, capsys):
    if not SEED.exists():
        pytest.skip(f"the published DPM page is not at {SEED}")
    out = tmp_path / "dpm.csv"
    assert main(["import", str(SEED), "--roles", str(DATA / "dpm-2012r2" / "roles.csv"), "--out", str(out), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    _, rows = read_rows(out)
    first_table = [(r["port"], r["transport"]) for r in rows if r["reference"] == "configure-firewall-settings-for-dpm"]
    assert first_table == [("135", "tcp"), ("1024-65535", "tcp"), ("5718", "tcp"), ("5719", "tcp"), ("6075", "tcp"),
                           ("53", "udp"), ("88", "udp"), ("88", "tcp"), ("389", "tcp"), ("389", "udp"),
                           ("137", "udp"), ("138", "udp"), ("139", "tcp"), ("445", "tcp")]
    rules = [(r["port"], r["transport"], r["program"]) for r in rows if r["reference"] == "windows-firewall-settings"]
    assert rules == [("135", "tcp", ""), ("", "tcp", ""), ("any", "any", "Msdpm.exe"), ("any", "any", "Dpmra.exe")]
    prose = {m["port"]: m["sentence"] for m in report["prose_ports"] if not m["dynamic"]}
    assert set(prose) == {"1443", "1433", "1434", "80"}
    assert "1443" in prose["1443"] and "1434" in prose["1433"]


def test_role_aliases_from_names_and_ids():
    aliases = role_aliases([("dpm-server", "DPM server"), ("sql-server", "Remote SQL Server"), ("dc", "Domain controller")])
    assert aliases["dpm"] == aliases["dpm server"] == "dpm-server"
    assert aliases["sql server"] == aliases["remote sql server"] == "sql-server"
    assert aliases["domain controller"] == "dc"
    # A name two roles could both answer to names neither.
    shared = role_aliases([("a-server", "Backup server"), ("backup", "Backup")])
    assert "backup" not in shared and "backup server" not in shared
    assert shared["a server"] == "a-server"


@settings(deadline=None, max_examples=60)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_text_parses_and_every_statement_points_into_the_page(text):
    stated = read_statements(parse_page(text))
    lines = re.split(r"\r\n?|\n", text)  # the line ends markdown-it (and editors) count
    for statement in stated.ports + stated.names:
        assert 1 <= statement.line <= len(lines)
        assert 1 <= statement.column <= len(lines[statement.line - 1]) + 1


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(1, 65535), st.sampled_from(["TCP port {}", "port {}", "{}/udp", "the default {} port"])),
                min_size=1, max_size=5),
       st.sampled_from(["- ", "", "1.  "]))
def test_prose_ports_are_found_where_they_are_written(ports, marker):
    sentences = [template.format(port) for port, template in ports]
    text = "# A page\n\n" + marker + "Open " + ". Then open ".join(sentences) + ".\n"
    stated = read_statements(parse_page(text))
    assert [s.ports.first for s in stated.prose] == [port for port, _ in ports]
    lines = text.splitlines()
    for statement in stated.prose:
        assert lines[statement.line - 1][statement.column - 1:].startswith(str(statement.ports.first))


def test_headings_and_code_blocks_count_as_prose_but_never_hold_tables():
    stated = read_statements(parse_page("# Port 8080 notes\n\n```\n| Protocol | Port |\n|---|---|\n| TCP | 1 |\nallow tcp port 9090\n```\n"))
    assert [(s.ports.first, s.transport, s.line) for s in stated.prose] == [(8080, "", 1), (9090, "tcp", 7)]
    assert stated.page.tables == [] and stated.rows == []


def test_bad_roles_file_is_reported_located(tmp_path, capsys):
    roles = tmp_path / "roles.csv"
    roles.write_text("id,nmae\nx,y\n", encoding="utf-8")
    assert run_import(GFM, tmp_path / "d.csv", "--roles", str(roles)) == 1
    err = capsys.readouterr().err
    assert "roles.csv:1:" in err and "L00" in err
    assert not (tmp_path / "d.csv").exists()


def test_tables_in_quotes_and_lists_and_underlined_headings():
    text = ("Ports\n=====\n\n> | Protocol | Port |\n> |---|---|\n> | TCP | 8080 |\n\n"
            "- | Port | Details |\n  |---|---|\n  | 53/UDP | Uses sqlsrv.exe |\n")
    stated = read_statements(parse_page(text))
    assert stated.page.title == "Ports" and [s.key for s in stated.page.sections] == ["ports"]
    lines = text.split("\n")
    found = [(str(s.ports), s.transport, s.line, s.column) for row in stated.rows for s in row.ports]
    assert found == [("8080", "tcp", 6, lines[5].index("8080") + 1), ("53", "udp", 10, lines[9].index("53") + 1)]
    assert [(n.name, n.line, n.column) for n in stated.names] == [("sqlsrv.exe", 10, lines[9].index("sqlsrv") + 1)]


def test_a_table_without_a_port_column_is_read_as_prose():
    stated = read_statements(parse_page("# Settings\n\n| Setting | Value |\n|---|---|\n| Listener | TCP port 1443 |\n| Binary | sqlsrv.exe |\n"))
    assert stated.page.tables == []
    assert [(s.ports.first, s.transport, s.line, s.column) for s in stated.prose] == [(1443, "tcp", 5, 23)]
    assert [(n.name, n.line) for n in stated.names] == [("sqlsrv.exe", 6)]


def test_long_details_are_cut_to_what_the_loader_accepts(tmp_path):
    from generator.csvfile import MAX_FIELD_CHARS

    page = tmp_path / "long.md"
    page.write_text("# Long\n\n| Port | Details |\n|---|---|\n| 80/TCP | " + "word " * 2000 + "|\n", encoding="utf-8")
    _, rows = draft(page, tmp_path)
    assert len(rows[0]["purpose"]) == MAX_FIELD_CHARS and "shorten" in rows[0]["assumption"]


def test_oversized_page_is_refused(tmp_path, capsys):
    page = tmp_path / "big.md"
    page.write_bytes(b"#" * (MAX_PAGE_BYTES + 1))
    assert run_import(page, tmp_path / "d.csv") == 1
    assert "big.md:1:1: page is larger than" in capsys.readouterr().err


def pathological_page(size: int = 50_000) -> str:
    """Lines that made the page patterns backtrack: runs of spaces in headings and front
    matter, runs of '[' and '{#', and long rows under a table header."""
    lines = [
        "---", "title: a" + " " * 2000 + "b", "---",
        "# a" + " " * 2000 + "x#x",
        "#" + " " * 2000 + "#" + " " * 2000 + "x",
        "[" * 5000,
        "[a](" * 1500,
        "# " + "{#" * 2500,
        "| Port | Details |",
        "|" + "-|" * 5000 + "x",
        "Service | Port",
        " " * 10000 + "x",
        "| 80/TCP | " + "port " + " " * 3000 + "1 " + "(" * 2000 + "|",
    ]
    text = "\n".join(lines) + "\n"
    return (text * (size // len(text) + 1))[:size]


def test_pathological_lines_are_read_in_linear_time(tmp_path):
    """Every pattern is linear in the line: a page of worst-case lines is imported and
    compared well within the time limit, which only a backtracking regression reaches."""
    import subprocess
    import sys

    page = tmp_path / "pathological.md"
    page.write_text(pathological_page(), encoding="utf-8")
    assert page.stat().st_size >= 50_000
    commands = [
        ["import", str(page), "--out", str(tmp_path / "draft.csv")],
        ["check", "--data", str(DATA), "--against", str(page), "--dataset", "dpm-2012r2"],
    ]
    for command in commands:
        done = subprocess.run([sys.executable, "-m", "generator", *command], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), done.stderr
    assert (tmp_path / "draft.csv").is_file()


def test_page_text_reaches_the_terminal_escaped(tmp_path, capsys):
    page = tmp_path / "escapes.md"
    page.write_text("# Ports \x1b[2J\x9b\n\n| Port | Details |\n|---|---|\n| 80/TCP | Web |\n\n"
                    "Open TCP port 8080 \x1b]8;;http://x\x07here\u202e.\n", encoding="utf-8")
    assert run_import(page, tmp_path / "d.csv") == 0
    out = capsys.readouterr().out
    assert not any(character in out for character in "\x1b\x9b\x07\u202e")
    assert 'title = "Ports \\u001b[2J\\u009b"' in out  # a TOML string, as dataset.toml takes it
    assert "port 8080/tcp: Open TCP port 8080 \\x1b]8;;http://x\\x07here\\u202e." in out
    assert run_import(page, tmp_path / "d.csv", "--force", "--format", "json") == 0
    out = capsys.readouterr().out
    assert not any(character in out for character in "\x1b\x9b\x07\u202e")
    report = json.loads(out)  # the same text, escaped only on the way out
    assert report["prose_ports"][0]["sentence"] == "Open TCP port 8080 \x1b]8;;http://x\x07here\u202e."
    assert report["sections"][0]["title"] == "Ports \x1b[2J\x9b"
