"""Subcommands beyond check and build: each module here defines `register(subparsers)`,
which adds its parser and sets `func` to a function taking the parsed arguments and
returning the exit code."""
from __future__ import annotations

import pkgutil


def command_modules() -> list[str]:
    return [f"{__name__}.{info.name}" for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
            if not info.name.startswith("_")]
