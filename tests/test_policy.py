"""Aerleon policies: the written files load in Aerleon, the rendered outputs allow exactly
the expressible inbound lines, nftables accepts them, and nothing from the data escapes
into platform syntax."""
from __future__ import annotations

import csv
import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from aerleon import api
from aerleon.lib import naming
from aerleon.lib import yaml as aerleon_yaml

from generator.cli import main
from generator.outputs import policy as policy_output
from generator.outputs.policy import nftables as policy_nftables, windows as policy_windows
from generator.pipeline import load_and_check
from generator.views import INBOUND, role_lines

from conftest import DATA, append_row, edit_row, read_rows, write_rows
from hostile import HOSTILE_TEXT

NETSH = "netsh advfirewall firewall add rule "
NETSH_DELETE = re.compile(r'netsh advfirewall firewall delete rule name="([A-Za-z0-9_.-]+)" dir=in')
# A quoted netsh value: none of the characters cmd.exe acts on inside quotes, no quote.
NETSH_ATOM = re.compile(r'([a-z]+)="([^"%&|^<>!\x00-\x1f]*)"')
SAFE_COMMENT = re.compile(r'^\s*comment "[A-Za-z0-9 .,:()/+_=-]*"$')


def build(data_dir: Path, out: Path, *extra: str) -> int:
    return main(["build", "--formats", "policy", "--data", str(data_dir), "--out", str(out), *extra])


def state_no_platform(data_dir: Path) -> None:
    """Leave every role's platform empty, as roles written before the column: each gets
    both the Windows Firewall script and the nftables file."""
    roles = data_dir / "dpm-2012r2" / "roles.csv"
    header, rows = read_rows(roles)
    write_rows(roles, header, [row | {"platform": ""} for row in rows])


@pytest.fixture
def data_dir(data_dir: Path) -> Path:
    """A copy of the shipped data whose roles state no platform, for the tests of what
    each platform's files hold; the tests of platforms set them."""
    state_no_platform(data_dir)
    return data_dir


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> Path:
    """build/policy of the shipped data with no platform stated, so that every role gets
    both platforms' files; built once for the read-only tests."""
    data = tmp_path_factory.mktemp("both") / "data"
    shutil.copytree(DATA, data)
    state_no_platform(data)
    out = tmp_path_factory.mktemp("build")
    assert build(data, out) == 0
    return out / "policy"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    """build/policy of the shipped data as it is."""
    out = tmp_path_factory.mktemp("shipped")
    assert build(DATA, out) == 0
    return out / "policy"


def networks(addresses) -> set:
    return {ipaddress.ip_network(address, strict=False) for address in addresses}


def expressible_inbound(model, role: str) -> list:
    """Inbound lines that a port-based term can carry: known transport and ports, and
    inventory addresses on both ends."""
    return [
        line for line in role_lines(model, role)
        if line.direction == INBOUND and line.flow.ports is not None and line.flow.transport in ("tcp", "udp")
        and model.hosts_of_role(role) and model.hosts_of_role(line.peer)
    ]


def term_groups(model, role: str) -> dict[tuple[str, str], list]:
    """The expressible inbound lines of a role by (peer role, transport), in order of
    first appearance: each group is one term, allowing its peers in on its ports."""
    groups: dict[tuple[str, str], list] = {}
    for line in expressible_inbound(model, role):
        groups.setdefault((line.peer, line.flow.transport), []).append(line)
    return groups


def term_names(model, role: str) -> list[str]:
    return [f"allow-{transport}-from-{peer}" for peer, transport in term_groups(model, role)]


def merged(intervals) -> list[tuple[int, int]]:
    """Port intervals merged where they overlap or touch: two lists allow the same ports
    exactly when their merged forms are equal."""
    result: list[list[int]] = []
    for first, last in sorted(intervals):
        if result and first <= result[-1][1] + 1:
            result[-1][1] = max(result[-1][1], last)
        else:
            result.append([first, last])
    return [tuple(item) for item in result]


def flow_ports(lines) -> list[tuple[int, int]]:
    return merged((line.flow.ports.first, line.flow.ports.last) for line in lines)


def parse_ports(text: str) -> list[tuple[int, int]]:
    """A netsh port list ('80,135,49152-65535') or an nftables one ('{ 80, 135 }')."""
    items = [item.strip() for item in text.strip("{} ").split(",")]
    pairs = [item.split("-") if "-" in item else (item, item) for item in items]
    return merged((int(first), int(last)) for first, last in pairs)


def parse_aerleon_netsh(text: str) -> list[dict[str, str]]:
    """Every rule of Aerleon's own netsh output (bare values, ':' comment lines)."""
    rules = []
    for line in text.splitlines():
        if line.startswith(NETSH):
            atoms = line[len(NETSH):].split()
            assert all(re.fullmatch(r"[a-z]+=[A-Za-z0-9_.,:/-]+", atom) for atom in atoms), line
            rules.append(dict(atom.split("=", 1) for atom in atoms))
        else:
            assert re.fullmatch(r"(:[A-Za-z0-9 .,:()/+_=$-]*)?", line), line
    return rules


def parse_netsh(text: str) -> list[dict[str, str]]:
    """Every rule a rendered batch file adds, as key -> value. The file is CRLF throughout;
    it first deletes every rule name it adds (inbound rules only), so running it twice
    leaves one copy; every value is quoted and free of what cmd.exe acts on; any other
    line is a `rem` line of inert characters, so an injected command cannot hide in between."""
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "") and "\r" not in text.replace("\r\n", "")
    deleted, rules = [], []
    for line in text.split("\r\n")[:-1]:
        if match := NETSH_DELETE.fullmatch(line):
            assert not rules, "every delete comes before the first add"
            deleted.append(match[1])
        elif line.startswith(NETSH):
            atoms = NETSH_ATOM.findall(line[len(NETSH):])
            assert " ".join(f'{key}="{value}"' for key, value in atoms) == line[len(NETSH):], line
            rules.append(dict(atoms))
        else:
            assert re.fullmatch(r"rem [A-Za-z0-9 .,:()/+_=;-]*", line), line
    assert deleted == list(dict.fromkeys(rule["name"] for rule in rules))
    return rules


def port_rules(rules: list[dict[str, str]]) -> list[dict[str, str]]:
    return [rule for rule in rules if not rule["name"].startswith("i_program-")]


# What a role's file adds to each of Aerleon's accept rules, so that the host table lets
# the packet through.
MARK = f"meta mark set meta mark | {policy_nftables.ACCEPTED_MARK:#010x} "
NFT_RULE = re.compile(r"(ip6?) saddr (\{[^}]*\}|\S+) \1 daddr (\{[^}]*\}|\S+) (tcp|udp) dport (\{[^}]*\}|\S+) "
                      rf"ct state new (?:{re.escape(MARK)})?accept")
HOST_TABLE = policy_nftables.HOST_TABLE


def nft_chains(text: str) -> dict[str, list[dict]]:
    """Every term chain of an nftables output with its accept rules, parsed, whether or not
    they set the mark; a line that is neither a rule, a comment nor chain syntax fails
    the test."""
    chains: dict[str, list[dict]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if match := re.fullmatch(r"chain (allow-[a-z0-9-]+) \{", line):
            current = chains.setdefault(match[1], [])
        elif re.fullmatch(r"chain (root\d+|input|clear-accepted) \{", line) or line == "}":
            current = None
        elif current is not None and not line.startswith("comment "):
            match = NFT_RULE.fullmatch(line)
            assert match, line
            family, sources, destinations, protocol, ports = match.groups()
            current.append({"family": family, "protocol": protocol, "ports": parse_ports(ports),
                            "sources": networks(sources.strip("{} ").split(", ")),
                            "destinations": networks(destinations.strip("{} ").split(", "))})
    return chains


def nft_check(*paths: Path) -> None:
    """`nft -c` accepts every file. It skips the test where nft is missing, so each test
    calls it last, after every assertion that needs no nft."""
    assert paths
    nft = shutil.which("nft")
    if nft is None:
        pytest.skip("nft is not installed (Debian package nftables)")
    for path in paths:
        result = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True)
        if result.returncode != 0 and re.search(r"Operation not permitted|netlink", result.stderr):
            # Without CAP_NET_ADMIN, nft -c still parses and checks inside a user namespace.
            result = subprocess.run(["unshare", "-rn", nft, "-c", "-f", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"nft -c -f {path.name}:\n{result.stderr}"


def test_written_policies_load_in_aerleon_and_render_to_the_shipped_outputs(both):
    model = load_and_check(DATA).model
    definitions = naming.Naming(naming_dir=str(both / "def"))
    policies = sorted((both / "policies" / "pol").glob("*.yaml"))
    assert [p.stem for p in policies] == sorted(r.id for r in model.roles if expressible_inbound(model, r.id))
    for path in policies:
        parsed = aerleon_yaml.ParseFile(path.name, base_dir=str(path.parent), definitions=definitions)
        terms = [term for _, filter_terms in parsed.filters for term in filter_terms]
        groups = term_groups(model, path.stem)
        assert [term.name for term in terms] == term_names(model, path.stem)
        assert all(term.action == ["accept"] for term in terms)
        for term, ((peer, transport), lines) in zip(terms, groups.items()):
            assert term.protocol == [transport]
            assert merged(term.destination_port) == flow_ports(lines)
            assert networks(term.source_address) == networks(h.address for h in model.hosts_of_role(peer))
            assert networks(term.destination_address) == networks(h.address for h in model.hosts_of_role(path.stem))
        # Rendering the files as a user would gives the rules shipped beside them.
        document = {"filename": path.stem, **yaml.safe_load(path.read_text(encoding="utf-8"))}
        rendered = api.Generate([document], definitions)
        assert set(rendered) == {f"{path.stem}.bat", f"{path.stem}.nft"}
        assert_same_rules(both / "out", path.stem, rendered)


def test_aerleon_renders_the_same_files_whatever_the_services_comments_say(both, tmp_path):
    # The digest of what a role's rendered files are made from leaves the services'
    # comments out (policy.rendered_from), so that a purpose edit renders nothing again.
    shutil.copytree(both / "def", tmp_path / "def")
    services_file = tmp_path / "def" / "services.yaml"
    services = yaml.safe_load(services_file.read_text(encoding="utf-8"))
    for entries in services["services"].values():
        for entry in entries:
            entry["comment"] = "another comment altogether"
    services_file.write_text(yaml.safe_dump(services), encoding="utf-8")
    shipped_definitions = naming.Naming(naming_dir=str(both / "def"))
    other_definitions = naming.Naming(naming_dir=str(tmp_path / "def"))
    policies = sorted((both / "policies" / "pol").glob("*.yaml"))
    assert policies
    for path in policies:
        document = {"filename": path.stem, **yaml.safe_load(path.read_text(encoding="utf-8"))}
        rendered = api.Generate([document], shipped_definitions)
        assert rendered and "another comment altogether" not in "".join(rendered.values())
        assert api.Generate([document], other_definitions) == rendered


def distinct(items: list) -> list:
    return [item for index, item in enumerate(items) if item not in items[:index]]


def assert_same_rules(out: Path, stem: str, rendered: dict[str, str]) -> None:
    """The shipped outputs of a role carry exactly the rules Aerleon rendered: the same term
    chains (Aerleon repeats each rule of a dual-stack chain; one copy is kept) and the same
    netsh rules, beside the program rules Aerleon cannot write."""
    shipped_nft = nft_chains((out / f"{stem}.nft").read_text(encoding="utf-8"))
    aerleon_nft = nft_chains(rendered[f"{stem}.nft"])
    assert shipped_nft == {name: distinct(rules) for name, rules in aerleon_nft.items()}
    shipped_bat = (out / f"{stem}.bat").read_bytes().decode("utf-8")
    assert port_rules(parse_netsh(shipped_bat)) == parse_aerleon_netsh(rendered[f"{stem}.bat"])


def test_aerleon_command_line_renders_the_folder_to_the_same_outputs(both, tmp_path):
    # The folder is a repository Aerleon's own aclgen works in with its default layout.
    result = subprocess.run([sys.executable, "-m", "aerleon", "--output_directory", str(tmp_path)],
                            cwd=both, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rendered = sorted(path.name for path in tmp_path.iterdir())
    assert rendered == sorted(path.name for path in (both / "out").iterdir())
    for stem in {Path(name).stem for name in rendered}:
        assert_same_rules(both / "out", stem, {
            name: (tmp_path / name).read_text(encoding="utf-8") for name in (f"{stem}.nft", f"{stem}.bat")})


def test_windows_rules_allow_each_expressible_inbound_line(both):
    model = load_and_check(DATA).model
    roles = [path.stem for path in (both / "out").glob("*.bat")]
    assert {"dpm-server", "protected-computer", "sql-server"} <= set(roles)
    for role in roles:
        rules = port_rules(parse_netsh((both / "out" / f"{role}.bat").read_bytes().decode("utf-8")))
        by_name: dict[str, list[dict]] = {}
        for rule in rules:
            assert (rule["dir"], rule["action"], rule["enable"]) == ("in", "allow", "yes")
            by_name.setdefault(rule["name"], []).append(rule)
        groups = term_groups(model, role)
        assert sorted(by_name) == sorted(f"i_{name}" for name in term_names(model, role))
        local = networks(host.address for host in model.hosts_of_role(role))
        for (peer, transport), lines in groups.items():
            found = by_name[f"i_allow-{transport}-from-{peer}"]
            # Aerleon writes one rule per local address, each with every remote address.
            assert networks(rule["localip"] for rule in found) == local
            for rule in found:
                # Exactly the ports of the peer's flows over this transport, from exactly its hosts.
                assert rule["protocol"] == transport
                assert parse_ports(rule["localport"]) == flow_ports(lines)
                assert networks(rule["remoteip"].split(",")) == networks(h.address for h in model.hosts_of_role(peer))


def test_nftables_outputs_pass_nft_check_and_drop_by_default(both):
    model = load_and_check(DATA).model
    outputs = sorted((both / "out").glob("*.nft"))
    assert [path.stem for path in outputs] == sorted(path.stem for path in (both / "policies" / "pol").glob("*.yaml"))
    tables, hosts = set(), set()
    for path in outputs:
        text = path.read_text(encoding="utf-8")
        # One dual-stack table per role, and the host table every role file shares, each
        # replaced as a whole when the file is loaded again.
        table = "portbook_" + path.stem.replace("-", "_")
        tables.add(table)
        assert f"\ntable inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{\n" in text
        assert re.findall(r"^(?:delete )?table .*$", text, re.MULTILINE) == [
            f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{",
            f"table inet {HOST_TABLE} {{}}", f"delete table inet {HOST_TABLE}", f"table inet {HOST_TABLE} {{"]
        # The host table is the same in every role file, whichever loads last.
        host = text[text.index(f"table inet {HOST_TABLE} {{}}"):]
        hosts.add(host)
        # Only the input hook drops, and only in the host table: it clears the mark before
        # the role table, where every accept sets it, and decides after.
        assert re.findall(r"type filter hook .*", text) == [
            "type filter hook input priority 0; policy accept;", "type filter hook input priority -10; policy accept;",
            "type filter hook input priority 10; policy drop;"]
        assert "drop" not in text[:text.index(host)]
        assert "meta mark set meta mark & 0xfeffffff\n" in host
        # Loopback, replies and the ICMP a host needs first, then what a role table marked.
        base = host[host.index("    chain input {"):]
        assert base.index('iif "lo" accept') < base.index("ct state established,related accept") < base.index(
            "meta mark & 0x01000000 == 0x01000000 accept")
        assert text.count("ct state new accept") == 0 and text.count(f"ct state new {MARK}accept") == len(
            [line for line in text.splitlines() if line.startswith("        ip")])
        for icmp_type in ("nd-neighbor-solicit", "nd-neighbor-advert", "nd-router-solicit", "nd-router-advert",
                          "packet-too-big", "time-exceeded", "echo-request"):
            assert re.search(rf"icmpv6 type {{[^}}]*\b{icmp_type}\b[^}}]*}} accept", base), icmp_type
        assert "icmp type destination-unreachable icmp code frag-needed accept" in base
        assert re.search(r"icmp type \{ echo-request, time-exceeded \} accept", base)
        chains = nft_chains(text)
        groups = term_groups(model, path.stem)
        assert list(chains) == term_names(model, path.stem)
        for (peer, transport), lines in groups.items():
            [rule] = chains[f"allow-{transport}-from-{peer}"]
            assert rule == {
                "family": "ip", "protocol": transport, "ports": flow_ports(lines),  # IPv4-only inventory
                "sources": networks(h.address for h in model.hosts_of_role(peer)),
                "destinations": networks(h.address for h in model.hosts_of_role(path.stem)),
            }
        # Each term names the flows it carries.
        for peer, transport in groups:
            assert f'comment "{transport} from role {peer}, ' in text
    assert len(tables) == len(outputs) and len(hosts) == 1
    sql = (both / "out" / "sql-server.nft").read_text(encoding="utf-8")
    assert re.search(r'comment "tcp from role dpm-server, 5 flows: sql-engine-default, sql-named-instance, ', sql)
    nft_check(*outputs)
    # Every role's file together on one host: separate tables, nothing merges.
    together = Path(both.parent / "together.nft")
    together.write_text("".join(path.read_text(encoding="utf-8") for path in outputs), encoding="utf-8")
    nft_check(together)


def test_windows_program_exceptions_name_the_program(both):
    model = load_and_check(DATA).model
    flows = {flow.id: flow for flow in model.flows}
    expected = {
        "dpm-server": {"i_program-dpm-service-program": ("Msdpm.exe", "protected-computer"),
                       "i_program-replication-agent-program": ("Dpmra.exe", "protected-computer")},
        "protected-computer": {"i_program-replication-agent-program": ("Dpmra.exe", "dpm-server")},
    }
    for role, programs in expected.items():
        rules = parse_netsh((both / "out" / f"{role}.bat").read_bytes().decode("utf-8"))
        found = {rule["name"]: rule for rule in rules if rule["name"].startswith("i_program-")}
        assert set(found) == set(programs)
        for name, (program, peer) in programs.items():
            rule = found[name]
            assert flows[name.removeprefix("i_program-")].program == program
            assert (rule["program"], rule["protocol"], rule["dir"], rule["action"]) == (program, "any", "in", "allow")
            assert networks(rule["remoteip"].split(",")) == networks(h.address for h in model.hosts_of_role(peer))
            assert networks(rule["localip"].split(",")) == networks(h.address for h in model.hosts_of_role(role))
            assert rule["description"].startswith(f"flow {name.removeprefix('i_program-')} - program {program} - ")
    # nftables cannot match a program: the listing says so, and that Windows has the rule.
    listing = (both / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    assert ("- `dpm-server` `dpm-service-program`: every protocol and port for program Msdpm.exe: Aerleon terms match "
            "ports, not programs, and opening every port would be wider than the rule (nftables only: the Windows "
            "Firewall script allows the program as rule i_program-dpm-service-program)") in listing


def test_host_defaults_follow_the_settings(data_dir, tmp_path):
    settings = data_dir / "portbook.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n[policy]\naccept_loopback = false\n"
                        "accept_established = false\naccept_icmp = false\n", encoding="utf-8")
    assert build(data_dir, tmp_path) == 0
    text = (tmp_path / "policy" / "out" / "dpm-server.nft").read_text(encoding="utf-8")
    base = text[text.index(f"table inet {HOST_TABLE} {{\n"):]
    base = base[base.index("    chain input {"):]
    assert [line.strip() for line in base.splitlines()[1:5]] == [
        'comment "Host defaults, then what a role table accepted, and the rest is dropped"',
        "type filter hook input priority 10; policy drop;", "meta mark & 0x01000000 == 0x01000000 accept", "}"]
    nft_check(tmp_path / "policy" / "out" / "dpm-server.nft")


@pytest.mark.parametrize("value", ["1", '"yes"', "[true]"])
def test_host_default_of_the_wrong_type_is_a_located_error(data_dir, tmp_path, capsys, value):
    settings = data_dir / "portbook.toml"
    text = settings.read_text(encoding="utf-8") + f"\n[policy]\naccept_icmp = true\n  accept_loopback = {value}\n"
    settings.write_text(text, encoding="utf-8")
    assert build(data_dir, tmp_path / "out") == 1
    line = text.splitlines().index(f"  accept_loopback = {value}") + 1
    assert capsys.readouterr().err.startswith(
        f"error: {settings}:{line}:3: L009 [policy] accept_loopback must be true or false, not ")
    assert not (tmp_path / "out" / "policy").exists()  # nothing published


def test_each_term_lists_one_service_per_flow_and_each_service_describes_its_flow(both):
    model = load_and_check(DATA).model
    services = yaml.safe_load((both / "def" / "services.yaml").read_text(encoding="utf-8"))["services"]
    flows = {flow.id: flow for flow in model.flows}
    for path in sorted((both / "policies" / "pol").glob("*.yaml")):
        terms = yaml.safe_load(path.read_text(encoding="utf-8"))["filters"][0]["terms"]
        expected = [[policy_output.token(line.flow.id) for line in lines] for lines in term_groups(model, path.stem).values()]
        assert [term["destination-port"] for term in terms] == expected
    for name, [service] in services.items():
        flow = next(flow for flow_id, flow in flows.items() if policy_output.token(flow_id) == name)
        assert (str(service["port"]), service["protocol"]) == (str(flow.ports), flow.transport)
        assert service["comment"].startswith(f"flow {flow.id} - ")
    # The program a flow names has no port-based equivalent; it travels in the comment.
    assert services["SQL_ENGINE_DEFAULT"][0]["comment"].startswith("flow sql-engine-default - program sqlservr.exe - ")


def test_every_skipped_line_is_listed_with_its_reason(both, data_dir, tmp_path, capsys):
    listing = (both / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    skipped = re.findall(r"^- `([a-z0-9._-]+)` `([a-z0-9._-]+)`: (.+)$", listing, re.MULTILINE)
    model = load_and_check(DATA).model
    every_port = [(role.id, line.flow.id) for role in model.roles for line in role_lines(model, role.id)
                  if line.direction == INBOUND and line.flow.ports is None]
    assert ("dpm-server", "dpm-service-program") in every_port
    assert [(role, flow) for role, flow, _ in skipped] == every_port
    assert all("every protocol and port for program" in reason for _, _, reason in skipped)
    assert "- `ops-manager`: no flow is inbound to this role" in listing
    # The same lines reach the user as notes of the build.
    assert build(data_dir, tmp_path) == 0
    notes = capsys.readouterr().err
    for role, flow, reason in skipped:
        assert f"policy: no term for role {role}, flow {flow}: {reason}" in notes


def test_role_without_addresses_gets_no_policy_and_its_lines_are_listed(data_dir, tmp_path):
    inventory = data_dir / "inventory.csv"
    header, hosts = read_rows(inventory)
    write_rows(inventory, header, [h for h in hosts if h["role"] not in ("sql-server", "ops-manager")])
    assert build(data_dir, tmp_path) == 0
    folder = tmp_path / "policy"
    assert not (folder / "policies" / "pol" / "sql-server.yaml").exists()
    assert not list((folder / "out").glob("sql-server.*"))
    listing = (folder / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    assert "- `sql-server` `sql-engine-default`: role sql-server has no addresses in the inventory" in listing
    assert "- `dpm-server` `central-console`: peer role ops-manager has no addresses in the inventory" in listing
    assert "- `sql-server`: none of its inbound flows can be expressed" in listing
    networks_file = yaml.safe_load((folder / "def" / "networks.yaml").read_text(encoding="utf-8"))
    assert "SQL_SERVER" not in networks_file["networks"]
    dpm = parse_netsh((folder / "out" / "dpm-server.bat").read_bytes().decode("utf-8"))
    assert "i_allow-tcp-from-ops-manager" not in {rule["name"] for rule in dpm}
    assert not any("203.0.113.15" in rule["remoteip"] for rule in dpm)
    nft_check(folder / "out" / "dpm-server.nft")


def test_hostile_text_comes_out_inert(data_dir, tmp_path):
    flows = data_dir / "dpm-2012r2" / "flows.csv"
    header, rows = read_rows(flows)
    for index, row in enumerate(rows):
        row["purpose"] = HOSTILE_TEXT[index % len(HOSTILE_TEXT)]
        row["rule"] = HOSTILE_TEXT[(index + 7) % len(HOSTILE_TEXT)]
        if row["program"]:
            row["program"] = HOSTILE_TEXT[(index + 13) % len(HOSTILE_TEXT)]
    with flows.open("w", newline="", encoding="utf-8") as handle:
        # Quote every cell so that a bare carriage return stays inside its field.
        writer = csv.DictWriter(handle, fieldnames=header, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    # Errata pin the corrected values of some cells; they do not apply to rewritten text.
    errata = data_dir / "dpm-2012r2" / "errata.csv"
    write_rows(errata, read_rows(errata)[0], [])
    roles = data_dir / "dpm-2012r2" / "roles.csv"
    edit_row(roles, "id", "dpm-server", name="DPM \"server\";\n} chain x { accept")
    edit_row(roles, "id", "domain-controller", platform="unmanaged")
    assert build(data_dir, tmp_path) == 0

    folder = tmp_path / "policy"
    model = load_and_check(data_dir).model
    nft_outputs = sorted((folder / "out").glob("*.nft"))
    assert folder / "out" / "domain-controller.allow.nft" in nft_outputs
    for path in nft_outputs:
        role = path.name.split(".")[0]
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "comment" in line:
                assert SAFE_COMMENT.match(line), line
        # Each term is one chain holding one accept rule per address family it uses:
        # no text was split into extra statements.
        chains = re.findall(r"^    chain (allow-[a-z0-9-]+) \{$", text, re.MULTILINE)
        assert chains == term_names(model, role)
        assert text.count("ct state new ") == len(chains)
        assert all(len(rules) == 1 for rules in nft_chains(text).values())
    for path in sorted((folder / "out").glob("*.bat")):
        rules = parse_netsh(path.read_bytes().decode("utf-8"))
        names = {rule["name"] for rule in port_rules(rules)}
        assert names == {f"i_{name}" for name in term_names(model, path.stem)}
        # A program name is written only where it is one inert value; it is never altered.
        programs = {flow.program for flow in model.flows if flow.program}
        assert all(rule["program"] in programs for rule in rules if "program" in rule)
    # A program name netsh cannot carry as one value gets no rule, and the listing says why.
    unwritable = [flow for flow in model.flows
                  if flow.program and flow.ports is None and not policy_windows.writable(flow.program)]
    assert unwritable
    skipped_listing = (folder / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    for flow in unwritable:
        assert re.search(rf"`{re.escape(flow.id)}`: .*program name has characters a netsh command cannot carry",
                         skipped_listing)
    for path in sorted(folder.rglob("*.yaml")):
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        for filter_ in loaded.get("filters", []):
            for term in filter_["terms"]:
                assert re.fullmatch(r"[A-Za-z0-9 .,:()/+_=-]*", term["comment"]), term["comment"]
    listing = (folder / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    items = [line for line in listing.splitlines() if line.startswith("- ")]
    assert len(items) >= 3
    for line in items:
        assert re.fullmatch(r"- [A-Za-z0-9 `.,:()/+_=-]*", line), line
    tokens = [t for block in MarkdownIt().parse(listing) for t in [block, *(block.children or [])]]
    assert not {t.type for t in tokens} & {"html_inline", "html_block", "link_open", "image"}
    assert len(allow_list_items((folder / "out" / "domain-controller.allow.md").read_text(encoding="utf-8"))) > 10
    nft_check(*nft_outputs)


@pytest.mark.parametrize("text", HOSTILE_TEXT + ['a" & del x', "50%", "C:\\Tools\\", "x^y", "a|b", "<in", "ok.exe"])
def test_netsh_values_are_quoted_only_when_inert(text):
    if policy_windows.writable(text):
        value = policy_windows.quoted(text)
        assert NETSH_ATOM.fullmatch(f"program={value}") and value == f'"{text}"' and not text.endswith("\\")
    else:
        with pytest.raises(ValueError):
            policy_windows.quoted(text)
    assert not policy_windows.writable('a" & del x')
    assert policy_windows.writable("C:\\Program Files (x86)\\Tool\\tool.exe")


@pytest.mark.parametrize("role", ["dpm-server", "9lives", "a.b", "web_tier", "a-b_c.d", "x" * 64])
def test_table_names_are_nftables_identifiers(role):
    name = policy_nftables.table_name(role)
    assert re.fullmatch(r"[a-z][a-z0-9._-]*", name) and len(name) <= policy_nftables.NAME_LIMIT
    assert name != HOST_TABLE


def test_every_role_id_has_a_table_of_its_own():
    # Ids that differ only in '.', '_' and '-'; ids with '-' alone keep their old names.
    roles = ["web.tier", "web_tier", "web-tier", "web--tier", "web-_tier", "web_-tier", "web.-tier"]
    names = [policy_nftables.table_name(role) for role in roles]
    assert len(set(names)) == len(roles)
    assert policy_nftables.table_name("dpm-server") == "portbook_dpm_server"
    assert policy_nftables.table_name("web.tier") == "portbook_web.tier"


def test_role_ids_that_differ_in_dot_and_underscore_get_files_and_tables_of_their_own(data_dir, tmp_path):
    for number, role in enumerate(("web.tier", "web_tier"), start=1):
        append_row(data_dir / "dpm-2012r2" / "roles.csv", id=role, name=f"Web tier {number}", description="Serves.")
        append_row(data_dir / "inventory.csv", role=role, host=f"web0{number}", address=f"192.0.2.{80 + number}")
        append_row(data_dir / "dpm-2012r2" / "flows.csv", id=f"web-https-{number}", transport="tcp",
                   port=str(8440 + number), source="dpm-server", destination=role, direction="one-way",
                   purpose="Pages over TLS.", reference="ports")
    assert build(data_dir, tmp_path) == 0
    folder = tmp_path / "policy"
    # Files are named after the role id itself, as the site looks them up, and as
    # Aerleon's aclgen renders policies/pol/<role>.yaml.
    for number, role in enumerate(("web.tier", "web_tier"), start=1):
        assert (folder / "policies" / "pol" / f"{role}.yaml").is_file()
        text = (folder / "out" / f"{role}.nft").read_text(encoding="utf-8")
        assert f"table inet {policy_nftables.table_name(role)} {{\n" in text
        assert f"tcp dport {8440 + number} " in text and f"tcp dport {8441 if number == 2 else 8442} " not in text
        assert parse_ports(parse_netsh((folder / "out" / f"{role}.bat").read_bytes().decode("utf-8"))[0]["localport"]) \
            == [(8440 + number, 8440 + number)]
    rendered = tmp_path / "aclgen"
    result = subprocess.run([sys.executable, "-m", "aerleon", "--output_directory", str(rendered)],
                            cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert {"web.tier.nft", "web.tier.bat", "web_tier.nft", "web_tier.bat"} <= {path.name for path in rendered.iterdir()}
    nft_check(folder / "out" / "web.tier.nft", folder / "out" / "web_tier.nft")


def test_a_rule_that_is_not_an_accept_is_refused():
    aerleon = "\n".join(["table inet filtering_policies {", "    chain allow-tcp-from-a {",
                         "        ip saddr 192.0.2.1/32 tcp dport 22 drop", "    }", "    chain root0 {",
                         "        jump allow-tcp-from-a", "    }", "}"])
    with pytest.raises(ValueError, match="unexpected Aerleon nftables rule"):
        policy_nftables.nftables_file(aerleon, "portbook_a", "a", "a", policy_nftables.HostDefaults())


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_safe_comment_keeps_one_line_of_inert_characters(text):
    comment = policy_output.safe_comment(text * 20)
    assert re.fullmatch(r"[A-Za-z0-9 .,:()/+_=-]*", comment)
    assert len(comment) <= policy_output.COMMENT_LIMIT


def test_platforms_from_option_and_settings(data_dir, tmp_path, capsys):
    assert build(data_dir, tmp_path / "a", "--policy-platforms", "nftables") == 0
    out = tmp_path / "a" / "policy"
    assert {p.suffix for p in (out / "out").iterdir()} == {".nft"}
    targets = yaml.safe_load((out / "policies" / "pol" / "dpm-server.yaml").read_text(encoding="utf-8"))["filters"][0]["header"]["targets"]
    assert targets == {"nftables": "mixed input"}

    with pytest.raises(SystemExit) as exit_info:
        build(data_dir, tmp_path / "b", "--policy-platforms", "nftables,cisco-typo")
    assert exit_info.value.code == 2
    assert "unknown platform(s) cisco-typo" in capsys.readouterr().err

    settings = data_dir / "portbook.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + '\n[policy]\nplatforms = ["windows_advfirewall", "junos-typo"]\n', encoding="utf-8")
    assert build(data_dir, tmp_path / "c") == 0
    assert "'junos-typo' is not supported and is not rendered" in capsys.readouterr().err
    assert {p.suffix for p in (tmp_path / "c" / "policy" / "out").iterdir()} == {".bat"}


@pytest.mark.parametrize("value", ["5", "true", '["nftables", 5]', '{ name = "nftables" }'])
def test_platforms_setting_of_the_wrong_type_is_a_located_error(data_dir, tmp_path, capsys, value):
    settings = data_dir / "portbook.toml"
    text = settings.read_text(encoding="utf-8") + f"\n[policy]\nplatforms = {value}\n"
    settings.write_text(text, encoding="utf-8")
    assert build(data_dir, tmp_path / "out") == 1
    message = capsys.readouterr().err
    line = text.splitlines().index(f"platforms = {value}") + 1
    assert message.startswith(f"error: {settings}:{line}:1: L009 [policy] platforms must be a list")
    assert not (tmp_path / "out" / "policy").exists()  # nothing published


def test_second_dataset_and_ipv6_addresses_flow_into_the_policies(data_dir, tmp_path):
    web = data_dir / "web"
    web.mkdir()
    (web / "dataset.toml").write_text(
        'id = "web"\ntitle = "Example web tier"\nshort_title = "Web"\nversion = "1"\n\n'
        '[source]\ntitle = "Example"\npublisher = "Example"\ndocument_id = "web-1"\n\n'
        '[sections.ports]\ntitle = "Ports"\nanchor = ""\n', encoding="utf-8")
    (web / "roles.csv").write_text(
        "id,name,description\nweb-server,Web server,Serves pages.\nweb-client,Web client,Reads pages.\n", encoding="utf-8")
    shutil.copy(data_dir / "dpm-2012r2" / "errata.csv", web / "errata.csv")
    header, _ = read_rows(data_dir / "dpm-2012r2" / "flows.csv")
    write_rows(web / "flows.csv", header, [{name: "" for name in header} | {
        "id": "web-https", "transport": "tcp", "port": "443", "source": "web-client", "destination": "web-server",
        "direction": "one-way", "purpose": "Pages over TLS.", "reference": "ports"}])
    errata_header, _ = read_rows(web / "errata.csv")
    write_rows(web / "errata.csv", errata_header, [])
    inventory = data_dir / "inventory.csv"
    append_row(inventory, role="web-server", host="www1", address="2001:db8::80")
    append_row(inventory, role="web-client", host="lan6", address="2001:db8:1::/64")
    append_row(inventory, role="web-client", host="lan4", address="192.0.2.128/25")
    append_row(inventory, role="dpm-server", host="dpm01-v6", address="2001:db8::10")
    append_row(inventory, role="ops-manager", host="scom01-v6", address="2001:db8::15")

    assert build(data_dir, tmp_path) == 0, "the second dataset must load"
    folder = tmp_path / "policy"
    web_policy = yaml.safe_load((folder / "policies" / "pol" / "web-server.yaml").read_text(encoding="utf-8"))
    assert web_policy["filters"][0]["header"]["targets"]["nftables"] == "mixed input"
    web_nft = (folder / "out" / "web-server.nft").read_text(encoding="utf-8")
    assert f"ip6 saddr 2001:db8:1::/64 ip6 daddr 2001:db8::80/128 tcp dport 443 ct state new {MARK}accept" in web_nft
    assert "192.0.2.128" not in web_nft  # the IPv4 clients have no IPv4 server to reach
    assert "table inet portbook_web_server {" in web_nft
    [rule] = parse_netsh((folder / "out" / "web-server.bat").read_bytes().decode("utf-8"))
    assert (rule["name"], rule["localport"], rule["localip"]) == ("i_allow-tcp-from-web-client", "443", "2001:db8::80/128")
    # A role reached over both IP versions gets a dual-stack nftables table; only the
    # peer with an IPv6 address is allowed in over IPv6.
    dpm = yaml.safe_load((folder / "policies" / "pol" / "dpm-server.yaml").read_text(encoding="utf-8"))
    assert dpm["filters"][0]["header"]["targets"]["nftables"] == "mixed input"
    dpm_nft = (folder / "out" / "dpm-server.nft").read_text(encoding="utf-8")
    ip6_rules = {line.strip() for line in dpm_nft.splitlines() if line.strip().startswith("ip6 ")}
    assert ip6_rules == {f"ip6 saddr 2001:db8::15/128 ip6 daddr 2001:db8::10/128 tcp dport 6075 ct state new {MARK}accept"}
    # Every IPv6 address of the Windows rules has its nftables rule: none is dropped silently.
    for name in ("web-server", "dpm-server"):
        nft_text = (folder / "out" / f"{name}.nft").read_text(encoding="utf-8")
        for rule in port_rules(parse_netsh((folder / "out" / f"{name}.bat").read_bytes().decode("utf-8"))):
            if ":" in rule["localip"]:
                assert rule["localip"] in nft_text
    # Addresses no rule can carry are listed, and reported.
    listing = (folder / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    gaps = listing.split("## Addresses without a rule")[1].split("##")[0]
    assert ("- role web-server, peer role web-client: the IPv4 addresses of role web-client get no rule, "
            "role web-server has no IPv4 address") in gaps
    assert ("- role dpm-server, peer role protected-computer: the IPv6 addresses of role dpm-server get no rule, "
            "role protected-computer has no IPv6 address") in gaps
    nft_check(folder / "out" / "web-server.nft", folder / "out" / "dpm-server.nft")


def test_flows_from_one_peer_share_a_term_that_allows_exactly_their_ports(data_dir, tmp_path):
    flows = data_dir / "dpm-2012r2" / "flows.csv"
    base = {"transport": "tcp", "source": "ops-manager", "destination": "dpm-server", "direction": "one-way",
            "purpose": "Console traffic.", "reference": "ports"}
    # The same port again, a range touching it, one overlapping it, a disjoint one, and UDP.
    append_row(flows, id="console-again", port="6075", **base)
    append_row(flows, id="console-touching", port="6075-6080", **base)
    append_row(flows, id="console-overlap", port="6070-6076", **base)
    append_row(flows, id="console-far", port="7000", **base)
    append_row(flows, id="console-udp", **base | {"transport": "udp", "port": "6075"})
    # A flow between two hosts of one role gives that role's term its own hosts as peers.
    append_row(flows, id="agent-peer", port="5720", **base | {"source": "protected-computer", "destination": "protected-computer", "direction": "both"})
    assert build(data_dir, tmp_path) == 0
    folder = tmp_path / "policy"
    model = load_and_check(data_dir).model

    dpm = nft_chains((folder / "out" / "dpm-server.nft").read_text(encoding="utf-8"))
    [tcp] = dpm["allow-tcp-from-ops-manager"]
    assert tcp["ports"] == [(6070, 6080), (7000, 7000)]
    assert tcp["sources"] == networks(["203.0.113.15"])
    [udp] = dpm["allow-udp-from-ops-manager"]
    assert udp["ports"] == [(6075, 6075)]
    agents = nft_chains((folder / "out" / "protected-computer.nft").read_text(encoding="utf-8"))
    [own] = agents["allow-tcp-from-protected-computer"]
    assert own["ports"] == [(5720, 5720)] and own["sources"] == own["destinations"]
    # The flow appears once among its term's services although it gives two inbound lines.
    policy = yaml.safe_load((folder / "policies" / "pol" / "protected-computer.yaml").read_text(encoding="utf-8"))
    [term] = [t for t in policy["filters"][0]["terms"] if t["name"] == "allow-tcp-from-protected-computer"]
    assert term["destination-port"] == ["AGENT_PEER"]
    assert "1 flow: agent-peer" in term["comment"]

    rules = parse_netsh((folder / "out" / "dpm-server.bat").read_bytes().decode("utf-8"))
    by_name = {rule["name"]: rule for rule in rules}
    assert parse_ports(by_name["i_allow-tcp-from-ops-manager"]["localport"]) == [(6070, 6080), (7000, 7000)]
    for role in ("dpm-server", "protected-computer"):
        for (peer, transport), lines in term_groups(model, role).items():
            chain = nft_chains((folder / "out" / f"{role}.nft").read_text(encoding="utf-8"))[f"allow-{transport}-from-{peer}"]
            assert [rule["ports"] for rule in chain] == [flow_ports(lines)]
    nft_check(folder / "out" / "dpm-server.nft", folder / "out" / "protected-computer.nft")


def test_a_peer_with_many_flows_gets_several_terms_that_together_allow_its_ports(data_dir, tmp_path):
    flows = data_dir / "dpm-2012r2" / "flows.csv"
    header, rows = read_rows(flows)
    extra = policy_output.FLOWS_PER_TERM + 6
    rows += [{name: "" for name in header} | {
        "id": f"console-{number}", "transport": "tcp", "port": str(7000 + 2 * number), "source": "ops-manager",
        "destination": "dpm-server", "direction": "one-way", "purpose": "Console traffic.", "reference": "ports"}
        for number in range(extra)]
    write_rows(flows, header, rows)
    assert build(data_dir, tmp_path) == 0
    folder = tmp_path / "policy"
    model = load_and_check(data_dir).model
    lines = term_groups(model, "dpm-server")[("ops-manager", "tcp")]
    assert len(lines) == extra + 1  # with central-console

    chains = nft_chains((folder / "out" / "dpm-server.nft").read_text(encoding="utf-8"))
    names = ["allow-tcp-from-ops-manager", "allow-tcp-from-ops-manager-2"]
    assert [name for name in chains if "ops-manager" in name] == names
    assert merged(port for name in names for [rule] in [chains[name]] for port in rule["ports"]) == flow_ports(lines)
    policy = yaml.safe_load((folder / "policies" / "pol" / "dpm-server.yaml").read_text(encoding="utf-8"))
    services = [t["destination-port"] for t in policy["filters"][0]["terms"] if t["name"] in names]
    assert [len(listed) for listed in services] == [policy_output.FLOWS_PER_TERM, extra + 1 - policy_output.FLOWS_PER_TERM]
    assert [name for listed in services for name in listed] == [policy_output.token(line.flow.id) for line in lines]
    text = (folder / "out" / "dpm-server.bat").read_bytes().decode("utf-8")
    rules = parse_netsh(text)
    assert merged(port for rule in rules if rule["name"] in {f"i_{name}" for name in names}
                  for port in parse_ports(rule["localport"])) == flow_ports(lines)
    assert max(len(line) for line in text.splitlines()) < 8191
    nft_check(folder / "out" / "dpm-server.nft")


def test_a_role_reached_only_through_a_program_gets_a_windows_script_alone(data_dir, tmp_path):
    roles = data_dir / "dpm-2012r2" / "roles.csv"
    append_row(roles, id="backup-vault", name="Backup vault", description="Keeps copies.")
    append_row(data_dir / "inventory.csv", role="backup-vault", host="vault01", address="192.0.2.40")
    append_row(data_dir / "dpm-2012r2" / "flows.csv", id="vault-program", transport="any", port="any",
               source="dpm-server", destination="backup-vault", direction="one-way", program="Vault.exe",
               purpose="Program exception for the vault service.", reference="ports")
    assert build(data_dir, tmp_path) == 0
    folder = tmp_path / "policy"
    assert not (folder / "policies" / "pol" / "backup-vault.yaml").exists()
    assert not (folder / "out" / "backup-vault.nft").exists()
    [rule] = parse_netsh((folder / "out" / "backup-vault.bat").read_bytes().decode("utf-8"))
    assert (rule["name"], rule["program"], rule["protocol"], rule["localip"], rule["remoteip"]) == (
        "i_program-vault-program", "Vault.exe", "any", "192.0.2.40", "192.0.2.10")
    listing = (folder / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    assert re.search(r"^- `backup-vault` `vault-program`: every protocol and port for program Vault.exe: .*"
                     r"\(nftables only: the Windows Firewall script allows the program as rule i_program-vault-program\)$",
                     listing, re.MULTILINE)
    assert "- `backup-vault`:" not in listing


def test_program_paths_from_the_settings_name_the_program_in_full(data_dir, tmp_path, capsys):
    settings = data_dir / "portbook.toml"
    path = "C:\\Program Files (x86)\\Microsoft DPM\\DPM\\bin\\Msdpm.exe"
    settings.write_text(settings.read_text(encoding="utf-8") + f"\n[policy.program_paths]\n'msdpm.exe' = '{path}'\n",
                        encoding="utf-8")
    assert build(data_dir, tmp_path) == 0
    notes = capsys.readouterr().err
    rules = parse_netsh((tmp_path / "policy" / "out" / "dpm-server.bat").read_bytes().decode("utf-8"))
    programs = {rule["name"]: rule["program"] for rule in rules if "program" in rule}
    assert programs == {"i_program-dpm-service-program": path, "i_program-replication-agent-program": "Dpmra.exe"}
    # A program left without its folder matches nothing on Windows: the build says so.
    assert ("policy: Windows program rules name Dpmra.exe without its folder; Windows Firewall matches programs "
            "by full path, so give it in [policy] program_paths") in notes
    assert "name Msdpm.exe without" not in notes


@pytest.mark.parametrize("value", ['"C:\\\\a&b.exe"', "5", '"C:\\\\bin\\\\"'])
def test_program_path_that_netsh_cannot_carry_is_a_located_error(data_dir, tmp_path, capsys, value):
    settings = data_dir / "portbook.toml"
    text = settings.read_text(encoding="utf-8") + f"\n[policy]\nprogram_paths = {{ 'Msdpm.exe' = {value} }}\n"
    settings.write_text(text, encoding="utf-8")
    assert build(data_dir, tmp_path / "out") == 1
    line = text.splitlines().index(f"program_paths = {{ 'Msdpm.exe' = {value} }}") + 1
    assert capsys.readouterr().err.startswith(f"error: {settings}:{line}:1: L009 [policy] program_paths: the path of ")


def set_platforms(data_dir: Path, **platforms: str) -> None:
    """The platform column of the named roles (role id with '_' for '-')."""
    roles = data_dir / "dpm-2012r2" / "roles.csv"
    for role, platform in platforms.items():
        edit_row(roles, "id", role.replace("_", "-"), platform=platform)


def allow_list_items(text: str) -> list[str]:
    """The Markdown of an allow list, checked inert: no link, image, HTML or emphasis, and
    every text from the data inside a code span. Returns the list items."""
    tokens = [t for block in MarkdownIt().parse(text) for t in [block, *(block.children or [])]]
    assert not {t.type for t in tokens} & {"html_inline", "html_block", "link_open", "image", "em_open", "strong_open"}
    items = [line.strip() for line in text.splitlines() if line.strip().startswith("- ")]
    for item in items:
        assert re.fullmatch(r"- (from: |to: |ports:|none|(tcp|udp) [0-9-]+: |flow `[a-z0-9._-]+`: )?(`[^`]*`(, )?)*", item), item
    return items


def test_each_role_gets_the_files_of_its_platform_only(data_dir, tmp_path):
    set_platforms(data_dir, dpm_server="windows", sql_server="Linux", domain_controller="unmanaged")
    assert build(data_dir, tmp_path) == 0
    folder = tmp_path / "policy"
    model = load_and_check(data_dir).model
    out = sorted(path.name for path in (folder / "out").iterdir())
    assert out == ["domain-controller.allow.md", "domain-controller.allow.nft", "dpm-server.bat",
                   "protected-computer.bat", "protected-computer.nft", "sql-server.nft"]
    # Each policy names only its role's platforms, so aclgen renders exactly these files.
    targets = {path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))["filters"][0]["header"]["targets"]
               for path in (folder / "policies" / "pol").glob("*.yaml")}
    assert targets == {"dpm-server": {"windows_advfirewall": "in"}, "sql-server": {"nftables": "mixed input"},
                       "protected-computer": {"windows_advfirewall": "in", "nftables": "mixed input"}}
    rendered = tmp_path / "aclgen"
    result = subprocess.run([sys.executable, "-m", "aerleon", "--output_directory", str(rendered)],
                            cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in rendered.iterdir()) == [name for name in out if ".allow." not in name]

    # The domain controller is not managed here: its accept rules, and nothing that drops.
    snippet = (folder / "out" / "domain-controller.allow.nft").read_text(encoding="utf-8")
    statements = "\n".join(line for line in snippet.splitlines() if not line.startswith("#"))
    assert not re.search(r"\bhook\b|\bdrop\b|\bpolicy\b", statements)
    chains = nft_chains(snippet)
    assert list(chains) == term_names(model, "domain-controller")
    for (peer, transport), lines in term_groups(model, "domain-controller").items():
        [rule] = chains[f"allow-{transport}-from-{peer}"]
        assert rule["ports"] == flow_ports(lines)
        assert rule["sources"] == networks(h.address for h in model.hosts_of_role(peer))
    allow = re.search(r"\n    chain allow \{\n(.*?)\n    \}\n", snippet, re.DOTALL)[1].splitlines()
    assert [line.strip() for line in allow[1:]] == [f"jump {name}" for name in term_names(model, "domain-controller")]
    # The Markdown list names every flow its hosts must accept, with both ends' addresses.
    markdown = (folder / "out" / "domain-controller.allow.md").read_text(encoding="utf-8")
    items = allow_list_items(markdown)
    for line in expressible_inbound(model, "domain-controller"):
        assert f"`flow {line.flow.id} - " in markdown
    assert "- to: `192.0.2.5`, `192.0.2.6`" in items
    assert "- from: `192.0.2.21`, `192.0.2.22`, `198.51.100.0/24`" in items
    listing = (folder / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    assert ("- `domain-controller`: not managed here (platform unmanaged in roles.csv), so nothing here drops its "
            "traffic, and out/domain-controller.allow.md lists what its hosts must accept") in listing
    # A Windows role gets no nftables rule, so the program flows nftables cannot carry are
    # covered and not listed; a Linux role's are.
    assert "`dpm-server` `dpm-service-program`" not in listing
    assert "`protected-computer` `replication-agent-program`" in listing
    nft_check(*sorted((folder / "out").glob("*.nft")))


def test_rendered_platforms_still_limit_every_role(data_dir, tmp_path):
    set_platforms(data_dir, sql_server="linux", domain_controller="unmanaged")
    assert build(data_dir, tmp_path, "--policy-platforms", "windows_advfirewall") == 0
    folder = tmp_path / "policy"
    out = sorted(path.name for path in (folder / "out").iterdir())
    assert out == ["domain-controller.allow.md", "dpm-server.bat", "protected-computer.bat"]
    assert not (folder / "policies" / "pol" / "sql-server.yaml").exists()
    listing = (folder / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    assert "- `sql-server`: its platform linux needs nftables, which is not rendered" in listing


def test_every_role_option_gives_each_role_a_full_policy(tmp_path):
    # As `portbook verify` proves the shipped policies: Windows roles and the role not
    # managed here get an nftables policy too.
    assert build(DATA, tmp_path, "--policy-platforms", "nftables", "--policy-every-role") == 0
    out = tmp_path / "policy" / "out"
    assert sorted(path.name for path in out.iterdir()) == [
        "domain-controller.nft", "dpm-server.nft", "protected-computer.nft", "sql-server.nft"]
    assert "policy drop;" in (out / "domain-controller.nft").read_text(encoding="utf-8")
    nft_check(*sorted(out.iterdir()))


def test_shipped_data_gives_its_windows_roles_scripts_and_the_domain_controller_its_allow_list(shipped):
    assert load_and_check(DATA).ok
    assert sorted(path.name for path in (shipped / "out").iterdir()) == [
        "domain-controller.allow.md", "domain-controller.allow.nft", "dpm-server.bat", "protected-computer.bat",
        "sql-server.bat"]
    for path in (shipped / "out").glob("*.bat"):
        assert parse_netsh(path.read_bytes().decode("utf-8"))
    allow_list_items((shipped / "out" / "domain-controller.allow.md").read_text(encoding="utf-8"))
    listing = (shipped / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
    assert "- roles not managed here (`domain-controller`): no file here drops their traffic" in listing
    readme = (shipped / "README.md").read_text(encoding="utf-8")
    assert "`<role>.allow.md`" in readme and "`<role>.allow.nft`" in readme
    nft_check(shipped / "out" / "domain-controller.allow.nft")


def test_unknown_platform_is_a_located_error(data_dir, capsys):
    roles = data_dir / "dpm-2012r2" / "roles.csv"
    line = edit_row(roles, "id", "sql-server", platform="widnows")
    assert main(["check", "--data", str(data_dir)]) == 1
    column = read_rows(roles)[0].index("platform")
    text = roles.read_text(encoding="utf-8").splitlines()[line - 1]
    start = len(",".join(next(csv.reader([text]))[:column])) + 2
    assert (f"{roles}:{line}:{start}: S108 platform: unknown platform 'widnows'; use windows, linux or unmanaged "
            f"(did you mean 'windows'?)") in capsys.readouterr().out


def test_allow_list_names_the_addresses_no_rule_carries(data_dir, tmp_path, capsys):
    set_platforms(data_dir, domain_controller="unmanaged")
    append_row(data_dir / "inventory.csv", role="domain-controller", host="dc01-v6", address="2001:db8::5")
    assert build(data_dir, tmp_path) == 0
    gap = ("role domain-controller, peer role dpm-server: the IPv6 addresses of role domain-controller get no rule, "
           "role dpm-server has no IPv6 address")
    out = tmp_path / "policy" / "out"
    items = allow_list_items((out / "domain-controller.allow.md").read_text(encoding="utf-8"))
    assert f"- `{gap}`" in items
    assert f"policy: no rule for some addresses: {gap}" in capsys.readouterr().err
    assert "2001:db8::5" not in (out / "domain-controller.allow.nft").read_text(encoding="utf-8")
    nft_check(out / "domain-controller.allow.nft")
