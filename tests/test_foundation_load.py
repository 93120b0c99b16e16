"""Loading: what people really produce is accepted, what cannot be right is refused,
every problem located as FILE:LINE:COLUMN with a stable code."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import append_row, edit_row, line_of, read_rows, write_rows
from generator import csvfile
from generator.cli import main
from generator.load import load

FLOWS = "dpm-2012r2/flows.csv"


def codes(issues) -> list[tuple[str, int, str]]:
    return [(i.code, i.line, i.field) for i in issues]


def test_shipped_data_loads_without_issues():
    model, issues = load(Path(__file__).parent.parent / "data")
    assert issues == []
    assert model is not None and len(model.flows) >= 30


def test_excel_habits_are_accepted(data_dir: Path):
    """UTF-8 BOM, CRLF line ends, spaces around cells and blank trailing rows."""
    path = data_dir / FLOWS
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    lines[1] = lines[1].replace("dcom-endpoint-mapper,tcp,135,", "dcom-endpoint-mapper , TCP ,  135 ,")
    text = "\ufeff" + "\r\n".join(lines) + "\r\n" + ",,,,,,,,,,,,,\r\n,,,,,,,,,,,,,\r\n"
    path.write_bytes(text.encode("utf-8"))
    model, issues = load(data_dir)
    assert issues == []
    flow = model.flow_by_id["dcom-endpoint-mapper"]
    assert (flow.transport, flow.port_text) == ("tcp", "135")


@pytest.mark.parametrize(
    ("port", "code", "message"),
    [
        ("0", "S103", "outside 1-65535"),
        ("65536", "S103", "outside 1-65535"),
        ("1e3", "S103", "plain decimal"),
        ("0x50", "S103", "plain decimal"),
        ("00080", "S103", "leading zero"),
        ("-1", "S103", "not a number"),
        ("80,443", "S103", "one port or range per row"),
        ("5000-1025", "S104", "ends before it starts"),
        ("", "S101", "a value is required"),
    ],
)
def test_bad_ports_are_refused(data_dir: Path, port: str, code: str, message: str):
    line = edit_row(data_dir / FLOWS, "id", "sql-browser", port=port)
    model, issues = load(data_dir)
    assert model is None
    assert codes(issues) == [(code, line, "port")]
    assert message in issues[0].message


def test_unknown_transport_suggests_the_fix(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-browser", transport="UPD")
    _, issues = load(data_dir)
    assert codes(issues) == [("S105", line, "transport")]
    assert "did you mean 'udp'" in issues[0].message


def test_unknown_role_and_duplicate_id(data_dir: Path):
    path = data_dir / FLOWS
    line = edit_row(path, "id", "sql-browser", destination="sql-servr")
    header, rows = read_rows(path)
    rows.append(dict(rows[0]))
    write_rows(path, header, rows)
    _, issues = load(data_dir)
    assert codes(issues) == [("S106", line, "destination"), ("S107", len(rows) + 1, "id")]
    assert "did you mean 'sql-server'" in issues[0].message


def test_missing_and_unknown_columns(data_dir: Path):
    path = data_dir / FLOWS
    header, rows = read_rows(path)
    header = [("protocol" if name == "transport" else name) for name in header]
    for row in rows:
        row["protocol"] = row.pop("transport")
    write_rows(path, header, rows)
    _, issues = load(data_dir)
    assert [(i.code, i.line, i.field) for i in issues] == [("L004", 1, "transport"), ("L005", 1, "protocol")]


def test_every_problem_is_reported_at_once(data_dir: Path):
    path = data_dir / FLOWS
    first = edit_row(path, "id", "dns-dpm-dc", port="99999")
    second = edit_row(path, "id", "sql-browser", direction="sideways", transport="sctp")
    _, issues = load(data_dir)
    assert codes(issues) == [
        ("S103", first, "port"),
        ("S105", second, "transport"),
        ("S108", second, "direction"),
    ]


def test_columns_point_at_the_cell(data_dir: Path):
    path = data_dir / FLOWS
    line = edit_row(path, "id", "sql-browser", port="70000")
    _, issues = load(data_dir)
    raw = path.read_text(encoding="utf-8").splitlines()[line - 1]
    assert raw[issues[0].column - 1:].startswith("70000,")


def test_unbalanced_quote_is_a_located_syntax_error(data_dir: Path):
    path = data_dir / FLOWS
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace("DPM data channel", '"DPM" data channel', 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, issues = load(data_dir)
    assert [(i.code, i.line) for i in issues] == [("L003", 5)]


def test_not_utf8(data_dir: Path):
    path = data_dir / FLOWS
    path.write_bytes(path.read_bytes().replace("synchronisation".encode(), "synchronisation \xe9t\xe9".encode("latin-1"), 1))
    _, issues = load(data_dir)
    assert [(i.code, i.line) for i in issues] == [("L002", 4)]


def test_errata_must_point_at_existing_rows(data_dir: Path):
    path = data_dir / "dpm-2012r2/errata.csv"
    line = edit_row(path, "id", "E1", flow="sql-engine", field="prot")
    _, issues = load(data_dir)
    assert codes(issues) == [("S111", line, "flow"), ("S111", line, "field")]


def test_inventory_addresses_are_validated(data_dir: Path):
    line = edit_row(data_dir / "inventory.csv", "host", "dc02", address="192.0.2.300")
    _, issues = load(data_dir)
    assert codes(issues) == [("S110", line, "address")]


def test_second_dataset_is_picked_up_without_code_change(data_dir: Path):
    second = data_dir / "other-product"
    second.mkdir()
    (second / "dataset.toml").write_text(
        'id = "other-product"\ntitle = "Other product"\nversion = "1"\n'
        '[source]\ntitle = "Ports of the other product"\n[sections.main]\ntitle = "Ports"\n',
        encoding="utf-8",
    )
    (second / "roles.csv").write_text(
        "id,name,description\nbackup-console,Backup console,Console host\n"
        "dpm-server,DPM server,Shared with the DPM dataset\n",
        encoding="utf-8",
    )
    (second / "flows.csv").write_text(
        read_rows_header(data_dir / FLOWS)
        + "console-https,tcp,443,,backup-console,dpm-server,one-way,https,,,Console over HTTPS.,,main,\n",
        encoding="utf-8",
    )
    model, issues = load(data_dir)
    assert issues == []
    assert [d.id for d in model.datasets] == ["dpm-2012r2", "other-product"]
    assert "console-https" in {f.id for f in model.flows_by_role.get("dpm-server", [])}
    assert [r.id for r in model.roles][-1] == "backup-console"


def read_rows_header(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0] + "\n"


LOCATED = re.compile(r"^[^:]+:\d+:\d+: [LSC]\d{3} .+$")


def test_cli_exit_codes_and_text_format(data_dir: Path, capsys):
    assert main(["check", "--data", str(data_dir)]) == 0
    capsys.readouterr()
    edit_row(data_dir / FLOWS, "id", "sql-browser", port="0")
    assert main(["check", "--data", str(data_dir)]) == 1
    out = capsys.readouterr().out.splitlines()  # findings go to standard output
    assert LOCATED.match(out[0]) and out[0].endswith("S103 port: port '0' is outside 1-65535")
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--no-such-option"])
    assert exit_info.value.code == 2


def test_cli_json_format(data_dir: Path, capsys):
    line = edit_row(data_dir / FLOWS, "id", "sql-browser", transport="UPD")
    assert main(["check", "--data", str(data_dir), "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["errors"] == 1
    (record,) = payload["issues"]
    assert (record["code"], record["line"], record["field"], record["severity"]) == ("S105", line, "transport", "error")
    assert record["file"].endswith("flows.csv")


def test_missing_data_folder_is_an_error_not_a_traceback(tmp_path: Path, capsys):
    assert main(["check", "--data", str(tmp_path / "nowhere")]) == 1
    assert "L001" in capsys.readouterr().out


def test_line_numbers_survive_multiline_cells(data_dir: Path):
    path = data_dir / FLOWS
    edit_row(path, "id", "dcom-endpoint-mapper", purpose="first line\nsecond line")
    line = line_of(path, "id", "sql-browser") + 1  # the multi-line cell shifts later rows by one
    edit_row(path, "id", "sql-browser", port="0")
    _, issues = load(data_dir)
    assert codes(issues) == [("S103", line, "port")]
    raw = path.read_text(encoding="utf-8").splitlines()[line - 1]
    assert raw.startswith("sql-browser,")


def test_unreadable_roles_file_is_reported_once(data_dir: Path):
    (data_dir / "dpm-2012r2" / "roles.csv").write_bytes(b"id,name,description\n\xff\xfe\n")
    _, issues = load(data_dir)
    assert [(i.code, i.file.rsplit("/", 1)[-1]) for i in issues] == [("L002", "roles.csv")]


# Cells and line ends that exercise both readers: quoting done right and wrong, line
# ends of every kind, blank and short rows, white space Python strips and Arrow might not.
_CELLS = st.sampled_from(["", "a", " b c ", "\u00a0d", "\u3000", "\t", "é", "1433", '"x,y"', '"say ""hi"""',
                          '""', '" q "', '"x"y', 'x"y', '"open', '"two\nlines"'])
_LINE_ENDS = st.sampled_from(["\n", "\n", "\r\n", "\r", "\n\n"])
_BODIES = st.lists(st.tuples(st.lists(_CELLS, min_size=1, max_size=4).map(",".join), _LINE_ENDS), max_size=12).map(
    lambda rows: "".join(cells + end for cells, end in rows))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_BODIES, bom=st.booleans(), header=st.sampled_from(["id,name,note", "id,name,note,id", "id,name", "id"]))
def test_the_columnar_reader_agrees_with_the_row_reader_wherever_it_answers(tmp_path_factory, body: str, bom: bool, header: str):
    data = (b"\xef\xbb\xbf" if bom else b"") + f"{header}\n{body}".encode()
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes(data)
    columnar = csvfile._read_columnar(data, csvfile._line_lengths(data), str(path), ["id", "name", "note"], ["id"], "digest")
    if columnar is None:
        return  # the row reader decides
    rows = csvfile._read_rows(data.decode("utf-8-sig"), data, str(path), ["id", "name", "note"], ["id"], "digest")
    (fast, fast_issues), (slow, slow_issues) = columnar, rows
    assert [str(i) for i in fast_issues] == [str(i) for i in slow_issues]
    assert (fast is None) == (slow is None)
    if fast is not None:
        assert fast.frame.equals(slow.frame)
        assert fast.lines == slow.lines


def test_large_plain_files_take_the_columnar_reader(tmp_path: Path):
    rows = "".join(f'f{i},"name, {i}",  note {i}  \r\n' for i in range(2000))
    data = ("id,name,note\r\n" + rows + ",,\r\n\r\n").encode()
    columnar = csvfile._read_columnar(data, csvfile._line_lengths(data), "t.csv", ["id", "name", "note"], ["id"], "digest")
    assert columnar is not None
    table, issues = columnar
    assert issues == [] and len(table) == 2000
    assert table.row(2001) == {"id": "f1999", "name": "name, 1999", "note": "note 1999"}  # by line
    assert table.lines[:2] == [2, 3]


@pytest.mark.parametrize("reader", ["columnar", "rows"])
def test_large_files_report_bad_cells_at_their_rows(data_dir: Path, reader: str):
    """Where a column repeats its values the cell rules test each distinct value once
    (transport here; not port, whose values are all distinct); problems are still
    located per row, whichever reader read the file (a cell spanning two lines sends it
    to the row reader)."""
    path = data_dir / FLOWS
    header, rows = read_rows(path)
    template = next(row for row in rows if row["transport"] == "tcp" and row["port"].isdigit())
    copies = [dict(template, id=f"copy-{index:04d}", port=str(20000 + index)) for index in range(1500)]
    copies[700]["transport"] = "UPD"
    copies[701]["source"] = "Not A Role"
    copies[1200]["transport"] = "UPD"
    copies[1300]["port"] = "70000"
    if reader == "rows":
        rows[0]["assumption"] = "One line,\nthen another."
    write_rows(path, header, rows + copies)
    first = len(rows) + 2 + (reader == "rows")  # the line of copies[0]
    _, issues = load(data_dir)
    assert codes(issues) == [("S105", first + 700, "transport"), ("S102", first + 701, "source"),
                             ("S105", first + 1200, "transport"), ("S103", first + 1300, "port")]


def test_a_flow_locates_its_cells_from_the_frame(data_dir: Path):
    path = data_dir / FLOWS
    line = edit_row(path, "id", "sql-engine-default", port="0")
    _, issues = load(data_dir)
    assert [(i.code, i.line) for i in issues] == [("S103", line)] and issues[0].column > 1
    bad_port_column = issues[0].column
    edit_row(path, "id", "sql-engine-default", port="1433")
    model, issues = load(data_dir)
    assert issues == []
    (dataset,) = model.datasets
    flow = next(flow for flow in model.flows if flow.id == "sql-engine-default")
    # The port cell starts where the message about the bad port pointed.
    assert (flow.where("port").line, flow.where("port").column) == (line, bad_port_column)
    assert dataset.frame.loc[line, "id"] == "sql-engine-default" and flow.line == line
    assert dataset.flows_at([line]) == [flow]


def test_the_flow_model_holds_the_schema_columns_in_order():
    """flows.csv's columns are defined once, in the schema: a Flow holds each of them, in
    the same order, under its own name or the converted field that stands for it."""
    from dataclasses import fields

    from generator.model import FLOW_FIELD_OF_COLUMN, Flow
    from generator.schema import FLOWS

    record_fields = [f.name for f in fields(Flow) if f.name not in ("dataset", "line", "cells")]
    assert record_fields == [FLOW_FIELD_OF_COLUMN.get(name, name) for name in FLOWS.column_names]


def test_flows_share_the_values_they_repeat(data_dir: Path):
    """A large data set repeats a few roles, transports and ports on every row: the Flows
    hold one object per distinct value, not a copy per row, and keep every value."""
    from generator.model import flows_of_frame

    model, issues = load(data_dir)
    dataset = model.datasets[0]
    flows = flows_of_frame(dataset.frame, dataset.cells)
    assert [flow.id for flow in flows] == dataset.frame["id"].tolist()
    assert [flow.source for flow in flows] == dataset.frame["source"].tolist()
    by_source = {}
    for flow in flows:
        assert by_source.setdefault(flow.source, flow.source) is flow.source
    by_ports = {}
    for flow in flows:
        if flow.ports is not None:
            assert by_ports.setdefault(flow.ports, flow.ports) is flow.ports
            assert (flow.ports.first, flow.ports.last) == tuple(dataset.frame.loc[flow.line, ["first", "last"]])
    assert len(by_source) < len(flows) and len(by_ports) < len(flows)


def test_the_flows_frame_has_the_schema_columns(data_dir: Path):
    from generator.schema import FLOWS

    model, issues = load(data_dir)
    (dataset,) = model.datasets
    assert list(dataset.frame.columns) == ["dataset", *FLOWS.column_names, "first", "last"]
    assert dataset.frame.index.name == "line"
    flow = dataset.flows[0]
    assert [flow.value(name) for name in FLOWS.column_names] == [
        str(dataset.frame.iloc[0][name]) for name in FLOWS.column_names]



@pytest.mark.parametrize("value, message", [
    ('"javascript:alert(1)"', "is not a link the outputs may show"),
    ('"data:text/html,<b>x</b>"', "is not a link the outputs may show"),
    ('" https://example.org"', "is not a link the outputs may show"),
])
def test_a_source_url_that_is_no_safe_link_is_refused_at_its_line(data_dir: Path, value, message):
    path = data_dir / "dpm-2012r2" / "dataset.toml"
    text = path.read_text(encoding="utf-8").replace('[source]\n', f'[source]\nurl = {value}\n', 1)
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index(f"url = {value}") + 1
    model, issues = load(data_dir)
    assert model is None
    found = [i for i in issues if i.code == "L009"]
    assert found and found[0].line == line and message in found[0].message, issues


@pytest.mark.parametrize("url", ["https://learn.example.com/dpm", "http://x.example/a?b#c", "mailto:ops@example.org", "../pages/dpm.html"])
def test_safe_source_urls_load(data_dir: Path, url):
    path = data_dir / "dpm-2012r2" / "dataset.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('[source]\n', f'[source]\nurl = "{url}"\n', 1), encoding="utf-8")
    model, issues = load(data_dir)
    assert model is not None, issues
    assert model.datasets[0].source.url == url


@pytest.mark.parametrize("text, fragment", [
    ('version = "1\\u001b[31m"\n', "control character"),
    ('short_title = "\\u0000"\n', "control character"),
    ('short_title = "' + "x" * 5000 + '"\n', "at most 4096"),
])
def test_toml_values_follow_the_cell_rules_at_their_key(data_dir: Path, text, fragment):
    path = data_dir / "dpm-2012r2" / "dataset.toml"
    key = text.split(" =")[0]
    original = path.read_text(encoding="utf-8")
    # Put the key at the top, where it belongs to the root table.
    lines = original.splitlines(keepends=True)
    lines = [line for line in lines if not line.startswith(f"{key} =")]
    path.write_text(text + "".join(lines), encoding="utf-8")
    model, issues = load(data_dir)
    assert model is None
    found = [i for i in issues if i.code == "L009" and fragment in i.message]
    assert found and (found[0].line, found[0].column) == (1, 1), issues
    assert found[0].message.startswith(f"{key}:")


def test_deeply_nested_toml_is_an_error_not_a_traceback(data_dir: Path):
    path = data_dir / "portbook.toml"
    path.write_text(path.read_text(encoding="utf-8") + "deep = " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    model, issues = load(data_dir)
    assert model is None
    assert any(i.code == "L009" and "nested deeper" in i.message for i in issues), issues


def test_a_settings_error_points_at_the_key(data_dir: Path):
    path = data_dir / "portbook.toml"
    text = path.read_text(encoding="utf-8").replace('file = "inventory.csv"', "file = 5")
    path.write_text(text, encoding="utf-8")
    model, issues = load(data_dir)
    line = text.splitlines().index("file = 5") + 1
    assert [(i.code, i.line, i.column) for i in issues if i.code == "L009"] == [("L009", line, 1)]


@pytest.mark.parametrize("role", ["con", "nul", "com1", "lpt9", "aux.tier", "prn"])
def test_windows_device_names_are_refused_as_role_ids(data_dir: Path, role):
    path = data_dir / "dpm-2012r2" / "roles.csv"
    line = edit_row(path, "id", "ops-manager", id=role)
    model, issues = load(data_dir)
    assert model is None
    assert any(i.code == "S102" and i.line == line and "reserves for devices" in i.message for i in issues), issues


def test_names_that_only_start_like_a_device_are_ids(data_dir: Path):
    path = data_dir / "dpm-2012r2" / "roles.csv"
    edit_row(path, "id", "ops-manager", id="console")
    flows = data_dir / "dpm-2012r2" / "flows.csv"
    header, rows = read_rows(flows)
    for row in rows:
        for column in ("source", "destination"):
            if row[column] == "ops-manager":
                row[column] = "console"
    write_rows(flows, header, rows)
    inventory = data_dir / "inventory.csv"
    header, rows = read_rows(inventory)
    write_rows(inventory, header, [dict(row, role="console") if row["role"] == "ops-manager" else row for row in rows])
    model, issues = load(data_dir)
    assert model is not None, issues
