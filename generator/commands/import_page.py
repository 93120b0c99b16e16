"""`import PAGE.md --out DRAFT.csv`: turn a published port page into draft flows.

The draft has one row per port and transport of the page's port tables, in the flows
schema's columns. Roles are filled in where the page's words name a role of --roles;
what the page leaves open stays blank with a note in `assumption`, so that `check` on
the draft lists exactly what a person must still decide. Port numbers the page gives
outside its tables are printed with their sentences: prose is where typos hide.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..csvfile import display_path, read_csv
from ..output_files import replace_file
from ..pages.draft import draft_rows, role_aliases
from ..pages.mentions import PageStatements, read_statements
from ..pages.parse import parse_page, read_page
from ..pages.terminal import json_text, printable
from ..schema import FLOWS, ROLES

def register(subparsers) -> None:
    parser = subparsers.add_parser("import", help="draft flows.csv rows from a published Markdown port page")
    parser.add_argument("page", type=Path, metavar="PAGE.md", help="the published page (Markdown)")
    parser.add_argument("--out", type=Path, required=True, metavar="DRAFT.csv", help="draft flows file to write")
    parser.add_argument("--roles", type=Path, metavar="ROLES.csv", help="roles.csv whose roles the page's words are matched against")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format (default: text)")
    parser.set_defaults(func=run_import)


def read_roles(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    table, issues = read_csv(path, ROLES.column_names, ["id", "name"])
    if table is None or issues:
        return [], [item.format() for item in issues]
    return list(zip(table.columns["id"], table.columns["name"])), []


def draft_csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FLOWS.column_names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def report(stated: PageStatements, shown: str, rows: list[dict[str, str]], out: str) -> dict:
    prose = [
        {"line": s.line, "column": s.column, "port": str(s.ports) if s.ports else "", "transport": s.transport,
         "dynamic": s.dynamic, "words": s.words, "sentence": s.sentence, "section": s.section.key}
        for s in stated.prose
    ]
    used = {row["reference"] for row in rows}
    sections = [{"key": s.key, "title": s.title, "anchor": s.anchor} for s in stated.page.sections if s.key in used]
    undecided = sum(1 for row in rows if row["assumption"])
    return {"page": shown, "title": stated.page.title, "draft": out, "rows": len(rows), "rows_to_decide": undecided,
            "sections": sections, "prose_ports": prose}


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
    lines.append(f"Ports stated outside the tables ({len(summary['prose_ports'])}); compare each with the tables and the data:")
    for mention in summary["prose_ports"]:
        what = f"port {mention['port']}" if mention["port"] else "dynamic ports"
        what += f"/{mention['transport']}" if mention["transport"] else ""
        lines.append(f"{page}:{mention['line']}:{mention['column']}: {what}: {printable(mention['sentence'])}")
    return "\n".join(lines) + "\n"


def run_import(args: argparse.Namespace) -> int:
    text, error = read_page(args.page)
    if text is None:
        print(printable(error), file=sys.stderr)
        return 1
    aliases: dict[str, str] = {}
    if args.roles is not None:
        roles, errors = read_roles(args.roles)
        if errors:
            sys.stderr.write("\n".join(errors) + "\n")
            return 1
        aliases = role_aliases(roles)
    if args.out.exists() and not args.force:
        print(f"error: {args.out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    if args.out.is_dir():
        print(f"error: {args.out} is a folder; name the draft file", file=sys.stderr)
        return 2
    stated = read_statements(parse_page(text))
    rows = draft_rows(stated, aliases)
    try:
        replace_file(args.out, draft_csv(rows))
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    summary = report(stated, display_path(args.page), rows, str(args.out))
    if args.format == "json":
        sys.stdout.write(json_text(summary))
    else:
        sys.stdout.write(render_text(summary))
    return 0
