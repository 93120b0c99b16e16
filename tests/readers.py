"""Readers of the built outputs for tests, each through the real parser of its format:
html.parser for the site, markdown-it-py for Markdown, openpyxl for workbooks, Aerleon's
own loader for policies and nftables itself for rulesets. They return plain tables and
terms; what a table means is for the test to decide. Windows Firewall scripts, which no
Python library parses, are read only for the names of the rules they add."""
from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Table:
    """One table of a document: the section it sits in (the innermost section id of an
    HTML page, the last heading of a Markdown file), its header cells and body rows."""

    section: str
    headers: list[str]
    rows: list[list[str]]

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.headers, row)) for row in self.rows]


def network(address: str) -> str:
    """An address or network in one spelling, so that 192.0.2.1 equals 192.0.2.1/32."""
    return str(ipaddress.ip_network(address.strip(), strict=False))


# ---------------------------------------------------------------- HTML

class _TableCollector(HTMLParser):
    """Collects every table with the id of the innermost <section> around it; cell text
    is the concatenated text of the cell, whatever markup is inside."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.sections: list[str] = []
        self.open_tags: list[str] = []
        self.table: Table | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.in_head = False

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.sections.append(dict(attrs).get("id") or "")
        elif tag == "table":
            self.table = Table(self.sections[-1] if self.sections else "", [], [])
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "section" and self.sections:
            self.sections.pop()
        elif tag == "table" and self.table is not None:
            self.tables.append(self.table)
            self.table = None
        elif tag == "thead":
            self.in_head = False
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table is not None:
            if self.in_head:
                self.table.headers = self.row
            else:
                self.table.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_tables(path: Path) -> list[Table]:
    collector = _TableCollector()
    collector.feed(Path(path).read_text(encoding="utf-8"))
    collector.close()
    return collector.tables


# ---------------------------------------------------------------- Markdown

def _markdown_tokens(path: Path):
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").parse(Path(path).read_text(encoding="utf-8"))


def _inline_text(token) -> str:
    """The text an inline token shows (escapes resolved, markup dropped)."""
    return "".join(child.content for child in token.children or () if child.type not in ("softbreak", "hardbreak"))


def markdown_tables(path: Path) -> list[Table]:
    tables: list[Table] = []
    heading, table, row, in_head, in_heading = "", None, None, False, False
    for token in _markdown_tokens(path):
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "table_open":
            table = Table(heading, [], [])
        elif token.type == "table_close":
            tables.append(table)
            table = None
        elif token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            if in_head:
                table.headers = row
            else:
                table.rows.append(row)
            row = None
        elif token.type == "inline":
            if row is not None:
                row.append(_inline_text(token).strip())
            elif in_heading:
                heading = _inline_text(token).strip()
    return tables


def netsh_rule_names(path: Path) -> list[str]:
    """The names of the rules a Windows Firewall script adds (netsh ... add rule name="...")."""
    return re.findall(r'\badd rule name="([^"]*)"', Path(path).read_text(encoding="utf-8"))


def markdown_code_items(path: Path, section: str) -> list[list[str]]:
    """For each list item under the heading `section`, the code spans it starts with."""
    items, heading, in_heading = [], "", False
    for token in _markdown_tokens(path):
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline" and in_heading:
            heading = _inline_text(token).strip()
        elif token.type == "inline" and heading == section and token.level >= 2:
            codes = []
            for child in token.children or ():
                if child.type == "code_inline":
                    codes.append(child.content)
                elif child.content.strip():
                    break
            if codes:
                items.append(codes)
    return items


# ---------------------------------------------------------------- workbooks

def workbook_records(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows, by header, of the sheet whose first row holds every `required` header;
    cells as text ('' for an empty cell)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    try:
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = [str(cell) if cell is not None else "" for cell in next(rows, ())]
            if all(name in header for name in required):
                return [{name: "" if cell is None else str(cell) for name, cell in zip(header, row)}
                        for row in rows if any(cell is not None for cell in row)]
    finally:
        book.close()
    raise AssertionError(f"{path}: no sheet has the headers {', '.join(required)}")


# ---------------------------------------------------------------- policies

@dataclass(frozen=True)
class PolicyTerm:
    """One term of a loaded Aerleon policy, addresses resolved through def/."""

    name: str
    source_tokens: frozenset[str]
    destination_tokens: frozenset[str]
    protocols: tuple[str, ...]
    ports: frozenset[tuple[int, int]]
    source_addresses: frozenset[str]
    destination_addresses: frozenset[str]
    action: tuple[str, ...]


def policy_terms(policy_dir: Path, policy_file: str) -> tuple[set[str], list[PolicyTerm]]:
    """The platforms its filters target and every term of policies/pol/<policy_file>,
    loaded by Aerleon with the repository's own network and service definitions."""
    from aerleon.lib import naming
    from aerleon.lib import yaml as aerleon_yaml

    definitions = naming.Naming(str(Path(policy_dir) / "def"))
    policy = aerleon_yaml.ParseFile(policy_file, base_dir=str(Path(policy_dir) / "policies" / "pol"),
                                    definitions=definitions)
    platforms, terms = set(), []
    for header, filter_terms in policy.filters if policy else ():
        platforms.update(target.platform for target in header.target)
        for term in filter_terms:
            terms.append(PolicyTerm(
                name=term.name,
                source_tokens=frozenset(address.token for address in term.source_address),
                destination_tokens=frozenset(address.token for address in term.destination_address),
                protocols=tuple(term.protocol),
                ports=frozenset(tuple(pair) for pair in term.destination_port),
                source_addresses=frozenset(network(str(address)) for address in term.source_address),
                destination_addresses=frozenset(network(str(address)) for address in term.destination_address),
                action=tuple(term.action)))
    return platforms, terms


# ---------------------------------------------------------------- nftables

@dataclass(frozen=True)
class NftRule:
    """An accept rule of a loaded ruleset: its chain, transport, destination ports (as
    inclusive ranges) and source and destination addresses."""

    chain: str
    transport: str
    ports: frozenset[tuple[int, int]]
    source_addresses: frozenset[str]
    destination_addresses: frozenset[str]


def _nft_values(right) -> list:
    """The values a match compares with: a single value, a set, a range or a prefix."""
    return right["set"] if isinstance(right, dict) and "set" in right else [right]


def _nft_ports(right) -> set[tuple[int, int]]:
    ports = set()
    for value in _nft_values(right):
        if isinstance(value, dict) and "range" in value:
            ports.add((int(value["range"][0]), int(value["range"][1])))
        else:
            ports.add((int(value), int(value)))
    return ports


def _nft_addresses(right) -> set[str]:
    addresses = set()
    for value in _nft_values(right):
        if isinstance(value, dict) and "prefix" in value:
            addresses.add(network(f"{value['prefix']['addr']}/{value['prefix']['len']}"))
        elif isinstance(value, dict) and "range" in value:
            first, last = (ipaddress.ip_address(end) for end in value["range"])
            addresses.update(str(net) for net in ipaddress.summarize_address_range(first, last))
        else:
            addresses.add(network(str(value)))
    return addresses


def nft_accept_rules(ruleset: dict) -> list[NftRule]:
    """The accept rules of `nft --json list ruleset` output that match a transport and
    destination port (the host defaults of the input chain match neither)."""
    rules = []
    for item in ruleset["nftables"]:
        rule = item.get("rule")
        if not rule or not any("accept" in expression for expression in rule["expr"]):
            continue
        transport, ports, sources, destinations = "", set(), set(), set()
        for expression in rule["expr"]:
            match = expression.get("match")
            payload = match["left"].get("payload") if match and isinstance(match["left"], dict) else None
            if not payload:
                continue
            if payload["field"] == "dport":
                transport, ports = payload["protocol"], _nft_ports(match["right"])
            elif payload["field"] == "saddr":
                sources = _nft_addresses(match["right"])
            elif payload["field"] == "daddr":
                destinations = _nft_addresses(match["right"])
        if transport:
            rules.append(NftRule(rule["chain"], transport, frozenset(ports), frozenset(sources), frozenset(destinations)))
    return rules


def netns_unavailable() -> str:
    """Why a ruleset cannot be loaded into a throwaway network namespace here, or ''."""
    import os
    import shutil

    if os.geteuid() != 0:
        return "loading a ruleset into a network namespace needs root"
    for tool, package in (("nft", "nftables"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    return ""


def nft_loaded_ruleset(path: Path) -> dict:
    """Loads an nftables file into a network namespace of its own and returns what the
    kernel holds, as `nft --json list ruleset` gives it; the namespace is removed after."""
    namespace = f"portbook-read-{uuid.uuid4().hex[:12]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True, capture_output=True, timeout=30)
    try:
        def run(*command: str) -> str:
            result = subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True, text=True,
                                    timeout=60)
            assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
            return result.stdout

        run("nft", "-f", str(path))
        return json.loads(run("nft", "--json", "list", "ruleset"))
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=30)
