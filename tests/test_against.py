"""`check --against PAGE.md`: a published page compared with the data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import DATA, SHARED, append_row, edit_row, line_of, read_rows, write_rows
from generator.cli import main

PAGES = Path(__file__).parent / "pages"
MSDOCS = PAGES / "msdocs-style.md"
SEED = SHARED / "seed" / "configure-firewall-settings-for-dpm.md"


@pytest.fixture
def fabrikam(data_dir: Path) -> Path:
    """The shipped data plus a second, fictional dataset that the fixture page documents."""
    shutil.copytree(PAGES / "fabrikam-archive", data_dir / "fabrikam-archive")
    return data_dir


def against(data: Path, page: Path | list[Path], capsys, *extra: str) -> tuple[int, str, str]:
    """`check --against` one page, or several."""
    pages = page if isinstance(page, list) else [page]
    code = main(["check", "--data", str(data), "--against", *map(str, pages), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def report(data: Path, page: Path | list[Path], capsys, *extra: str) -> tuple[int, dict]:
    code, out, _ = against(data, page, capsys, "--format", "json", *extra)
    return code, json.loads(out)


def page_line(page: Path, text: str) -> tuple[int, int]:
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number, line.index(text) + 1
    raise AssertionError(text)


def test_every_difference_of_the_fixture_page_is_explained(fabrikam, capsys):
    code, payload = report(fabrikam, MSDOCS, capsys)
    assert code == 0
    assert payload["dataset"] == "fabrikam-archive"  # chosen by the page's title
    assert payload["unexplained"] == 0
    got = {(d["code"], d["line"], d["column"]) for d in payload["differences"]}
    assert got == {("P304", *page_line(MSDOCS, "5342")), ("P304", *page_line(MSDOCS, "fcatalog.exe"))}
    messages = " ".join(d["message"] for d in payload["differences"])
    assert "FA1" in messages and "FA2" in messages and "5432" in messages


def test_text_report_is_located_and_summarised(fabrikam, capsys):
    code, out, _ = against(fabrikam, MSDOCS, capsys)
    line, column = page_line(MSDOCS, "5342")
    assert code == 0
    assert f"msdocs-style.md:{line}:{column}: P304 page states 5342/tcp" in out
    assert out.strip().splitlines()[-1].endswith("0 unexplained, 2 explained difference(s)")


def test_a_typo_without_its_erratum_is_unexplained(fabrikam, capsys):
    errata = fabrikam / "fabrikam-archive" / "errata.csv"
    header, rows = read_rows(errata)
    write_rows(errata, header, [row for row in rows if row["id"] != "FA1"])
    code, payload = report(fabrikam, MSDOCS, capsys)
    assert code == 1
    line, column = page_line(MSDOCS, "5342")
    typo = [d for d in payload["differences"] if d["code"] == "P301"]
    assert [(d["line"], d["column"]) for d in typo] == [(line, column)]
    assert "did you mean 5432?" in typo[0]["message"]
    assert not typo[0]["explained"] and payload["unexplained"] == 1


def test_a_port_the_data_lacks_and_a_flow_the_page_lacks(fabrikam, capsys):
    flows = fabrikam / "fabrikam-archive" / "flows.csv"
    edit_row(flows, "id", "fa-console", port="8443")
    extra_line = append_row(flows, id="fa-extra", transport="udp", port="4242", source="archive-server",
                            destination="client-computer", direction="one-way", purpose="Something the page never says.",
                            reference="ports")
    code, out, _ = against(fabrikam, MSDOCS, capsys)
    assert code == 1
    line, column = page_line(MSDOCS, "443\\/TCP")
    assert f"msdocs-style.md:{line}:{column}: P301 page states 443/tcp" in out
    console_line = line_of(flows, "id", "fa-console")
    assert f"flows.csv:{console_line}:" in out and "P303 flow fa-console (8443/tcp)" in out
    assert f"flows.csv:{extra_line}:" in out and "P303 flow fa-extra (4242/udp)" in out


def test_programs_and_rule_names_are_compared(fabrikam, capsys):
    flows = fabrikam / "fabrikam-archive" / "flows.csv"
    edit_row(flows, "id", "fa-engine", program="FaEngine2.exe", rule="Fabrikam Engine")
    code, payload = report(fabrikam, MSDOCS, capsys)
    assert code == 1
    unknown = {d["message"].split("'")[1] for d in payload["differences"] if d["code"] == "P302"}
    assert unknown == {"Faengine.exe", "Fabrikam Archive Engine"}


def test_dynamic_ports_without_a_range_fit_a_recorded_pool(fabrikam, capsys):
    page = fabrikam.parent / "dynamic.md"
    page.write_text(
        "---\ntitle: Firewall ports for Fabrikam Archive\n---\n"
        "| Protocol | Port | Details |\n|---|---|---|\n| RPC | 135/TCP Dynamic | Endpoint lookup, then a dynamic port. |\n",
        encoding="utf-8")
    code, payload = report(fabrikam, page, capsys)
    pools = [d for d in payload["differences"] if d["code"] == "P305"]
    assert [d["message"].split()[1] for d in pools] == ["fa-rpc-dynamic"]
    assert (pools[0]["line"], pools[0]["column"]) == (6, 17)  # the word "Dynamic" of the port cell
    # Everything else of the dataset is missing from this short page.
    assert code == 1 and all(d["code"] == "P303" for d in payload["differences"] if not d["explained"])


def test_dataset_choice(fabrikam, capsys):
    code, _, err = against(fabrikam, MSDOCS, capsys, "--dataset", "nope")
    assert code == 2 and "fabrikam-archive" in err
    code, payload = report(fabrikam, MSDOCS, capsys, "--dataset", "dpm-2012r2")
    assert code == 1 and payload["dataset"] == "dpm-2012r2"
    untitled = fabrikam.parent / "untitled.md"
    untitled.write_text("Just text about port 80.\n", encoding="utf-8")
    code, _, err = against(fabrikam, untitled, capsys)
    assert code == 2 and "--dataset" in err


def test_bad_data_stops_before_the_comparison(fabrikam, capsys):
    edit_row(fabrikam / "fabrikam-archive" / "flows.csv", "id", "fa-console", port="http")
    code, out, err = against(fabrikam, MSDOCS, capsys)
    assert code == 1 and "S103" in err and "P30" not in out
    code, payload = report(fabrikam, MSDOCS, capsys)
    assert code == 1 and payload["errors"] >= 1
    [bad_port] = [item for item in payload["issues"] if item["code"] == "S103"]
    assert bad_port["file"].endswith("flows.csv") and bad_port["field"] == "port"


def test_unexplained_differences_are_errors_and_explained_ones_warnings(fabrikam, capsys):
    errata = fabrikam / "fabrikam-archive" / "errata.csv"
    header, rows = read_rows(errata)
    write_rows(errata, header, [row for row in rows if row["id"] != "FA1"])
    code, payload = report(fabrikam, MSDOCS, capsys)
    kinds = {(d["code"], d["name"], d["severity"], d["explained"]) for d in payload["differences"]}
    assert kinds == {("P301", "port-not-in-data", "error", False), ("P304", "erratum", "warning", True)}
    assert code == 1 and (payload["unexplained"], payload["explained"]) == (1, 1)


def test_seed_page_against_the_shipped_data(capsys):
    if not SEED.exists():
        pytest.skip(f"the published DPM page is not at {SEED}")
    code, payload = report(DATA, SEED, capsys)
    assert code == 0 and payload["dataset"] == "dpm-2012r2" and payload["unexplained"] == 0
    errata = {d["message"].split("erratum ")[1].split()[0] for d in payload["differences"] if d["code"] == "P304"}
    assert errata == {"E1", "E2", "E3", "E4", "E5"}
    lines = SEED.read_text(encoding="utf-8").splitlines()
    for difference in payload["differences"]:
        assert 1 <= difference["line"] <= len(lines)
    e1 = next(d for d in payload["differences"] if "E1" in d["message"])
    assert lines[e1["line"] - 1][e1["column"] - 1:].startswith("1443")


def test_strict_fails_on_warnings_about_the_data(fabrikam, capsys):
    append_row(fabrikam / "fabrikam-archive" / "roles.csv", id="spare-host", name="Spare host")
    code, out, err = against(fabrikam, MSDOCS, capsys)
    assert code == 0 and "C211" in err
    code, _, _ = against(fabrikam, MSDOCS, capsys, "--strict")
    assert code == 1


def test_page_text_reaches_the_terminal_escaped(fabrikam, capsys):
    page = fabrikam.parent / "escapes.md"
    page.write_text("---\ntitle: Firewall ports for Fabrikam Archive\n---\n"
                    "| Port | Rule name |\n|---|---|\n| 443/TCP | Console \x1b[31m\x9bred\u202e |\n", encoding="utf-8")
    code, out, err = against(fabrikam, page, capsys)
    assert code == 1
    assert not any(character in out + err for character in "\x1b\x9b\u202e")
    assert "P302 page names rule 'Console \\x1b[31m\\x9bred\\u202e'" in out
    code, out, _ = against(fabrikam, page, capsys, "--format", "json")
    assert not any(character in out for character in "\x1b\x9b\u202e")
    [rule] = [d for d in json.loads(out)["differences"] if d["code"] == "P302"]
    assert "'Console \\x1b[31m\\x9bred\\u202e'" in rule["message"]
