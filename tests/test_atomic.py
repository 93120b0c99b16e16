"""Outputs are replaced all together or not at all, and only when they change.

Every format discovered in generator/outputs/ takes part, whatever formats exist when
the suite runs: a build that fails half-way (a generator raising after another format
has built, a generator's file refused) leaves the previous outputs byte for byte and no
temporary file; a failure while writing leaves every file either old or new; a second
build of unchanged data rewrites nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import read_rows, write_rows
from generator import output_files
from generator.output_files import OutputFiles
from generator.outputs import OUTPUTS, output_module
from test_fuzz import build_all, first_dataset, run_cli


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def stats(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of every file: an atomic rewrite changes the inode even within one clock tick."""
    return {str(path.relative_to(folder)): (path.stat().st_ino, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def temporaries(folder: Path) -> list[Path]:
    """Temporary files and staging folders left behind."""
    return [path for path in folder.rglob("*") if path.name.endswith(".tmp") or ".staging-" in path.name]


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


@pytest.fixture
def built(data_dir, tmp_path) -> Path:
    assert OUTPUTS, "no output format is discovered in generator/outputs/"
    out = tmp_path / "out"
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    assert {path.name for path in out.iterdir() if path.is_dir()} >= set(OUTPUTS)
    return out


def _assert_would_have_changed(data_dir: Path, out: Path, before: dict[str, bytes]) -> None:
    """Prove the failed build was going to change something: a good build now does."""
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    assert snapshot(out) != before


def test_generator_failing_after_others_built_changes_nothing(data_dir, built, monkeypatch):
    before = snapshot(built)
    change_every_text(data_dir)
    last = list(OUTPUTS)[-1]
    module = output_module(last)
    real_build = module.build

    def build_then_fail(model, files, args):
        real_build(model, files, args)  # the format builds completely, then fails
        raise RuntimeError(f"{last} failed after building")

    monkeypatch.setattr(module, "build", build_then_fail)
    with pytest.raises(RuntimeError, match="failed after building"):
        build_all(data_dir, built)
    assert snapshot(built) == before
    assert not temporaries(built)
    monkeypatch.setattr(module, "build", real_build)
    _assert_would_have_changed(data_dir, built, before)


def test_refused_file_in_a_later_format_changes_nothing(data_dir, built, monkeypatch):
    """A generator producing an unsafe path is refused (exit 1, an error line) before any format is written."""
    before = snapshot(built)
    change_every_text(data_dir)
    last = list(OUTPUTS)[-1]
    real_add = OutputFiles.add

    def add(self, name, data):
        if self.folder.name == last:
            name = "../escaped.txt"
        return real_add(self, name, data)

    monkeypatch.setattr(OutputFiles, "add", add)
    code, _, err = build_all(data_dir, built)
    assert code == 1
    assert f"error: {last}:" in err and "outside the output folder" in err
    assert snapshot(built) == before
    assert not temporaries(built)
    assert not (built / "escaped.txt").exists() and not (built.parent / "escaped.txt").exists()
    monkeypatch.setattr(OutputFiles, "add", real_add)
    _assert_would_have_changed(data_dir, built, before)


def test_write_failure_leaves_whole_files_and_no_temporaries(data_dir, built, monkeypatch):
    """Disk full on the third file written: exit 1 with an error line; every file holds
    either its old or its new content, and no temporary file remains."""
    before = snapshot(built)
    change_every_text(data_dir)
    real_replace = os.replace
    calls = []

    def replace(source, target):
        calls.append(target)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(output_files.os, "replace", replace)
    code, _, err = build_all(data_dir, built)
    assert code == 1 and "No space left on device" in err, err
    assert not temporaries(built)
    monkeypatch.setattr(output_files.os, "replace", real_replace)
    after = snapshot(built)
    code, _, err = build_all(data_dir, built)
    assert code == 0, err
    new = snapshot(built)
    for name, data in after.items():
        assert data in (before.get(name), new.get(name)), f"{name} is neither the old nor the new content"


def test_unchanged_build_rewrites_nothing(data_dir, built):
    first = stats(built)
    assert first
    code, out, err = build_all(data_dir, built)
    assert code == 0, err
    assert stats(built) == first, "files were rewritten although nothing changed"
    assert all(line.endswith(", 0 rewritten") for line in out.splitlines() if "rewritten" in line), out
    assert not temporaries(built)


def test_change_rewrites_only_what_changed_and_removes_stale_files(data_dir, built):
    """A stale file of an earlier build (listed in the manifest) is removed; files whose
    content did not change keep their inode."""
    first, old = stats(built), snapshot(built)
    folder = built / list(OUTPUTS)[0]
    manifest = folder / output_files.MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8") + "stale-from-earlier-build.txt\n", encoding="utf-8")
    (folder / "stale-from-earlier-build.txt").write_text("old", encoding="utf-8")
    change_every_text(data_dir)
    code, _, err = build_all(data_dir, built)
    assert code == 0, err
    assert not (folder / "stale-from-earlier-build.txt").exists()
    second, new = stats(built), snapshot(built)
    assert set(second) == set(first)
    changed = {name for name in first if old[name] != new[name]}
    assert changed, "editing every purpose and role name changed no output"
    for name in first:
        if name.endswith(output_files.MANIFEST):
            continue
        rewritten = second[name][0] != first[name][0]
        assert rewritten == (name in changed), f"{name}: rewritten={rewritten}, content changed={name in changed}"


def test_rejected_data_writes_nothing(data_dir, built):
    before = stats(built)
    flows = first_dataset(data_dir) / "flows.csv"
    header, rows = read_rows(flows)
    rows[0]["port"] = "80,443"
    write_rows(flows, header, rows)
    code, _, err = build_all(data_dir, built)
    assert code == 1 and " S103 " in err
    assert stats(built) == before
    assert not temporaries(built)


def test_manifest_cannot_delete_outside_the_folder(data_dir, built, tmp_path):
    """A tampered manifest naming '../' paths deletes nothing outside its folder."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    folder = built / list(OUTPUTS)[0]
    manifest = folder / output_files.MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8") + "../../victim.txt\n/etc/hostname\n", encoding="utf-8")
    code, _, err = build_all(data_dir, built)
    assert code == 0, err
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_files_staged_on_disk_commit_like_files_held_in_memory(data_dir, built, tmp_path, monkeypatch):
    """Past the memory budget files wait in a staging folder; the outputs are the same
    bytes, an unchanged file keeps its mtime, and nothing staged is left behind."""
    monkeypatch.setattr(output_files, "MEMORY_BUDGET", 0)
    staged_out = tmp_path / "staged"
    code, _, err = build_all(data_dir, staged_out)
    assert code == 0, err
    assert snapshot(staged_out) == snapshot(built)
    assert not temporaries(staged_out)
    before = stats(staged_out)
    code, _, err = build_all(data_dir, staged_out)
    assert code == 0, err
    assert stats(staged_out) == before


def test_failed_build_leaves_no_staged_file(data_dir, built, monkeypatch):
    monkeypatch.setattr(output_files, "MEMORY_BUDGET", 0)
    test_generator_failing_after_others_built_changes_nothing(data_dir, built, monkeypatch)
