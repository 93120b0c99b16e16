"""What a parsed page states: ports (with transport, or 'dynamic'), programs (name.exe)
and firewall rule names, each located at its page LINE:COLUMN.

A page states ports in two ways. A table's port cell is a list of ports, so a bare
number there is a port ('53' under a 'TCP and UDP' protocol column) unless it is plainly
something else (a version, a date: `portscan.not_port_reason`); so is the port part of a
list item that starts with its ports ("TCP 5432: PostgreSQL"). Prose, and the other cells
of a port table, mention ports the way `generator.portscan` reads them: a number counts
only next to the words that make it one, so a product's year is not a port. A row whose
port cell states no port takes the ports its other cells mention.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace

from ..model import ANY, PortRange
from ..portscan import NUMBER, RANGE, not_port_reason, range_of, scan
from .parse import EMPTY, LocatedText, PageRow, PageSection, PageTable, ParsedPage, ProseBlock, one_line

TCP_UDP = ("tcp", "udp")


@dataclass(frozen=True)
class PortStatement:
    """One port (or range, or every port) on one transport that the page states."""

    ports: PortRange | None  # None: every port, or a dynamic pool the page gives no range for
    transport: str  # "tcp", "udp", ANY, or "" when the page does not say
    dynamic: bool  # the page calls these ports dynamically allocated
    words: str  # the words as printed, cleaned
    line: int
    column: int
    section: PageSection
    in_table: bool
    sentence: str = ""  # the sentence around a mention in prose or a details cell
    name: str = ""  # what the page calls this port where it names it beside it ("80: WinRM")

    @property
    def label(self) -> str:
        if self.ports is None:
            port = "dynamic" if self.dynamic else ANY
        else:
            port = f"dynamic {self.ports}" if self.dynamic else str(self.ports)
        return f"{port}/{self.transport or '?'}"


@dataclass(frozen=True)
class NameStatement:
    """A program (something.exe) or firewall rule name the page states."""

    kind: str  # "program" or "rule"
    name: str
    line: int
    column: int
    section: PageSection


@dataclass(frozen=True)
class RowStatements:
    """What one row of a port table, or one list item that starts with its port, states."""

    table: PageTable | None  # None for a list item
    row: PageRow
    ports: list[PortStatement]  # stated in the port cell (or in another cell when the port cell states none)
    mentions: list[PortStatement]  # stated in the row's other cells (details prose)
    programs: list[str]
    names: list[NameStatement]  # programs anywhere in the row, and its rule name
    port_from: str = ""  # "details" when the port cell states no port and the row's other cells do

    @property
    def line(self) -> int:
        return self.table.line if self.table else self.row.line


@dataclass(frozen=True)
class PageStatements:
    """Everything a page states, table rows in page order, then prose in page order."""

    page: ParsedPage
    rows: list[RowStatements]
    prose: list[PortStatement]  # port mentions outside the port tables
    names: list[NameStatement]  # programs anywhere, rule names from rule columns

    @property
    def ports(self) -> list[PortStatement]:
        """Every port statement: table port cells, details prose and page prose."""
        found = []
        for row in self.rows:
            found.extend(row.ports)
            found.extend(row.mentions)
        return found + self.prose


def read_statements(page: ParsedPage) -> PageStatements:
    rows = [row_statements(table, row) for table in page.tables for row in table.rows]
    prose: list[PortStatement] = []
    names: list[NameStatement] = []
    for block in page.prose:
        item = list_item_row(block) if block.kind == "item" else None
        if item is not None:
            rows.append(row_statements(None, item))
            continue
        prose.extend(port_mentions(block.text, block.section, in_table=False))
        names.extend(program_names(block.text, block.section))
    rows.sort(key=lambda stated: stated.row.line)
    return PageStatements(page, rows, prose, [name for row in rows for name in row.names] + names)


def row_statements(table: PageTable | None, row: PageRow) -> RowStatements:
    mentions: list[PortStatement] = []
    names: list[NameStatement] = []
    for role, text in row.cells.items():
        names.extend(program_names(text, row.section))
        if role != "port":
            mentions.extend(port_mentions(text, row.section, in_table=True))
    if row.cell("rule"):
        line, column = row.cells["rule"].at(0)
        names.append(NameStatement("rule", row.cell("rule"), line, column, row.section))
    ports = port_cell_statements(row.cells.get("port", EMPTY), row.cell("protocol"), row.section, mentions)
    programs = list(dict.fromkeys(n.name for n in names if n.kind == "program"))
    if not ports and mentions:
        # The port cell is empty or says no port, and another cell states it.
        return RowStatements(table, row, [m for m in mentions if not m.dynamic or m.ports], [], programs, names, "details")
    return RowStatements(table, row, ports, mentions, programs, names)


# A list item that starts with its ports ("TCP 5432: PostgreSQL", "443/tcp - HTTPS") or names
# them right after a name ("PostgreSQL on TCP 5423", "Metrics: 9100/tcp").
_ITEM_PORT = r"(?:(?:tcp|udp)\s+(?:ports?\s+)?|ports?\s+)?[0-9]{1,5}(?:\s*[-–—]\s*[0-9]{1,5})?(?:\s*/\s*(?:tcp|udp)\b)?"
_ITEM_PORTS = rf"{_ITEM_PORT}(?:(?:\s*,\s*|\s+and\s+|\s+or\s+){_ITEM_PORT})*"
_PORTS_FIRST = re.compile(rf"(?i)\s*(?P<ports>{_ITEM_PORTS})\s*(?:[:–—(]|-\s|$)\s*(?P<name>.*)", re.DOTALL)
# The name is a few words and the item ends with its ports (or a bracket): a sentence that
# goes on is prose, whose ports are listed for comparison.
_NAME_FIRST = re.compile(rf"(?i)\s*(?P<name>[^\s:;.,]+(?:\s+[^\s:;.,]+){{0,3}}?)\s*(?::|\s[-–—]|\s+on\b|\s+uses?\b|\s+at\b)\s*(?P<ports>{_ITEM_PORTS})\s*\.?\s*(?=$|\()", re.DOTALL)


def list_item_row(block: ProseBlock) -> PageRow | None:
    """The row a list item is when it states its ports first or right after its name."""
    text = block.text
    match = _PORTS_FIRST.match(text.text) or _NAME_FIRST.match(text.text)
    if match is None:
        return None
    ports = LocatedText(match.group("ports"), _shifted(text, match.start("ports")))
    if any(not_port_reason(text.text, digits.start(), digits.end()) for digits in NUMBER.finditer(text.text, match.start("ports"), match.end("ports"))):
        return None
    name_text = one_line(match.group("name")).rstrip(").")
    name = LocatedText(name_text, _shifted(text, match.start("name"))) if name_text else EMPTY
    line, column = text.at(0)
    return PageRow(line, block.section, {"port": ports, "label": name, "details": text}, 0, column)


def _shifted(text: LocatedText, offset: int) -> tuple[tuple[int, int, int], ...]:
    """The anchors of text[offset:] as a text of its own."""
    line, column = text.at(offset)
    return ((0, line, column),) + tuple((start - offset, l, c) for start, l, c in text.anchors if start > offset)


# --- ports in a table's port cell ---

_PORT_TOKEN = re.compile(
    r"(?i)"
    r"(?P<all>\ball\s+ports\b|\bany(?:\s+port)?\b)"
    rf"|(?:\b(?P<pre>tcp|udp)\s*(?:ports?\s*)?)?{RANGE}"
    r"(?:\s*/\s*(?P<post>tcp|udp)\b)?"
    r"(?P<dynamic>\s+dynamic\b)?"
    r"|(?P<lone>\bdynamic\b)"
)


def protocol_transports(protocol: str) -> list[str]:
    """Transports a protocol cell names: ["tcp"], ["tcp", "udp"], [ANY] or [] (a name like DNS)."""
    lowered = protocol.lower()
    if re.search(r"\ball\b|\bany\b", lowered):
        return [ANY]
    return [transport for transport in TCP_UDP if re.search(rf"\b{transport}\b", lowered)]


def port_cell_statements(cell: LocatedText, protocol: str, section: PageSection,
                         details: list[PortStatement]) -> list[PortStatement]:
    """Every port and transport of one port cell: '137/UDP, 138/UDP and 139/TCP',
    '5718/TCP<br />5719/TCP', '135/TCP Dynamic', '1024-65535', 'All ports'. A port with no
    transport of its own takes the protocol column's; 'Dynamic' takes its range from the
    row's details when they give one on the same transport. A number that is no port
    (0, 70000, a reversed range) states nothing."""
    defaults = protocol_transports(protocol) or [""]
    found: list[PortStatement] = []
    text = cell.text

    def add(ports, transports, dynamic, start, end):
        line, column = cell.at(start)
        name = _name_beside(text, end)
        for transport in transports:
            words = one_line(text[start:end])
            if dynamic and ports is None:
                ranges = [m for m in details if m.ports is not None and not m.ports.is_single
                          and m.transport in (transport, "")]
                if ranges:
                    ports, words = ranges[0].ports, f"{words}, with {ranges[0].words} in the details"
            found.append(PortStatement(ports, transport, dynamic, words, line, column, section, True, name=name))

    listed = ""  # the transport named before the number a list of bare numbers continues
    previous_end = 0
    for match in _PORT_TOKEN.finditer(text):
        if not _LIST_GLUE.fullmatch(text[previous_end:match.start()]):
            listed = ""
        previous_end = match.end()
        if match.group("all"):
            transports = defaults if defaults != [""] else [ANY]
            add(None, transports, False, match.start(), match.end())
        elif match.group("lone"):
            add(None, defaults, True, match.start(), match.end())
        else:
            ports = range_of(match)
            if ports is None or not_port_reason(text, match.start("first"), match.end("first")):
                continue
            own = (match.group("pre") or match.group("post") or "").lower()
            # "UDP port 137 and 138": the transport before the first number goes with the list.
            listed = match.group("pre").lower() if match.group("pre") else "" if own else listed
            transports = [own] if own else [listed] if listed else defaults
            add(ports, transports, False, match.start("first"), match.end())
            if match.group("dynamic"):
                add(None, transports, True, match.start("dynamic") + 1, match.end("dynamic"))
    return _pools_with_their_ranges(found)


def _pools_with_their_ranges(found: list[PortStatement]) -> list[PortStatement]:
    """'Dynamic (1024-65535)', '1024-65535 (dynamic)': a cell that calls its ports dynamic
    and gives one range states one pool with that range, not a pool and a range."""
    pools = [s for s in found if s.dynamic and s.ports is None]
    ranges = [s for s in found if not s.dynamic and s.ports is not None and not s.ports.is_single]
    if len(ranges) != 1 or not pools:
        return found
    [span] = ranges
    fitting = [s for s in pools if "" in (s.transport, span.transport) or s.transport == span.transport]
    if not fitting:
        return found
    merged = []
    for statement in found:
        if statement is span:
            continue
        if statement in fitting:
            first = min((statement, span), key=lambda s: (s.line, s.column))
            words = f"{statement.words} {span.words}" if first is statement else f"{span.words} {statement.words}"
            statement = replace(statement, ports=span.ports, transport=statement.transport or span.transport,
                                words=words, line=first.line, column=first.column)
        merged.append(statement)
    return merged


_LIST_GLUE = re.compile(r"(?i)\s*(?:,|\band\b|\bor\b|,\s*(?:and|or)\b)\s*")
_SEGMENT_NAME = re.compile(r"(?:\s*/\s*[0-9]{1,5})*\s*:\s*(?P<name>[^;\n:.,]{1,40}?)\s*(?=;|\n|$)")


def _name_beside(text: str, end: int) -> str:
    """The name after the colon that follows a port (or a port's alternatives) in its
    ';'-separated part of a port cell ("80/8530: HTTP; 443/8531: HTTPS"), or ""."""
    match = _SEGMENT_NAME.match(text, end)
    return one_line(match.group("name")) if match else ""


# --- ports and program names in prose ---

DYNAMIC = re.compile(r"(?i)\bdynamic(?:ally)?\b")
_PORT_WORD = re.compile(r"(?i)\bports?\b")
_PROGRAM = re.compile(r"(?i)(?<![\w.-])[\w-]+\.exe\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\.(?=[A-Z][a-z])|\n+")
_ASCII_DIGIT = re.compile(r"[0-9]")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of a cleaned text."""
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start() + (1 if text[match.start()] == "." else 0)
        if text[start:end].strip():
            spans.append((start, end))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def port_mentions(text: LocatedText, section: PageSection, in_table: bool) -> list[PortStatement]:
    """Port numbers, ranges and 'dynamic ports' that prose states, each with its sentence,
    located at the mention's first digit."""
    found: list[PortStatement] = []
    for start, end in sentences(text.text):
        chunk = text.text[start:end]
        dynamic = DYNAMIC.search(chunk)
        if not _ASCII_DIGIT.search(chunk) and not dynamic:
            continue
        sentence = one_line(chunk)
        for mention in scan(chunk):
            number = _ASCII_DIGIT.search(chunk, mention.start).start()
            line, column = text.at(start + number)
            found.append(PortStatement(mention.ports, mention.transport, False, one_line(chunk[mention.start:mention.end]),
                                       line, column, section, in_table, sentence))
        if dynamic and _PORT_WORD.search(chunk):
            named = [t for t in TCP_UDP if re.search(rf"(?i)\b{t}\b", chunk)]
            line, column = text.at(start + dynamic.start())
            found.append(PortStatement(None, named[0] if len(named) == 1 else "", True, dynamic.group(0),
                                       line, column, section, in_table, sentence))
    return found


def program_names(text: LocatedText, section: PageSection) -> list[NameStatement]:
    found = []
    for match in _PROGRAM.finditer(text.text):
        line, column = text.at(match.start())
        found.append(NameStatement("program", match.group(0), line, column, section))
    return found


# --- sentences, with what each states: where a page gives a port to a program or a name ---

@dataclass(frozen=True)
class Sentence:
    """One sentence of page prose or of a port table's cell, the ports it states and the
    programs it names. In a table row (or a list item that starts with its ports), a
    sentence that names a program but states no port of its own opens the row's ports."""

    text: LocatedText  # the block or cell the sentence stands in
    start: int
    end: int
    ports: list[PortStatement]
    programs: list[NameStatement]

    @property
    def words(self) -> str:
        return self.text.text[self.start:self.end]

    def at(self, offset: int) -> tuple[int, int]:
        """Page (line, column) of the character at `offset` in the sentence."""
        return self.text.at(self.start + offset)


class _ByPosition:
    """Statements in page order, to take those of one sentence by its first and last character."""

    def __init__(self, statements) -> None:
        self.statements = sorted(statements, key=lambda s: (s.line, s.column))
        self.keys = [(s.line, s.column) for s in self.statements]

    def within(self, text: LocatedText, start: int, end: int) -> list:
        return self.statements[bisect.bisect_left(self.keys, text.at(start)):bisect.bisect_right(self.keys, text.at(end - 1))]


def _sentences_in(text: LocatedText, ports: _ByPosition, programs: _ByPosition,
                  row_ports: list[PortStatement]) -> list[Sentence]:
    found = []
    for start, end in sentences(text.text):
        own, named = ports.within(text, start, end), programs.within(text, start, end)
        found.append(Sentence(text, start, end, own or (row_ports if named else []), named))
    return found


def page_sentences(stated: PageStatements) -> list[Sentence]:
    """Every sentence of the page's port tables (cells other than the port cell) and of
    its prose, in page order."""
    found: list[Sentence] = []
    for row in stated.rows:
        mentions = _ByPosition(row.mentions)
        programs = _ByPosition(n for n in row.names if n.kind == "program")
        for role, text in row.row.cells.items():
            if role != "port":
                found.extend(_sentences_in(text, mentions, programs, row.ports))
    in_rows = {(row.row.line, row.row.column) for row in stated.rows if row.table is None}
    prose, programs = _ByPosition(stated.prose), _ByPosition(n for n in stated.names if n.kind == "program")
    for block in stated.page.prose:
        if block.kind == "item" and block.text.at(0) in in_rows:
            continue  # a list item read as a row
        found.extend(_sentences_in(block.text, prose, programs, []))
    return sorted(found, key=lambda sentence: sentence.at(0))
