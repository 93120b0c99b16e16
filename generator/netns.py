"""Network namespaces on the running kernel, to prove a firewall policy with real sockets
before it is applied to any machine.

A `Lab` makes one namespace per host, each linked by a veth pair to one bridge that lives
in a namespace of its own. Nothing links a lab to the host's network: the addresses given
to the hosts (however they overlap the networks the machine itself uses) exist only
inside the lab's namespaces, and so does every packet sent. Each host gets its addresses
as /32 and /128 with an on-link default route, so that hosts of any subnets reach each
other across the bridge. Listeners and probes are short Python programs run with
`ip netns exec`. `Lab.close` kills what the lab started and deletes every namespace it
made; Ctrl-C and termination wait while it does so, and while a command makes a
namespace, so that none is left behind.
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import PortbookError

TIMEOUT = 1.0  # seconds a probe waits for its answer
COMMAND_TIMEOUT = 60  # seconds for one `ip` or `nft` command
# Signals that end a run; the lab is torn down before the process acts on them.
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Listens on every port given, over IPv4 and IPv6: answers "ok" on TCP and echoes UDP,
# so that a probe left without an answer can only have been stopped by the firewall.
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
            sock.listen(128)
        selector.register(sock, selectors.EVENT_READ, kind)
print("ready", flush=True)
while True:
    for key, _ in selector.select():
        try:
            if key.data == "tcp":
                connection, _ = key.fileobj.accept()
                connection.sendall(b"ok")
                connection.close()
            else:
                data, peer = key.fileobj.recvfrom(64)
                key.fileobj.sendto(data, peer)
        except OSError:
            pass
"""

# Sends every probe at once (a TCP connection, or one UDP datagram the listener echoes)
# from its source address, and waits at most the time-out for all the answers together;
# prints whether each probe got its answer.
PROBER = r"""
import json, selectors, socket, sys, time
probes, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
answered = [False] * len(probes)
selector = selectors.DefaultSelector()
for index, (source, destination, transport, port) in enumerate(probes):
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        if source:
            sock.bind((source, 0))
        if transport == "tcp":
            sock.connect_ex((destination, port))
        else:
            sock.connect((destination, port))
            sock.send(b"ping")
    except OSError:
        sock.close()
        continue
    selector.register(sock, selectors.EVENT_READ, (index, b"ok" if transport == "tcp" else b"ping"))
deadline = time.monotonic() + timeout
while selector.get_map() and (left := deadline - time.monotonic()) > 0:
    for key, _ in selector.select(left):
        index, expected = key.data
        try:
            data = key.fileobj.recv(16)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        answered[index] = data == expected
        selector.unregister(key.fileobj)
        key.fileobj.close()
print(json.dumps(answered))
"""


class LabError(PortbookError):
    """A command building or driving the namespaces failed."""


@dataclass(frozen=True)
class Probe:
    """One connection attempt: from `source` ('' lets the kernel choose) to a port."""

    source: str
    destination: str
    transport: str  # "tcp" or "udp"
    port: int


def missing_requirement() -> str:
    """Why namespaces cannot be made here, or '' when they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs the ip command (Debian package iproute2)"
    if shutil.which("nft") is None:
        return "needs the nft command (Debian package nftables)"
    return ""


@contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and termination wait until the block ends, and the commands it runs inherit
    that: a namespace is then made (or deleted) completely or not at all, never left
    half-made by a command killed in the middle."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def run(*command: str, commands: Iterable[str] = ()) -> str:
    """Run a command to completion, with `commands` as its standard input (for
    `ip -batch -`, which takes one command a line); its standard output, or a LabError
    with its message."""
    try:
        with signals_held():
            result = subprocess.run(command, input="".join(f"{line}\n" for line in commands),
                                    capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LabError(f"{' '.join(command)}: {error}") from None
    if result.returncode != 0:
        raise LabError(f"{' '.join(command)}: {result.stderr.strip() or f'exit status {result.returncode}'}")
    return result.stdout


def run_ip(namespace: str, commands: Iterable[str]) -> None:
    """`ip` commands inside a namespace, in one run of `ip`."""
    run("ip", "-n", namespace, "-batch", "-", commands=commands)


def lab_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a lab host uses for an inventory address: the address itself, or the
    first host address of a network."""
    network = ipaddress.ip_network(address, strict=False)
    if network.num_addresses <= 2:
        return network.network_address
    return next(network.hosts())


@contextmanager
def signals_end_the_run() -> Iterator[None]:
    """Termination and hang-up raise KeyboardInterrupt, as Ctrl-C does, so that the
    `finally` that closes a lab runs for them too."""
    def interrupt(number, frame):
        raise KeyboardInterrupt(signal.Signals(number).name)

    earlier = {number: signal.signal(number, interrupt) for number in ENDING_SIGNALS if number != signal.SIGINT}
    try:
        yield
    finally:
        for number, handler in earlier.items():
            signal.signal(number, handler)


class Lab:
    """Namespaces named `<prefix>-<n>` on one bridge, and the listeners started in them."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.switch = ""  # the namespace holding the bridge, once a host needs it
        self.namespaces: list[str] = []
        self.listeners: list[subprocess.Popen] = []

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def _make_namespace(self, suffix: str = "") -> str:
        namespace = f"{self.prefix}-{suffix or len(self.namespaces)}"
        self.namespaces.append(namespace)  # listed first: `close` deletes it however `ip` ends
        run("ip", "netns", "add", namespace)
        return namespace

    def add_namespace(self, suffix: str = "") -> str:
        """An empty namespace with its loopback up."""
        namespace = self._make_namespace(suffix)
        run_ip(namespace, ["link set lo up"])
        return namespace

    def _add_switch(self) -> None:
        self.switch = self.add_namespace("sw")
        # Without snooping the bridge floods multicast, which IPv6 neighbour discovery uses.
        run_ip(self.switch, ["link add br0 type bridge mcast_snooping 0", "link set br0 up"])

    def add_host(self, addresses: Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> str:
        """A namespace holding `addresses` on its link to the bridge."""
        if not self.switch:
            self._add_switch()
        namespace = self._make_namespace()
        port = f"p{len(self.namespaces)}"  # the host's end in the bridge's namespace
        run_ip(self.switch, [f"link add {port} type veth peer name eth0 netns {namespace}",
                             f"link set {port} master br0 up"])
        commands, versions = ["link set lo up"], set()
        for address in addresses:
            versions.add(address.version)
            commands.append(f"addr add {address}/32 dev eth0" if address.version == 4
                            else f"addr add {address}/128 dev eth0 nodad")
        commands.append("link set eth0 up")
        commands += [f"route add {'0.0.0.0/0' if version == 4 else '::/0'} dev eth0" for version in sorted(versions)]
        run_ip(namespace, commands)
        return namespace

    def load(self, namespace: str, path: Path) -> None:
        """Load an nftables file into the namespace, as `nft -f` on a host would."""
        run("ip", "netns", "exec", namespace, "nft", "-f", str(path))

    def ruleset(self, namespace: str) -> str:
        return run("ip", "netns", "exec", namespace, "nft", "list", "ruleset")

    def tables(self, namespace: str) -> list[tuple[str, str]]:
        """(family, name) of every nftables table in the namespace."""
        words = run("ip", "netns", "exec", namespace, "nft", "list", "tables").split()
        return list(zip(words[1::3], words[2::3]))

    def listen(self, namespace: str, tcp: Iterable[int], udp: Iterable[int]) -> None:
        """Start a listener on these ports, returning once it listens on all of them."""
        self.listen_all({namespace: (tcp, udp)})

    def listen_all(self, plans: dict[str, tuple[Iterable[int], Iterable[int]]]) -> None:
        """`listen` in several namespaces, the listeners starting side by side."""
        started = {}
        for namespace, (tcp, udp) in plans.items():
            with signals_held():  # so that no listener runs on untracked
                started[namespace] = process = subprocess.Popen(
                    ["ip", "netns", "exec", namespace, sys.executable, "-c", LISTENER,
                     ",".join(map(str, sorted(set(tcp)))), ",".join(map(str, sorted(set(udp))))],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.listeners.append(process)
        for namespace, process in started.items():
            if process.stdout.readline().strip() != "ready":
                process.kill()
                raise LabError(f"the listener in {namespace} did not start: {process.stderr.read().strip()}")

    def probe(self, namespace: str, probes: list[Probe], timeout: float = TIMEOUT) -> list[bool]:
        """Whether each probe, sent from inside the namespace, got its answer."""
        return self.probe_all({namespace: probes}, timeout)[namespace]

    def probe_all(self, plans: dict[str, list[Probe]], timeout: float = TIMEOUT) -> dict[str, list[bool]]:
        """`probe` for several namespaces at once, so that the time-outs run side by side."""
        started = {}
        try:
            for namespace, probes in plans.items():
                payload = json.dumps([[probe.source, probe.destination, probe.transport, probe.port] for probe in probes])
                with signals_held():
                    started[namespace] = subprocess.Popen(
                        ["ip", "netns", "exec", namespace, sys.executable, "-c", PROBER, payload, str(timeout)],
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            answers = {}
            for namespace, process in started.items():
                output, errors = process.communicate(timeout=COMMAND_TIMEOUT)
                if process.returncode != 0:
                    raise LabError(f"probing from {namespace} failed: {errors.strip()}")
                answers[namespace] = json.loads(output)
            return answers
        finally:
            for process in started.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()

    def close(self) -> None:
        """Stop the listeners and delete every namespace made, whatever state they are in."""
        with signals_held():
            for process in self.listeners:
                process.kill()
                process.wait(timeout=COMMAND_TIMEOUT)
                for stream in (process.stdout, process.stderr):
                    stream.close()
            self.listeners.clear()
            for namespace in reversed(self.namespaces):
                subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=COMMAND_TIMEOUT)
            self.namespaces.clear()
            self.switch = ""
