"""Excel change requests: read back with openpyxl (and LibreOffice) and compared with the CSV data."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import ipaddress
import json
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.escape import unescape

from generator.cli import main
from generator.outputs.xlsx import ALL_ROLES_WORKBOOK, change_request_workbook
from generator.outputs.xlsx.sheets import REQUEST_FIELDS
from generator.schema import ID_PATTERN
from generator.pipeline import load_and_check
from generator.provenance import FLOW_FIELDS, ROWS_HASH_COVERS
from generator.views import role_lines
from generator.outputs.xlsx.profiles import DECISIONS, PROFILES

from conftest import append_row, edit_row, read_rows, write_rows
from hostile import HOSTILE_TEXT

REQUESTS = PROFILES["change-request"].sheet_title
TRAFFIC = PROFILES["traffic-lines"].sheet_title
# The loader refuses a CR inside a cell (L003), so CR is tested on the writer directly below.
LOADABLE_HOSTILE = [text for text in HOSTILE_TEXT if "\r" not in text]


def build(data_dir: Path, out: Path, *options: str) -> int:
    return main(["build", "--formats", "xlsx", "--data", str(data_dir), "--out", str(out), *options])


def data_roles(data_dir: Path) -> dict[str, str]:
    """Role id -> name, from every dataset's roles.csv."""
    names: dict[str, str] = {}
    for path in sorted(data_dir.glob("*/roles.csv")):
        for row in read_rows(path)[1]:
            names.setdefault(row["id"], row["name"])
    return names


def data_flows(data_dir: Path) -> list[dict[str, str]]:
    return [row for path in sorted(data_dir.glob("*/flows.csv")) for row in read_rows(path)[1]]


def expected_lines(data_dir: Path, role: str) -> list[tuple[str, str, str, str]]:
    """(flow, direction, source, destination) the role's firewall must allow, worked out from the CSV."""
    lines = []
    for flow in data_flows(data_dir):
        pairs = [(flow["source"], flow["destination"])]
        if flow["direction"] == "both" and flow["source"] != flow["destination"]:
            pairs.append((flow["destination"], flow["source"]))
        for source, destination in pairs:
            if destination == role:
                lines.append((flow["id"], "inbound", source, destination))
            if source == role:
                lines.append((flow["id"], "outbound", source, destination))
    return lines


def sheet_rows(path_or_bytes, title: str) -> list[dict[str, object]]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    sheet = load_workbook(source)[title]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, row)) for row in rows[1:]]


def sheet_xml(path_or_bytes) -> dict[str, str]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with zipfile.ZipFile(source) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist() if name.startswith("xl/worksheets/")}


def assert_no_formulas(path_or_bytes) -> None:
    source = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    for name, xml in sheet_xml(source).items():
        assert not re.search(r"<f[ >/]", xml), f"{name} holds a formula"
    for sheet in load_workbook(io.BytesIO(source)):
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"


@pytest.fixture
def no_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def test_every_flow_is_in_the_workbook_of_each_role_it_touches(data_dir, tmp_path, no_epoch):
    assert build(data_dir, tmp_path / "out") == 0
    names = data_roles(data_dir)
    folder = tmp_path / "out" / "xlsx"
    assert sorted(path.name for path in folder.glob("*.xlsx")) == sorted([ALL_ROLES_WORKBOOK, *(f"{role}.xlsx" for role in names)])
    ports = {flow["id"]: flow["port"] for flow in data_flows(data_dir)}
    seen_both_ways = 0
    for role in names:
        rows = sheet_rows(folder / f"{role}.xlsx", REQUESTS)
        expected = expected_lines(data_dir, role)
        assert [(row["Flow"], row["Direction"], row["Source role"], row["Destination role"]) for row in rows] == [
            (flow, direction, names[source], names[destination]) for flow, direction, source, destination in expected
        ]
        assert [row["Line"] for row in rows] == list(range(1, len(rows) + 1))
        assert all(row["Port or range"] == ports[row["Flow"]] for row in rows)
        assert {row["Action"] for row in rows} == {"allow"}
        seen_both_ways += len({row["Flow"] for row in rows if row["Direction"] == "inbound"}
                              & {row["Flow"] for row in rows if row["Direction"] == "outbound"})
    # The DPM data has bidirectional flows, so some flow must show up in both directions.
    assert seen_both_ways > 0


def test_rows_carry_addresses_service_purpose_reference_and_link(data_dir, tmp_path, no_epoch):
    assert build(data_dir, tmp_path / "out") == 0
    flows = {flow["id"]: flow for flow in data_flows(data_dir)}
    hosts: dict[str, list[str]] = {}
    for host in read_rows(data_dir / "inventory.csv")[1]:
        hosts.setdefault(host["role"], []).append(host["address"])
    role_ids = {name: role for role, name in data_roles(data_dir).items()}
    rows = sheet_rows(tmp_path / "out" / "xlsx" / "dpm-server.xlsx", REQUESTS)
    assert rows
    for row in rows:
        flow = flows[row["Flow"]]
        source, destination = role_ids[row["Source role"]], role_ids[row["Destination role"]]
        assert {source, destination} == {flow["source"], flow["destination"]}
        for address in hosts[source]:
            assert address in row["Source addresses"]
        for address in hosts[destination]:
            assert address in row["Destination addresses"]
        assert row["Transport"] == flow["transport"]
        assert (row["Service"] or "") == flow["service"]
        assert (row["Application"] or "") == flow["program"]
        assert row["Business justification"] == flow["purpose"]
        assert (row["Condition"] or "") == flow["condition"]
        assert row["Source reference"].startswith("Configure firewall settings for DPM")
        assert row["Site link"].endswith(f"#flow-{flow['id']}")
        assert row["Decision"] is None and row["Reviewer"] is None and row["Comment"] is None
        assert row["Owner"] is None and row["Environment"] is None and row["Expiry"] is None


def test_one_workbook_lists_every_directed_line_of_the_change_once(data_dir, tmp_path, no_epoch):
    assert build(data_dir, tmp_path / "out") == 0
    names = data_roles(data_dir)
    # Role ids cannot take the whole change's workbook name.
    assert re.fullmatch(ID_PATTERN, Path(ALL_ROLES_WORKBOOK).stem) is None
    assert re.fullmatch(ID_PATTERN, Path(ALL_ROLES_WORKBOOK).stem.lower()) is None
    path = tmp_path / "out" / "xlsx" / ALL_ROLES_WORKBOOK
    rows = sheet_rows(path, REQUESTS)
    expected = [(flow, names[source], names[destination])
                for role in names for flow, direction, source, destination in expected_lines(data_dir, role)
                if direction == "inbound"]
    shown = [(row["Flow"], row["Source role"], row["Destination role"]) for row in rows]
    assert sorted(shown) == sorted(expected) and len(set(shown)) == len(shown)
    assert {row["Direction"] for row in rows} == {"inbound"} and {row["Action"] for row in rows} == {"allow"}
    cover = cover_pairs(path)
    assert cover["Request lines"] == f"{len(rows)} ({len(rows)} inbound, 0 outbound)"
    assert load_workbook(path)["Cover"]["A1"].value == "Firewall change request: all roles"


def test_sheet_manners(data_dir, tmp_path, no_epoch):
    assert build(data_dir, tmp_path / "out") == 0
    book = load_workbook(tmp_path / "out" / "xlsx" / "dpm-server.xlsx")
    assert book.sheetnames == ["Cover", REQUESTS]
    sheet = book[REQUESTS]
    last = f"{get_column_letter(sheet.max_column)}{sheet.max_row}"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{last}"
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.print_title_cols == "$A:$A"  # the line number on every page of further columns
    assert sheet.print_options.gridLines
    for printed in book.worksheets:  # full size: columns that do not fit go on to the next page
        assert printed.page_setup.orientation == "landscape" and str(printed.page_setup.paperSize) == printed.PAPERSIZE_A4
        assert printed.page_setup.scale == 100 and printed.page_setup.pageOrder == "overThenDown"
        assert not printed.sheet_properties.pageSetUpPr or not printed.sheet_properties.pageSetUpPr.fitToPage
    assert book.defined_names["RequestLines"].attr_text == f"'{REQUESTS}'!$A$1:${get_column_letter(sheet.max_column)}${sheet.max_row}"
    header = [cell.value for cell in sheet[1]]
    assert all(cell.font.bold for cell in sheet[1])
    decision = header.index("Decision") + 1
    (validation,) = sheet.data_validations.dataValidation
    assert validation.type == "list"
    assert validation.formula1 == '"' + ",".join(DECISIONS) + '"'
    letter = get_column_letter(decision)
    assert str(validation.sqref) == f"{letter}2:{letter}{sheet.max_row}"
    assert header[header.index("Decision") + 1: header.index("Decision") + 4] == ["Owner", "Environment", "Expiry"]
    for title in ("Decision", "Owner", "Environment", "Expiry", "Reviewer", "Comment"):  # marked as input
        assert sheet.column_dimensions[get_column_letter(header.index(title) + 1)].fill.fgColor.rgb.endswith("FFF2CC")
    port = header.index("Port or range") + 1
    for row in sheet.iter_rows(min_row=2):
        assert row[port - 1].data_type == "s" and row[port - 1].number_format == "@"
        assert row[port - 1].style == "Request port" and row[1].style == "Request text"
        assert row[header.index("Business justification")].alignment.wrap_text
    assert all(cell.style == "Request header" for cell in sheet[1])
    purpose_width = sheet.column_dimensions[get_column_letter(header.index("Business justification") + 1)].width
    transport_width = sheet.column_dimensions[get_column_letter(header.index("Transport") + 1)].width
    assert transport_width < purpose_width
    longest_flow = max(len(str(row[1].value)) for row in sheet.iter_rows(min_row=2))
    assert sheet.column_dimensions["B"].width >= min(longest_flow, 30)
    # Rows are tall enough for their wrapped text: at least one 15-point line per
    # column-width of the longest cell, so printed text does not overlap the next row.
    justification = header.index("Business justification")
    tall = 0
    for index, row in enumerate(sheet.iter_rows(min_row=2), 2):
        text = str(row[justification].value or "")
        lines = -(-len(text) // int(purpose_width - 2))
        if lines > 1:
            tall += 1
            assert sheet.row_dimensions[index].height >= 15 * lines
    assert tall  # the shipped data has justifications longer than one line


def cover_pairs(path: Path) -> dict[object, object]:
    """Label -> value of the cover's two-column rows."""
    cover = load_workbook(path)["Cover"]
    return {row[0]: row[1] for row in cover.iter_rows(values_only=True) if row and row[0] is not None}


def expected_rows_hash(data_dir: Path, role: str) -> str:
    """The rows hash of `role`'s request, worked out from the CSV and TOML files as the cover
    says it is made (ROWS_HASH_COVERS): one JSON array of records, in the order listed."""
    records = []
    datasets = []
    for folder in sorted(path.parent for path in data_dir.glob("*/dataset.toml")):
        meta = tomllib.loads((folder / "dataset.toml").read_text(encoding="utf-8"))
        datasets.append((folder, meta))
    role_rows: dict[str, tuple[dict, str]] = {}
    cited: dict[str, set[str]] = {}
    peers = {role}
    for folder, meta in datasets:
        for row in read_rows(folder / "roles.csv")[1]:
            role_rows.setdefault(row["id"], (row, meta["id"]))
        for row in read_rows(folder / "flows.csv")[1]:
            if role in (row["source"], row["destination"]):
                records.append(["flow", "", meta["id"], *(row[name] for name in FLOW_FIELDS)])
                cited.setdefault(meta["id"], set()).add(row["reference"])
                peers.update((row["source"], row["destination"]))
    named = sorted(peers)
    for name in named:
        if name in role_rows:
            row, dataset_id = role_rows[name]
            records.append(["role", name, row["name"], row["description"], dataset_id])
    hosts = read_rows(data_dir / "inventory.csv")[1]
    for name in named:
        records += [["host", host["role"], host["host"], host["address"], host["note"]] for host in hosts if host["role"] == name]
    for _folder, meta in datasets:
        if meta["id"] not in cited:
            continue
        source = meta.get("source", {})
        records.append(["dataset", meta["id"], meta["version"], meta["title"], meta.get("short_title", ""),
                        source.get("title", ""), source.get("publisher", ""), source.get("url", "")])
        sections = meta.get("sections", {})
        for key in sorted(cited[meta["id"]] & sections.keys()):
            records.append(["section", meta["id"], key, sections[key]["title"], sections[key].get("anchor", "")])
    settings = tomllib.loads((data_dir / "portbook.toml").read_text(encoding="utf-8"))
    records.append(["site", settings.get("site", {}).get("base_url", "")])
    text = json.dumps(records, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_cover_sheet_names_the_data_and_leaves_fields_for_the_requester(data_dir, tmp_path, no_epoch):
    assert build(data_dir, tmp_path / "out") == 0
    checked = load_and_check(data_dir)
    pairs = cover_pairs(tmp_path / "out" / "xlsx" / "sql-server.xlsx")
    # What this request lists, and nothing about the rest of the data.
    assert pairs["Rows hash (sha256)"] == expected_rows_hash(data_dir, "sql-server")
    assert pairs["The rows hash covers"] == ROWS_HASH_COVERS
    files = pairs["Data files"].split("\n")
    assert files == sorted(files) and all((data_dir / name).is_file() for name in files)
    assert set(files) == {"inventory.csv", *(f"{path.parent.name}/{path.name}" for path in data_dir.glob("*/*")
                                              if path.name in ("dataset.toml", "flows.csv", "roles.csv"))}
    cover_text = " ".join(str(value) for value in pairs.values())
    assert checked.model.fingerprint not in cover_text
    assert not any(digest in cover_text for digest in checked.model.files.values())
    assert pairs["Git commit of these rows"].startswith("not available")  # the data copy is not in a checkout
    assert pairs["Role"] == "Remote SQL Server (sql-server)"
    assert pairs["Addresses"] == "192.0.2.30 (sql01)"
    for field in REQUEST_FIELDS:
        assert field in pairs and pairs[field] is None
    for column in PROFILES["change-request"].columns:
        assert pairs[column.title] == column.legend
    dataset = checked.model.datasets[0]
    cover = load_workbook(tmp_path / "out" / "xlsx" / "sql-server.xlsx")["Cover"]
    assert pairs[dataset.short_title] and dataset.version in [row[2] for row in cover.iter_rows(values_only=True)]
    # The rows hash differs between requests that list different rows.
    assert cover_pairs(tmp_path / "out" / "xlsx" / "dpm-server.xlsx")["Rows hash (sha256)"] == \
        expected_rows_hash(data_dir, "dpm-server") != pairs["Rows hash (sha256)"]


def test_a_role_without_flows_still_gets_a_request(data_dir, tmp_path, no_epoch):
    append_row(data_dir / "dpm-2012r2" / "roles.csv", id="backup-vault", name="Backup vault", description="Holds tapes.")
    assert build(data_dir, tmp_path / "out") == 0
    path = tmp_path / "out" / "xlsx" / "backup-vault.xlsx"
    assert sheet_rows(path, REQUESTS) == []
    pairs = {row[0]: row[1] for row in load_workbook(path)["Cover"].iter_rows(values_only=True) if row and row[0]}
    assert pairs["Role"] == "Backup vault (backup-vault)"
    assert pairs["Addresses"] == "<to be filled: backup-vault addresses>"
    assert pairs["Request lines"].startswith("0 ")


def test_a_second_dataset_flows_into_the_requests(data_dir, tmp_path, no_epoch):
    other = data_dir / "web-shop"
    other.mkdir()
    (other / "dataset.toml").write_text(
        'id = "web-shop"\ntitle = "Example web shop"\nshort_title = "Web shop"\nversion = "1.2"\n\n'
        '[source]\ntitle = "Web shop operations guide"\npublisher = "Example"\n\n'
        '[sections.network]\ntitle = "Network requirements"\nanchor = "net"\n',
        encoding="utf-8",
    )
    write_rows(other / "roles.csv", ["id", "name", "description"], [
        {"id": "web-server", "name": "Web server", "description": "Serves the shop."},
        {"id": "dpm-server", "name": "DPM server", "description": "Server running Data Protection Manager and its services (Msdpm.exe and the replication agent)."},
    ])
    header = read_rows(data_dir / "dpm-2012r2" / "flows.csv")[0]
    write_rows(other / "flows.csv", header, [{
        **{name: "" for name in header},
        "id": "shop-backup", "transport": "tcp", "port": "8443", "source": "dpm-server", "destination": "web-server",
        "direction": "one-way", "purpose": "Backup of the shop database.", "reference": "network",
    }])
    assert build(data_dir, tmp_path / "out") == 0
    rows = sheet_rows(tmp_path / "out" / "xlsx" / "dpm-server.xlsx", REQUESTS)
    (shop,) = [row for row in rows if row["Flow"] == "shop-backup"]
    assert (shop["Direction"], shop["Destination role"], shop["Port or range"]) == ("outbound", "Web server", "8443")
    assert shop["Source reference"].startswith("Web shop operations guide, section: Network requirements")
    assert shop["Destination addresses"] == "<to be filled: web-server addresses>"
    web = sheet_rows(tmp_path / "out" / "xlsx" / "web-server.xlsx", REQUESTS)
    assert [(row["Flow"], row["Direction"]) for row in web] == [("shop-backup", "inbound")]
    cover = [row for row in load_workbook(tmp_path / "out" / "xlsx" / "dpm-server.xlsx")["Cover"].iter_rows(values_only=True)]
    assert {"Web shop", "DPM 2012 R2"} <= {row[0] for row in cover}


def test_hostile_text_stays_plain_text(data_dir, tmp_path, no_epoch):
    flows_csv = data_dir / "dpm-2012r2" / "flows.csv"
    header, rows = read_rows(flows_csv)
    count = len(LOADABLE_HOSTILE)
    planted = {}
    for index, row in enumerate(rows):
        row["purpose"] = LOADABLE_HOSTILE[index % count]
        row["condition"] = LOADABLE_HOSTILE[(index + 1) % count]
        # The loader trims whitespace around cells; the rest must arrive untouched.
        planted[row["id"]] = (row["purpose"].strip(), row["condition"].strip())
    write_rows(flows_csv, header, rows)
    edit_row(data_dir / "dpm-2012r2" / "roles.csv", "id", "sql-server", name=LOADABLE_HOSTILE[0], description=LOADABLE_HOSTILE[1])
    edit_row(data_dir / "dpm-2012r2" / "roles.csv", "id", "domain-controller", name=LOADABLE_HOSTILE[2])
    assert build(data_dir, tmp_path / "out") == 0

    for path in sorted((tmp_path / "out" / "xlsx").glob("*.xlsx")):
        assert_no_formulas(path)
        for row in sheet_rows(path, REQUESTS):
            assert (row["Business justification"], row["Condition"]) == planted[row["Flow"]]
    names = {row["Destination role"] for row in sheet_rows(tmp_path / "out" / "xlsx" / "sql-server.xlsx", REQUESTS)}
    assert LOADABLE_HOSTILE[0].strip() in names
    cover = [value for row in load_workbook(tmp_path / "out" / "xlsx" / "sql-server.xlsx")["Cover"].iter_rows(values_only=True) for value in row]
    assert LOADABLE_HOSTILE[1].strip() in cover

    assert build(data_dir, tmp_path / "traffic", "--xlsx-profile", "traffic-lines") == 0
    for path in sorted((tmp_path / "traffic" / "xlsx").glob("*.xlsx")):
        assert_no_formulas(path)


def test_carriage_return_and_escape_lookalikes_survive_the_writer(data_dir):
    model = load_and_check(data_dir).model
    dataset = model.datasets[0]
    texts = ["\r=1+1", "a\r\nb", "_x0041_ is not A", "\x01control", "#N/A", "=SUM(A1:A2)"]
    dataset.flows = [dataclasses.replace(flow, purpose=texts[index % len(texts)]) for index, flow in enumerate(dataset.flows)]
    model.__dict__.pop("flows", None)
    lines = role_lines(model, "dpm-server")
    data = change_request_workbook(model, lines, title="Changes")
    assert_no_formulas(data)
    xml = sheet_xml(data)["xl/worksheets/sheet2.xml"]
    assert "_x000D_=1+1" in xml and "_x005F_x0041_" in xml
    # openpyxl leaves the spreadsheet escapes as they are; undone, they give the data back.
    purposes = [unescape(row["Business justification"]) for row in sheet_rows(data, REQUESTS)]
    assert purposes == [line.flow.purpose for line in lines]
    assert set(purposes) == set(texts)
    # An error value's name and a formula's text are text cells, not an error or a formula.
    header = [cell.value for cell in load_workbook(io.BytesIO(data))[REQUESTS][1]]
    purpose_at = header.index("Business justification")
    for row in load_workbook(io.BytesIO(data))[REQUESTS].iter_rows(min_row=2):
        assert row[purpose_at].data_type == "s"


def test_same_data_gives_the_same_bytes(data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert build(data_dir, tmp_path / "one") == 0
    assert build(data_dir, tmp_path / "two") == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build(data_dir, tmp_path / "three") == 0
    assert build(data_dir, tmp_path / "four") == 0
    for path in sorted((tmp_path / "one" / "xlsx").glob("*.xlsx")):
        assert path.read_bytes() == (tmp_path / "two" / "xlsx" / path.name).read_bytes()
        assert (tmp_path / "three" / "xlsx" / path.name).read_bytes() == (tmp_path / "four" / "xlsx" / path.name).read_bytes()
        with zipfile.ZipFile(path) as archive:
            assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
            assert "1980-01-01T00:00:00Z" in archive.read("docProps/core.xml").decode()
        with zipfile.ZipFile(tmp_path / "three" / "xlsx" / path.name) as archive:
            assert {info.date_time for info in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}
            core = archive.read("docProps/core.xml").decode()
            assert "2023-11-14T22:13:20Z" in core and "1980" not in core


def test_traffic_lines_profile(data_dir, tmp_path, no_epoch):
    assert build(data_dir, tmp_path / "out", "--xlsx-profile", "traffic-lines") == 0
    hosts = read_rows(data_dir / "inventory.csv")[1]
    names = data_roles(data_dir)
    flows = {flow["id"]: flow for flow in data_flows(data_dir)}
    for role in names:
        path = tmp_path / "out" / "xlsx" / f"{role}.xlsx"
        book = load_workbook(path)
        assert book.sheetnames == [TRAFFIC]
        assert [cell.value for cell in book[TRAFFIC][1]] == [
            "Source", "Source hosts", "Destination", "Destination hosts", "Service", "Application", "Action", "Comment",
            "Owner", "Environment", "Expiry"]
        # "Source hosts" is wider than its column: the header row is tall enough for both lines.
        assert book[TRAFFIC].row_dimensions[1].height >= 30
        rows = sheet_rows(path, TRAFFIC)
        expected = expected_lines(data_dir, role)
        assert len(rows) == len(expected)
        for row, (flow_id, _direction, source, destination) in zip(rows, expected):
            flow = flows[flow_id]
            service = "any" if flow["port"] == "any" and flow["transport"] == "any" else f"{flow['port']}/{flow['transport']}"
            assert row["Service"] == service
            assert row["Action"] == "allow"
            assert row["Comment"].startswith(f"{flow_id}: ") and flow["purpose"] in row["Comment"]
            # One address or network per cell line, each an address alone; the names beside them.
            for end, column in ((source, "Source"), (destination, "Destination")):
                entries = [host for host in hosts if host["role"] == end]
                assert row[column].split("\n") == [host["address"] for host in entries]
                assert all(ipaddress.ip_network(text, strict=False) for text in row[column].split("\n"))
                assert row[f"{column} hosts"].split("\n") == [host["host"] for host in entries]


def test_profile_from_settings_and_bad_setting(data_dir, tmp_path, capsys, no_epoch):
    settings = data_dir / "portbook.toml"
    original = settings.read_text(encoding="utf-8")
    settings.write_text(original + '\n[xlsx]\nprofile = "traffic-lines"\n', encoding="utf-8")
    assert build(data_dir, tmp_path / "out") == 0
    assert load_workbook(tmp_path / "out" / "xlsx" / "dpm-server.xlsx").sheetnames == [TRAFFIC]
    # The command line wins over the setting.
    assert build(data_dir, tmp_path / "cli", "--xlsx-profile", "change-request") == 0
    assert load_workbook(tmp_path / "cli" / "xlsx" / "dpm-server.xlsx").sheetnames == ["Cover", REQUESTS]

    settings.write_text(original + '\n[xlsx]\nprofile = "no-such-layout"\n', encoding="utf-8")
    capsys.readouterr()
    assert build(data_dir, tmp_path / "bad") == 1
    line = len(original.splitlines()) + 3  # the profile key, below the [xlsx] header
    assert re.search(rf"portbook\.toml:{line}:1: L009 .*no-such-layout", capsys.readouterr().err)
    assert not (tmp_path / "bad" / "xlsx").exists()


def test_missing_inventory_gives_a_placeholder_and_a_note(data_dir, tmp_path, capsys, no_epoch):
    inventory = data_dir / "inventory.csv"
    header, hosts = read_rows(inventory)
    write_rows(inventory, header, [host for host in hosts if host["role"] != "sql-server"])
    assert build(data_dir, tmp_path / "out") == 0
    names = data_roles(data_dir)
    touching = sum(
        1 for role in names for _flow, _direction, source, destination in expected_lines(data_dir, role)
        if "sql-server" in (source, destination)
    )
    assert touching > 0
    assert f"xlsx: role sql-server has no inventory addresses: {touching} lines use a placeholder" in capsys.readouterr().err
    rows = sheet_rows(tmp_path / "out" / "xlsx" / "sql-server.xlsx", REQUESTS)
    assert len(rows) == len(expected_lines(data_dir, "sql-server"))
    for row in rows:
        column = "Destination addresses" if row["Direction"] == "inbound" else "Source addresses"
        assert row[column] == "<to be filled: sql-server addresses>"


def test_change_request_workbook_says_allow_or_remove(data_dir, no_epoch):
    model = load_and_check(data_dir).model
    lines = [dataclasses.replace(line, action=("add", "remove")[index % 2]) for index, line in enumerate(role_lines(model, "sql-server"))]
    for profile, sheet in (("change-request", REQUESTS), ("traffic-lines", TRAFFIC)):
        data = change_request_workbook(model, lines, title="Changes since 2026.10", profile=profile)
        assert data == change_request_workbook(model, lines, title="Changes since 2026.10", profile=profile)
        assert_no_formulas(data)
        book = load_workbook(io.BytesIO(data))
        header = [cell.value for cell in book[sheet][1]]
        assert header == [column.title for column in PROFILES[profile].columns]
        assert [row["Action"] for row in sheet_rows(data, sheet)] == [("allow", "remove")[index % 2] for index in range(len(lines))]
    with pytest.raises(ValueError, match="unknown xlsx profile"):
        change_request_workbook(model, lines, title="x", profile="nope")


def test_libreoffice_reads_the_workbooks_as_written(data_dir, tmp_path, no_epoch):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed: install Debian package libreoffice-calc-nogui")
    header, rows = read_rows(data_dir / "dpm-2012r2" / "flows.csv")
    for index, row in enumerate(rows):
        row["purpose"] = LOADABLE_HOSTILE[index % len(LOADABLE_HOSTILE)]
    write_rows(data_dir / "dpm-2012r2" / "flows.csv", header, rows)
    assert build(data_dir, tmp_path / "out") == 0
    workbooks = sorted((tmp_path / "out" / "xlsx").glob("*.xlsx"))
    converted = tmp_path / "csv"
    # Token 12 = -1 writes every sheet to its own CSV file; UTF-8, comma-separated, quoted text.
    done = subprocess.run(
        [soffice, "--headless", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
         "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
         "--outdir", str(converted), *map(str, workbooks)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ranges_seen = set()
    for path in workbooks:
        exported = converted / f"{path.stem}-{REQUESTS}.csv"
        with exported.open(newline="", encoding="utf-8") as handle:
            read = list(csv.reader(handle))
        book = load_workbook(path)[REQUESTS]
        written = [["" if value is None else str(value) for value in row] for row in book.iter_rows(values_only=True)]
        assert read == written
        port = read[0].index("Port or range")
        ranges_seen |= {row[port] for row in read[1:] if "-" in row[port]}
    assert "49152-65535" in ranges_seen


def test_the_writer_uses_openpyxl_public_names_only():
    """openpyxl's modules and attributes with a leading underscore may change in any release."""
    package = Path(__file__).resolve().parent.parent / "generator" / "outputs" / "xlsx"
    sources = sorted(package.glob("*.py"))
    assert sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for imported in re.findall(r"^(?:from|import) (openpyxl[\w.]*)", text, re.M):
            assert not any(part.startswith("_") for part in imported.split(".")), f"{path.name}: {imported}"
        assert not re.search(r"\._[a-z]", text), f"{path.name} reaches into a private attribute"
