"""Writing outputs: every format of one build made visible at once, and only when it changes.

Generators put their files into an `OutputFiles` collection, one per format, held in
memory up to a budget and past it staged on disk; nothing a reader sees changes while
they run. `publish` then writes one complete generation of the outputs into a fresh
folder, OUT/.generations/<id>/<format>/..., hard-linking every file whose bytes did
not change from the published generation (so it keeps its inode and mtime, and Make,
Sphinx and the rewritten-files count see it untouched), and makes the whole generation
visible with one atomic rename: the symlink OUT/.current is replaced by one naming the
new generation. Each OUT/<format> is a symlink to .current/<format>, made once, so a
reader sees every format of the old build or every format of the new one, never a
mix, however the build ends (an error, a full disk, SIGKILL). A build that changes
nothing publishes nothing. A generator may record what a file is made from (see
`generator.build_inputs`); the generation keeps those digests in .inputs/<format>.json,
and the next build carries a file over without making it again (`OutputFiles.carry`)
when its digest is the same. Every other entry of OUT/.generations, a killed or failed
build's folder, is removed by the next build; builds into one output folder take turns
under a lock.
"""
from __future__ import annotations

import fcntl
import filecmp
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from .errors import OutputError

GENERATIONS = ".generations"  # under the output folder: one folder per build
CURRENT = ".current"  # under the output folder: symlink to the published generation
LOCK = ".lock"  # under GENERATIONS: held by the build writing into the output folder
INPUTS = ".inputs"  # under a generation: <format>.json, file -> digest of what it was made from
MEMORY_BUDGET = 8 * 1024 * 1024  # bytes of one format's files held in memory before staging
# Staging folders the outputs' earlier layout left beside each format's folder.
EARLIER_STAGING = ".*.staging-*"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Temporary files and folders are created private to their owner; outputs get the mode
# any new file or folder gets under the process's umask, so that a web server can serve them.
FILE_MODE = 0o666 & ~_umask()
FOLDER_MODE = 0o777 & ~_umask()


class UnsafePath(OutputError):
    """A generated path would land outside its output folder."""


def safe_relative(name: str, owner: str) -> PurePosixPath:
    """Check a path `owner` (a format) generated: relative, no '..', no empty parts."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts) or "\\" in name or "\x00" in name:
        raise UnsafePath(f"{owner}: refusing to write {name!r} outside the output folder")
    return path


def replace_file(target: Path, data: bytes) -> bool:
    """Atomically replace the single file `target` with `data`; returns False, leaving
    `target` untouched, when it already held the same bytes."""
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
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def cannot_write(out: Path, error: OSError) -> OutputError:
    return OutputError(f"cannot write {out}: {error.strerror or error}")


def recorded_inputs(generation: Path | None, name: str) -> dict[str, str]:
    """The digests `generation` recorded for the files of format `name` ({} when none)."""
    if generation is None:
        return {}
    try:
        found = json.loads((generation / INPUTS / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(key): str(value) for key, value in found.items()} if isinstance(found, dict) else {}


class Published(NamedTuple):
    """A file of the published generation, carried over into the next one as it is."""

    path: Path


class Copied(NamedTuple):
    """A file another tool wrote (Sphinx, into its own folder), copied when published:
    the tool rewrites its files in place, so the published one must not share its inode."""

    path: Path


class OutputFiles:
    """The files of one output format (its folder is OUT/<format>), collected before they are published."""

    def __init__(self, folder: Path, published: Path | None = None):
        self.folder = Path(folder)
        # Data, the staged file holding it, a file carried over from `published`, or one to copy.
        self.files: dict[PurePosixPath, bytes | Path | Published | Copied] = {}
        self.inputs: dict[str, str] = {}  # file -> digest of what it is made from, for the next build
        # The published generation, whose files `carry` may reuse: give it only holding the
        # output folder's lock, so that it stays published until this build publishes.
        self.published = published
        self._recorded: dict[str, str] | None = None
        self._held = 0
        self._staging: Path | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def made(self) -> int:
        """How many files were made in this build rather than carried over."""
        return sum(not isinstance(data, Published) for data in self.files.values())

    def recorded_inputs(self) -> dict[str, str]:
        """The digests the published generation recorded for this format's files."""
        if self._recorded is None:
            self._recorded = recorded_inputs(self.published, self.name)
        return self._recorded

    def carry(self, names: list[str], inputs: str) -> bool:
        """Carry the published files `names` over, unmade, when the published build made
        each of them from inputs of digest `inputs`; else carry none and return False,
        and the caller makes them (`add(..., inputs=inputs)`)."""
        paths = [safe_relative(name, self.name) for name in names]
        if self.published is None or not paths:
            return False
        recorded = self.recorded_inputs()
        sources = [self.published / self.name / path for path in paths]
        for path, source in zip(paths, sources):
            if recorded.get(path.as_posix()) != inputs or path in self.files:
                return False
            try:
                if not stat.S_ISREG(os.lstat(source).st_mode):
                    return False
            except OSError:
                return False
        for path, source in zip(paths, sources):
            self.files[path] = Published(source)
            self.inputs[path.as_posix()] = inputs
        return True

    def derive(self, name: str, inputs: str, make: Callable[[], bytes | str]) -> None:
        """Carry file `name` over where the published build made it from `inputs`; else
        add what `make()` returns."""
        if not self.carry([name], inputs):
            self.add(name, make(), inputs=inputs)

    def add_copy(self, name: str, source: Path) -> None:
        """Add file `name`, copied from `source` when published."""
        path = safe_relative(name, self.name)
        if path in self.files:
            raise ValueError(f"{name} is produced twice")
        self.files[path] = Copied(Path(source))

    def add(self, name: str, data: bytes | str, inputs: str | None = None) -> None:
        """Add file `name`; `inputs`, the digest of what it is made from, lets the next
        build carry it over while that digest stays the same."""
        path = safe_relative(name, self.name)
        if path in self.files:
            raise ValueError(f"{name} is produced twice")
        if inputs is not None:
            self.inputs[path.as_posix()] = inputs
        data = data.encode("utf-8") if isinstance(data, str) else data
        if self._held + len(data) <= MEMORY_BUDGET:
            self._held += len(data)
            self.files[path] = data
        else:
            try:
                self.files[path] = self._stage(data)
            except OSError as error:
                raise cannot_write(self.folder.parent, error) from error

    def _stage(self, data: bytes) -> Path:
        # Staged under GENERATIONS, so that a killed build's staging is removed with its generation.
        if self._staging is None:
            generations = self.folder.parent / GENERATIONS
            generations.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(dir=generations, prefix=f"staging-{self.name}-"))
        handle, name = tempfile.mkstemp(dir=self._staging)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(name, FILE_MODE)
        return Path(name)

    def discard(self) -> None:
        """Remove the staged files (after publishing, or instead of it)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def commit(self) -> list[Path]:
        """Publish this format on its own; returns the files rewritten."""
        try:
            with output_lock(self.folder.parent):
                return publish(self.folder.parent, [self])[0]
        finally:
            self.discard()


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold the output folder's lock: a build removes other builds' unpublished folders
    and derives its generation from the published one, so builds into one folder (make
    -j, a live preview) take turns. The kernel releases the lock of a killed process."""
    try:
        generations = out / GENERATIONS
        generations.mkdir(parents=True, exist_ok=True)
        handle = os.open(generations / LOCK, os.O_RDONLY | os.O_CREAT, FILE_MODE)
    except OSError as error:
        raise cannot_write(out, error) from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def published_generation(out: Path) -> Path | None:
    """The generation OUT/.current names, when it is a folder of OUT/.generations (a link
    naming anything else is not trusted: the previous generation is deleted after publishing)."""
    try:
        target = PurePosixPath(os.readlink(out / CURRENT))
    except OSError:
        return None
    if len(target.parts) != 2 or target.parts[0] != GENERATIONS or target.name in ("", ".", "..", LOCK):
        return None
    folder = out / GENERATIONS / target.name
    return folder if folder.is_dir() and not folder.is_symlink() else None


def remove_leftovers(out: Path) -> None:
    """Remove every generation, staging folder and link of OUT/.generations but the
    published generation and the lock (call it holding the lock: they are then a
    killed or failed build's), and the staging folders the earlier layout left."""
    generations = out / GENERATIONS
    current = published_generation(out)
    keep = {LOCK, current.name if current else None}
    try:
        entries = list(os.scandir(generations))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if entry.name in keep:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    for earlier in out.glob(EARLIER_STAGING):
        if earlier.is_dir() and not earlier.is_symlink():
            shutil.rmtree(earlier)


def _same_file(published: Path | None, data: bytes | Path) -> bool:
    if published is None:
        return False
    try:
        if not stat.S_ISREG(os.lstat(published).st_mode):
            return False
        if isinstance(data, Path):
            return filecmp.cmp(published, data, shallow=False)
        return published.stat().st_size == len(data) and published.read_bytes() == data
    except OSError:
        return False


def _entries_under(folder: Path, prefix: PurePosixPath = PurePosixPath()) -> set[PurePosixPath]:
    """Every file, link or other non-folder entry under `folder` (links are not followed)."""
    found = set()
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            found |= _entries_under(Path(entry.path), prefix / entry.name)
        else:
            found.add(prefix / entry.name)
    return found


def _write_format(files: OutputFiles, folder: Path, published: Path | None) -> tuple[list[Path], bool]:
    """Fill `folder` with the format's files, hard-linking unchanged ones from `published`;
    returns the files rewritten (as the reader sees them) and whether anything changed."""
    written = []
    folder.mkdir()
    for path, data in sorted(files.files.items()):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        previous = published / path if published is not None else None
        if isinstance(data, Published):
            os.link(data.path, target, follow_symlinks=False)
            continue
        if _same_file(previous, data.path if isinstance(data, Copied) else data):
            os.link(previous, target, follow_symlinks=False)
            if isinstance(data, Path):
                data.unlink()
            continue
        if isinstance(data, Copied):
            shutil.copyfile(data.path, target)
            os.chmod(target, FILE_MODE)
        elif isinstance(data, Path):
            os.rename(data, target)
        else:
            with open(target, "xb") as stream:
                stream.write(data)
            os.chmod(target, FILE_MODE)
        written.append(files.folder / path)
    removed = published is not None and bool(_entries_under(published) - set(files.files))
    return written, bool(written) or removed or published is None


def publish_folder(out: Path, folder: Path) -> list[Path]:
    """Publish every file under `folder`, the output folder of a tool such as Sphinx that
    keeps its own state there (entries whose name starts with a dot, such as .doctrees,
    stay behind), as the format OUT/<folder name>; returns the files rewritten."""
    files = OutputFiles(out / folder.name)
    for top, folders, names in os.walk(folder):
        if Path(top) == folder:
            folders[:] = [name for name in folders if not name.startswith(".")]
            names = [name for name in names if not name.startswith(".")]
        for name in names:
            source = Path(top, name)
            files.add_copy(source.relative_to(folder).as_posix(), source)
    with output_lock(out):
        return publish(out, [files])[0]


def _link(link: Path, target: str, scratch: Path) -> None:
    """Make `link` a symlink to `target` in one rename, whatever was there (a file, a link)."""
    temporary = scratch / f"link-{os.getpid()}-{link.name}"
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    os.replace(temporary, link)


def _link_formats(out: Path, names: list[str]) -> None:
    """Make each OUT/<format> the symlink .current/<format>, where it is not already."""
    for name in names:
        link, target = out / name, f"{CURRENT}/{name}"
        if not (link.is_symlink() and os.readlink(link) == target):
            _link(link, target, out / GENERATIONS)


def publish(out: Path, collected: list[OutputFiles]) -> list[list[Path]]:
    """Publish the formats `collected` (every other format of the published generation
    is carried over unchanged) as one new generation, if anything changed; returns,
    per format, the files rewritten. Call it holding `output_lock(out)`."""
    try:
        return _publish(out, collected)
    except OSError as error:
        # A full disk or a read-only folder: nothing was published, or everything was.
        raise cannot_write(out, error) from error


def _publish(out: Path, collected: list[OutputFiles]) -> list[list[Path]]:
    generations = out / GENERATIONS
    current = published_generation(out)
    # The earlier layout kept each format in a real folder OUT/<format>: its files are
    # the published ones until the first generation replaces the folder with a link.
    earlier = {files.name for files in collected
               if (out / files.name).is_dir() and not (out / files.name).is_symlink()}
    fresh = Path(tempfile.mkdtemp(dir=generations, prefix="build-"))
    try:
        rewritten, changed = [], bool(earlier)
        for files in collected:
            if files.name in earlier:
                published = out / files.name
            else:
                published = current / files.name if current is not None and (current / files.name).is_dir() else None
            written, format_changed = _write_format(files, fresh / files.name, published)
            rewritten.append(written)
            changed = changed or format_changed or files.inputs != recorded_inputs(current, files.name)
        if not changed:
            shutil.rmtree(fresh)
            _link_formats(out, [files.name for files in collected])
            return rewritten
        built = {files.name for files in collected}
        (fresh / INPUTS).mkdir()
        for files in collected:
            if files.inputs:
                (fresh / INPUTS / f"{files.name}.json").write_text(json.dumps(files.inputs, indent=0, sort_keys=True) + "\n",
                                                                  encoding="utf-8")
        for carried in (sorted(os.listdir(current)) if current is not None else []):
            if carried not in built and carried != INPUTS:
                shutil.copytree(current / carried, fresh / carried, symlinks=True, copy_function=os.link)
                recorded = current / INPUTS / f"{carried}.json"
                if recorded.is_file():
                    os.link(recorded, fresh / INPUTS / recorded.name)
        os.chmod(fresh, FOLDER_MODE)
        # Links to formats new to the output folder show nothing until .current names a generation holding them.
        _link_formats(out, [files.name for files in collected if files.name not in earlier])
        _link(out / CURRENT, f"{GENERATIONS}/{fresh.name}", generations)  # the publishing rename
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    for name in sorted(earlier):
        os.rename(out / name, generations / f"earlier-{name}")
    _link_formats(out, sorted(earlier))
    remove_leftovers(out)
    return rewritten
