"""Sphinx extension for the Portbook site: the data's flows, roles, errata and
schema as pages, always built from the current data folder.

conf.py lists "generator.site" in `extensions` and sets `portbook_data` to the
data folder. The model is loaded and checked once per build, before any page is
read (see .data), so parallel workers inherit it; data errors stop the build with
the same FILE:LINE:COLUMN messages as `python -m generator check`. Each role's
page is a small generated source (see .pages). A build after a data edit reads
again only the pages whose data changed (see .reads), and Sphinx writes those.
"""
from __future__ import annotations

import gc
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

from . import data, directives, history, pages, reads, search, table

# The extension's scripts and styles, served from the site itself (no network needed):
# copied into the HTML output's _static folder.
STATIC = Path(__file__).resolve().parent / "static"
TABLESORT = "vendor/tablesort-5.7.1"


def _builder_inited(app: Sphinx) -> None:
    checked = data.load(app.config)
    # The model's lookups, built here once rather than in each parallel worker after the fork.
    for index in ("flow_by_id", "role_by_id", "dataset_by_id", "flows_by_role", "hosts_by_role"):
        getattr(checked.model, index)
    pages.set_outputs_dir(app)
    pages.write_role_sources(app, checked.model)
    history.start_build(app)


def _freeze_for_writing(app: Sphinx, builder) -> None:
    """write-started handler. What is alive when pages start to be written (the model, the
    environment) lives until the build ends, and Python's cyclic collector would walk all
    of it at each full collection while they are written: at 10k flows about 0.8 s of a
    6 s write phase, and in the writers that -j forks, a copy of every memory page it
    touches. Frozen (gc.freeze), those objects are left out of collections until
    build-finished thaws them (_thaw), however the build ends."""
    gc.freeze()


def _thaw(app: Sphinx, exception: Exception | None) -> None:
    gc.unfreeze()


def _config_inited(app: Sphinx, config: Config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    if not config.html_search_scorer:  # a site's own scorer wins
        config.html_search_scorer = str(STATIC / search.SCORER)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.graphviz")
    app.add_config_value("portbook_data", "", "env", types=frozenset({str}))
    app.add_config_value("portbook_outputs", "", "env", types=frozenset({str}))
    app.add_domain(reads.PortbookDomain)
    app.add_search_language(search.EnglishStemmedOnce)
    app.connect("config-inited", _config_inited)
    app.connect("builder-inited", _builder_inited)
    app.add_css_file(f"{TABLESORT}/tablesort.css")
    app.add_css_file("portbook.css")
    app.add_js_file(f"{TABLESORT}/tablesort.min.js")
    app.add_js_file("portbook-tables.js")
    app.connect("html-page-context", search.search_page_scripts)
    app.connect("env-get-outdated", reads.outdated_documents)
    app.connect("env-updated", reads.navigation_changed)

    app.add_node(table.port_table, html=(table.visit_port_table_html, None))
    app.connect("doctree-resolved", table.port_tables_as_docutils)
    app.connect("missing-reference", directives.resolve_flow_reference)
    app.connect("missing-reference", pages.resolve_output_reference)
    app.connect("build-finished", table.splice_table_rows, priority=400)  # before anything reads the pages
    app.connect("build-finished", pages.copy_outputs)
    app.connect("build-finished", search.write_port_ranges)
    app.connect("write-started", _freeze_for_writing)
    app.connect("build-finished", _thaw, priority=900)  # after every other handler

    app.add_directive("port-table", directives.PortTable)
    app.add_directive("role-page", directives.RolePage)
    app.add_directive("role-list", directives.RoleList)
    app.add_directive("dataset-roles", directives.DatasetRolesPage)
    app.add_directive("dataset-summary", directives.DatasetSummary)
    app.add_directive("errata-table", directives.ErrataTable)
    app.add_directive("port-diagram", directives.PortDiagram)
    app.add_directive("data-schema", directives.DataSchema)
    app.add_directive("issue-codes", directives.IssueCodes)
    app.add_role("port", directives.PortRole())
    # env_version names the layout of what the environment holds for us (the Portbook
    # domain, see reads); a build with another version starts from a fresh environment.
    # Parallel reading is safe as the domain merges what each worker recorded; parallel
    # writing is, as the writers only read the model every worker inherits.
    return {"version": "3", "env_version": 3, "parallel_read_safe": True, "parallel_write_safe": True}
