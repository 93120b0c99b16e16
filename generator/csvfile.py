"""Reading CSV files as people really produce them, with every cell located.

Handles a UTF-8 byte-order mark (Excel), CRLF line ends, stray spaces around
cells and blank trailing rows; refuses, with located issues, what cannot be
read: bad encodings, NUL bytes, unbalanced quotes and oversized input.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .issues import Issue, did_you_mean, issue
from .model import Location

# Limits the loader enforces (and the README states).
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FIELD_CHARS = 4096
MAX_ROW_CHARS = 32 * 1024
MAX_COLUMNS = 64


@dataclass
class Record:
    line: int  # physical line where the record starts
    values: dict[str, str]
    columns: dict[str, int]  # column name -> 1-based character column on that line


@dataclass
class CsvTable:
    path: str
    header: list[str]
    records: list[Record]


def display_path(path: Path) -> str:
    """The path as messages show it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _field_starts(raw: str) -> list[int]:
    """1-based character columns where each field of a CSV record's first line starts."""
    starts = [1]
    quoted = False
    for offset, char in enumerate(raw):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(offset + 2)
        elif char in "\r\n" and not quoted:
            break
    return starts


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def read_csv(path: Path, known: list[str], required: list[str]) -> tuple[CsvTable | None, list[Issue]]:
    """Read one CSV file; `known` columns are kept, `required` ones must be present."""
    shown = display_path(path)
    at_start = Location(shown, 1, 1)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [issue("L006", at_start, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")]
        data = path.read_bytes()
    except OSError as error:
        return None, [issue("L001", Location(shown, 0, 0), f"cannot read file: {error.strerror or error}")]

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, column = _position(data.decode("utf-8-sig", errors="replace"), error.start)
        return None, [issue("L002", Location(shown, line, column), f"byte 0x{data[error.start]:02x} is not valid UTF-8; save the file as UTF-8")]

    nul = text.find("\x00")
    if nul >= 0:
        line, column = _position(text, nul)
        return None, [issue("L003", Location(shown, line, column), "NUL byte in file; is it a spreadsheet saved in another format?")]

    lines = text.splitlines(keepends=True)
    line_index = 0
    record_raw: list[str] = []

    def feed():
        nonlocal line_index
        while line_index < len(lines):
            raw = lines[line_index]
            line_index += 1
            record_raw.append(raw)
            yield raw

    csv.field_size_limit(MAX_ROW_CHARS + 1)
    reader = csv.reader(feed(), strict=True)
    issues: list[Issue] = []
    header: list[str] | None = None
    records: list[Record] = []
    while True:
        start_line = line_index + 1
        record_raw.clear()
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            message = str(error)
            if "field larger" in message:
                issues.append(issue("L006", Location(shown, start_line, 1), f"a field exceeds {MAX_ROW_CHARS} characters"))
            else:
                issues.append(issue("L003", Location(shown, start_line, 1), f"cannot parse CSV: {message}; check the quotes on this row"))
            # The csv module cannot resynchronise after a syntax error; stop at the first.
            return None, issues
        raw = "".join(record_raw)
        if len(raw) > MAX_ROW_CHARS:
            issues.append(issue("L006", Location(shown, start_line, 1), f"row is {len(raw)} characters; the limit is {MAX_ROW_CHARS}"))
            continue
        if header is None:
            header, header_issues = _read_header(cells, raw, shown, known, required)
            issues += header_issues
            if header_issues and any(i.code in ("L004", "L006", "L008") for i in header_issues):
                return None, issues
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank rows, such as the ",,,," a spreadsheet leaves at the end
        starts = _field_starts(raw)
        if len(cells) != len(header):
            issues.append(issue("L007", Location(shown, start_line, 1), f"row has {len(cells)} fields; the header has {len(header)}"))
            continue
        values: dict[str, str] = {}
        columns: dict[str, int] = {}
        for index, (name, cell) in enumerate(zip(header, cells)):
            if name not in known:
                continue
            cell = cell.strip()
            column = starts[index] if index < len(starts) else 1
            if len(cell) > MAX_FIELD_CHARS:
                issues.append(issue("L006", Location(shown, start_line, column), f"cell is {len(cell)} characters; the limit is {MAX_FIELD_CHARS}", name))
                cell = cell[:MAX_FIELD_CHARS]
            values[name] = cell
            columns[name] = column
        for name in known:
            values.setdefault(name, "")
        records.append(Record(start_line, values, columns))
    if header is None:
        return None, issues + [issue("L004", at_start, "file is empty; it needs a header row naming the columns")]
    return CsvTable(shown, header, records), issues


def _read_header(cells: list[str], raw: str, shown: str, known: list[str], required: list[str]) -> tuple[list[str], list[Issue]]:
    issues: list[Issue] = []
    header = [cell.strip() for cell in cells]
    starts = _field_starts(raw)
    if len(header) > MAX_COLUMNS:
        return header, [issue("L006", Location(shown, 1, 1), f"header has {len(header)} columns; the limit is {MAX_COLUMNS}")]
    seen: set[str] = set()
    for index, name in enumerate(header):
        where = Location(shown, 1, starts[index] if index < len(starts) else 1)
        if name in seen:
            issues.append(issue("L008", where, f"column {name!r} appears twice", name))
        elif name not in known:
            issues.append(issue("L005", where, f"unknown column {name!r}{did_you_mean(name, known)}", name))
        seen.add(name)
    for name in required:
        if name not in seen:
            issues.append(issue("L004", Location(shown, 1, 1), f"required column {name!r} is missing", name))
    return header, issues
