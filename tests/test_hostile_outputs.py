"""Hostile data through every output at once: ids that could be paths or markup are
refused by the loader; text that looks like formulas, markup, directives or shell is
accepted, built into every discovered format as inert text, and nothing is written
outside the output folder. (Each format's own tests check its escaping in detail.)"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from conftest import ROOT, read_rows, write_rows
from generator.outputs import OUTPUTS
from hostile import HOSTILE_IDS, HOSTILE_TEXT
from test_fuzz import ISSUE_LINE, build_all, cell_column, files_under, first_dataset, issue_lines, run_cli

FREE_TEXT = {
    "flows.csv": ("purpose", "condition", "assumption", "rule"),
    "roles.csv": ("name", "description"),
    "errata.csv": ("rationale", "evidence"),
}
PWNED = Path("/tmp/portbook-pwned")
PASSWD_LINE = re.compile(r"root:[^:\n]*:0:0:")


def _hostile(index: int) -> str:
    return HOSTILE_TEXT[index % len(HOSTILE_TEXT)]


def make_hostile(data_dir: Path) -> set[str]:
    """Put the hostile corpus into every free-text column of every dataset, the programs
    that exist, erratum published/corrected values and inventory notes, keeping the data
    valid. Returns the stripped texts the data now holds."""
    used: set[str] = set()
    offset = 0
    for dataset in sorted(path.parent for path in data_dir.glob("*/dataset.toml")):
        flows_path = dataset / "flows.csv"
        for name, columns in FREE_TEXT.items():
            path = dataset / name
            if not path.exists():
                continue
            header, rows = read_rows(path)
            for index, row in enumerate(rows):
                for number, column in enumerate(columns):
                    if column in header:
                        row[column] = _hostile(offset + index * len(columns) + number)
                        used.add(row[column].strip())
                if name == "flows.csv" and row["program"]:
                    # Distinct per row, so no two rows become one flow (C204) or one program spelt twice (C205).
                    row["program"] = _hostile(offset + 7 * index + 3)
                    used.add(row["program"].strip())
            write_rows(path, header, rows)
            offset += len(rows)
        errata_path = dataset / "errata.csv"
        if errata_path.exists():
            header, flows = read_rows(flows_path)
            by_id = {row["id"]: row for row in flows}
            header, errata = read_rows(errata_path)
            for index, row in enumerate(errata):
                row["corrected"] = by_id[row["flow"]][row["field"]]  # what the data holds, hostile where text
                published = _hostile(offset + index)
                row["published"] = published if published.strip() != row["corrected"].strip() else _hostile(offset + index + 1)
                used.add(row["published"].strip())
            write_rows(errata_path, header, errata)
    inventory = data_dir / "inventory.csv"
    if inventory.exists():
        header, rows = read_rows(inventory)
        for index, row in enumerate(rows):
            row["note"] = _hostile(index + 5)
            used.add(row["note"].strip())
        write_rows(inventory, header, rows)
    return used


@pytest.fixture
def hostile_build(data_dir, tmp_path) -> tuple[Path, set[str]]:
    used = make_hostile(data_dir)
    before = files_under(tmp_path)
    code, _, err = run_cli(["check", "--data", str(data_dir)])
    assert code == 0, err
    out = tmp_path / "out"
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    new = files_under(tmp_path) - before
    assert all(name == "out" or name.startswith("out/") for name in new), sorted(new)[:5]
    assert not PWNED.exists()
    return out, used


def test_hostile_text_builds_every_format_inside_its_folder(hostile_build):
    out, used = hostile_build
    assert {path.name for path in out.iterdir() if path.is_dir() and not path.name.startswith(".")} == set(OUTPUTS)
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve())
        assert not path.is_symlink() or path.parent == out  # only the build's own links to its formats


def test_workbooks_hold_no_formulas_and_lose_no_text(hostile_build):
    out, used = hostile_build
    workbooks = sorted(out.rglob("*.xlsx"))
    if "xlsx" not in OUTPUTS:
        assert not workbooks
        return
    assert workbooks
    for workbook in workbooks:
        with zipfile.ZipFile(workbook) as archive:
            for name in archive.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    xml = archive.read(name).decode("utf-8")
                    assert not re.search(r"<f[ >/]", xml), f"{workbook.name}:{name} holds a formula"
    from openpyxl import load_workbook

    cells: set[str] = set()
    for workbook in workbooks:
        book = load_workbook(workbook)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{workbook.name}!{cell.coordinate} is a formula: {cell.value!r}"
                    if isinstance(cell.value, str):
                        cells.add(cell.value)
    text = "\n".join(cells)
    formulas = [value for value in used if value[:1] in "=+-@"]
    assert formulas
    missing = [value for value in formulas if value not in text]
    assert not missing, f"formula-like text lost from the workbooks: {missing}"


def test_markdown_carries_markup_as_text(hostile_build):
    out, used = hostile_build
    documents = sorted(out.rglob("*.md"))
    if "markdown" in OUTPUTS:
        assert documents
    renderer = MarkdownIt("commonmark")  # raw HTML enabled, as most Markdown viewers allow
    for document in documents:
        source = document.read_text(encoding="utf-8")
        assert not re.search(r"(?<!\\)<script", source, re.I), f"{document}: unescaped <script"
        html = renderer.render(source)
        # The generator's own "generated from" comment on the first line is the one comment allowed.
        first, _, rest = html.partition("\n")
        html = rest if first.startswith("<!-- Generated by portbook from ") and first.endswith(" -->") else html
        for tag in ("<script", "<img", "<b>", "<!--"):
            assert tag not in html.lower(), f"{document}: {tag} reaches the rendered HTML"
        assert 'href="javascript:' not in html.lower(), document
    if "markdown" in OUTPUTS:
        rendered = "\n".join(renderer.render(d.read_text(encoding="utf-8")) for d in documents)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered, "the hostile text itself was lost"


# ---------------------------------------------------------------- hostile ids

ID_COLUMNS = [
    ("flows.csv", "id"), ("flows.csv", "source"), ("flows.csv", "destination"), ("flows.csv", "reference"),
    ("roles.csv", "id"), ("errata.csv", "flow"), ("errata.csv", "reference"), ("inventory.csv", "role"),
]


@pytest.mark.parametrize("table, column", ID_COLUMNS, ids=[f"{t}-{c}" for t, c in ID_COLUMNS])
@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_ids_are_refused_and_never_become_paths(data_dir, tmp_path, table, column, value):
    path = data_dir / table if table == "inventory.csv" else first_dataset(data_dir) / table
    header, rows = read_rows(path)
    rows[0][column] = value
    write_rows(path, header, rows)
    before = files_under(tmp_path)
    out = tmp_path / "out"
    code, _, err = build_all(data_dir, out)
    assert code == 1
    problems = issue_lines(err)
    assert all(ISSUE_LINE.match(line) for line in problems), problems
    at = f"{path.name}:2:{cell_column(path, 2, column)}: "
    assert any(at in line and re.search(r" S10[26] ", line) for line in problems), err
    assert not out.exists()
    assert files_under(tmp_path) == before


def test_hostile_dataset_id_and_section_keys_are_refused(data_dir, tmp_path):
    """dataset.toml names folders and anchors too: a path-like id or section key is refused (L009)."""
    toml = first_dataset(data_dir) / "dataset.toml"
    text = toml.read_text(encoding="utf-8")
    original_id = re.search(r'^id = "([^"]*)"', text, re.M).group(1)
    toml.write_text(text.replace(f'id = "{original_id}"', 'id = "../../escape"', 1), encoding="utf-8")
    code, _, err = build_all(data_dir, tmp_path / "out")
    assert code == 1 and any(" L009 " in line and "dataset.toml:" in line for line in issue_lines(err)), err
    toml.write_text(text + '\n[sections."../../escape"]\ntitle = "<script>alert(1)</script>"\n', encoding="utf-8")
    code, _, err = build_all(data_dir, tmp_path / "out")
    assert code == 1 and any(" L009 " in line and "dataset.toml:" in line for line in issue_lines(err)), err
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


# ---------------------------------------------------------------- the site

def test_site_from_hostile_data_has_no_injected_markup(data_dir, tmp_path):
    """A real Sphinx build of the project's site over hostile data: data text never goes
    through the reStructuredText parser, so no raw HTML, no included file, no element."""
    if not (ROOT / "conf.py").exists() or not (ROOT / "source").is_dir():
        pytest.fail("the site (conf.py and source/) is missing")
    make_hostile(data_dir)
    out = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(ROOT), "-D", f"portbook_data={data_dir}",
               "-d", str(tmp_path / "doctrees"), str(ROOT / "source"), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    pages = sorted(out.rglob("*.html"))
    assert pages
    html = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, "the hostile text itself was lost"
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "<b>raw</b>" not in html
    assert not PASSWD_LINE.search(html), "/etc/passwd was included"
    assert 'href="javascript:' not in html.lower()
    assert not PWNED.exists()
