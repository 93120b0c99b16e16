"""`import PAGE --out DRAFT.csv` or `import PAGE --into data/NAME`: turn a published port
page (Markdown or saved HTML) into draft flows, or into a dataset folder `check` runs on.

The draft has one row per port and transport of the page's port tables and port lists, in
the flows schema's columns. Roles, direction, transport and service are filled in as far
as the page's words go; what the page leaves open stays blank with a note in `assumption`
(which also names the page line), so that `check` lists what a person must still decide.
The report accounts for every number of the page: drafted, listed with its sentence (ports
stated outside the drafted cells, where typos hide), or set aside as no port with the reason.
A page that yields no draft row exits 1.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..csvfile import display_path, read_csv
from ..load import load_settings
from ..model import Settings
from ..output_files import replace_file
from ..pages.account import DRAFTED, LISTED, NOT_PORT, account
from ..pages.draft import decisions_left, draft_rows, page_roles, role_aliases
from ..pages.findings import find
from ..pages.mentions import PageStatements, read_statements
from ..pages.parse import parse_any, read_page, slug
from ..terminal import json_text, printable
from ..pipeline import registry_for
from ..schema import FLOWS, ROLES


def register(subparsers) -> None:
    parser = subparsers.add_parser("import", help="draft flows from a published port page (Markdown or saved HTML)")
    parser.add_argument("page", type=Path, metavar="PAGE", help="the published page (.md, or a saved .html page)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, metavar="DRAFT.csv", help="draft flows file to write")
    target.add_argument("--into", type=Path, metavar="DATA/NAME",
                        help="dataset folder to write (dataset.toml, roles.csv, flows.csv) inside a data folder")
    parser.add_argument("--roles", type=Path, metavar="ROLES.csv", help="roles.csv whose roles the page's words are matched against")
    parser.add_argument("--dataset", metavar="ID", help="dataset id that prefixes every draft id (default: the --into folder's name, else the page's file name)")
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="data folder whose portbook.toml names the service registry (default: data; with --into, its parent)")
    parser.add_argument("--force", action="store_true", help="overwrite --out, or the --into folder's files, if they exist")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format (default: text)")
    parser.set_defaults(func=run_import)


def read_roles(path: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    table, issues = read_csv(path, ROLES.column_names, ["id", "name"])
    if table is None or issues:
        return [], [item.format() for item in issues]
    columns = table.columns
    descriptions = columns["description"] if "description" in columns else [""] * len(columns["id"])
    return list(zip(columns["id"], columns["name"], descriptions)), []


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value: str) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading
    apostrophe. A lone '-' (the pages' "none") is no formula and stays as it is."""
    return "'" + value if value.startswith(_FORMULA_START) and value != "-" else value


def csv_bytes(columns: list[str], rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({column: inert(row.get(column, "")) for column in columns} for row in rows)
    return buffer.getvalue().encode("utf-8")


def draft_csv(rows: list[dict[str, str]]) -> bytes:
    return csv_bytes(FLOWS.column_names, rows)


def _toml_string(text: str) -> str:
    # A JSON string (escapes \" \\ \n \uXXXX) is a TOML basic string.
    return json_text(text).rstrip("\n")


def dataset_toml(dataset: str, stated: PageStatements, shown: str, rows: list[dict[str, str]]) -> bytes:
    """dataset.toml for an imported page: its title and source, and the sections the rows cite."""
    title = stated.page.title or dataset
    lines = [f"# Imported from {shown}: review every row's assumption, then run check.",
             f"id = {_toml_string(dataset)}", f"title = {_toml_string(title)}", 'version = "draft"', "",
             "[source]", f"title = {_toml_string(title)}", ""]
    used = list(dict.fromkeys(row["reference"] for row in rows))
    known = {section.key: section for section in stated.page.sections}
    for key in used or ["top"]:
        section = known.get(key)
        lines.append(f"[sections.{key}]")
        lines.append(f"title = {_toml_string(section.title if section else 'Top of the page')}")
        if section and section.anchor:
            lines.append(f"anchor = {_toml_string(section.anchor)}")
        lines.append("")
    return "\n".join(lines).encode("utf-8")


def report(stated: PageStatements, shown: str, rows: list[dict[str, str]], out: str) -> dict:
    fates = account(stated)
    prose = [
        {"line": s.line, "column": s.column, "port": str(s.ports) if s.ports else "", "transport": s.transport,
         "dynamic": s.dynamic, "words": s.words, "sentence": s.sentence, "section": s.section.key}
        for s in stated.prose
    ]
    used = {row["reference"] for row in rows}
    sections = [{"key": s.key, "title": s.title, "anchor": s.anchor} for s in stated.page.sections if s.key in used]
    numbers = [{"line": f.line, "column": f.column, "number": f.number, "fate": f.fate, "reason": f.reason,
                "sentence": f.sentence} for f in fates]
    findings = [{"line": f.line, "column": f.column, "message": f.message} for f in find(stated)]
    counts = {
        "ports_seen": sum(1 for f in fates if f.fate in (DRAFTED, LISTED)),
        "rows_drafted": len(rows),
        "listed_only": sum(1 for f in fates if f.fate == LISTED),
        "not_ports": sum(1 for f in fates if f.fate == NOT_PORT),
    }
    return {"page": shown, "title": stated.page.title, "draft": out, "rows": len(rows),
            "rows_to_decide": sum(1 for row in rows if decisions_left(row)),
            "sections": sections, "prose_ports": prose, "numbers": numbers, "findings": findings, "counts": counts}


def render_text(summary: dict) -> str:
    """The report for a terminal: page text (titles, anchors, sentences) and paths with
    their control characters escaped."""
    page, draft = printable(summary["page"]), printable(summary["draft"])
    lines = [f"{draft}: {summary['rows']} draft row(s) from {page}, "
             f"{summary['rows_to_decide']} with decisions left (see the assumption column)"]
    if summary["sections"]:
        lines.append("Sections the rows cite (for dataset.toml):")
        for section in summary["sections"]:
            lines.append(f"  [sections.{section['key']}] title = {json_text(section['title']).rstrip()}"
                         f" anchor = {json_text(section['anchor']).rstrip()}")
    if summary["findings"]:
        lines.append(f"Findings on the page ({len(summary['findings'])}):")
        for finding in summary["findings"]:
            lines.append(f"{page}:{finding['line']}:{finding['column']}: {printable(finding['message'])}")
    lines.append(f"Ports stated outside the tables ({len(summary['prose_ports'])}); compare each with the tables and the data:")
    for mention in summary["prose_ports"]:
        what = f"port {mention['port']}" if mention["port"] else "dynamic ports"
        what += f"/{mention['transport']}" if mention["transport"] else ""
        lines.append(f"{page}:{mention['line']}:{mention['column']}: {what}: {printable(mention['sentence'])}")
    others = [n for n in summary["numbers"] if n["fate"] != DRAFTED and "outside the port tables" not in n["reason"]]
    if others:
        lines.append(f"Numbers not imported ({len(others)}):")
        for number in others:
            lines.append(f"{page}:{number['line']}:{number['column']}: {number['number']}: not imported: "
                         f"{number['reason']}: {printable(number['sentence'])}")
    counts = summary["counts"]
    lines.append(f"{counts['ports_seen']} port(s) seen, {counts['rows_drafted']} row(s) drafted, "
                 f"{counts['listed_only']} listed only, {counts['not_ports']} number(s) that are no port")
    return "\n".join(lines) + "\n"


def _settings(data_dir: Path) -> Settings:
    settings, issues = load_settings(data_dir, {})
    return settings if not issues else Settings(path=data_dir / "portbook.toml")


def _write_dataset(folder: Path, files: dict[str, bytes], force: bool) -> str:
    """Write the dataset's files into its folder; an error line, or ""."""
    if folder.exists() and not folder.is_dir():
        return f"error: {folder} is a file; name a dataset folder"
    if folder.exists() and any(folder.iterdir()) and not force:
        return f"error: {folder} exists; pass --force to overwrite its files"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            replace_file(folder / name, data)
    except OSError as error:
        return f"error: cannot write {folder}: {error.strerror or error}"
    return ""


def run_import(args: argparse.Namespace) -> int:
    text, error = read_page(args.page)
    if text is None:
        print(printable(error), file=sys.stderr)
        return 1
    roles: list[tuple[str, str, str]] = []
    if args.roles is not None:
        roles, errors = read_roles(args.roles)
        if errors:
            sys.stderr.write("\n".join(errors) + "\n")
            return 1
    target = args.out if args.out is not None else args.into
    if args.out is not None:
        if args.out.exists() and not args.force:
            print(f"error: {args.out} exists; pass --force to overwrite it", file=sys.stderr)
            return 2
        if args.out.is_dir():
            print(f"error: {args.out} is a folder; name the draft file", file=sys.stderr)
            return 2
    dataset = slug(args.dataset or (args.into.resolve().name if args.into is not None else args.page.stem), "page")[:24].rstrip("-")
    registry, _ = registry_for(_settings(args.into.resolve().parent if args.into is not None else args.data))
    stated = read_statements(parse_any(text, args.page))
    rows = draft_rows(stated, role_aliases([(i, n) for i, n, _ in roles]), registry, dataset)
    shown = display_path(args.page)
    if args.out is not None:
        try:
            replace_file(args.out, draft_csv(rows))
        except OSError as error:
            print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
            return 1
    else:
        role_rows = ([{"id": i, "name": n, "description": d} for i, n, d in roles] if roles else
                     [{"id": r.id, "name": r.name, "description": r.note or f"Named by {shown}."} for r in page_roles(stated)])
        problem = _write_dataset(args.into, {
            "dataset.toml": dataset_toml(dataset, stated, shown, rows),
            "roles.csv": csv_bytes(ROLES.column_names, role_rows),
            "flows.csv": draft_csv(rows),
        }, args.force)
        if problem:
            print(printable(problem), file=sys.stderr)
            return 2 if "exists" in problem else 1
    summary = report(stated, shown, rows, str(target))
    text_report = render_text(summary)
    if args.into is not None:
        text_report += (f"Next: fill in what the assumption column asks, then run "
                        f"`python -m generator check --data {printable(str(args.into.parent))}`\n")
    sys.stdout.write(json_text(summary) if args.format == "json" else text_report)
    if not rows:
        print(f"{printable(shown)}:1:1: the page yields no draft row", file=sys.stderr)
        return 1
    return 0
