"""The flows table: a node that carries which rows and columns to show, rendered
from the model when the page is written.

HTML gets the table as escaped markup written in one pass (docutils tables of
thousands of rows are slow to build and to render); other builders get a
docutils table made from plain text nodes. Either way a cell's text is data and
nothing in it is parsed as markup. Where each page is a file of its own, a table's
rows are streamed into a file beside the page and put into the page when the build
ends (see ROWS_BESIDE_PAGE_BUILDERS).

A row is a flow, and on role pages the directed line of that flow
(generator.views.RequestLine), which says which way the row runs and who the peer is.
"""
from __future__ import annotations

import codecs
import hashlib
import html
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote, unquote

from docutils import nodes
from sphinx.util import logging

from ..model import Flow, Model
from ..views import REFERENCE_PAGE, RequestLine, flow_anchor, role_page
from .data import model_of

logger = logging.getLogger(__name__)

Row = tuple[Flow, RequestLine | None]  # a flow, and its directed line on a role page

# Docnames are the site's page paths (generator.views) without ".html".
REFERENCE_DOC = REFERENCE_PAGE.removesuffix(".html")


def role_doc(role_id: str) -> str:
    return role_page(role_id).removesuffix(".html")


def dataset_doc(dataset_id: str) -> str:
    """The page listing a dataset's roles, under the role pages' folder (a role id has no
    slash, so no role page can take its name)."""
    return f"{role_doc('datasets')}/{dataset_id}"


@dataclass(frozen=True)
class Column:
    header: str
    text: Callable[[Model, Flow, RequestLine | None], str]  # (model, flow, line) -> cell text
    # How the cell is shown: "role" names a role (a link to its page), "flow" a flow (a link
    # to its row), "port" its ports (sorted by number), "prose" running text; "" plain text.
    link: str = ""
    lines_only: bool = False  # needs a directed line (role pages), not a bare flow


COLUMNS: dict[str, Column] = {
    "id": Column("Flow", lambda m, f, l: f.id, link="flow"),
    "dataset": Column("Dataset", lambda m, f, l: m.dataset_by_id[f.dataset].short_title or f.dataset),
    "port": Column("Port", lambda m, f, l: f.label, link="port"),
    "ports": Column("Ports", lambda m, f, l: f.port_text, link="port"),
    "transport": Column("Transport", lambda m, f, l: f.transport),
    "dynamic": Column("Dynamic pool", lambda m, f, l: f.dynamic),
    "source": Column("Source", lambda m, f, l: f.source, link="role"),
    "destination": Column("Destination", lambda m, f, l: f.destination, link="role"),
    "direction": Column("Direction", lambda m, f, l: f.value("direction")),
    "way": Column("Way", lambda m, f, l: l.direction, lines_only=True),
    "peer": Column("Peer role", lambda m, f, l: l.peer, link="role", lines_only=True),
    "service": Column("Service", lambda m, f, l: f.service),
    "program": Column("Program", lambda m, f, l: f.program),
    "rule": Column("Firewall rule", lambda m, f, l: f.rule),
    "purpose": Column("Purpose", lambda m, f, l: f.purpose, link="prose"),
    "condition": Column("Condition", lambda m, f, l: f.condition, link="prose"),
    "reference": Column("Source section", lambda m, f, l: m.dataset_by_id[f.dataset].sections[f.reference].title if f.reference in m.dataset_by_id[f.dataset].sections else f.reference),
    "assumption": Column("Assumption", lambda m, f, l: f.assumption, link="prose"),
}

FLOW_COLUMNS = ("id", "port", "source", "destination", "direction", "service", "purpose")
LINE_COLUMNS = ("peer", "port", "service", "program", "rule", "purpose", "condition", "id")


class port_table(nodes.General, nodes.Element):
    """A table of flows. Attributes: `rows` (flow ids), `lines` (on role pages, per row
    the (role, direction, source, destination) of its RequestLine, else empty), `columns`
    (keys of COLUMNS), `anchors` (give each row its flow's stable anchor). Its only child,
    if any, is a Text with the table's words so that the search index finds them; writers
    never show it."""


# Columns whose words go into the search index: the names people search for (services,
# programs, rule names). Free text is left out because stemming every distinct word of
# thousands of rows is most of a large build; ports are left out because Sphinx's search
# drops plain numbers (index entries make ports findable instead).
SEARCH_COLUMNS = {"service", "program", "rule", "transport"}


def line_key(line: RequestLine) -> tuple[str, str, str, str]:
    """What a page keeps of a line besides its flow; RequestLine(flow, *key) gives it back."""
    return (line.role, line.direction, line.source, line.destination)


def make_port_table(model: Model, rows: list[Row], columns: list[str], anchors: bool = False, search: bool = True) -> port_table:
    """`search=False` leaves the table's words out of the search index, for a table whose
    rows another page already carries (stemming every word is most of a big build)."""
    node = port_table()
    node["rows"] = [flow.id for flow, _ in rows]
    node["lines"] = [line_key(line) for _, line in rows if line is not None]
    node["columns"] = list(columns)
    node["anchors"] = anchors
    node["support_smartquotes"] = False
    if search:
        words: set[str] = set()
        searched = [COLUMNS[name] for name in columns if name in SEARCH_COLUMNS]
        for flow, line in rows:
            for column in searched:
                words.update(column.text(model, flow, line).split())
        node += nodes.Text(" ".join(sorted(words)))
    return node


def shown_cells(model: Model, rows: list[Row], columns: list[str]) -> str:
    """A digest of what a table of `rows` shows in `columns`: each
    cell's text, plus the name of a role it names and whether that role has a page. This
    is what the writers render from the model when the page is written. Hashed row by row,
    so that a table of the whole data is never held twice."""
    texts = [COLUMNS[name].text for name in columns]
    digest = hashlib.sha256(repr(list(columns)).encode())
    roles: set[str] = set()
    role_columns = [index for index, name in enumerate(columns) if COLUMNS[name].link == "role"]
    for flow, line in rows:
        cells = [flow.id, line_key(line) if line is not None else None, *(text(model, flow, line) for text in texts)]
        roles.update(cells[index + 2] for index in role_columns)
        digest.update(repr(cells).encode("utf-8", "surrogatepass"))
    digest.update(repr([(role, model.role_name(role), role in model.role_by_id) for role in sorted(roles)]).encode())
    return digest.hexdigest()


def port_sort_key(flow: Flow) -> str:
    """What a port cell sorts by in the browser: its numbers zero-padded, so that 80
    comes before 443 and a range by its first port; "any" last."""
    if flow.ports is None:
        return f"99999-99999/{flow.transport}"
    return f"{flow.ports.first:05d}-{flow.ports.last:05d}/{flow.transport}"


def table_rows(model: Model, node: port_table) -> Iterator[Row]:
    flows = model.flow_by_id
    if not node["lines"]:
        for flow_id in node["rows"]:
            yield flows[flow_id], None
        return
    for flow_id, key in zip(node["rows"], node["lines"]):
        flow = flows[flow_id]
        yield flow, RequestLine(flow, *key)


def html_rows(model: Model, node: port_table, builder, docname: str):
    """The table's rows as HTML, one escaped string per row."""
    escape = html.escape
    known_roles = model.role_by_id
    reference = escape(builder.get_relative_uri(docname, REFERENCE_DOC))
    role_cells: dict[str, str] = {}  # a table names few roles many times

    def role_cell(role_id: str) -> str:
        cell = role_cells.get(role_id)
        if cell is None:
            text = escape(model.role_name(role_id))
            if role_id in known_roles:
                href = escape(builder.get_relative_uri(docname, role_doc(role_id)))
                cell = f'<td><a class="reference internal" href="{href}">{text}</a></td>'
            else:
                cell = f"<td>{text}</td>"
            role_cells[role_id] = cell
        return cell

    def flow_cell(flow_id: str) -> str:
        return f'<td><a class="reference internal" href="{reference}#{escape(flow_anchor(flow_id))}">{escape(flow_id)}</a></td>'

    def text_cell(value: str, flow: Flow) -> str:
        return f"<td>{escape(value)}</td>"

    def port_cell(value: str, flow: Flow) -> str:
        return f'<td class="portbook-port" data-sort="{escape(port_sort_key(flow))}">{escape(value)}</td>'

    def prose_cell(value: str, flow: Flow) -> str:
        return f'<td class="portbook-text">{escape(value)}</td>'

    cell_of = {"role": lambda value, flow: role_cell(value), "flow": lambda value, flow: flow_cell(value), "": text_cell,
               "port": port_cell, "prose": prose_cell}
    renderers = [(COLUMNS[name].text, cell_of[COLUMNS[name].link]) for name in node["columns"]]
    anchors = node["anchors"]
    for flow, line in table_rows(model, node):
        anchor = f' id="{escape(flow_anchor(flow.id))}"' if anchors else ""
        cells = "".join([render(text(model, flow, line), flow) for text, render in renderers])
        yield f'<tr{anchor} data-flow="{escape(flow.id)}">{cells}</tr>\n'


# HTML builders that write each page to a file of its own, final once written. With them,
# and UTF-8 pages (the default; an encoding with a byte-order mark or wider units does not
# split cleanly into bytes), a table's rows are written as they are made to a file in the
# output folder's ROWS_FOLDER (a dot folder, which publishing leaves behind), and the page
# holds a mark in their place until build-finished streams them in (splice_table_rows).
# A page's HTML otherwise passes whole through several copies on its way to disk (the
# translator's body, the writer's parts, the template's output): for the reference page of
# 100k flows, 78 MB, that was 500 MB at once. Other HTML builders (singlehtml, epub, which
# pack their pages before build-finished) get the rows in the page.
ROWS_BESIDE_PAGE_BUILDERS = frozenset({"html", "dirhtml"})
ROWS_FOLDER = ".portbook-rows"
ROWS_MARK = "<!--portbook-rows {}-->"
_ROWS_MARK = re.compile(rb"<!--portbook-rows (\d+)-->")
_ROWS_FILE = re.compile(r"(.+)\.(\d+)\.html")  # <quoted docname>.<table number>.html
_SPLICING = "splicing.tmp"  # the page being spliced, in ROWS_FOLDER (never a rows file's name)


def rows_beside_page(builder) -> bool:
    return (builder.name in ROWS_BESIDE_PAGE_BUILDERS
            and codecs.lookup(builder.config.html_output_encoding).name == "utf-8")


def _rows_folder(builder) -> Path:
    return Path(builder.outdir) / ROWS_FOLDER


def visit_port_table_html(self, node: port_table) -> None:
    """Write the whole table as escaped HTML and skip the node's children."""
    builder = self.builder
    model = model_of(builder.config)
    docname = builder.current_docname
    escape = html.escape
    head = "".join(f'<th class="head">{escape(COLUMNS[name].header)}</th>' for name in node["columns"])
    self.body.append(f'<div class="table-wrapper docutils container"><table class="docutils align-default portbook-table">\n<thead><tr>{head}</tr></thead>\n<tbody>\n')
    rows = html_rows(model, node, builder, docname)
    if rows_beside_page(builder):
        index = next(number for number, table in enumerate(self.document.findall(port_table)) if table is node)
        path = _rows_folder(builder) / f"{quote(docname, safe='')}.{index}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        # As Sphinx writes the page itself, so that the spliced page is what it would have written.
        with path.open("w", encoding="utf-8", errors="xmlcharrefreplace") as stream:
            stream.writelines(rows)
        self.body.append(ROWS_MARK.format(index))
    else:
        self.body.extend(rows)
    self.body.append("</tbody>\n</table></div>\n")
    raise nodes.SkipNode


def splice_table_rows(app, exception: Exception | None) -> None:
    """build-finished handler: stream the rows written beside each page into it. Runs after
    a failed build too, for the pages that were written. A page written by a build that
    stopped before this handler still holds its marks, and its rows files are still there:
    Sphinx takes the page for up to date, and this handler puts its rows in."""
    builder = app.builder
    folder = _rows_folder(builder)
    if not rows_beside_page(builder) or not folder.is_dir():
        return
    pages: dict[str, dict[int, Path]] = {}
    for path in folder.iterdir():
        found = _ROWS_FILE.fullmatch(path.name)
        if found and path.is_file():
            pages.setdefault(unquote(found[1]), {})[int(found[2])] = path
    for docname, tables in sorted(pages.items()):
        page = Path(builder.get_output_path(docname))
        if page.is_file() and not _splice(page, tables, folder / _SPLICING):
            # Removed, so that the next build writes it again.
            page.unlink()
            logger.warning("portbook: the page had lost the rows of a table and is removed; the next build "
                           "writes it again", location=docname)
        for path in tables.values():
            path.unlink()
    (folder / _SPLICING).unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()


def _splice(page: Path, tables: dict[int, Path], temporary: Path) -> bool:
    """Put the rows of `tables` (table number -> rows file) in place of the page's marks;
    False, leaving the page as it is, when a mark's rows are missing."""
    pieces = _ROWS_MARK.split(page.read_bytes())
    if len(pieces) == 1:
        return True  # rows already in place: these files outlived a build stopped just after
    if any(int(number) not in tables for number in pieces[1::2]):
        return False
    with temporary.open("wb") as out:
        out.write(pieces[0])
        for number, after in zip(pieces[1::2], pieces[2::2]):
            with tables[int(number)].open("rb") as rows:
                shutil.copyfileobj(rows, out, 1024 * 1024)
            out.write(after)
    os.replace(temporary, page)
    return True


def docutils_table(headers: list[str], rows: list[list[nodes.Node]], classes: tuple[str, ...] = ()) -> nodes.table:
    """A plain docutils table; every cell is given as nodes (usually Text), never as markup."""
    table = nodes.table(classes=list(classes))
    table["support_smartquotes"] = False
    group = nodes.tgroup(cols=len(headers))
    table += group
    # Relative widths for writers that lay out text (text, LaTeX): the longest cell, capped.
    widths = [len(text) for text in headers]
    for cells in rows:
        for index, cell in enumerate(cells):
            widths[index] = max(widths[index], min(len(cell.astext()), 40))
    group += [nodes.colspec(colwidth=max(width, 3)) for width in widths]
    head = nodes.thead()
    head += nodes.row("", *(nodes.entry("", nodes.paragraph("", "", nodes.Text(text))) for text in headers))
    group += head
    body = nodes.tbody()
    for cells in rows:
        body += nodes.row("", *(nodes.entry("", nodes.paragraph("", "", cell)) for cell in cells))
    group += body
    return table


def port_tables_as_docutils(app, doctree: nodes.document, docname: str) -> None:
    """doctree-resolved handler: builders other than HTML get each port_table as a
    docutils table of text."""
    if app.builder.format == "html":
        return
    model = model_of(app.config)
    for node in list(doctree.findall(port_table)):
        columns = [COLUMNS[name] for name in node["columns"]]
        rows = []
        for flow, line in table_rows(model, node):
            cells = []
            for column in columns:
                value = column.text(model, flow, line)
                if column.link == "role":
                    value = model.role_name(value)
                cells.append(nodes.Text(value))
            rows.append(cells)
        node.replace_self(docutils_table([column.header for column in columns], rows))
