"""Load a data folder and run every check: the one way every command gets its data."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .checks import run_checks
from .issues import Issue, has_errors, sort_key
from .load import load
from .model import Model, Settings
from .registry import Registry, build_registry


@dataclass
class Checked:
    model: Model | None  # None when load errors prevent building it
    issues: list[Issue]
    registry: Registry | None = None
    notes: list[str] = field(default_factory=list)  # registry sources that could not be read

    @property
    def ok(self) -> bool:
        return self.model is not None and not has_errors(self.issues)


def registry_for(settings: Settings, iana: Path | None = None) -> tuple[Registry, list[str]]:
    return build_registry(settings.registry_system, iana, settings.registry_extra)


def load_and_check(data_dir: Path, iana: Path | None = None) -> Checked:
    model, issues = load(Path(data_dir))
    if model is None:
        return Checked(None, issues)
    registry, notes = registry_for(model.settings, iana)
    issues = sorted(issues + run_checks(model, registry), key=sort_key)
    return Checked(model, issues, registry, notes)


def fingerprint(folder: Path) -> str:
    """A hash over the name, size and modification time of every file under the data
    folder: enough to notice an edit without reading the files, which the load that
    follows a change reads anyway."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        status = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()
