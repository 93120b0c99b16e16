"""`check --against`: what a page says against the programs registry and the product's
registered port descriptions, explained by the errata that record it or reported."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DATA, SHARED, read_rows, write_rows
from generator.cli import main

SEED = SHARED / "seed" / "configure-firewall-settings-for-dpm.md"

# A fictional backup product whose page opens the report port as an exception for the
# database engine and calls 5718 by the registered description of 5719.
PAGE = """\
# Ports of the example backup service

| Port | Details |
|------|---------|
| 5718/TCP | The backup server reaches the agent coordinator on port 5718. |
| 1433/TCP | Catalog queries. They reach sqlservr.exe on the catalog host. |

## Reporting

- Add an inbound exception for sqlservr.exe that allows TCP port 80. The report server answers HTTP there.
"""

DATASET = """\
id = "example-backup"
title = "Example Backup"
version = "1.0.0"

[source]
title = "Ports of the example backup service"

[sections.ports]
title = "The page"
"""

ROLES = "id,name,description\nbackup-host,Backup host,Runs the backup service\ncatalog-host,Catalog host,Holds the catalog and the reports\n"

FLOWS = """\
id,transport,port,dynamic,source,destination,direction,service,program,rule,purpose,condition,reference,assumption
eb-channel,tcp,5718,,backup-host,catalog-host,one-way,dpm,,,Backup data channel.,,ports,
eb-catalog,tcp,1433,,backup-host,catalog-host,one-way,ms-sql-s,sqlservr.exe,,Catalog queries.,,ports,
eb-reports,tcp,80,,backup-host,catalog-host,one-way,http,,,Report pages.,,ports,
"""

ERRATA = """\
id,flow,field,published,corrected,rationale,evidence,reference
EB1,eb-reports,program,sqlservr.exe,,The database engine does not serve the report port.,The programs registry,ports
EB2,eb-channel,port,agent coordinator,5718,The registry gives that description to 5719; the page's port is kept.,The vendor registry,ports
"""


def against(data: Path, page: Path, capsys) -> tuple[int, dict]:
    code = main(["check", "--data", str(data), "--against", str(page), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def located(page: Path, line_text: str, text: str) -> tuple[int, int]:
    """LINE:COLUMN of `text` on the first page line that holds `line_text`."""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line_text in line:
            return number, line.index(text, line.index(line_text)) + 1
    raise AssertionError(line_text)


def at(payload: dict, line: int, column: int, code: str) -> list[dict]:
    return [d for d in payload["differences"] if (d["line"], d["column"], d["code"]) == (line, column, code)]


@pytest.fixture
def example(data_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The shipped data (with its registries) plus the fictional product, without errata; and its page."""
    folder = data_dir / "example-backup"
    folder.mkdir()
    (folder / "dataset.toml").write_text(DATASET, encoding="utf-8")
    (folder / "roles.csv").write_text(ROLES, encoding="utf-8")
    (folder / "flows.csv").write_text(FLOWS, encoding="utf-8")
    page = tmp_path / "example.md"
    page.write_text(PAGE, encoding="utf-8")
    return data_dir, page


def test_the_findings_without_errata_are_unexplained(example, capsys):
    data, page = example
    code, payload = against(data, page, capsys)
    assert code == 1 and payload["dataset"] == "example-backup"
    assert payload["data_issues"] == []
    unexplained = {(d["code"], d["line"], d["column"]) for d in payload["differences"] if not d["explained"]}
    assert unexplained == {("P309", *located(page, "agent coordinator", "5718")),
                           ("P308", *located(page, "inbound exception", "80"))}
    [program] = at(payload, *located(page, "inbound exception", "80"), "P308")
    assert program["severity"] == "error" and program["name"] == "page-program-port"
    # The program, what the registry says it serves, and who the page gives the port to.
    for words in ("sqlservr.exe", "Database engine", "ms-sql-s (1433/tcp)", "'report server' (ReportingServicesService.exe)"):
        assert words in program["message"]
    [described] = at(payload, *located(page, "agent coordinator", "5718"), "P309")
    assert "'agent coordinator'" in described["message"] and "5719/tcp (dpm-agent" in described["message"]
    assert "did you mean 5719/tcp?" in described["message"]
    # The row that gives the engine its own port (1433) is no finding.
    assert not [d for d in payload["differences"] if d["line"] == located(page, "1433/TCP", "1433")[0]]


def test_the_errata_that_record_them_explain_them(example, capsys):
    data, page = example
    (data / "example-backup" / "errata.csv").write_text(ERRATA, encoding="utf-8")
    code, payload = against(data, page, capsys)
    assert code == 0 and payload["unexplained"] == 0 and payload["data_issues"] == []
    [program] = at(payload, *located(page, "inbound exception", "80"), "P304")
    assert "erratum EB1 records sqlservr.exe as the published program of flow eb-reports" in program["message"]
    assert "no program: a port rule" in program["message"]
    [described] = at(payload, *located(page, "agent coordinator", "5718"), "P304")
    assert "erratum EB2 records 'agent coordinator' as the published port of flow eb-channel" in described["message"]
    assert payload["explained"] == 2


def test_an_erratum_that_moves_the_exception_to_the_serving_program_explains_it(example, capsys):
    data, page = example
    flows = data / "example-backup" / "flows.csv"
    header, rows = read_rows(flows)
    write_rows(flows, header, [row | {"program": "ReportingServicesService.exe"} if row["id"] == "eb-reports" else row
                               for row in rows])
    errata = ERRATA.replace("sqlservr.exe,,", "sqlservr.exe,ReportingServicesService.exe,")
    (data / "example-backup" / "errata.csv").write_text(errata, encoding="utf-8")
    code, payload = against(data, page, capsys)
    assert code == 0 and payload["data_issues"] == []
    [program] = at(payload, *located(page, "inbound exception", "80"), "P304")
    assert "which the data holds with program ReportingServicesService.exe" in program["message"]


def seed_copy(tmp_path: Path) -> Path:
    if not SEED.exists():
        pytest.skip(f"the published DPM page is not at {SEED}")
    page = tmp_path / "seed.md"
    page.write_bytes(SEED.read_bytes())
    return page


def test_the_seed_page_findings_are_explained_by_their_errata(tmp_path, capsys):
    page = seed_copy(tmp_path)
    code, payload = against(DATA, page, capsys)
    assert code == 0 and payload["unexplained"] == 0
    [program] = at(payload, *located(page, "sqservr.exe", "80"), "P304")
    assert "erratum E4 records sqlservr.exe as the published program of flow sql-report-server" in program["message"]
    assert "read as sqlservr.exe, the spelling E3 corrects it to" in program["message"]
    [described] = at(payload, *located(page, "agent coordinator on port", "5718"), "P304")
    assert "erratum E5 records 'agent coordinator' as the published port of flow agent-coordinator" in described["message"]
    main(["check", "--data", str(DATA), "--against", str(page)])
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.endswith(f"0 unexplained, {payload['explained']} explained difference(s)")


def test_the_seed_page_without_the_registry_erratum_is_unexplained(data_dir, tmp_path, capsys):
    page = seed_copy(tmp_path)
    errata = data_dir / "dpm-2012r2" / "errata.csv"
    header, rows = read_rows(errata)
    write_rows(errata, header, [row for row in rows if row["id"] != "E5"])
    code, payload = against(data_dir, page, capsys)
    assert code == 1
    assert [(d["code"], d["line"], d["column"]) for d in payload["differences"] if not d["explained"]] == [
        ("P309", *located(page, "agent coordinator on port", "5718"))]


def test_the_shipped_data_checks_clean(capsys):
    assert main(["check", "--data", str(DATA)]) == 0
    assert capsys.readouterr().out.strip().endswith("0 error(s), 0 warning(s)")
