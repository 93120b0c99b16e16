"""`portbook verify` on a real kernel: the shipped data proves out, a policy missing one
accept rule fails naming the flow it loses, dual-stack hosts are proved over both
versions, checks past the connection cap are named and fail the run, an interrupted run
leaves no namespace, and where it cannot run it refuses in one plain line.

Each run is the command line as users start it, in a process of its own, so that its
exit status and output are what a pipeline would see; after each, `ip netns list` must
hold none of the namespaces it made (named after its process id, so that namespaces
other runs on the machine make at the same time do not count).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from generator import netns
from generator.cli import main
from generator.commands.verify import printable, sampled
from generator.model import PortRange
from generator.pipeline import load_and_check
from generator.views import INBOUND, role_lines

from conftest import DATA, ROOT, append_row, read_rows, write_rows


def start(*arguments: str, env: dict | None = None, user: list[str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([*(user or []), sys.executable, "-m", "generator", "verify", *arguments],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def namespaces_of(process: subprocess.Popen) -> list[str]:
    if shutil.which("ip") is None:
        return []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    return [name for name in listed if name.startswith(f"pbv-{process.pid}-")]


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    """Wait for the run and check it left no namespace behind."""
    try:
        output, errors = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert not namespaces_of(process), "namespaces left behind"
    return subprocess.CompletedProcess(process.args, process.returncode, output, errors)


def verify(*arguments: str, env: dict | None = None, user: list[str] | None = None) -> subprocess.CompletedProcess:
    return finish(start(*arguments, env=env, user=user))


@pytest.fixture
def kernel():
    """Skips where namespaces cannot be made."""
    if missing := netns.missing_requirement():
        pytest.skip(f"verify {missing}")


def expected_lines(model) -> tuple[list[str], list[str]]:
    """The start of the ok line of every documented inbound flow between two hosts, and the
    start of the 'not probed' line of every program exception."""
    hosts = {role.id: [host.host for host in model.hosts_of_role(role.id)] for role in model.roles}
    ok, exceptions = [], []
    for role in model.roles:
        for line in role_lines(model, role.id):
            if line.direction != INBOUND:
                continue
            if line.flow.ports is None:
                exceptions.append(f"not probed  {line.flow.id}  {line.source} -> {role.id}  any: program exception")
                continue
            ok += [f"ok          {line.flow.id}  {source} -> {destination}  "
                   for source in hosts[line.source] for destination in hosts[role.id] if source != destination]
    return ok, exceptions


def test_shipped_data_holds(kernel):
    result = verify("--data", str(DATA))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    ok, exceptions = expected_lines(load_and_check(DATA).model)
    assert len(ok) > 100
    for start in ok:
        assert sum(line.startswith(start) for line in lines) == 1, start
    assert set(exceptions) <= set(lines) and exceptions
    closed = [line for line in lines if line.startswith("closed ")]
    # From a peer on a port next to its own, and from a host with no flow on a port others use.
    assert "closed      dpm01 -> sql01  1434/tcp over IPv4" in closed
    assert "closed      fs01 -> sql01  1433/tcp over IPv4" in closed
    assert len([line for line in lines if line.startswith("ok          loopback on ")]) == 7
    assert not [line for line in lines if line.startswith(("FAIL", "OPEN"))]
    assert lines[-1].startswith(f"summary: {len(ok)} flow check(s) ok, 0 failed, {len(exceptions)} not probed; ")
    assert "Traceback" not in result.stderr


def test_a_policy_without_one_accept_rule_fails_naming_its_flow(kernel, tmp_path):
    out = tmp_path / "build"
    assert main(["build", "--formats", "policy", "--policy-platforms", "nftables", "--policy-every-role",
                 "--data", str(DATA), "--out", str(out)]) == 0
    policy = out / "policy" / "out" / "sql-server.nft"
    text = policy.read_text(encoding="utf-8")
    rule = "udp dport 1434 ct state new meta mark set meta mark | 0x01000000 accept"
    assert text.count(rule) == 1
    policy.write_text("\n".join(line for line in text.splitlines() if rule not in line) + "\n", encoding="utf-8")
    result = verify("--data", str(DATA), "--policy", str(out / "policy"))
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith(("FAIL", "OPEN"))]
    assert failed == ["FAIL        sql-browser  dpm01 -> sql01  1434/udp over IPv4: no answer on 1434/udp over IPv4"]
    assert "1 failed" in result.stdout.splitlines()[-1]


def test_dual_stack_inventory_is_proved_over_both_versions(kernel, data_dir):
    inventory = data_dir / "inventory.csv"
    header, hosts = read_rows(inventory)
    roles = list(dict.fromkeys(host["role"] for host in hosts))
    write_rows(inventory, header, [
        {"role": role, "host": f"{role}-host", "address": address, "note": "Dual-stack test host"}
        for index, role in enumerate(roles, start=1)
        for address in (f"10.212.0.{index}", f"fd00:7e57:212::{index}")])
    result = verify("--data", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    probed = [line for line in result.stdout.splitlines() if line.startswith(("ok          ", "closed "))
              and "loopback" not in line]
    assert len(probed) > 30
    assert all(line.endswith(" over IPv4 and IPv6") for line in probed), probed


def test_a_host_playing_two_roles_keeps_the_flows_of_both(kernel, data_dir):
    # dc01 is also a SQL Server: it loads both roles' files, and each role's flows pass.
    append_row(data_dir / "inventory.csv", role="sql-server", host="dc01", address="192.0.2.5",
               note="Domain controller also holding a SQL Server")
    result = verify("--data", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith(("FAIL", "OPEN"))]
    model = load_and_check(data_dir).model
    for role in ("domain-controller", "sql-server"):
        flows = {line.flow.id for line in role_lines(model, role)
                 if line.direction == INBOUND and line.flow.ports is not None}
        assert flows
        for flow in flows:
            assert any(line.startswith(f"ok          {flow}  ") and " -> dc01  " in line for line in lines), flow
    # A port no flow documents stays closed on the host of both roles.
    assert [line for line in lines if line.startswith("closed ") and " -> dc01  " in line]


def test_checks_over_the_connection_cap_are_listed_and_fail_the_run(kernel):
    result = verify("--data", str(DATA), "--max-probes", "40")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    ok = [line for line in lines if line.startswith("ok ")]
    capped = [line for line in lines if line.endswith(": over the cap of 40 connections")]
    assert len(capped) > 100 and all(line.startswith("not probed ") for line in capped)
    # Checks run in data order until the next would pass the cap (a range takes three).
    connections = sum(3 if "49152,57343,65535" in line else 1 for line in ok)
    assert 38 <= connections <= 40
    assert lines[-2].startswith(f"summary: {len(ok)} flow check(s) ok, 0 failed, ")
    assert lines[-2].endswith(f"; {connections} connection(s) in 8 host namespace(s)")
    assert lines[-1] == f"summary: {len(capped)} check(s) not run, over the cap of 40 connections; " \
                        "raise --max-probes to run them"


@pytest.mark.parametrize("ending", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_deletes_its_namespaces(kernel, ending):
    process = start("--data", str(DATA))
    deadline = time.monotonic() + 60
    while not namespaces_of(process) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(ending)
    result = finish(process)
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_plainly_without_ip_or_nft():
    result = verify("--data", str(DATA), env={**os.environ, "PATH": "/nonexistent"})
    assert result.returncode == 2
    reason = "needs root to create network namespaces" if os.geteuid() != 0 else "needs the ip command"
    assert result.stderr.startswith(f"error: verify {reason}"), result.stderr
    assert "Traceback" not in result.stderr and not result.stdout


def test_refuses_plainly_without_root():
    user = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root, and setpriv (Debian package util-linux) is missing to drop it")
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        # An interpreter kept under root's home (a pyenv build with a shared libpython) cannot
        # start as the unprivileged user at all, so the refusal cannot be seen with it.
        started = subprocess.run([*user, sys.executable, "-c", "pass"], capture_output=True, text=True)
        if started.returncode != 0:
            pytest.skip(f"this Python cannot run as an unprivileged user: {started.stderr.strip()[:120]}")
    result = verify("--data", str(DATA), user=user)
    assert result.returncode == 2
    assert result.stderr == "error: verify needs root to create network namespaces\n"
    assert not result.stdout


def test_ranges_are_sampled_and_networks_played_by_their_first_host():
    assert sampled(PortRange(49152, 65535)) == [49152, 57343, 65535]
    assert sampled(PortRange(137, 138)) == [137, 138]
    assert sampled(PortRange.single(53)) == [53]
    assert str(netns.lab_address("198.51.100.0/24")) == "198.51.100.1"
    assert str(netns.lab_address("fd00:7e57::/64")) == "fd00:7e57::1"
    assert str(netns.lab_address("192.0.2.10")) == str(netns.lab_address("192.0.2.10/32")) == "192.0.2.10"


def test_data_text_is_shown_inert_on_a_terminal():
    assert printable("fs01\x1b[2J\r\nnext") == "fs01\\x1b[2J\\r\\nnext"
    assert printable("Zürich-01") == "Zürich-01"
