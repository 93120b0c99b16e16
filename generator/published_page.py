"""Reading a published port page (Markdown: Microsoft Docs style or plain GFM) into
structured statements: which ports, transports, programs and rule names it states, and
where. Pure functions from page text to records (`read_page` is the one that opens a file),
no model.

A page states ports in two ways: in pipe tables whose header names a port column, and
in prose ("TCP port N", "N through M"). Both become `PortStatement`s located at the
page's LINE:COLUMN of the number, so that a reader can go straight to the words.
"""
from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from .csvfile import MAX_FIELD_CHARS, display_path
from .model import ANY, PortRange
from .schema import DYNAMIC_RANGES, FLOWS

TCP_UDP = ("tcp", "udp")
MAX_PAGE_BYTES = 4 * 1024 * 1024  # published pages are tens of kilobytes


def read_page(path: Path) -> tuple[str | None, str]:
    """(page text, "") or (None, located error line)."""
    shown = display_path(path)
    try:
        if path.stat().st_size > MAX_PAGE_BYTES:
            return None, f"{shown}:1:1: page is larger than {MAX_PAGE_BYTES} bytes"
        data = path.read_bytes()
    except OSError as error:
        return None, f"{shown}:0:0: cannot read page: {error.strerror or error}"
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return None, f"{shown}:{line}:{column}: byte 0x{data[error.start]:02x} is not valid UTF-8; save the page as UTF-8"


# --- cleaning Markdown and HTML out of page text, keeping every character located ---

@dataclass(frozen=True)
class Text:
    """Cleaned text, located: each anchor (offset in text, line, column) starts a run of
    characters that sit side by side on that page line."""

    text: str
    anchors: tuple[tuple[int, int, int], ...]

    def at(self, offset: int) -> tuple[int, int]:
        """Page (line, 1-based column) of the character at `offset`."""
        if not self.anchors:
            return (0, 0)
        offset = max(0, min(offset, len(self.text) - 1))
        start, line, column = self.anchors[max(bisect.bisect_right(self.anchors, (offset, 1 << 62, 0)) - 1, 0)]
        return (line, column + offset - start)


# Every repeated part is bounded or cannot overlap the next one, so that a page line of
# any length is scanned in linear time (unbounded link text made a line of '[' quadratic).
LINK_LABEL_CHARS = 500
LINK_TARGET_CHARS = 2000
_TOKEN = re.compile(
    r"(?P<br><br\s*/?>)"
    rf"|(?P<link>\[(?P<label>[^\]\n]{{0,{LINK_LABEL_CHARS}}})\]\([^)\n]{{0,{LINK_TARGET_CHARS}}}\))"
    r"|(?P<tag></?[A-Za-z][^<>\n]*>)"
    r"|\\(?P<escaped>[!-/:-@\[-`{-~])"
    r"|(?P<strong>\*\*|__(?=\w)|(?<=\w)__)"
    r"|&(?P<entity>amp|lt|gt|quot|apos|nbsp|#39);",
    re.IGNORECASE,
)
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "#39": "'", "nbsp": " "}


def clean(pieces: list[tuple[int, int, str]]) -> Text:
    """Join raw pieces (line, 1-based column of the piece's first character, raw text)
    into plain text: escapes resolved, <br /> as a line break, tags and emphasis dropped,
    links reduced to their label, soft line breaks as spaces."""
    chunks: list[str] = []
    anchors: list[tuple[int, int, int]] = []
    length = 0

    def emit(text: str, line: int, column: int) -> None:
        nonlocal length
        if text:
            anchors.append((length, line, column))
            chunks.append(text)
            length += len(text)

    for index, (line, start, raw) in enumerate(pieces):
        if index:
            emit(" ", line, start)
        offset = 0
        for match in _TOKEN.finditer(raw):
            emit(raw[offset:match.start()], line, start + offset)
            if match.group("br"):
                emit("\n", line, start + match.start())
            elif match.group("link"):
                emit(match.group("label"), line, start + match.start("label"))
            elif match.group("escaped"):
                emit(match.group("escaped"), line, start + match.start())
            elif match.group("entity"):
                emit(_ENTITIES[match.group("entity").lower()], line, start + match.start())
            offset = match.end()
        emit(raw[offset:], line, start + offset)
    return Text("".join(chunks), tuple(anchors))


def one_line(text: str) -> str:
    """Text with every run of whitespace (line breaks included) as one space."""
    return " ".join(text.split())


def slug(text: str, fallback: str = "section") -> str:
    """A lower-case id (the flows schema's slug form) made from free text."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    value = value[:64].rstrip("-")
    return value or fallback


# --- page structure: front matter, headings, tables, prose blocks ---

@dataclass(frozen=True)
class Section:
    key: str  # slug of the heading title (or "top" before any heading)
    title: str
    anchor: str  # <a name="..."> / <a id="..."> / {#...} of the heading, if any
    line: int


TOP = Section("top", "", "", 0)


@dataclass(frozen=True)
class PortStatement:
    """One port (or range, or every port) on one transport that the page states."""

    ports: PortRange | None  # None: every port, or a dynamic pool the page gives no range for
    transport: str  # "tcp", "udp", ANY, or "" when the page does not say
    dynamic: bool  # the page calls these ports dynamically allocated
    words: str  # the words as printed, cleaned
    line: int
    column: int
    section: Section
    in_table: bool
    sentence: str = ""  # the sentence around a mention in prose or a details cell

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
    section: Section


@dataclass
class TableRow:
    line: int
    section: Section
    cells: dict[str, Text]  # column role -> cleaned cell
    ports: list[PortStatement]  # stated in the port cell
    mentions: list[PortStatement]  # stated in the row's other cells (details prose)
    programs: list[str]
    names: list[NameStatement]  # programs anywhere in the row, and its rule name

    def cell(self, role: str) -> str:
        value = self.cells.get(role)
        return one_line(value.text) if value else ""


@dataclass
class Table:
    line: int
    section: Section
    header: list[str]
    roles: dict[str, int]  # column role -> index
    rows: list[TableRow] = field(default_factory=list)


@dataclass
class Page:
    title: str
    sections: list[Section]
    tables: list[Table]  # only tables with a port column
    prose: list[PortStatement]  # port mentions outside the tables
    names: list[NameStatement]  # programs anywhere, rule names from rule columns

    @property
    def statements(self) -> list[PortStatement]:
        """Every port statement: table port cells, details prose and page prose."""
        found = []
        for table in self.tables:
            for row in table.rows:
                found.extend(row.ports)
                found.extend(row.mentions)
        return found + self.prose


# Trailing spaces and closing '#'s are stripped in Python, not by the patterns: a lazy
# title followed by optional spaces and '#'s backtracks cubically on a long run of spaces.
_FRONT_MATTER_TITLE = re.compile(r"^title:(.*)$", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})(?:\s+(.*))?$")
_ANCHOR = re.compile(r"""<a\s+(?:name|id)\s*=\s*["']?([^"'>\s]{1,200})["']?\s*/?>|\{#([^}\s]{1,200})\}""", re.IGNORECASE)
_DELIMITER_CELL = re.compile(r":?-+:?")
_LIST_ITEM = re.compile(r"^(\s*(?:[-*+]|\d{1,3}[.)])\s+)")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")

# Header words that say what a column holds, tried in this order; a header takes the first
# role one of its words starts with ("transport" is a protocol column, never a port one).
COLUMN_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("protocol", ("protocol", "transport", "proto")),
    ("port", ("port",)),
    ("rule", ("rule", "exception")),
    ("source", ("source", "from", "initiator", "client")),
    ("destination", ("destination", "target", "to", "listener")),
    ("details", ("detail", "descr", "purpose", "note", "comment", "usage", "use", "reason", "explanation")),
    ("label", ("service", "name", "application", "feature", "component")),
)


def column_role(header: str) -> str:
    words = re.findall(r"[a-z]+", header.lower())
    for role, prefixes in COLUMN_WORDS:
        if any(word.startswith(prefix) if len(prefix) > 2 else word == prefix for word in words for prefix in prefixes):
            return role
    return ""


_PIPE_OR_ESCAPE = re.compile(r"\\.|\|")


def _cells(raw: str) -> list[tuple[int, str]]:
    """Split a table line on unescaped pipes: (0-based start, raw cell text) per cell."""
    cells = []
    start = 0
    for match in _PIPE_OR_ESCAPE.finditer(raw):
        if match.group() == "|":
            cells.append((start, raw[start:match.start()]))
            start = match.end()
    cells.append((start, raw[start:]))
    if raw.strip().startswith("|"):
        cells = cells[1:]
    if raw.rstrip().endswith("|") and cells and not cells[-1][1].strip():
        cells = cells[:-1]
    trimmed = []
    for begin, text in cells:
        lead = len(text) - len(text.lstrip())
        trimmed.append((begin + lead, text.strip()))
    return trimmed


def is_delimiter_row(raw: str) -> bool:
    """A table's delimiter row ('| --- | :-: |', '---|---'), checked cell by cell: one
    pattern over the whole row backtracks quadratically on long lines."""
    text = raw.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|"):
        text = text[:-1]
    return all(_DELIMITER_CELL.fullmatch(cell.strip()) for cell in text.split("|"))


def heading_title(raw: str) -> str | None:
    """The raw text of an ATX heading without its closing '#'s, or None for another line."""
    match = _HEADING.match(raw)
    if not match:
        return None
    return (match.group(2) or "").rstrip().rstrip("#").rstrip()


def _heading(line_number: int, raw: str) -> Section | None:
    text = heading_title(raw)
    if text is None:
        return None
    anchor_match = _ANCHOR.search(text)
    anchor = (anchor_match.group(1) or anchor_match.group(2)) if anchor_match else ""
    body = _ANCHOR.sub("", text)
    title = one_line(clean([(line_number, 1, body)]).text)
    return Section(slug(title), title, anchor, line_number)


def parse_page(source: str) -> Page:
    """Read a Markdown page into sections, port tables, prose port mentions and names."""
    lines = source.splitlines()
    title = ""
    first = 0
    if lines and lines[0].strip() == "---":
        for index in range(1, len(lines)):
            if lines[index].strip() in ("---", "..."):
                for meta in lines[1:index]:
                    match = _FRONT_MATTER_TITLE.match(meta)
                    if match and not title:
                        title = match.group(1).strip().strip("\"'")
                first = index + 1
                break

    page = Page(title="", sections=[], tables=[], prose=[], names=[])
    sections, prose, names = page.sections, page.prose, page.names
    section = TOP
    block: list[tuple[int, int, str]] = []
    fenced = False

    def flush() -> None:
        if block:
            text = clean(block)
            prose.extend(port_mentions(text, section, in_table=False))
            names.extend(program_names(text, section))
            block.clear()

    index = first
    while index < len(lines):
        raw = lines[index]
        number = index + 1
        if _FENCE.match(raw):
            flush()
            fenced = not fenced
            index += 1
            continue
        if fenced:
            # Code is prose for port mentions (a command line can carry a typo too), never a table.
            block.append((number, 1, raw))
            index += 1
            continue
        heading = _heading(number, raw)
        if heading is not None:
            flush()
            section = heading
            sections.append(heading)
            prose.extend(port_mentions(clean([(number, 1, raw)]), section, in_table=False))
            if not title and raw.lstrip().startswith("# "):
                title = heading.title
            index += 1
            continue
        if "|" in raw and index + 1 < len(lines) and is_delimiter_row(lines[index + 1]):
            flush()
            index = _read_table(lines, index, section, page)
            continue
        if not raw.strip():
            flush()
            index += 1
            continue
        item = _LIST_ITEM.match(raw)
        if item:
            flush()
            block.append((number, len(item.group(1)) + 1, raw[len(item.group(1)):]))
        else:
            lead = len(raw) - len(raw.lstrip())
            block.append((number, lead + 1, raw.strip()))
        index += 1
    flush()
    page.title = title
    return page


def _read_table(lines: list[str], index: int, section: Section, page: Page) -> int:
    """Read the table starting at lines[index] into the page; returns the index of the
    first line after it. A table without a port column is prose to the reader."""
    header_cells = _cells(lines[index])
    header = [one_line(clean([(index + 1, start + 1, text)]).text) for start, text in header_cells]
    roles: dict[str, int] = {}
    for position, name in enumerate(header):
        role = column_role(name)
        if role and role not in roles:
            roles[role] = position
    table = Table(index + 1, section, header, roles)
    index += 2
    while index < len(lines) and "|" in lines[index] and lines[index].strip():
        number = index + 1
        raw_cells = _cells(lines[index])
        if "port" not in roles:
            for start, text in raw_cells:
                cleaned = clean([(number, start + 1, text)])
                page.prose.extend(port_mentions(cleaned, section, in_table=False))
                page.names.extend(program_names(cleaned, section))
            index += 1
            continue
        cells = {}
        for role, position in roles.items():
            start, text = raw_cells[position] if position < len(raw_cells) else (len(lines[index]), "")
            cells[role] = clean([(number, start + 1, text)])
        row = _table_row(number, section, cells)
        table.rows.append(row)
        page.names.extend(row.names)
        index += 1
    if "port" in roles:
        page.tables.append(table)
    return index


def _table_row(number: int, section: Section, cells: dict[str, Text]) -> TableRow:
    mentions: list[PortStatement] = []
    names: list[NameStatement] = []
    for role, text in cells.items():
        names.extend(program_names(text, section))
        if role != "port":
            mentions.extend(port_mentions(text, section, in_table=True))
    if "rule" in cells and one_line(cells["rule"].text):
        line, column = cells["rule"].at(0)
        names.append(NameStatement("rule", one_line(cells["rule"].text), line, column, section))
    port_cell = cells.get("port", Text("", ()))
    protocol = one_line(cells["protocol"].text) if "protocol" in cells else ""
    ports = port_cell_statements(port_cell, protocol, section, mentions)
    programs = list(dict.fromkeys(n.name for n in names if n.kind == "program"))
    return TableRow(number, section, cells, ports, mentions, programs, names)


# --- ports in a table's port cell ---

def _range_of(match: re.Match) -> PortRange:
    """The port or range of a match with groups 'first' and (optionally) 'last'."""
    first = int(match.group("first"))
    return PortRange(first, int(match.group("last") or first))


_PORT_TOKEN = re.compile(
    r"(?ix)"
    r"(?P<all>\ball\s+ports\b|\bany(?:\s+port)?\b)"
    r"|(?:\b(?P<pre>tcp|udp)\s*(?:ports?\s*)?)?"
    r"(?<![\w.])(?P<first>\d{1,5})(?:\s*(?:-|–|—|\bthrough\b|\bto\b)\s*(?P<last>\d{1,5}))?(?![\d.])"
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


def port_cell_statements(cell: Text, protocol: str, section: Section, details: list[PortStatement]) -> list[PortStatement]:
    """Every port and transport of one port cell: '137/UDP, 138/UDP and 139/TCP',
    '5718/TCP<br />5719/TCP', '135/TCP Dynamic', '1024-65535', 'All ports'. A port with no
    transport of its own takes the protocol column's; 'Dynamic' takes its range from the
    row's details when they give one on the same transport."""
    defaults = protocol_transports(protocol) or [""]
    found: list[PortStatement] = []
    text = cell.text

    def add(ports, transports, dynamic, start, end):
        line, column = cell.at(start)
        for transport in transports:
            words = one_line(text[start:end])
            if dynamic and ports is None:
                ranges = [m for m in details if m.ports is not None and not m.ports.is_single
                          and m.transport in (transport, "")]
                if ranges:
                    ports, words = ranges[0].ports, f"{words}, with {ranges[0].words} in the details"
            found.append(PortStatement(ports, transport, dynamic, words, line, column, section, True))

    for match in _PORT_TOKEN.finditer(text):
        if match.group("all"):
            transports = defaults if defaults != [""] else [ANY]
            add(None, transports, False, match.start(), match.end())
        elif match.group("lone"):
            add(None, defaults, True, match.start(), match.end())
        else:
            own = (match.group("pre") or match.group("post") or "").lower()
            transports = [own] if own else defaults
            add(_range_of(match), transports, False, match.start("first"), match.end())
            if match.group("dynamic"):
                add(None, transports, True, match.start("dynamic") + 1, match.end("dynamic"))
    return found


# --- ports and program names in prose ---

_RANGE = r"(?<![\w.])(?P<first>\d{1,5})(?:\s*(?:-|–|—|\bthrough\b|\bto\b)\s*(?P<last>\d{1,5}))?(?![\d]|\.\d)"
_LEAD = r"(?:\s+(?:range|number)s?)?(?:\s+(?:of|from))?:?\s+"
# A number counts as a port only next to the words that make it one.
_PROSE_PORT = [
    re.compile(rf"(?i)\b(?P<tr>tcp|udp)\b(?:[\s-]+ports?\b)?{_LEAD}{_RANGE}"),  # TCP port 8080, UDP 53
    re.compile(rf"(?i)\bports?\b{_LEAD}{_RANGE}"),  # port 80, ports 137 through 139
    re.compile(rf"(?i){_RANGE}\s*/\s*(?P<tr>tcp|udp)\b"),  # 8080/tcp
    re.compile(rf"(?i){_RANGE}(?:\s+(?P<tr>tcp|udp))?\s+ports?\b"),  # the default 8080 port
]
_WHOLE_RANGE = re.compile(rf"(?i)\s*{_RANGE}\s*")
_DIGIT = re.compile(r"\d")


def stated_range(text: str) -> PortRange | None:
    """A port or range written the way pages write them ('8080', '1024-65535',
    '1024 through 65535'), or None for any other text."""
    match = _WHOLE_RANGE.fullmatch(text)
    return _range_of(match) if match else None
_DYNAMIC = re.compile(r"(?i)\bdynamic(?:ally)?\b")
_PORT_WORD = re.compile(r"(?i)\bports?\b")
_PROGRAM = re.compile(r"(?i)(?<![\w.-])[\w-]+\.exe\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\.(?=[A-Z][a-z])|\n+")


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


def port_mentions(text: Text, section: Section, in_table: bool) -> list[PortStatement]:
    """Port numbers, ranges and 'dynamic ports' that prose states, each with its sentence."""
    found: list[PortStatement] = []
    for start, end in sentences(text.text):
        chunk = text.text[start:end]
        if not _DIGIT.search(chunk) and not _DYNAMIC.search(chunk):
            continue
        sentence = one_line(chunk)
        matches = sorted(
            (m for pattern in _PROSE_PORT for m in pattern.finditer(chunk)),
            key=lambda m: (m.start("first"), -(m.end() - m.start())),
        )
        taken: set[int] = set()
        for match in matches:
            if match.start("first") in taken:
                continue
            taken.add(match.start("first"))
            transport = (match.groupdict().get("tr") or "").lower()
            line, column = text.at(start + match.start("first"))
            found.append(PortStatement(_range_of(match), transport, False, one_line(match.group(0)),
                                       line, column, section, in_table, sentence))
        dynamic = _DYNAMIC.search(chunk)
        if dynamic and _PORT_WORD.search(chunk):
            named = [t for t in TCP_UDP if re.search(rf"(?i)\b{t}\b", chunk)]
            line, column = text.at(start + dynamic.start())
            found.append(PortStatement(None, named[0] if len(named) == 1 else "", True, dynamic.group(0),
                                       line, column, section, in_table, sentence))
    return found


def program_names(text: Text, section: Section) -> list[NameStatement]:
    found = []
    for match in _PROGRAM.finditer(text.text):
        line, column = text.at(match.start())
        found.append(NameStatement("program", match.group(0), line, column, section))
    return found


# --- draft flows from the page's tables ---

GENERIC_SUFFIX = "server"


def role_aliases(roles: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names by which a page may refer to each (id, name) role: the name, the id
    with dashes as spaces, and both without a trailing 'server' ("Web server" -> "Web")
    or with one added ("Mail" -> "Mail server"). A name two roles share is dropped."""
    owners: dict[str, set[str]] = {}
    for role_id, name in roles:
        forms = {one_line(name).lower(), role_id.replace("-", " ").lower()}
        for form in list(forms):
            words = form.split()
            if len(words) > 1 and words[-1] == GENERIC_SUFFIX:
                forms.add(" ".join(words[:-1]))
            elif words and words[-1] != GENERIC_SUFFIX:
                forms.add(f"{form} {GENERIC_SUFFIX}")
        for form in forms:
            if form:
                owners.setdefault(form, set()).add(role_id)
    return {alias: next(iter(ids)) for alias, ids in owners.items() if len(ids) == 1}


@functools.lru_cache(maxsize=8)
def _alias_pattern(aliases: tuple[str, ...]) -> re.Pattern:
    """One pattern for a set of aliases, longest first; compiled once per set, since every
    cell of every row is searched with the same one."""
    alternatives = "|".join(re.escape(alias).replace(r"\ ", r"\s+") for alias in sorted(aliases, key=len, reverse=True))
    return re.compile(rf"(?i)(?<![\w-])({alternatives})(?:e?s)?(?![\w-])")


def role_mentions(text: str, aliases: dict[str, str]) -> list[tuple[int, str]]:
    """(offset, role id) for every alias in the text, longest alias first, plurals included."""
    if not aliases:
        return []
    pattern = _alias_pattern(tuple(sorted(aliases)))
    return [(m.start(), aliases[one_line(m.group(1)).lower()]) for m in pattern.finditer(text)]


def role_pairs(text: str, aliases: dict[str, str]) -> list[tuple[str, str]]:
    """Pairs named as 'between A and B', in page order."""
    pairs = []
    for clause in re.split(r"(?i)\bbetween\b", text)[1:]:
        clause = re.split(r"[.;:]", clause)[0]
        roles = list(dict.fromkeys(role for _, role in role_mentions(clause, aliases)))
        if len(roles) >= 2 and (roles[0], roles[1]) not in pairs:
            pairs.append((roles[0], roles[1]))
    return pairs


def _dynamic_pool(ports: PortRange) -> str:
    for key, (first, last, _) in DYNAMIC_RANGES.items():
        if (first, last) == (ports.first, ports.last):
            return key
    return ""


def _unique_id(base: str, section: Section, taken: set[str]) -> str:
    candidates = [base, slug(f"{section.key}-{base}", base)]
    for candidate in candidates:
        candidate = candidate[:64].rstrip("-._")
        if candidate not in taken:
            return candidate
    number = 2
    while f"{base[:60].rstrip('-._')}-{number}" in taken:
        number += 1
    return f"{base[:60].rstrip('-._')}-{number}"


def draft_rows(page: Page, aliases: dict[str, str]) -> list[dict[str, str]]:
    """One flows row per port and transport of the page's tables, in the flows schema's
    columns. What the page leaves open stays blank, and `assumption` says what to decide."""
    rows: list[dict[str, str]] = []
    taken: set[str] = set()
    for table in page.tables:
        for row in table.rows:
            protocol = row.cell("protocol")
            label = row.cell("label") or (protocol if not protocol_transports(protocol) else "")
            details = row.cell("details")
            purpose = details or label or protocol or f"Port from the table at line {table.line}"
            about_roles: list[str] = []
            source, destination, direction = _roles_of_row(row, aliases, about_roles)
            if len(purpose) > MAX_FIELD_CHARS:
                purpose = purpose[: MAX_FIELD_CHARS - 1] + "…"
                about_roles.append(f"The details were cut to {MAX_FIELD_CHARS} characters: shorten the purpose.")
            for statement in row.ports:
                decide = list(about_roles)
                if statement.dynamic:
                    port = str(statement.ports) if statement.ports else ""
                    pool = _dynamic_pool(statement.ports) if statement.ports else ""
                    if not statement.ports:
                        decide.append("The page calls these ports dynamic without giving a range: set the port to the pool and `dynamic` to its platform.")
                    elif not pool:
                        decide.append(f"The page gives {port} as the dynamic range, which is no documented platform pool: record the pool in use and an erratum for the page's value.")
                else:
                    port = str(statement.ports) if statement.ports else ANY
                    pool = ""
                if not statement.transport:
                    decide.append(f"The page gives no transport for {statement.words!r}: set tcp or udp.")
                programs = row.programs
                program = programs[0] if len(programs) == 1 else ""
                if len(programs) > 1:
                    decide.append(f"The row names several programs ({', '.join(programs)}): keep the one the rule is bound to.")
                base_name = label or (re.sub(r"(?i)\.exe$", "", program) if program else "") or "port"
                port_part = "dynamic" if statement.dynamic else ("any" if statement.ports is None else str(statement.ports))
                transport = statement.transport
                base = slug(f"{base_name}-{port_part}" + (f"-{transport}" if transport and transport != port_part else ""), "flow")
                flow_id = _unique_id(base, table.section, taken)
                taken.add(flow_id)
                rows.append({
                    "id": flow_id,
                    "transport": transport,
                    "port": port,
                    "dynamic": pool,
                    "source": source,
                    "destination": destination,
                    "direction": direction,
                    "service": "",
                    "program": program,
                    "rule": row.cell("rule"),
                    "purpose": purpose,
                    "condition": "",
                    "reference": table.section.key,
                    "assumption": " ".join(decide),
                })
    return [{column: row.get(column, "") for column in FLOWS.column_names} for row in rows]


def _roles_of_row(row: TableRow, aliases: dict[str, str], decide: list[str]) -> tuple[str, str, str]:
    """(source, destination, direction) as far as the row's words settle them."""
    if not aliases:
        decide.append("No roles were given (--roles ROLES.csv): fill in source, destination and direction.")
        return "", "", ""
    if "source" in row.cells and "destination" in row.cells:
        source = role_mentions(row.cell("source"), aliases)
        destination = role_mentions(row.cell("destination"), aliases)
        if source and destination:
            return source[0][1], destination[0][1], "one-way"
    text = " ".join(one_line(cell.text) for role, cell in row.cells.items() if role != "port")
    pairs = role_pairs(text, aliases)
    if pairs:
        source, destination = pairs[0]
        decide.append(f"The page names {source} and {destination} without saying which side connects: set the direction (and swap source and destination if needed).")
        for other in pairs[1:]:
            decide.append(f"It also names {other[0]} and {other[1]}: add a row for that pair.")
        return source, destination, ""
    named = list(dict.fromkeys(role for _, role in role_mentions(text, aliases)))
    if len(named) >= 2:
        decide.append(f"The page names {' and '.join(named)} but not who connects to whom: check source and destination and set the direction.")
        return named[0], named[1], ""
    if named:
        decide.append(f"The page names only {named[0]}: choose the peer role, which side connects, and the direction.")
    else:
        decide.append("The page names no known role here: fill in source, destination and direction.")
    return "", "", ""
