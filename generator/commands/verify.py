"""`verify`: prove the nftables policies on this machine's kernel before they are applied.

Every inventory host becomes a network namespace (see `generator.netns`: the namespaces
share a bridge of their own and nothing links them to the machine's network) holding
its inventory addresses, a network being played by its first host address. Each host
loads the .nft file of every role it plays and listens on the ports documented inbound
to it, a range sampled by its first, middle and last port. Then every documented flow
is tried from each host of its source role to each host of its destination role, over
every IP version both hosts have: a TCP connection must be accepted, a UDP datagram
echoed. For each host with a policy, ports no flow documents from a peer, and a
documented port from a host with no flow to it, must stay closed, and loopback must
work. Program exceptions (any transport or any port) cannot be tried port by port and
are listed as not probed.

One line per check, then a summary. Exit 0 when every check holds; 1 when a documented
flow fails, an undocumented port answers, a check was left out by the connection cap,
or the data has errors; 2 on usage errors and where verify cannot run (it needs root,
`ip` and `nft`); 130 when interrupted. Every namespace made is deleted on exit, on
errors, on Ctrl-C and on termination too.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from .. import netns
from ..errors import UsageError
from ..issues import render_text
from ..model import ANY, Flow, Model, PortRange
from ..output_files import OutputFiles
from ..outputs import output_module
from ..pipeline import load_and_check
from ..terminal import printable
from ..views import INBOUND, role_lines
from .check import add_data_arguments, report

MAX_PROBES = 200  # connections per run, by default
UNDOCUMENTED_FALLBACK = 9  # discard: tried when no port next to a documented one is free
TRANSPORTS = ("tcp", "udp")
# What a check proves: a documented flow connects, an undocumented port is closed, or
# loopback works.
FLOW, CLOSED, LOOPBACK = "flow", "closed", "loopback"


@dataclass
class LabHost:
    """An inventory host as the lab plays it."""

    name: str
    roles: list[str] = field(default_factory=list)
    addresses: list[IPv4Address | IPv6Address] = field(default_factory=list)
    namespace: str = ""

    def address(self, version: int) -> str:
        return next(str(address) for address in self.addresses if address.version == version)

    @property
    def versions(self) -> set[int]:
        return {address.version for address in self.addresses}


@dataclass
class Check:
    """Probes that together hold or not; `expected` is whether they must be answered."""

    kind: str  # FLOW, CLOSED or LOOPBACK
    text: str
    expected: bool
    probes: list[tuple[LabHost, netns.Probe]]  # each with the host it is sent from
    answers: list[bool] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return all(answer == self.expected for answer in self.answers)

    def line(self) -> str:
        held_word, failed_word = ("closed", "OPEN") if self.kind == CLOSED else ("ok", "FAIL")
        if self.held:
            return f"{held_word:<11} {self.text}"
        wrong = [f"{probe.port}/{probe.transport} over IPv{6 if ':' in probe.destination else 4}"
                 for (_, probe), answer in zip(self.probes, self.answers) if answer != self.expected]
        what = "no answer on" if self.expected else "answered on"
        return f"{failed_word:<11} {self.text}: {what} {', '.join(wrong)}"


def lab_hosts(model: Model) -> list[LabHost]:
    """One lab host per inventory host name, with every role and address given to it. An
    address given under two host names is one machine: the first name plays both, since
    two namespaces on one bridge cannot hold the same address."""
    hosts: dict[str, LabHost] = {}
    owner: dict[IPv4Address | IPv6Address, LabHost] = {}
    for entry in model.inventory:
        address = netns.lab_address(entry.address)
        host = owner.get(address) or hosts.setdefault(entry.host, LabHost(entry.host))
        owner.setdefault(address, host)
        if entry.role not in host.roles:
            host.roles.append(entry.role)
        if address not in host.addresses:
            host.addresses.append(address)
    return list(hosts.values())


def unprobed_reason(flow: Flow) -> str:
    """Why a flow cannot be tried port by port, or '' when it can. The policy generator
    writes no nftables rule for these (its SKIPPED.md says why)."""
    if flow.program and (flow.ports is None or flow.transport == ANY):
        return "program exception"
    if flow.ports is None:
        return "every port, which no rule opens"
    if flow.transport not in TRANSPORTS:
        return f"transport {printable(flow.transport)}, which no port rule matches"
    return ""


def sampled(ports: PortRange) -> list[int]:
    """The ports tried for a range: its first, middle and last."""
    return list(dict.fromkeys([ports.first, (ports.first + ports.last) // 2, ports.last]))


def ports_text(ports: list[int], transport: str, versions: list[int]) -> str:
    return f"{','.join(map(str, ports))}/{transport} over {' and '.join(f'IPv{version}' for version in versions)}"


def policy_files(model: Model, folder: Path) -> dict[str, Path]:
    """Role -> its nftables file in `folder`, for the roles the policy generator gives one
    and whose file is there."""
    # Imported here: `portbook --help` imports every command, and this imports Aerleon.
    from ..outputs.policy import plan

    files = {}
    for policy in plan(model, ["nftables"], {}).policies:
        path = folder / f"{policy.stem}.nft"
        if policy.terms and path.is_file():
            files[policy.role.id] = path
    return files


class Plan:
    """Every check of one run, and the ports each host must listen on for them."""

    def __init__(self, model: Model, hosts: list[LabHost], files: dict[str, Path]):
        self.hosts = hosts
        self.flows: list[Check] = []
        self.not_probed: list[str] = []
        self.closed: list[Check] = []
        self.loopback: list[Check] = []
        self.listening: dict[str, dict[str, set[int]]] = {host.name: {kind: set() for kind in TRANSPORTS}
                                                           for host in hosts}
        # (source host, destination host, transport) -> the ranges documented between them
        self.documented: dict[tuple[str, str, str], list[PortRange]] = {}
        self.related: set[tuple[str, str]] = set()  # (source, destination) hosts with any flow
        self._plan_flows(model, files)
        guarded = [host for host in hosts if any(role in files for role in host.roles)]
        for host in guarded:
            self._plan_closed(host)
            self._plan_loopback(host)

    def hosts_of(self, role: str) -> list[LabHost]:
        return [host for host in self.hosts if role in host.roles]

    def _plan_flows(self, model: Model, files: dict[str, Path]) -> None:
        for role in files:
            for line in role_lines(model, role):
                if line.direction != INBOUND:
                    continue
                flow = line.flow
                heading = f"{printable(flow.id)}  {printable(line.source)} -> {printable(role)}"
                pairs = [(source, destination) for source in self.hosts_of(line.source)
                         for destination in self.hosts_of(role) if source is not destination]
                self.related.update((source.name, destination.name) for source, destination in pairs)
                if reason := unprobed_reason(flow):
                    self.not_probed.append(f"{heading}  {printable(flow.port_text)}: {reason}")
                    continue
                if not pairs:
                    reason = ("no inventory host" if not self.hosts_of(line.source) or not self.hosts_of(role)
                              else "its only host is both source and destination")
                    self.not_probed.append(f"{heading}  {flow.ports}/{flow.transport}: {reason}")
                    continue
                for source, destination in pairs:
                    self._plan_flow(flow.id, flow.transport, flow.ports, source, destination)

    def _plan_flow(self, flow_id: str, transport: str, ports: PortRange, source: LabHost, destination: LabHost) -> None:
        self.documented.setdefault((source.name, destination.name, transport), []).append(ports)
        text = f"{printable(flow_id)}  {printable(source.name)} -> {printable(destination.name)}"
        versions = sorted(source.versions & destination.versions)
        if not versions:
            self.not_probed.append(f"{text}  {ports}/{transport}: the hosts share no IP version")
            return
        tried = sampled(ports)
        self.listening[destination.name][transport].update(tried)
        probes = [(source, netns.Probe(source.address(version), destination.address(version), transport, port))
                  for version in versions for port in tried]
        self.flows.append(Check(FLOW, f"{text}  {ports_text(tried, transport, versions)}", True, probes))

    def _undocumented_port(self, source: LabHost, destination: LabHost, transport: str) -> int | None:
        """A port no flow documents from `source` to `destination`: preferably one documented
        for another peer, else one next to a documented range."""
        own = self.documented.get((source.name, destination.name, transport), [])
        everyone = [ports for (_, to, kind), ranges in self.documented.items()
                    if to == destination.name and kind == transport for ports in ranges]
        if not everyone:
            return None
        candidates = [ports.first for ports in everyone]
        candidates += [port for ports in everyone for port in (ports.last + 1, ports.first - 1)]
        candidates.append(UNDOCUMENTED_FALLBACK)
        return next((port for port in candidates if 0 < port < 65536 and not any(port in ports for ports in own)),
                    None)

    def _plan_closed(self, destination: LabHost) -> None:
        """From the first peer, and from the first host with no flow to `destination`."""
        others = [host for host in self.hosts if host is not destination and host.versions & destination.versions]
        peer = next((host for host in others if (host.name, destination.name) in self.related), None)
        stranger = next((host for host in others if (host.name, destination.name) not in self.related), None)
        for source in filter(None, (peer, stranger)):
            versions = sorted(source.versions & destination.versions)
            for transport in TRANSPORTS:
                port = self._undocumented_port(source, destination, transport)
                if port is None:
                    continue
                self.listening[destination.name][transport].add(port)
                probes = [(source, netns.Probe(source.address(version), destination.address(version), transport, port))
                          for version in versions]
                text = (f"{printable(source.name)} -> {printable(destination.name)}  "
                        f"{ports_text([port], transport, versions)}")
                self.closed.append(Check(CLOSED, text, False, probes))

    def _plan_loopback(self, host: LabHost) -> None:
        listening = self.listening[host.name]["tcp"]
        if not listening:
            return
        port = min(listening)
        probes = [(host, netns.Probe("", address, "tcp", port)) for address in ("127.0.0.1", "::1")]
        self.loopback.append(Check(LOOPBACK, f"loopback on {printable(host.name)}  {port}/tcp to 127.0.0.1 and ::1",
                                   True, probes))

    def checks(self) -> list[Check]:
        """In the order they are kept under the connection cap."""
        return [*self.flows, *self.loopback, *self.closed]


def built_policy(model: Model, folder: Path | None, scratch: Path) -> Path:
    """The folder of the .nft files: OUT/policy/out of a build, or one built now. Built
    here, every role gets its nftables file whatever its platform: a Windows role's
    netsh rules are the same terms, and only nftables can be loaded into this kernel."""
    if folder is not None:
        out = folder / "out"
        if not any(out.glob("*.nft")):
            raise UsageError(f"{out} holds no .nft file; build the policy with nftables first "
                             "(portbook build --formats policy --policy-platforms nftables --policy-every-role) "
                             "or leave out --policy")
        return out
    files = OutputFiles(scratch / "policy")
    try:
        output_module("policy").build(model, files, argparse.Namespace(policy_platforms=["nftables"], policy_every_role=True))
        files.commit()
    finally:
        files.discard()
    return scratch / "policy" / "out"


def run_lab(plan: Plan, files: dict[str, Path], max_probes: int) -> tuple[list[Check], list[Check]]:
    """Build the lab, run the checks within the cap; (checks run, checks left out)."""
    checks, count, kept = plan.checks(), 0, 0
    while kept < len(checks) and count + len(checks[kept].probes) <= max_probes:
        count += len(checks[kept].probes)
        kept += 1
    chosen, left_out = checks[:kept], checks[kept:]
    with netns.signals_end_the_run(), netns.Lab(f"pbv-{os.getpid()}") as lab:
        for host in plan.hosts:
            host.namespace = lab.add_host(host.addresses)
            for role in host.roles:
                if role in files:
                    lab.load(host.namespace, files[role])
        lab.listen_all({host.namespace: (ports["tcp"], ports["udp"]) for host in plan.hosts
                        if (ports := plan.listening[host.name])["tcp"] or ports["udp"]})
        batches: dict[str, list[netns.Probe]] = {}
        for check in chosen:
            for source, probe in check.probes:
                batches.setdefault(source.namespace, []).append(probe)
        answers = {namespace: iter(results) for namespace, results in lab.probe_all(batches).items()}
        for check in chosen:
            check.answers = [next(answers[source.namespace]) for source, _ in check.probes]
    return chosen, left_out


def run(args: argparse.Namespace) -> int:
    if missing := netns.missing_requirement():
        raise UsageError(f"verify {missing}")
    if args.max_probes < 1:
        raise UsageError("--max-probes must be at least 1")
    checked = load_and_check(args.data, args.registry)
    if not checked.ok:
        return report(checked, "text", False, sys.stderr)
    if checked.issues:
        sys.stderr.write(render_text(checked.issues))
    model = checked.model
    with tempfile.TemporaryDirectory(prefix="portbook-verify-") as scratch:
        folder = built_policy(model, args.policy, Path(scratch))
        files = policy_files(model, folder)
        if not files:
            raise UsageError(f"{folder} holds no nftables file for a role of this data")
        plan = Plan(model, lab_hosts(model), files)
        done, left_out = run_lab(plan, files, args.max_probes)
    for check in done:
        if check.kind == FLOW:
            print(check.line())
    for text in plan.not_probed:
        print(f"{'not probed':<11} {text}")
    for check in done:
        if check.kind != FLOW:
            print(check.line())
    for check in left_out:
        print(f"{'not probed':<11} {check.text}: over the cap of {args.max_probes} connections")
    return summary(plan, done, left_out, args.max_probes)


def summary(plan: Plan, done: list[Check], left_out: list[Check], max_probes: int) -> int:
    flows, closed, loopback = ([check for check in done if check.kind == kind] for kind in (FLOW, CLOSED, LOOPBACK))
    failed = [check for check in done if not check.held]
    print(f"summary: {sum(check.held for check in flows)} flow check(s) ok, "
          f"{sum(not check.held for check in flows)} failed, {len(plan.not_probed)} not probed; "
          f"{sum(check.held for check in closed)} undocumented port check(s) closed, "
          f"{sum(not check.held for check in closed)} open; loopback "
          f"{sum(check.held for check in loopback)} ok, {sum(not check.held for check in loopback)} failed; "
          f"{sum(len(check.probes) for check in done)} connection(s) in {len(plan.hosts)} host namespace(s)")
    if left_out:
        print(f"summary: {len(left_out)} check(s) not run, over the cap of {max_probes} connections; "
              f"raise --max-probes to run them")
    return 1 if failed or left_out else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify", help="prove the nftables policies in network namespaces before applying them",
        description="Build one network namespace per inventory host (linked to nothing outside them), load "
                    "each host's nftables policy, and try every documented flow, a sample of undocumented "
                    "ports and loopback with real sockets. Needs root, ip and nft. Exit 0: every check holds; "
                    "1: a documented flow fails, an undocumented port answers, checks were left out by the "
                    "connection cap, or the data has errors; 2: usage error, or verify cannot run here.")
    add_data_arguments(parser)
    parser.add_argument("--policy", type=Path, metavar="FOLDER",
                        help="a built policy folder (such as build/policy) whose out/*.nft files to verify "
                             "(default: build the policy from the data into a temporary folder)")
    parser.add_argument("--max-probes", type=int, default=MAX_PROBES, metavar="N",
                        help=f"most connections to try in one run (default: {MAX_PROBES})")
    parser.set_defaults(func=run)
