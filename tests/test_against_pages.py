"""`check --against` with several pages, and with a later revision of the source page."""
from __future__ import annotations

import pytest

from conftest import DATA
from test_against import MSDOCS, PAGES, SEED, fabrikam, page_line, report  # noqa: F401  (fabrikam is a fixture)
from test_against import against as run
from generator.cli import main
from generator.pages.html import parse_html
from generator.pages.parse import parse_page

DISAGREE = PAGES / "disagree"
REVISED = PAGES / "revised" / "msdocs-style.md"


def codes(payload: dict, code: str) -> list[dict]:
    return [d for d in payload["differences"] if d["code"] == code]


# --- several pages ---

def test_two_pages_that_disagree_on_a_pool_and_a_flow(fabrikam, capsys):
    code, payload = report(fabrikam, [DISAGREE], capsys, "--dataset", "fabrikam-archive")
    assert code == 1
    agents, firewall = payload["pages"]  # the folder's pages in name order
    assert agents["page"].endswith("disagree/agents.md") and firewall["page"].endswith("disagree/firewall.md")
    pool_firewall = page_line(DISAGREE / "firewall.md", "Dynamic|")  # the port cell's pool
    pool_agents = page_line(DISAGREE / "agents.md", "49152")
    catalog_firewall = page_line(DISAGREE / "firewall.md", "5342")
    catalog_agents = page_line(DISAGREE / "agents.md", "5432")
    at_firewall = {(d["line"], d["column"]): d for d in codes(firewall, "P306")}
    at_agents = {(d["line"], d["column"]): d for d in codes(agents, "P306")}
    assert set(at_firewall) == {pool_firewall, catalog_firewall}
    assert set(at_agents) == {pool_agents, catalog_agents}
    pool = at_firewall[pool_firewall]
    assert pool["severity"] == "error" and pool["name"] == "pages-disagree" and not pool["explained"]
    assert "dynamic pool on tcp" in pool["message"] and "gives 1024-65535" in pool["message"]
    assert f"agents.md:{pool_agents[0]}:{pool_agents[1]} gives 49152-65535" in pool["message"]
    catalog = at_agents[catalog_agents]
    assert "flow fa-catalog" in catalog["message"]
    assert f"firewall.md:{catalog_firewall[0]}:{catalog_firewall[1]} gives 5342" in catalog["message"]
    assert payload["unexplained"] == firewall["unexplained"] + agents["unexplained"]


def test_the_text_report_locates_a_disagreement_on_both_pages(fabrikam, capsys):
    code, out, _ = run(fabrikam, [DISAGREE / "firewall.md", DISAGREE / "agents.md"], capsys,
                       "--dataset", "fabrikam-archive")
    assert code == 1
    line, column = page_line(DISAGREE / "agents.md", "49152")
    assert f"agents.md:{line}:{column}: P306 pages disagree on the dynamic pool on tcp" in out
    line, _ = page_line(DISAGREE / "firewall.md", "135\\/TCP Dynamic")
    assert f"firewall.md:{line}:" in out and out.count(": P306 ") == 4
    summaries = [text for text in out.splitlines() if " against fabrikam-archive" in text]
    assert len(summaries) == 2


def test_pages_that_agree_are_not_reported(fabrikam, capsys, tmp_path):
    copy = tmp_path / "agents-copy.md"
    copy.write_text((DISAGREE / "agents.md").read_text(encoding="utf-8").replace(
        "Deploying the Fabrikam Archive agent", "Agent deployment checklist"), encoding="utf-8")
    _, payload = report(fabrikam, [DISAGREE / "agents.md", copy], capsys, "--dataset", "fabrikam-archive")
    assert not [d for page in payload["pages"] for d in codes(page, "P306")]


def test_seed_page_and_a_retitled_copy_agree(tmp_path, capsys):
    if not SEED.exists():
        pytest.skip(f"the published DPM page is not at {SEED}")
    copy = tmp_path / "agents.md"
    copy.write_text(SEED.read_text(encoding="utf-8").replace(
        "title: Configure firewall settings for DPM", "title: Firewall exceptions for DPM agents"), encoding="utf-8")
    code, payload = report(DATA, [SEED, copy], capsys, "--dataset", "dpm-2012r2")
    assert code == 0 and payload["unexplained"] == 0
    assert not [d for page in payload["pages"] for d in page["differences"] if d["code"] in ("P306", "P307")]


def test_saved_html_pages_in_a_folder_are_read(fabrikam, capsys, tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "notes.txt").write_text("port 9999/tcp\n", encoding="utf-8")
    (folder / "console.html").write_text(
        "<html><head><title>Fabrikam console</title></head><body>"
        "<p>The console listens on TCP port 8443.</p></body></html>\n", encoding="utf-8")
    code, payload = report(fabrikam, [folder], capsys, "--dataset", "fabrikam-archive")
    assert code == 1 and payload["page"].endswith("console.html")  # one page: the single-page report
    assert [d["message"].split()[2] for d in codes(payload, "P301")] == ["8443/tcp"]


def test_a_folder_without_pages_is_a_located_error(fabrikam, capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(fabrikam, [MSDOCS, empty], capsys)
    assert code == 1 and "empty:0:0: no page (.md, .html) in this folder" in err and "Traceback" not in err


# --- a later revision of the source page ---

def test_a_fixed_typo_is_reported_as_fixed_upstream(fabrikam, capsys):
    code, payload = report(fabrikam, [REVISED], capsys)
    assert (payload["revision"], payload["data_revision"]) == ("02/10/2025", "2019-06-03")
    fixed = {d["message"].split()[0]: d for d in codes(payload, "P307")}
    assert set(fixed) == {"FA1", "FA2"}
    port = fixed["FA1"]
    assert (port["line"], port["column"]) == page_line(REVISED, "5432 by default")
    assert port["message"].startswith("FA1 fixed by the vendor: the page now gives 5432 where it gave 5342")
    assert "page revision 02/10/2025" in port["message"] and "revision 2019-06-03" in port["message"]
    assert port["severity"] == "warning" and port["explained"]
    assert (fixed["FA2"]["line"], fixed["FA2"]["column"]) == page_line(REVISED, "fcatalogd.exe")
    assert not codes(payload, "P304")
    [new] = codes(payload, "P301")  # the metrics port the later revision adds
    assert (new["line"], new["column"]) == page_line(REVISED, "9464")
    assert "new on the page" in new["message"]
    assert code == 1 and payload["unexplained"] == 1


def test_the_text_report_names_both_revisions(fabrikam, capsys):
    _, out, _ = run(fabrikam, [REVISED], capsys)
    assert "P307 FA1 fixed by the vendor: the page now gives 5432" in out
    assert out.strip().splitlines()[-1].split(": ")[0].endswith(
        "against fabrikam-archive (page revision 02/10/2025, data transcribed from revision 2019-06-03)")


def test_the_transcribed_revision_has_nothing_fixed_or_new(fabrikam, capsys, tmp_path):
    _, payload = report(fabrikam, [MSDOCS], capsys)
    assert not codes(payload, "P307") and len(codes(payload, "P304")) == 2
    older = tmp_path / "older.md"
    older.write_text(REVISED.read_text(encoding="utf-8").replace("ms.date: 02/10/2025", "ms.date: 01/15/2018"),
                     encoding="utf-8")
    _, payload = report(fabrikam, [older], capsys)
    assert not codes(payload, "P307")
    assert all("new on the page" not in d["message"] for d in codes(payload, "P301"))


def test_without_a_recorded_revision_nothing_is_fixed_upstream(fabrikam, capsys):
    toml = fabrikam / "fabrikam-archive" / "dataset.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('revision = "2019-06-03"\n', ""), encoding="utf-8")
    _, payload = report(fabrikam, [REVISED], capsys)
    assert not codes(payload, "P307") and payload["data_revision"] == ""
    assert all("new on the page" not in d["message"] for d in codes(payload, "P301"))


def test_the_seed_page_has_nothing_fixed_upstream(capsys):
    if not SEED.exists():
        pytest.skip(f"the published DPM page is not at {SEED}")
    code, payload = report(DATA, [SEED], capsys)
    assert code == 0 and payload["data_revision"] == "2026-11-28"
    assert not codes(payload, "P307") and not codes(payload, "P306")


def test_a_page_is_dated_by_its_front_matter_or_meta():
    assert parse_page("---\ntitle: A\nupdated: 2024-01-02\nms.date: 03/14/2025\n---\n# A\n").revision == "03/14/2025"
    assert parse_page("---\ntitle: A\ndate: '2024-01-02'\n---\n").revision == "2024-01-02"
    assert parse_page("# No front matter\n").revision == ""
    page = parse_html('<html><head><meta name="article date" content="2025-05-06"><title>T</title></head></html>')
    assert page.revision == "2025-05-06"
    assert parse_html('<html><head><meta name="description" content="x"></head></html>').revision == ""


def test_a_revision_that_is_not_text_is_a_located_error(fabrikam, capsys):
    toml = fabrikam / "fabrikam-archive" / "dataset.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('revision = "2019-06-03"', "revision = 2019-06-03"),
                    encoding="utf-8")
    code = main(["check", "--data", str(fabrikam)])
    out = capsys.readouterr().out
    line = next(n for n, text in enumerate(toml.read_text(encoding="utf-8").splitlines(), 1) if text.startswith("revision"))
    assert code == 1 and f"dataset.toml:{line}:1: L009 source.revision must be a string" in out
