"""Reading CSV files as people really produce them, with every cell located.

Handles a UTF-8 byte-order mark (Excel), CRLF line ends, stray spaces around
cells and blank trailing rows; refuses, with located issues, what cannot be
read: bad encodings, NUL bytes, unbalanced quotes and oversized input.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Collection

import numpy
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .issues import Issue, did_you_mean, issue
from .model import Location
from .schema import strings

# Arrow's default allocator (mimalloc) keeps the pages a parse freed for reuse, so a
# large file's peak would stay in the process for every output built after loading.
# The system allocator hands them back (see release_memory).
pa.set_memory_pool(pa.system_memory_pool())

# Limits the loader enforces (and the README states).
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FIELD_CHARS = 4096
MAX_ROW_CHARS = 32 * 1024
MAX_COLUMNS = 64


@dataclass
class CsvTable:
    """A CSV file held column by column: `columns[name][i]` is record i's stripped cell."""

    path: str
    header: list[str]
    lines: list[int]  # physical line where each record starts
    columns: dict[str, list[str]]
    data: bytes = field(repr=False, default=b"")  # the file as read, for locating cells in messages
    sha256: str = ""  # of the bytes read, so nobody reads the file again to hash it
    arrays: dict = field(repr=False, default_factory=dict)  # name -> the column as Arrow strings, once made

    def array(self, name: str):
        """The column as an Arrow string array, for vectorised rules."""
        if name not in self.arrays:
            # Chunked, as Arrow's reader gives them, so that callers meet one kind of array.
            self.arrays[name] = pa.chunked_array([strings(self.columns[name])])
        return self.arrays[name]

    def __len__(self) -> int:
        return len(self.lines)

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

    def forget_text(self) -> None:
        """Drop the file's bytes, kept only to point messages at cells; columns are given
        as 1 afterwards. A build lets them go once checking is done."""
        self.data = b""
        self.__dict__.pop("physical_lines", None)

    def where(self, index: int, name: str) -> Location:
        return Location(self.path, self.lines[index], self.column(self.lines[index], name))

    def row(self, index: int) -> dict[str, str]:
        return {name: values[index] for name, values in self.columns.items()}


def release_memory() -> None:
    """Return to the system the memory parsing freed; called once loading is done."""
    pa.default_memory_pool().release_unused()


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
# What str.strip() strips; Arrow's own notion of white space differs in a few characters.
_WHITE_SPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())


def read_csv(path: Path, known: list[str], required: list[str],
             arrays_for: Collection[str] = ()) -> tuple[CsvTable | None, list[Issue]]:
    """Read one CSV file; `known` columns are kept, `required` ones must be present, and
    the columns `arrays_for` names are also kept as Arrow arrays (CsvTable.array)."""
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
    fast = _read_columnar(data, lengths, shown, known, required, sha256, arrays_for)
    if fast is not None:
        return fast
    return _read_rows(data.decode("utf-8-sig"), data, shown, known, required, sha256)


def _line_lengths(data: bytes):
    """The length in bytes of each line, without its LF, as a NumPy array (a list of
    100,000 byte strings would double the memory a large file takes)."""
    ends = numpy.flatnonzero(numpy.frombuffer(data, dtype=numpy.uint8) == ord("\n"))
    return numpy.diff(ends, prepend=-1, append=len(data)) - 1


def _read_columnar(data: bytes, lengths, shown: str, known: list[str], required: list[str],
                   sha256: str, arrays_for: Collection[str] = ()) -> tuple[CsvTable | None, list[Issue]] | None:
    """Read a plainly shaped file with Arrow's multi-threaded parser, or return None when the
    file needs the row reader: stray quotes, rows of the wrong width, cells spanning lines,
    lone CR line ends, a quoted or blank header. The row reader gives the exact message and line
    for each of those, and both readers give the same cells wherever this one answers."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    first = data[:lengths[0]]
    first = first[3:] if first.startswith(b"\xef\xbb\xbf") else first
    if b'"' in first or not first.strip() or (b"\r" in body and body.count(b"\r") != body.count(b"\r\n")):
        return None
    if not _plainly_quoted(body):
        return None
    header_line = first.decode("utf-8").removesuffix("\r")
    header, issues = _read_header(header_line.split(","), header_line, shown, known, required)
    if any(i.code in ("L004", "L006", "L008") for i in issues):
        return None, issues
    # Lines holding no record: blank ones, which both readers skip.
    if b"\n\n" in body or b"\n\r\n" in body:
        lines = data.split(b"\n")
        record_lines = [number for number, line in enumerate(lines[1:], 2) if line and line != b"\r"]
        del lines
    else:
        record_lines = list(range(2, len(lengths) + (1 if lengths[-1] else 0)))
    names = [str(index) for index in range(len(header))]
    invalid: list[object] = []

    def invalid_row(row: object) -> str:
        invalid.append(row)
        return "skip"

    try:
        parsed = pa_csv.read_csv(
            pa.py_buffer(body),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=invalid_row),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    release_memory()  # the parser's working buffers, before the columns become Python strings
    if invalid or parsed.num_rows != len(record_lines):
        return None  # a record spans lines, or has the wrong width
    # Rows of empty cells only, such as the ",,,," a spreadsheet leaves at the end: such a
    # line holds nothing but commas, quotes and a line end, so long lines cannot be one.
    if parsed.num_rows and lengths[1:].min() <= 3 * len(names) + 1:
        blank = functools.reduce(pc.and_, [pc.equal(parsed.column(name), "") for name in names])
        if pc.any(blank).as_py():
            keep = pc.invert(blank)
            record_lines = [line for line, kept in zip(record_lines, keep.to_pylist()) if kept]
            parsed = parsed.filter(keep)
    # Column by column, so that each Arrow column is freed once it is Python strings; the
    # columns with vectorised rules stay as Arrow arrays for them.
    raw = {name: parsed.column(str(index)) for index, name in enumerate(header) if name in known}
    del parsed
    columns: dict[str, list[str]] = {}
    arrays: dict[str, object] = {}
    long_cells: set[str] = set()
    for name in list(raw):
        values = _trimmed(raw.pop(name))
        distinct = values.dictionary if pa.types.is_dictionary(values.type) else values
        # Cells past the limit are rare; only their columns need the cell-by-cell look.
        if len(distinct) and pc.max(pc.utf8_length(distinct)).as_py() > MAX_FIELD_CHARS:
            long_cells.add(name)
        elif name in arrays_for:
            arrays[name] = pa.chunked_array([values])
        columns[name] = _python_strings(values)
        release_memory()
    table, issues = _finish(shown, header, record_lines, columns, known, data, sha256, issues, long_cells)
    table.arrays.update(arrays)
    return table, issues


def _trimmed(values: pa.ChunkedArray) -> pa.Array:
    """The column without the white space around cells. A column that repeats a few
    values (roles, transports, sections) comes back dictionary-encoded: its distinct
    values are trimmed, tested and turned into Python strings once each."""
    values = values.combine_chunks()
    if len(values) >= 1000:
        encoded = pc.dictionary_encode(values)
        if len(encoded.dictionary) <= len(values) // 4:
            return pa.DictionaryArray.from_arrays(encoded.indices, pc.utf8_trim(encoded.dictionary, characters=_WHITE_SPACE))
    return pc.utf8_trim(values, characters=_WHITE_SPACE)


def _python_strings(values: pa.Array) -> list[str]:
    """The column as Python strings; a dictionary-encoded column shares one string object
    per distinct value: a hundred thousand copies of "tcp" would take more memory than
    the rest of the row."""
    if not pa.types.is_dictionary(values.type):
        return values.to_pylist()
    distinct = numpy.empty(len(values.dictionary), dtype=object)
    distinct[:] = values.dictionary.to_pylist()
    return distinct[values.indices.to_numpy(zero_copy_only=False)].tolist()


def _plainly_quoted(body: bytes) -> bool:
    """Whether every quote opens a field, closes it on the same line, or doubles a quote
    inside it: then the quoting is well formed and every CSV reader agrees on the cells.
    Looks at the quotes only, not every byte."""
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
        breaks = numpy.sort(numpy.concatenate([numpy.flatnonzero(raw == ord("\n")), numpy.flatnonzero(raw == ord("\r"))]))
        one_line = numpy.searchsorted(breaks, opens) == numpy.searchsorted(breaks, closes)
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
    columns = {name: [row[index].strip() for row in rows] for name, index in positions.items()}
    blank = [i for i, row in enumerate(rows) if not any(row)] if rows else []
    if blank:  # rows of empty quoted cells or spaces only
        keep = sorted(set(range(len(rows))) - set(blank))
        lines = [lines[i] for i in keep]
        columns = {name: [values[i] for i in keep] for name, values in columns.items()}
    long_cells = {name for name, values in columns.items() if max(map(len, values), default=0) > MAX_FIELD_CHARS}
    return _finish(shown, header, lines, columns, known, data, sha256, issues, long_cells)


def _finish(shown: str, header: list[str], lines: list[int], columns: dict[str, list[str]], known: list[str],
            data: bytes, sha256: str, issues: list[Issue], long_cells: set[str]) -> tuple[CsvTable, list[Issue]]:
    """The table, with missing optional columns empty and cells past the limit cut short."""
    for name in known:
        columns.setdefault(name, [""] * len(lines))
    table = CsvTable(shown, header, lines, columns, data, sha256)
    for name in sorted(long_cells, key=header.index):
        values = columns[name]
        for index, value in enumerate(values):
            if len(value) > MAX_FIELD_CHARS:
                issues.append(issue("L006", table.where(index, name), f"cell is {len(value)} characters; the limit is {MAX_FIELD_CHARS}", name))
                values[index] = value[:MAX_FIELD_CHARS]
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
