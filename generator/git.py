"""Running git: its output for a question, and the commit that last changed each line of a file.

`blame` answers as `git blame` of the working tree does, from a blame of the file's last
commit, kept under the repository's .git folder, and a diff from that commit.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

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

# A group header of `git blame --incremental`: commit, line in it, line now, lines in the group.
_GROUP = re.compile(r"([0-9a-f]{40,64}) \d+ (\d+) (\d+)")
_NOT_COMMITTED = re.compile(r"0+")  # the commit blame gives lines that differ from HEAD


@dataclass
class FileBlame:
    """The commit that last changed each line of one file ("" for a line not committed),
    and when each of those commits was made."""

    commits: list[str]  # index = line number - 1
    times: dict[str, int]


def parse_blame(output: str) -> FileBlame:
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
    found = parse_blame(done.stdout)
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
