"""The subcommands, one module each. Every module defines `register(subparsers)`,
which adds its parser and sets `func` to a function taking the parsed arguments and
returning the exit code. A module imports at its top what its command needs, so the
command line imports only the module of the command it runs."""
from __future__ import annotations

# Command name -> module name in this package, in the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "check": "check",
    "build": "build",
    "diff": "diff",
    "import": "import_page",
    "verify": "verify",
}
