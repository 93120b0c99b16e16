"""Outputs are published all together or not at all, and only when they change.

Every format discovered in generator/outputs/ takes part, whatever formats exist when
the suite runs. What a reader sees is OUT/<format>/... through its link: a build that
fails half-way (a generator's error after another format has built, a generator's
file refused, a full disk, a read-only folder) exits 1 with an error line and leaves
those files byte for byte, with no generation or staging folder left behind; a build
of unchanged data publishes nothing and rewrites nothing; a build of changed data
rewrites exactly the files whose bytes changed. Builds killed at any point are
tests/test_kill.py's.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, read_rows, write_rows
from generator import output_files
from generator.output_files import CURRENT, GENERATIONS, LOCK, OutputFiles
from generator.outputs import OUTPUTS
from test_fuzz import build_all, first_dataset, run_cli


def visible_files(out: Path) -> list[Path]:
    """Every output file as a reader reaches it: under OUT/<format>, through the links."""
    found = []
    for entry in sorted(out.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        for top, _, names in os.walk(entry):
            found.extend(Path(top, name) for name in names)
    return sorted(found)


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in visible_files(out)}


def stats(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of every file: a rewrite changes the inode even within one clock tick."""
    return {str(path.relative_to(out)): (path.stat().st_ino, path.stat().st_mtime_ns) for path in visible_files(out)}


def leftovers(out: Path) -> list[str]:
    """What a build left beside the published generation: other generations, staging
    folders, temporary links and files."""
    generations = out / GENERATIONS
    current = os.readlink(out / CURRENT).split("/")[-1] if (out / CURRENT).is_symlink() else None
    found = [name for name in (os.listdir(generations) if generations.is_dir() else []) if name not in (LOCK, current)]
    found += [path.name for path in out.iterdir() if path.name not in (GENERATIONS, CURRENT, ".stamps", "html")
              and not (path.is_symlink() and os.readlink(path) == f"{CURRENT}/{path.name}")]
    return found + [str(path) for path in out.rglob("*") if path.name.endswith(".tmp") or "staging" in path.name]


def change_every_text(data_dir: Path) -> None:
    """Edit free text that every output carries (purposes and role names), so a
    successful build would rewrite files of every format."""
    dataset = first_dataset(data_dir)
    for name, columns in (("flows.csv", ("purpose",)), ("roles.csv", ("name", "description"))):
        header, rows = read_rows(dataset / name)
        for row in rows:
            for column in columns:
                row[column] = row[column] + " (revised)"
        write_rows(dataset / name, header, rows)


def build_in_subprocess(data_dir: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "generator", "build", "--data", str(data_dir), "--out", str(out),
                           "--formats", ",".join(OUTPUTS)], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture
def built(data_dir, tmp_path) -> Path:
    assert OUTPUTS, "no output format is discovered in generator/outputs/"
    out = tmp_path / "out"
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    assert {path.name for path in out.iterdir() if not path.name.startswith(".")} == set(OUTPUTS)
    assert not leftovers(out)
    return out


def _assert_would_have_changed(data_dir: Path, out: Path, before: dict[str, bytes]) -> None:
    """Prove the failed build was going to change something: a good build now does."""
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    assert snapshot(out) != before
    assert not leftovers(out)


def test_every_format_is_a_link_into_one_generation(built):
    generation = (built / CURRENT).resolve()
    assert generation.parent == (built / GENERATIONS).resolve()
    for name in OUTPUTS:
        assert os.readlink(built / name) == f"{CURRENT}/{name}"
        assert (built / name).resolve() == generation / name


def test_setting_error_in_a_later_format_changes_nothing(data_dir, built):
    """A format failing after another has built (a setting it cannot use) stops the
    build with the located error, and no format changes."""
    assert list(OUTPUTS).index("policy") > 0, "the test needs a format built before policy"
    before = snapshot(built)
    change_every_text(data_dir)
    settings = data_dir / "portbook.toml"
    kept = settings.read_text(encoding="utf-8")
    settings.write_text(kept + "\n[policy]\nplatforms = 5\n", encoding="utf-8")
    code, _, err = build_all(data_dir, built)
    assert code == 1
    assert "error: " in err and "portbook.toml:" in err and " L009 [policy] platforms must be a list" in err, err
    assert snapshot(built) == before
    assert not leftovers(built)
    settings.write_text(kept, encoding="utf-8")
    _assert_would_have_changed(data_dir, built, before)


def test_refused_file_in_a_later_format_changes_nothing(data_dir, built, monkeypatch):
    """A generator producing an unsafe path is refused (exit 1, an error line) before any format is written."""
    before = snapshot(built)
    change_every_text(data_dir)
    last = list(OUTPUTS)[-1]
    real_add = OutputFiles.add

    def add(self, name, data, **options):
        if self.folder.name == last:
            name = "../escaped.txt"
        return real_add(self, name, data, **options)

    monkeypatch.setattr(OutputFiles, "add", add)
    code, _, err = build_all(data_dir, built)
    assert code == 1
    assert f"error: {last}:" in err and "outside the output folder" in err
    assert snapshot(built) == before
    assert not leftovers(built)
    assert not list(built.parent.rglob("escaped.txt"))
    monkeypatch.setattr(OutputFiles, "add", real_add)
    _assert_would_have_changed(data_dir, built, before)


def test_unchanged_build_publishes_and_rewrites_nothing(data_dir, built):
    first, generation = stats(built), os.readlink(built / CURRENT)
    assert first
    code, out, err = build_all(data_dir, built)
    assert code == 0, err
    assert os.readlink(built / CURRENT) == generation, "a build with nothing changed published a generation"
    assert stats(built) == first, "files were rewritten although nothing changed"
    lines = [line for line in out.splitlines() if "rewritten" in line]
    assert len(lines) == len(OUTPUTS) and all(line.endswith(", 0 rewritten") for line in lines), out
    assert not leftovers(built)


def test_change_rewrites_only_what_changed_and_drops_stale_files(data_dir, built):
    """A file the previous build had and this one does not is gone; files whose bytes
    did not change keep their inode and mtime (they are hard links to the old ones)."""
    first, old = stats(built), snapshot(built)
    stale = built / list(OUTPUTS)[0] / "stale-from-earlier-build.txt"
    stale.write_text("old", encoding="utf-8")
    change_every_text(data_dir)
    code, out, err = build_all(data_dir, built)
    assert code == 0, err
    assert not stale.exists()
    second, new = stats(built), snapshot(built)
    assert set(second) == set(first)
    changed = {name for name in first if old[name] != new[name]}
    assert changed, "editing every purpose and role name changed no output"
    assert {name.split("/")[0] for name in changed} == set(OUTPUTS)
    for name in first:
        rewritten = second[name] != first[name]
        assert rewritten == (name in changed), f"{name}: rewritten={rewritten}, content changed={name in changed}"
    reported = sum(int(line.rsplit(", ", 1)[1].split()[0]) for line in out.splitlines() if line.endswith(" rewritten"))
    assert reported == len(changed), out
    assert not leftovers(built)


def test_one_format_built_alone_carries_the_others_unchanged(data_dir, built):
    first, old = stats(built), snapshot(built)
    change_every_text(data_dir)
    only = list(OUTPUTS)[0]
    code, _, err = run_cli(["build", "--data", str(data_dir), "--out", str(built), "--formats", only])
    assert code == 0, err
    second, new = stats(built), snapshot(built)
    assert any(old[name] != new[name] for name in old if name.startswith(f"{only}/"))
    assert {name: second[name] for name in second if not name.startswith(f"{only}/")} == \
           {name: first[name] for name in first if not name.startswith(f"{only}/")}
    assert not leftovers(built)


def test_rejected_data_writes_nothing(data_dir, built):
    before = stats(built)
    flows = first_dataset(data_dir) / "flows.csv"
    header, rows = read_rows(flows)
    rows[0]["port"] = "80,443"
    write_rows(flows, header, rows)
    code, _, err = build_all(data_dir, built)
    assert code == 1 and " S103 " in err
    assert stats(built) == before
    assert not leftovers(built)


def test_leftovers_of_killed_builds_are_removed_by_the_next_build(data_dir, built):
    """What a killed build leaves (its generation, staging, a half-made link) and what
    the earlier layout's killed builds left (staging beside the format folders) goes."""
    generations = built / GENERATIONS
    (generations / "build-killed" / "markdown").mkdir(parents=True)
    (generations / "build-killed" / "markdown" / "reference.md").write_text("half", encoding="utf-8")
    (generations / "staging-xlsx-killed").mkdir()
    os.symlink(f"{GENERATIONS}/build-killed", generations / "link-1-.current")
    (built / ".xlsx.staging-killed").mkdir()
    assert leftovers(built)
    before = stats(built)
    code, _, err = build_all(data_dir, built)
    assert code == 0, err
    assert not leftovers(built)
    assert stats(built) == before


def test_links_pointing_elsewhere_delete_nothing_outside(data_dir, built, tmp_path):
    """A current link naming a folder outside OUT/.generations is not trusted (the
    previous generation is deleted after publishing), and a link planted in the
    published generation is removed, not followed."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep me", encoding="utf-8")
    os.symlink(victim, built / list(OUTPUTS)[0] / "planted")
    code, _, err = build_all(data_dir, built)
    assert code == 0, err
    assert not (built / list(OUTPUTS)[0] / "planted").exists()
    (built / CURRENT).unlink()
    os.symlink(f"{GENERATIONS}/../../victim", built / CURRENT)
    code, _, err = build_all(data_dir, built)
    assert code == 0, err
    assert (victim / "keep.txt").read_text(encoding="utf-8") == "keep me"
    assert snapshot(built) and not leftovers(built)


def test_earlier_layout_of_real_folders_becomes_links(data_dir, built, tmp_path):
    """An output folder from before generations (a real folder per format, the site
    beside them) is taken over: same files, the site untouched, no old folder left."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name in OUTPUTS:
        shutil.copytree(built / name, earlier / name)
    (earlier / "html").mkdir()
    (earlier / "html" / "index.html").write_text("site", encoding="utf-8")
    before = snapshot(built)
    code, out, err = build_all(data_dir, earlier)
    assert code == 0, err
    assert all(line.endswith(", 0 rewritten") for line in out.splitlines() if "rewritten" in line), out
    assert {name: data for name, data in snapshot(earlier).items() if not name.startswith("html/")} == before
    assert (earlier / "html" / "index.html").read_text(encoding="utf-8") == "site"
    assert all((earlier / name).is_symlink() for name in OUTPUTS)
    assert not leftovers(earlier)


def test_files_staged_on_disk_publish_like_files_held_in_memory(data_dir, built, tmp_path, monkeypatch):
    """Past the memory budget files wait in a staging folder; the outputs are the same
    bytes, an unchanged file keeps its inode and mtime, and nothing staged is left behind."""
    monkeypatch.setattr(output_files, "MEMORY_BUDGET", 0)
    staged_out = tmp_path / "staged"
    code, _, err = build_all(data_dir, staged_out)
    assert code == 0, err
    assert snapshot(staged_out) == snapshot(built)
    assert not leftovers(staged_out)
    before = stats(staged_out)
    code, _, err = build_all(data_dir, staged_out)
    assert code == 0, err
    assert stats(staged_out) == before
    assert not leftovers(staged_out)


def test_failed_build_leaves_no_staged_file(data_dir, built, monkeypatch):
    monkeypatch.setattr(output_files, "MEMORY_BUDGET", 0)
    test_setting_error_in_a_later_format_changes_nothing(data_dir, built)


def test_builds_at_the_same_time_take_turns(data_dir, built):
    """Two builds into one folder (make -j, a live preview beside make): both succeed
    and the folder holds one build's files, with nothing left over."""
    change_every_text(data_dir)
    runs = [subprocess.Popen([sys.executable, "-m", "generator", "build", "--data", str(data_dir), "--out", str(built),
                              "--formats", ",".join(OUTPUTS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT) for _ in range(2)]
    results = [run.communicate() + (run.returncode,) for run in runs]
    assert all(code == 0 for _, _, code in results), [err for _, err, _ in results]
    after = snapshot(built)
    code, _, err = build_all(data_dir, built)
    assert code == 0, err
    assert snapshot(built) == after
    assert not leftovers(built)


# ---------------------------------------------------------------- a real full or read-only file system

@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 2 MB at tmp_path/disk, unmounted afterwards (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path, leave: int) -> None:
    """Fill the file system but `leave` bytes."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(disk / "filler", "ab") as stream:
        stream.write(b"\0" * max(free - leave, 0))


@pytest.mark.parametrize("leave", [0, 48 * 1024, 128 * 1024])
def test_full_disk_leaves_one_build_whole(data_dir, small_disk, tmp_path, leave):
    """With `leave` bytes free the build either fails (exit 1, one error line, the old
    outputs byte for byte) or, if they were enough, publishes the new outputs whole;
    with none free it fails. Nothing is left over either way."""
    out = small_disk / "out"
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    before = snapshot(out)
    change_every_text(data_dir)
    code, _, err = build_all(data_dir, tmp_path / "new")
    assert code == 0, err
    new = snapshot(tmp_path / "new")
    fill(small_disk, leave)
    run = build_in_subprocess(data_dir, out)
    assert "Traceback" not in run.stderr
    if run.returncode == 0 and leave:
        assert snapshot(out) == new
    else:
        assert run.returncode == 1, run.stdout
        assert f"error: cannot write {out}: No space left on device" in run.stderr.splitlines(), run.stderr
        assert snapshot(out) == before
    assert not leftovers(out)
    (small_disk / "filler").unlink()
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    assert snapshot(out) == new and not leftovers(out)


def test_read_only_folder_fails_cleanly_and_changes_nothing(data_dir, small_disk):
    out = small_disk / "out"
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    before = snapshot(out)
    change_every_text(data_dir)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    run = build_in_subprocess(data_dir, out)
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert run.returncode == 1, run.stdout
    assert f"error: cannot write {out}: Read-only file system" in run.stderr.splitlines(), run.stderr
    assert snapshot(out) == before
    assert not leftovers(out)
