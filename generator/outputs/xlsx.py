"""Excel firewall change requests: one workbook per role, build/xlsx/<role>.xlsx.

Each workbook lists every directed line the firewall of the role's hosts must
allow, in a layout chosen from `generator.xlsx_profiles`. Data text is always
written as text cells, never as formulas, and the same data always gives the
same bytes: document dates and zip entry times are fixed.
"""
from __future__ import annotations

import argparse
import datetime
import io
import os
import re
import shutil
import zipfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.writer.excel import ExcelWriter

from ..model import Model
from ..output_files import OutputFiles
from ..csvfile import display_path
from ..issues import settings_error
from ..provenance import git_text
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


def git_commit(folder: Path) -> str:
    """The last commit that changed the data folder ("" outside git or without git), marked
    when the folder differs from it. Not HEAD: a commit that leaves the data alone must not
    change every workbook."""
    commit = (git_text("log", "-1", "--format=%H", "--", ".", folder=folder) or "").strip()
    if not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return ""
    if git_text("status", "--porcelain", "--", ".", folder=folder):
        commit += " (the data folder has uncommitted changes)"
    return commit


class _CellSheet(WriteOnlyWorksheet):
    """A streamed sheet whose rows arrive as finished cells. openpyxl's own row conversion
    tries each value as a plain value first and only falls back to a cell after an
    exception, which costs more than writing the cell; this skips the attempt."""

    def _values_to_row(self, cells, row_idx):
        for col_idx, cell in enumerate(cells, 1):
            if cell is None:
                continue
            cell.column = col_idx
            cell.row = row_idx
            yield cell


def _add_sheet(workbook: Workbook, title: str) -> _CellSheet:
    sheet = _CellSheet(parent=workbook, title=title)
    workbook._add_sheet(sheet)
    return sheet


class _StyledCell(Cell):
    """A cell whose style id is known when it is made; openpyxl would look it up per cell."""

    __slots__ = ("style_id",)


class _Styles:
    """One styled template cell per kind; data cells share its style instead of building their own."""

    def __init__(self, sheet):
        self.sheet = sheet
        self._templates: dict[str, WriteOnlyCell] = {}
        self._ids: dict[str, int] = {}

    def template(self, kind: str) -> WriteOnlyCell:
        cell = self._templates.get(kind)
        if cell is None:
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
            self._templates[kind] = cell
            self._ids[kind] = cell.style_id
        return cell

    def cell(self, value, kind: str = "text") -> Cell | None:
        """A styled cell for `value`; None for empty text, which needs no cell at all."""
        if value == "" and kind not in ("input", "header"):
            return None
        template = self.template(kind)
        cell = _StyledCell(self.sheet)
        cell._style = template._style
        cell.style_id = self._ids[kind]
        if isinstance(value, str):
            # Assigned directly with the text type: a value starting with '=' stays text.
            cell._value = cell_text(value)
            cell.data_type = "s"
        else:
            cell.value = value
        return cell


def _widths(columns: list[Column], rows: list[list]) -> list[float]:
    """Widths that fit the longest line of each column, up to the column's wrap width."""
    widths = []
    for index, column in enumerate(columns):
        if column.kind in (DECISION, REVIEW):
            widths.append(column.max_width)  # room for what the reviewer will write
            continue
        longest = max((len(word) for word in column.title.split()), default=4)
        for values in rows:
            value = values[index]
            if isinstance(value, str):
                if "\n" in value:
                    longest = max(longest, *(len(part) for part in value.split("\n")))
                else:
                    longest = max(longest, len(value))
                if longest >= column.max_width:
                    break
            else:
                longest = max(longest, len(str(value)))
        widths.append(min(longest, column.max_width) + 2)
    return widths


# Points per line of wrapped 11-point text, and the tallest row a spreadsheet allows.
LINE_HEIGHT = 15
MAX_ROW_HEIGHT = 409


def _row_height(values: list, widths: list[float]) -> float | None:
    """Height that shows every line of the row's wrapped cells, or None for one line.
    Spreadsheets do not size rows to wrapped text on opening a file that leaves the
    height out (LibreOffice prints overlapping text), so it is estimated here."""
    lines = 1
    for value, width in zip(values, widths):
        if isinstance(value, str) and (len(value) > width - 2 or "\n" in value):
            per_line = max(int(width) - 2, 1)
            lines = max(lines, sum(-(-len(part) // per_line) or 1 for part in value.split("\n")))
    return min(lines * LINE_HEIGHT, MAX_ROW_HEIGHT) if lines > 1 else None


def _request_sheet(workbook: Workbook, profile: Profile, columns: list[Column], rows: list[list], data_name: str) -> None:
    sheet = _add_sheet(workbook, profile.sheet_title)
    styles = _Styles(sheet)
    widths = _widths(columns, rows)
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    last_column = get_column_letter(len(columns))
    last_row = len(rows) + 1
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{last_column}{last_row}"
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
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
    workbook.defined_names[data_name] = DefinedName(
        data_name, attr_text=f"'{profile.sheet_title}'!$A$1:${last_column}${last_row}")

    sheet.append([styles.cell(column.title, "header") for column in columns])
    kinds = [column.kind for column in columns]
    for row_index, values in enumerate(rows, 2):
        height = _row_height(values, widths)
        if height is not None:
            sheet.row_dimensions[row_index].height = height
        sheet.append([styles.cell(value, kind) for value, kind in zip(values, kinds)])


def _cover_sheet(workbook: Workbook, facts: RowFacts, title: str, roles: list[str], lines: list[RequestLine],
                 columns: list[Column], commit: str) -> None:
    model = facts.model
    sheet = _add_sheet(workbook, "Cover")
    styles = _Styles(sheet)
    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions["B"].width = 70
    sheet.column_dimensions["C"].width = 24
    sheet.column_dimensions["D"].width = 24
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True

    def pair(label: str, value, kind: str = "text") -> None:
        sheet.append([styles.cell(label, "label"), styles.cell(value, kind)])

    def heading(*titles: str) -> None:
        sheet.append([])
        sheet.append([styles.cell(text, "header") for text in titles])

    sheet.append([styles.cell(title, "title")])
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
        source = dataset.source
        described = f"{dataset.title}\nSource: {source.title}" + (f" ({source.publisher})" if source.publisher else "")
        if source.url:
            described += f"\n{source.url}"
        sheet.append([styles.cell(dataset.short_title or dataset.id, "label"), styles.cell(described),
                      styles.cell(dataset.version), styles.cell(dataset.id)])

    heading("Generated from", "")
    pair("Data fingerprint (sha256)", model.fingerprint)
    pair("Git commit of the data", commit or "not available (the data is not in a git checkout)")
    for path in sorted(model.files):
        pair(path, f"sha256 {model.files[path]}")

    heading("Column", "Meaning")
    for column in columns:
        pair(column.title, column.legend)


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


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry one date and the same permissions, whatever the clock says."""

    def __init__(self, file, date: datetime.datetime):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._date_time = date.timetuple()[:6]

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        name = zinfo_or_arcname.filename if isinstance(zinfo_or_arcname, zipfile.ZipInfo) else zinfo_or_arcname
        super().writestr(self._info(name), data)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        # openpyxl streams write-only sheets through a temporary file.
        with open(filename, "rb") as source, self.open(self._info(arcname or os.path.basename(filename)), "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, 1 << 20)


def _workbook(model: Model, lines: list[RequestLine], *, title: str, roles: list[str], profile: Profile,
              with_action: bool, commit: str, facts: RowFacts | None = None) -> bytes:
    columns = list(profile.columns)
    if with_action:
        columns.insert(profile.action_at, profile.action)
    facts = facts or RowFacts(model)  # one per build when given: its caches serve every workbook
    getters = [column.value for column in columns]
    rows = []
    for number, line in enumerate(lines, 1):
        row = Row(number, line, facts)
        rows.append([value(row) for value in getters])
    workbook = Workbook(write_only=True)
    if profile.cover:
        _cover_sheet(workbook, facts, title, roles, lines, columns, commit)
    _request_sheet(workbook, profile, columns, rows, "RequestLines")
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
                     commit=git_commit(model.settings.path.parent))


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
    commit = git_commit(model.settings.path.parent)
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
                                                    with_action=False, commit=commit, facts=facts))
    return [f"role {role} has no inventory addresses: {count} lines use a placeholder"
            for role, count in placeholder_lines.items()]
