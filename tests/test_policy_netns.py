"""The nftables policies on a real kernel: each role's file loaded into a network
namespace that plays one of its hosts, and real sockets between the namespaces.

The test writes its own inventory, one host per role with one address of each IP
version in 10.211.0.0/24 and fd00:7e57:211::/64, because the machines this runs on may
use the documentation ranges of the shipped inventory themselves. Those addresses
exist only inside the namespaces the test makes with `generator.netns`: they share one
bridge in a namespace of their own, with no link to the host. UDP is checked with one datagram, echoed by the
listener, per documented UDP port over IPv4; IPv6 is checked over TCP with one port per
peer, which also needs the neighbour discovery the host defaults accept.
"""
from __future__ import annotations

import shutil
import uuid
from ipaddress import ip_address

import pytest

from generator import netns
from generator.cli import main
from generator.netns import Probe
from generator.pipeline import load_and_check
from generator.views import INBOUND, role_lines

from conftest import DATA, read_rows, write_rows

PREFIX4, PREFIX6 = "10.211.0.", "fd00:7e57:211::"
UNDOCUMENTED_PORT = 9  # discard: no flow of the shipped data uses it


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
    if missing := netns.missing_requirement():
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
    assert main(["build", "--formats", "policy", "--policy-platforms", "nftables", "--policy-every-role",
                 "--data", str(data), "--out", str(out)]) == 0
    model = load_and_check(data).model

    lab = netns.Lab(f"pbtest-{uuid.uuid4().hex[:8]}")
    try:
        namespace_of = {role: lab.add_host([ip_address(f"{PREFIX4}{index}"), ip_address(f"{PREFIX6}{index}")])
                        for role, index in index_of.items()}
        files = {role: out / "policy" / "out" / f"{role}.nft" for role in roles}
        files = {role: path for role, path in files.items() if path.exists()}
        for role, path in files.items():
            lab.load(namespace_of[role], path)
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
            probes += [(Probe("", v4, "tcp", port), True, f"{peer} -> {role} {port}/tcp") for port in ports]
            probes.append((Probe("", v6, "tcp", ports[0]), True, f"{peer} -> {role} {ports[0]}/tcp over IPv6"))
        for peer, ports in udp.items():
            plans.setdefault(namespace_of[peer], []).extend(
                (Probe("", v4, "udp", port), True, f"{peer} -> {role} {port}/udp") for port in ports)
        # A peer on a port no flow documents, and a role that is no peer on a documented port.
        peer = next(iter(tcp))
        for family, address in ((4, v4), (6, v6)):
            plans[namespace_of[peer]].append((Probe("", address, "tcp", UNDOCUMENTED_PORT), False,
                                              f"{peer} -> {role} {UNDOCUMENTED_PORT}/tcp over IPv{family}"))
        stranger = next((other for other in namespace_of if other not in tcp and other != role), None)
        if stranger is not None:
            port = tcp[peer][0]
            plans.setdefault(namespace_of[stranger], []).append(
                (Probe("", v4, "tcp", port), False, f"{stranger} (no flow) -> {role} {port}/tcp"))
    count = sum(len(probes) for probes in plans.values())
    assert 20 <= count <= 60
    failures = []
    answered = lab.probe_all({namespace: [probe for probe, _, _ in probes] for namespace, probes in plans.items()})
    for namespace, probes in plans.items():
        answers = answered[namespace]
        failures += [f"{what}: expected {'an answer' if expected else 'no answer'}"
                     for (_, expected, what), answer in zip(probes, answers) if answer != expected]
    assert not failures, "\n".join(failures)


def test_loopback_works_inside_each_namespace(lab):
    model, lab, namespace_of, index_of, files = lab
    for role in files:
        # The role's listener answers on the undocumented port too.
        probes = [Probe("", "127.0.0.1", "tcp", UNDOCUMENTED_PORT), Probe("", "::1", "tcp", UNDOCUMENTED_PORT)]
        assert lab.probe(namespace_of[role], probes) == [True, True], role


def test_loading_again_leaves_the_same_ruleset(lab):
    model, lab, namespace_of, index_of, files = lab
    for role, path in files.items():
        namespace = namespace_of[role]
        before = lab.ruleset(namespace)
        # The role's table and the host table.
        assert before.count("table inet ") == 2 and "ct state new meta mark set meta mark | 0x01000000 accept" in before
        lab.load(namespace, path)
        assert lab.ruleset(namespace) == before, role


def test_roles_sharing_a_host_keep_their_own_tables(lab):
    model, lab, namespace_of, index_of, files = lab
    namespace = lab.add_namespace("shared")
    for path in files.values():
        lab.load(namespace, path)
    assert sorted(lab.tables(namespace)) == sorted([("inet", "portbook"),
                                                    *(("inet", "portbook_" + role.replace("-", "_")) for role in files)])
    before = lab.ruleset(namespace)
    # Loading one role's file again replaces its table and the host table only; the
    # listing order may change.
    lab.load(namespace, files["dpm-server"])
    assert sorted(lab.ruleset(namespace).splitlines()) == sorted(before.splitlines())
    # Loading every file again, in the same order, leaves the very same ruleset.
    for path in files.values():
        lab.load(namespace, path)
    assert lab.ruleset(namespace) == before
