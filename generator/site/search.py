"""Finding a port with the site's search box.

Sphinx's search leaves numbers out of its word index and skips query words that are
numbers, but it matches index entries by substring. So every page that shows a port
carries index entries for each port label it shows ("5432" and "5432/tcp",
"49152-65535" and "49152-65535/tcp"): the query `5432` or `5432/tcp` finds them.
They are main entries, which Sphinx's search lists before pages where only a word
matched ("tcp"), and the scorer (SCORER, html_search_scorer) puts the role pages
among them first.

A port inside a range (`50000` in 49152-65535) is no substring of any entry. And
Sphinx keeps the index entries of a page only from the build that wrote it: an
incremental build, which writes the pages whose data changed, leaves the others'
entries out of its search index. So build-finished also writes PORT_RANGES_FILE from
the whole model, every build, listing every port and range shown and where, and the
search page loads SEARCH_SCRIPT, which adds the pages showing a port or a range
holding it to Sphinx's results (once each, whether Sphinx found them or not).
"""
from __future__ import annotations

import functools
import itertools
import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.search.en import SearchEnglish

from ..model import Flow
from ..views import INBOUND, OUTBOUND, flow_anchor, role_lines
from .data import model_of
from .pages import same_bytes
from .table import REFERENCE_DOC, role_doc

# Written into the HTML output's _static folder at build-finished.
PORT_RANGES_FILE = "portbook-port-ranges.js"
# Static files of the package (see static/).
SEARCH_SCRIPT = "portbook-search.js"
SCORER = "portbook-scorer.js"


class EnglishStemmedOnce(SearchEnglish):
    """Sphinx's English search language with each distinct word stemmed once, for every
    page and build of the process.
    Sphinx remembers stems within one page, so a word on every role page was stemmed
    once per page: a tenth of the site's build at 10,000 flows. Registered for "en"
    with Sphinx.add_search_language; the stems are the same."""

    def stem(self, word: str) -> str:
        return _english_stem(word.lower())


@functools.lru_cache(maxsize=1 << 16)
def _english_stem(word: str) -> str:
    return _ENGLISH.stemmer.stemWord(word)


_ENGLISH = SearchEnglish({})


def port_labels(flows: list[Flow]) -> list[tuple[str, str]]:
    """The distinct (ports, label) of `flows` that name ports, such as ("5432", "5432/tcp"), in data order."""
    return list(dict.fromkeys((flow.port_text, flow.label) for flow in flows if flow.ports is not None))


def port_index(labels: list[tuple[str, str, str]]) -> addnodes.index:
    """Index entries for a page's ports, from (ports, label, target id); see the module's
    description. Each gives the ports alone and the label: Sphinx matches an entry only
    when the query is at least half its length, and "80" is less than half of "80/tcp"."""
    return addnodes.index(entries=[("single", f"{ports}; {label}", target, "main", None) for ports, label, target in labels])


def way_anchor(way: str, role_id: str) -> str:
    """Id of a role page's section of the lines running `way`."""
    return nodes.make_id(f"{way}-{role_id}")


def range_records(app: Sphinx) -> Iterator[list]:
    """[first, last, transport, docname, anchor, page title, where on the page, on a role
    page] for every port and range each page shows, role pages first."""
    model = model_of(app.config)
    reference_title = app.env.titles[REFERENCE_DOC].astext() if REFERENCE_DOC in app.env.titles else REFERENCE_DOC
    labels = {flow.id: flow.label for flow in model.flows if flow.ports is not None}
    for role in model.roles:
        docname = role_doc(role.id)
        anchors = {way: way_anchor(way, role.id) for way in (INBOUND, OUTBOUND)}  # per role, not per line
        seen = set()
        for line in role_lines(model, role.id):
            ports = line.flow.ports
            if ports is None or (key := (labels[line.flow.id], line.direction)) in seen:
                continue
            seen.add(key)
            yield [ports.first, ports.last, line.flow.transport, docname, anchors[line.direction], role.name,
                   line.direction, True]
    first_of_label = set()
    for flow in model.flows:
        # The reference row of the first flow on each port label, as its index entry points at.
        if flow.ports is not None and labels[flow.id] not in first_of_label:
            first_of_label.add(labels[flow.id])
            yield [flow.ports.first, flow.ports.last, flow.transport, REFERENCE_DOC, flow_anchor(flow.id),
                   reference_title, flow.id, False]


# Records per json.dumps call: at 100k flows the script is 22 MB, and made as one string
# (with its escaped and prefixed copies, and the file's text read to compare) it was held
# four or five times at once.
RANGES_SLICE = 10_000


def port_ranges_script(records: Iterable[list]) -> Iterator[str]:
    """The script, a slice of records at a time: the same text as one json.dumps of them all."""
    yield "var PORTBOOK_PORT_RANGES = ["
    records = iter(records)
    separator = ""
    while piece := list(itertools.islice(records, RANGES_SLICE)):
        # "<" as \u003c keeps a "</script>" in a role name from closing anything.
        yield separator + json.dumps(piece, ensure_ascii=True, separators=(",", ":"))[1:-1].replace("<", "\\u003c")
        separator = ","
    yield "];\n"


def write_port_ranges(app: Sphinx, exception: Exception | None) -> None:
    """build-finished handler: write the ranges the search script looks a port up in.
    A script, not JSON, so that the search works from file:// too."""
    if exception is not None or app.builder.format != "html":
        return
    folder = Path(app.outdir) / "_static"
    folder.mkdir(parents=True, exist_ok=True)
    # Streamed through a temporary of a fixed name rather than output_files.replace_file,
    # whose name is new each time: a build killed while writing it leaves this one in a
    # published folder, and the next build, which publishes only once this handler has run,
    # takes it over.
    path, written = folder / PORT_RANGES_FILE, folder / f".{PORT_RANGES_FILE}.tmp"
    with written.open("w", encoding="utf-8") as stream:
        stream.writelines(port_ranges_script(range_records(app)))
    if same_bytes(written, path):
        written.unlink()
    else:
        os.replace(written, path)


def search_page_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """html-page-context handler: the search page loads the ranges and the script using them."""
    if pagename == "search":
        app.add_js_file(PORT_RANGES_FILE)
        app.add_js_file(SEARCH_SCRIPT)
