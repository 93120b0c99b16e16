"""Where data came from: git runs, and the provenance of the records an output lists.

An output that lists part of the data (one role's change request) names that part
only: a hash over its own records and the newest commit that changed their lines,
so that editing one row changes the outputs listing it and no other. The commit of
each line comes from `git blame`, run once per data file and build and kept under
the repository's .git folder for the committed version of the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path, PurePath
from typing import Iterable

from .model import Dataset, Flow, Location, Model

# git answers local questions in milliseconds; a git that hangs (a lock, a slow network
# file system) must not hang the build or the diff with it.
GIT_TIMEOUT = 30


def git(*arguments: str, folder: Path | None = None, binary: bool = False) -> subprocess.CompletedProcess | None:
    """`git [-C folder] arguments...` with output captured (bytes when `binary`), or None
    when git cannot be run or does not finish within GIT_TIMEOUT seconds."""
    command = ["git", *(["-C", str(folder)] if folder is not None else []), *arguments]
    try:
        return subprocess.run(command, capture_output=True, text=not binary, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def git_text(*arguments: str, folder: Path | None = None) -> str | None:
    """What `git arguments...` printed, or None when git failed or could not run."""
    done = git(*arguments, folder=folder)
    return done.stdout if done is not None and done.returncode == 0 else None


# ---------------------------------------------------------------- which commit changed a line

UNCOMMITTED = "uncommitted changes in these rows"
NOT_AVAILABLE = "not available (the data is not in a git checkout)"

# A group header of `git blame --incremental`: commit, line in it, line now, lines in the group.
_GROUP = re.compile(r"([0-9a-f]{40,64}) \d+ (\d+) (\d+)")
_NOT_COMMITTED = re.compile(r"0+")  # the commit blame gives lines that differ from HEAD


@dataclass
class FileBlame:
    """The commit that last changed each line of one file ("" for a line not committed),
    and when each of those commits was made."""

    commits: list[str]  # index = line number - 1
    times: dict[str, int]


def _parse_blame(output: str) -> FileBlame:
    """The lines and commit times of `git blame --incremental` output."""
    commits: list[str] = []
    times: dict[str, int] = {}
    commit = ""
    for line in output.splitlines():
        group = _GROUP.fullmatch(line)
        if group is not None:
            commit = "" if _NOT_COMMITTED.fullmatch(group.group(1)) else group.group(1)
            first, count = int(group.group(2)), int(group.group(3))
            if len(commits) < first - 1 + count:
                commits.extend([""] * (first - 1 + count - len(commits)))
            commits[first - 1:first - 1 + count] = [commit] * count
        elif line.startswith("committer-time ") and commit:
            # Given once per commit, after the header of its first group.
            times[commit] = int(line.split(" ", 1)[1])
    return FileBlame(commits, times)


# Blame of a file as committed, kept in the repository's own folder: keyed by the last commit
# that changed the file, it stays right until the next one, and blaming a large file with a
# long history takes seconds, where applying the uncommitted changes to it takes a diff.
BLAME_CACHE = "portbook/blame"
# A hunk header of `git diff -U0`: old start[,count] new start[,count].
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.M)


def _committed_blame(folder: Path, name: str, last: str, cache: Path) -> FileBlame | None:
    stored = cache / f"{last}.json"
    try:
        runs, times = json.loads(stored.read_text(encoding="utf-8"))
        return FileBlame([commit for commit, count in runs for _ in range(count)], times)
    except (OSError, ValueError):
        pass
    done = git("blame", "--incremental", last, "--", name, folder=folder)
    if done is None:
        return None  # git did not finish (GIT_TIMEOUT): nothing is known
    if done.returncode != 0:
        return FileBlame([], {})  # not in that commit (it deleted the file): nothing is committed
    found = _parse_blame(done.stdout)
    runs: list[list] = []
    for commit in found.commits:
        if runs and runs[-1][0] == commit:
            runs[-1][1] += 1
        else:
            runs.append([commit, 1])
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob("*.json"):  # blames of earlier versions of the file
            old.unlink(missing_ok=True)
        temporary = cache / f".{last}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps([runs, found.times]), encoding="utf-8")
        os.replace(temporary, stored)
    except OSError:
        pass  # a read-only repository: blamed again next time
    return found


def _with_changes(committed: list[str], diff: str) -> list[str]:
    """The commits of a file's lines after the changes of `diff` (its committed version to
    the working tree, -U0): changed and added lines are not committed (""), the others keep
    their commit."""
    result: list[str] = []
    old = 1  # next line of the committed version to carry over
    for match in _HUNK.finditer(diff):
        old_start, old_count, new_count = int(match.group(1)), int(match.group(2) or 1), int(match.group(4) or 1)
        # With a count of 0 the start names the line before the change, not its first line.
        before = old_start if old_count == 0 else old_start - 1
        result += committed[old - 1:before]
        result += [""] * new_count
        old = before + old_count + 1
    result += committed[old - 1:]
    return result


def blame(path: str | Path) -> FileBlame | None:
    """Per line of `path`, the commit that last changed it ("" for lines not committed:
    every line of a file that is not in HEAD); None outside a git work tree, without git,
    or when git does not answer in time.
    The same answer as `git blame` of the working tree, from a cached blame of the last
    commit that changed the file and a diff from it."""
    path = Path(path)
    folder, name = path.parent, path.name
    where = (git_text("rev-parse", "--is-inside-work-tree", "--git-path", BLAME_CACHE, "--show-prefix",
                      folder=folder) or "").split("\n")
    if len(where) < 3 or where[0] != "true":
        return None
    cache = folder / where[1] / hashlib.sha256((where[2] + name).encode("utf-8")).hexdigest()[:32]
    done = git("log", "-1", "--format=%H", "--", name, folder=folder)
    if done is None:
        return None
    last = done.stdout.strip() if done.returncode == 0 else ""  # git log fails before the first commit
    if not last:  # never committed
        try:
            return FileBlame([""] * len(path.read_bytes().splitlines()), {})
        except OSError:
            return None
    committed = _committed_blame(folder, name, last, cache)
    if committed is None:
        return None
    diff = git_text("diff", "--no-ext-diff", "--no-color", "--no-renames", "--text", "-U0", last, "--", name,
                    folder=folder)
    if diff is None:
        return None
    return FileBlame(_with_changes(committed.commits, diff) if diff else committed.commits, committed.times)


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
        self._files: dict[str, tuple[FileBlame, dict[int, range]] | None] = {}
        self._starts: dict[str, list[int]] | None = None
        self._ties: dict[tuple[str, ...], str] = {}

    def _file(self, name: str) -> tuple[FileBlame, dict[int, range]] | None:
        if name not in self._files:
            found = blame(name)
            if found is not None:
                found = (found, _record_spans(self._record_starts().get(name, ()), len(found.commits)))
            self._files[name] = found
        return self._files[name]

    def _record_starts(self) -> dict[str, list[int]]:
        """Data file -> the lines where its records start: a record with a line break in a
        quoted cell runs on to the next record's start."""
        if self._starts is None:
            self._starts = {}
            model = self.model
            for record in (*model.flows, *model.roles, *model.inventory, *model.errata):
                self._starts.setdefault(record.location.file, []).append(record.location.line)
        return self._starts

    def commit_of(self, locations: Iterable[Location]) -> str:
        """The newest commit among the lines of the records starting at `locations`, marked
        when some of those lines are not committed; NOT_AVAILABLE when none is in git."""
        commits: dict[str, tuple[int, str]] = {}  # commit -> (time, file it was seen in)
        known = uncommitted = False
        for location in locations:
            found = self._file(location.file)
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
        newest = tied[0] if len(tied) == 1 else self._last_of(tied, commits[tied[0]][1])
        return newest + (f" ({UNCOMMITTED})" if uncommitted else "")

    def _last_of(self, tied: list[str], name: str) -> str:
        """Of commits made in the same second, the one the others lead to (git's
        topological order, children first); the first by name when git cannot tell."""
        key = tuple(tied)
        if key not in self._ties:
            listed = git_text("rev-list", "--topo-order", "-n", "1", *tied, folder=Path(name).parent)
            self._ties[key] = listed.strip() if listed and listed.strip() in tied else tied[0]
        return self._ties[key]


# ---------------------------------------------------------------- what an output lists

# The fields of each record, in the order of the CSV columns they come from.
FLOW_FIELDS = ("id", "transport", "port", "dynamic", "source", "destination", "direction", "service", "program",
               "rule", "purpose", "condition", "reference", "assumption")

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


# FLOW_FIELDS in three runs of plain attributes around port and direction, which Flow.value
# spells as the CSV does: one C call per run instead of one Python call per field.
_PORT_AT, _DIRECTION_AT = FLOW_FIELDS.index("port"), FLOW_FIELDS.index("direction")
_BEFORE_PORT = attrgetter(*FLOW_FIELDS[:_PORT_AT])
_BEFORE_DIRECTION = attrgetter(*FLOW_FIELDS[_PORT_AT + 1:_DIRECTION_AT])
_AFTER_DIRECTION = attrgetter(*FLOW_FIELDS[_DIRECTION_AT + 1:])


def _flow_record(action: str, flow: Flow) -> tuple[str, ...]:
    return ("flow", action, flow.dataset, *_BEFORE_PORT(flow), flow.value("port"), *_BEFORE_DIRECTION(flow),
            flow.value("direction"), *_AFTER_DIRECTION(flow))


def _shown_path(name: str, root: str) -> str:
    """A data file's path relative to the data folder (its last two parts when outside it),
    so that the same data gives the same text wherever it is read from."""
    path = os.path.abspath(name)
    if os.path.commonpath([path, root]) == root:
        return PurePath(os.path.relpath(path, root)).as_posix()
    return "/".join(PurePath(path).parts[-2:])


def _dataset_file(dataset: Dataset) -> str | None:
    return next((name for name in dataset.files if PurePath(name).name == "dataset.toml"), None)


def provenance(model: Model, history: DataHistory | None, listed: Iterable[tuple[str, Flow]],
               roles: Iterable[str]) -> Provenance:
    """Provenance of an output listing the flows of `listed` ((action, flow) pairs, in
    order) and naming `roles`; `history` None leaves git out (NOT_AVAILABLE)."""
    records: list[tuple[str, ...]] = []
    # A flow listed twice (inbound and outbound) is one record; by identity, as hashing a
    # flow's every field costs more than writing its record.
    flows = list({(action, id(flow)): (action, flow) for action, flow in listed}.values())
    named = sorted(set(roles) | {role for _action, flow in flows for role in (flow.source, flow.destination)})
    locations: list[Location] = []
    files: set[str] = set()
    for action, flow in flows:
        records.append(_flow_record(action, flow))
        locations.append(flow.location)
    for role_id in named:
        role = model.role_by_id.get(role_id)
        if role is not None:
            records.append(("role", role.id, role.name, role.description, role.dataset))
            locations.append(role.location)
    for role_id in named:
        for host in model.hosts_by_role.get(role_id, ()):
            records.append(("host", host.role, host.host, host.address, host.note))
            locations.append(host.location)
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
