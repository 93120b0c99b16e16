"""The loader's stated size limits (generator/csvfile.py MAX_*): input at a limit is read,
input just over it is refused with L006 at the FILE:LINE:COLUMN of the excess."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import read_rows, write_rows
from generator import csvfile
from test_fuzz import ISSUE_LINE, cell_column, first_dataset, issue_lines, run_cli


def _issues(data_dir: Path, code: str) -> list[str]:
    rc, out, _ = run_cli(["check", "--data", str(data_dir)])
    found = [line for line in issue_lines(out) if f": {code} " in line]
    if code == "L006":
        assert rc == 1, out
    return found


def _location(line: str) -> tuple[str, int, int]:
    match = ISSUE_LINE.match(line)
    assert match, line
    file, row, column = line.split(": ", 1)[0].rsplit(":", 2)
    return file, int(row), int(column)


def _set_cell(path: Path, index: int, column: str, value: str) -> int:
    """Set one cell of row `index`; returns the line the row starts on (rows above are one line each)."""
    header, rows = read_rows(path)
    rows[index][column] = value
    write_rows(path, header, rows)
    return index + 2


def test_field_at_limit_is_read(data_dir):
    flows = first_dataset(data_dir) / "flows.csv"
    _set_cell(flows, 0, "purpose", "x" * csvfile.MAX_FIELD_CHARS)
    rc, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert rc == 0, out
    assert not [line for line in issue_lines(out) if " L006 " in line]


def test_field_over_limit_is_located(data_dir):
    flows = first_dataset(data_dir) / "flows.csv"
    line = _set_cell(flows, 1, "purpose", "x" * (csvfile.MAX_FIELD_CHARS + 1))
    found = _issues(data_dir, "L006")
    assert len(found) == 1, found
    file, row, column = _location(found[0])
    assert file.endswith("flows.csv") and row == line
    assert column == cell_column(flows, line, "purpose") > 1
    assert str(csvfile.MAX_FIELD_CHARS) in found[0]


def _row_of_length(path: Path, index: int, length: int) -> int:
    """Pad row `index` with spaces before its purpose text until the physical row, newline
    included, is exactly `length` characters. Spaces around a cell are stripped, so only
    the row limit (not the field limit) is in play."""
    header, rows = read_rows(path)
    line = index + 2
    purpose = rows[index]["purpose"]
    padding = 0
    for _ in range(3):  # the second pass accounts for any quoting the writer adds
        rows[index]["purpose"] = " " * padding + purpose
        write_rows(path, header, rows)
        padding += length - (len(path.read_text(encoding="utf-8").split("\n")[line - 1]) + 1)
    assert len(path.read_text(encoding="utf-8").split("\n")[line - 1]) + 1 == length
    return line


def test_row_at_limit_is_read(data_dir):
    flows = first_dataset(data_dir) / "flows.csv"
    _row_of_length(flows, 0, csvfile.MAX_ROW_CHARS)
    rc, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert rc == 0, out


def test_row_over_limit_is_located(data_dir):
    flows = first_dataset(data_dir) / "flows.csv"
    line = _row_of_length(flows, 2, csvfile.MAX_ROW_CHARS + 1)
    found = _issues(data_dir, "L006")
    assert len(found) == 1, found
    assert _location(found[0])[1:] == (line, 1)
    assert str(csvfile.MAX_ROW_CHARS) in found[0]


def test_single_field_beyond_row_limit_is_located(data_dir):
    """A field longer than a whole row stops the CSV parser itself; still L006 at its row."""
    roles = first_dataset(data_dir) / "roles.csv"
    line = _set_cell(roles, 1, "description", "y" * (csvfile.MAX_ROW_CHARS + 10))
    found = _issues(data_dir, "L006")
    assert [_location(item)[1:] for item in found] == [(line, 1)]


def test_oversized_header_row_stops_reading(data_dir):
    """When the header row itself is too long nothing below it can be read: one L006, no
    follow-on complaints about the next row being taken for a header."""
    roles = first_dataset(data_dir) / "roles.csv"
    text = roles.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    roles.write_text(header + " " * csvfile.MAX_ROW_CHARS + "\n" + rest, encoding="utf-8")
    rc, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert rc == 1
    mine = [line for line in issue_lines(out) if "roles.csv" in line]
    assert [(_location(line)[1:], line.split(": ")[1].split()[0]) for line in mine] == [((1, 1), "L006")]


def _header_with(path: Path, count: int) -> None:
    header, rows = read_rows(path)
    extra = [f"x{n}" for n in range(count - len(header))]
    write_rows(path, header + extra, [dict(row, **{name: "" for name in extra}) for row in rows])


def test_columns_at_limit_are_read(data_dir):
    """At MAX_COLUMNS the header is read; the extra names are then unknown columns (L005), not too many."""
    roles = first_dataset(data_dir) / "roles.csv"
    _header_with(roles, csvfile.MAX_COLUMNS)
    rc, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert rc == 1
    codes = {line.split(": ")[1].split()[0] for line in issue_lines(out) if "roles.csv" in line}
    assert codes == {"L005"}


@pytest.mark.parametrize("count", [csvfile.MAX_COLUMNS + 1, 3000])
def test_columns_over_limit_are_refused(data_dir, count):
    roles = first_dataset(data_dir) / "roles.csv"
    _header_with(roles, count)
    rc, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert rc == 1
    mine = [line for line in issue_lines(out) if "roles.csv" in line]
    # One L006 at the header, and no L005 for each of the thousands of unknown names.
    assert len(mine) == 1 and " L006 " in mine[0] and _location(mine[0])[1:] == (1, 1), mine
    assert f"{count} columns" in mine[0] and str(csvfile.MAX_COLUMNS) in mine[0]


def test_file_at_size_limit_is_read(data_dir, monkeypatch):
    """The size test is `size > MAX_FILE_BYTES`: with the limit lowered to the largest data
    file's size everything is read, and one byte less refuses exactly that file. (Writing
    64 MiB of valid rows would prove nothing more.)"""
    largest = max(data_dir.rglob("*.csv"), key=lambda path: path.stat().st_size)
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", largest.stat().st_size)
    rc, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert rc == 0, out
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", largest.stat().st_size - 1)
    found = _issues(data_dir, "L006")
    assert [_location(line) for line in found] == [(_location(found[0])[0], 1, 1)]
    assert _location(found[0])[0].endswith(str(largest.relative_to(data_dir)))


def test_file_over_size_limit_is_refused_before_reading(data_dir):
    """A file one byte over the real limit is refused from its size alone (a sparse file:
    were it read, its NUL bytes would give L003 instead)."""
    roles = first_dataset(data_dir) / "roles.csv"
    with roles.open("r+b") as handle:
        handle.truncate(csvfile.MAX_FILE_BYTES + 1)
    assert os.path.getsize(roles) == csvfile.MAX_FILE_BYTES + 1
    found = _issues(data_dir, "L006")
    assert len(found) == 1 and _location(found[0])[1:] == (1, 1)
    assert _location(found[0])[0].endswith("roles.csv")
    assert str(csvfile.MAX_FILE_BYTES) in found[0]
