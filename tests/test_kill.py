"""Builds killed with SIGKILL at any point leave the outputs of exactly one build.

A build runs in a child process whose audit hook (`sys.addaudithook`, outside the
project's code) counts every operation that changes the output folder: opening a
file for writing, mkdir, chmod, link, symlink, rename, remove, rmdir, rmtree. The
child sends itself SIGKILL just before the Nth of them, so kill points fall while
the new generation is written, just before and just after the publishing rename, and
while the old generation is removed. After every kill, each file a reader reaches under OUT/<format> holds
the previous build's bytes, or every one holds the new build's, never a mix; then a
normal build publishes the new outputs and leaves nothing behind. `make test` kills
at ten operations, spread over the build and always around the publishing rename;
`make fuzz` (-m slow) kills a hundred times: at eighty operations, and twenty times
from outside after a random delay (PORTBOOK_KILL_SEED repeats a run).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from generator.output_files import CURRENT
from generator.outputs import OUTPUTS
from test_atomic import change_every_text, leftovers, snapshot
from test_fuzz import build_all

# argv: output folder, kill before this operation (0: never), log file, then the build's arguments.
KILLING_BUILD = r"""
import os, signal, sys
out, kill_at, log = os.path.abspath(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
CHANGING = {"os.mkdir", "os.chmod", "os.link", "os.symlink", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree"}
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC
count, busy, done = 0, False, []

def in_out(value):
    return isinstance(value, (str, bytes, os.PathLike)) and os.fsdecode(os.path.abspath(value)).startswith(out + os.sep)

def hook(event, args):
    global count, busy
    if busy or not (event in CHANGING or (event == "open" and isinstance(args[2], int) and args[2] & WRITING)):
        return
    # Paths relative to a folder's descriptor are rmtree's, which only runs under the output folder.
    relative = event in ("os.remove", "os.rmdir") and isinstance(args[-1], int) and args[-1] >= 0
    if not (relative or any(in_out(value) for value in args[:2])):
        return
    count += 1
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    busy = True
    done.append(f"{event} {' '.join(str(value) for value in args[:2])}")
    busy = False

sys.addaudithook(hook)
from generator.cli import main
code = main(sys.argv[4:])
busy = True
with open(log, "w", encoding="utf-8") as stream:
    stream.write("\n".join(done) + "\n")
sys.exit(code)
"""

QUICK_KILLS = 10
SLOW_KILLS = 100
DELAYED_KILLS = 20  # of the slow hundred: SIGKILL from outside after a random delay


def build_arguments(data_dir: Path, out: Path) -> list[str]:
    return ["build", "--data", str(data_dir), "--out", str(out), "--formats", ",".join(OUTPUTS)]


SPHINX_SEARCH_FILES = {"html/searchindex.js", "html/search.html"}


def site_arguments(data_dir: Path, out: Path) -> list[str]:
    return ["build", "--data", str(data_dir), "--out", str(out), "--formats", "html"]


def killing_build(data_dir: Path, out: Path, kill_at: int, log: Path, arguments=build_arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLING_BUILD, str(out), str(kill_at), str(log),
                           *arguments(data_dir, out)], capture_output=True, text=True, cwd=ROOT)


class Builds:
    """The previous build's output folder, the new build's files, and the operations a
    build from one to the other makes, in order."""

    def __init__(self, data_dir: Path, folder: Path):
        self.data_dir, self.folder = data_dir, folder
        self.old = folder / "old"
        code, _, err = build_all(data_dir, self.old)
        assert code == 0, err
        self.old_files = snapshot(self.old)
        change_every_text(data_dir)
        code, _, err = build_all(data_dir, folder / "new")
        assert code == 0, err
        self.new_files = snapshot(folder / "new")
        assert set(self.new_files) == set(self.old_files)
        assert all(any(data != self.old_files[name] for name, data in self.new_files.items() if name.startswith(f"{fmt}/"))
                   for fmt in OUTPUTS), "the edit must change files of every format, or a mix could pass for one build"
        counted = self.copy_of_old("counted")
        run = killing_build(data_dir, counted, 0, folder / "operations.log")
        assert run.returncode == 0, run.stderr
        assert snapshot(counted) == self.new_files
        self.operations = (folder / "operations.log").read_text(encoding="utf-8").splitlines()
        publishing = [number for number, operation in enumerate(self.operations, start=1)
                      if operation.startswith("os.rename ") and operation.endswith(f"{os.sep}{CURRENT}")]
        assert len(publishing) == 1, self.operations
        self.publishing = publishing[0]  # the number of the operation that publishes

    def copy_of_old(self, name: str) -> Path:
        target = self.folder / name
        shutil.copytree(self.old, target, symlinks=True)
        return target

    def assert_one_build(self, out: Path, context: str) -> str:
        """Which build the folder shows, "old" or "new"; fails on any mix."""
        seen = snapshot(out)
        if seen == self.old_files:
            return "old"
        if seen == self.new_files:
            return "new"
        mixed = sorted(name for name in seen if seen[name] not in (self.old_files.get(name), self.new_files.get(name)))
        old = sorted(name for name in seen if seen[name] == self.old_files.get(name))
        pytest.fail(f"{context}: the outputs are not one build's: files of neither build {mixed[:5]}, "
                    f"of the old build {old[:5]}, missing {sorted(set(self.old_files) - set(seen))[:5]}")

    def assert_next_build_recovers(self, out: Path, context: str) -> None:
        code, _, err = build_all(self.data_dir, out)
        assert code == 0, f"{context}: {err}"
        assert snapshot(out) == self.new_files, context
        assert not leftovers(out), f"{context}: {leftovers(out)}"


def kill_points(total: int, publishing: int, count: int) -> list[int]:
    """`count` operation numbers from 1 to `total`, spread evenly, always with the ones
    just before and just after the publishing rename and the first and last."""
    chosen = {1, total, publishing, min(publishing + 1, total)}
    if count >= total:
        return list(range(1, total + 1))
    spread = [1 + round(step * (total - 1) / (count - 1)) for step in range(count)]
    for number in spread:
        if len(chosen) >= count:
            break
        chosen.add(number)
    return sorted(chosen)


def kill_at_operations(builds: Builds, points: list[int]) -> dict[str, int]:
    outcomes = {"old": 0, "new": 0}
    for number in points:
        out = builds.copy_of_old(f"killed-{number}")
        context = f"killed before operation {number} of {len(builds.operations)} ({builds.operations[number - 1]})"
        run = killing_build(builds.data_dir, out, number, builds.folder / f"killed-{number}.log")
        assert run.returncode == -signal.SIGKILL, f"{context}: the build was not killed: {run.stderr[-500:]}"
        shown = builds.assert_one_build(out, context)
        expected = "old" if number <= builds.publishing else "new"
        assert shown == expected, f"{context}: shows the {shown} build's outputs, not the {expected} one's"
        outcomes[shown] += 1
        builds.assert_next_build_recovers(out, context)
        shutil.rmtree(out)
    return outcomes


def test_builds_killed_at_ten_points_leave_one_build(data_dir, tmp_path):
    builds = Builds(data_dir, tmp_path)
    points = kill_points(len(builds.operations), builds.publishing, QUICK_KILLS)
    assert len(points) == QUICK_KILLS
    outcomes = kill_at_operations(builds, points)
    assert outcomes["old"] and outcomes["new"], outcomes


@pytest.mark.slow
def test_builds_killed_at_a_hundred_points_leave_one_build(data_dir, tmp_path):
    builds = Builds(data_dir, tmp_path)
    points = kill_points(len(builds.operations), builds.publishing, SLOW_KILLS - DELAYED_KILLS)
    kill_at_operations(builds, points)
    # The rest of the hundred: SIGKILL from outside after a random delay within a build's time,
    # at whatever the build is doing then (its generators, or writing).
    seed = int(os.environ.get("PORTBOOK_KILL_SEED", random.randrange(1 << 32)))
    chooser = random.Random(seed)
    started = time.monotonic()
    builds.assert_next_build_recovers(builds.copy_of_old("timed"), "timing a build")
    duration = time.monotonic() - started
    for attempt in range(SLOW_KILLS - len(points)):
        out = builds.copy_of_old(f"delayed-{attempt}")
        delay = chooser.uniform(0, duration * 1.5)
        context = f"killed after {delay:.3f} s (PORTBOOK_KILL_SEED={seed})"
        child = subprocess.Popen([sys.executable, "-m", "generator", *build_arguments(builds.data_dir, out)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        builds.assert_one_build(out, context)
        builds.assert_next_build_recovers(out, context)
        shutil.rmtree(out)


def test_site_builds_killed_leave_one_site(data_dir, tmp_path):
    """The site is published like the other formats: Sphinx builds into its own folder
    (OUT/.site), and a build killed while Sphinx writes or while the site is published
    leaves the old site or shows the whole new one; the next build recovers."""
    old = tmp_path / "old"
    built = subprocess.run([sys.executable, "-m", "generator", *site_arguments(data_dir, old)],
                           capture_output=True, text=True, cwd=ROOT)
    assert built.returncode == 0, built.stderr
    old_site = snapshot(old)
    assert "html/index.html" in old_site
    change_every_text(data_dir)
    counted = tmp_path / "counted"
    shutil.copytree(old, counted, symlinks=True)
    run = killing_build(data_dir, counted, 0, tmp_path / "operations.log", site_arguments)
    assert run.returncode == 0, run.stderr
    new_site = snapshot(counted)
    assert new_site != old_site and set(new_site) >= {"html/index.html"}
    operations = (tmp_path / "operations.log").read_text(encoding="utf-8").splitlines()
    publishing = [number for number, operation in enumerate(operations, start=1)
                  if operation.startswith("os.rename ") and operation.endswith(f"{os.sep}{CURRENT}")]
    assert len(publishing) == 1, operations
    # While Sphinx writes its pages, just before and at the publishing rename, just after it.
    for number in (publishing[0] // 2, publishing[0] - 1, publishing[0], publishing[0] + 1):
        out = tmp_path / f"killed-{number}"
        shutil.copytree(old, out, symlinks=True)
        context = f"killed before operation {number} of {len(operations)} ({operations[number - 1]})"
        killed = killing_build(data_dir, out, number, tmp_path / f"killed-{number}.log", site_arguments)
        assert killed.returncode == -signal.SIGKILL, f"{context}: not killed: {killed.stderr[-500:]}"
        assert snapshot(out) == (old_site if number <= publishing[0] else new_site), context
        again = subprocess.run([sys.executable, "-m", "generator", *site_arguments(data_dir, out)],
                               capture_output=True, text=True, cwd=ROOT)
        assert again.returncode == 0, f"{context}: {again.stderr}"
        # Sphinx's search files differ between a first and a repeated incremental build
        # (a repeated build drops the index entries of pages it did not write again, and
        # stamps the ranges script it wrote at the end of the first): every page else is the same.
        recovered = snapshot(out)
        assert set(recovered) == set(new_site), context
        assert {name: data for name, data in recovered.items() if name not in SPHINX_SEARCH_FILES} == \
            {name: data for name, data in new_site.items() if name not in SPHINX_SEARCH_FILES}, context
        shutil.rmtree(out)
