"""`check`: validate the data and run every consistency check.

Findings go to standard output, one per line as FILE:LINE:COLUMN: CODE message (or
as JSON with `--format json`), so that `portbook check | grep C201` works; notes
about registry sources go to standard error. Exit 0 when there is no error (and,
with `--strict`, no warning), 1 otherwise. This module imports no output library:
`check` stays quick to start.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..issues import has_errors, render_json, render_text
from ..pipeline import Checked, load_and_check


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that loads a data folder takes."""
    parser.add_argument("--data", type=Path, default=Path("data"), help="data folder (default: data)")
    parser.add_argument("--registry", type=Path, metavar="IANA_CSV",
                        help="IANA service registry CSV to check services against instead of /etc/services")


def report(checked: Checked, fmt: str, strict: bool, stream=None) -> int:
    """Print the findings (on standard output unless `stream` says otherwise) and return
    the exit code they give."""
    (stream or sys.stdout).write(render_json(checked.issues) if fmt == "json" else render_text(checked.issues))
    for note in checked.notes:
        print(f"note: {note}", file=sys.stderr)
    if checked.model is None or has_errors(checked.issues):
        return 1
    return 1 if strict and checked.issues else 0


def run(args: argparse.Namespace) -> int:
    checked = load_and_check(args.data, args.registry)
    if args.against is not None:
        from ..pages.compare import run_against

        return run_against(checked, args.against, args.dataset, args.format, args.strict)
    return report(checked, args.format, args.strict)


def register(subparsers) -> None:
    parser = subparsers.add_parser("check", help="validate the data and run every consistency check",
                                   description="Validate the data and run every consistency check. Findings "
                                               "are printed on standard output. Exit 0: no errors; 1: errors "
                                               "(or warnings, with --strict); 2: usage error.")
    add_data_arguments(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    parser.add_argument("--against", type=Path, nargs="+", metavar="PAGE",
                        help="also compare published pages (Markdown or saved HTML, or folders of them) with the data "
                             "and with each other; exit 1 on any unexplained difference")
    parser.add_argument("--dataset", metavar="ID",
                        help="with --against: the dataset to compare (default: the one whose source title is the page's title)")
    parser.set_defaults(func=run)
