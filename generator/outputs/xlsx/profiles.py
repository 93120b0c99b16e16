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
# One address or network per line of a cell, as change-management tools import them.
ADDRESS_SEPARATOR = "\n"

# How the inventory entries of an address cell are shown.
NAMED = "named"  # 192.0.2.10 (dpm01)
BARE = "bare"  # 192.0.2.10
HOST_NAMES = "host names"  # dpm01
SHOWN = {
    NAMED: lambda host: f"{host.address} ({host.host})",
    BARE: lambda host: host.address,
    HOST_NAMES: lambda host: host.host,
}

# What the firewall is to do with a line: allow it, or take away the rule that allows it
# (a line the change between two versions of the data drops).
ALLOW = "allow"
REMOVE = "remove"


def placeholder(role: str) -> str:
    """Stands in for the addresses of a role the inventory does not cover."""
    return f"<to be filled: {role} addresses>"


class RowFacts:
    """Lookups the columns share while one workbook is written, each computed once."""

    def __init__(self, model: Model):
        self.model = model
        self.hosts_found: dict[str, list[Host]] = {}
        self.address_texts: dict[tuple, str] = {}
        self.references: dict[tuple[str, str], str] = {}

    def hosts(self, role: str) -> list[Host]:
        found = self.hosts_found.get(role)
        if found is None:
            found = self.hosts_found[role] = self.model.hosts_of_role(role)
        return found

    def role_name(self, role: str) -> str:
        return self.model.role_name(role)

    def address_text(self, role: str, carried: tuple[Host, ...] | None, shown: str) -> str:
        """One text per inventory entry, one a line, as `shown` says: NAMED "192.0.2.10
        (dpm01)", BARE "192.0.2.10", HOST_NAMES "dpm01". The entries are `carried`, or
        when None the inventory's for `role`; a placeholder when there is none."""
        key = (role, shown, carried)
        text = self.address_texts.get(key)
        if text is None:
            hosts = self.hosts(role) if carried is None else carried
            if not hosts:
                text = placeholder(role) if shown != HOST_NAMES else ""
            else:
                text = ADDRESS_SEPARATOR.join(map(SHOWN[shown], hosts))
            self.address_texts[key] = text
        return text

    def source(self, line: RequestLine, shown: str) -> str:
        return self.address_text(line.source, line.source_hosts, shown)

    def destination(self, line: RequestLine, shown: str) -> str:
        return self.address_text(line.destination, line.destination_hosts, shown)

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


def _service(row: Row) -> str:
    return row.line.flow.label


def _empty(row: Row) -> str:
    return ""


def _action(row: Row) -> str:
    return REMOVE if row.line.action == "remove" else ALLOW


ACTION = Column("Action", _action, f"{ALLOW}: the firewall is to allow the line; {REMOVE}: the rule allowing it is to be "
                "taken away (a line the new version of the data no longer needs).", max_width=8)

# Fields of the change a network team records per line; the data has no such columns, so
# they are left to fill in, as the review columns are.
OWNER = Column("Owner", _empty, "Who answers for the line (a person or team); empty: the request's owner.", REVIEW, 18)
ENVIRONMENT = Column("Environment", _empty, "Environment the line is for (production, test, ...); empty: the request's.", REVIEW, 14)
EXPIRY = Column("Expiry", _empty, "Date (YYYY-MM-DD) after which the line is to be removed; empty: the request's, or none.", REVIEW, 12)

CHANGE_REQUEST = Profile(
    name="change-request",
    description="A cover sheet and one request row per directed line, with review columns.",
    sheet_title="Requests",
    cover=True,
    columns=(
        Column("Line", lambda row: row.number, "Request line number, for references in the review.", NUMBER, 8),
        ACTION,
        Column("Flow", lambda row: row.line.flow.id, "Identifier of the flow in the data; stable across versions.", max_width=30),
        Column("Direction", lambda row: row.line.direction, "Inbound or outbound, seen from the role this request is for.", max_width=10),
        Column("Source role", lambda row: row.facts.role_name(row.line.source), "Role of the hosts that open the connection."),
        Column("Source addresses", lambda row: row.facts.source(row.line, NAMED), "Inventory addresses of the source role, or a placeholder to fill in.", max_width=32),
        Column("Destination role", lambda row: row.facts.role_name(row.line.destination), "Role of the hosts that accept the connection."),
        Column("Destination addresses", lambda row: row.facts.destination(row.line, NAMED), "Inventory addresses of the destination role, or a placeholder to fill in.", max_width=32),
        Column("Transport", lambda row: row.line.flow.transport, "tcp, udp, or any.", max_width=10),
        Column("Port or range", lambda row: row.line.flow.port_text, "Destination port, range of ports, or any.", PORT, 14),
        Column("Application", lambda row: row.line.flow.program, "Program the rule is bound to, when the rule is a program exception."),
        Column("Service", lambda row: row.line.flow.service, "Registered service name of the port."),
        Column("Business justification", lambda row: row.line.flow.purpose, "Why the traffic is needed.", max_width=60),
        Column("Condition", lambda row: row.line.flow.condition, "When the line applies; empty when always.", max_width=40),
        Column("Source reference", lambda row: row.facts.reference(row.line.flow), "The published document and section the line comes from.", max_width=50),
        Column("Site link", lambda row: row.facts.url(row.line.flow), "The flow on the documentation site.", max_width=50),
        Column("Decision", _empty, "Reviewer's decision: " + ", ".join(DECISIONS) + ".", DECISION, 18),
        OWNER,
        ENVIRONMENT,
        EXPIRY,
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
    columns=(
        Column("Source", lambda row: row.facts.source(row.line, BARE), "Addresses or networks that open the connection, one a line.", max_width=32),
        Column("Source hosts", lambda row: row.facts.source(row.line, HOST_NAMES), "Inventory names of the source addresses, line by line.", max_width=24),
        Column("Destination", lambda row: row.facts.destination(row.line, BARE), "Addresses or networks that accept the connection, one a line.", max_width=32),
        Column("Destination hosts", lambda row: row.facts.destination(row.line, HOST_NAMES), "Inventory names of the destination addresses, line by line.", max_width=24),
        Column("Service", _service, "Port and transport, as port/transport.", PORT, 18),
        Column("Application", lambda row: row.line.flow.program, "Program the rule is bound to, if any."),
        ACTION,
        Column(
            "Comment",
            lambda row: f"{row.line.flow.id}: {row.facts.role_name(row.line.source)} to {row.facts.role_name(row.line.destination)}. {row.line.flow.purpose}",
            "Flow identifier, roles and business justification.",
            max_width=70,
        ),
        OWNER,
        ENVIRONMENT,
        EXPIRY,
    ),
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (CHANGE_REQUEST, TRAFFIC_LINES)}
DEFAULT_PROFILE = CHANGE_REQUEST.name
