"""The provenance of what one output lists: the "generated from" lines of a workbook's
cover, and the site's notes of when a page's rows last changed.

A workbook that lists part of the data (one role's change request) names that part
only: a hash over its own records and the newest commit that changed their lines,
so that editing one row changes the workbooks listing it and no other. The commit of
each line comes from `generator.git.blame`, run once per data file and build.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Iterable

from .git import FileBlame, blame, git_text
from .model import Dataset, Flow, Location, Model
from .schema import FLOWS

UNCOMMITTED = "uncommitted changes in these rows"
NOT_AVAILABLE = "not available (the data is not in a git checkout)"


def _record_spans(starts: Iterable[int], length: int) -> dict[int, range]:
    """Record start line -> the lines of the record: up to the next record's start."""
    ordered = sorted(set(starts))
    ends = ordered[1:] + [max(length, ordered[-1] if ordered else 0) + 1]
    return {start: range(start, end) for start, end in zip(ordered, ends)}


class DataHistory:
    """The commits behind the data's rows, blamed once per file per build and shared by
    every output that asks."""

    def __init__(self, model: Model):
        self.model = model
        self.blames: dict[str, tuple[FileBlame, dict[int, range]] | None] = {}
        self.starts: dict[str, list[int]] | None = None
        self.ties: dict[tuple[str, ...], str] = {}

    def file_blame(self, name: str) -> tuple[FileBlame, dict[int, range]] | None:
        if name not in self.blames:
            found = blame(name)
            if found is not None:
                found = (found, _record_spans(self.record_starts().get(name, ()), len(found.commits)))
            self.blames[name] = found
        return self.blames[name]

    def record_starts(self) -> dict[str, list[int]]:
        """Data file -> the lines where its records start: a record with a line break in a
        quoted cell runs on to the next record's start."""
        if self.starts is None:
            self.starts = {}
            model = self.model
            for record in (*model.flows, *model.roles, *model.inventory, *model.errata):
                self.starts.setdefault(record.location.file, []).append(record.location.line)
        return self.starts

    def commit_of(self, locations: Iterable[Location]) -> str:
        """The newest commit among the lines of the records starting at `locations`, marked
        when some of those lines are not committed; NOT_AVAILABLE when none is in git."""
        commits: dict[str, tuple[int, str]] = {}  # commit -> (time, file it was seen in)
        known = uncommitted = False
        for location in locations:
            found = self.file_blame(location.file)
            if found is None:
                continue
            known = True
            history, spans = found
            for line in spans.get(location.line, (location.line,)):
                commit = history.commits[line - 1] if 0 < line <= len(history.commits) else ""
                if not commit:
                    uncommitted = True
                elif commit not in commits:
                    commits[commit] = (history.times.get(commit, 0), location.file)
        if not known:
            return NOT_AVAILABLE
        if not commits:
            return UNCOMMITTED
        latest = max(time for time, _name in commits.values())
        tied = sorted(commit for commit, (time, _name) in commits.items() if time == latest)
        newest = tied[0] if len(tied) == 1 else self.last_of(tied, commits[tied[0]][1])
        return newest + (f" ({UNCOMMITTED})" if uncommitted else "")

    def last_of(self, tied: list[str], name: str) -> str:
        """Of commits made in the same second, the one the others lead to (git's
        topological order, children first); the first by name when git cannot tell."""
        key = tuple(tied)
        if key not in self.ties:
            listed = git_text("rev-list", "--topo-order", "-n", "1", *tied, folder=Path(name).parent)
            self.ties[key] = listed.strip() if listed and listed.strip() in tied else tied[0]
        return self.ties[key]


# ---------------------------------------------------------------- what an output lists

# The flow fields of a record: the columns of the flows CSV, in their order.
FLOW_FIELDS = tuple(FLOWS.column_names)

ROWS_HASH_COVERS = (
    "sha256 of one compact JSON array in UTF-8 (no spaces, no escapes beyond JSON's own), holding one array "
    "per record: every listed flow in the order "
    'listed (["flow", change action, dataset id, then its CSV columns: ' + ", ".join(FLOW_FIELDS) + "]), "
    'every role named, by id (["role", id, name, description, dataset id]), the inventory hosts of those roles '
    '(["host", role, host, address, note]), the datasets of the flows (["dataset", id, version, title, '
    'short title, source title, publisher, url]) with the sections their flows cite (["section", dataset id, '
    'key, title, anchor]), and the site address used by links (["site", base_url]).'
)


@dataclass(frozen=True)
class Provenance:
    """What one output lists, for its "generated from" lines."""

    rows_hash: str  # see ROWS_HASH_COVERS
    files: tuple[str, ...]  # the data files holding those records, relative to the data folder
    commit: str  # the newest commit among the records' lines, UNCOMMITTED marks, or NOT_AVAILABLE


# One encoder call per output: the encoder's setup costs more than encoding one record.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _flow_record(action: str, flow: Flow) -> tuple[str, ...]:
    return ("flow", action, flow.dataset, *map(flow.value, FLOW_FIELDS))


def _shown_path(name: str, root: str) -> str:
    """A data file's path relative to the data folder (its last two parts when outside it),
    so that the same data gives the same text wherever it is read from."""
    path = os.path.abspath(name)
    if os.path.commonpath([path, root]) == root:
        return PurePath(os.path.relpath(path, root)).as_posix()
    return "/".join(PurePath(path).parts[-2:])


def _dataset_file(dataset: Dataset) -> str | None:
    return next((name for name in dataset.files if PurePath(name).name == "dataset.toml"), None)


def _named_roles(flows: Iterable[Flow], roles: Iterable[str]) -> list[str]:
    """The roles an output names: those given, and every role its flows connect."""
    return sorted(set(roles) | {role for flow in flows for role in (flow.source, flow.destination)})


def _record_locations(model: Model, flows: Iterable[Flow], named: list[str]) -> list[Location]:
    """Where the records of the flows, the named roles and their hosts start, in record order."""
    locations = [flow.location for flow in flows]
    locations += [role.location for role_id in named if (role := model.role_by_id.get(role_id)) is not None]
    locations += [host.location for role_id in named for host in model.hosts_by_role.get(role_id, ())]
    return locations


def last_changed(model: Model, history: DataHistory, flows: list[Flow], roles: Iterable[str]) -> str:
    """The commit of `provenance` alone, for an output listing `flows` and naming `roles`."""
    return history.commit_of(_record_locations(model, flows, _named_roles(flows, roles)))


def provenance(model: Model, history: DataHistory | None, listed: Iterable[tuple[str, Flow]],
               roles: Iterable[str]) -> Provenance:
    """Provenance of an output listing the flows of `listed` ((action, flow) pairs, in
    order) and naming `roles`; `history` None leaves git out (NOT_AVAILABLE)."""
    # A flow listed twice (inbound and outbound) is one record; by identity, as hashing a
    # flow's every field costs more than writing its record.
    flows = list({(action, id(flow)): (action, flow) for action, flow in listed}.values())
    named = _named_roles((flow for _action, flow in flows), roles)
    locations = _record_locations(model, (flow for _action, flow in flows), named)
    files: set[str] = set()
    records: list[tuple[str, ...]] = [_flow_record(action, flow) for action, flow in flows]
    for role_id in named:
        role = model.role_by_id.get(role_id)
        if role is not None:
            records.append(("role", role.id, role.name, role.description, role.dataset))
    for role_id in named:
        for host in model.hosts_by_role.get(role_id, ()):
            records.append(("host", host.role, host.host, host.address, host.note))
    used = {flow.dataset for _action, flow in flows}
    for dataset in model.datasets:
        if dataset.id not in used:
            continue
        source = dataset.source
        records.append(("dataset", dataset.id, dataset.version, dataset.title, dataset.short_title,
                        source.title, source.publisher, source.url))
        cited = {flow.reference for _action, flow in flows if flow.dataset == dataset.id}
        for key in sorted(cited & dataset.sections.keys()):
            section = dataset.sections[key]
            records.append(("section", dataset.id, key, section.title, section.anchor))
        toml = _dataset_file(dataset)
        if toml:
            files.add(toml)
    records.append(("site", str(model.settings.section("site").get("base_url", ""))))
    files.update(location.file for location in locations if location.file)
    root = os.path.abspath(model.settings.path.parent)
    return Provenance(
        rows_hash=hashlib.sha256(_encode(records).encode("utf-8")).hexdigest(),
        files=tuple(sorted({_shown_path(name, root) for name in files})),
        commit=history.commit_of(locations) if history is not None else NOT_AVAILABLE,
    )
