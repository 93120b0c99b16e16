"""Excel firewall change requests: one workbook per role, build/xlsx/<role>.xlsx, and one
for the whole change, build/xlsx/_all-roles.xlsx.

Each role's workbook lists every directed line the firewall of the role's hosts must
allow, in a layout chosen from `profiles`; the whole change's lists each directed line
of the data once. Data text is always written as text
cells, never as formulas, and the same data always gives the same bytes
(`archive`). The cover names what the request lists (`provenance`), not the
whole data, so an edited row changes the workbooks listing it and leaves the
others' bytes as they were. openpyxl's write-only workbook writes the sheets
(`sheets`).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Iterator

from openpyxl import Workbook

from ...build_inputs import BuildInputs
from ...errors import SettingsError
from ...model import Flow, Model
from ...output_files import OutputFiles
from ...provenance import DataHistory, Provenance, provenance
from ...views import INBOUND, RequestLine, role_lines
from .archive import workbook_bytes
from .profiles import DEFAULT_PROFILE, PROFILES, Profile, Row, RowFacts
from .sheets import add_named_styles, cover_sheet, request_sheet

__all__ = ["ALL_ROLES_WORKBOOK", "PlannedWorkbook", "add_arguments", "all_lines", "build", "change_request_workbook",
           "planned_workbooks", "request_table", "selected_profile"]

# The workbook of the whole change, beside one per role (<role id>.xlsx): role ids start
# with a lower-case letter or digit (schema.ID_PATTERN), so no role's workbook has this name.
ALL_ROLES_WORKBOOK = "_all-roles.xlsx"
ALL_ROLES_TITLE = "all roles"


def all_lines(model: Model) -> list[RequestLine]:
    """Every directed line of the data once, in data order, each for the role accepting
    it: the per-role workbooks list a line between two roles in both roles' books."""
    return [RequestLine(flow, destination, INBOUND, source, destination)
            for flow in model.flows for source, destination in flow.directions()]


@dataclass(frozen=True)
class PlannedWorkbook:
    """One workbook `build` writes: its file name, what its cover names, the lines it lists
    and the flows they come from (what its digest covers)."""

    name: str
    title: str
    roles: list[str]
    lines: list[RequestLine]
    flows: list[Flow]
    whole_change: bool  # the workbook of every role, beside the per-role ones


def planned_workbooks(model: Model) -> Iterator[PlannedWorkbook]:
    """Every workbook of the build, in the order it writes them: one per role, then the
    whole change's. One at a time, so that only one workbook's lines are held."""
    for role in model.roles:
        yield PlannedWorkbook(f"{role.id}.xlsx", f"Firewall change request: {role.name}", [role.id],
                              role_lines(model, role.id), model.flows_by_role.get(role.id, []), False)
    yield PlannedWorkbook(ALL_ROLES_WORKBOOK, f"Firewall change request: {ALL_ROLES_TITLE}",
                          [role.id for role in model.roles], all_lines(model), model.flows, True)


def request_table(lines: list[RequestLine], profile: Profile, facts: RowFacts) -> list[list]:
    """The request sheet's cell values, column by column ("" for an empty cell)."""
    rows = [Row(number, line, facts) for number, line in enumerate(lines, 1)]
    return [list(map(column.value, rows)) for column in profile.columns]


def _source(model: Model, lines: list[RequestLine], roles: list[str], profile: Profile,
            history: DataHistory | None) -> Provenance | None:
    """What the cover names, for a profile with a cover."""
    return provenance(model, history, ((line.action, line.flow) for line in lines), roles) if profile.cover else None


def _workbook(model: Model, lines: list[RequestLine], *, title: str, roles: list[str], profile: Profile,
              source: Provenance | None, facts: RowFacts | None = None) -> bytes:
    columns = list(profile.columns)
    facts = facts or RowFacts(model)  # one per build when given: its caches serve every workbook
    table = request_table(lines, profile, facts)
    workbook = Workbook(write_only=True)
    styles = add_named_styles(workbook)
    if profile.cover:
        cover_sheet(workbook.create_sheet("Cover"), styles, facts, title, roles, lines, columns, source)
    request_sheet(workbook.create_sheet(profile.sheet_title), styles, columns, table, "RequestLines")
    return workbook_bytes(workbook)


def _profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown xlsx profile {name!r}; known: {', '.join(PROFILES)}") from None


def change_request_workbook(model: Model, lines: list[RequestLine], *, title: str, profile: str = "change-request") -> bytes:
    """A change request listing `lines` with their action (add/remove), in the layout of `profile`."""
    roles = list(dict.fromkeys(line.role for line in lines))
    layout = _profile(profile)
    return _workbook(model, lines, title=title, roles=roles, profile=layout,
                     source=_source(model, lines, roles, layout, DataHistory(model)))


def add_arguments(group) -> None:
    group.add_argument("--xlsx-profile", choices=sorted(PROFILES), default=None,
                       help=f"workbook layout (default: [xlsx] profile in portbook.toml, else {DEFAULT_PROFILE})")


def selected_profile(model: Model, args: argparse.Namespace) -> Profile:
    name = getattr(args, "xlsx_profile", None)
    if name:
        return _profile(name)
    name = str(model.settings.section("xlsx").get("profile", DEFAULT_PROFILE))
    if name not in PROFILES:
        # A bad setting is bad input: reported like the loader's messages, without a traceback.
        raise SettingsError(model.settings.location("xlsx.profile"),
                            f"[xlsx] profile {name!r} is not a known layout; known: {', '.join(PROFILES)}")
    return PROFILES[name]


def build(model: Model, files: OutputFiles, args: argparse.Namespace) -> list[str]:
    profile = selected_profile(model, args)
    history = DataHistory(model)  # git blame of each data file, once for every workbook
    uncovered = {role.id for role in model.roles if not model.hosts_of_role(role.id)}
    placeholder_lines: dict[str, int] = {}
    facts = RowFacts(model)
    inputs = BuildInputs(model, files.name, {"profile": profile.name})

    for book in planned_workbooks(model):
        if not book.whole_change:
            for line in book.lines:
                for end in {line.source, line.destination} & uncovered:
                    placeholder_lines[end] = placeholder_lines.get(end, 0) + 1
        # Made only when its rows, or what its cover names of them, changed.
        source = _source(model, book.lines, book.roles, profile, history)
        files.derive(book.name, inputs.of(book.flows, profile.name, book.title, book.roles, source),
                     lambda book=book, source=source: _workbook(model, book.lines, title=book.title, roles=book.roles,
                                                                profile=profile, source=source, facts=facts))
    return [f"role {role} has no inventory addresses: {count} lines use a placeholder"
            for role, count in placeholder_lines.items()]
