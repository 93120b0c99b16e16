"""A build makes only the files whose inputs changed, and gives the same bytes as a fresh one.

After one row is edited, `build` makes again the files that show the row (the role
pages and workbooks of its two roles, the pages and workbooks listing every row, the
policy files that show its text) and carries every other file over from the published build
unmade; what it publishes is byte for byte what a fresh build of the edited data
gives. A change every file reads (a setting) makes everything again.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import DATA, ROOT, read_rows, write_rows
from generator.output_files import CURRENT
from test_atomic import snapshot
from test_fuzz import build_all, first_dataset, run_cli

FIXTURE_DATA = [DATA, ROOT / "tests" / "fixtures" / "two-products"]
SUMMARY = re.compile(r"^(?P<folder>\S+): (?P<files>\d+) file\(s\), (?P<made>\d+) made, (?P<rewritten>\d+) rewritten$")


def build(data: Path, out: Path) -> dict[str, tuple[int, int]]:
    """Build every format; per format, (files, files made)."""
    code, stdout, stderr = build_all(data, out)
    assert code == 0, stderr
    found = {}
    for line in stdout.splitlines():
        match = SUMMARY.match(line)
        if match:
            found[Path(match["folder"]).name] = (int(match["files"]), int(match["made"]))
    assert found, stdout
    return found


def published(out: Path) -> dict[str, bytes]:
    """Every published file, and the digests recorded beside them."""
    files = snapshot(out)
    inputs = out / CURRENT / ".inputs"
    files.update({f".inputs/{path.name}": path.read_bytes() for path in sorted(inputs.iterdir())})
    return files


def edit_purpose(data: Path, marker: str) -> dict[str, str]:
    """Put `marker` before the purpose of the first flow between two different roles (where
    the policy's comments, cut to a length, show it too); returns that row."""
    flows = first_dataset(data) / "flows.csv"
    header, rows = read_rows(flows)
    row = next(row for row in rows if row["source"] != row["destination"])
    row["purpose"] = f"{marker} {row['purpose']}"
    write_rows(flows, header, rows)
    return row


@pytest.mark.parametrize("source", FIXTURE_DATA, ids=lambda path: path.name)
def test_an_edited_row_remakes_only_the_files_showing_it(tmp_path, source):
    data, out, fresh = tmp_path / "data", tmp_path / "out", tmp_path / "fresh"
    shutil.copytree(source, data)
    first = build(data, out)
    assert all(made == files for files, made in first.values()), first
    again = build(data, out)
    assert all(made == 0 for _files, made in again.values()), again

    marker = "Incrementalmarker"
    row = edit_purpose(data, marker)
    edited = build(data, out)
    ends = {row["source"], row["destination"]}
    # The role pages of the row's two ends, and the page of every flow.
    assert edited["markdown"][1] == len(ends) + 1, edited
    # The workbooks of the two ends, and the whole change's.
    assert edited["xlsx"][1] == len(ends) + 1, edited
    # The services definitions, whose comments carry the purpose, and the allow lists of
    # the row's ends that list them; no file Aerleon renders shows a purpose, so none is
    # rendered again.
    allow_lists_of_ends = [name for name in snapshot(out) if name.startswith("policy/out/")
                           and name.endswith(".allow.md") and name.split("/")[-1].split(".")[0] in ends]
    assert edited["policy"][1] == 1 + len(allow_lists_of_ends), (edited, allow_lists_of_ends)
    showing = {name for name, data_bytes in snapshot(out).items() if marker.encode() in data_bytes}
    assert {"markdown/reference.md", *(f"markdown/roles/{end}.md" for end in ends), "policy/def/services.yaml"} <= showing

    assert build(data, fresh) == first | {name: (files, files) for name, (files, _made) in edited.items()}
    assert published(out) == published(fresh)


def test_a_setting_every_file_reads_remakes_everything(tmp_path):
    data, out, fresh = tmp_path / "data", tmp_path / "out", tmp_path / "fresh"
    shutil.copytree(DATA, data)
    build(data, out)
    settings = data / "portbook.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n# a comment changes the settings file\n", encoding="utf-8")
    remade = build(data, out)
    assert all(made == files for files, made in remade.values()), remade
    build(data, fresh)
    assert published(out) == published(fresh)


def test_a_format_built_alone_leaves_the_others_to_remake_what_they_show(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(DATA, data)
    build(data, out)
    row = edit_purpose(data, "Alonemarker")
    code, stdout, stderr = run_cli(["build", "--data", str(data), "--out", str(out), "--formats", "markdown"])
    assert code == 0, stderr
    assert ", 3 made," in stdout, stdout
    # The markdown pages now show the row; the workbooks, carried over, are made by the next full build.
    remade = build(data, out)
    assert remade["markdown"][1] == 0, remade
    assert remade["xlsx"][1] == len({row["source"], row["destination"]}) + 1, remade
