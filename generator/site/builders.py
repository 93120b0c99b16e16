"""Sphinx's HTML builders, writing a page only when its bytes change.

Sphinx writes again every page it read again, plus their toctree parents and the
pages that an extension reports as updated, whether or not their text changed.
These builders render each page into a temporary file, put the rows of long tables
into it (see table.STREAM_ROWS), and replace the page only when the result differs
from the file already there: an unchanged page keeps its time stamp, so whoever
looks at the output (make, rsync, a reviewer) sees only the pages that changed.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from sphinx.builders.dirhtml import DirectoryHTMLBuilder
from sphinx.builders.html import StandaloneHTMLBuilder

from .table import stream_long_tables

CHUNK = 1 << 20


def same_bytes(one: Path, other: Path) -> bool:
    try:
        if one.stat().st_size != other.stat().st_size:
            return False
        with one.open("rb") as first, other.open("rb") as second:
            while True:
                block = first.read(CHUNK)
                if block != second.read(CHUNK):
                    return False
                if not block:
                    return True
    except FileNotFoundError:
        return False


def replace_if_changed(temporary: Path, target: Path) -> bool:
    """Move `temporary` over `target` unless both hold the same bytes; True if replaced."""
    if same_bytes(temporary, target):
        temporary.unlink()
        return False
    os.replace(temporary, target)
    return True


class ChangedPagesOnly:
    """Mixin for StandaloneHTMLBuilder and its subclasses."""

    streams_long_tables = True  # the HTML visitor of long tables leaves placeholders for us

    def prepare_writing(self, docnames: set[str]) -> None:
        super().prepare_writing(docnames)
        if self.indexer is not None:
            # Sphinx remembers stems within one page only; role pages repeat the same service,
            # program and rule names, so one memory for the whole build saves most of the
            # stemming, which runs in the main process even in parallel builds.
            language = self.indexer.lang
            language.stem = functools.lru_cache(maxsize=1 << 16)(language.stem)

    def write_documents(self, docnames) -> None:
        # Sphinx writes with one worker fewer than -j asks for, leaving a core to the main
        # process, which loads doctrees and indexes their words. On this site that share is
        # small (tables are rendered by the writers), so that core would mostly wait: -j N
        # writes with N workers.
        if self.parallel_ok:
            self._write_parallel(sorted(docnames), nproc=self._app.parallel)
        else:
            super().write_documents(docnames)

    def handle_page(self, pagename: str, addctx: dict[str, Any], templatename: str = "page.html", *,
                    outfilename: Path | None = None, event_arg: Any = None) -> None:
        target = Path(outfilename) if outfilename else self.get_output_path(pagename)
        # The process id keeps parallel writers apart; the leading dot keeps the file out of
        # globs over the output.
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        super().handle_page(pagename, addctx, templatename, outfilename=temporary, event_arg=event_arg)
        if not temporary.exists():  # Sphinx reported why it could not write the page
            return
        if event_arg is not None:
            stream_long_tables(self, pagename, event_arg, temporary)
        replace_if_changed(temporary, target)


class HTMLBuilder(ChangedPagesOnly, StandaloneHTMLBuilder):
    name = "html"


class DirectoryBuilder(ChangedPagesOnly, DirectoryHTMLBuilder):
    name = "dirhtml"
