"""`check` starts quickly: it imports the data layer, never an output library."""
from __future__ import annotations

import subprocess
import sys

from conftest import DATA, ROOT

# Libraries only the outputs need: the workbook writer, the site, Markdown, policies.
OUTPUT_LIBRARIES = ("openpyxl", "sphinx", "docutils", "furo", "aerleon", "markdown_it", "yaml", "lxml", "jinja2")


def imported_modules(*arguments: str) -> set[str]:
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "generator", *arguments],
                         capture_output=True, text=True, cwd=ROOT)
    names = set()
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert names, run.stderr[-2000:]
    return names


def test_check_imports_no_output_library():
    names = imported_modules("check", "--data", str(DATA))
    assert "pandas" in names  # the data layer really is what check runs on
    loaded = sorted(name for name in names if name.split(".")[0] in OUTPUT_LIBRARIES)
    assert not loaded, f"check imports output libraries: {loaded[:10]}"


def test_a_single_format_build_imports_only_its_library(tmp_path):
    names = imported_modules("build", "--formats", "markdown", "--data", str(DATA), "--out", str(tmp_path / "out"))
    loaded = sorted({name.split(".")[0] for name in names} & {"openpyxl", "sphinx", "aerleon"})
    assert not loaded, f"build --formats markdown imports {loaded}"


def test_the_site_alone_imports_no_workbook_or_policy_library(tmp_path):
    names = imported_modules("build", "--formats", "html", "--data", str(DATA), "--out", str(tmp_path / "out"))
    assert "sphinx" in names
    loaded = sorted({name.split(".")[0] for name in names} & {"openpyxl", "aerleon", "markdown_it"})
    assert not loaded, f"build --formats html imports {loaded}"
