"""Printed workbooks: every workbook, converted to PDF by LibreOffice, has no text smaller
than 8 points, and every page of a request sheet starts with its header row.

How the text is measured: `pdftotext -bbox` (poppler-utils) gives each word's box on the
page; poppler makes a word's height its font size times the font's ascent plus descent,
in points after every scaling the page applies (a sheet shrunk to fit the page shrinks its
boxes too). The ascent and descent depend on the font LibreOffice substitutes for
Calibri on this machine, so the same conversion first prints a calibration workbook with
8-point and 7-point text in the workbooks' font: points per point of box height come from
the 8-point words, and the 7-point words must measure under 8, which shows the measure
tells the sizes apart.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import Workbook

from generator.changes import compare, request_lines
from generator.cli import main
from generator.outputs.xlsx import ALL_ROLES_WORKBOOK, change_request_workbook
from generator.outputs.xlsx.profiles import PROFILES
from generator.outputs.xlsx.sheets import body_font
from generator.pipeline import load_and_check

from conftest import edit_row

SMALLEST = 8.0  # points
EIGHT, SEVEN = "eightpoint", "sevenpoint"
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
PAGE = re.compile(r"<page [^>]*>(.*?)</page>", re.S)


@dataclasses.dataclass(frozen=True)
class Word:
    text: str
    top: float
    height: float


def pdf_pages(pdf: Path) -> list[list[Word]]:
    """The words of each page of `pdf`, with their boxes' top and height in points."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=120).stdout
    return [[Word(text, float(y_min), float(y_max) - float(y_min)) for _x, y_min, _x2, y_max, text in WORD.findall(page)]
            for page in PAGE.findall(html)]


def calibration_workbook(path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet["A1"], sheet["A2"] = EIGHT, SEVEN
    sheet["A1"].font, sheet["A2"].font = body_font(sz=8), body_font(sz=7)
    book.save(path)


def workbooks(data_dir: Path, folder: Path) -> list[Path]:
    """Every workbook the tool writes from the shipped data, in both layouts: the per-role
    books, the whole change's book, and a change request between two versions."""
    made = []
    for profile in PROFILES:
        out = folder / profile
        assert main(["build", "--formats", "xlsx", "--data", str(data_dir), "--out", str(out),
                     "--xlsx-profile", profile]) == 0
        for path in sorted((out / "xlsx").glob("*.xlsx")):
            made.append(path.rename(folder / f"{profile}-{path.name}"))
    old = load_and_check(data_dir).model
    edit_row(data_dir / "inventory.csv", "host", "dpm01", address="192.0.2.11")
    edit_row(data_dir / "dpm-2012r2" / "flows.csv", "id", "sql-engine-default", port="1443")
    new = load_and_check(data_dir).model
    lines = request_lines(compare(old, new))
    assert lines
    for profile in PROFILES:
        path = folder / f"{profile}-change.xlsx"
        path.write_bytes(change_request_workbook(new, lines, title="Firewall change request: old to new", profile=profile))
        made.append(path)
    return made


@pytest.fixture
def printed(data_dir, tmp_path, monkeypatch) -> dict[str, list[list[Word]]]:
    """Workbook file name -> the words of each page of its PDF."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed: install Debian package libreoffice-calc-nogui")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed: install Debian package poppler-utils")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    books = tmp_path / "books"
    books.mkdir()
    sources = workbooks(data_dir, books)
    calibration_workbook(books / "calibration.xlsx")
    pdfs = tmp_path / "pdf"
    done = subprocess.run(
        [soffice, "--headless", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--convert-to", "pdf",
         "--outdir", str(pdfs), str(books / "calibration.xlsx"), *map(str, sources)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return {path.name: pdf_pages(pdfs / f"{path.stem}.pdf") for path in [books / "calibration.xlsx", *sources]}


def test_no_printed_text_is_smaller_than_8_points(printed):
    calibration = [word for page in printed.pop("calibration.xlsx") for word in page]
    [eight] = [word.height for word in calibration if word.text == EIGHT]
    [seven] = [word.height for word in calibration if word.text == SEVEN]
    per_point = eight / 8
    assert seven / per_point == pytest.approx(7, abs=0.05) and seven / per_point < SMALLEST
    names = set(printed)
    assert {f"{profile}-{ALL_ROLES_WORKBOOK}" for profile in PROFILES} <= names
    assert {f"{profile}-change.xlsx" for profile in PROFILES} <= names
    for name, pages in printed.items():
        words = [word for page in pages for word in page]
        assert words, f"{name} printed no text"
        smallest = min(words, key=lambda word: word.height)
        assert smallest.height / per_point >= SMALLEST - 0.05, \
            f"{name}: {smallest.text!r} printed at {smallest.height / per_point:.1f} pt"


def test_every_printed_page_of_the_traffic_lines_starts_with_the_header_row(printed):
    header_words = {word for column in PROFILES["traffic-lines"].columns for word in column.title.split()}
    for name, pages in printed.items():
        if not name.startswith("traffic-lines-"):
            continue
        assert len(pages) > 1, f"{name}: expected the wide sheet to take more than one page"
        for number, page in enumerate(pages, 1):
            top = min(word.top for word in page)
            first_line = {word.text for word in page if word.top - top < 2}
            assert first_line <= header_words, f"{name} page {number} starts with {sorted(first_line)}"
