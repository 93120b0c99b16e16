"""Excel firewall change requests: one workbook per role, build/xlsx/<role>.xlsx.

Each workbook lists every directed line the firewall of the role's hosts must
allow, in a layout chosen from `generator.xlsx_profiles`. Data text is always
written as text cells, never as formulas, and the same data always gives the
same bytes: document dates and zip entry times are fixed. The cover names what
the request lists (`generator.provenance`), not the whole data, so an edited row
changes the workbooks listing it and leaves the others' bytes as they were.

openpyxl writes the workbook; the sheets' rows are made here as the XML text
openpyxl would write for them, since its per-cell writer took most of the time.
"""
from __future__ import annotations

import argparse
import datetime
import io
import os
import re
import shutil
import tempfile
import zipfile
from itertools import repeat
from typing import Iterable, Iterator

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter

from ..model import Model
from ..output_files import OutputFiles
from ..csvfile import display_path
from ..issues import settings_error
from ..provenance import ROWS_HASH_COVERS, DataHistory, Provenance, provenance
from ..views import INBOUND, RequestLine, role_addresses, role_lines
from ..xlsx_profiles import DECISION, DECISIONS, DEFAULT_PROFILE, PORT, PROFILES, REVIEW, Column, Profile, Row, RowFacts

CREATOR = "portbook"
# Zip entries cannot be dated before 1980; it is also the date used when SOURCE_DATE_EPOCH is unset.
EARLIEST = datetime.datetime(1980, 1, 1)

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")

# Characters XML cannot carry, and CR (which XML readers turn into LF): written with the
# spreadsheet's own _xHHHH_ escape, which also has to protect text that looks like one.
_NEEDS_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x0d\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")


def _escape(match: re.Match) -> str:
    text = match.group(0)
    return f"_x{ord(text):04X}_" if len(text) == 1 else f"_x005F{text}"


def cell_text(value: str) -> str:
    return _NEEDS_ESCAPE.sub(_escape, value) if _NEEDS_ESCAPE.search(value) else value


def document_date() -> datetime.datetime:
    """SOURCE_DATE_EPOCH when set (reproducible-builds.org), else a fixed date: never the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        date = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc).replace(tzinfo=None)
        return max(date, EARLIEST)
    return EARLIEST


class _Styles:
    """The style id of each kind of cell, registered in the workbook once through a styled
    template cell; every cell of that kind then refers to the id."""

    def __init__(self, sheet: WriteOnlyWorksheet):
        self.sheet = sheet
        self._ids: dict[str, int] = {}

    def __getitem__(self, kind: str) -> int:
        found = self._ids.get(kind)
        if found is None:
            cell = WriteOnlyCell(self.sheet)
            if kind == "header":
                cell.font, cell.fill, cell.border = HEADER_FONT, HEADER_FILL, BOX
                cell.alignment = Alignment(wrap_text=True, vertical="center")
            elif kind == "title":
                cell.font = Font(bold=True, size=14)
            elif kind == "label":
                cell.font = Font(bold=True)
                cell.alignment = WRAP
            elif kind == "input":
                cell.fill, cell.border, cell.alignment = INPUT_FILL, BOX, WRAP
            else:
                cell.alignment = WRAP
                if kind == PORT:
                    cell.number_format = "@"
            found = self._ids[kind] = cell.style_id
        return found


def _longest_line(texts: list[str]) -> int:
    """The longest line of any of `texts` (0 for none)."""
    if not texts:
        return 0
    if "\n" not in "\0".join(texts):  # the usual case, decided without a loop in Python
        return max(map(len, texts))
    return max(max(map(len, text.split("\n"))) if "\n" in text else len(text) for text in texts)


def _widths(columns: list[Column], table: list[list]) -> list[float]:
    """Widths that fit the longest line of each column, up to the column's wrap width.
    `table` holds the values column by column; each distinct value is measured once."""
    widths = []
    for column, values in zip(columns, table):
        if column.kind in (DECISION, REVIEW):
            widths.append(column.max_width)  # room for what the reviewer will write
            continue
        distinct = set(values)
        texts = [value for value in distinct if isinstance(value, str)]
        longest = max(max((len(word) for word in column.title.split()), default=4), _longest_line(texts),
                      *(len(str(value)) for value in distinct if not isinstance(value, str)))
        widths.append(min(longest, column.max_width) + 2)
    return widths


# Points per line of wrapped 11-point text, and the tallest row a spreadsheet allows.
LINE_HEIGHT = 15
MAX_ROW_HEIGHT = 409


def _wrapped_lines(value: str, width: float) -> int:
    per_line = max(int(width) - 2, 1)
    return sum(-(-len(part) // per_line) or 1 for part in value.split("\n"))


def _row_heights(table: list[list], widths: list[float]) -> list[int | None]:
    """Per row, the height that shows every line of its wrapped cells, or None for one line.
    Spreadsheets do not size rows to wrapped text on opening a file that leaves the height
    out (LibreOffice prints overlapping text), so it is estimated here, once per distinct
    value of each column."""
    counts = []
    for values, width in zip(table, widths):
        tall = {value: lines for value in set(values)
                if isinstance(value, str) and (len(value) > width - 2 or "\n" in value)
                and (lines := _wrapped_lines(value, width)) > 1}
        if tall:
            counts.append([tall.get(value, 1) for value in values])
    if not counts:
        return [None] * (len(table[0]) if table else 0)
    return [min(lines * LINE_HEIGHT, MAX_ROW_HEIGHT) if lines > 1 else None
            for lines in (map(max, *counts) if len(counts) > 1 else counts[0])]


# What _xml_text has to change: markup characters and whatever cell_text escapes.
_XML_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x0d\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")


def _xml_text(value: str) -> str:
    """Cell text as XML character data, with the spreadsheet escapes of `cell_text`."""
    if not _XML_SPECIAL.search(value):
        return value
    return cell_text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell_tail(value, style_id: int) -> str:
    """A cell's XML after its reference: style, type and value, as openpyxl writes them.
    Text is always an inline string, so a value starting with '=' stays text; an empty
    value leaves a styled blank cell."""
    if value == "":
        return f'" s="{style_id}"/>'
    if isinstance(value, str):
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f'" s="{style_id}" t="inlineStr"><is><t{space}>{_xml_text(value)}</t></is></c>'
    return f'" s="{style_id}" t="n"><v>{value}</v></c>'


def _row_xml(number: int, cells: list[tuple[str, object, int]], height: int | None = None) -> str:
    """One <row> of (column letter, value, style id) cells."""
    start = f'<row r="{number}" ht="{height}" customHeight="1">' if height else f'<row r="{number}">'
    return start + "".join(f'<c r="{letter}{number}{_cell_tail(value, style_id)}' for letter, value, style_id in cells) + "</row>"


# Rows made into XML at a time: the cells of a whole large sheet as strings would take
# several times the memory of its values.
ROWS_PER_CHUNK = 2048
SHEET_IN_MEMORY = 4 * 1024 * 1024  # bytes of a sheet's markup held in memory before it spills to disk


def _rows_xml(columns: list[Column], style_ids: list[int], header_id: int, table: list[list],
              heights: list[int | None]) -> Iterator[str]:
    """The <row> elements of a request sheet, a chunk of rows at a time: the header, then
    one row per request line. Written as text rather than cell by cell through openpyxl,
    whose per-cell writer costs several times the rest of the workbook; the cells are the
    ones openpyxl would write. Built column by column: each distinct value of a column is
    turned into XML once."""
    letters = [get_column_letter(index) for index in range(1, len(columns) + 1)]
    yield _row_xml(1, [(letter, column.title, header_id) for letter, column in zip(letters, columns)])
    filled = []  # (cell opening, value -> rest of the cell, values) of the columns with any value
    for letter, style_id, values in zip(letters, style_ids, table):
        # An empty value needs no cell: the column style marks the reviewer's input columns.
        tails = {value: _cell_tail(value, style_id) for value in set(values) if value != ""}
        if tails:
            filled.append((f'<c r="{letter}', tails, values))
    for first in range(0, len(heights), ROWS_PER_CHUNK):
        last = min(first + ROWS_PER_CHUNK, len(heights))
        numbers = [str(number) for number in range(first + 2, last + 2)]
        starts = [f'<row r="{number}" ht="{height}" customHeight="1">' if height else f'<row r="{number}">'
                  for number, height in zip(numbers, heights[first:last])]
        cells = [[opening + number + tails[value] if value != "" else "" for number, value in zip(numbers, values[first:last])]
                 for opening, tails, values in filled]
        yield "".join(map("".join, zip(starts, *cells, repeat("</row>"))))


class _RowsWriter(WorksheetWriter):
    """openpyxl's streaming sheet writer, given the <sheetData> rows as finished XML text:
    openpyxl still writes everything around them (views, columns, filter, validation, page)."""

    def __init__(self, sheet: "_RowsSheet"):
        # A large role's sheet is megabytes of markup: past SHEET_IN_MEMORY it goes to
        # disk, and the zip streams it from there.
        self.buffer = tempfile.SpooledTemporaryFile(max_size=SHEET_IN_MEMORY)
        super().__init__(sheet, out=self.buffer)

    def write_rows(self):
        xf = self.xf.send(True)
        with xf.element("sheetData"):
            xf.flush()  # what lxml holds goes out before the rows are written beside it
            write = self.buffer.write
            for row in self.ws.rows_xml:
                write(row.encode("utf-8"))
        self.xf.send(None)

    def cleanup(self):
        pass  # nothing on disk to remove


class _RowsSheet(WriteOnlyWorksheet):
    """A write-only sheet whose rows are XML text made beforehand (see _row_xml)."""

    rows_xml: Iterable[str] = ()

    def _get_writer(self):
        if self._writer is None:
            self._writer = _RowsWriter(self)
            self._writer.write_top()


def _add_sheet(workbook: Workbook, title: str) -> _RowsSheet:
    sheet = _RowsSheet(parent=workbook, title=title)
    workbook._add_sheet(sheet)
    return sheet


def _fit_to_page_width(sheet: WriteOnlyWorksheet) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _request_sheet(sheet: _RowsSheet, styles: _Styles, columns: list[Column], table: list[list], data_name: str) -> None:
    """The request sheet; `table` holds the cell values column by column."""
    widths = _widths(columns, table)
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    last_column = get_column_letter(len(columns))
    last_row = len(table[0]) + 1 if table else 1
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{last_column}{last_row}"
    sheet.print_title_rows = "1:1"
    _fit_to_page_width(sheet)
    for index, column in enumerate(columns, 1):
        if column.kind in (DECISION, REVIEW):
            # A column style marks the review columns as input without writing an empty cell per row.
            dimension = sheet.column_dimensions[get_column_letter(index)]
            dimension.fill, dimension.alignment = INPUT_FILL, WRAP
        if column.kind == DECISION:
            letter = get_column_letter(index)
            choices = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"', allow_blank=True,
                                     showErrorMessage=True, errorTitle="Decision",
                                     error="Choose " + ", ".join(DECISIONS) + ".")
            choices.add(f"{letter}2:{letter}{max(last_row, 2)}")
            sheet.data_validations.append(choices)
    sheet.parent.defined_names[data_name] = DefinedName(
        data_name, attr_text=f"'{sheet.title}'!$A$1:${last_column}${last_row}")
    sheet.rows_xml = _rows_xml(columns, [styles[column.kind] for column in columns], styles["header"], table,
                               _row_heights(table, widths))


COVER_WIDTHS = (30, 70, 24, 24)


def _cover_sheet(sheet: _RowsSheet, styles: _Styles, facts: RowFacts, title: str, roles: list[str],
                 lines: list[RequestLine], columns: list[Column], source: Provenance) -> None:
    model = facts.model
    for index, width in enumerate(COVER_WIDTHS, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    _fit_to_page_width(sheet)
    rows: list[list[tuple[object, str]]] = []  # (value, kind) per cell; an empty list leaves a blank row

    def pair(label: str, value, kind: str = "text") -> None:
        rows.append([(label, "label"), (value, kind)])

    def heading(*titles: str) -> None:
        rows.append([])
        rows.append([(text, "header") for text in titles])

    rows.append([(title, "title")])
    inbound = sum(1 for line in lines if line.direction == INBOUND)
    for role in roles:
        found = model.role_by_id.get(role)
        pair("Role", f"{found.name} ({role})" if found else role)
        if found is not None:
            pair("Role description", found.description)
        pair("Addresses", facts.addresses(role))
    pair("Request lines", f"{len(lines)} ({inbound} inbound, {len(lines) - inbound} outbound)")

    heading("For the requester", "")
    for label in ("Ticket number", "Requester", "Change window"):
        pair(label, "", "input")

    heading("Dataset", "Title and source", "Version", "Identifier")
    used = {line.flow.dataset for line in lines}
    for dataset in model.datasets:
        if used and dataset.id not in used:
            continue
        origin = dataset.source
        described = f"{dataset.title}\nSource: {origin.title}" + (f" ({origin.publisher})" if origin.publisher else "")
        if origin.url:
            described += f"\n{origin.url}"
        rows.append([(dataset.short_title or dataset.id, "label"), (described, "text"), (dataset.version, "text"),
                     (dataset.id, "text")])

    # What this request lists, not the whole data: a change elsewhere leaves the workbook alone.
    heading("Generated from", "")
    pair("Data files", "\n".join(source.files))
    pair("Rows hash (sha256)", source.rows_hash)
    pair("The rows hash covers", ROWS_HASH_COVERS)
    pair("Git commit of these rows", source.commit)

    heading("Column", "Meaning")
    for column in columns:
        pair(column.title, column.legend)

    letters = [get_column_letter(index) for index in range(1, len(COVER_WIDTHS) + 1)]
    xml = []
    for number, cells in enumerate(rows, 1):
        # Empty text needs no cell, except where its style shows: a heading, a field to fill in.
        kept = [(letter, value, styles[kind]) for letter, (value, kind) in zip(letters, cells)
                if value != "" or kind in ("header", "input")]
        lines_needed = max((_wrapped_lines(value, width) for (value, kind), width in zip(cells, COVER_WIDTHS)
                            if isinstance(value, str) and kind != "title"), default=1)
        height = min(lines_needed * LINE_HEIGHT, MAX_ROW_HEIGHT) if lines_needed > 1 else None
        if kept:
            xml.append(_row_xml(number, kept, height))
    sheet.rows_xml = xml


def _save(workbook: Workbook) -> bytes:
    """Serialise with fixed document dates and zip entry times, so equal data gives equal bytes."""
    date = document_date()
    workbook.properties.creator = CREATOR
    workbook.properties.lastModifiedBy = CREATOR
    workbook.properties.created = date
    workbook.properties.modified = date
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save: save stamps the modified date with the clock.
    with _FixedTimeZip(buffer, date) as archive:
        ExcelWriter(workbook, archive).save()
    return buffer.getvalue()


# Deflate's fastest level: a third of the time of the default level for files a quarter
# larger; the sheets are mostly repeated markup, which even this level packs tenfold.
COMPRESS_LEVEL = 1


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry one date and the same permissions, whatever the clock says."""

    def __init__(self, file, date: datetime.datetime):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=COMPRESS_LEVEL)
        self._date_time = date.timetuple()[:6]

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        name = zinfo_or_arcname.filename if isinstance(zinfo_or_arcname, zipfile.ZipInfo) else zinfo_or_arcname
        super().writestr(self._info(name), data, compresslevel=COMPRESS_LEVEL)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        # openpyxl hands over a write-only sheet as what its writer wrote to: an open
        # temporary file here (_RowsWriter), a temporary file's path for openpyxl's own.
        if hasattr(filename, "read"):
            filename.seek(0)
            with self.open(self._info(arcname), "w") as entry:
                shutil.copyfileobj(filename, entry, 1024 * 1024)
            filename.close()
        else:
            with open(filename, "rb") as source:
                self.writestr(arcname or os.path.basename(filename), source.read())


def _workbook(model: Model, lines: list[RequestLine], *, title: str, roles: list[str], profile: Profile,
              with_action: bool, history: DataHistory | None, facts: RowFacts | None = None) -> bytes:
    columns = list(profile.columns)
    if with_action:
        columns.insert(profile.action_at, profile.action)
    facts = facts or RowFacts(model)  # one per build when given: its caches serve every workbook
    rows = [Row(number, line, facts) for number, line in enumerate(lines, 1)]
    table = [list(map(column.value, rows)) for column in columns]  # column by column
    workbook = Workbook(write_only=True)
    cover = _add_sheet(workbook, "Cover") if profile.cover else None
    requests = _add_sheet(workbook, profile.sheet_title)
    styles = _Styles(requests)
    if cover is not None:
        source = provenance(model, history, ((line.action, line.flow) for line in lines), roles)
        _cover_sheet(cover, styles, facts, title, roles, lines, columns, source)
    _request_sheet(requests, styles, columns, table, "RequestLines")
    return _save(workbook)


def _profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown xlsx profile {name!r}; known: {', '.join(PROFILES)}") from None


def change_request_workbook(model: Model, lines: list[RequestLine], *, title: str, profile: str = "change-request") -> bytes:
    """A change request listing `lines` with their action (add/remove), in the layout of `profile`."""
    roles = list(dict.fromkeys(line.role for line in lines))
    return _workbook(model, lines, title=title, roles=roles, profile=_profile(profile), with_action=True,
                     history=DataHistory(model))


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--xlsx-profile", choices=sorted(PROFILES), default=None,
                       help=f"workbook layout (default: [xlsx] profile in portbook.toml, else {DEFAULT_PROFILE})")


def selected_profile(model: Model, args: argparse.Namespace) -> Profile:
    name = getattr(args, "xlsx_profile", None)
    if name:
        return _profile(name)
    name = str(model.settings.section("xlsx").get("profile", DEFAULT_PROFILE))
    if name not in PROFILES:
        # A bad setting is bad input: reported like the loader's messages, without a traceback.
        raise settings_error(display_path(model.settings.path),
                             f"[xlsx] profile {name!r} is not a known layout; known: {', '.join(PROFILES)}")
    return PROFILES[name]


def build(model: Model, files: OutputFiles, args: argparse.Namespace) -> list[str]:
    profile = selected_profile(model, args)
    history = DataHistory(model)  # git blame of each data file, once for every workbook
    uncovered = {role.id for role in model.roles if not role_addresses(model, role.id)}
    placeholder_lines: dict[str, int] = {}
    facts = RowFacts(model)
    for role in model.roles:
        lines = role_lines(model, role.id)
        for line in lines:
            for end in {line.source, line.destination} & uncovered:
                placeholder_lines[end] = placeholder_lines.get(end, 0) + 1
        title = f"Firewall change request: {role.name}"
        files.add(f"{role.id}.xlsx", _workbook(model, lines, title=title, roles=[role.id], profile=profile,
                                                with_action=False, history=history, facts=facts))
    return [f"role {role} has no inventory addresses: {count} lines use a placeholder"
            for role, count in placeholder_lines.items()]
