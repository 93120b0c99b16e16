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
from generator.pipeline import load_and_check
from generator.views import INBOUND, role_addresses, role_lines

from conftest import DATA, append_row, edit_row, read_rows, write_rows
from hostile import HOSTILE_TEXT

NETSH = "netsh advfirewall firewall add rule "
SAFE_COMMENT = re.compile(r'^\s*comment "[A-Za-z0-9 .,:()/+_=-]*"$')


def build(data_dir: Path, out: Path, *extra: str) -> int:
    return main(["build", "--formats", "policy", "--data", str(data_dir), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    """build/policy of the shipped data, built once for the read-only tests."""
    out = tmp_path_factory.mktemp("build")
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
        and role_addresses(model, role) and role_addresses(model, line.peer)
    ]


def parse_netsh(text: str) -> list[dict[str, str]]:
    """Every netsh rule of a rendered batch file as key -> value; any other line must be a
    ':' comment line of inert characters, so an injected command cannot hide in between."""
    rules = []
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith(NETSH):
            atoms = line[len(NETSH):].split(" ")
            assert all(re.fullmatch(r"[a-z]+=[A-Za-z0-9_.,:/-]+", atom) for atom in atoms), line
            rules.append(dict(atom.split("=", 1) for atom in atoms))
        else:
            assert re.fullmatch(r":[A-Za-z0-9 .,:()/+_=$-]*", line), line
    return rules


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


def test_written_policies_load_in_aerleon_and_render_to_the_shipped_outputs(shipped):
    model = load_and_check(DATA).model
    definitions = naming.Naming(naming_dir=str(shipped / "def"))
    policies = sorted((shipped / "policies" / "pol").glob("*.yaml"))
    assert [p.stem for p in policies] == sorted(r.id for r in model.roles if expressible_inbound(model, r.id))
    for path in policies:
        parsed = aerleon_yaml.ParseFile(path.name, base_dir=str(path.parent), definitions=definitions)
        terms = [term for _, filter_terms in parsed.filters for term in filter_terms]
        assert [term.name for term in terms] == [f"allow-{line.flow.id}" for line in expressible_inbound(model, path.stem)]
        assert all(term.action == ["accept"] for term in terms)
        # Rendering the files as a user would gives exactly the outputs shipped beside them.
        document = {"filename": path.stem, **yaml.safe_load(path.read_text(encoding="utf-8"))}
        rendered = api.Generate([document], definitions)
        assert set(rendered) == {f"{path.stem}.bat", f"{path.stem}.nft"}
        for name, text in rendered.items():
            assert (shipped / "out" / name).read_text(encoding="utf-8") == text


def test_aerleon_command_line_renders_the_folder_to_the_same_outputs(shipped, tmp_path):
    # The folder is a repository Aerleon's own aclgen works in with its default layout.
    result = subprocess.run([sys.executable, "-m", "aerleon", "--output_directory", str(tmp_path)],
                            cwd=shipped, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rendered = sorted(path.name for path in tmp_path.iterdir())
    assert rendered == sorted(path.name for path in (shipped / "out").iterdir())
    for name in rendered:
        assert (tmp_path / name).read_text(encoding="utf-8") == (shipped / "out" / name).read_text(encoding="utf-8")


def test_windows_rules_allow_each_expressible_inbound_line(shipped):
    model = load_and_check(DATA).model
    roles = [path.stem for path in (shipped / "out").glob("*.bat")]
    assert {"dpm-server", "protected-computer", "sql-server"} <= set(roles)
    for role in roles:
        rules = parse_netsh((shipped / "out" / f"{role}.bat").read_text(encoding="utf-8"))
        by_name: dict[str, list[dict]] = {}
        for rule in rules:
            assert (rule["dir"], rule["action"], rule["enable"]) == ("in", "allow", "yes")
            by_name.setdefault(rule["name"], []).append(rule)
        lines = expressible_inbound(model, role)
        assert sorted(by_name) == sorted(f"i_allow-{line.flow.id}" for line in lines)
        local = networks(host.address for host in role_addresses(model, role))
        for line in lines:
            found = by_name[f"i_allow-{line.flow.id}"]
            # Aerleon writes one rule per local address, each with every remote address.
            assert networks(rule["localip"] for rule in found) == local
            for rule in found:
                assert rule["protocol"] == line.flow.transport
                assert rule["localport"] == str(line.flow.ports)
                assert networks(rule["remoteip"].split(",")) == networks(h.address for h in role_addresses(model, line.peer))
    dpm = parse_netsh((shipped / "out" / "dpm-server.bat").read_text(encoding="utf-8"))
    assert {rule["name"] for rule in dpm}.isdisjoint({"i_allow-dpm-service-program", "i_allow-replication-agent-program"})


def test_nftables_outputs_pass_nft_check_and_drop_by_default(shipped):
    model = load_and_check(DATA).model
    outputs = sorted((shipped / "out").glob("*.nft"))
    assert [path.stem for path in outputs] == sorted(path.stem for path in (shipped / "policies" / "pol").glob("*.yaml"))
    for path in outputs:
        text = path.read_text(encoding="utf-8")
        assert "type filter hook input priority 0; policy drop;" in text
        rules = [line.strip() for line in text.splitlines() if line.strip().endswith("ct state new accept")]
        assert len(rules) == len(expressible_inbound(model, path.stem))
    sql = (shipped / "out" / "sql-server.nft").read_text(encoding="utf-8")
    assert "ip saddr 192.0.2.10/32 ip daddr 192.0.2.30/32 tcp dport 1433 ct state new accept" in sql
    # The program a flow names has no port-based equivalent; it travels in the comment.
    assert re.search(r'comment "flow sql-engine-default - program sqlservr.exe - ', sql)
    nft_check(*outputs)


def test_every_skipped_line_is_listed_with_its_reason(shipped, data_dir, tmp_path, capsys):
    listing = (shipped / policy_output.SKIPPED_FILE).read_text(encoding="utf-8")
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
    dpm = parse_netsh((folder / "out" / "dpm-server.bat").read_text(encoding="utf-8"))
    assert "i_allow-central-console" not in {rule["name"] for rule in dpm}
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
    assert build(data_dir, tmp_path) == 0

    folder = tmp_path / "policy"
    model = load_and_check(data_dir).model
    nft_outputs = sorted((folder / "out").glob("*.nft"))
    assert nft_outputs
    for path in nft_outputs:
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "comment" in line:
                assert SAFE_COMMENT.match(line), line
        # Each term is one chain holding one accept rule per address family it uses:
        # no text was split into extra statements.
        chains = re.findall(r"^    chain (allow-[a-z0-9-]+) \{$", text, re.MULTILINE)
        assert len(chains) == len(expressible_inbound(model, path.stem))
        assert text.count("ct state new accept") == len(chains)
    for path in sorted((folder / "out").glob("*.bat")):
        rules = parse_netsh(path.read_text(encoding="utf-8"))
        names = {rule["name"] for rule in rules}
        assert names == {f"i_allow-{line.flow.id}" for line in expressible_inbound(model, path.stem)}
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
    nft_check(*nft_outputs)


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
    assert targets == {"nftables": "inet input"}

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
    settings.write_text(settings.read_text(encoding="utf-8") + f"\n[policy]\nplatforms = {value}\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        build(data_dir, tmp_path / "out")
    # A message (not a number) as the exit value: Python prints it and exits with status 1.
    message = stopped.value.code
    assert isinstance(message, str) and message.startswith(f"{settings}:1:1: L009 [policy] platforms must be a list")
    assert not (tmp_path / "out").exists()


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
    assert web_policy["filters"][0]["header"]["targets"]["nftables"] == "inet6 input"
    web_nft = (folder / "out" / "web-server.nft").read_text(encoding="utf-8")
    assert "ip6 saddr 2001:db8:1::/64 ip6 daddr 2001:db8::80/128 tcp dport 443 ct state new accept" in web_nft
    assert "192.0.2.128" not in web_nft  # the IPv4 clients have no IPv4 server to reach
    [rule] = parse_netsh((folder / "out" / "web-server.bat").read_text(encoding="utf-8"))
    assert (rule["name"], rule["localport"], rule["localip"]) == ("i_allow-web-https", "443", "2001:db8::80/128")
    # A role reached over both IP versions gets a dual-stack nftables table; only the
    # peer with an IPv6 address is allowed in over IPv6.
    dpm = yaml.safe_load((folder / "policies" / "pol" / "dpm-server.yaml").read_text(encoding="utf-8"))
    assert dpm["filters"][0]["header"]["targets"]["nftables"] == "mixed input"
    dpm_nft = (folder / "out" / "dpm-server.nft").read_text(encoding="utf-8")
    ip6_rules = {line.strip() for line in dpm_nft.splitlines() if line.strip().startswith("ip6 ")}
    assert ip6_rules == {"ip6 saddr 2001:db8::15/128 ip6 daddr 2001:db8::10/128 tcp dport 6075 ct state new accept"}
    nft_check(folder / "out" / "web-server.nft", folder / "out" / "dpm-server.nft")
