"""Pages that follow the data: one generated stub per role, and the downloads
each role page links to.

Role pages live at roles/<role>.html (generator.views.role_page). Each is a
one-line stub, `.. role-page:: <role>`, written into the source folder's roles/
when the builder starts; a stub is only rewritten when its text changes and is
deleted when its role goes, so Sphinx's own change detection sees exactly the
roles that were added or removed. Everything on the page comes from the
directive, which records the data files it read.
"""
from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from ..model import Model
from ..output_files import replace_file, safe_relative
from .data import model_of
from .table import role_doc

STUB_MARK = ".. Generated from the data for each role; edits are overwritten.\n"

# Source folder -> folder holding the other generators' outputs (build/ by default).
_OUTPUTS: dict[Path, Path] = {}


def stub_text(role_id: str) -> str:
    return f"{STUB_MARK}\n.. role-page:: {role_id}\n"


def write_role_stubs(srcdir: Path, model: Model, suffix: str = ".rst") -> None:
    # ids are slugs already; safe_relative makes sure none could name a path elsewhere
    wanted = {srcdir / safe_relative(role_doc(role.id) + suffix): stub_text(role.id) for role in model.roles}
    for folder in {path.parent for path in wanted} | {(srcdir / role_doc("x")).parent}:
        folder.mkdir(parents=True, exist_ok=True)
        for existing in folder.glob(f"*{suffix}"):
            if existing not in wanted and existing.read_text(encoding="utf-8").startswith(STUB_MARK):
                existing.unlink()
    for path, text in wanted.items():
        replace_file(path, text.encode())


def set_outputs_dir(app: Sphinx) -> None:
    configured = str(app.config.portbook_outputs or "")
    _OUTPUTS[Path(app.srcdir).resolve()] = Path(configured).resolve() if configured else Path(app.outdir).resolve().parent


def role_downloads(outputs: Path, role_id: str) -> list[Path]:
    """The files other generators made for a role, where they exist."""
    found = [outputs / "xlsx" / f"{role_id}.xlsx", outputs / "markdown" / "roles" / f"{role_id}.md"]
    policy = outputs / "policy" / role_id
    if policy.is_dir():
        found += sorted(path for path in policy.rglob("*") if path.is_file() and not path.name.startswith("."))
    return [path for path in found if path.is_file()]


def _outputs(env: BuildEnvironment) -> Path:
    return _OUTPUTS[Path(env.srcdir).resolve()]


def download_nodes(env: BuildEnvironment, role_id: str) -> list[nodes.Node]:
    """:download:-style links; Sphinx copies the files into _downloads/ and records them
    as dependencies of the page, so a changed file re-reads it."""
    outputs = _outputs(env)
    docdir = (Path(env.srcdir) / env.doc2path(env.current_document.docname, base=False)).parent
    links = []
    for path in role_downloads(outputs, role_id):
        target = Path(os.path.relpath(path, docdir)).as_posix()
        shown = path.relative_to(outputs).as_posix()
        links.append(addnodes.download_reference("", "", nodes.literal("", shown), reftarget=target, refexplicit=True))
    return links


def outdated_role_pages(app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """Role pages to read again because a download appeared since they were read (a file
    that went away already makes its page outdated, being a recorded dependency)."""
    model = model_of(app.config)
    srcdir = Path(env.srcdir)
    outputs = _outputs(env)
    stale = []
    for role in model.roles:
        docname = role_doc(role.id)
        if docname not in env.all_docs or docname in added or docname in changed:
            continue
        recorded = {(srcdir / dep).resolve() for dep in env.dependencies.get(docname, ())}
        if any(path.resolve() not in recorded for path in role_downloads(outputs, role.id)):
            stale.append(docname)
    return stale
