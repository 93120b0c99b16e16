"""Command line: `python -m generator COMMAND` (also installed as `portbook`).

Exit codes: 0 success, 1 problems in the data (or differences, for diff),
2 usage errors. Problems are printed as FILE:LINE:COLUMN: CODE message.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import sys
from pathlib import Path

from .issues import has_errors, render_json, render_text
from .output_files import OutputFiles, UnsafePath
from .commands import command_modules
from .outputs import OUTPUTS, output_module
from .pipeline import load_and_check


MAX_NOTES = 20  # per format: a large dataset can have thousands; the outputs list them all


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data"), help="data folder (default: data)")
    parser.add_argument("--registry", type=Path, metavar="IANA_CSV",
                        help="IANA service registry CSV to check services against instead of /etc/services")


def _report(checked, fmt: str, strict: bool) -> int:
    out = render_json(checked.issues) if fmt == "json" else render_text(checked.issues)
    (sys.stdout if fmt == "json" else sys.stderr if checked.issues else sys.stdout).write(out)
    for note in checked.notes:
        print(f"note: {note}", file=sys.stderr)
    if checked.model is None or has_errors(checked.issues):
        return 1
    if strict and checked.issues:
        return 1
    return 0


def run_check(args: argparse.Namespace) -> int:
    checked = load_and_check(args.data, args.registry)
    if args.against is not None:
        from .against import run_against

        return run_against(checked, args.against, args.dataset, args.format, args.strict)
    return _report(checked, args.format, args.strict)


def run_build(args: argparse.Namespace) -> int:
    formats = args.formats.split(",") if args.formats else list(OUTPUTS)
    unknown = [name for name in formats if name not in OUTPUTS]
    if unknown:
        print(f"error: unknown format(s) {', '.join(unknown)}; known: {', '.join(OUTPUTS)}", file=sys.stderr)
        return 2
    checked = load_and_check(args.data, args.registry)
    if not checked.ok:
        return _report(checked, "text", False)
    if checked.issues:
        sys.stderr.write(render_text(checked.issues))
    # Checking is over: no message will point at a cell again.
    checked.model.forget_cell_positions()
    # The model lives as long as the process: keep the collector from scanning its
    # hundreds of thousands of objects again at every collection while outputs are made.
    gc.freeze()
    # Build every format first, so a failure leaves all previous outputs intact.
    collected: list[OutputFiles] = []
    try:
        for name in formats:
            files = OutputFiles(args.out / name)
            collected.append(files)
            try:
                notes = output_module(name).build(checked.model, files, args)
            except UnsafePath as error:
                print(f"error: {name}: {error}", file=sys.stderr)
                return 1
            for note in notes[:MAX_NOTES]:
                print(f"{name}: {note}", file=sys.stderr)
            if len(notes) > MAX_NOTES:
                print(f"{name}: ... and {len(notes) - MAX_NOTES} more notes like these", file=sys.stderr)
        return _commit(collected)
    finally:
        for files in collected:
            files.discard()


def _commit(collected: list[OutputFiles]) -> int:
    for files in collected:
        try:
            written = files.commit()
        except OSError as error:
            # A full disk or a read-only folder: each file is either old or new (never
            # half-written) and no temporary file is left behind, but say so plainly.
            print(f"error: cannot write {files.folder}: {error.strerror or error}", file=sys.stderr)
            return 1
        print(f"{files.folder}: {len(files.files)} file(s), {len(written)} rewritten")
    return 0


def make_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command` set, what other subcommands need is left out, so that
    `check` does not import every output library."""
    parser = argparse.ArgumentParser(prog="portbook", description="Port and firewall-rule documentation generated from data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate the data and run every consistency check")
    _add_data_arguments(check)
    check.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    check.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    check.add_argument("--against", type=Path, metavar="PAGE.md",
                       help="also compare a published Markdown page with the data; exit 1 on any unexplained difference")
    check.add_argument("--dataset", metavar="ID", help="with --against: the dataset to compare (default: the one whose source title is the page's title)")
    check.set_defaults(func=run_check)

    build = commands.add_parser("build", help="generate outputs under the output folder")
    _add_data_arguments(build)
    build.add_argument("--formats", default="", help=f"comma-separated formats (default: all of {', '.join(OUTPUTS) or 'none yet'})")
    build.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    for name in OUTPUTS if command in (None, "build") else ():
        add_arguments = getattr(output_module(name), "add_arguments", None)
        if add_arguments is not None:
            add_arguments(build.add_argument_group(name))
    build.set_defaults(func=run_build)

    # The other subcommands' modules import what they need at the top; `check` and
    # `build` leave them unloaded.
    for module in command_modules() if command not in ("check", "build") else ():
        importlib.import_module(module).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser(next((word for word in argv if not word.startswith("-")), None))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
