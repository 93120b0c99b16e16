"""Pages that follow the data: one page per role, and the other outputs (workbooks,
Markdown, policies) each role page links to, copied into the site.

Role pages live at roles/<role>.html (generator.views.role_page). At builder-inited,
before Sphinx looks for documents, write_role_sources writes one small source per role
of the data into the generated folder roles/ of the source folder, holding just
`.. role-page:: <role>`, as sphinx.ext.autosummary writes its stubs: a file is written
only when its bytes change and the sources of roles that are gone are removed, so Sphinx
sees roles come and go as documents added and removed and reads an existing role page
again only when its data changed (see reads). Everything on the page comes from the
directive. A source there without the generated mark is a hand-written page and is left
alone. Beside them, roles/datasets/<dataset>.rst is the page of each dataset's roles
(`.. dataset-roles::`), whose toctree puts the role pages under their dataset in the
sidebar. The generated sources follow the data of the last build, so two builds of one
source folder with different data folders must not run at the same time.
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
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

from ..model import Model
from ..output_files import replace_file
from .data import model_of
from .reads import reader
from .table import dataset_doc, role_doc

logger = logging.getLogger(__name__)

# Folder of the role pages' sources within the source folder: "roles", as role_page says.
ROLE_FOLDER = Path(role_doc("role")).parent
# Folder of the generated dataset pages, which group the role pages by dataset.
DATASET_FOLDER = Path(dataset_doc("dataset")).parent
# First line of every generated role source; only files starting with it are replaced or removed.
GENERATED_MARK = ".. Generated from the data by the Portbook site extension at each build; do not edit.\n"
SOURCE_SUFFIX = ".rst"

# Source folder -> folder holding the other generators' outputs (build/ by default).
_OUTPUTS: dict[Path, Path] = {}


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


def role_source_text(role_id: str) -> str:
    return f"{GENERATED_MARK}\n.. role-page:: {role_id}\n"


def is_generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as source:
            return source.readline() == GENERATED_MARK
    except (OSError, UnicodeDecodeError):
        return False


def dataset_source_text(model: Model, dataset_id: str) -> str:
    """The page of a dataset's roles: its title and table, and the toctree that puts its
    role pages under it in the sidebar. Role ids are slugs (generator.schema.ID_PATTERN),
    so they go into the toctree as they are."""
    entries = "".join(f"      /{role_doc(role.id)}\n" for role in model.dataset_by_id[dataset_id].roles)
    # The toctree is the directive's content, so that it sits in the page's section and the
    # sidebar shows the role pages under the dataset, not beside it.
    return f"{GENERATED_MARK}\n.. dataset-roles:: {dataset_id}\n\n   .. toctree::\n      :hidden:\n\n{entries}"


def write_role_sources(app: Sphinx, model: Model) -> None:
    """Write the source of every role page and dataset page whose text changed, and remove
    the generated sources of roles and datasets no longer in the data (see the module's
    description)."""
    srcdir = Path(app.srcdir)
    wanted = {srcdir / f"{role_doc(role.id)}{SOURCE_SUFFIX}": role_source_text(role.id) for role in model.roles}
    wanted.update({srcdir / f"{dataset_doc(dataset.id)}{SOURCE_SUFFIX}": dataset_source_text(model, dataset.id)
                   for dataset in model.datasets})
    for path, text in wanted.items():
        if path.is_file() and not is_generated(path):
            logger.info("portbook: %s is written by hand; it is the page of its role or dataset", path)
            continue
        replace_file(path, text.encode("utf-8"))
    for folder in (srcdir / DATASET_FOLDER, srcdir / ROLE_FOLDER):  # the inner folder first
        if folder.is_dir():
            for path in folder.glob("*" + SOURCE_SUFFIX):
                if path not in wanted and is_generated(path):
                    path.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()


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
            stem = os.path.splitext(name)[0]
            # An unmanaged role's allow lists are <role>.allow.md and <role>.allow.nft.
            stem = stem[:-len(".allow")] if stem.endswith(".allow") else stem
            if not name.startswith(".") and (in_role_folder or stem == role_id):
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
