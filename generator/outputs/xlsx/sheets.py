"""The cover and request sheets, written through openpyxl's write-only worksheets.

Every kind of cell has one named style, registered in the workbook once. Each
distinct value of a column becomes one cell, appended again in every row that
shows it: a write-only sheet writes a row out as it is appended, so the cell is
free again for the next row, and each value is escaped and typed once.
"""
from __future__ import annotations

import re
from typing import Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.styles.borders import DEFAULT_BORDER
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from ...views import INBOUND, RequestLine
from .profiles import DECISION, DECISIONS, NAMED, NUMBER, PORT, REVIEW, Column, RowFacts
from ...provenance import ROWS_HASH_COVERS, Provenance



def body_font(**changes) -> Font:
    """The workbook's default font (Calibri 11) with `changes`: a named style without a font
    of its own would carry an empty one, which spreadsheets fill in as they please."""
    default = {"name": DEFAULT_FONT.name, "sz": DEFAULT_FONT.sz, "family": DEFAULT_FONT.family,
               "scheme": DEFAULT_FONT.scheme, "color": DEFAULT_FONT.color}
    return Font(**{**default, **changes})


HEADER_FONT = body_font(b=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")

# Cell kinds that are not column kinds.
HEADER = "header"
TITLE = "title"
LABEL = "label"
INPUT = "input"


def named_styles() -> dict[str, NamedStyle]:
    """Cell kind -> its named style (shown under these names in the spreadsheet's style list).
    Made anew for each workbook: a named style belongs to the workbook it is added to."""
    plain = {"font": DEFAULT_FONT, "border": DEFAULT_BORDER}
    return {
        HEADER: NamedStyle("Request header", font=HEADER_FONT, fill=HEADER_FILL, border=BOX,
                           alignment=Alignment(wrap_text=True, vertical="center")),
        TITLE: NamedStyle("Request title", font=body_font(b=True, sz=14), border=DEFAULT_BORDER),
        LABEL: NamedStyle("Request label", font=body_font(b=True), border=DEFAULT_BORDER, alignment=WRAP),
        INPUT: NamedStyle("Request field", font=DEFAULT_FONT, fill=INPUT_FILL, border=BOX, alignment=WRAP),
        "text": NamedStyle("Request text", alignment=WRAP, **plain),
        NUMBER: NamedStyle("Request number", alignment=WRAP, **plain),
        # Text in the spreadsheet too, so 49152-65535 never becomes a date or a sum.
        PORT: NamedStyle("Request port", alignment=WRAP, number_format="@", **plain),
    }


def add_named_styles(workbook: Workbook) -> dict[str, str]:
    """Register the named styles in `workbook`; cell kind -> style name."""
    names = {}
    for kind, style in named_styles().items():
        workbook.add_named_style(style)
        names[kind] = style.name
    return names


# Characters XML cannot carry, and CR (which XML readers turn into LF): written with the
# spreadsheet's own _xHHHH_ escape, which also has to protect text that looks like one.
_NEEDS_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x0d\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")


def _escape(match: re.Match) -> str:
    text = match.group(0)
    return f"_x{ord(text):04X}_" if len(text) == 1 else f"_x005F{text}"


def cell_text(value: str) -> str:
    return _NEEDS_ESCAPE.sub(_escape, value) if _NEEDS_ESCAPE.search(value) else value


def make_cell(sheet, value, style: str) -> WriteOnlyCell:
    """A styled cell holding `value`; text always as a text cell, never a formula or an
    error value ("=1+1", "#N/A"), with the characters XML cannot carry escaped."""
    if value == "":
        cell = WriteOnlyCell(sheet)  # a styled blank: a heading's empty cell, a field to fill in
    elif isinstance(value, str):
        cell = WriteOnlyCell(sheet, cell_text(value))
        cell.data_type = "s"
    else:
        cell = WriteOnlyCell(sheet, value)
    cell.style = style
    return cell


def _longest_line(texts: list[str]) -> int:
    """The longest line of any of `texts` (0 for none)."""
    if not texts:
        return 0
    if "\n" not in "\0".join(texts):  # the usual case, decided without a loop in Python
        return max(map(len, texts))
    return max(max(map(len, text.split("\n"))) if "\n" in text else len(text) for text in texts)


def column_widths(columns: list[Column], table: list[list]) -> list[float]:
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


def wrapped_lines(value: str, width: float) -> int:
    per_line = max(int(width) - 2, 1)
    return sum(-(-len(part) // per_line) or 1 for part in value.split("\n"))


def row_heights(table: list[list], widths: list[float]) -> list[int | None]:
    """Per row, the height that shows every line of its wrapped cells, or None for one line.
    Spreadsheets do not size rows to wrapped text on opening a file that leaves the height
    out (LibreOffice prints overlapping text), so it is estimated here, once per distinct
    value of each column."""
    counts = []
    for values, width in zip(table, widths):
        tall = {value: lines for value in set(values)
                if isinstance(value, str) and (len(value) > width - 2 or "\n" in value)
                and (lines := wrapped_lines(value, width)) > 1}
        if tall:
            counts.append([tall.get(value, 1) for value in values])
    if not counts:
        return [None] * (len(table[0]) if table else 0)
    return [min(lines * LINE_HEIGHT, MAX_ROW_HEIGHT) if lines > 1 else None
            for lines in (map(max, *counts) if len(counts) > 1 else counts[0])]


def print_setup(sheet) -> None:
    """A4 landscape at full size: columns that do not fit go on to the next page rather
    than shrinking the text (fit-to-width printed a wide request at 3 points)."""
    sheet.page_setup.orientation = Worksheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.scale = 100
    # A set of lines is printed across all its columns before the next set begins.
    sheet.page_setup.pageOrder = "overThenDown"
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.5


def _set_widths(sheet, widths: Iterable[float]) -> None:
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def request_sheet(sheet, styles: dict[str, str], columns: list[Column], table: list[list], data_name: str) -> None:
    """Write the request sheet: a header row, then one row per request line. `table` holds
    the cell values column by column."""
    widths = column_widths(columns, table)
    _set_widths(sheet, widths)
    last_column = get_column_letter(len(columns))
    last_row = len(table[0]) + 1 if table else 1
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{last_column}{last_row}"
    # Every printed page repeats the header row, and a page of further columns the line number.
    sheet.print_title_rows = "1:1"
    if columns and columns[0].kind == NUMBER:
        sheet.print_title_cols = "A:A"
    sheet.print_options.gridLines = True
    print_setup(sheet)
    for index, column in enumerate(columns, 1):
        letter = get_column_letter(index)
        if column.kind in (DECISION, REVIEW):
            # A column style marks the review columns as input without writing an empty cell per row.
            dimension = sheet.column_dimensions[letter]
            dimension.fill, dimension.alignment = INPUT_FILL, WRAP
        if column.kind == DECISION:
            choices = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"', allow_blank=True,
                                     showErrorMessage=True, errorTitle="Decision",
                                     error="Choose " + ", ".join(DECISIONS) + ".")
            choices.add(f"{letter}2:{letter}{max(last_row, 2)}")
            sheet.data_validations.append(choices)
    sheet.parent.defined_names[data_name] = DefinedName(
        data_name, attr_text=f"'{sheet.title}'!$A$1:${last_column}${last_row}")

    # A title wider than its column wraps: the header row shows every line of it.
    header_lines = max((wrapped_lines(column.title, width) for column, width in zip(columns, widths)), default=1)
    if header_lines > 1:
        sheet.row_dimensions[1].height = header_lines * LINE_HEIGHT
    for number, height in enumerate(row_heights(table, widths), 2):
        if height:
            sheet.row_dimensions[number].height = height
    sheet.append([make_cell(sheet, column.title, styles[HEADER]) for column in columns])
    # Column by column, one cell per distinct value; an empty value is no cell at all
    # (None), the column style marks the reviewer's input columns.
    cells_by_column = []
    for column, values in zip(columns, table):
        style = styles[column.kind] if column.kind in styles else styles["text"]
        cells = {value: make_cell(sheet, value, style) for value in set(values) if value != ""}
        cells[""] = None
        cells_by_column.append(map(cells.__getitem__, values))
    for row in zip(*cells_by_column):
        sheet.append(row)


# The fields of the whole request; Owner, Environment and Expiry hold for every line that
# leaves its own empty.
REQUEST_FIELDS = ("Ticket number", "Requester", "Request owner", "Request environment", "Request expiry (YYYY-MM-DD)",
                  "Change window")

COVER_WIDTHS = (24, 54, 14, 14)  # together within an A4 landscape page


def cover_sheet(sheet, styles: dict[str, str], facts: RowFacts, title: str, roles: list[str],
                lines: list[RequestLine], columns: list[Column], source: Provenance) -> None:
    """Write the cover: the request's roles and data, fields for the requester, the
    provenance of the listed rows and the legend of the request sheet's columns."""
    model = facts.model
    _set_widths(sheet, COVER_WIDTHS)
    print_setup(sheet)
    rows: list[list[tuple[object, str]]] = []  # (value, kind) per cell; an empty list leaves a blank row

    def pair(label: str, value, kind: str = "text") -> None:
        rows.append([(label, LABEL), (value, kind)])

    def heading(*titles: str) -> None:
        rows.append([])
        rows.append([(text, HEADER) for text in titles])

    rows.append([(title, TITLE)])
    inbound = sum(1 for line in lines if line.direction == INBOUND)
    for role in roles:
        found = model.role_by_id.get(role)
        pair("Role", f"{found.name} ({role})" if found else role)
        if found is not None:
            pair("Role description", found.description)
        pair("Addresses", facts.address_text(role, None, NAMED))
    pair("Request lines", f"{len(lines)} ({inbound} inbound, {len(lines) - inbound} outbound)")

    heading("For the requester", "")
    for label in REQUEST_FIELDS:
        pair(label, "", INPUT)

    heading("Dataset", "Title and source", "Version", "Identifier")
    used = {line.flow.dataset for line in lines}
    for dataset in model.datasets:
        if used and dataset.id not in used:
            continue
        origin = dataset.source
        described = f"{dataset.title}\nSource: {origin.title}" + (f" ({origin.publisher})" if origin.publisher else "")
        if origin.url:
            described += f"\n{origin.url}"
        rows.append([(dataset.short_title or dataset.id, LABEL), (described, "text"), (dataset.version, "text"),
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

    for number, cells in enumerate(rows, 1):
        lines_needed = max((wrapped_lines(value, width) for (value, kind), width in zip(cells, COVER_WIDTHS)
                            if isinstance(value, str) and kind != TITLE), default=1)
        if lines_needed > 1:
            sheet.row_dimensions[number].height = min(lines_needed * LINE_HEIGHT, MAX_ROW_HEIGHT)
        # Empty text needs no cell, except where its style shows: a heading, a field to fill in.
        sheet.append([make_cell(sheet, value, styles[kind]) if value != "" or kind in (HEADER, INPUT) else None
                      for value, kind in cells])
