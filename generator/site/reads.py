"""What each page shows of the data, so that a data edit re-reads only the pages
that show what changed.

A directive that puts data on a page gets it from a reader: a function registered
with @reader that takes the environment and plain arguments (strings, tuples) and
returns plain values (strings, numbers, tuples, lists, frozen dataclasses of those)
holding everything the page shows of the data, including what the HTML writer
renders from the model later, such as table cells. `read` calls the reader and
records, for the page being read, the reader's name, its arguments and a digest
of what it returned. Before the next build reads anything, `outdated_documents`
calls every recorded reader again on the current data and returns the pages
whose digests changed; Sphinx reads those again and leaves the others alone,
whichever data file changed.

The records live in the Portbook domain (PortbookDomain), which Sphinx pickles with
the environment, forgets for a page read again or removed, and merges from parallel
readers. The data files are not dependencies of the pages in Sphinx's sense
(env.note_dependency): that would read every page showing data again after any edit.

Pages that show no data, or only Sphinx's own, are none of this module's business.
"""
from __future__ import annotations

import hashlib
from collections.abc import Set
from typing import Any, Callable

from sphinx.application import Sphinx
from sphinx.domains import Domain
from sphinx.environment import BuildEnvironment

from .data import model_of

Reader = Callable[..., Any]
READERS: dict[str, Reader] = {}
# Readers that look at more than the data (files on disk): run again even when the data is unchanged.
NOT_DATA: set[str] = set()


def reader(function: Reader | None = None, *, data_only: bool = True):
    """Register a reader under its name; `data_only=False` for one that looks beyond
    the data folder, e.g. at other outputs on disk. Use as @reader or @reader(data_only=False)."""
    def register(function: Reader) -> Reader:
        READERS[function.__name__] = function
        if not data_only:
            NOT_DATA.add(function.__name__)
        return function
    return register(function) if function is not None else register


def digest(content: Any) -> str:
    """A digest of a reader's result. repr() of plain values is the same in every
    process and run, unlike pickle, whose bytes depend on which equal strings are
    the same object."""
    return hashlib.sha256(repr(content).encode("utf-8", "surrogatepass")).hexdigest()


class PortbookDomain(Domain):
    """What the pages showed of the data. `data` holds "reads" (docname -> {(reader name,
    arguments): digest of what it returned}), "fingerprint" (the data's fingerprint when
    the records were last brought up to date) and "navigation" (navigation_digest at the
    last read)."""

    name = "portbook"
    label = "Portbook data"
    initial_data = {"reads": {}, "fingerprint": None, "navigation": None}
    data_version = 1  # bump when the layout of `data` changes: Sphinx then starts afresh

    @property
    def reads(self) -> dict[str, dict[tuple, str]]:
        return self.data["reads"]

    def clear_doc(self, docname: str) -> None:
        self.reads.pop(docname, None)

    def merge_domaindata(self, docnames: Set[str], otherdata: dict[str, Any]) -> None:
        theirs = otherdata["reads"]
        for docname in docnames:
            if docname in theirs:
                self.reads[docname] = theirs[docname]


def domain(env: BuildEnvironment) -> PortbookDomain:
    return env.domains[PortbookDomain.name]


def read(env: BuildEnvironment, function: Reader, *arguments: Any) -> Any:
    """`function(env, *arguments)`, recorded as shown on the page being read."""
    if READERS.get(function.__name__) is not function:
        raise LookupError(f"{function.__name__} is not a registered reader")
    content = function(env, *arguments)
    docname = env.current_document.docname
    domain(env).reads.setdefault(docname, {})[(function.__name__, arguments)] = digest(content)
    return content


def outdated_documents(app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str],
                       removed: set[str]) -> list[str]:
    """env-get-outdated handler: the pages whose recorded reads give another result now.
    A read shared by several pages (the same reader and arguments) is computed once.
    While the data is the same as at the last build (every page was brought up to date
    then), only the readers that look beyond the data run."""
    portbook = domain(env)
    fingerprint = model_of(env.config).fingerprint
    same_data = portbook.data["fingerprint"] == fingerprint
    portbook.data["fingerprint"] = fingerprint
    results: dict[tuple, str | None] = {}
    stale = []
    for docname, reads in portbook.reads.items():
        if docname in added or docname in changed or docname in removed or docname not in env.found_docs:
            continue
        for key, recorded in reads.items():
            if same_data and key[0] not in NOT_DATA:
                continue
            if key not in results:
                name, arguments = key
                function = READERS.get(name)
                # A reader that no longer exists (the extension changed) reads the page again.
                results[key] = digest(function(env, *arguments)) if function is not None else None
            if results[key] != recorded:
                stale.append(docname)
                break
    return stale


def navigation_digest(env: BuildEnvironment) -> str:
    """A digest of what every page shows of the other pages: their titles, their section
    tables of contents and the toctrees linking them (sidebars, previous and next links,
    :doc: links without a title)."""
    docs = sorted(env.found_docs)
    return digest((
        docs,
        [(doc, env.titles[doc].astext() if doc in env.titles else None) for doc in docs],
        [(doc, env.tocs[doc].pformat() if doc in env.tocs else None) for doc in docs],
        sorted((doc, list(included)) for doc, included in env.toctree_includes.items()),
        sorted((doc, repr(numbers)) for doc, numbers in env.toc_secnumbers.items()),
    ))


def navigation_changed(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """env-updated handler: when a title or a toctree changed, every page is written
    again, since each may show it (Sphinx itself writes only the pages it read)."""
    portbook = domain(env)
    current = navigation_digest(env)
    previous = portbook.data["navigation"]
    portbook.data["navigation"] = current
    if previous is not None and previous != current:
        return sorted(env.found_docs)
    return []
