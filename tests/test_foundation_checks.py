"""Every consistency check fires on bad data and stays quiet on the shipped data."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATA, IANA_CSV, append_row, edit_row
import pandas as pd

from generator.checks import CHECKS, Check, check_codes, run_checks
from generator.checks.text import may_mention_other_ports, may_mention_pool_or_transport
from generator.portscan import scan
from generator.cli import main
from generator.issues import issue
from generator.load import load
from generator.pipeline import load_and_check, registry_for
from generator.registry import Registry, build_registry, read_iana_csv, read_services_file

FLOWS = "dpm-2012r2/flows.csv"
ERRATA = "dpm-2012r2/errata.csv"
ROLES = "dpm-2012r2/roles.csv"


def found(data_dir: Path, iana: Path | None = None) -> list[tuple[str, int, str]]:
    checked = load_and_check(data_dir, iana)
    assert checked.model is not None, [i.format() for i in checked.issues]
    return [(i.code, i.line, i.field) for i in checked.issues]


def test_shipped_data_is_clean():
    checked = load_and_check(DATA)
    assert checked.ok and checked.issues == [] and checked.notes == []


@pytest.mark.skipif(not IANA_CSV.exists(), reason=f"IANA registry snapshot not found at {IANA_CSV}")
def test_shipped_data_is_clean_against_the_iana_registry():
    checked = load_and_check(DATA, IANA_CSV)
    assert checked.ok and checked.issues == []


def test_every_check_is_exercised_here():
    tested = {"C201", "C202", "C203", "C204", "C205", "C206", "C207", "C208", "C209", "C210", "C211", "C212", "C213"}
    # Exercised in tests/test_checks_limits.py, _descriptions.py and _contradictions.py.
    tested |= {"C214", "C215", "C216", "C217", "C218"}
    assert set(check_codes()) == tested


def test_a_check_reports_only_its_own_codes(data_dir: Path):
    model, _ = load(data_dir)
    registry, _ = registry_for(model.settings)
    flow = model.flows[0]
    impostor = Check(("C201",), lambda model, registry: iter([issue("C202", flow.where("service"), "not mine", "service")]))
    CHECKS.append(impostor)
    try:
        with pytest.raises(ValueError, match="reported C202, not one of its codes"):
            run_checks(model, registry)
    finally:
        CHECKS.remove(impostor)


def test_reinstated_1443_is_reported_naming_1433(data_dir: Path, capsys):
    line = edit_row(data_dir / FLOWS, "id", "sql-engine-default", port="1443")
    assert found(data_dir) == [("C201", line, "port"), ("C209", line, "port")]
    assert main(["check", "--data", str(data_dir)]) == 1
    err = capsys.readouterr().out
    assert "ms-sql-s is registered as 1433/tcp, not 1443/tcp; did you mean 1433/tcp?" in err


@pytest.mark.skipif(not IANA_CSV.exists(), reason=f"IANA registry snapshot not found at {IANA_CSV}")
def test_reinstated_1443_is_reported_against_the_iana_registry(data_dir: Path):
    edit_row(data_dir / FLOWS, "id", "sql-engine-default", port="1443")
    checked = load_and_check(data_dir, IANA_CSV)
    (mismatch,) = [i for i in checked.issues if i.code == "C201"]
    assert "did you mean 1433/tcp?" in mismatch.message


def test_wrong_transport_for_a_service(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-browser", transport="tcp")
    assert found(data_dir) == [("C201", line, "port")]


def test_unknown_service_is_a_warning_with_a_suggestion(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-browser", service="ms-sql-mm")
    checked = load_and_check(data_dir)
    assert [(i.code, i.line) for i in checked.issues] == [("C202", line)]
    assert "did you mean 'ms-sql-m'" in checked.issues[0].message
    assert checked.ok  # warnings do not fail the check
    assert main(["check", "--data", str(data_dir), "--strict"]) == 1


def test_same_service_between_same_roles_on_two_ports(data_dir: Path):
    line = append_row(
        data_dir / FLOWS, id="sql-engine-second", transport="tcp", port="1533", source="dpm-server",
        destination="sql-server", direction="one-way", service="ms-sql-s", program="other.exe",
        purpose="Second listener.", reference="remote-sql",
    )
    assert ("C203", line, "port") in found(data_dir)


def test_duplicated_flow(data_dir: Path):
    line = append_row(
        data_dir / FLOWS, id="dns-again", transport="udp", port="53", source="dpm-server",
        destination="domain-controller", direction="one-way", service="domain",
        purpose="Name resolution, again.", reference="ports",
    )
    assert found(data_dir) == [("C204", line, "id")]


def test_duplicate_of_a_bidirectional_flow_written_the_other_way_round(data_dir: Path):
    line = append_row(
        data_dir / FLOWS, id="smb-reversed", transport="tcp", port="445", source="protected-computer",
        destination="dpm-server", direction="both", service="microsoft-ds", purpose="SMB.", reference="ports",
    )
    assert found(data_dir) == [("C204", line, "id")]


def test_program_spelt_two_ways(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-report-server", program="sqservr.exe")
    # The erratum now disagrees too: the published spelling is back.
    assert found(data_dir) == [("C205", line, "program"), ("C209", line, "program")]


def test_prose_mentions_a_port_no_flow_uses(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-browser", purpose="Answers on UDP port 1435 for named instances.")
    assert found(data_dir) == [("C206", line, "purpose")]


def test_prose_mention_explained_by_an_erratum_is_quiet(data_dir: Path):
    edit_row(data_dir / FLOWS, "id", "sql-engine-default", purpose="The page says TCP port 1443; it is 1433.")
    assert found(data_dir) == []


def test_dynamic_range_must_match_the_platform_default(data_dir: Path):
    path = data_dir / FLOWS
    line = edit_row(path, "id", "sql-rpc-dynamic", port="1024-65535")
    checked = load_and_check(data_dir)
    assert [(i.code, i.line, i.field) for i in checked.issues] == [("C207", line, "port")]
    assert "49152-65535" in checked.issues[0].message


def test_legacy_windows_range_is_named_as_such(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-rpc-dynamic", port="1025-5000")
    checked = load_and_check(data_dir)
    assert [(i.code, i.line) for i in checked.issues] == [("C207", line)]
    assert "it is the windows-2003 default" in checked.issues[0].message


def test_wide_range_without_dynamic_marker(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-rpc-dynamic", dynamic="")
    assert found(data_dir) == [("C212", line, "dynamic")]


def test_incomplete_erratum(data_dir: Path):
    line = edit_row(data_dir / ERRATA, "id", "E2", evidence="", rationale="")
    assert found(data_dir) == [("C208", line, "rationale"), ("C208", line, "evidence")]


def test_stale_erratum(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "dcom-dynamic", port="49152-65000", dynamic="")
    assert ("C209", line, "port") in found(data_dir)


def test_role_named_differently_by_two_datasets(data_dir: Path):
    second = data_dir / "second"
    second.mkdir()
    (second / "dataset.toml").write_text(
        'id = "second"\ntitle = "Second"\nversion = "1"\n[source]\ntitle = "S"\n[sections.s]\ntitle = "S"\n',
        encoding="utf-8",
    )
    (second / "roles.csv").write_text("id,name,description\ndpm-server,Backup server,\n", encoding="utf-8")
    header = (data_dir / FLOWS).read_text(encoding="utf-8").splitlines()[0]
    (second / "flows.csv").write_text(header + "\nbackup-web,tcp,443,,dpm-server,dpm-server,one-way,https,,,Web.,,s,\n", encoding="utf-8")
    assert found(data_dir) == [("C210", 2, "name")]


def test_unused_role(data_dir: Path):
    line = append_row(data_dir / ROLES, id="tape-library", name="Tape library", description="Unused.")
    assert found(data_dir) == [("C211", line, "id")]


def test_services_file_and_iana_formats_are_read():
    registry = Registry()
    read_services_file(registry, "ms-sql-s\t1433/tcp\t\t# SQL\nfoo  70/udp alias-foo\n# comment\n", "services")
    read_iana_csv(
        registry,
        'Service Name,Port Number,Transport Protocol,Description\n'
        'dyn,49152-65535,tcp,"Dynamic, private"\n,0,tcp,Reserved\n',
        "iana",
    )
    assert [str(r) for r in registry.ports("ms-sql-s", "tcp")] == ["1433"]
    assert [str(r) for r in registry.ports("alias-foo", "udp")] == ["70"]
    assert [str(r) for r in registry.ports("dyn", "tcp")] == ["49152-65535"]


def test_unreadable_registry_is_a_note_not_a_crash(tmp_path: Path):
    registry, notes = build_registry(tmp_path / "missing-services", None, [])
    assert not registry.entries and "cannot read services database" in notes[0]


# Words and signs that make or break a port mention, with the white space Python's \s
# accepts and RE2's ASCII class would not, and other scripts' digits (no port to scan).
_MENTION_PIECES = ["port", "ports", "PORT", "tcp", "udp", "UDP", "export", "to", "through", "-", "–", "—", "/",
                   " ", "  ", "\u00a0", "\u2003", "\t", "\n", ".", ",", ":", "_", "x", "1", "5", "80", "443",
                   "1433", "0080", "65535", "70000", "123456", "٨٠", "range", "number", "of", "from",
                   "port 80", "80/tcp", "1024-65535", "5 to 90", "tcp port", "8080 port",
                   "above", "between", "and", "greater than", "larger than port", "above 1024", "between 5 and 9",
                   "AND", "Through", "HIGHER THAN", "Tcp", "greater than 1024", "higher than port 80", "5 and 9"]


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.lists(st.sampled_from(_MENTION_PIECES), max_size=12).map("".join), min_size=1, max_size=20))
def test_the_vectorised_prefilter_keeps_every_text_that_mentions_an_unknown_port(texts: list[str]):
    assert_prefilter_keeps(texts, {80, 443, 1024, 65535})


def assert_prefilter_keeps(texts: list[str], known: set[int]) -> None:
    """The property both prefilter tests state (derandomised here, random in tests/test_checks_prefilter.py)."""
    kept = set(may_mention_other_ports(pd.Series(texts, dtype=str), known).index)
    for index, text in enumerate(texts):
        if any(port not in known for mention in scan(text) for port in (mention.ports.first, mention.ports.last)):
            assert index in kept, text


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(st.sampled_from(_MENTION_PIECES), max_size=12).map("".join))
def test_the_vectorised_prefilter_keeps_every_text_with_a_mention_of_a_port_not_listed(text: str):
    """Stated with no port known, whatever scan finds a mention in is kept."""
    if scan(text):
        assert list(may_mention_other_ports(pd.Series([text], dtype=str), set()).index) == [0], text


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.lists(st.sampled_from(_MENTION_PIECES), max_size=12).map("".join), min_size=1, max_size=20))
def test_the_pool_or_transport_screen_keeps_every_text_that_mentions_one(texts: list[str]):
    assert_screen_keeps(texts)


def assert_screen_keeps(texts: list[str]) -> None:
    """The property both screen tests state: no text is ruled out that mentions a pool or a transport."""
    kept = may_mention_pool_or_transport(pd.Series(texts, dtype=str))
    for index, text in enumerate(texts):
        if any(not mention.ports.is_single or mention.transport for mention in scan(text)):
            assert kept[index], text


@settings(derandomize=True, max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.lists(st.sampled_from(_MENTION_PIECES), max_size=12).map("".join), min_size=1, max_size=8))
def test_a_column_that_repeats_its_texts_is_prefiltered_as_each_row_alone(texts: list[str]):
    repeated = texts * 3  # more than half the rows repeat a text: each distinct one is read once
    column = pd.Series(repeated, index=range(5, 5 + len(repeated)), dtype=str)
    known = {80, 443}
    alone = [label for label in column.index if len(may_mention_other_ports(column.loc[[label]], known))]
    assert may_mention_other_ports(column, known).index.tolist() == alone
    assert (may_mention_pool_or_transport(column).tolist()
            == [bool(may_mention_pool_or_transport(column.loc[[label]]).iloc[0]) for label in column.index])


def test_the_prefilter_keeps_rows_by_position_where_labels_repeat():
    texts = pd.Series(["on port 80", "port 99", "on port 443"], index=[4, 4, 4], dtype=str)
    assert may_mention_other_ports(texts, {80, 443}).tolist() == ["port 99"]


def test_the_pool_or_transport_screen_rules_out_single_ports_without_a_transport():
    texts = ["Replication on port 443.", "Ports 80, 443 or 8080.", "Port range 1024 to 65535.", "5718/TCP", "above port 1024",
             "Since version 2012 R2.", "between 5 and 9", "greater than 1024"]
    assert may_mention_pool_or_transport(pd.Series(texts, dtype=str)).tolist() == [False, False, True, True, True, False, True, True]


def test_the_prefilter_rules_out_rows_that_name_one_port_in_use():
    texts = ["Replication on port 443.", "Agents use port 80, then port 443.", "Port 80 or port 8080.",
             "Console on tcp 443-450.", "No port here.", "Ports 80 and 443/udp.", "", "TCP PORTS 80"]
    # Two mentions of ports in use are left to the exact scan, which finds nothing to report.
    assert may_mention_other_ports(pd.Series(texts, dtype=str), {80, 443}).index.tolist() == [1, 2, 3, 5]



@pytest.mark.parametrize("address, message", [
    ("192.0.2.30/16", "192.0.2.30/16: host bits set; did you mean 192.0.2.30/32 or 192.0.0.0/16?"),
    ("2001:db8::10/32", "2001:db8::10/32: host bits set; did you mean 2001:db8::10/128 or 2001:db8::/32?"),
    ("fe80::10%& calc.exe & rem", "has a zone id"),
    ("fe80::10%eth0", "has a zone id"),
])
def test_inventory_addresses_must_mean_what_they_say(data_dir: Path, address, message):
    line = edit_row(data_dir / "inventory.csv", "host", "dpm01", address=address)
    checked = load_and_check(data_dir)
    assert not checked.ok
    [problem] = [i for i in checked.issues if i.code == "S110"]
    assert problem.line == line and message in problem.message


def test_networks_written_in_normal_form_load(data_dir: Path):
    edit_row(data_dir / "inventory.csv", "host", "dpm01", address="192.0.2.0/24")
    checked = load_and_check(data_dir)
    assert checked.ok, checked.issues
    assert [h.address for h in checked.model.inventory if h.host == "dpm01"] == ["192.0.2.0/24"]


def test_two_roles_claiming_one_address_is_a_warning(data_dir: Path):
    line = append_row(data_dir / "inventory.csv", role="sql-server", host="copy", address="192.0.2.10", note="copied row")
    assert found(data_dir) == [("C213", line, "address")]
    # A network of one role holding another role's host overlaps it too.
    edit_row(data_dir / "inventory.csv", "host", "copy", address="192.0.2.0/28")
    overlaps = found(data_dir)
    assert overlaps and {(code, at) for code, at, _ in overlaps} == {("C213", line)}
    # The same role may list a host and the network around it.
    edit_row(data_dir / "inventory.csv", "host", "copy", role="dpm-server", address="192.0.2.8/29")
    assert found(data_dir) == []
