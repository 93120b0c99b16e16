"""Free text against the registries: a port called by another port's registered description,
and a program-bound rule on a port its program does not serve."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DATA, IANA_CSV, append_row, edit_row, line_of, read_rows, write_rows
from generator.checks.text import named_phrase
from generator.pipeline import load_and_check
from generator.registry import build_registry

FLOWS = "dpm-2012r2/flows.csv"
ERRATA = "dpm-2012r2/errata.csv"
REGISTRIES = [None, pytest.param(IANA_CSV, marks=pytest.mark.skipif(not IANA_CSV.exists(), reason="no IANA snapshot"))]
NEW_CODES = {"C215", "C216", "C217"}


def issues(data_dir: Path, iana: Path | None = None) -> list[tuple[str, int, str, str]]:
    checked = load_and_check(data_dir, iana)
    assert checked.model is not None
    return [(i.code, i.line, i.field, i.message) for i in checked.issues]


@pytest.mark.parametrize("iana", REGISTRIES)
def test_the_shipped_data_is_quiet(iana):
    assert [found for found in issues(DATA, iana) if found[0] in NEW_CODES] == []


def test_a_description_phrase_leaves_out_notes_and_the_vendor_word():
    assert named_phrase("DPM Agent Coordinator", {"dpm"}) == "agent coordinator"
    assert named_phrase("DPM agent coordinator (in the IANA registry; absent)", {"dpm"}) == "agent coordinator"
    assert named_phrase("DPM Server", {"dpm"}) == ""  # one word names too much


def without_the_mapping_erratum(data_dir: Path) -> None:
    """Drop the erratum recording that the data keeps 5718 for the agent coordinator."""
    header, rows = read_rows(data_dir / ERRATA)
    write_rows(data_dir / ERRATA, header, [row for row in rows if row["flow"] != "agent-coordinator"])


@pytest.mark.parametrize("iana", REGISTRIES)
def test_the_agent_coordinator_on_5718_is_an_error_naming_5719(data_dir: Path, iana):
    # Without the row's note on the registry's mapping, nor the erratum recording it,
    # the page's wording stands alone.
    without_the_mapping_erratum(data_dir)
    line = edit_row(data_dir / FLOWS, "id", "agent-coordinator", assumption="Both ends open connections.")
    [(code, where, field, message)] = [found for found in issues(data_dir, iana) if found[0] in NEW_CODES]
    assert (code, where, field) == ("C215", line, "purpose")
    assert "purpose says 'agent coordinator', which the registry gives 5719/tcp" in message
    assert message.endswith("not 5718/tcp; did you mean 5719/tcp?")


def test_a_row_naming_no_service_gets_a_warning(data_dir: Path):
    without_the_mapping_erratum(data_dir)
    edit_row(data_dir / FLOWS, "id", "agent-coordinator", assumption="Both ends open connections.", service="")
    [(code, _, field, message)] = [found for found in issues(data_dir) if found[0] in NEW_CODES]
    assert (code, field) == ("C216", "purpose") and "did you mean 5719/tcp?" in message
    checked = load_and_check(data_dir)
    assert checked.ok  # a warning only


def test_a_registered_name_of_another_port_counts_too(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "client-protection", condition="Only when dpm-agent is installed")
    assert [found[:3] for found in issues(data_dir) if found[0] in NEW_CODES] == [("C215", line, "condition")]


def test_the_ports_own_description_is_no_finding(data_dir: Path):
    edit_row(data_dir / FLOWS, "id", "protection-agent", purpose="Channel to the DPM agent coordinator.")
    assert [found for found in issues(data_dir) if found[0] in NEW_CODES] == []


def test_a_public_entry_of_another_vendor_is_not_the_products(data_dir: Path):
    # "Communication server" is DPM's only through DPM's entry; a row of another word is quiet.
    edit_row(data_dir / FLOWS, "id", "agent-coordinator", assumption="x", purpose="Link to the SQL Server Browser.")
    assert [found for found in issues(data_dir) if found[0] in NEW_CODES] == []


def test_the_programs_registry_is_read_beside_the_vendor_registry():
    registry, notes = build_registry(None, None, [DATA / "registry" / "vendor-ports.csv"])
    assert notes == []
    assert registry.programs["sqlservr.exe"].services == ("ms-sql-s", "dynamic")
    assert registry.programs["amscvhost.exe"].services == ("dpm-acm",)


def test_a_malformed_programs_registry_is_a_note(data_dir: Path):
    (data_dir / "registry" / "programs.csv").write_text("Name,Ports\nx,1\n", encoding="utf-8")
    checked = load_and_check(data_dir)
    assert [note for note in checked.notes if "cannot read programs registry" in note]


def test_the_database_engine_on_the_report_servers_port_is_reported(data_dir: Path):
    # Take away the correction: the rule is bound to sqlservr.exe again, as the page has it.
    header, rows = read_rows(data_dir / ERRATA)
    write_rows(data_dir / ERRATA, header, [row for row in rows if row["id"] != "E4"])
    line = edit_row(data_dir / FLOWS, "id", "sql-report-server", program="sqlservr.exe")
    [(code, where, field, message)] = [found for found in issues(data_dir) if found[0] in NEW_CODES]
    assert (code, where, field) == ("C217", line, "program")
    assert message.startswith("sql-report-server: sqlservr.exe (Database engine) serves ms-sql-s (1433/tcp)")
    assert message.endswith("not 80/tcp; the row's purpose gives it to 'Report server' (ReportingServicesService.exe)")


def test_a_program_on_its_own_ports_dynamic_pool_or_every_port_is_quiet(data_dir: Path):
    append_row(data_dir / FLOWS, id="report-server-program", transport="tcp", port="443", source="dpm-server",
               destination="sql-server", direction="one-way", program="ReportingServicesService.exe",
               purpose="Report server over HTTPS.", reference="remote-sql", assumption="Checked on the host.")
    assert [found for found in issues(data_dir) if found[0] in NEW_CODES] == []


def test_a_row_naming_the_programs_service_leaves_the_port_to_the_registry_check(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-engine-default", port="1443")
    codes = [found[:2] for found in issues(data_dir) if found[0] in {"C201", "C217"}]
    assert codes == [("C201", line)]
    edit_row(data_dir / FLOWS, "id", "sql-engine-default", service="")
    assert [found[:2] for found in issues(data_dir) if found[0] in {"C201", "C217"}] == [("C217", line)]


def test_the_report_servers_errata_chain_to_a_port_rule(data_dir: Path):
    # E3 fixes the spelling, E4 the program; the data holds E4's value, and E3 is not stale.
    assert [found for found in issues(DATA) if found[0] in {"C208", "C209"}] == []
    line = edit_row(data_dir / FLOWS, "id", "sql-report-server", program="sqlservr.exe")
    stale = [found for found in issues(data_dir) if found[0] == "C209"]
    assert [(code, where) for code, where, _, _ in stale] == [("C209", line)]
    assert "erratum E4 corrects 'sqlservr.exe' to ''" in stale[0][3]


def test_an_empty_correction_of_a_required_column_is_incomplete(data_dir: Path):
    line = edit_row(data_dir / ERRATA, "id", "E1", corrected="")
    assert ("C208", line, "corrected") in [found[:3] for found in issues(data_dir)]
