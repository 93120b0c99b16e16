"""`make serve`: the live preview serves the site and shows an edited row without a
manual rebuild. Traffic stays on loopback; the server is stopped by the test."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, edit_row

SERVING = re.compile(r"Serving on (http://127\.0\.0\.1:\d+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTUP_SECONDS = 180  # the first build: every format and the whole site
UPDATE_SECONDS = 90


def fetch(url: str) -> str:
    """The page's text; empty while the server is not answering yet (it prints its address
    just before it listens) or is between builds."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except OSError:
        return ""


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what} within {seconds} s")


@pytest.fixture
def server(data_dir: Path, tmp_path: Path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = Path(sys.prefix)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", str(venv / ".installed"), "serve", "PORT=0",
             f"VENV={venv}", f"DATA_DIR={data_dir}", f"BUILD={tmp_path / 'build'}"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def address() -> str | None:
            if process.poll() is not None:
                pytest.fail(f"make serve ended with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            found = SERVING.search(ANSI.sub("", log.read_text(errors="replace")))
            return found.group(1) if found else None

        yield wait_for(address, STARTUP_SECONDS, "make serve printed no address"), data_dir, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_an_edited_row_is_served_without_a_manual_rebuild(server):
    url, data_dir, log = server
    page = f"{url}/roles/dpm-server.html"
    first = wait_for(lambda: fetch(page), 30, "the role page was not served")
    assert "1433" in first and "Edited while serving" not in first

    edit_row(data_dir / "dpm-2012r2" / "flows.csv", "id", "sql-engine-default", purpose="Edited while serving.")
    wait_for(lambda: "Edited while serving." in fetch(page), UPDATE_SECONDS,
             f"the edited purpose was not served (log: {log})")
    # The other formats were rebuilt by the same edit: the Markdown holds it too.
    markdown = (log.parent / "build" / "markdown" / "roles" / "dpm-server.md").read_text(encoding="utf-8")
    assert "Edited while serving." in markdown
