"""Writing outputs atomically and only when they change.

Generators put their files into an `OutputFiles` collection in memory; nothing
touches the disk until every generator has finished. `commit` then writes each
changed file to a temporary file in the same folder and renames it into place,
so a build that fails leaves the previous outputs as they were, and a build
with nothing changed rewrites nothing (Make and Sphinx see unchanged mtimes).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath

MANIFEST = ".manifest"


class UnsafePath(ValueError):
    """A generated path would land outside its output folder."""


def safe_relative(name: str) -> PurePosixPath:
    """Check a generated relative path: no absolute paths, no '..', no empty parts."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts) or "\\" in name or "\x00" in name:
        raise UnsafePath(f"refusing to write {name!r} outside the output folder")
    return path


def replace_file(target: Path, data: bytes) -> bool:
    """Atomically replace `target` with `data`; returns False when it already held them."""
    try:
        if target.read_bytes() == data:
            return False
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


class OutputFiles:
    """The files of one output format, collected in memory before they are written."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.files: dict[PurePosixPath, bytes] = {}

    def add(self, name: str, data: bytes | str) -> None:
        path = safe_relative(name)
        if path in self.files:
            raise ValueError(f"{name} is produced twice")
        self.files[path] = data.encode("utf-8") if isinstance(data, str) else data

    def commit(self) -> list[Path]:
        """Write changed files, remove files an earlier build produced and this one did not."""
        written = []
        for path, data in sorted(self.files.items()):
            target = self.folder / path
            if replace_file(target, data):
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
