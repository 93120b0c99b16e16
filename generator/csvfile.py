"""Reading CSV files as people really produce them, with every cell located.

Handles a UTF-8 byte-order mark (Excel), CRLF line ends, stray spaces around
cells and blank trailing rows; refuses, with located issues, what cannot be
read: bad encodings, NUL bytes, unbalanced quotes and oversized input.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy
import pandas as pd

from .issues import Issue, did_you_mean, issue
from .model import Location

# Limits the loader enforces (and the README states).
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FIELD_CHARS = 4096
MAX_ROW_CHARS = 32 * 1024
MAX_COLUMNS = 64


@dataclass
class CsvTable:
    """A CSV file as a DataFrame: one str column per known column, holding the stripped
    cells, indexed by the physical line where each record starts (index name "line")."""

    path: str
    header: list[str]
    frame: pd.DataFrame
    data: bytes = field(repr=False, default=b"")  # the file as read, for locating cells in messages
    sha256: str = ""  # of the bytes read, so nobody reads the file again to hash it

    @property
    def columns(self) -> pd.DataFrame:
        """The cells by column name: `columns[name]` is that column's Series."""
        return self.frame

    @property
    def lines(self) -> list[int]:
        return self.frame.index.tolist()

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def physical_lines(self) -> list[str]:
        return io.StringIO(self.data.decode("utf-8-sig"), newline="").readlines()

    def column(self, line: int, name: str) -> int:
        """1-based character column of cell `name` in the record starting at `line`, worked
        out only when a message asks for it: scanning every row up front is slow."""
        try:
            index = self.header.index(name)
            starts = _field_starts(self.physical_lines[line - 1])
        except (ValueError, IndexError):
            return 1
        return starts[index] if index < len(starts) else 1

    def where(self, line: int, name: str) -> Location:
        return Location(self.path, line, self.column(line, name))

    def row(self, line: int) -> dict[str, str]:
        return self.frame.loc[line].to_dict()


def display_path(path: Path) -> str:
    """The path as messages show it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _field_starts(raw: str) -> list[int]:
    """1-based character columns where each field of a CSV record's first line starts."""
    line = raw.split("\n", 1)[0]
    if '"' not in line:
        starts, offset = [], 1
        for cell in line.split(","):
            starts.append(offset)
            offset += len(cell) + 1
        return starts
    starts = [1]
    quoted = False
    for offset, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(offset + 2)
    return starts


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


# Characters no text column needs and XML (hence workbooks and the site) cannot carry:
# C0 controls other than tab and line ends, and the non-characters U+FFFE and U+FFFF.
CONTROL_CHARACTERS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_CONTROL_ISSUES = 10


def _control_characters(text: str, shown: str) -> list[Issue]:
    """One issue per line holding a control character, at its first one (at most ten)."""
    issues: list[Issue] = []
    last_line = 0
    for match in CONTROL_CHARACTERS.finditer(text):
        line, column = _position(text, match.start())
        if line == last_line:
            continue
        last_line = line
        issues.append(issue("L003", Location(shown, line, column),
                            f"control character U+{ord(match.group()):04X} in file; only tab and line ends may appear in cells"))
        if len(issues) == MAX_CONTROL_ISSUES:
            break
    return issues


# Every byte but NUL and the C0 controls other than tab and line ends: deleting these
# leaves only the bytes that need the exact, character-level search (bytes.translate is
# a quick screen where a regular expression over the whole file is not).
_HARMLESS_BYTES = bytes(b for b in range(256) if b not in set(range(0x00, 0x09)) | {0x0B, 0x0C} | set(range(0x0E, 0x20)))
# What str.strip() strips; Arrow's own notion of white space (under pandas' string
# methods) differs in a few characters.
_WHITE_SPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())


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

    if data.translate(None, _HARMLESS_BYTES) or "\ufffe" in text or "\uffff" in text:
        nul = text.find("\x00")
        if nul >= 0:
            line, column = _position(text, nul)
            return None, [issue("L003", Location(shown, line, column), "NUL byte in file; is it a spreadsheet saved in another format?")]
        control = _control_characters(text, shown)
        if control:
            return None, control

    # The limit counts the line end as one character, whether it is LF or CRLF. Bytes
    # are never fewer than characters, so the exact count is needed only past the limit.
    lengths = _line_lengths(data)
    if lengths.max() >= MAX_ROW_CHARS:
        for number, line in enumerate(text.split("\n"), 1):
            size = len(line.removesuffix("\r")) + 1
            if size > MAX_ROW_CHARS:
                return None, [issue("L006", Location(shown, number, 1), f"row is {size} characters; the limit is {MAX_ROW_CHARS}")]

    sha256 = hashlib.sha256(data).hexdigest()
    del text  # large files are held once, as bytes, while they are parsed
    fast = _read_columnar(data, lengths, shown, known, required, sha256)
    if fast is not None:
        return fast
    return _read_rows(data.decode("utf-8-sig"), data, shown, known, required, sha256)


def _line_lengths(data: bytes):
    """The length in bytes of each line, without its LF, as a NumPy array (a list of
    100,000 byte strings would double the memory a large file takes)."""
    ends = numpy.flatnonzero(numpy.frombuffer(data, dtype=numpy.uint8) == ord("\n"))
    return numpy.diff(ends, prepend=-1, append=len(data)) - 1


def _read_columnar(data: bytes, lengths, shown: str, known: list[str], required: list[str],
                   sha256: str) -> tuple[CsvTable | None, list[Issue]] | None:
    """Read a plainly shaped file with pandas' pyarrow engine, or return None when the
    file needs the row reader: stray quotes, rows of the wrong width, cells spanning lines,
    lone CR line ends, a quoted or blank header. The row reader gives the exact message and line
    for each of those, and both readers give the same cells wherever this one answers."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    first = data[:lengths[0]]
    first = first[3:] if first.startswith(b"\xef\xbb\xbf") else first
    if b'"' in first or not first.strip() or (b"\r" in body and body.count(b"\r") != body.count(b"\r\n")):
        return None
    # Where each LF of the body is, from the line lengths (a second pass over a large file
    # costs more); here a CR only ever comes right before an LF.
    line_ends = numpy.cumsum(lengths + 1)[:-1] - 1 - (len(data) - len(body))
    if not _plainly_quoted(body, line_ends):
        return None
    header_line = first.decode("utf-8").removesuffix("\r")
    header, issues = _read_header(header_line.split(","), header_line, shown, known, required)
    if any(i.code in ("L004", "L006", "L008") for i in issues):
        return None, issues
    # Lines holding no record: blank ones, which both readers skip.
    if b"\n\n" in body or b"\n\r\n" in body:
        lines = data.split(b"\n")
        record_lines = numpy.array([number for number, line in enumerate(lines[1:], 2) if line and line != b"\r"],
                                   dtype=numpy.int64)
        del lines
    else:
        record_lines = numpy.arange(2, len(lengths) + (1 if lengths[-1] else 0), dtype=numpy.int64)
    if not len(record_lines):
        return None  # the row reader reads a header alone
    # Columns by position (the header may repeat names, which _read_header reported); the
    # parser takes the width of the first record and refuses any other.
    try:
        parsed = pd.read_csv(io.BytesIO(body), engine="pyarrow", header=None, skiprows=1, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return None  # a record has the wrong width, or the parser sees none: the row reader decides
    if parsed.shape[1] != len(header) or len(parsed) != len(record_lines):
        return None  # the records have the wrong width, or one spans lines
    parsed.index = pd.Index(record_lines, name="line")
    # Rows of empty cells only, such as the ",,,," a spreadsheet leaves at the end: such a
    # line holds nothing but commas, quotes and a line end, so long lines cannot be one.
    if lengths[1:].min() <= 3 * len(header) + 1:
        parsed = parsed[parsed.ne("").any(axis=1)]
    frame = pd.DataFrame({name: parsed[index] for index, name in enumerate(header) if name in known},
                         index=parsed.index)
    del parsed
    for name in frame.columns:
        frame[name] = frame[name].str.strip(_WHITE_SPACE)
    # No cell is longer than its line, and no line here is longer than the limit of a cell.
    return _finish(shown, header, frame, known, data, sha256, issues, cells_fit=int(lengths.max()) <= MAX_FIELD_CHARS)


def _plainly_quoted(body: bytes, line_ends) -> bool:
    """Whether every quote opens a field, closes it on the same line, or doubles a quote
    inside it: then the quoting is well formed and every CSV reader agrees on the cells.
    Looks at the quotes only, not every byte. `line_ends` are the positions of the LFs in
    `body`, where every CR comes right before an LF."""
    if b'"' not in body:
        return True
    raw = numpy.frombuffer(body, dtype=numpy.uint8)
    positions = numpy.flatnonzero(raw == ord('"'))
    if b'""' not in body:
        # No doubled quote: quotes alternate, opening and closing, and are checked at once.
        if len(positions) % 2:
            return False
        opens, closes = positions[0::2], positions[1::2]
        bounds = numpy.array([ord(","), ord("\r"), ord("\n")], dtype=numpy.uint8)
        opened_well = (opens == 0) | numpy.isin(raw[numpy.maximum(opens - 1, 0)], bounds)
        closed_well = (closes + 1 == len(raw)) | numpy.isin(raw[numpy.minimum(closes + 1, len(raw) - 1)], bounds)
        one_line = numpy.searchsorted(line_ends, opens) == numpy.searchsorted(line_ends, closes)
        return bool(opened_well.all() and closed_well.all() and one_line.all())
    quotes = positions.tolist()
    field_start = b",\r\n"
    field_end = (ord(","), ord("\r"), ord("\n"))
    size = len(body)
    opened = -1
    index = 0
    while index < len(quotes):
        at = quotes[index]
        if opened < 0:
            if at and body[at - 1] not in field_start:
                return False  # a quote inside an unquoted cell
            opened = at
        else:
            after = body[at + 1] if at + 1 < size else None
            if after == ord('"'):
                index += 2  # a doubled quote inside the cell
                continue
            if after is not None and after not in field_end:
                return False  # text after the closing quote
            if body.find(b"\n", opened, at) >= 0 or body.find(b"\r", opened, at) >= 0:
                return False  # the cell spans lines
            opened = -1
        index += 1
    return opened < 0


def _read_rows(text: str, data: bytes, shown: str, known: list[str], required: list[str],
               sha256: str) -> tuple[CsvTable | None, list[Issue]]:
    """Read record by record with the csv module, which reports the first syntax error."""
    at_start = Location(shown, 1, 1)
    # Rows are read straight from the text: io.StringIO with newline="" splits lines at
    # \n, \r\n and \r only (str.splitlines would also split inside cells at form feeds,
    # U+2028 and the like), so line numbers match what editors show.
    csv.field_size_limit(MAX_ROW_CHARS + 1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    issues: list[Issue] = []
    try:
        header_cells = next(reader, None)
    except csv.Error as error:
        return None, [issue("L003", at_start, f"cannot parse the header: {error}")]
    if header_cells is None:
        return None, [issue("L004", at_start, "file is empty; it needs a header row naming the columns")]
    first_line = text.split("\n", 1)[0]
    header, header_issues = _read_header(header_cells, first_line, shown, known, required)
    issues += header_issues
    if any(i.code in ("L004", "L006", "L008") for i in header_issues):
        return None, issues
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    end_line = reader.line_num
    try:
        for cells in reader:
            start_line, end_line = end_line + 1, reader.line_num
            if len(cells) != width:
                if cells and "".join(cells).strip():
                    issues.append(issue("L007", Location(shown, start_line, 1), f"row has {len(cells)} fields; the header has {width}"))
                continue  # else a blank row, such as the ",,,," a spreadsheet leaves at the end
            rows.append(cells)
            lines.append(start_line)
    except csv.Error as error:
        message = str(error)
        line = end_line + 1
        if "field larger" in message:
            issues.append(issue("L006", Location(shown, line, 1), f"a field exceeds {MAX_ROW_CHARS} characters"))
        else:
            issues.append(issue("L003", Location(shown, line, 1), f"cannot parse CSV: {message}; check the quotes on this row"))
        # The csv module cannot resynchronise after a syntax error; stop at the first.
        return None, issues

    positions = {name: index for index, name in enumerate(header) if name in known}
    # Rows of empty cells (quoted or not) hold no record; a cell of spaces does.
    kept = [(row, line) for row, line in zip(rows, lines) if any(row)]
    index = pd.Index([line for _, line in kept], name="line", dtype="int64")
    frame = pd.DataFrame({name: pd.Series([row[position].strip() for row, _ in kept], index=index, dtype=str)
                          for name, position in positions.items()}, index=index)
    return _finish(shown, header, frame, known, data, sha256, issues)


def _finish(shown: str, header: list[str], frame: pd.DataFrame, known: list[str],
            data: bytes, sha256: str, issues: list[Issue], cells_fit: bool = False) -> tuple[CsvTable, list[Issue]]:
    """The table, its columns in `known` order, missing optional columns empty and cells
    past the limit cut short (none is, when the caller knows that `cells_fit`)."""
    frame = pd.DataFrame({name: frame[name] if name in frame.columns else pd.Series("", index=frame.index, dtype=str)
                          for name in known}, index=frame.index)
    table = CsvTable(shown, header, frame, data, sha256)
    for name in [] if cells_fit else sorted((name for name in frame.columns if name in header), key=header.index):
        lengths = frame[name].str.len()
        if len(lengths) and lengths.max() > MAX_FIELD_CHARS:
            for line, length in lengths[lengths > MAX_FIELD_CHARS].items():
                issues.append(issue("L006", table.where(line, name), f"cell is {length} characters; the limit is {MAX_FIELD_CHARS}", name))
            frame[name] = frame[name].str.slice(0, MAX_FIELD_CHARS)
    return table, issues


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
