"""Column layouts of the Excel change requests, written down as tables.

A profile is a list of columns; each column is a title, a function from one
request row to its cell value, and a line of legend for the cover sheet. A new
layout is a new entry in PROFILES, not new code in the workbook writer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...model import Flow, Host, Model
from ...views import RequestLine, flow_url

# What a column holds; the writer styles and validates cells by kind.
TEXT = "text"  # free text, wrapped
PORT = "port"  # port or range: text in Excel too, so 49152-65535 never becomes a date or a sum
NUMBER = "number"  # the request line number
DECISION = "decision"  # empty, with a drop-down of DECISIONS
REVIEW = "review"  # empty, for the reviewer to fill in

DECISIONS = ("Approved", "Rejected", "Needs information")
ADDRESS_SEPARATOR = "\n"


def placeholder(role: str) -> str:
    """Stands in for the addresses of a role the inventory does not cover."""
    return f"<to be filled: {role} addresses>"


class RowFacts:
    """Lookups the columns share while one workbook is written, each computed once."""

    def __init__(self, model: Model):
        self.model = model
        self.hosts_found: dict[str, list[Host]] = {}
        self.address_texts: dict[tuple[str, str], str] = {}
        self.references: dict[tuple[str, str], str] = {}

    def hosts(self, role: str) -> list[Host]:
        found = self.hosts_found.get(role)
        if found is None:
            found = self.hosts_found[role] = self.model.hosts_of_role(role)
        return found

    def role_name(self, role: str) -> str:
        return self.model.role_name(role)

    def address_text(self, role: str, with_names: bool) -> str:
        key = (role, "named" if with_names else "bare")
        text = self.address_texts.get(key)
        if text is None:
            hosts = self.hosts(role)
            shown = (f"{host.address} ({host.host})" if with_names else host.address for host in hosts)
            text = self.address_texts[key] = ADDRESS_SEPARATOR.join(shown) if hosts else placeholder(role)
        return text

    def addresses(self, role: str) -> str:
        """Addresses with host names, one a line; a placeholder when the inventory has none."""
        return self.address_text(role, with_names=True)

    def bare_addresses(self, role: str) -> str:
        """Addresses only, one a line, as import tools read them; a placeholder when there are none."""
        return self.address_text(role, with_names=False)

    def reference(self, flow: Flow) -> str:
        key = (flow.dataset, flow.reference)
        text = self.references.get(key)
        if text is None:
            dataset = self.model.dataset_by_id.get(flow.dataset)
            if dataset is None:
                text = flow.reference
            else:
                section = dataset.sections.get(flow.reference)
                text = dataset.source.title
                if section is not None:
                    text += f", section: {section.title}"
                    if section.anchor:
                        text += f" (#{section.anchor})"
                elif flow.reference:
                    text += f", section: {flow.reference}"
                if dataset.source.url:
                    anchor = f"#{section.anchor}" if section is not None and section.anchor else ""
                    text += f"\n{dataset.source.url}{anchor}"
            self.references[key] = text
        return text

    def url(self, flow: Flow) -> str:
        return flow_url(self.model, flow.id)


@dataclass(frozen=True)
class Row:
    """One data row of a request sheet: a numbered request line and the shared lookups."""

    number: int
    line: RequestLine
    facts: RowFacts


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Row], str | int]
    legend: str
    kind: str = TEXT
    max_width: int = 40  # wider text wraps


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    sheet_title: str
    columns: tuple[Column, ...]
    cover: bool  # a cover sheet with the request's context and fields for the requester
    action: Column  # added when a request lists changes between two versions of the data
    action_at: int  # position of that column


def _service(row: Row) -> str:
    return row.line.flow.label


def _empty(row: Row) -> str:
    return ""


ACTION = Column("Action", lambda row: row.line.action, "Whether the line is to be added or removed (a change between two versions of the data).", max_width=10)

CHANGE_REQUEST = Profile(
    name="change-request",
    description="A cover sheet and one request row per directed line, with review columns.",
    sheet_title="Requests",
    cover=True,
    action=ACTION,
    action_at=1,
    columns=(
        Column("Line", lambda row: row.number, "Request line number, for references in the review.", NUMBER, 8),
        Column("Flow", lambda row: row.line.flow.id, "Identifier of the flow in the data; stable across versions.", max_width=30),
        Column("Direction", lambda row: row.line.direction, "Inbound or outbound, seen from the role this request is for.", max_width=10),
        Column("Source role", lambda row: row.facts.role_name(row.line.source), "Role of the hosts that open the connection."),
        Column("Source addresses", lambda row: row.facts.addresses(row.line.source), "Inventory addresses of the source role, or a placeholder to fill in.", max_width=32),
        Column("Destination role", lambda row: row.facts.role_name(row.line.destination), "Role of the hosts that accept the connection."),
        Column("Destination addresses", lambda row: row.facts.addresses(row.line.destination), "Inventory addresses of the destination role, or a placeholder to fill in.", max_width=32),
        Column("Transport", lambda row: row.line.flow.transport, "tcp, udp, or any.", max_width=10),
        Column("Port or range", lambda row: row.line.flow.port_text, "Destination port, range of ports, or any.", PORT, 14),
        Column("Application", lambda row: row.line.flow.program, "Program the rule is bound to, when the rule is a program exception."),
        Column("Service", lambda row: row.line.flow.service, "Registered service name of the port."),
        Column("Business justification", lambda row: row.line.flow.purpose, "Why the traffic is needed.", max_width=60),
        Column("Condition", lambda row: row.line.flow.condition, "When the line applies; empty when always.", max_width=40),
        Column("Source reference", lambda row: row.facts.reference(row.line.flow), "The published document and section the line comes from.", max_width=50),
        Column("Site link", lambda row: row.facts.url(row.line.flow), "The flow on the documentation site.", max_width=50),
        Column("Decision", _empty, "Reviewer's decision: " + ", ".join(DECISIONS) + ".", DECISION, 18),
        Column("Reviewer", _empty, "Who reviewed the line.", REVIEW, 18),
        Column("Comment", _empty, "Reviewer's comment.", REVIEW, 40),
    ),
)

# One traffic line per row, in the columns that firewall change-management tools
# import from a spreadsheet (AlgoSec FireFlow's traffic upload reads this shape).
TRAFFIC_LINES = Profile(
    name="traffic-lines",
    description="One sheet, one traffic line per row: source, destination, service, application, action, comment.",
    sheet_title="Traffic",
    cover=False,
    action=Column("Change", lambda row: row.line.action, "Whether the line is to be added or removed.", max_width=10),
    action_at=0,
    columns=(
        Column("Source", lambda row: row.facts.bare_addresses(row.line.source), "Addresses of the hosts that open the connection.", max_width=32),
        Column("Destination", lambda row: row.facts.bare_addresses(row.line.destination), "Addresses of the hosts that accept the connection.", max_width=32),
        Column("Service", _service, "Port and transport, as port/transport.", PORT, 18),
        Column("Application", lambda row: row.line.flow.program, "Program the rule is bound to, if any."),
        Column("Action", lambda row: "Allow", "Firewall action.", max_width=8),
        Column(
            "Comment",
            lambda row: f"{row.line.flow.id}: {row.facts.role_name(row.line.source)} to {row.facts.role_name(row.line.destination)}. {row.line.flow.purpose}",
            "Flow identifier, roles and business justification.",
            max_width=70,
        ),
    ),
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (CHANGE_REQUEST, TRAFFIC_LINES)}
DEFAULT_PROFILE = CHANGE_REQUEST.name
