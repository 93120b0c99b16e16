"""`diff OLD NEW`: a review report of what changed between two versions of the data.

OLD and NEW are each a data folder (or a folder holding one under `--data`), a CSV
file (the data folder holding it, or, outside any data folder, that flows file
alone), a git revision (`HEAD~1`, a branch, a commit: its data folder at --data), or
`REV:path` (the folder, or the file, at path in that revision), read with `git show`
into a temporary folder. Both are loaded and checked like `check` does; the report
names flows, errata, roles, inventory entries and dataset descriptions added,
removed and changed (field by field), an inventory host whose address moved as one
change with the number of firewall lines it removes and adds, and the checks the NEW
data fails, with a one-line summary for the pull request. `--xlsx` writes the firewall
lines to remove (with OLD's addresses) and to add (with NEW's) as a change request.

Exit codes: 0 when the data is the same and NEW has no errors (warnings are listed
but pass); 1 when anything differs or NEW has errors (they are listed in the report's checks section), and when
OLD or NEW cannot be loaded at all (their issues are printed as FILE:LINE:COLUMN:
CODE message, with no report) or the --xlsx workbook cannot be written; 2 on usage errors, such as an OLD or NEW that is
neither a path nor a revision.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from .. import changes as comparing
from ..checks import check_codes
from ..csvfile import display_path
from ..errors import UsageError
from ..load import DATASET_FILE, SETTINGS_FILE
from ..issues import CATALOG, Issue, Severity, counts, has_errors, render_text
from ..model import Model
from ..output_files import replace_file
from ..outputs.markdown import inline, table
from ..pipeline import Checked, load_and_check
from ..git import git
from ..views import datasets_text
from ..outputs.xlsx.profiles import PROFILES

JSON_FORMAT = "portbook-diff/1"
PLAIN_DATASET = "flows"  # the dataset id a plain flows file is loaded under, on both sides


@dataclass
class Side:
    """One version of the data: what the user named, and where its files were read from."""

    spec: str
    folder: Path  # the data folder that was loaded
    shown_as: str  # how the data folder is shown (a path, or REV:path for a revision)
    checked: Checked
    # Files read from a folder made for the comparison, and how to show them instead.
    shown_files: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> Model:
        return self.checked.model

    def show(self, file: str) -> str:
        """A location's file as the reader can find it: temporary folders become REV:path,
        the folder made around a plain flows file becomes that file."""
        for made, shown in self.shown_files.items():
            if file in (made, display_path(Path(made))):
                return shown
        if self.shown_as == str(self.folder):
            return file
        for prefix in (str(self.folder), display_path(self.folder)):
            if file == prefix or file.startswith(prefix + os.sep):
                return self.shown_as + file[len(prefix):]
        return file

    def issues(self) -> list[Issue]:
        return [replace(item, file=self.show(item.file)) for item in self.checked.issues]

    def describe(self) -> dict:
        model = self.model
        return {
            "spec": self.spec,
            "data": self.shown_as,
            "datasets": [{"id": d.id, "version": d.version} for d in model.datasets] if model else [],
            "fingerprint": model.fingerprint if model else "",
        }


def _data_folder_of_file(path: Path) -> Path | None:
    for parent in path.resolve().parents:
        if (parent / SETTINGS_FILE).is_file():
            return parent
    return None


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)  # a JSON string with ASCII escapes is a TOML basic string


def _folder_around_flows(flows: bytes, shown: str, into: Path) -> str:
    """Make a data folder holding only `flows` (a flows CSV outside any data folder), with
    the roles and sections its rows name, so that it loads and checks like a dataset.
    Returns the path of the flows file inside it."""
    try:
        rows = list(csv.DictReader(io.StringIO(flows.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        rows = []  # the loader reports what is wrong with the file, located
    roles = sorted({row.get(column) or "" for row in rows for column in ("source", "destination")} - {""})
    sections = sorted({row.get("reference") or "" for row in rows} - {""})
    dataset = into / PLAIN_DATASET
    dataset.mkdir(parents=True)
    (into / SETTINGS_FILE).write_text("# made by portbook diff around a plain flows file\n", encoding="utf-8")
    (dataset / DATASET_FILE).write_text(
        "\n".join([f"id = {_toml_string(PLAIN_DATASET)}", f"title = {_toml_string(shown)}", 'version = "0"',
                   "[source]", f"title = {_toml_string(shown)}"]
                  + [f"[sections.{_toml_string(key)}]\ntitle = {_toml_string(key)}" for key in sections or ["none"]])
        + "\n", encoding="utf-8")
    with (dataset / "roles.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name", "description"])
        writer.writerows([role, role, ""] for role in roles)
    target = dataset / "flows.csv"
    target.write_bytes(flows)
    return str(target)


def _git(args: list[str], spec: str, binary: bool = False) -> subprocess.CompletedProcess:
    done = git(*args, binary=binary)
    if done is None:
        raise UsageError(f"{spec!r} is not a path, and git cannot be run (or did not answer) to read it as a revision")
    return done


def _not_data(spec: str) -> UsageError:
    return UsageError(f"{spec!r} is neither a data folder, a flows CSV file, nor a git revision (REV or REV:path)")


def _read_revision(spec: str, data: Path, into: Path) -> tuple[str, dict[str, str]]:
    """Copy what revision `spec` holds into `into`: the data folder at --data for `REV`;
    for `REV:path`, the data folder at path, or the data folder holding the file at path
    (or, when no data folder holds it, a folder made around that flows file). Returns how
    to show the folder and any files shown under another name."""
    revision, _, inside = spec.partition(":")
    if spec.startswith("-") or not revision:
        raise _not_data(spec)
    found = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], spec)
    if found.returncode != 0:
        raise _not_data(spec)
    commit = found.stdout.strip()
    top = Path(_git(["rev-parse", "--show-toplevel"], spec).stdout.strip())
    if not inside:
        inside = Path(os.path.relpath(Path(data).resolve(), top.resolve())).as_posix()
        if inside.startswith(".."):
            raise UsageError(f"--data {data} is outside the git repository {top}")
    inside = inside.strip("/") or "."

    def kind(path: str) -> str:
        done = _git(["cat-file", "-t", f"{commit}:{path}"], spec)
        return done.stdout.strip() if done.returncode == 0 else ""

    shown_files: dict[str, str] = {}
    if kind(inside) == "blob":
        parents = [str(parent) for parent in Path(inside).parents]
        folder = next((parent for parent in parents if kind(f"{parent}/{SETTINGS_FILE}".lstrip("./")) == "blob"), None)
        if folder is None:
            blob = _git(["show", f"{commit}:{inside}"], spec, binary=True)
            made = _folder_around_flows(blob.stdout, f"{revision}:{inside}", into)
            return f"{revision}:{inside}", {made: f"{revision}:{inside}"}
        inside = folder
    listing = _git(["ls-tree", "-r", "-z", "--full-name", "--name-only", commit, "--", f":/{inside}"], spec)
    names = [name for name in listing.stdout.split("\0") if name]
    if listing.returncode != 0 or not names:
        raise UsageError(f"revision {revision} has no data folder at {inside}/")
    for name in names:
        blob = _git(["show", f"{commit}:{name}"], spec, binary=True)
        if blob.returncode != 0:
            raise UsageError(f"cannot read {revision}:{name}: {blob.stderr.decode(errors='replace').strip()}")
        target = into / Path(name).relative_to(inside if inside != "." else "")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob.stdout)
    return f"{revision}:{inside}", shown_files


def resolve(spec: str, args: argparse.Namespace, stack: ExitStack) -> Side:
    """Load what `spec` names: a path wins over a revision of the same name."""
    path = Path(spec)
    if path.is_dir():
        folder = path if (path / SETTINGS_FILE).is_file() else path / args.data
        if not (folder / SETTINGS_FILE).is_file():
            raise UsageError(f"{spec} holds no {SETTINGS_FILE}, nor does {folder}")
        return Side(spec, folder, str(folder), load_and_check(folder, args.registry))
    temporary = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="portbook-diff-"))) / "data"
    if path.is_file():
        folder = _data_folder_of_file(path)
        if folder is not None:
            return Side(spec, folder, str(folder), load_and_check(folder, args.registry))
        try:
            made = _folder_around_flows(path.read_bytes(), spec, temporary)
        except OSError as error:
            raise UsageError(f"cannot read {spec}: {error.strerror or error}") from error
        return Side(spec, temporary, spec, load_and_check(temporary, args.registry), {made: spec})
    shown_as, shown_files = _read_revision(spec, args.data, temporary)
    return Side(spec, temporary, shown_as, load_and_check(temporary, args.registry), shown_files)


def _failed_codes(issues: list[Issue], severity: Severity) -> list[str]:
    return list(dict.fromkeys(item.code for item in issues if item.severity is severity))


def checks_phrase(issues: list[Issue]) -> str:
    if not issues:
        return "checks clean"
    errors, warnings = counts(issues)
    parts = []
    if errors:
        parts.append(f"{errors} error(s) ({', '.join(_failed_codes(issues, Severity.ERROR))})")
    if warnings:
        parts.append(f"{warnings} warning(s) ({', '.join(_failed_codes(issues, Severity.WARNING))})")
    return "checks: " + ", ".join(parts)


@dataclass
class Review:
    old: Side
    new: Side
    diff: comparing.ModelDiff
    issues: list[Issue]  # NEW's, with locations as the reader finds them

    @property
    def summary(self) -> str:
        return "; ".join(comparing.summary(self.diff) + [checks_phrase(self.issues)])

    @property
    def failed(self) -> bool:
        return has_errors(self.issues)

    @cached_property
    def lines(self) -> list:
        """The firewall lines to remove and add (`changes.request_lines`)."""
        return comparing.request_lines(self.diff)

    def location(self, record: comparing.Record) -> str:
        where = record.item.location
        return f"{self.new.show(where.file)}:{where.line}"


def _checks_table(issues: list[Issue]) -> list[list[str]]:
    """Every check, passed or failed, plus any load-time code that fired."""
    found = Counter(item.code for item in issues)
    fired = set(found)
    checked = check_codes()
    codes = checked + sorted(fired - set(checked))
    rows = []
    for code in dict.fromkeys(codes):
        count = found[code]
        result = "pass" if not count else ("fail" if CATALOG[code].severity is Severity.ERROR else "warn")
        rows.append([code, CATALOG[code].name, result, str(count)])
    return rows


def render_markdown(review: Review) -> str:
    old, new, diff = review.old, review.new, review.diff
    out = [f"# Data review: {inline(old.spec)} to {inline(new.spec)}\n",
           f"Summary: {inline(review.summary)}\n",
           table(["", "data", "datasets", "fingerprint"], [
               [label, side.shown_as, datasets_text(side.model),
                side.model.fingerprint[:12]] for label, side in (("old", old), ("new", new))
           ])]
    titles = {"flow": "Flows", "erratum": "Errata", "role": "Roles", "host": "Inventory", "dataset": "Datasets"}
    for comparison in diff.comparisons:
        if comparison.empty and comparison.kind not in ("flow", "erratum"):
            continue
        out.append(f"## {titles[comparison.kind]}\n")
        if comparison.empty:
            out.append("No changes.\n")
            continue
        if comparison.changed:
            out.append(f"### Changed ({len(comparison.changed)})\n")
            headers = [comparison.kind, "field", "old", "new"] + (["errata", "where"] if comparison.kind == "flow" else [])
            rows = []
            for change in comparison.changed:
                for field in change.fields:
                    row = [comparing.display_key(comparison, change.new), field.field, field.old, field.new]
                    if comparison.kind == "flow":
                        row += [", ".join(field.errata), review.location(change.new)]
                    rows.append(row)
            out.append(table(headers, rows))
        paired: set[str] = set()
        if comparison.kind == "host":
            # A host whose address moved is one change, with what it does to the firewall.
            moved = comparing.address_changes(diff)
            paired = comparing.paired_hosts(moved)
            if moved:
                out.append(f"### Addresses changed ({len(moved)})\n")
                out.append("\n".join(f"- {inline(change.text)}: {comparing.effect(review.lines, change)}"
                                      for change in moved) + "\n")
        for title, records in (("Added", comparison.added), ("Removed", comparison.removed)):
            records = [record for record in records if record.key not in paired]
            if records:
                out.append(f"### {title} ({len(records)})\n")
                out.append(table(comparison.fields, ([r.values[f] for f in comparison.fields] for r in records)))
    out.append("## Checks on the new data\n")
    if not review.issues:
        out.append(f"The new data passes all {len(check_codes())} checks.\n")
    else:
        out.append(f"Result: {inline(checks_phrase(review.issues))}\n")
    out.append(table(["code", "check", "result", "issues"], _checks_table(review.issues)))
    if review.issues:
        out.append(table(["location", "code", "severity", "message"], (
            [f"{item.file}:{item.line}:{item.column}", item.code, item.severity.value, item.message]
            for item in review.issues)))
    old_errors, old_warnings = counts(old.checked.issues)
    out.append(f"The old data had {old_errors} error(s) and {old_warnings} warning(s).\n")
    return "\n".join(out)


def _comparison_json(comparison: comparing.Comparison) -> dict:
    return {
        "added": [record.values for record in comparison.added],
        "removed": [record.values for record in comparison.removed],
        "changed": [
            {"key": change.key, "id": change.new.values.get("id", change.key),
             "fields": [{"field": f.field, "old": f.old, "new": f.new, "errata": list(f.errata)} for f in change.fields]}
            for change in comparison.changed
        ],
    }


def render_json(review: Review) -> str:
    errors, warnings = counts(review.issues)
    old_errors, old_warnings = counts(review.old.checked.issues)
    payload = {
        "format": JSON_FORMAT,
        "old": review.old.describe(),
        "new": review.new.describe(),
        "identical": review.diff.empty,
        "summary": review.summary,
        "flows": _comparison_json(review.diff.flows),
        "errata": _comparison_json(review.diff.errata),
        "roles": _comparison_json(review.diff.roles),
        "hosts": _comparison_json(review.diff.hosts),
        "datasets": _comparison_json(review.diff.datasets),
        "checks": {
            "passed": errors == 0,
            "errors": errors,
            "warnings": warnings,
            "results": {code: result for code, _name, result, _count in _checks_table(review.issues)},
            "issues": [item.to_dict() for item in review.issues],
            "old": {"errors": old_errors, "warnings": old_warnings},
        },
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _unloadable(side: Side, name: str) -> int:
    sys.stderr.write(render_text(side.issues()))
    print(f"error: the {name} data ({side.spec}) cannot be loaded", file=sys.stderr)
    return 1


def write_change_request(review: Review, target: Path, profile: str) -> int:
    from ..outputs.xlsx import change_request_workbook

    lines = review.lines
    title = f"Firewall change request: {review.old.spec} to {review.new.spec}"
    replace_file(target, change_request_workbook(review.new.model, lines, title=title, profile=profile))
    return len(lines)


def run_diff(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        old = resolve(args.old, args, stack)
        new = resolve(args.new, args, stack)
        for side, name in ((old, "old"), (new, "new")):
            if side.model is None:
                return _unloadable(side, name)
        review = Review(old, new, comparing.compare(old.model, new.model), new.issues())
        if args.xlsx is not None:
            try:
                count = write_change_request(review, args.xlsx, args.xlsx_profile)
            except OSError as error:
                # Exit status 2 is for usage errors only; a failed write is a failure of the run.
                print(f"error: cannot write {args.xlsx}: {error.strerror or error}", file=sys.stderr)
                return 1
            print(f"{args.xlsx}: change request with {count} line(s)", file=sys.stderr)
        sys.stdout.write(render_json(review) if args.format == "json" else render_markdown(review))
        for note in new.checked.notes:
            print(f"note: {note}", file=sys.stderr)
        return 1 if not review.diff.empty or review.failed else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "diff", help="review report of what changed between two versions of the data",
        description="Compare two versions of the data. OLD and NEW are each a data folder (or a folder "
                    "holding one at --data, such as '.'), a flows CSV file (alone, or the data folder holding it), "
                    "a git revision, or REV:path. "
                    "Exit 0: same data and no errors in NEW; 1: differences, errors in NEW, data "
                    "that cannot be loaded, or a workbook that cannot be written; 2: usage error.")
    parser.add_argument("old", metavar="OLD", help="data folder, flows CSV file, git revision (HEAD~1) or REV:path")
    parser.add_argument("new", metavar="NEW", help="data folder, flows CSV file, git revision (HEAD) or REV:path")
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="where the data folder is inside a folder or a git revision (default: data)")
    parser.add_argument("--registry", type=Path, metavar="IANA_CSV",
                        help="IANA service registry CSV to check services against instead of /etc/services")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown",
                        help="report format (default: markdown)")
    parser.add_argument("--xlsx", type=Path, metavar="FILE",
                        help="also write the firewall lines to remove and add as a change-request workbook")
    parser.add_argument("--xlsx-profile", default="change-request", choices=sorted(PROFILES),
                        help="workbook layout for --xlsx (default: change-request)")
    parser.set_defaults(func=run_diff)
