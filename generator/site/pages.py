"""Pages that follow the data: one page per role, and the other outputs (workbooks,
Markdown, policies) each role page links to, copied into the site.

Role pages live at roles/<role>.html (generator.views.role_page) without a file
per role in the source folder: the project's document discovery adds one
document per role of the data, each read from the same small template whose
text `source-read` replaces with `.. role-page:: <role>`. Sphinx then sees
roles come and go as documents added and removed, and builds with different
data folders can share one source folder, even at the same time. Everything on
the page comes from the directive, which records what it read (see reads).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.project import Project
from sphinx.util.osutil import relative_uri

from ..model import Model
from .builders import same_bytes
from .data import model_of
from .reads import reader
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
    found = [path for path in found if path.is_file()]
    policy = outputs / "policy"
    # os.walk and string operations: this runs for every role on every build.
    policies = []
    for folder, subfolders, files in os.walk(policy):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        in_role_folder = role_id in Path(folder).relative_to(policy).parts
        for name in files:
            if not name.startswith(".") and (in_role_folder or os.path.splitext(name)[0] == role_id):
                policies.append(Path(folder, name))
    return found + sorted(policies)


def _outputs(env: BuildEnvironment) -> Path:
    return _OUTPUTS[Path(env.srcdir).resolve()]


# Folder of the HTML output that holds copies of the other outputs, laid out as under
# the outputs folder (xlsx/<role>.xlsx, ...).
OUTPUTS_FOLDER = "_outputs"
OUTPUT_XREF = "portbook-output"  # reftype of links to those copies; see resolve_output_reference


@reader(data_only=False)
def role_outputs(env: BuildEnvironment, role_id: str) -> list[str]:
    """The other outputs of a role, relative to the outputs folder. The page shows their
    names only, so the page changes when one appears or goes away, not when one is rebuilt."""
    outputs = _outputs(env)
    return [path.relative_to(outputs).as_posix() for path in role_downloads(outputs, role_id)]


def output_links(paths: list[str], docname: str) -> list[nodes.Node]:
    """Download links to copies of other outputs, resolved per builder when written."""
    return [addnodes.pending_xref("", nodes.literal("", path), refdomain="", reftype=OUTPUT_XREF,
                                  reftarget=path, refdoc=docname, refexplicit=True) for path in paths]


def resolve_output_reference(app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref,
                             contnode: nodes.Element) -> nodes.reference | None:
    """missing-reference handler: link the copy under OUTPUTS_FOLDER, relative to the page."""
    if node.get("reftype") != OUTPUT_XREF:
        return None
    uri = relative_uri(app.builder.get_target_uri(node["refdoc"]), f"{OUTPUTS_FOLDER}/{quote(node['reftarget'])}")
    return nodes.reference("", "", contnode, internal=True, refuri=uri, classes=["download"])


def copy_outputs(app: Sphinx, exception: Exception | None) -> None:
    """build-finished handler: copy every role's other outputs into the HTML output, each
    only when its bytes differ from the copy already there, and remove copies of files
    that are gone. (Sphinx's own :download: copies every file on every build.)"""
    if exception is not None or app.builder.format != "html":
        return
    outputs = _outputs(app.env)
    folder = Path(app.outdir) / OUTPUTS_FOLDER
    wanted = set()
    for role in model_of(app.config).roles:
        for path in role_downloads(outputs, role.id):
            relative = path.relative_to(outputs)
            wanted.add(relative)
            copy = folder / relative
            if not same_bytes(path, copy):
                copy.parent.mkdir(parents=True, exist_ok=True)
                temporary = copy.with_name(f".{copy.name}.tmp")
                shutil.copyfile(path, temporary)
                os.replace(temporary, copy)
    if folder.is_dir():
        for path in sorted(folder.rglob("*"), reverse=True):  # files before their folders
            if path.is_file() and path.relative_to(folder) not in wanted:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
