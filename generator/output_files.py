"""Writing outputs atomically and only when they change.

Generators put their files into an `OutputFiles` collection; nothing in the
output folder changes until every generator has finished. Files are held in
memory up to a budget, and past it in a hidden staging folder beside the output
folder (a hundred thousand flows make tens of megabytes of workbooks). `commit`
then renames each changed file into place, so a build that fails leaves the
previous outputs as they were, and a build with nothing changed rewrites nothing
(Make and Sphinx see unchanged mtimes). `discard` removes what was staged.
"""
from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from .errors import OutputError

MANIFEST = ".manifest"
MEMORY_BUDGET = 8 * 1024 * 1024  # bytes of one format's files held in memory before staging


def _file_mode() -> int:
    # Temporary files are created readable by their owner only; outputs get the mode any
    # new file gets under the process's umask, so that a web server can serve the site.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


class UnsafePath(OutputError):
    """A generated path would land outside its output folder."""


def safe_relative(name: str) -> PurePosixPath:
    """Check a generated relative path: no absolute paths, no '..', no empty parts."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts) or "\\" in name or "\x00" in name:
        raise UnsafePath(f"refusing to write {name!r} outside the output folder")
    return path


def replace_file(target: Path, data: bytes | Path) -> bool:
    """Atomically replace `target` with `data` (bytes, or a staged file that is moved into
    place); returns False, leaving `target` untouched, when it already held the same bytes."""
    staged = data if isinstance(data, Path) else None
    try:
        if staged is not None:
            unchanged = target.is_file() and filecmp.cmp(target, staged, shallow=False)
        else:
            unchanged = target.read_bytes() == data
    except OSError:
        unchanged = False
    if unchanged:
        if staged is not None:
            staged.unlink()
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    if staged is not None:
        os.replace(staged, target)
        return True
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


class OutputFiles:
    """The files of one output format, collected before they are written."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.files: dict[PurePosixPath, bytes | Path] = {}  # data, or the staged file holding it
        self._held = 0
        self._staging: Path | None = None

    def add(self, name: str, data: bytes | str) -> None:
        path = safe_relative(name)
        if path in self.files:
            raise ValueError(f"{name} is produced twice")
        data = data.encode("utf-8") if isinstance(data, str) else data
        if self._held + len(data) <= MEMORY_BUDGET:
            self._held += len(data)
            self.files[path] = data
        else:
            self.files[path] = self._stage(data)

    def _stage(self, data: bytes) -> Path:
        if self._staging is None:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(dir=self.folder.parent, prefix=f".{self.folder.name}.staging-"))
        handle, name = tempfile.mkstemp(dir=self._staging)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(name, FILE_MODE)
        return Path(name)

    def discard(self) -> None:
        """Remove the staged files (after a commit, or instead of one)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def commit(self) -> list[Path]:
        """Write changed files, remove files an earlier build produced and this one did not."""
        try:
            return self._commit()
        except OSError as error:
            # A full disk or a read-only folder: each file is either old or new (never
            # half-written) and no temporary file is left behind, but say so plainly.
            raise OutputError(f"cannot write {self.folder}: {error.strerror or error}") from error
        finally:
            self.discard()

    def _commit(self) -> list[Path]:
        written = []
        for path, data in sorted(self.files.items()):
            target = self.folder / path
            changed = replace_file(target, data)
            if changed:
                written.append(target)
        manifest = self.folder / MANIFEST
        try:
            previous = set(manifest.read_text(encoding="utf-8").splitlines())
        except OSError:
            previous = set()
        current = {str(path) for path in self.files}
        for stale in sorted(previous - current):
            try:
                (self.folder / safe_relative(stale)).unlink(missing_ok=True)
            except UnsafePath:
                continue
        replace_file(manifest, ("\n".join(sorted(current)) + "\n").encode("utf-8"))
        return written
