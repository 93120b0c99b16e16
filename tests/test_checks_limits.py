"""A role's request lines must fit one worksheet: found at `check` time, at the role's row."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DATA, append_row, line_of
from generator.checks.roles import SHEET_ROWS, request_line_counts, roles_beyond_one_sheet
from generator.cli import main
from generator.pipeline import load_and_check
from generator.views import role_lines

FLOWS = "dpm-2012r2/flows.csv"
ROLES = "dpm-2012r2/roles.csv"


def _lines_per_role(model) -> dict[str, int]:
    return {role.id: len(role_lines(model, role.id)) for role in model.roles if role_lines(model, role.id)}


def test_counted_lines_are_the_lines_the_request_views_give(data_dir: Path):
    # Flows within one role, one-way and both ways, beside the shipped ones.
    for number, direction in enumerate(["one-way", "both"]):
        append_row(data_dir / FLOWS, id=f"within-{number}", transport="tcp", port=str(7000 + number),
                   source="dpm-server", destination="dpm-server", direction=direction,
                   purpose="Replication between DPM servers.", reference="ports")
    for folder in (DATA, data_dir):
        model = load_and_check(folder).model
        assert request_line_counts(model).to_dict() == _lines_per_role(model)


def test_a_role_beyond_the_sheet_is_a_located_error(data_dir: Path):
    model = load_and_check(DATA).model
    counts = request_line_counts(model)
    busiest = counts.idxmax()
    [problem] = roles_beyond_one_sheet(model, int(counts.max()))
    assert problem.code == "C214" and problem.severity.value == "error"
    assert problem.file.endswith(ROLES) and problem.line == line_of(DATA / ROLES, "id", busiest)
    assert f"role {busiest} has {counts.max():,} request lines" in problem.message
    assert list(roles_beyond_one_sheet(model, int(counts.max()) + 1)) == []


def test_the_shipped_data_fits_one_sheet_per_role():
    checked = load_and_check(DATA)
    assert request_line_counts(checked.model).max() < SHEET_ROWS - 1
    assert not [i for i in checked.issues if i.code == "C214"]


@pytest.mark.slow
def test_a_role_with_more_lines_than_a_sheet_fails_check_not_the_build(data_dir: Path, capsys):
    # 524,288 flows both ways within one role: 1,048,576 lines, one more than a sheet holds.
    rows, number, first = [], 0, 1
    while number < SHEET_ROWS // 2:
        for width in range(200):
            if number == SHEET_ROWS // 2 or first + width > 65535:
                break
            ports = f"{first}-{first + width}" if width else str(first)
            rows.append(f"bulk-{number},tcp,{ports},,dpm-server,dpm-server,both,,,,Bulk.,,ports,\r\n")
            number += 1
        first += 1
    with (data_dir / FLOWS).open("a", encoding="utf-8", newline="") as handle:
        handle.write("".join(rows))
    assert main(["check", "--data", str(data_dir)]) == 1
    out = capsys.readouterr().out
    expected = line_of(data_dir / ROLES, "id", "dpm-server")
    assert f"roles.csv:{expected}:" in out and " C214 role dpm-server has " in out
