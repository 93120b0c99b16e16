"""The nftables policies on a real kernel: each role's file loaded into a network
namespace that plays one of its hosts, and real sockets between the namespaces.

The test writes its own inventory, one host per role with one address of each IP
version in 10.211.0.0/24 and fd00:7e57:211::/64, because the machines this runs on may
use the documentation ranges of the shipped inventory themselves. Those addresses
exist only inside the namespaces the test makes: they share one bridge in a namespace
of their own, with no link to the host. UDP is checked with one datagram, echoed by the
listener, per documented UDP port over IPv4; IPv6 is checked over TCP with one port per
peer, which also needs the neighbour discovery the host defaults accept.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from generator.cli import main
from generator.pipeline import load_and_check
from generator.views import INBOUND, role_lines

from conftest import DATA, read_rows, write_rows

PREFIX4, PREFIX6 = "10.211.0.", "fd00:7e57:211::"
UNDOCUMENTED_PORT = 9  # discard: no flow of the shipped data uses it
TIMEOUT = 1.0

# Listens on every port given, over IPv4 and IPv6: answers "ok" on TCP and echoes UDP,
# so that a failed probe can only be the firewall.
LISTENER = r"""
import selectors, socket, sys
selector = selectors.DefaultSelector()
for kind, ports in (("tcp", sys.argv[1]), ("udp", sys.argv[2])):
    for port in filter(None, ports.split(",")):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", int(port)))
        if kind == "tcp":
            sock.listen(16)
        selector.register(sock, selectors.EVENT_READ, kind)
print("ready", flush=True)
while True:
    for key, _ in selector.select():
        if key.data == "tcp":
            connection, _ = key.fileobj.accept()
            connection.sendall(b"ok")
            connection.close()
        else:
            data, peer = key.fileobj.recvfrom(64)
            key.fileobj.sendto(data, peer)
"""

# Tries each (family, transport, address, port) once with a short time-out; prints
# whether each got its answer.
CLIENT = r"""
import json, socket, sys
results = []
for family, transport, address, port, timeout in json.loads(sys.argv[1]):
    sock = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET,
                         socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        if transport == "tcp":
            sock.connect((address, port))
            answered = sock.recv(2) == b"ok"
        else:
            sock.sendto(b"ping", (address, port))
            answered = sock.recv(16) == b"ping"
    except OSError:
        answered = False
    finally:
        sock.close()
    results.append(answered)
print(json.dumps(results))
"""


def missing_requirement() -> str:
    """Why the test cannot run here, or '' when it can."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("nft") is None:
        return "nft is not installed (Debian package nftables)"
    if shutil.which("ip") is None:
        return "ip is not installed (Debian package iproute2)"
    return ""


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stderr}"
    return result.stdout


class Lab:
    """One namespace per host on one bridge, and the processes started inside them."""

    def __init__(self, tag: str):
        self.tag = tag
        self.switch = ""  # the namespace of the bridge, once add_switch made it
        self.namespaces: list[str] = []
        self.listeners: list[subprocess.Popen] = []

    def add_switch(self) -> None:
        self.switch = self.add_namespace("sw")
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")

    def add_namespace(self, name: str) -> str:
        namespace = f"pbtest-{self.tag}-{name}"
        run("ip", "netns", "add", namespace)
        self.namespaces.append(namespace)
        return namespace

    def add_host(self, index: int) -> str:
        namespace = self.add_namespace(str(index))
        port = f"p{index}"
        run("ip", "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        run("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
        run("ip", "-n", namespace, "link", "set", "lo", "up")
        run("ip", "-n", namespace, "addr", "add", f"{PREFIX4}{index}/24", "dev", "eth0")
        run("ip", "-n", namespace, "addr", "add", f"{PREFIX6}{index}/64", "dev", "eth0", "nodad")
        run("ip", "-n", namespace, "link", "set", "eth0", "up")
        return namespace

    def listen(self, namespace: str, tcp: list[int], udp: list[int]) -> None:
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", LISTENER,
             ",".join(map(str, sorted(set(tcp)))), ",".join(map(str, sorted(set(udp))))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.listeners.append(process)
        assert process.stdout.readline().strip() == "ready", process.stderr.read()

    def probe(self, namespace: str, probes: list[tuple]) -> list[bool]:
        return json.loads(run("ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT, json.dumps(probes)))

    def close(self) -> None:
        for process in self.listeners:
            process.kill()
            process.wait(timeout=10)
            for stream in (process.stdout, process.stderr):
                stream.close()
        for namespace in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=30)


def documented(model, role: str, transport: str) -> dict[str, list[int]]:
    """Peer role -> the first port of each documented inbound flow over `transport`."""
    ports: dict[str, list[int]] = {}
    for line in role_lines(model, role):
        flow = line.flow
        if line.direction == INBOUND and flow.transport == transport and flow.ports is not None:
            listed = ports.setdefault(line.peer, [])
            if flow.ports.first not in listed:
                listed.append(flow.ports.first)
    return ports


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The test data's policies built, and one namespace per role, each holding the role's
    nftables file once and a listener on its documented ports and one undocumented port;
    torn down whatever happens."""
    if missing := missing_requirement():
        pytest.skip(missing)
    data = tmp_path_factory.mktemp("netns") / "data"
    shutil.copytree(DATA, data)
    inventory = data / "inventory.csv"
    header, hosts = read_rows(inventory)
    roles = list(dict.fromkeys(host["role"] for host in hosts))
    index_of = {role: index for index, role in enumerate(roles, start=1)}
    write_rows(inventory, header, [
        {"role": role, "host": f"{role}-{family}", "address": address, "note": "Test host inside a namespace"}
        for role, index in index_of.items()
        for family, address in (("v4", f"{PREFIX4}{index}"), ("v6", f"{PREFIX6}{index}"))])
    out = data.parent / "build"
    assert main(["build", "--formats", "policy", "--policy-platforms", "nftables",
                 "--data", str(data), "--out", str(out)]) == 0
    model = load_and_check(data).model

    lab = Lab(uuid.uuid4().hex[:8])
    try:
        lab.add_switch()
        namespace_of = {role: lab.add_host(index) for role, index in index_of.items()}
        files = {role: out / "policy" / "out" / f"{role}.nft" for role in roles}
        files = {role: path for role, path in files.items() if path.exists()}
        for role, path in files.items():
            run("ip", "netns", "exec", namespace_of[role], "nft", "-f", str(path))
            tcp, udp = documented(model, role, "tcp"), documented(model, role, "udp")
            lab.listen(namespace_of[role], [port for ports in tcp.values() for port in ports] + [UNDOCUMENTED_PORT],
                       [port for ports in udp.values() for port in ports])
        yield model, lab, namespace_of, index_of, files
    finally:
        lab.close()


def test_documented_flows_connect_and_nothing_else_does(lab):
    model, lab, namespace_of, index_of, files = lab
    assert {"dpm-server", "protected-computer", "domain-controller", "sql-server"} <= set(files)
    plans = {}  # source namespace -> [(probe, expected answer, what)]
    for role in files:
        tcp, udp = documented(model, role, "tcp"), documented(model, role, "udp")
        assert all(UNDOCUMENTED_PORT not in ports for ports in tcp.values())
        v4, v6 = f"{PREFIX4}{index_of[role]}", f"{PREFIX6}{index_of[role]}"
        for peer, ports in tcp.items():
            probes = plans.setdefault(namespace_of[peer], [])
            probes += [((4, "tcp", v4, port, TIMEOUT), True, f"{peer} -> {role} {port}/tcp") for port in ports]
            probes.append(((6, "tcp", v6, ports[0], TIMEOUT), True, f"{peer} -> {role} {ports[0]}/tcp over IPv6"))
        for peer, ports in udp.items():
            plans.setdefault(namespace_of[peer], []).extend(
                ((4, "udp", v4, port, TIMEOUT), True, f"{peer} -> {role} {port}/udp") for port in ports)
        # A peer on a port no flow documents, and a role that is no peer on a documented port.
        peer = next(iter(tcp))
        for family, address in ((4, v4), (6, v6)):
            plans[namespace_of[peer]].append(((family, "tcp", address, UNDOCUMENTED_PORT, TIMEOUT), False,
                                              f"{peer} -> {role} {UNDOCUMENTED_PORT}/tcp over IPv{family}"))
        stranger = next((other for other in namespace_of if other not in tcp and other != role), None)
        if stranger is not None:
            port = tcp[peer][0]
            plans.setdefault(namespace_of[stranger], []).append(
                ((4, "tcp", v4, port, TIMEOUT), False, f"{stranger} (no flow) -> {role} {port}/tcp"))
    count = sum(len(probes) for probes in plans.values())
    assert 20 <= count <= 60
    failures = []
    for namespace, probes in plans.items():
        answers = lab.probe(namespace, [probe for probe, _, _ in probes])
        failures += [f"{what}: expected {'an answer' if expected else 'no answer'}"
                     for (_, expected, what), answer in zip(probes, answers) if answer != expected]
    assert not failures, "\n".join(failures)


def test_loopback_works_inside_each_namespace(lab):
    model, lab, namespace_of, index_of, files = lab
    for role in files:
        # The role's listener answers on the undocumented port too.
        probes = [(4, "tcp", "127.0.0.1", UNDOCUMENTED_PORT, TIMEOUT), (6, "tcp", "::1", UNDOCUMENTED_PORT, TIMEOUT)]
        assert lab.probe(namespace_of[role], probes) == [True, True], role


def test_loading_again_leaves_the_same_ruleset(lab):
    model, lab, namespace_of, index_of, files = lab
    for role, path in files.items():
        namespace = namespace_of[role]
        before = run("ip", "netns", "exec", namespace, "nft", "list", "ruleset")
        assert before.count("table inet ") == 1 and "ct state new accept" in before
        run("ip", "netns", "exec", namespace, "nft", "-f", str(path))
        assert run("ip", "netns", "exec", namespace, "nft", "list", "ruleset") == before, role


def test_roles_sharing_a_host_keep_their_own_tables(lab):
    model, lab, namespace_of, index_of, files = lab
    namespace = lab.add_namespace("shared")
    for path in files.values():
        run("ip", "netns", "exec", namespace, "nft", "-f", str(path))
    tables = run("ip", "netns", "exec", namespace, "nft", "list", "tables").split()
    assert sorted(zip(tables[::3], tables[1::3], tables[2::3])) == sorted(
        ("table", "inet", "portbook_" + role.replace("-", "_")) for role in files)
    before = sorted(run("ip", "netns", "exec", namespace, "nft", "list", "ruleset").splitlines())
    # Loading one role's file again replaces its table only; the listing order may change.
    run("ip", "netns", "exec", namespace, "nft", "-f", str(files["dpm-server"]))
    assert sorted(run("ip", "netns", "exec", namespace, "nft", "list", "ruleset").splitlines()) == before
