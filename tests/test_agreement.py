"""Every output tells the same truth: the directed lines each output shows for a role are
exactly the lines `generator.views.role_lines` gives for it, no more and no fewer.

Each output is built by the command line and read back with the real reader of its
format (tests/readers.py): the site's role pages through html.parser, the Markdown role
files through markdown-it-py, the workbooks through openpyxl, the policies through
Aerleon's own loader, and the nftables files as the kernel holds them once loaded into a
throwaway network namespace. Data: the shipped data, a two-product folder (the GitLab
fixture beside the shipped DPM dataset) and small generated datasets.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import readers
from conftest import DATA, ROOT, write_rows
from generator.pipeline import load_and_check
from generator.site.pages import is_generated
from generator.views import INBOUND, OUTBOUND, role_lines

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "two-products"
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
SKIPPED_SECTION = "Flows without a policy term"
NO_POLICY_SECTION = "Roles without a policy"


# ---------------------------------------------------------------- data folders and builds

def two_products(target: Path) -> Path:
    """The GitLab fixture with the shipped DPM dataset and its vendor registry beside it."""
    shutil.copytree(FIXTURE, target)
    shutil.copytree(DATA / "dpm-2012r2", target / "dpm-2012r2")
    shutil.copy(DATA / "registry" / "vendor-ports.csv", target / "registry" / "vendor-ports.csv")
    return target


def private_pages(target: Path) -> Path:
    """A copy of the site's pages without the role sources the site extension writes
    into them at each build, so that this build's roles never touch the shared folder."""
    def generated(folder: str, names: list[str]) -> list[str]:
        return [name for name in names if is_generated(Path(folder) / name)]

    shutil.copytree(ROOT / "source", target, ignore=generated)
    return target


def build(data_dir: Path, out: Path):
    """Builds every format, then the site into out/html (from the project folder, with
    its conf.py and a private copy of its pages beside `out`), as a user would; returns
    the model."""
    pages = private_pages(out.parent / "pages")
    for extra in ([], ["--formats", "html", "--site-source", str(pages)]):
        command = [sys.executable, "-m", "generator", "build", *extra, "--data", str(data_dir), "--out", str(out)]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        code = result.returncode
        assert code == 0, f"{' '.join(command[2:])} exited {code}:\n{result.stderr}"
    checked = load_and_check(data_dir)
    assert checked.ok, [str(issue) for issue in checked.issues]
    return checked.model


# ---------------------------------------------------------------- lines and how they differ

@dataclass(frozen=True, order=True)
class Line:
    """A directed line as an output shows it; addresses only where the output shows them."""

    role: str
    direction: str
    flow: str
    source: str
    destination: str
    port: str  # as people write it: 135/tcp, 49152-65535/tcp, any
    source_addresses: tuple[str, ...] | None = None
    destination_addresses: tuple[str, ...] | None = None

    @property
    def peer(self) -> str:
        return self.source if self.direction == INBOUND else self.destination


def host_texts(model, role: str) -> tuple[str, ...]:
    return tuple(sorted(f"{readers.network(host.address)} ({host.host})" for host in model.hosts_of_role(role)))


def model_lines(model, role: str, addresses: bool = False) -> Counter:
    return Counter(
        Line(role, line.direction, line.flow.id, line.source, line.destination, line.flow.label,
             host_texts(model, line.source) if addresses else None,
             host_texts(model, line.destination) if addresses else None)
        for line in role_lines(model, role))


def line_from_peer(role: str, direction: str, flow: str, peer: str, port: str) -> Line:
    """The line an output shows as a direction and a peer: inbound lines come from the peer."""
    source, destination = (peer, role) if direction == INBOUND else (role, peer)
    return Line(role, direction, flow, source, destination, port)


def differences(output: str, expected: Counter, actual: Counter) -> list[str]:
    """Each line one side has and the other lacks; a line of the same flow, direction and
    port on both sides is reported as the fields that differ."""
    missing, extra = list((expected - actual).elements()), list((actual - expected).elements())
    problems = []
    for shown in sorted(extra):
        partner = next((line for line in missing if (line.direction, line.flow, line.port)
                        == (shown.direction, shown.flow, shown.port)), None)
        what = f"{output}: {shown.direction} {shown.port} flow {shown.flow}"
        if partner is None:
            problems.append(f"{what} (peer {shown.peer}) is not a line of the model")
            continue
        missing.remove(partner)
        # The peer is one end of the line; the other end is the role's own side.
        own_side = ("destination", shown.destination, partner.destination) if shown.direction == INBOUND \
            else ("source", shown.source, partner.source)
        fields = [("peer", shown.peer, partner.peer), own_side,
                  ("source addresses", shown.source_addresses, partner.source_addresses),
                  ("destination addresses", shown.destination_addresses, partner.destination_addresses)]
        problems.append(what + ": " + "; ".join(f"{name} is {mine}, model says {theirs}"
                                                for name, mine, theirs in fields if mine != theirs))
    problems += [f"{output}: {line.direction} {line.port} flow {line.flow} (peer {line.peer}) is missing"
                 for line in sorted(missing)]
    return problems


def role_ids_by_name(model) -> dict[str, str]:
    """Role names as outputs show them, back to ids; a name two roles share stays a name."""
    counts = Counter(role.name for role in model.roles)
    return {role.name: role.id for role in model.roles if counts[role.name] == 1}


def host_differences(output: str, model, role: str, rows: list[tuple[str, str]]) -> list[str]:
    """A hosts table against the inventory; a row without an address is the placeholder
    for a role the inventory does not cover."""
    shown = set()
    for host, address in rows:
        try:
            shown.add(f"{readers.network(address)} ({host})")
        except ValueError:
            continue
    expected = set(host_texts(model, role))
    if shown == expected:
        return []
    return [f"{output}: hosts {sorted(shown)}, model says {sorted(expected)}"]


# ---------------------------------------------------------------- one reader per output

SITE_LINE_COLUMNS = {"Peer role", "Port", "Flow"}


def site_disagreements(model, out: Path) -> list[str]:
    ids, problems = role_ids_by_name(model), []
    for role in model.role_by_id:
        page = out / "html" / "roles" / f"{role}.html"
        output = f"site roles/{role}.html"
        if not page.is_file():
            problems.append(f"{output}: no such page")
            continue
        shown, hosts = Counter(), []
        for table in readers.html_tables(page):
            direction = next((d for d in (INBOUND, OUTBOUND) if table.section.startswith(d)), None)
            if direction is not None and not SITE_LINE_COLUMNS <= set(table.headers):
                problems.append(f"{output}: the {direction} table shows {table.headers}, "
                                f"not all of {sorted(SITE_LINE_COLUMNS)}")
            elif direction is not None:
                shown.update(line_from_peer(role, direction, row["Flow"], ids.get(row["Peer role"], row["Peer role"]),
                                            row["Port"]) for row in table.records())
            elif table.section.startswith("hosts"):
                hosts += [(row["Host"], row["Address"]) for row in table.records()]
        problems += differences(output, model_lines(model, role), shown)
        problems += host_differences(output, model, role, hosts)
    return problems


def markdown_disagreements(model, out: Path) -> list[str]:
    problems = []
    for role in model.role_by_id:
        path = out / "markdown" / "roles" / f"{role}.md"
        output = f"markdown roles/{role}.md"
        if not path.is_file():
            problems.append(f"{output}: no such file")
            continue
        shown, hosts = Counter(), []
        for table in readers.markdown_tables(path):
            if {"direction", "peer", "port", "flow"} <= set(table.headers):
                shown.update(line_from_peer(role, row["direction"], row["flow"], row["peer"], row["port"])
                             for row in table.records())
            elif {"host", "address"} <= set(table.headers):
                hosts += [(row["host"], row["address"]) for row in table.records()]
        problems += differences(output, model_lines(model, role), shown)
        problems += host_differences(output, model, role, hosts)
    return problems


def workbook_addresses(cell: str) -> tuple[str, ...]:
    """'192.0.2.21 (fs01)' lines of an address cell; the placeholder of a role without
    inventory addresses holds none."""
    found = []
    for text in cell.splitlines():
        address, _, host = text.partition(" (")
        try:
            found.append(f"{readers.network(address)} ({host.rstrip(')')})")
        except ValueError:
            continue
    return tuple(sorted(found))


def workbook_disagreements(model, out: Path) -> list[str]:
    ids, problems = role_ids_by_name(model), []
    for role in model.role_by_id:
        path = out / "xlsx" / f"{role}.xlsx"
        output = f"xlsx {role}.xlsx"
        if not path.is_file():
            problems.append(f"{output}: no such workbook")
            continue
        shown = Counter()
        for row in readers.workbook_records(path, ("Flow", "Direction", "Source role", "Destination role")):
            port, transport = row["Port or range"], row["Transport"]
            shown[Line(role, row["Direction"], row["Flow"], ids.get(row["Source role"], row["Source role"]),
                       ids.get(row["Destination role"], row["Destination role"]),
                       "any" if port == transport == "any" else f"{port}/{transport}",
                       workbook_addresses(row["Source addresses"]),
                       workbook_addresses(row["Destination addresses"]))] += 1
        problems += differences(output, model_lines(model, role, addresses=True), shown)
    return problems


def merged(ranges) -> tuple[tuple[int, int], ...]:
    """Port ranges as the fewest disjoint ranges: outputs may join 5718 and 5719."""
    result: list[list[int]] = []
    for first, last in sorted(ranges):
        if result and first <= result[-1][1] + 1:
            result[-1][1] = max(result[-1][1], last)
        else:
            result.append([first, last])
    return tuple((first, last) for first, last in result)


def collapsed(addresses) -> tuple[str, ...]:
    networks = [ipaddress.ip_network(address, strict=False) for address in addresses]
    return tuple(sorted(str(net) for version in (4, 6)
                        for net in ipaddress.collapse_addresses(n for n in networks if n.version == version)))


def addresses_of(model, roles, version: int | None = None) -> tuple[str, ...]:
    """The inventory networks of some roles (of one IP version if given), collapsed."""
    networks = [ipaddress.ip_network(host.address, strict=False) for role in roles for host in model.hosts_of_role(role)]
    return collapsed(str(net) for net in networks if version in (None, net.version))


def port_range(flow) -> tuple[int, int]:
    return (flow.ports.first, flow.ports.last) if flow.ports else (1, 65535)


def ranges_text(ranges) -> str:
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges) or "none"


def skipped_lines(out: Path) -> set[tuple[str, str]]:
    return {(codes[0], codes[1]) for codes in readers.markdown_code_items(out / "policy" / "SKIPPED.md", SKIPPED_SECTION)
            if len(codes) >= 2}


def roles_without_policy(out: Path) -> set[str]:
    return {codes[0] for codes in readers.markdown_code_items(out / "policy" / "SKIPPED.md", NO_POLICY_SECTION)}


def ruled_lines(model, out: Path, role: str) -> list:
    """The inbound lines of a role that some rule of the policy output must allow: every
    one SKIPPED.md does not list. A role SKIPPED.md gives no policy gets its allow list."""
    skipped = skipped_lines(out)
    return [line for line in role_lines(model, role) if line.direction == INBOUND and (role, line.flow.id) not in skipped]


def policy_disagreements(model, out: Path) -> list[str]:
    """Aerleon terms, grouped by peer role and transport, against the inbound lines of the
    roles with a policy. A line without ports (a program exception) is no Aerleon term: the
    Windows Firewall script allows it as rule i_program-<flow>."""
    problems, without_policy = [], roles_without_policy(out)
    for role in model.role_by_id:
        name = f"{role}.yaml"
        output = f"policy policies/pol/{name}"
        has_policy = (out / "policy" / "policies" / "pol" / name).is_file()
        if role in without_policy:
            if has_policy:
                problems.append(f"{output}: SKIPPED.md says the role has no policy")
            continue
        lines = ruled_lines(model, out, role)
        if lines and not has_policy:
            problems.append(f"{output}: missing, for {len(lines)} inbound line(s) SKIPPED.md does not list")
            continue
        platforms, terms = readers.policy_terms(out / "policy", name) if has_policy else (set(), [])
        programs = [line for line in lines if line.flow.ports is None]
        script = out / "policy" / "out" / f"{role}.bat"
        if programs and "windows_advfirewall" in platforms:
            rules = set(readers.netsh_rule_names(script)) if script.is_file() else set()
            problems += [f"policy out/{role}.bat: inbound {line.flow.label} flow {line.flow.id} (peer {line.peer}) "
                         f"has no rule i_program-{line.flow.id}" for line in programs
                         if f"i_program-{line.flow.id}" not in rules]
        elif programs:
            problems += [f"{output}: inbound {line.flow.label} flow {line.flow.id} (peer {line.peer}) has no rule "
                         "and is not in SKIPPED.md" for line in programs]
        expected = defaultdict(set)
        for line in lines:
            if line.flow.ports is not None:
                expected[(line.source, line.flow.transport)].add(port_range(line.flow))
        expected = {key: merged(ranges) for key, ranges in expected.items()}
        shown = defaultdict(set)
        for term in terms:
            peers = {token.lower().replace("_", "-") for token in term.source_tokens}
            targets = {token.lower().replace("_", "-") for token in term.destination_tokens}
            if targets != {role} or len(peers) != 1 or term.action != ("accept",):
                problems.append(f"{output}: term {term.name} is for {sorted(peers)} -> {sorted(targets)} "
                                f"({', '.join(term.action)}), not one peer role -> {role}, accept")
            peer_addresses = addresses_of(model, peers)
            if collapsed(term.source_addresses) != peer_addresses:
                problems.append(f"{output}: term {term.name} source addresses {collapsed(term.source_addresses)}, "
                                f"model says {peer_addresses}")
            role_addresses = addresses_of(model, [role])
            if collapsed(term.destination_addresses) != role_addresses:
                problems.append(f"{output}: term {term.name} destination addresses "
                                f"{collapsed(term.destination_addresses)}, model says {role_addresses}")
            for peer in peers:
                for protocol in term.protocols:
                    shown[(peer, protocol)].update(term.ports or {(1, 65535)})
        shown = {key: merged(ranges) for key, ranges in shown.items()}
        for peer, transport in sorted(set(expected) | set(shown)):
            mine, theirs = shown.get((peer, transport), ()), expected.get((peer, transport), ())
            if mine != theirs:
                problems.append(f"{output}: inbound {transport} from peer {peer} allows ports {ranges_text(mine)}, "
                                f"model says {ranges_text(theirs)}")
    return problems


def nftables_disagreements(model, out: Path) -> list[str]:
    """The rulesets as the kernel holds them: one accept rule per peer role, transport and
    IP version both ends have addresses of (SKIPPED.md lists the versions left out), in
    out/<role>.nft for a role whose policy targets nftables, and in out/<role>.allow.nft
    for a role without a policy, where it exists."""
    problems, without_policy = [], roles_without_policy(out)
    for role in model.role_by_id:
        if role in without_policy:
            path = out / "policy" / "out" / f"{role}.allow.nft"
            if not path.is_file():
                continue
        else:
            path = out / "policy" / "out" / f"{role}.nft"
            policy = out / "policy" / "policies" / "pol" / f"{role}.yaml"
            if not policy.is_file() or "nftables" not in readers.policy_terms(out / "policy", policy.name)[0]:
                if path.is_file():
                    problems.append(f"nftables out/{role}.nft: the role's policy does not target nftables")
                continue
        expected = defaultdict(set)
        for line in ruled_lines(model, out, role):
            for version in (4, 6):
                sources, targets = addresses_of(model, [line.source], version), addresses_of(model, [role], version)
                if sources and targets and line.flow.ports is not None:
                    expected[(line.flow.transport, sources, targets)].add(port_range(line.flow))
        output = f"nftables out/{path.name}"
        shown = defaultdict(set)
        if path.is_file():
            for rule in readers.nft_accept_rules(readers.nft_loaded_ruleset(path)):
                key = (rule.transport, collapsed(rule.source_addresses), collapsed(rule.destination_addresses))
                shown[key].update(rule.ports)
        for key in sorted(set(expected) | set(shown)):
            mine, theirs = merged(shown.get(key, ())), merged(expected.get(key, ()))
            if mine != theirs:
                transport, sources, targets = key
                problems.append(f"{output}: {transport} from {', '.join(sources)} to {', '.join(targets)} allows "
                                f"ports {ranges_text(mine)}, model says {ranges_text(theirs)}")
    return problems


READERS = {"site": site_disagreements, "markdown": markdown_disagreements, "xlsx": workbook_disagreements,
           "policy": policy_disagreements, "nftables": nftables_disagreements}


def outputs_readable_here() -> list[str]:
    """Every output, less the loaded rulesets where no network namespace can be made."""
    return [output for output in READERS if output != "nftables" or not readers.netns_unavailable()]


# ---------------------------------------------------------------- the shipped data and the two products

@pytest.fixture(scope="module", params=["shipped", "two-products"])
def built(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    data_dir = DATA if request.param == "shipped" else two_products(root / "data")
    return request.param, build(data_dir, root / "out"), root / "out"


@pytest.mark.parametrize("output", list(READERS))
def test_every_output_shows_exactly_the_model_lines(built, output):
    if output == "nftables" and readers.netns_unavailable():
        pytest.skip(readers.netns_unavailable())
    data, model, out = built
    problems = READERS[output](model, out)
    assert not problems, f"{data} data:\n" + "\n".join(problems)


def test_the_two_product_fixture_checks_clean_and_covers_what_it_is_for(tmp_path):
    alone = subprocess.run([sys.executable, "-m", "generator", "check", "--data", str(FIXTURE)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    checked = load_and_check(two_products(tmp_path / "data"))
    assert checked.ok and not checked.issues, [str(issue) for issue in checked.issues]
    model = checked.model
    assert {dataset.id for dataset in model.datasets} == {"dpm-2012r2", "gitlab"}
    # A role both products name, under one name.
    assert {"dpm-2012r2", "gitlab"} <= {dataset.id for dataset in model.datasets
                                        if any(role.id == "domain-controller" for role in dataset.roles)}
    assert any(flow.bidirectional and flow.source != flow.destination for flow in model.flows)
    assert any(flow.bidirectional and flow.source == flow.destination for flow in model.flows)
    assert any(flow.program and flow.ports is not None for flow in model.flows)
    versions = {ipaddress.ip_network(host.address, strict=False).version
                for role in model.role_by_id for host in model.hosts_of_role(role)}
    assert versions == {4, 6}


# ---------------------------------------------------------------- generated datasets

ROLE_IDS = ["alpha", "bravo", "charlie", "delta"]
# Names unlike each other, so that no check takes one for a misspelling of another.
PROGRAMS = ["agent.exe", "backup.exe", "collector.exe", "daemon.exe", "engine.exe", "fetcher.exe"]
# Role names are data in every output: markup, table syntax and formulas must come back as text.
ROLE_NAMES = ["Role {}", "Role {} <primary> & co", "Role {} | *main*", "=HYPERLINK(\"x\") {}", "Rôle {} `x`"]


def address_pool(index: int) -> list[str]:
    return [f"192.0.2.{10 * index + 1}", f"198.51.100.{index}/31" if index % 2 == 0 else f"198.51.100.{10 + index}",
            f"2001:db8:{index}::1", f"2001:db8:{index}:1::/64"]


@st.composite
def datasets(draw):
    """A small valid data folder's rows: roles of every platform, flows between them (self
    flows, both directions, ranges and program exceptions) and an inventory of either IP
    version."""
    roles = draw(st.lists(st.sampled_from(ROLE_IDS), min_size=1, max_size=4, unique=True))
    role_rows = [{"id": role, "name": draw(st.sampled_from(ROLE_NAMES)).format(role), "description": "",
                  "platform": draw(st.sampled_from(["", "windows", "linux", "unmanaged"]))} for role in roles]
    count = draw(st.integers(1, len(PROGRAMS)))
    ports = draw(st.lists(st.integers(1024, 60000), min_size=count, max_size=count, unique=True))
    flows = []
    for index, port in enumerate(ports):
        transport = draw(st.sampled_from(["tcp", "udp", "any"]))
        wide = draw(st.booleans())
        flows.append({
            "id": f"flow-{index}", "transport": transport,
            "port": "any" if transport == "any" else (f"{port}-{port + draw(st.integers(1, 20))}" if wide else str(port)),
            "source": draw(st.sampled_from(roles)), "destination": draw(st.sampled_from(roles)),
            "direction": draw(st.sampled_from(["one-way", "both"])),
            "program": PROGRAMS[index] if transport == "any" else draw(st.sampled_from(["", PROGRAMS[index]])),
            "purpose": f"Generated flow {index}.", "reference": "main"})
    inventory = [{"role": role, "host": f"{role}-{number}", "address": address, "note": ""}
                 for index, role in enumerate(roles)
                 for number, address in enumerate(draw(st.lists(st.sampled_from(address_pool(index)), unique=True,
                                                                 max_size=3)))]
    return role_rows, flows, inventory


def write_dataset(target: Path, role_rows, flows, inventory) -> Path:
    (target / "generated").mkdir(parents=True)
    (target / "portbook.toml").write_text('[registry]\nsystem = "/etc/services"\n\n[inventory]\nfile = "inventory.csv"\n',
                                          encoding="utf-8")
    (target / "generated" / "dataset.toml").write_text(
        'id = "generated"\ntitle = "Generated product"\nshort_title = "Generated"\nversion = "1.0"\n\n'
        '[source]\ntitle = "Generated page"\npublisher = "Tests"\ndocument_id = "generated"\n\n'
        '[sections.main]\ntitle = "Main"\nanchor = ""\n', encoding="utf-8")
    write_rows(target / "generated" / "roles.csv", ["id", "name", "description", "platform"], role_rows)
    header = ["id", "transport", "port", "dynamic", "source", "destination", "direction", "service", "program", "rule",
              "purpose", "condition", "reference", "assumption"]
    write_rows(target / "generated" / "flows.csv", header, [{name: flow.get(name, "") for name in header} for flow in flows])
    write_rows(target / "inventory.csv", ["role", "host", "address", "note"], inventory)
    return target


@settings(derandomize=True, max_examples=50 if LONG else 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(datasets())
def test_generated_data_every_output_shows_exactly_the_model_lines(dataset):
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        model = build(write_dataset(root / "data", *dataset), root / "out")
        problems = [problem for output in outputs_readable_here() for problem in READERS[output](model, root / "out")]
        assert not problems, "\n".join(problems)
