"""The command line as a user meets it: the version, findings on standard output, the
site as a format, usage errors, and errors that stop a command without a traceback."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import main

from conftest import ROOT, edit_row

FLOWS = Path("dpm-2012r2") / "flows.csv"
LOCATED = re.compile(r"^[^:\n]+:\d+:\d+: [LSCP]\d{3} ")


def test_version_names_the_installed_package(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert re.fullmatch(r"portbook \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_check_findings_go_to_standard_output_for_pipes(data_dir):
    edit_row(data_dir / FLOWS, "id", "sql-engine-default", port="1443")
    run = subprocess.run([sys.executable, "-m", "generator", "check", "--data", str(data_dir)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    found = [line for line in run.stdout.splitlines() if " C201 " in line]
    assert found and LOCATED.match(found[0]) and "did you mean 1433/tcp" in found[0]
    assert " C201 " not in run.stderr


def test_usage_errors_exit_2_on_standard_error(data_dir, tmp_path, capsys):
    assert main(["build", "--formats", "markdown,nosuch", "--data", str(data_dir), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "unknown format(s) nosuch" in captured.err and captured.out == ""
    assert not (tmp_path / "out").exists()


def test_html_is_a_format_of_build(data_dir, tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "generator", "build", "--formats", "markdown,html",
                          "--data", str(data_dir), "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert (out / "markdown" / "reference.md").is_file()
    page = (out / "html" / "roles" / "dpm-server.html").read_text(encoding="utf-8")
    assert "1433" in page


def test_html_outside_the_project_folder_is_a_usage_error(data_dir, tmp_path):
    run = subprocess.run([sys.executable, "-m", "generator", "build", "--formats", "html",
                          "--data", str(data_dir), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert "conf.py" in run.stderr and "Traceback" not in run.stderr


def test_build_of_one_dataset(data_dir, tmp_path, capsys):
    other = data_dir / "other-product"
    (other).mkdir()
    (other / "dataset.toml").write_text('id = "other-product"\ntitle = "Other product"\nversion = "1"\n'
                                        '[source]\ntitle = "Other page"\n[sections.main]\ntitle = "Main"\n', encoding="utf-8")
    (other / "roles.csv").write_text("id,name,description\nweb,Web server,\nclient,Client,\n", encoding="utf-8")
    (other / "flows.csv").write_text(
        "id,transport,port,dynamic,source,destination,direction,service,program,rule,purpose,condition,reference,assumption\n"
        "other-https,tcp,443,,client,web,one-way,https,,,Web pages.,,main,\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["build", "--formats", "markdown", "--dataset", "other-product", "--data", str(data_dir), "--out", str(out)]) == 0
    reference = (out / "markdown" / "reference.md").read_text(encoding="utf-8")
    assert "other-https" in reference and "sql-engine-default" not in reference
    assert sorted(path.name for path in (out / "markdown" / "roles").iterdir()) == ["client.md", "web.md"]
    capsys.readouterr()
    assert main(["build", "--dataset", "nosuch", "--data", str(data_dir), "--out", str(tmp_path / "none")]) == 2
    assert "no dataset 'nosuch'" in capsys.readouterr().err
