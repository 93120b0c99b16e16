"""Workbooks name what they list: editing one row rewrites only the requests listing it,
and the cover names the git commit that last changed the listed rows."""
from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from generator.cli import main
from generator.git import BLAME_CACHE, blame, parse_blame
from generator.outputs.xlsx import ALL_ROLES_WORKBOOK
from generator.provenance import NOT_AVAILABLE, UNCOMMITTED

from conftest import append_row, edit_row, read_rows, write_rows

COMMIT = "Git commit of these rows"
ROWS_HASH = "Rows hash (sha256)"
WHOLE_CHANGE = Path(ALL_ROLES_WORKBOOK).stem  # lists every row, so every edit rewrites it


@pytest.fixture(autouse=True)
def no_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def build(data_dir: Path, out: Path) -> dict[str, bytes]:
    """Build the workbooks into `out` (again, when it holds an earlier build); name (a role,
    or WHOLE_CHANGE) -> bytes."""
    assert main(["build", "--formats", "xlsx", "--data", str(data_dir), "--out", str(out)]) == 0
    return {path.stem: path.read_bytes() for path in sorted((out / "xlsx").glob("*.xlsx"))}


def cover(out: Path, role: str) -> dict[object, object]:
    sheet = load_workbook(out / "xlsx" / f"{role}.xlsx")["Cover"]
    return {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row and row[0] is not None}


def one_way_flow(data_dir: Path) -> dict[str, str]:
    """A flow between two different roles, in one direction: it touches exactly those two."""
    flows = read_rows(data_dir / "dpm-2012r2" / "flows.csv")[1]
    return next(flow for flow in flows if flow["direction"] == "one-way" and flow["source"] != flow["destination"])


def test_editing_one_row_rewrites_only_the_two_requests_it_touches(data_dir, tmp_path):
    out = tmp_path / "out"
    first = build(data_dir, out)
    times = {path.name: path.stat().st_mtime_ns for path in (out / "xlsx").glob("*.xlsx")}
    assert build(data_dir, out) == first
    flow = one_way_flow(data_dir)
    touched = {flow["source"], flow["destination"], WHOLE_CHANGE}
    edit_row(data_dir / "dpm-2012r2" / "flows.csv", "id", flow["id"], purpose=flow["purpose"] + " Edited.")
    hashes = {role: cover(out, role)[ROWS_HASH] for role in first}
    second = build(data_dir, out)
    assert second.keys() == first.keys() and len(first) > 2
    assert {role for role in first if second[role] != first[role]} == touched
    # Unchanged bytes are not written again, so make and file watchers see old times.
    assert {path.name for path in (out / "xlsx").glob("*.xlsx") if path.stat().st_mtime_ns != times[path.name]} == \
        {f"{name}.xlsx" for name in touched}
    assert {role for role in first if cover(out, role)[ROWS_HASH] != hashes[role]} == touched


def test_editing_a_role_or_host_rewrites_the_requests_naming_it(data_dir, tmp_path):
    out = tmp_path / "out"
    first = build(data_dir, out)
    flows = read_rows(data_dir / "dpm-2012r2" / "flows.csv")[1]
    naming = {role for flow in flows if "sql-server" in (flow["source"], flow["destination"])
              for role in (flow["source"], flow["destination"])} | {WHOLE_CHANGE}
    edit_row(data_dir / "inventory.csv", "role", "sql-server", note="Moved to the new rack.")
    second = build(data_dir, out)
    assert {role for role in first if second[role] != first[role]} == naming
    assert naming != set(first)  # some request does not show the SQL server at all


def git_repository(folder: Path):
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: install Debian package git")

    def run(*arguments: str) -> str:
        return subprocess.run([git, "-C", str(folder), *arguments], capture_output=True, text=True, check=True,
                              timeout=60).stdout

    run("init", "-q")
    return run


def commit(run, message: str) -> str:
    run("add", ".")
    run("-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false", "commit", "-q", "-m", message)
    return run("rev-parse", "HEAD").strip()


def test_cover_names_the_newest_commit_of_its_rows(data_dir, tmp_path):
    run = git_repository(tmp_path)
    (tmp_path / ".gitignore").write_text("/out/\n", encoding="utf-8")
    # Written once the way the tests edit rows, so that an edit changes one line only.
    for path in [*data_dir.glob("*/*.csv"), data_dir / "inventory.csv"]:
        write_rows(path, *read_rows(path))
    first = commit(run, "data")
    out = tmp_path / "out"
    before = build(data_dir, out)
    assert {cover(out, role)[COMMIT] for role in before} == {first}

    # A commit that leaves the data alone changes no workbook.
    (tmp_path / "notes.txt").write_text("unrelated\n", encoding="utf-8")
    commit(run, "notes")
    assert build(data_dir, out) == before

    flow = one_way_flow(data_dir)
    touched = {flow["source"], flow["destination"], WHOLE_CHANGE}
    edit_row(data_dir / "dpm-2012r2" / "flows.csv", "id", flow["id"], purpose="Changed since the commit.")
    edited = build(data_dir, out)
    assert {role for role in before if edited[role] != before[role]} == touched
    for role in before:
        assert cover(out, role)[COMMIT] == (f"{first} ({UNCOMMITTED})" if role in touched else first)

    second = commit(run, "edit one flow")
    committed = build(data_dir, out)
    assert {role for role in before if committed[role] != before[role]} == touched
    for role in before:
        assert cover(out, role)[COMMIT] == (second if role in touched else first)

    # A role added and not committed yet: every row its request lists is uncommitted.
    append_row(data_dir / "dpm-2012r2" / "roles.csv", id="backup-vault", name="Backup vault", description="Holds tapes.")
    build(data_dir, out)
    assert cover(out, "backup-vault")[COMMIT] == UNCOMMITTED


def test_blame_gives_each_line_its_commit(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "rows.csv").write_text("a\nb\n", encoding="utf-8")
    repository = tmp_path / "repository"
    repository.mkdir()
    run = git_repository(repository)
    assert blame(outside / "rows.csv") is None  # not in a git work tree
    rows = repository / "rows.csv"
    rows.write_text("id\none\ntwo\n", encoding="utf-8")
    assert set(blame(rows).commits) == {""}  # in the work tree, never committed
    first = commit(run, "rows")
    rows.write_text("id\none\ntwo\nthree\n", encoding="utf-8")
    second = commit(run, "three")
    rows.write_text("id\nONE\ntwo\nthree\n", encoding="utf-8")
    found = blame(rows)
    assert found.commits == [first, "", first, second]
    assert found.times[second] >= found.times[first]


def test_outside_git_the_commit_is_not_available(data_dir, tmp_path):
    out = tmp_path / "out"
    for role in build(data_dir, out):
        assert cover(out, role)[COMMIT] == NOT_AVAILABLE


def test_blame_from_the_cache_and_a_diff_agrees_with_git_blame(tmp_path):
    """Edits of every kind on top of several commits: the commits per line equal those of
    git's own blame of the working tree, before and after the blame of HEAD is cached."""
    run = git_repository(tmp_path)
    rows = tmp_path / "rows.csv"
    generator = random.Random(7)
    lines = [f"row {index}" for index in range(60)]
    serial = 0

    def edit() -> None:
        nonlocal serial
        for _ in range(generator.randint(1, 6)):
            serial += 1
            at = generator.randrange(len(lines) + 1)
            kind = generator.choice(("change", "insert", "delete"))
            if kind == "insert" or not lines[at:]:
                lines[at:at] = [f"new {serial}"] * generator.randint(1, 3)
            elif kind == "change":
                lines[at] = f"changed {serial}"
            else:
                del lines[at:at + generator.randint(1, 3)]
        rows.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    edit()
    for round in range(6):
        commit(run, f"round {round}")
        for _ in range(2):  # the first call blames HEAD and caches it; the second reads the cache
            edit()
            expected = parse_blame(run("blame", "--incremental", "--", "rows.csv")).commits
            assert blame(rows).commits == expected
    cache = tmp_path / run("rev-parse", "--git-path", BLAME_CACHE).strip()
    assert len(list(cache.glob("*/*.json"))) == 1  # only the blame of the latest version is kept


def test_a_change_on_a_later_line_of_a_record_counts_for_the_record(data_dir, tmp_path):
    """A quoted cell with a line break makes a record span lines; a change on its second
    line is a change of that record, not of the record after it."""
    run = git_repository(tmp_path)
    (tmp_path / ".gitignore").write_text("/out/\n", encoding="utf-8")
    flows_csv = data_dir / "dpm-2012r2" / "flows.csv"
    flow = one_way_flow(data_dir)
    edit_row(flows_csv, "id", flow["id"], purpose="First line of the purpose.\nSecond line.")
    for path in [*data_dir.glob("*/*.csv"), data_dir / "inventory.csv"]:
        write_rows(path, *read_rows(path))
    first = commit(run, "data")
    out = tmp_path / "out"
    before = build(data_dir, out)
    data = flows_csv.read_bytes()  # as bytes: the line ends stay as written
    assert data.count(b"Second line.") == 1
    flows_csv.write_bytes(data.replace(b"Second line.", b"Second line, edited."))
    assert run("diff", "--numstat").split()[:2] == ["1", "1"]  # one physical line changed
    after = build(data_dir, out)
    touched = {flow["source"], flow["destination"], WHOLE_CHANGE}
    assert {role for role in before if after[role] != before[role]} == touched
    for role in before:
        assert cover(out, role)[COMMIT] == (f"{first} ({UNCOMMITTED})" if role in touched else first)
