"""`diff OLD NEW`: the review report between two versions of the data, in Markdown (read
back with markdown-it-py), JSON and a change-request workbook (read back with openpyxl)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from generator import changes as comparing
from generator.cli import main
from generator.pipeline import load_and_check
from generator.views import INBOUND
from tests.conftest import DATA, append_row, edit_row, line_of, read_rows, write_rows
from tests.hostile import HOSTILE_TEXT
from tests.test_markdown import assert_inert, parse

FLOWS = "dpm-2012r2/flows.csv"
ERRATA = "dpm-2012r2/errata.csv"


@pytest.fixture
def new_dir(tmp_path: Path) -> Path:
    """A second copy of the shipped data, to edit into the NEW side."""
    target = tmp_path / "new" / "data"
    shutil.copytree(DATA, target)
    return target


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["diff", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, *args: str) -> tuple[int, dict]:
    code, out, _ = run(capsys, *args, "--format", "json")
    return code, json.loads(out)


def tables_after(source: str, heading: str) -> list[list[list[str]]]:
    """The tables of a report section, found by the text of its heading."""
    marker = next(line for line in source.splitlines() if line.startswith("#") and heading in line)
    rest = source.split(marker, 1)[1]
    following = next((line for line in rest.splitlines() if line.startswith("## ")), None)
    return parse(rest.split(following, 1)[0] if following else rest)[1]


def test_port_put_back_to_the_published_value_is_named_and_fails_c201(data_dir, new_dir, capsys):
    row = edit_row(new_dir / FLOWS, "id", "sql-engine-default", port="1443")
    code, report, _ = run(capsys, data_dir, new_dir)
    assert code == 1
    tokens, _ = parse(report)
    assert_inert(tokens)
    [changed] = tables_after(report, "Changed")
    assert changed[1:] == [["sql-engine-default", "port", "1433", "1443", "E1", f"{new_dir / FLOWS}:{row}"]]
    checks = tables_after(report, "Checks on the new data")
    results = {cells[0]: cells[2] for cells in checks[0][1:]}
    assert results["C201"] == "fail" and results["C209"] == "fail" and results["C204"] == "pass"
    c201 = [cells for cells in checks[1][1:] if cells[1] == "C201"]
    assert len(c201) == 1 and "1433" in c201[0][3] and c201[0][0].startswith(f"{new_dir / FLOWS}:{row}:")

    code, payload = run_json(capsys, data_dir, new_dir)
    assert code == 1
    assert payload["flows"] == {"added": [], "removed": [], "changed": [{
        "key": "sql-engine-default", "id": "sql-engine-default",
        "fields": [{"field": "port", "old": "1433", "new": "1443", "errata": ["E1"]}]}]}
    assert all(payload[kind] == {"added": [], "removed": [], "changed": []} for kind in ("errata", "roles", "hosts", "datasets"))
    assert payload["checks"]["passed"] is False
    assert {item["code"] for item in payload["checks"]["issues"]} == {"C201", "C209"}


def test_the_correction_itself_gives_the_pull_request_line(data_dir, new_dir, capsys):
    edit_row(data_dir / FLOWS, "id", "sql-engine-default", port="1443")
    code, payload = run_json(capsys, data_dir, new_dir)
    assert code == 1
    assert payload["summary"] == "sql-engine-default: port 1443 -> 1433 (erratum E1); checks clean"
    assert payload["checks"]["old"]["errors"] == 2 and payload["checks"]["errors"] == 0
    code, report, _ = run(capsys, data_dir, new_dir)
    summary = next(t for t in parse(report)[0] if t.type == "inline" and t.content.startswith("Summary"))
    assert "".join(child.content for child in summary.children) == f"Summary: {payload['summary']}"


def test_reordered_files_are_no_change(data_dir, new_dir, capsys):
    for name in (FLOWS, ERRATA, "dpm-2012r2/roles.csv", "inventory.csv"):
        header, rows = read_rows(new_dir / name)
        write_rows(new_dir / name, header, rows[::-1])
    code, payload = run_json(capsys, data_dir, new_dir)
    assert (code, payload["identical"], payload["summary"]) == (0, True, "no changes; checks clean")
    code, report, _ = run(capsys, data_dir, new_dir)
    assert code == 0
    assert [rows for rows in tables_after(report, "Flows")] == []


def test_added_and_removed_flows(data_dir, new_dir, capsys):
    header, rows = read_rows(new_dir / FLOWS)
    removed = next(row for row in rows if row["id"] == "sql-browser")
    write_rows(new_dir / FLOWS, header, [row for row in rows if row is not removed])
    append_row(new_dir / FLOWS, id="wsus-http", transport="tcp", port="8530", source="protected-computer",
               destination="dpm-server", direction="one-way", purpose="Updates | served <b>here</b>", reference="ports")
    code, payload = run_json(capsys, data_dir, new_dir)
    assert code == 1
    assert [record["id"] for record in payload["flows"]["added"]] == ["wsus-http"]
    assert [record["id"] for record in payload["flows"]["removed"]] == ["sql-browser"]
    assert payload["flows"]["removed"][0]["port"] == "1434" and payload["flows"]["changed"] == []
    assert payload["summary"].startswith("added flow wsus-http; removed flow sql-browser; ")

    code, report, _ = run(capsys, data_dir, new_dir)
    tokens, _ = parse(report)
    assert_inert(tokens)
    added, removed = tables_after(report, "Flows")
    new_flow = load_and_check(new_dir).model.flow_by_id["wsus-http"]
    assert added == [comparing.FLOW_FIELDS, [new_flow.value(name) for name in comparing.FLOW_FIELDS]]
    assert added[1][comparing.FLOW_FIELDS.index("purpose")] == "Updates | served <b>here</b>"
    assert [cells[0] for cells in removed[1:]] == ["sql-browser"]


def test_errata_added_removed_and_changed(data_dir, new_dir, capsys):
    edit_row(new_dir / ERRATA, "id", "E2", evidence="Microsoft KB 929851")
    header, rows = read_rows(new_dir / ERRATA)
    write_rows(new_dir / ERRATA, header, [row for row in rows if row["id"] != "E3"])
    append_row(new_dir / ERRATA, id="E9", flow="sql-browser", field="transport", published="tcp", corrected="udp",
               rationale="The browser answers on UDP.", evidence="SQL Server documentation", reference="remote-sql")
    code, payload = run_json(capsys, data_dir, new_dir)
    assert code == 1
    errata = payload["errata"]
    assert [record["id"] for record in errata["added"]] == ["E9"]
    assert [record["id"] for record in errata["removed"]] == ["E3"]
    assert errata["changed"] == [{"key": "dpm-2012r2/E2", "id": "E2", "fields": [
        {"field": "evidence", "old": read_rows(DATA / ERRATA)[1][1]["evidence"], "new": "Microsoft KB 929851", "errata": []}]}]
    assert payload["flows"] == {"added": [], "removed": [], "changed": []}
    assert "added erratum E9; removed erratum E3; changed erratum E2 (evidence)" in payload["summary"]
    code, report, _ = run(capsys, data_dir, new_dir)
    changed, added, removed = tables_after(report, "Errata")
    assert changed[1][:3] == ["E2", "evidence", read_rows(DATA / ERRATA)[1][1]["evidence"]]
    assert added[1][:2] == ["E9", "dpm-2012r2"] and removed[1][:2] == ["E3", "dpm-2012r2"]


def test_hostile_text_in_a_changed_field_stays_text(data_dir, new_dir, capsys):
    header, rows = read_rows(new_dir / FLOWS)
    texts = [text for text in HOSTILE_TEXT if "\r" not in text]  # conftest.write_rows cannot quote a lone CR
    for row, text in zip(rows, texts):
        row["condition"] = text
    write_rows(new_dir / FLOWS, header, rows)
    code, report, _ = run(capsys, data_dir, new_dir)
    assert code == 1
    tokens, _ = parse(report)
    assert_inert(tokens)
    model = load_and_check(new_dir).model
    [changed] = tables_after(report, "Changed")
    expected = [[flow.id, "condition", old.condition, flow.condition]
                for flow, old in zip(model.flows, load_and_check(data_dir).model.flows) if flow.condition != old.condition]
    assert [cells[:4] for cells in changed[1:]] == expected and len(expected) == len(texts)
    assert all(len(cells) == 6 for cells in changed)


def test_change_request_workbook(data_dir, new_dir, tmp_path, capsys):
    edit_row(new_dir / FLOWS, "id", "sql-engine-default", port="1443")
    edit_row(new_dir / FLOWS, "id", "client-protection", direction="both", purpose="Reworded purpose.")
    edit_row(new_dir / FLOWS, "id", "dns-dpm-dc", purpose="Only the purpose changed.")
    target = tmp_path / "out" / "change.xlsx"
    code, _, err = run(capsys, data_dir, new_dir, "--xlsx", target)
    assert code == 1 and f"{target}: change request with 3 line(s)" in err
    sheet = openpyxl.load_workbook(target)["Requests"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    column = {title: header.index(title) for title in ("Action", "Flow", "Direction", "Source role",
                                                        "Destination role", "Port or range")}
    lines = [tuple(row[column[t]] for t in column) for row in rows[1:]]
    # In data order; only the new reverse direction of client-protection; nothing for dns-dpm-dc.
    assert lines == [
        ("allow", "client-protection", "inbound", "DPM server", "Protected computer", "6075"),
        ("remove", "sql-engine-default", "inbound", "DPM server", "Remote SQL Server", "1433"),
        ("allow", "sql-engine-default", "inbound", "DPM server", "Remote SQL Server", "1443"),
    ]


def test_a_workbook_that_cannot_be_written_fails_with_status_1(data_dir, new_dir, tmp_path, capsys):
    edit_row(new_dir / FLOWS, "id", "sql-engine-default", port="1443")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the workbook's folder should be", encoding="utf-8")
    code, out, err = run(capsys, data_dir, new_dir, "--xlsx", blocker / "change.xlsx")
    assert code == 1 and f"error: cannot write {blocker / 'change.xlsx'}" in err
    assert out == "" and blocker.is_file()


def test_request_lines_cover_every_direction_of_added_and_removed_flows(data_dir, new_dir):
    header, rows = read_rows(new_dir / FLOWS)
    write_rows(new_dir / FLOWS, header, [row for row in rows if row["id"] != "smb-dpm-agent"])
    append_row(new_dir / FLOWS, id="extra-both", transport="udp", port="5720", source="dpm-server",
               destination="ops-manager", direction="both", purpose="Example.", reference="ports")
    lines = comparing.request_lines(comparing.compare(load_and_check(data_dir).model, load_and_check(new_dir).model))
    assert [(l.action, l.flow.id, l.source, l.destination, l.role, l.direction) for l in lines] == [
        ("add", "extra-both", "dpm-server", "ops-manager", "ops-manager", INBOUND),
        ("add", "extra-both", "ops-manager", "dpm-server", "dpm-server", INBOUND),
        ("remove", "smb-dpm-agent", "dpm-server", "protected-computer", "protected-computer", INBOUND),
        ("remove", "smb-dpm-agent", "protected-computer", "dpm-server", "dpm-server", INBOUND),
    ]


def test_json_schema(data_dir, new_dir, capsys):
    edit_row(new_dir / FLOWS, "id", "sql-engine-default", port="1443")
    _, payload = run_json(capsys, data_dir, new_dir)
    assert set(payload) == {"format", "old", "new", "identical", "summary", "flows", "errata", "roles", "hosts",
                            "datasets", "checks"}
    assert payload["format"] == "portbook-diff/1"
    for side in ("old", "new"):
        assert set(payload[side]) == {"spec", "data", "datasets", "fingerprint"}
        assert payload[side]["datasets"] == [{"id": "dpm-2012r2", "version": "2026.11.0"}]
        assert len(payload[side]["fingerprint"]) == 64
    for kind in ("flows", "errata", "roles", "hosts", "datasets"):
        assert set(payload[kind]) == {"added", "removed", "changed"}
        for change in payload[kind]["changed"]:
            assert set(change) == {"key", "id", "fields"}
            assert all(set(f) == {"field", "old", "new", "errata"} for f in change["fields"])
    checks = payload["checks"]
    assert set(checks) == {"passed", "errors", "warnings", "results", "issues", "old"}
    assert checks["results"]["C201"] == "fail" and checks["results"]["C211"] == "pass"
    assert all({"code", "file", "line", "column", "message", "severity", "name", "field"} <= set(i) for i in checks["issues"])
    assert isinstance(payload["identical"], bool) and isinstance(payload["summary"], str)


def test_new_data_that_cannot_load_prints_located_issues(data_dir, new_dir, capsys):
    text = (new_dir / FLOWS).read_text(encoding="utf-8")
    (new_dir / FLOWS).write_text(text.replace("id,transport,port", "id,transport,prot", 1), encoding="utf-8")
    code, out, err = run(capsys, data_dir, new_dir)
    assert code == 1 and out == ""
    assert f"{new_dir / FLOWS}:1:" in err and "L004" in err and "cannot be loaded" in err


def test_usage_errors_exit_2(data_dir, tmp_path, capsys):
    code, out, err = run(capsys, data_dir, tmp_path / "missing")
    assert code == 2 and out == "" and "neither a data folder" in err
    (tmp_path / "empty").mkdir()
    assert run(capsys, data_dir, tmp_path / "empty")[0] == 2
    with pytest.raises(SystemExit) as raised:
        main(["diff", str(data_dir)])
    assert raised.value.code == 2


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def two_commits(repo: Path, flow: str, **changes: str) -> Path:
    """A git repository holding the shipped data, then one commit changing `flow`."""
    shutil.copytree(DATA, repo / "data")
    git(repo, "init", "-q")
    git(repo, "add", "data")
    git(repo, "commit", "-q", "-m", "first")
    edit_row(repo / "data" / FLOWS, "id", flow, **changes)
    git(repo, "commit", "-q", "-am", "second")
    return repo


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed (Debian package git)")
def test_git_revisions(tmp_path, capsys, monkeypatch):
    repo = two_commits(tmp_path / "repo", "sql-engine-default", port="1443")
    row = line_of(repo / "data" / FLOWS, "id", "sql-engine-default")
    monkeypatch.chdir(repo)

    code, payload = run_json(capsys, "HEAD~1", "HEAD")
    assert code == 1
    assert payload["flows"]["changed"][0]["fields"] == [{"field": "port", "old": "1433", "new": "1443", "errata": ["E1"]}]
    assert payload["new"]["data"] == "HEAD:data"
    assert {i["file"] for i in payload["checks"]["issues"]} == {f"HEAD:data/{FLOWS}"}
    assert {i["line"] for i in payload["checks"]["issues"]} == {row}

    code, report, _ = run(capsys, "HEAD~1", "HEAD")
    [changed] = tables_after(report, "Changed")
    assert changed[1][-1] == f"HEAD:data/{FLOWS}:{row}"

    assert run_json(capsys, "HEAD", ".")[1]["identical"] is True
    assert run(capsys, "HEAD", ".")[0] == 1  # same data, but it fails C201
    code, payload = run_json(capsys, "HEAD~1", "data/" + FLOWS)
    assert payload["summary"].startswith("sql-engine-default: port 1433 -> 1443 (erratum E1); checks: 2 error(s)")
    assert run(capsys, "no-such-revision", "HEAD")[0] == 2

    os.makedirs("sub")
    monkeypatch.chdir(repo / "sub")
    code, payload = run_json(capsys, "HEAD~1", "HEAD", "--data", "../data")
    assert code == 1 and payload["new"]["data"] == "HEAD:data"


def test_roles_inventory_and_dataset_description_changes(data_dir, new_dir, capsys):
    edit_row(new_dir / "dpm-2012r2/roles.csv", "id", "ops-manager", name="Operations Manager management server")
    edit_row(new_dir / "inventory.csv", "host", "dpm01", address="192.0.2.11")
    toml = new_dir / "dpm-2012r2/dataset.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('version = "2026.11.0"', 'version = "2026.12.0"'), encoding="utf-8")
    code, payload = run_json(capsys, data_dir, new_dir)
    assert code == 1 and payload["flows"]["changed"] == []
    assert payload["roles"]["changed"] == [{"key": "ops-manager", "id": "ops-manager", "fields": [
        {"field": "name", "old": "Operations Manager server", "new": "Operations Manager management server", "errata": []}]}]
    assert payload["hosts"]["changed"] == []
    assert [(h["role"], h["host"], h["address"]) for h in payload["hosts"]["added"]] == [("dpm-server", "dpm01", "192.0.2.11")]
    assert [(h["role"], h["host"], h["address"]) for h in payload["hosts"]["removed"]] == [("dpm-server", "dpm01", "192.0.2.10")]
    assert payload["datasets"]["changed"][0]["fields"] == [{"field": "version", "old": "2026.11.0", "new": "2026.12.0", "errata": []}]
    assert payload["summary"] == ("changed address dpm01 192.0.2.10 -> 192.0.2.11; changed role ops-manager (name); "
                                  "changed dataset dpm-2012r2 (version); checks clean")
    code, report, _ = run(capsys, data_dir, new_dir)
    [roles] = tables_after(report, "Roles")
    assert roles[1] == ["ops-manager", "name", "Operations Manager server", "Operations Manager management server"]


def test_a_host_with_an_ipv4_and_an_ipv6_address_is_two_entries(data_dir, new_dir, capsys):
    for folder in (data_dir, new_dir):
        append_row(folder / "inventory.csv", role="dpm-server", host="dpm01", address="2001:db8::10", note="IPv6 of dpm01")
    header, rows = read_rows(new_dir / "inventory.csv")
    write_rows(new_dir / "inventory.csv", header, rows[::-1])  # the same entries, IPv6 first
    code, payload = run_json(capsys, data_dir, new_dir)
    assert code == 0 and payload["identical"] and payload["hosts"] == {"added": [], "removed": [], "changed": []}

    edit_row(new_dir / "inventory.csv", "address", "2001:db8::10", note="IPv6 address of dpm01")
    code, payload = run_json(capsys, data_dir, new_dir)
    assert code == 1 and payload["hosts"]["added"] == [] and payload["hosts"]["removed"] == []
    assert payload["hosts"]["changed"] == [{"key": "dpm-server/dpm01/2001:db8::10", "id": "dpm-server/dpm01/2001:db8::10", "fields": [
        {"field": "note", "old": "IPv6 of dpm01", "new": "IPv6 address of dpm01", "errata": []}]}]


def test_two_plain_flows_files_outside_a_data_folder(tmp_path, capsys):
    old, new = tmp_path / "old-flows.csv", tmp_path / "new-flows.csv"
    shutil.copy(DATA / FLOWS, old)
    shutil.copy(DATA / FLOWS, new)
    row = edit_row(new, "id", "sql-engine-default", port="1443")
    code, payload = run_json(capsys, str(old), str(new))
    assert code == 1
    assert payload["flows"]["changed"][0]["id"] == "sql-engine-default"
    assert payload["flows"]["changed"][0]["fields"][0] == {"field": "port", "old": "1433", "new": "1443", "errata": []}
    c201 = [issue for issue in payload["checks"]["issues"] if issue["code"] == "C201"]
    assert c201 and c201[0]["file"] == str(new) and c201[0]["line"] == row
    assert run(capsys, str(old), str(old))[0] == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed (Debian package git)")
def test_revision_and_path(tmp_path, capsys, monkeypatch):
    repo = two_commits(tmp_path / "repo", "sql-browser", purpose="Changed in the second commit.")
    monkeypatch.chdir(repo)

    # REV:folder and REV:file inside a data folder both load that revision's data folder.
    for old, new in (("HEAD~1:data", "HEAD:data"), (f"HEAD~1:data/{FLOWS}", f"HEAD:data/{FLOWS}")):
        code, payload = run_json(capsys, old, new)
        assert code == 1, (old, new)
        assert [change["id"] for change in payload["flows"]["changed"]] == ["sql-browser"]
        assert payload["new"]["data"] == "HEAD:data"
    assert run(capsys, "HEAD~1:nowhere", "HEAD")[0] == 2


def workbook_lines(path: Path, sheet: str = "Requests", *columns: str) -> list[tuple]:
    rows = list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))
    header = rows[0]
    return [tuple(row[header.index(title)] for title in columns) for row in rows[1:]]


def flows_touching(folder: Path, role: str) -> list[tuple[str, str, str]]:
    """(flow, source, destination) of every directed line of the data that involves `role`."""
    lines = []
    for flow in read_rows(folder / FLOWS)[1]:
        pairs = [(flow["source"], flow["destination"])]
        if flow["direction"] == "both" and flow["source"] != flow["destination"]:
            pairs.append((flow["destination"], flow["source"]))
        lines += [(flow["id"], source, destination) for source, destination in pairs if role in (source, destination)]
    return lines


def test_a_moved_address_removes_and_adds_every_line_it_is_in(data_dir, new_dir, tmp_path, capsys):
    edit_row(new_dir / "inventory.csv", "host", "dpm01", address="192.0.2.11")
    affected = flows_touching(new_dir, "dpm-server")
    target = tmp_path / "change.xlsx"
    code, report, err = run(capsys, data_dir, new_dir, "--xlsx", target)
    assert code == 1 and f"{target}: change request with {2 * len(affected)} line(s)" in err
    lines = workbook_lines(target, "Requests", "Action", "Flow", "Source addresses", "Destination addresses")
    removed = [line for line in lines if line[0] == "remove"]
    added = [line for line in lines if line[0] == "allow"]
    assert [line[1] for line in removed] == [line[1] for line in added] == [flow for flow, _s, _d in affected]
    # The lines to remove carry the old address, the lines to add the new one, at the end it was.
    for (flow, source, _destination), old, new in zip(affected, removed, added):
        end = 2 if source == "dpm-server" else 3
        assert old[end] == "192.0.2.10 (dpm01)" and new[end] == "192.0.2.11 (dpm01)"
        assert old[5 - end] == new[5 - end]
    # The report shows the move as one change, with its effect on the firewall.
    inventory = report.split("## Inventory", 1)[1].split("\n## ", 1)[0]
    assert f"- dpm01 192.0.2.10 -> 192.0.2.11: {len(affected)} firewall lines to remove and add" in inventory
    assert "### Added" not in inventory and "### Removed" not in inventory
    # The traffic-lines layout: addresses alone, one a line, host names beside them.
    code, _, _ = run(capsys, data_dir, new_dir, "--xlsx", target, "--xlsx-profile", "traffic-lines")
    traffic = workbook_lines(target, "Traffic", "Action", "Source", "Source hosts")
    assert ("remove", "192.0.2.10", "dpm01") in traffic and ("allow", "192.0.2.11", "dpm01") in traffic


def test_a_widened_subnet_and_an_added_host_change_the_lines_of_their_role(data_dir, new_dir, tmp_path, capsys):
    edit_row(new_dir / "inventory.csv", "host", "clients", address="198.51.100.0/23")
    affected = flows_touching(new_dir, "protected-computer")
    lines = comparing.request_lines(comparing.compare(load_and_check(data_dir).model, load_and_check(new_dir).model))
    assert [(line.action, line.flow.id) for line in lines if line.action == "remove"] == \
        [("remove", flow) for flow, _s, _d in affected]
    for line in lines:
        hosts = line.source_hosts if line.source == "protected-computer" else line.destination_hosts
        assert ("198.51.100.0/24" if line.action == "remove" else "198.51.100.0/23") in [host.address for host in hosts]
    code, report, _ = run(capsys, data_dir, new_dir)
    assert f"- clients 198.51.100.0/24 -> 198.51.100.0/23: {len(affected)} firewall lines to remove and add" in report

    # A host added to a role is an address the role's lines gain; the same address written
    # as a /32 network is no change to the firewall.
    shutil.copy(data_dir / "inventory.csv", new_dir / "inventory.csv")
    append_row(new_dir / "inventory.csv", role="sql-server", host="sql02", address="192.0.2.31", note="Second node")
    edit_row(new_dir / "inventory.csv", "host", "dpm01", address="192.0.2.10/32")
    lines = comparing.request_lines(comparing.compare(load_and_check(data_dir).model, load_and_check(new_dir).model))
    sql_lines = flows_touching(new_dir, "sql-server")
    assert len(lines) == 2 * len(sql_lines) and {line.flow.id for line in lines} == {flow for flow, _s, _d in sql_lines}
    assert all("192.0.2.31" in [host.address for host in line.source_hosts + line.destination_hosts]
               for line in lines if line.action == "add")
    assert not any("192.0.2.31" in [host.address for host in line.source_hosts + line.destination_hosts]
                   for line in lines if line.action == "remove")
