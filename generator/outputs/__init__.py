"""Generators: one module per output format, all reading the model only.

Every module in this package that defines `build` is an output format, named
after the module; its files go to build/<name>/. The contract:

    def build(model: Model, files: OutputFiles, args: argparse.Namespace) -> list[str]

puts every file it produces into `files` (paths relative to its folder) and
returns notes for the user, such as flows it could not express. A module may
also define `add_arguments(group)` for options of its own. Nothing is written
to disk until every requested format has built.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def _discover() -> dict[str, str]:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            found[info.name] = f"{__name__}.{info.name}"
    return found


# Format name -> module. The format name is also its folder under build/.
OUTPUTS: dict[str, str] = _discover()


def output_module(name: str) -> ModuleType:
    return importlib.import_module(OUTPUTS[name])
