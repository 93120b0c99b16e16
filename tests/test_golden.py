"""Golden files: every output built from the shipped data, kept under tests/golden/<format>/
and compared byte for byte, so that a change shows in review what it does to each output.

Refresh them after an intended change with

    PORTBOOK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

Markdown and policy files are kept as built; a workbook is kept as a text dump of what
openpyxl reads back from it, and the site as the tables of one role page.
"""
from __future__ import annotations

import difflib
import html
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

import pytest
from openpyxl import load_workbook

from tests.conftest import DATA, ROOT

GOLDEN = ROOT / "tests" / "golden"
UPDATE_VARIABLE = "PORTBOOK_UPDATE_GOLDEN"
REFRESH_COMMAND = f"{UPDATE_VARIABLE}=1 .venv/bin/python -m pytest tests/test_golden.py"
# Any fixed date: workbook dates come from it, so the outputs are the same on every run.
SOURCE_DATE_EPOCH = "1700000000"
SITE_PAGE = "roles/dpm-server.html"
DIFF_LINES = 80

# A workbook's cover names the newest commit that changed its rows: a fact of the
# checkout's history (or of its uncommitted edits), not of the data. So the outputs are
# built from a copy of data/ committed once into a repository of its own, by a fixed
# author at a fixed date, and the dumps name that commit DATA_COMMIT_PLACEHOLDER, since its
# id changes with every edit of any row.
DATA_COMMIT_PLACEHOLDER = "<commit of the data>"
DATA_COMMIT = {"GIT_AUTHOR_NAME": "Portbook", "GIT_AUTHOR_EMAIL": "portbook@example.org",
               "GIT_AUTHOR_DATE": f"@{SOURCE_DATE_EPOCH} +0000", "GIT_COMMITTER_NAME": "Portbook",
               "GIT_COMMITTER_EMAIL": "portbook@example.org", "GIT_COMMITTER_DATE": f"@{SOURCE_DATE_EPOCH} +0000"}
# Neither the user's nor the system's git settings (signing, line-end conversion) apply.
GIT_SETTINGS = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
ENVIRONMENT = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, **GIT_SETTINGS}


def run(*command: str, folder: Path = ROOT, environment: dict[str, str] = ENVIRONMENT) -> str:
    """Run `command` in `folder` and return what it printed; fail with its output when it fails."""
    done = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}", pytrace=False)
    return done.stdout


class Workspace(NamedTuple):
    folder: Path  # holds `data`, a copy of data/ in a repository of its own, and `build`
    data_commit: str  # the one commit of that repository


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """data/ committed as described at DATA_COMMIT, and every format built from it into
    `build` as `make build` does."""
    if shutil.which("git") is None:
        pytest.skip("the workbooks name git commits: install git")
    folder = tmp_path_factory.mktemp("golden")
    data = folder / "data"
    shutil.copytree(DATA, data)
    committing = {**ENVIRONMENT, **DATA_COMMIT}
    run("git", "init", "--quiet", folder=data, environment=committing)
    run("git", "add", "--all", ".", folder=data, environment=committing)
    run("git", "commit", "--quiet", "--no-verify", "-m", "Shipped data", folder=data, environment=committing)
    run(sys.executable, "-m", "generator", "build", "--data", str(data), "--out", str(folder / "build"))
    return Workspace(folder, run("git", "rev-parse", "HEAD", folder=data).strip())


def normalised(text: str, workspace: Workspace) -> str:
    """The dump with the data's commit, the temporary folder and the checkout named by
    placeholders; no path belongs in an output, and paths differ between machines."""
    return (text.replace(workspace.data_commit, DATA_COMMIT_PLACEHOLDER)
            .replace(str(workspace.folder), "<tmp>").replace(str(ROOT), "<checkout>"))


def visible_files(folder: Path) -> list[Path]:
    """The files under `folder` that are outputs: hidden files (the build's manifest,
    staging) are bookkeeping."""
    return sorted(path for path in folder.rglob("*")
                  if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def text_of(path: Path, folder: Path) -> str:
    """The file as text: a golden file is read in review, so every output kept as built is text."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        pytest.fail(f"{path.relative_to(folder)} is not UTF-8 text; the golden test has no dump for such a file")


# ---------------------------------------------------------------- workbooks as text

def colour(color) -> str | None:
    if color is None:
        return None
    value = color.value if color.type == "rgb" else f"{color.type} {color.value}"
    return f"{value} tint {color.tint}" if color.tint else value


def cell_line(cell) -> str:
    """Coordinate, data type, value and the style facts a reader sees, on one line."""
    value = cell.value
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else (
        value.isoformat() if hasattr(value, "isoformat") else repr(value))
    font, fill, alignment = cell.font, cell.fill, cell.alignment
    facts = [f"size={font.size:g}" if font.size else "size=default"]
    facts += [name for name, on in (("bold", font.bold), ("italic", font.italic), ("wrap", alignment.wrap_text)) if on]
    if font.color is not None:
        facts.append(f"colour={colour(font.color)}")
    if fill.fill_type:
        facts.append(f"fill={fill.fill_type} {colour(fill.fgColor)}")
    if alignment.vertical:
        facts.append(f"vertical={alignment.vertical}")
    facts.append(f"format={json.dumps(cell.number_format)}")
    if cell.hyperlink is not None:
        facts.append(f"link={json.dumps(cell.hyperlink.target)}")
    if cell.comment is not None:
        facts.append(f"comment={json.dumps(cell.comment.text, ensure_ascii=False)}")
    return f"  {cell.coordinate} {cell.data_type} {shown} | {' '.join(facts)}"


def sheet_lines(sheet) -> list[str]:
    setup = sheet.page_setup
    fit = sheet.sheet_properties.pageSetUpPr
    lines = [
        f"sheet {json.dumps(sheet.title, ensure_ascii=False)} ({sheet.sheet_state})",
        f" dimensions: {sheet.dimensions}",
        f" freeze panes: {sheet.freeze_panes}",
        f" auto filter: {sheet.auto_filter.ref}",
        f" print titles: rows {sheet.print_title_rows} columns {sheet.print_title_cols}",
        f" print area: {sheet.print_area}",
        f" page setup: orientation {setup.orientation} paper {setup.paperSize}"
        f" fit to page {fit.fitToPage if fit is not None else None} width {setup.fitToWidth} height {setup.fitToHeight}",
        f" merged cells: {' '.join(sorted(str(cells) for cells in sheet.merged_cells.ranges)) or None}",
        " column widths:",
    ]
    for letter, dimension in sorted(sheet.column_dimensions.items(), key=lambda item: (len(item[0]), item[0])):
        if dimension.customWidth or dimension.hidden:
            span = letter if dimension.min == dimension.max or not dimension.max else f"{letter} ({dimension.min}-{dimension.max})"
            lines.append(f"  {span} {dimension.width:g}{' hidden' if dimension.hidden else ''}")
    lines.append(" data validations:")
    for validation in sheet.data_validations.dataValidation:
        lines.append(f"  {validation.sqref} {validation.type} {json.dumps(validation.formula1, ensure_ascii=False)}"
                     f" blank allowed {validation.allow_blank} error shown {validation.showErrorMessage}"
                     f" {json.dumps(validation.errorTitle, ensure_ascii=False)}: {json.dumps(validation.error, ensure_ascii=False)}")
    lines.append(" conditional formats:")
    for formats in sheet.conditional_formatting:
        for rule in formats.rules:
            lines.append(f"  {formats.sqref} {rule.type} {json.dumps(rule.formula, ensure_ascii=False)}")
    lines.append(" sheet names:")
    for name, defined in sorted(sheet.defined_names.items()):
        lines.append(f"  {name} = {defined.attr_text}")
    lines.append(" cells:")
    for row in sheet.iter_rows():
        lines += [cell_line(cell) for cell in row if cell.value is not None or cell.has_style]
    return lines


def workbook_dump(path: Path) -> str:
    """A workbook as openpyxl reads it back, one fact per line."""
    workbook = load_workbook(path)
    properties = workbook.properties
    lines = [
        f"workbook {path.name}",
        f" created {properties.created.isoformat() if properties.created else None}"
        f" modified {properties.modified.isoformat() if properties.modified else None}"
        f" creator {json.dumps(properties.creator, ensure_ascii=False)} title {json.dumps(properties.title, ensure_ascii=False)}",
        " names:",
    ]
    lines += [f"  {name} = {defined.attr_text}" for name, defined in sorted(workbook.defined_names.items())]
    for sheet in workbook.worksheets:
        lines += sheet_lines(sheet)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- site tables as text

class TableTags(HTMLParser):
    """The <table> elements of a page, one tag or text per line, indented by depth,
    attributes in name order and runs of white space in text made one space."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.open: list[str] = []  # the elements open inside the current table

    def handle_starttag(self, tag, attrs):
        if tag != "table" and not self.open:
            return
        shown = "".join(f' {name}="{html.escape(value or "")}"' for name, value in sorted(attrs))
        self.lines.append(f"{'  ' * len(self.open)}<{tag}{shown}>")
        if tag not in ("br", "img", "hr", "wbr", "col", "input"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag not in self.open:
            return
        while self.open:
            closed = self.open.pop()
            self.lines.append(f"{'  ' * len(self.open)}</{closed}>")
            if closed == tag:
                break

    def handle_data(self, data):
        text = " ".join(data.split())
        if self.open and text:
            self.lines.append(f"{'  ' * len(self.open)}{html.escape(text, quote=False)}")


def site_tables(page: Path) -> str:
    parser = TableTags()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return "\n".join(parser.lines) + "\n"


# ---------------------------------------------------------------- the dumps of each format

def text_outputs(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): text_of(path, folder) for path in visible_files(folder)}


def markdown_dumps(workspace: Workspace) -> dict[str, str]:
    return text_outputs(workspace.folder / "build" / "markdown")


def policy_dumps(workspace: Workspace) -> dict[str, str]:
    return text_outputs(workspace.folder / "build" / "policy")


def xlsx_dumps(workspace: Workspace) -> dict[str, str]:
    folder = workspace.folder / "build" / "xlsx"
    dumps = {}
    for path in visible_files(folder):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".xlsx":
            dumps[f"{name}.txt"] = workbook_dump(path)
        else:
            dumps[name] = text_of(path, folder)
    return dumps


def html_dumps(workspace: Workspace) -> dict[str, str]:
    """The tables of one role page of a real Sphinx build of the site, which links the
    outputs built beside it."""
    site = workspace.folder / "build" / "html"
    run(sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(ROOT), "-D", f"portbook_data={workspace.folder / 'data'}",
        str(ROOT / "source"), str(site))
    return {f"{SITE_PAGE.removesuffix('.html')}.tables.html": site_tables(site / SITE_PAGE)}


DUMPS = {"markdown": markdown_dumps, "policy": policy_dumps, "xlsx": xlsx_dumps, "html": html_dumps}


def golden_names(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in visible_files(folder)} if folder.is_dir() else set()


def refresh(folder: Path, dumps: dict[str, bytes]) -> None:
    """Make `folder` hold exactly `dumps`, rewriting only the files that changed."""
    for name in golden_names(folder) - set(dumps):
        (folder / name).unlink()
    for name, data in dumps.items():
        target = folder / name
        if not target.is_file() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    for directory in sorted((path for path in folder.rglob("*") if path.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def differences(folder: Path, dumps: dict[str, bytes]) -> list[str]:
    """What differs between the golden files in `folder` and `dumps`, one message each."""
    kept = golden_names(folder)
    found = [f"{folder.name}/{name}: built, but there is no golden file" for name in sorted(set(dumps) - kept)]
    found += [f"{folder.name}/{name}: golden file, but the build no longer writes it" for name in sorted(kept - set(dumps))]
    for name in sorted(kept & set(dumps)):
        golden = (folder / name).read_bytes()
        if golden != dumps[name]:
            diff = list(difflib.unified_diff(golden.decode("utf-8", "replace").splitlines(),
                                             dumps[name].decode("utf-8", "replace").splitlines(),
                                             f"golden/{folder.name}/{name}", f"built/{folder.name}/{name}", lineterm=""))
            if not diff:  # the lines are equal: their ends (CR LF, LF) or the final newline differ
                diff = ["(line ends or the final newline differ)"]
            more = [f"... {len(diff) - DIFF_LINES} more diff lines"] if len(diff) > DIFF_LINES else []
            found.append(f"{folder.name}/{name}: differs from its golden file\n" + "\n".join(diff[:DIFF_LINES] + more))
    return found


@pytest.mark.parametrize("output_format", list(DUMPS))
def test_output_matches_its_golden_files(output_format, workspace):
    dumps = {name: normalised(text, workspace).encode("utf-8")
             for name, text in DUMPS[output_format](workspace).items()}
    assert dumps, f"the build wrote no {output_format} output"
    folder = GOLDEN / output_format
    if os.environ.get(UPDATE_VARIABLE) == "1":
        refresh(folder, dumps)
        return
    found = differences(folder, dumps)
    if found:
        pytest.fail("\n\n".join(found) + (
            f"\n\n{output_format}: the outputs above differ from tests/golden/{output_format}/; "
            f"if the change is intended, refresh the golden files with\n    {REFRESH_COMMAND}"), pytrace=False)


def test_every_output_folder_has_golden_files(workspace):
    """A format the build gains gets golden files too: add its dump to DUMPS."""
    built = {path.name for path in (workspace.folder / "build").iterdir() if path.is_dir() and not path.name.startswith(".")}
    assert built - set(DUMPS) == set(), f"the build writes {sorted(built - set(DUMPS))} with no golden dump in DUMPS"
