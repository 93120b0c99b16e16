"""`build`: check the data, then write the requested output formats under --out.

Every format is built in memory (or staged on disk) first; only when all of them
have built are they published, together, as one generation of the output folder
(see `generator.output_files`), so a failed or killed build leaves the previous
outputs as they were. Formats are the modules of `generator.outputs`.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import sys
from pathlib import Path

from ..errors import UsageError
from ..issues import render_text
from ..output_files import OutputFiles, output_lock, publish, publish_folder, published_generation, remove_leftovers
from ..outputs import OUTPUTS, output_module
from ..pipeline import Checked, fingerprint, load_and_check
from .check import add_data_arguments, report

MAX_NOTES = 20  # per format: a large dataset can have thousands; the outputs list them all
# The Sphinx site is built by Sphinx from conf.py and source/, after the other formats
# (its role pages link them), rather than by a module of generator.outputs.
SITE = "html"
SITE_WORK = ".site"  # under the output folder: Sphinx's own output folder and its state
SPHINX_OPTIONS = "-q -W --keep-going -n"


def requested_formats(text: str) -> list[str]:
    """The formats named, in build order; by default every format but the site, which
    `make html` builds on its own so that Sphinx's incremental build applies."""
    known = [*OUTPUTS, SITE]
    formats = [name.strip() for name in text.split(",") if name.strip()] if text else list(OUTPUTS)
    unknown = [name for name in formats if name not in known]
    if unknown:
        raise UsageError(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return sorted(dict.fromkeys(formats), key=known.index)


def build_site(args: argparse.Namespace, loaded: tuple[str, Checked] | None = None) -> int:
    """The Sphinx site into OUT/html, as `make html` builds it. Sphinx builds into its own
    folder, OUT/.site/html, where it keeps what its next incremental build needs; once it
    has succeeded, its pages are published as one generation of the output folder like
    every other format, so a failed or killed build leaves the published site as it was.
    Sphinx prints its own warnings, located at their pages. `loaded` is the data as the
    formats were built from it (its fingerprint and the checked model), for the site to
    use rather than load again."""
    import shlex

    from sphinx.cmd.build import build_main

    from ..site import data as site_data

    conf = args.site_conf.resolve()
    if not (conf / "conf.py").is_file() or not args.site_source.is_dir():
        raise UsageError(f"the site needs {conf / 'conf.py'} and the pages folder {args.site_source}; "
                         "run from the project folder or give --site-conf and --site-source")
    work = args.out / SITE_WORK / SITE
    if loaded is not None:
        site_data.keep(args.data, *loaded)
    status = build_main(["-b", "html", "-c", str(conf), *shlex.split(args.sphinx_options),
                         *(["-E"] if args.site_fresh else []), "-D", f"portbook_data={args.data.resolve()}",
                         str(args.site_source), str(work)])
    if status == 0:
        rewritten = publish_folder(args.out, work)
        print(f"{args.out / SITE}: {len(rewritten)} rewritten")
    return status


def _print_notes(name: str, notes: list[str]) -> None:
    for note in notes[:MAX_NOTES]:
        print(f"{name}: {note}", file=sys.stderr)
    if len(notes) > MAX_NOTES:
        print(f"{name}: ... and {len(notes) - MAX_NOTES} more notes like these", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    requested = requested_formats(args.formats)
    formats = [name for name in requested if name != SITE]
    if not formats:
        return build_site(args)  # the site's extension checks the data itself, and stops on errors
    # The site shows the data as loaded here when it is built in the same run (and
    # checked as the site checks it: without a registry given on the command line).
    share = SITE in requested and args.registry is None
    key = fingerprint(args.data.resolve()) if share else ""
    checked = load_and_check(args.data, args.registry)
    whole = checked
    if checked.ok and args.dataset:
        if args.dataset not in checked.model.dataset_by_id:
            known = ", ".join(sorted(checked.model.dataset_by_id))
            raise UsageError(f"no dataset {args.dataset!r} in {args.data}; known: {known}")
        checked = replace(checked, model=checked.model.only(args.dataset))
    if not checked.ok:
        # Like a compiler, build keeps standard output for what it wrote.
        return report(checked, "text", False, sys.stderr)
    if checked.issues:
        sys.stderr.write(render_text(checked.issues))
    collected: list[OutputFiles] = []
    try:
        with output_lock(args.out):
            remove_leftovers(args.out)
            published = published_generation(args.out)  # stays published while the lock is held
            for name in formats:
                files = OutputFiles(args.out / name, published)
                collected.append(files)
                _print_notes(name, output_module(name).build(checked.model, files, args))
            rewritten = publish(args.out, collected)
    finally:
        for files in collected:
            files.discard()
    for files, written in zip(collected, rewritten):
        print(f"{files.folder}: {len(files.files)} file(s), {files.made} made, {len(written)} rewritten")
    if SITE not in requested:
        return 0
    return build_site(args, (key, whole) if share else None)


def register(subparsers, argv: list[str] | None = None) -> None:
    """With `argv`, the command line being parsed, only the formats it asks for add their
    own options, so that building one format imports only that format's libraries;
    without it (for --help of the whole program) no format module is imported."""
    parser = subparsers.add_parser("build", help="generate outputs under the output folder")
    add_data_arguments(parser)
    parser.add_argument("--formats", default="",
                        help=f"comma-separated formats of {', '.join([*OUTPUTS, SITE])} (default: all but {SITE})")
    parser.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    parser.add_argument("--dataset", metavar="ID", default="",
                        help="build the outputs of this dataset only; the whole data folder is still checked, and the site shows every dataset")
    parser.add_argument("--site-conf", type=Path, default=Path("."), metavar="FOLDER",
                        help="for the html format: the folder holding conf.py (default: .)")
    parser.add_argument("--site-source", type=Path, default=Path("source"), metavar="FOLDER",
                        help="for the html format: the site's pages (default: source)")
    parser.add_argument("--site-fresh", action="store_true",
                        help="for the html format: read every page again (after a change to conf.py or the extension)")
    parser.add_argument("--sphinx-options", default=SPHINX_OPTIONS, metavar="OPTIONS",
                        help=f"for the html format: sphinx-build's options (default: {SPHINX_OPTIONS})")
    for name in _formats_asked(argv) if argv is not None else ():
        add_arguments = getattr(output_module(name), "add_arguments", None)
        if add_arguments is not None:
            add_arguments(parser.add_argument_group(name))
    parser.set_defaults(func=run)


def _formats_asked(argv: list[str]) -> list[str]:
    """The output modules whose options the command line may use: those --formats names
    (every one by default), ignoring names `run` will refuse."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--formats", default="")
    asked = early.parse_known_args(argv)[0].formats
    names = [name.strip() for name in asked.split(",") if name.strip()] if asked else list(OUTPUTS)
    return [name for name in names if name in OUTPUTS]
