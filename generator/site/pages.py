"""Pages that follow the data: one page per role, and the downloads each role
page links to.

Role pages live at roles/<role>.html (generator.views.role_page) without a file
per role in the source folder: the project's document discovery adds one
document per role of the data, each read from the same small template whose
text `source-read` replaces with `.. role-page:: <role>`. Sphinx then sees
roles come and go as documents added and removed, and builds with different
data folders can share one source folder, even at the same time. Everything on
the page comes from the directive, which records the data files it read.
"""
from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.project import Project

from ..model import Model
from .data import model_of
from .table import role_doc

# The file every role page is read from; its text is replaced in source-read.
ROLE_TEMPLATE = Path(__file__).resolve().parent / "role-page.rst"

# Source folder -> {docname: role id} of the role pages of the current build.
_ROLE_DOCS: dict[Path, dict[str, str]] = {}
# Source folder -> folder holding the other generators' outputs (build/ by default).
_OUTPUTS: dict[Path, Path] = {}


class DataProject(Project):
    """Sphinx's project, plus one document per role of the data."""

    def discover(self, exclude_paths=(), include_paths=("**",)) -> set[str]:
        docnames = super().discover(exclude_paths, include_paths)
        for docname in _ROLE_DOCS.get(Path(self.srcdir).resolve(), {}):
            if docname not in docnames:  # a hand-written page of that name wins
                docnames.add(docname)
                self._docname_to_path[docname] = ROLE_TEMPLATE
        return docnames


def add_role_documents(app: Sphinx, model: Model) -> None:
    _ROLE_DOCS[Path(app.srcdir).resolve()] = {role_doc(role.id): role.id for role in model.roles}
    if not isinstance(app.project, DataProject):
        app.project.__class__ = DataProject  # same state; discovery now adds the role pages


def role_source(app: Sphinx, docname: str, source: list[str]) -> None:
    """source-read handler: the text of a role page is its directive, nothing else."""
    role_id = _ROLE_DOCS.get(Path(app.srcdir).resolve(), {}).get(docname)
    if role_id is not None and Path(app.env.doc2path(docname)) == ROLE_TEMPLATE:
        source[0] = f".. role-page:: {role_id}\n"


def set_outputs_dir(app: Sphinx) -> None:
    configured = str(app.config.portbook_outputs or "")
    _OUTPUTS[Path(app.srcdir).resolve()] = Path(configured).resolve() if configured else Path(app.outdir).resolve().parent


def role_downloads(outputs: Path, role_id: str) -> list[Path]:
    """The files other generators made for a role, where they exist: its workbook, its
    Markdown table, and every policy file named after it or kept in a folder named after it."""
    found = [outputs / "xlsx" / f"{role_id}.xlsx", outputs / "markdown" / "roles" / f"{role_id}.md"]
    policy = outputs / "policy"
    if policy.is_dir():
        found += sorted(
            path for path in policy.rglob("*")
            if path.is_file() and not path.name.startswith(".")
            and (path.stem == role_id or role_id in path.relative_to(policy).parts[:-1])
        )
    return [path for path in found if path.is_file()]


def _outputs(env: BuildEnvironment) -> Path:
    return _OUTPUTS[Path(env.srcdir).resolve()]


def download_nodes(env: BuildEnvironment, role_id: str) -> list[nodes.Node]:
    """:download:-style links; Sphinx copies the files into _downloads/ and records them
    as dependencies of the page, so a changed file re-reads it."""
    outputs = _outputs(env)
    links = []
    for path in role_downloads(outputs, role_id):
        # A leading "/" makes Sphinx take the path from the source folder, whatever the page.
        target = "/" + Path(os.path.relpath(path, env.srcdir)).as_posix()
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
