"""Running git to learn where data came from: its commit, or its files at a revision."""
from __future__ import annotations

import subprocess
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
