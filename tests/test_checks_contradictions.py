"""One cell giving one thing two values is reported at the cell."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DATA, IANA_CSV, edit_row
from generator.pipeline import load_and_check

FLOWS = "dpm-2012r2/flows.csv"


def contradictions(data_dir: Path, iana: Path | None = None) -> list[tuple[int, str, str]]:
    checked = load_and_check(data_dir, iana)
    assert checked.model is not None
    return [(i.line, i.field, i.message) for i in checked.issues if i.code == "C218"]


@pytest.mark.parametrize("iana", [None, pytest.param(IANA_CSV, marks=pytest.mark.skipif(not IANA_CSV.exists(), reason="no IANA snapshot"))])
def test_the_shipped_data_says_each_thing_once(iana):
    # dcom-dynamic quotes the page's 1024-65535 beside its pool: erratum E2 corrects that value.
    assert contradictions(DATA, iana) == []


def test_above_1024_beside_the_rows_pool(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "dcom-dynamic",
                    purpose="DCOM uses a dynamically assigned port above 1024 after endpoint resolution.")
    assert contradictions(data_dir) == [
        (line, "purpose", "dcom-dynamic: purpose gives the pool as 'port above 1024' (1025-65535) but the row's port is 49152-65535")]


def test_two_transports_for_one_port(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "agent-coordinator", condition="Only where 5718/udp is allowed")
    assert contradictions(data_dir) == [
        (line, "condition", "agent-coordinator: condition gives '5718/udp' (udp) but the row's transport is tcp")]


def test_the_other_transport_of_a_port_another_row_has_is_no_clash(data_dir: Path):
    edit_row(data_dir / FLOWS, "id", "kerberos-tcp-dpm-dc", condition="Beside 88/udp")
    assert contradictions(data_dir) == []


def test_two_ranges_for_one_pool_in_one_sentence(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "sql-rpc-endpoint-mapper",
                    condition="RPC hands out ports 1024-65535, that is ports 49152-65535. Only with remote SQL Server.")
    assert contradictions(data_dir) == [
        (line, "condition", "sql-rpc-endpoint-mapper: one sentence of condition gives one pool as 'ports 1024-65535' "
                            "(1024-65535) and as 'ports 49152-65535' (49152-65535)")]


def test_two_ranges_in_two_sentences_are_two_statements(data_dir: Path):
    edit_row(data_dir / FLOWS, "id", "sql-rpc-endpoint-mapper",
             condition="Windows Server 2003 used ports 1025-5000. Later releases use ports 1025 to 65535 by default.")
    # Different sentences, and no pool of the row: nothing said twice.
    assert contradictions(data_dir) == []
