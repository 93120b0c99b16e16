"""What is no finding: versions, KB numbers, dates and footnote markers are no ports, and
one flow stated twice is reported once."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import append_row, edit_row
from generator.pipeline import load_and_check
from generator.portscan import is_footnote_marker

FLOWS = "dpm-2012r2/flows.csv"


def found(data_dir: Path, code: str) -> list[tuple[int, str, str]]:
    checked = load_and_check(data_dir)
    assert checked.model is not None
    return [(i.line, i.field, i.message) for i in checked.issues if i.code == code]


@pytest.mark.parametrize("text", [
    "On Windows Server 2012 port 135 is used.",          # an OS version before the word port
    "The Windows 10 port list is the same.",
    "Needed from SQL Server 2012 ports onwards.",
    "Both 2012 R2 ports stay open.",
    "KB 4012 port changes apply.",                        # a KB article number
    "Published January 2016 ports.",                      # a date
    "TCP ports 5718, 1) see the notes.",                  # a footnote marker closing a list
])
def test_numbers_that_are_no_ports_are_not_reported(data_dir: Path, text: str):
    edit_row(data_dir / FLOWS, "id", "agent-coordinator", condition=text)
    assert found(data_dir, "C206") == []


def test_a_port_beside_such_numbers_is_still_reported(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "agent-coordinator", condition="On Windows Server 2012 use port 8443.")
    assert [(where, field) for where, field, _ in found(data_dir, "C206")] == [(line, "condition")]
    assert "mentions port 8443" in found(data_dir, "C206")[0][2]


@pytest.mark.parametrize("text", ["Fallback listener 1999/tcp 135.", "Fallback listener 1999/tcp and port 135."])
def test_a_port_after_a_known_one_is_found_whichever_way_it_follows(data_dir: Path, text: str):
    line = edit_row(data_dir / FLOWS, "id", "agent-coordinator", purpose=text)
    assert [(where, message.split(": ", 1)[1]) for where, _, message in found(data_dir, "C206")] == [
        (line, "purpose mentions port 1999, which no flow of dpm-2012r2 uses (the row says 5718/tcp)")]


def test_footnote_markers():
    assert is_footnote_marker("ports 5718, 1)", 12, 13)
    assert is_footnote_marker("port 80 [3]", 9, 10)
    assert not is_footnote_marker("port (80)", 6, 8)
    assert not is_footnote_marker("port 135)", 5, 8)  # three digits are a port


def test_one_flow_stated_in_two_tables_is_reported_once(data_dir: Path):
    # The second table states the same bidirectional flow from the other end.
    line = append_row(data_dir / FLOWS, id="agent-coordinator-again", transport="tcp", port="5718",
                      source="protected-computer", destination="dpm-server", direction="both", service="dpm",
                      purpose="Agent coordinator, as the second table gives it.", reference="ports",
                      assumption="The second table of the page; 5719 is registered to the agent coordinator.")
    repeats = found(data_dir, "C204")
    assert [(where, field) for where, field, _ in repeats] == [(line, "id")]
    assert repeats[0][2].startswith("agent-coordinator-again repeats agent-coordinator (")
    assert found(data_dir, "C203") == []
