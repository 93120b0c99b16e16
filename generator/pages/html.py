"""A saved HTML port page read into the same structure as a Markdown one (`parse`):
headings, tables (<table>, the first row the header), list items, paragraphs and code,
through the standard library's HTML parser. <br> is a line break inside a cell, <sup> a
footnote marker, scripts and styles are no text; every value keeps its page LINE:COLUMN.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from .parse import TOP, LocatedText, PageSection, ParsedPage, ProseBlock, add_table, one_line, slug

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Elements whose text is one block of prose (or one cell); inside one, others add to it.
_BLOCKS = {"p", "li", "dt", "dd", "pre", "caption", "blockquote", "figcaption", "td", "th"} | _HEADINGS
_BREAKS = {"div", "section", "article", "main", "body", "ul", "ol", "dl", "header", "footer", "nav", "aside", "table", "tr"}
_SKIPPED = {"script", "style", "template", "noscript"}


def _is_date_meta(name: str) -> bool:
    """A <meta> that dates the page: "date", "ms.date", "last-modified date", "updated"."""
    words = re.split(r"[\s.:_-]+", name.strip().lower())
    return words[-1] == "date" or name.strip().lower() == "updated"


class _Text:
    """Text being collected, each run anchored at its page position."""

    def __init__(self, kind: str, line: int, column: int):
        self.kind, self.line, self.column = kind, line, column
        self.chunks: list[str] = []
        self.anchors: list[tuple[int, int, int]] = []
        self.notes: list[tuple[int, int, str]] = []
        self.length = 0

    def add(self, text: str, line: int, column: int) -> None:
        if text:
            self.anchors.append((self.length, line, column))
            self.chunks.append(text)
            self.length += len(text)

    def located(self) -> LocatedText:
        return LocatedText("".join(self.chunks), tuple(self.anchors), tuple(self.notes))


class _PageReader(HTMLParser):
    def __init__(self) -> None:
        # References come one by one (not folded into the text) so that each keeps its column.
        super().__init__(convert_charrefs=False)
        self.page = ParsedPage(title="", sections=[], tables=[], prose=[])
        self.section = TOP
        self.block: _Text | None = None
        self.block_tag = ""
        self.tables: list[dict] = []  # open tables, innermost last
        self.skipping = 0
        self.in_title = False
        self.note: _Text | None = None
        self.anchor = ""

    def _position(self) -> tuple[int, int]:
        line, offset = self.getpos()
        return line, offset + 1

    def _finish_block(self) -> None:
        block, self.block = self.block, None
        if block is None:
            return
        text = block.located()
        if block.kind in ("td", "th"):
            if self.tables and self.tables[-1]["row"] is not None:
                self.tables[-1]["row"][2].append(text)
            return
        if block.kind in _HEADINGS:
            title = one_line(text.text)
            self.section = PageSection(slug(title), title, self.anchor, block.line)
            self.anchor = ""
            self.page.sections.append(self.section)
            if not self.page.title and block.kind == "h1":
                self.page.title = title
            kind = "heading"
        else:
            kind = {"li": "item", "pre": "code"}.get(block.kind, "paragraph")
        if text.text.strip():
            self.page.prose.append(ProseBlock(text, self.section, kind))

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
            return
        attributes = dict(attrs)
        line, column = self._position()
        if tag == "title":
            self.in_title = True
        elif tag == "meta" and _is_date_meta(attributes.get("name") or ""):
            self.page.revision = self.page.revision or one_line(attributes.get("content") or "")
        elif tag in ("a", *_HEADINGS) and (attributes.get("name") or attributes.get("id")) and (
                tag in _HEADINGS or self.block is None or self.block.kind in _HEADINGS):
            self.anchor = attributes.get("name") or attributes.get("id") or ""
        if tag == "br":
            if self.block is not None:
                self.block.add("\n", line, column)
        elif tag == "sup":
            self.note = _Text("sup", line, column)
        elif tag == "table":
            self._finish_block()
            self.tables.append({"line": line, "rows": [], "row": None, "section": self.section})
        elif tag == "tr" and self.tables:
            self._finish_block()
            self.tables[-1]["row"] = (line, column, [])
        elif tag in _BLOCKS and (self.block is None or tag in ("td", "th") or tag == self.block.kind
                                 or self.block.kind == "p"):
            # A block of the same kind, or any block after a paragraph, ends the open one
            # (HTML lets <li> and <p> go unclosed).
            self._finish_block()
            self.block, self.block_tag = _Text(tag, line, column), tag
        elif tag in _BREAKS and self.block is not None and self.block.kind not in ("td", "th", "li"):
            self._finish_block()

    def handle_startendtag(self, tag: str, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br",):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
            return
        if tag == "title":
            self.in_title = False
        elif tag == "sup" and self.note is not None:
            note, self.note = self.note, None
            text = note.located()
            if text.text.strip() and self.block is not None:
                line, column = text.at(len(text.text) - len(text.text.lstrip()))
                self.block.notes.append((line, column, text.text.strip()))
                self.block.add(" ", line, column)
        elif tag == self.block_tag and self.block is not None:
            self._finish_block()
        elif tag in _BREAKS and tag not in ("tr", "table") and self.block is not None and self.block.kind not in ("td", "th"):
            self._finish_block()  # the end of a list or section ends an item or paragraph left open
        elif tag == "tr" and self.tables and self.tables[-1]["row"] is not None:
            self._finish_block()
            table = self.tables[-1]
            if table["row"][2]:
                table["rows"].append(table["row"])
            table["row"] = None
        elif tag == "table" and self.tables:
            self._finish_block()
            table = self.tables.pop()
            if table["row"] is not None and table["row"][2]:
                table["rows"].append(table["row"])
            rows = table["rows"]
            if rows:
                add_table(self.page, table["section"], table["line"], rows[0][2], rows[1:])

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        line, column = self._position()
        if self.in_title:
            self.page.title = self.page.title or one_line(data)
            return
        target = self.note or self.block
        if target is None:
            if not data.strip():
                return
            self.block = target = _Text("p", line, column)
            self.block_tag = ""
        for index, piece in enumerate(data.split("\n")):
            if index:
                target.add(" ", line, column)
                line, column = line + 1, 1
            target.add(piece, line, column)
            column += len(piece)

    def handle_entityref(self, name: str) -> None:
        self.handle_data(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.handle_data(html.unescape(f"&#{name};"))

    def close(self) -> None:
        super().close()
        self._finish_block()
        while self.tables:
            self.handle_endtag("table")


def parse_html(source: str) -> ParsedPage:
    """Read a saved HTML page into sections, port tables and prose blocks."""
    reader = _PageReader()
    reader.feed(source)
    reader.close()
    return reader.page
