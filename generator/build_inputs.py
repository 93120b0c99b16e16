"""What an output file is made from, as one digest, so that a build makes only the files
whose inputs changed.

A generator names the inputs of each file it makes; `OutputFiles.carry` then reuses the
published file where the published build recorded the same digest for it, without
making it again. Every digest covers what all files share: the generator's code and
the versions of the libraries that write the formats, the options the format reads,
and every data file but the flows files (by path, so another data folder or
`--dataset` is another input). A file's own part is the flow rows it shows (each row
hashed once, line included, by pandas) and anything else it shows that is computed
from the whole data (a plan, the git history of its rows). So an edited row remakes
the files showing it, and a change to the code, an option or any other data file
remakes everything.
"""
from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .model import Flow, Model

# The distributions whose version can change the bytes of an output.
WRITERS = ("openpyxl", "lxml", "aerleon", "PyYAML", "pandas")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The generator package's files and the writers' versions."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package).parts
        if path.is_file() and "__pycache__" not in relative and not any(part.startswith(".") for part in relative):
            digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    for name in WRITERS:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name}={version}\n".encode())
    return digest.hexdigest()


class BuildInputs:
    """The digests of one format's files in one build."""

    def __init__(self, model: Model, output: str, options: dict[str, object] | None = None):
        """`options`: the values of the options of format `output` that change its files."""
        flows_files = {str(dataset.cells.path) for dataset in model.datasets if dataset.cells is not None}
        shared = hashlib.sha256(f"{code_digest()}\0{output}\0{sorted((options or {}).items())!r}\0".encode())
        for path, file_digest in sorted(model.files.items()):
            if path not in flows_files:
                shared.update(f"{path}\0{file_digest}\n".encode())
        self.model = model
        self.shared = shared.digest()

    def of(self, flows: Iterable[Flow] = (), *shown: object) -> str:
        """The digest of a file showing the rows of `flows` (in that order) and `shown`:
        plain values whose repr() says what else the file is made from (lists and dicts,
        not sets, whose order changes from one process to the next)."""
        digest = hashlib.sha256(self.shared)
        datasets = self.model.dataset_by_id
        digest.update(array("Q", [datasets[flow.dataset].row_hashes[flow.line] for flow in flows]).tobytes())
        if shown:
            digest.update(repr(shown).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()
