"""When the rows a page shows last changed, from git: the provenance the workbooks give
on their covers (generator.provenance), read once per data file per build."""
from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from ..git import git_text
from ..model import Flow
from ..provenance import NOT_AVAILABLE, UNCOMMITTED, DataHistory, last_changed
from .data import data_dir, model_of
from .reads import reader

# Data folder -> the history of its rows for the build under way.
_HISTORY: dict[Path, DataHistory] = {}
_COMMIT = re.compile(r"[0-9a-f]{40,64}")


def start_build(app: Sphinx) -> None:
    """builder-inited: a fresh history per build, as git may have moved since the last."""
    _HISTORY[data_dir(app.config)] = DataHistory(model_of(app.config))


def _history(env: BuildEnvironment) -> DataHistory:
    folder = data_dir(env.config)
    if folder not in _HISTORY:
        _HISTORY[folder] = DataHistory(model_of(env.config))
    return _HISTORY[folder]


def changed_text(commit: str, folder: Path) -> str:
    """A sentence saying when rows whose newest commit is `commit` (as provenance gives it) changed."""
    if commit == NOT_AVAILABLE:
        return "When these rows last changed is not known: the data is not in a git checkout."
    if commit == UNCOMMITTED:
        return "These rows have changes not yet committed."
    name = commit.split(" ", 1)[0]
    if not _COMMIT.fullmatch(name):
        return f"These rows last changed in {commit}."
    shown = (git_text("show", "-s", "--format=%cs %h", name, folder=folder) or "").split()
    when = f"on {shown[0]}, in commit {shown[1]}" if len(shown) == 2 else f"in commit {name[:12]}"
    pending = "; some have changes not yet committed" if UNCOMMITTED in commit else ""
    return f"These rows last changed {when}{pending}."


def rows_changed(env: BuildEnvironment, flows: list[Flow], roles: list[str]) -> str:
    model = model_of(env.config)
    commit = last_changed(model, _history(env), flows, roles)
    return changed_text(commit, data_dir(env.config))


@reader(data_only=False)
def role_changed(env: BuildEnvironment, role_id: str) -> str:
    """When the rows of a role's page last changed: its flows, the role and its hosts.
    Not from the data only: a commit changes it and not the data."""
    model = model_of(env.config)
    return rows_changed(env, list(model.flows_by_role.get(role_id, [])), [role_id])
