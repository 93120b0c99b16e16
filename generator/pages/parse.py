"""A published page's structure: front-matter title, headings, tables with a port column
(the header's words say which column is which), other tables, and prose blocks
(paragraphs, list items, headings, code), each value cleaned of Markdown and HTML and
located at its page LINE:COLUMN (lines end at LF, CR LF or CR, as markdown-it counts
them). The block structure is markdown-it's (CommonMark with GFM tables); the text inside
each block is read here, so that every character keeps its column; saved HTML pages are
read into the same records by `html`. Pure functions from page text to records
(`read_page` is the one that opens a file); what the text states is `mentions`'.
"""
from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ..csvfile import display_path

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
class LocatedText:
    """Cleaned text, located: each anchor (offset in text, line, column) starts a run of
    characters that sit side by side on that page line."""

    text: str
    anchors: tuple[tuple[int, int, int], ...]
    notes: tuple[tuple[int, int, str], ...] = ()  # (line, column, text) of <sup> footnote markers

    def at(self, offset: int) -> tuple[int, int]:
        """Page (line, 1-based column) of the character at `offset`."""
        if not self.anchors:
            return (0, 0)
        offset = max(0, min(offset, len(self.text) - 1))
        start, line, column = self.anchors[max(bisect.bisect_right(self.anchors, (offset, 1 << 62, 0)) - 1, 0)]
        return (line, column + offset - start)


EMPTY = LocatedText("", ())


def joined(texts: list[LocatedText], separators: list[str] | None = None) -> LocatedText:
    """Several located texts as one, each part keeping its page positions. Between parts
    stands a line break; given separators stand before every part (the first included)."""
    parts = [(text, separators[index] if separators else "\n") for index, text in enumerate(texts) if text.text]
    if not parts:
        return EMPTY
    chunks, anchors, notes, length = [], [], [], 0
    for index, (part, separator) in enumerate(parts):
        if separators:
            separator = separator if index else separator.removeprefix("; ")
        if index or separators:
            line, column = part.at(0)
            anchors.append((length, line, column))
            chunks.append(separator)
            length += len(separator)
        anchors.extend((offset + length, line, column) for offset, line, column in part.anchors)
        chunks.append(part.text)
        notes.extend(part.notes)
        length += len(part.text)
    return LocatedText("".join(chunks), tuple(anchors), tuple(notes))

# Every repeated part is bounded or cannot overlap the next one, so that a page line of
# any length is scanned in linear time (unbounded link text made a line of '[' quadratic).
LINK_LABEL_CHARS = 500
LINK_TARGET_CHARS = 2000
_TOKEN = re.compile(
    r"(?P<br><br\s*/?>)"
    rf"|(?P<include>\[!INCLUDE\[(?P<token>[^\]\n]{{0,{LINK_LABEL_CHARS}}})\]\([^)\n]{{0,{LINK_TARGET_CHARS}}}\)\])"
    r"|(?P<sup><sup>(?P<note>[^<\n]{0,40})</sup>|\[\^(?P<reference>[^\]\s]{1,20})\])"
    rf"|(?P<link>\[(?P<label>[^\]\n]{{0,{LINK_LABEL_CHARS}}})\]\([^)\n]{{0,{LINK_TARGET_CHARS}}}\))"
    r"|(?P<tag></?[A-Za-z][^<>\n]*>)"
    r"|\\(?P<escaped>[!-/:-@\[-`{-~])"
    r"|(?P<strong>\*\*|__(?=\w)|(?<=\w)__)"
    r"|&(?P<entity>amp|lt|gt|quot|apos|nbsp|#[0-9]{1,7}|#x[0-9a-f]{1,6});",
    re.IGNORECASE,
)
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": " "}


def _entity(name: str) -> str:
    """The character an entity names; a numeric one outside Unicode (or NUL) stays as written."""
    if not name.startswith("#"):
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1:2] == "x" else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else f"&{name};"


def clean(pieces: list[tuple[int, int, str]]) -> LocatedText:
    """Join raw pieces (line, 1-based column of the piece's first character, raw text)
    into plain text: escapes resolved, <br /> as a line break, tags and emphasis dropped,
    links reduced to their label, soft line breaks as spaces."""
    chunks: list[str] = []
    anchors: list[tuple[int, int, int]] = []
    notes: list[tuple[int, int, str]] = []
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
            elif match.group("sup"):
                # A footnote marker is no part of the value it follows ("1433<sup>1</sup>", "1433[^1]").
                marker = "note" if match.group("note") is not None else "reference"
                notes.append((line, start + match.start(marker), match.group(marker)))
                emit(" ", line, start + match.start())
            elif match.group("link"):
                label = clean([(line, start + match.start("label"), match.group("label"))])
                for index, (offset, label_line, label_column) in enumerate(label.anchors):
                    end = label.anchors[index + 1][0] if index + 1 < len(label.anchors) else len(label.text)
                    emit(label.text[offset:end], label_line, label_column)
            elif match.group("escaped"):
                emit(match.group("escaped"), line, start + match.start())
            elif match.group("entity"):
                emit(_entity(match.group("entity").lower()), line, start + match.start())
            elif match.group("include"):
                # Microsoft Docs' [!INCLUDE[ssNoVersion](path)]: the include's name stands for its text.
                emit(match.group("token"), line, start + match.start("token"))
            offset = match.end()
        emit(raw[offset:], line, start + offset)
    return LocatedText("".join(chunks), tuple(anchors), tuple(notes))


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
class PageSection:
    """A heading of the page (the part of the page a flow's `reference` may cite)."""

    key: str  # slug of the heading title (or "top" before any heading)
    title: str
    anchor: str  # <a name="..."> / <a id="..."> / {#...} of the heading, if any
    line: int


TOP = PageSection("top", "", "", 0)


@dataclass(frozen=True)
class ProseBlock:
    """A paragraph, list item, heading, code line run or cell of a table that has no port
    column: text the page says outside its port tables."""

    text: LocatedText
    section: PageSection
    kind: str = "paragraph"  # "paragraph", "item" (of a bulleted or numbered list), "heading", "code", "cell"


@dataclass(frozen=True)
class PageRow:
    line: int
    section: PageSection
    cells: dict[str, LocatedText]  # column role -> cleaned cell (every column of that role, joined)
    cell_count: int = 0  # cells the row has on the page (the header may have another number)
    column: int = 1  # where the row starts on its line

    def cell(self, role: str) -> str:
        value = self.cells.get(role)
        return one_line(value.text) if value else ""


@dataclass
class PageTable:
    """A table whose header names a port column."""

    line: int
    section: PageSection
    header: list[str]
    roles: dict[str, list[int]]  # column role -> indexes, in page order
    rows: list[PageRow] = field(default_factory=list)
    header_columns: list[int] = field(default_factory=list)  # page column of each header cell
    misspelt: list[tuple[int, str]] = field(default_factory=list)  # (index, close known word) of unknown headers


@dataclass(frozen=True)
class OtherTable:
    """A table with no port column (its cells are read as prose)."""

    line: int
    section: PageSection
    header: list[str]
    rows: int


@dataclass
class ParsedPage:
    title: str
    sections: list[PageSection]
    tables: list[PageTable]  # only tables with a port column
    prose: list[ProseBlock]  # everything else that holds text, in page order
    other_tables: list[OtherTable] = field(default_factory=list)
    revision: str = ""  # the page's own date (front matter, or an HTML <meta> date), "" when it gives none


# Block structure only: the inline rules are off, since `clean` reads each block's text
# itself to keep every character's page column; link reference definitions stay text.
_BLOCKS = MarkdownIt("commonmark").enable("table").disable(["inline", "reference"])
_LINE_END = re.compile(r"\r\n?|\n")  # the line ends markdown-it counts lines by
# The front-matter keys that date a page, the most specific first.
REVISION_KEYS = ("ms.date", "date", "updated")
_FRONT_MATTER_KEY = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(.*)$")
_ANCHOR = re.compile(r"""<a\s+(?:name|id)\s*=\s*["']?([^"'>\s]{1,200})["']?\s*/?>|\{#([^}\s]{1,200})\}""", re.IGNORECASE)
# What a block quote or list item puts before a table row of its own.
_CONTAINER_PREFIX = re.compile(r"[ \t]*(?:>[ \t]?)*(?:(?:[-*+]|[0-9]{1,9}[.)])[ \t]+)?")

# Header words that say what a column holds, tried in this order; a header takes the first
# role one of its words starts with. "Port" comes first ("Port/protocol", "Port number and
# direction" are port columns; "Transport" is not), and an application protocol is a name.
COLUMN_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("port", ("port",)),
    ("label", ("application",)),
    ("protocol", ("protocol", "transport", "proto")),
    ("rule", ("rule", "exception")),
    ("source", ("source", "from", "initiator", "client")),
    ("destination", ("destination", "target", "to", "listener")),
    ("direction", ("direction",)),
    ("details", ("detail", "descr", "purpose", "note", "comment", "usage", "use", "reason", "explanation",
                 "configurable", "remark")),
    ("side", ("feature", "component", "role", "computer", "endpoint", "side", "system")),
    ("label", ("service", "name", "scenario", "function")),
)
# The words headers are written with: a header word that is none of them but close to one
# ("Featuret") is a misspelling the import reports.
_HEADER_WORDS = frozenset("""
port ports protocol protocols transport transports proto rule rules exception exceptions source sources from
initiator initiators client clients destination destinations target targets to listener listeners direction
directions detail details description descriptions purpose purposes note notes comment comments usage use used
reason reasons explanation explanations configurable remark remarks feature features component components role
roles computer computers endpoint endpoints side sides system systems service services name names scenario
scenarios function functions application applications number numbers and or of the by for in on with type
""".split())


def column_role(header: str) -> str:
    """The role of a column ("port", "protocol", "source", ...; "side" for one of several
    feature or role columns), or "" for a header no known word starts."""
    words = re.findall(r"[a-z]+", header.lower())
    for role, prefixes in COLUMN_WORDS:
        if any(word.startswith(prefix) if len(prefix) > 2 else word == prefix for word in words for prefix in prefixes):
            return role
    return ""


def header_suggestion(header: str) -> str:
    """The known header word a header no known word starts is probably a misspelling of
    ("Featuret B" -> "feature"), or ""."""
    for word in re.findall(r"[a-z]+", header.lower()):
        if word not in _HEADER_WORDS:
            close = difflib.get_close_matches(word, _HEADER_WORDS, n=1, cutoff=0.8)
            if close:
                return close[0]
    return ""


def table_roles(header: list[str]) -> tuple[dict[str, list[int]], list[tuple[int, str]]]:
    """(role -> column indexes, [(index, suggested word)] for headers spelled like no known
    header). A misspelt header takes the role of the word it is close to. Of several feature
    or role columns the first is the source side and the second the destination side (the
    port cell's arrows or the row's words say which way); a single one names the row."""
    roles: dict[str, list[int]] = {}
    misspelt: list[tuple[int, str]] = []
    for position, name in enumerate(header):
        role = column_role(name)
        suggestion = header_suggestion(name)
        if suggestion or (not role and name.strip()):
            misspelt.append((position, suggestion))
            role = role or (column_role(suggestion) if suggestion else "")
        if role:
            roles.setdefault(role, []).append(position)
    sides = roles.pop("side", [])
    if len(sides) >= 2 and "source" not in roles and "destination" not in roles:
        roles["source"], roles["destination"] = [sides[0]], [sides[1]]
        sides = sides[2:]
    if sides:
        roles.setdefault("label", []).extend(sides)
        roles["label"].sort()
    return roles, misspelt


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


def _front_matter(lines: list[str]) -> tuple[str, str, int]:
    """(title, revision of the front matter, index of the first line after it)."""
    if not lines or lines[0].strip() != "---":
        return "", "", 0
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            values: dict[str, str] = {}
            for meta in lines[1:index]:
                match = _FRONT_MATTER_KEY.match(meta)
                if match:
                    values.setdefault(match.group(1).lower(), match.group(2).strip().strip("\"'"))
            revision = next((values[key] for key in REVISION_KEYS if values.get(key)), "")
            return values.get("title", ""), revision, index + 1
    return "", "", 0


def parse_page(source: str) -> ParsedPage:
    """Read a Markdown page into sections, port tables and prose blocks."""
    lines = _LINE_END.split(source)
    title, revision, body_start = _front_matter(lines)
    # The front matter's lines stay, blank, so that markdown-it's line numbers are the page's.
    tokens = _BLOCKS.parse("\n" * body_start + "\n".join(lines[body_start:]))
    page = ParsedPage(title="", sections=[], tables=[], prose=[], revision=revision)
    section = TOP
    index = 0
    items = 0  # depth of list items around the token
    while index < len(tokens):
        token = tokens[index]
        items += {"list_item_open": 1, "list_item_close": -1}.get(token.type, 0)
        if token.type == "heading_open":
            content = tokens[index + 1]
            section = _heading(content, lines)
            page.sections.append(section)
            page.prose.append(ProseBlock(clean(_content_pieces(content, lines)), section, "heading"))
            if not title and token.tag == "h1":
                title = section.title
            index += 3
            continue
        if token.type == "table_open":
            end = next(position for position in range(index, len(tokens)) if tokens[position].type == "table_close")
            _read_table(tokens[index:end], lines, section, page)
            index = end + 1
            continue
        pieces = _block_pieces(token, lines)
        if pieces:
            kind = "code" if token.type in ("fence", "code_block") else "item" if items else "paragraph"
            page.prose.append(ProseBlock(clean(pieces), section, kind))
        index += 1
    page.title = title
    return page


def _content_pieces(token: Token, lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, column, text) of each line of an inline token's content (a paragraph or a
    heading), found on its page line: markdown-it has cut the block quote markers, list
    markers and indentation off the front."""
    pieces = []
    for offset, text in enumerate(token.content.split("\n")):
        number = token.map[0] + offset + 1
        raw = lines[number - 1] if number <= len(lines) else ""
        text = text.strip()
        if not text:
            continue
        column = raw.rfind(text)
        if column < 0:  # markdown-it replaced a character (NUL): take the page line as it is
            text, column = raw.strip(), len(raw) - len(raw.lstrip())
        pieces.append((number, column + 1, text))
    return pieces


def _block_pieces(token: Token, lines: list[str]) -> list[tuple[int, int, str]]:
    """The located text of a paragraph, code or HTML block; nothing for other tokens."""
    if token.type == "inline":
        return _content_pieces(token, lines)
    if token.type in ("fence", "code_block"):
        # Code is prose for port mentions (a command line can carry a typo too), never a table.
        first = token.map[0] + (token.type == "fence")
        return [(number, 1, lines[number - 1]) for number in range(first + 1, first + 1 + token.content.count("\n"))]
    if token.type == "html_block":
        return [(number, len(raw) - len(raw.lstrip()) + 1, raw.strip())
                for number, raw in enumerate(lines[token.map[0]:token.map[1]], token.map[0] + 1) if raw.strip()]
    return []


def _heading(content: Token, lines: list[str]) -> PageSection:
    text = content.content
    anchor_match = _ANCHOR.search(text)
    anchor = (anchor_match.group(1) or anchor_match.group(2)) if anchor_match else ""
    title = one_line(clean([(content.map[0] + 1, 1, _ANCHOR.sub("", text))]).text)
    return PageSection(slug(title), title, anchor, content.map[0] + 1)


def _row_cells(raw: str, nested: bool) -> list[tuple[int, str]]:
    """The cells of a table line: (0-based start on the page line, raw text)."""
    prefix = _CONTAINER_PREFIX.match(raw).end() if nested else 0
    return [(start + prefix, text) for start, text in _cells(raw[prefix:])]


def _read_table(tokens: list[Token], lines: list[str], section: PageSection, page: ParsedPage) -> None:
    """Read a table's tokens into the page; cells are split on the page line, where their
    columns are (markdown-it says which lines are the header and the rows)."""
    table_open = tokens[0]
    nested = table_open.level > 0
    header_line = table_open.map[0] + 1
    header = [clean([(header_line, start + 1, text)]) for start, text in _row_cells(lines[header_line - 1], nested)]
    rows = []
    for number in [token.map[0] + 1 for token in tokens if token.type == "tr_open" and token.map[0] + 1 > header_line]:
        raw_cells = _row_cells(lines[number - 1], nested)
        column = raw_cells[0][0] + 1 if raw_cells else 1
        rows.append((number, column, [clean([(number, start + 1, text)]) for start, text in raw_cells]))
    add_table(page, section, header_line, header, rows)


def add_table(page: ParsedPage, section: PageSection, line: int, header: list[LocatedText],
              rows: list[tuple[int, int, list[LocatedText]]]) -> None:
    """Add a table (header cells; rows as (line, column, cells)) to the page: as a port
    table when a header names a port column, else as an other table whose cells are prose."""
    names = [one_line(cell.text) for cell in header]
    roles, misspelt = table_roles(names)
    # A header can state a number too ("Port (default 8080)"): it is page text like any other.
    page.prose.extend(ProseBlock(cell, section, "cell") for cell in header if any(c.isdigit() for c in cell.text))
    if "port" not in roles:
        page.other_tables.append(OtherTable(line, section, names, len(rows)))
        for _, _, cells in rows:
            page.prose.extend(ProseBlock(cell, section, "cell") for cell in cells if cell.text)
        return
    table = PageTable(line, section, names, roles, header_columns=[cell.at(0)[1] for cell in header], misspelt=misspelt)
    # Cells under no known header still state things (a port, a program): they are details.
    known = {position for positions in roles.values() for position in positions}
    columns = {role: list(positions) for role, positions in roles.items()}
    columns.setdefault("details", []).extend(position for position in range(len(names)) if position not in known)
    for number, column, cells in rows:
        by_role = {}
        for role, positions in columns.items():
            present = [position for position in positions if position < len(cells)]
            # A second column of one role says what it is: "…; Configurable: No".
            by_role[role] = joined([cells[position] for position in present],
                                   [f"; {names[position]}: " for position in present] if len(present) > 1 else None)
        by_role = {role: text for role, text in by_role.items() if role in roles or text.text}
        table.rows.append(PageRow(number, section, by_role, len(cells), column))
    page.tables.append(table)


def parse_any(source: str, path: Path) -> ParsedPage:
    """Read a page as saved HTML when its name or its start says so, else as Markdown."""
    start = source.lstrip()[:200].lower()
    if path.suffix.lower() in (".html", ".htm") or start.startswith(("<!doctype html", "<html")):
        from .html import parse_html  # only HTML pages need the HTML reader

        return parse_html(source)
    return parse_page(source)
