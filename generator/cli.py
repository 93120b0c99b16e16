"""Command line: `portbook COMMAND` (also `python -m generator COMMAND`).

Exit codes: 0 success, 1 problems in the data (or differences, for diff) or an
output that cannot be written, 2 usage errors. Findings are printed as
FILE:LINE:COLUMN: CODE message. Each command lives in its own module under
`generator.commands`; errors that stop a command are `generator.errors.PortbookError`s,
caught here.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import sys

from .commands import COMMANDS
from .errors import PortbookError

YOUNG_COLLECTION_EVERY = 10_000  # allocations between young collections; see run()


def package_version() -> str:
    # Imported here: reading the installed metadata takes about 50 ms that no other
    # command needs.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("portbook")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class VersionAction(argparse.Action):
    """--version: prints the installed version, read only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str = "show the version and exit"):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {package_version()}")
        parser.exit()


def make_parser(command: str | None = None, argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `command` set to a known command, only that command's module is
    imported, so that `check` does not import every output library (and `build` only
    the libraries of the formats `argv` asks for)."""
    parser = argparse.ArgumentParser(prog="portbook", description="Port and firewall-rule documentation generated from data.")
    parser.add_argument("--version", action=VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = [command] if command in COMMANDS else list(COMMANDS)
    for name in chosen:
        module = importlib.import_module(f"{__package__}.commands.{COMMANDS[name]}")
        if name == "build":
            module.register(subparsers, argv if command == "build" else None)
        else:
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser(next((word for word in argv if not word.startswith("-")), None), argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PortbookError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The program (`portbook`, `python -m generator`): `main`, then exit with its status.

    At exit the interpreter tears its modules down, and its collector walks every object
    still alive as it does: 0.3 to 0.4 s after a build with the site on the shipped data,
    an eighth of the run. Freezing the objects first spares the shutdown those walks; a
    collection before it would cost 0.1 s more. What it leaves unfinalised is garbage in
    reference cycles, which holds nothing left to write: every output is published, and
    every file closed, before `main` returns, and the interpreter still flushes standard
    output and runs atexit handlers. Only the process does this: `main` called in-process
    (by tests, say) leaves the collector as it was.

    While it runs, the collector starts a young collection every YOUNG_COLLECTION_EVERY
    allocations instead of every 700. A build allocates the model, Sphinx's doctrees and
    the workbooks' cells by the million, and at 700 the collector also walks the whole
    heap some ten times a build: of an edit's build at 10,000 flows, 2.6 s went to
    collecting at 700 and 1.2 s at 10,000 (timed by gc.callbacks), for the same peak
    memory within the noise. Cycles are still collected, a little later."""
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
