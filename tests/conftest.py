"""Shared fixtures: a private copy of the shipped data that a test may edit."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared"
IANA_CSV = SHARED / "iana" / "service-names-port-numbers.csv"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of the shipped data folder."""
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    # CRLF as the line end makes the writer quote every cell holding a CR or LF, as
    # spreadsheets do; a bare CR outside quotes would end the row.
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def edit_row(path: Path, key: str, value: str, **changes: str) -> int:
    """Change cells of the row whose `key` column equals `value`; returns its line number
    (valid while no cell of an earlier row spans lines)."""
    header, rows = read_rows(path)
    for index, row in enumerate(rows):
        if row[key] == value:
            row.update(changes)
            write_rows(path, header, rows)
            return index + 2
    raise KeyError(value)


def append_row(path: Path, **cells: str) -> int:
    header, rows = read_rows(path)
    rows.append({name: cells.get(name, "") for name in header})
    write_rows(path, header, rows)
    return len(rows) + 1


def line_of(path: Path, key: str, value: str) -> int:
    header, rows = read_rows(path)
    return next(index + 2 for index, row in enumerate(rows) if row[key] == value)
