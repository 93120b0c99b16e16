"""Firewall policies as code: one Aerleon policy per role, rendered for each platform.

For every role, the inbound lines of `views.role_lines` become accept terms on the
role's own hosts (destination = the role's inventory addresses, source = the peer
role's). Lines from the same peer role over the same transport share one term that
lists one service per flow (up to FLOWS_PER_TERM): the union of their ports for the
same two address sets, exactly what one term per flow would allow, in far fewer
terms. Aerleon copies and resolves every term once per platform, so its work now
follows the number of peer roles and ports instead of one term per flow. Each
service is named after its flow and carries the flow's description, so every
port of a term traces to its flow.

The files under build/policy/ form an Aerleon repository a network engineer can
keep: naming definitions in def/, policies in policies/, and in out/ the outputs
Aerleon's own API rendered from them, made safe to apply more than once (nftables.py,
windows.py). Flows that name a program for every port become Windows program
exceptions, which Aerleon cannot express. Lines a rendered platform cannot carry, and
addresses of an IP version the other end lacks, are listed in SKIPPED.md and in the
returned notes.

The `platform` column of roles.csv decides each role's files: a Windows Firewall script
for `windows`, an nftables file for `linux`, both when empty; a role `unmanaged` here
gets no policy, only its allow list (out/<role>.allow.md, and out/<role>.allow.nft whose
chains no hook uses) for whoever manages its hosts, so nothing here drops their traffic.

Term names derive from role ids and comments from the data's free text, both
reduced to characters every supported platform carries inertly, because Aerleon
pastes comments verbatim into nftables strings and names into netsh commands.
"""
from __future__ import annotations

import argparse
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field

from ... import schema
from ...build_inputs import BuildInputs
from ...errors import SettingsError
from ...model import ANY, Flow, Model, Role
from ...output_files import OutputFiles
from ...views import INBOUND, datasets_text, role_lines
from . import nftables, windows
from .yaml_text import yaml_text

DEFAULT_PLATFORMS = ["windows_advfirewall", "nftables"]
SKIPPED_FILE = "SKIPPED.md"

# Header target options per Aerleon platform. nftables always gets one dual-stack table,
# so that no address of either IP version is left out. Default-deny: the input chain of the
# host table every nftables file shares ends in `policy drop`; Windows Firewall blocks unmatched inbound traffic by
# its profile default, and an explicit block rule there would override every allow rule,
# so none is added.
PLATFORM_OPTIONS = {
    "windows_advfirewall": "in",
    "nftables": nftables.AERLEON_TARGET,
}
# What each platform's output relies on for traffic no term accepts.
DEFAULT_DENY = {
    "windows_advfirewall": "unmatched inbound traffic is blocked by the Windows Firewall profile default (blockinbound)",
    "nftables": f"the input chain of the host table {nftables.HOST_TABLE}, which every role file shares, drops "
                "unmatched traffic (policy drop) after the host defaults (loopback, established and related traffic, "
                "the ICMP and ICMPv6 a host needs: policy settings accept_loopback, accept_established, accept_icmp) "
                "and what a table of a role of the host accepted, and no role table and no other hook drops",
}
# `[policy]` settings of the nftables host defaults -> HostDefaults field.
HOST_DEFAULT_SETTINGS = {"accept_loopback": "loopback", "accept_established": "established", "accept_icmp": "icmp"}

UNMANAGED = "unmanaged"
# roles.csv platform -> the Aerleon platforms its hosts get files of. A role not managed
# here is rendered as nftables chains that no hook uses, beside its Markdown allow list.
ROLE_TARGETS = {
    "windows": ("windows_advfirewall",),
    "linux": ("nftables",),
    UNMANAGED: ("nftables",),
    "": tuple(PLATFORM_OPTIONS),  # not stated: both files, as before roles named a platform
}
assert set(ROLE_TARGETS) == {*schema.ROLE_PLATFORMS, ""}

# At most this many flows (so ports) in one term: a netsh command lists a term's ports on
# one line, and cmd.exe cuts lines at 8191 characters.
FLOWS_PER_TERM = 64
# nftables refuses comments longer than 128 bytes; keep a margin for Aerleon's own text.
COMMENT_LIMIT = 120
# Characters that are inert in nftables strings, netsh/batch lines, YAML and Markdown.
_UNSAFE_COMMENT = re.compile(r"[^A-Za-z0-9 .,:()/+_=-]+")
_TRANSPORTS = ("tcp", "udp")


def safe_comment(text: str, limit: int = COMMENT_LIMIT) -> str:
    """Free text reduced to one line of inert ASCII, shortened at a word boundary."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = " ".join(_UNSAFE_COMMENT.sub(" ", ascii_text).split())
    if len(cleaned) <= limit:
        return cleaned
    cut = cleaned[: limit - 3].rsplit(" ", 1)[0]
    return f"{cut}..."


def _unique(name: str, used: set[str]) -> str:
    candidate, number = name, 2
    while candidate in used:
        candidate = f"{name}-{number}"
        number += 1
    used.add(candidate)
    return candidate


def token(text: str) -> str:
    """A naming-definition token in Aerleon's usual style: A-Z, 0-9 and '_'."""
    return re.sub(r"[^A-Z0-9]", "_", text.upper())


def term_name(transport: str, peer: str) -> str:
    """A term name every platform accepts: nftables uses it as a chain name and netsh as
    an unquoted rule name, so only a-z, 0-9 and '-', led by a word that no keyword is."""
    return "allow-" + re.sub(r"[^a-z0-9-]", "-", f"{transport}-from-{peer}".lower())


@dataclass(frozen=True)
class Skipped:
    """An inbound line that got no term, and why."""

    role: str
    flow: str
    reason: str


@dataclass(frozen=True)
class FamilyGap:
    """Addresses of one IP version on one end of a role's inbound lines that no rule
    can carry, because the other end has no address of that version."""

    role: str
    peer: str
    version: int
    without: str  # the role (of the two) that has no address of this version

    @property
    def text(self) -> str:
        has = self.peer if self.without == self.role else self.role
        return (f"role {self.role}, peer role {self.peer}: the IPv{self.version} addresses of role {has} get no rule, "
                f"role {self.without} has no IPv{self.version} address")


@dataclass
class RolePolicy:
    role: Role
    stem: str  # file name without extension: the role id, as the site and aclgen name its files
    table: str  # the nftables table, one per role id
    platform: str  # of roles.csv, '' when not stated
    targets: list[str]  # the rendered platforms this role gets files of
    terms: list[dict] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)  # the peer role of each term
    programs: list[windows.ProgramRule] = field(default_factory=list)

    @property
    def managed(self) -> bool:
        """Whether the role's hosts get a policy here, rather than only an allow list."""
        return self.platform != UNMANAGED

    @property
    def comment(self) -> str:
        return safe_comment(f"Inbound rules for hosts of role {self.role.id} ({self.role.name})")

    def filters(self) -> list[dict]:
        targets = {platform: PLATFORM_OPTIONS[platform] for platform in self.targets}
        return [{"header": {"targets": targets, "comment": self.comment}, "terms": self.terms}]


@dataclass
class PolicySet:
    """Everything the policy output needs, planned from the model before any rendering."""

    networks: dict[str, dict]
    services: dict[str, list[dict]]
    policies: list[RolePolicy]
    skipped: list[Skipped]
    without_policy: list[tuple[str, str]]  # (role id, why it has no policy)
    family_gaps: list[FamilyGap]

    def definitions(self) -> dict:
        return {"networks": self.networks, "services": self.services}


def _families(addresses: list[str]) -> set[int]:
    return {ipaddress.ip_network(address, strict=False).version for address in addresses}


def _flow_comment(flow: Flow) -> str:
    """What a flow's service carries beside its port: the flow's id and description."""
    parts = [f"flow {flow.id}"]
    if flow.program:
        parts.append(f"program {flow.program}")
    parts.append(flow.purpose)
    if flow.condition:
        parts.append(flow.condition)
    if flow.rule:
        parts.append(f"rule {flow.rule}")
    return safe_comment(" - ".join(parts))


def _term_comment(transport: str, peer: str, flow_ids: list[str]) -> str:
    """Which flows a term carries, as far as the comment limit allows; the term's services
    name every one of them."""
    count = len(flow_ids)
    return safe_comment(f"{transport} from role {peer}, {count} flow{'s' if count > 1 else ''}: "
                        f"{', '.join(flow_ids)}")


def _why_not(flow: Flow) -> str:
    """The reason a flow cannot become a port-based term, or '' when it can."""
    if flow.ports is None:
        what = "every protocol and port" if flow.transport == ANY else f"every {flow.transport} port"
        if flow.program:
            return (f"{what} for program {safe_comment(flow.program, 60)}: Aerleon terms match ports, "
                    f"not programs, and opening every port would be wider than the rule")
        return f"{what}: a term would open the host completely"
    if flow.transport not in _TRANSPORTS:
        return f"transport {safe_comment(flow.transport, 20)} has no port-based term"
    return ""


def _program_rule(flow: Flow, local: list[str], remote: list[str],
                  program_paths: dict[str, str]) -> windows.ProgramRule | None:
    """The Windows program exception of a flow that names a program for every port, or
    None when the flow is not one or its program name cannot be written safely. The
    program is its path from `[policy] program_paths` where one is set."""
    if not flow.program or flow.ports is not None or flow.transport not in (*_TRANSPORTS, ANY):
        return None
    if not windows.writable(flow.program):
        return None
    name = windows.PROGRAM_RULE_PREFIX + re.sub(r"[^a-z0-9.-]", "-", flow.id.lower())
    protocol = "any" if flow.transport == ANY else flow.transport
    program = program_paths.get(flow.program.lower(), flow.program)
    return windows.ProgramRule(name, program, protocol, tuple(local), tuple(remote), _flow_comment(flow))


def _program_skip_reason(flow: Flow, rule: windows.ProgramRule | None, platforms: list[str]) -> str:
    """Why a program flow is still listed: nftables cannot match it, or the Windows script
    cannot carry its program name either. '' when every platform rendered covers it."""
    reason = _why_not(flow)
    if "windows_advfirewall" not in platforms:
        return reason
    if rule is None:
        if windows.writable(flow.program):
            return reason
        return f"{reason}, and the program name has characters a netsh command cannot carry, so Windows gets no rule either"
    if "nftables" not in platforms:
        return ""
    return f"{reason} (nftables only: the Windows Firewall script allows the program as rule {rule.name})"


def role_platforms(model: Model) -> dict[str, str]:
    """Role id -> its platform from roles.csv ('' when the cell is empty)."""
    return {role.id: role.platform for role in model.roles}


def targets_of(platform: str, platforms: list[str]) -> list[str]:
    """The rendered platforms a role of this roles.csv platform gets files of."""
    return [name for name in platforms if name in ROLE_TARGETS[platform]]


def plan(model: Model, platforms: list[str], program_paths: dict[str, str],
         every_role: bool = False) -> PolicySet:
    """Decide every network, service, term, program rule and skipped line from the model.
    With `every_role`, every role gets every platform's files whatever roles.csv says,
    as a policy to prove in network namespaces."""
    platform_of = {} if every_role else role_platforms(model)
    role_tokens: dict[str, str] = {}
    used_tokens: set[str] = set()
    networks: dict[str, dict] = {}
    hosts_of = {role.id: model.hosts_of_role(role.id) for role in model.roles}
    addresses_of = {role_id: [host.address for host in hosts] for role_id, hosts in hosts_of.items()}
    families_of = {role_id: _families(addresses) for role_id, addresses in addresses_of.items()}
    for role in model.roles:
        hosts = hosts_of[role.id]
        if hosts:
            role_tokens[role.id] = name = _unique(token(role.id), used_tokens)
            networks[name] = {"values": [
                {"address": host.address, "comment": safe_comment(host.host, 60)} for host in hosts
            ]}

    services: dict[str, list[dict]] = {}
    service_tokens: dict[str, str] = {}
    used_services: set[str] = set()
    policies, skipped, without, gaps = [], [], [], []
    for role in model.roles:
        inbound = [line for line in role_lines(model, role.id) if line.direction == INBOUND]
        if not inbound:
            without.append((role.id, "no flow is inbound to this role"))
            continue
        platform = platform_of.get(role.id, "")
        policy = RolePolicy(role, role.id, nftables.table_name(role.id), platform, targets_of(platform, platforms))
        groups: dict[tuple[str, str], list[Flow]] = {}  # (peer role, transport) -> its flows
        program_names: set[str] = set()
        for line in inbound:
            flow = line.flow
            reason = ""
            if role.id not in role_tokens:
                reason = f"role {role.id} has no addresses in the inventory"
            elif line.peer not in role_tokens:
                reason = f"peer role {line.peer} has no addresses in the inventory"
            common = families_of[role.id] & families_of[line.peer]
            if not reason and not common:
                reason = f"role {role.id} and peer role {line.peer} share no IP version"
            if not reason and _why_not(flow):
                local, remote = ([address for address in addresses_of[name] if _families([address]) <= common]
                                 for name in (role.id, line.peer))
                rule = _program_rule(flow, local, remote, program_paths)
                if rule is not None and rule.name not in program_names and "windows_advfirewall" in policy.targets:
                    program_names.add(rule.name)
                    policy.programs.append(rule)
                if flow.program and flow.ports is None:
                    reason = _program_skip_reason(flow, rule, policy.targets)
                else:
                    reason = _why_not(flow)
                if not reason:
                    continue
            if reason:
                skipped.append(Skipped(role.id, flow.id, reason))
                continue
            for version in sorted((families_of[role.id] | families_of[line.peer]) - common):
                gap = FamilyGap(role.id, line.peer, version,
                                role.id if version not in families_of[role.id] else line.peer)
                if gap not in gaps:
                    gaps.append(gap)
            if flow.id not in service_tokens:
                service_tokens[flow.id] = name = _unique(token(flow.id), used_services)
                port = flow.ports.first if flow.ports.is_single else str(flow.ports)
                services[name] = [{"port": port, "protocol": flow.transport, "comment": _flow_comment(flow)}]
            grouped = groups.setdefault((line.peer, flow.transport), [])
            # A flow within one role gives its inbound line once per direction.
            if not grouped or grouped[-1] is not flow:
                grouped.append(flow)
        used_names: set[str] = set()
        for (peer, transport), grouped in groups.items():
            for start in range(0, len(grouped), FLOWS_PER_TERM):
                flows = grouped[start:start + FLOWS_PER_TERM]
                policy.terms.append({
                    "name": _unique(term_name(transport, peer), used_names),
                    "comment": _term_comment(transport, peer, [flow.id for flow in flows]),
                    "source-address": role_tokens[peer],
                    "destination-address": role_tokens[role.id],
                    "destination-port": [service_tokens[flow.id] for flow in flows],
                    "protocol": transport,
                    "action": "accept",
                })
                policy.peers.append(peer)
        if not (policy.terms or policy.programs):
            without.append((role.id, "none of its inbound flows can be expressed"))
            continue
        policies.append(policy)
        if not policy.managed:
            without.append((role.id, f"not managed here (platform {UNMANAGED} in roles.csv), so nothing here drops "
                                     f"its traffic, and out/{policy.stem}.allow.md lists what its hosts must accept"))
        elif not policy.targets:
            wanted = ", ".join(ROLE_TARGETS[platform])
            without.append((role.id, f"its platform {platform} needs {wanted}, which is not rendered"))
    return PolicySet(networks, services, policies, skipped, without, gaps)


# The kinds of file a role's policy renders to under out/.
NFTABLES, NFTABLES_ALLOW, NETSH = "nftables", "nftables allow list", "netsh"


def rendered_files(policy: RolePolicy) -> list[tuple[str, str]]:
    """The files under out/ that rendering `policy` gives, (name, kind), in order."""
    files = []
    if "nftables" in policy.targets and policy.terms:
        files.append((f"{policy.stem}.nft", NFTABLES) if policy.managed else (f"{policy.stem}.allow.nft", NFTABLES_ALLOW))
    if "windows_advfirewall" in policy.targets:
        files.append((f"{policy.stem}.bat", NETSH))
    return files


def term_services(policy: RolePolicy, policy_set: PolicySet) -> dict[str, list[dict]]:
    """The service definitions the terms of `policy` name, comments included."""
    return {name: policy_set.services[name] for term in policy.terms for name in term["destination-port"]}


def rendered_from(policy: RolePolicy, policy_set: PolicySet) -> tuple:
    """Everything rendering `policy` reads: its own plan and the definitions its terms name.
    Not the services' comments: Aerleon's service lookups (Naming.GetService and
    GetServiceByProto) drop them, so no rendered file shows them, and an edit of a flow's
    purpose, which only they carry, renders nothing again."""
    networks = {name: policy_set.networks[name] for term in policy.terms
                for name in (term["source-address"], term["destination-address"])}
    services = {name: [{key: value for key, value in entry.items() if key != "comment"} for entry in entries]
                for name, entries in term_services(policy, policy_set).items()}
    return (policy.stem, policy.table, policy.comment, policy.managed, policy.filters(), policy.programs,
            networks, services)


def render(policy_set: PolicySet, policies: list[RolePolicy], defaults: nftables.HostDefaults,
           heading: str) -> tuple[dict[str, str], list[str]]:
    """The output files of `policies` (of `policy_set`) for their platforms, file name ->
    text, plus notes. Aerleon's API renders the terms; the nftables table and base chain
    and the netsh script's form are this package's (see nftables.py and windows.py)."""
    if not policies:
        return {}, []
    # Imported here: every command loads this module for its options, few render.
    from aerleon import api
    from aerleon.aclgen import ACLGeneratorError, ACLParserError
    from aerleon.lib import naming

    definitions = naming.Naming()
    definitions.ParseDefinitionsObject(policy_set.definitions(), "portbook")
    outputs, notes = {}, []
    for policy in policies:
        rendered: dict[str, str] = {}
        if policy.terms and policy.targets:
            # Named as its file in policies/pol/: Aerleon replaces the last suffix, so a role
            # id with a dot keeps it, as aclgen renders that file.
            document = {"filename": f"{policy.stem}.yaml", "filters": policy.filters()}
            try:
                rendered = api.Generate([document], definitions) or {}
            except (ACLParserError, ACLGeneratorError) as error:
                # Not expected from planned terms; reported instead of failing the whole build.
                notes.append(f"Aerleon refused the policy of role {policy.role.id}: {' '.join(str(error).split())}")
                continue
        try:
            made = {}
            for name, kind in rendered_files(policy):
                if kind == NFTABLES:
                    made[name] = nftables.nftables_file(
                        rendered[f"{policy.stem}.nft"], policy.table, policy.comment, heading, defaults)
                elif kind == NFTABLES_ALLOW:
                    made[name] = nftables.allow_file(rendered[f"{policy.stem}.nft"], policy.table, policy.comment, heading)
                else:
                    made[name] = windows.netsh_script(
                        rendered.get(f"{policy.stem}.bat", ""), policy.programs, [heading, policy.comment])
            outputs.update(made)  # all of a role's files, or none
        except ValueError as error:
            notes.append(f"the outputs of role {policy.role.id} are not written: {safe_comment(str(error))}")
    return outputs, notes


def _code(text: str) -> str:
    """Text as a Markdown code span: inert, whatever it holds (safe_comment and the
    inventory's addresses leave no backtick)."""
    return f"`{text}`"


def allow_list(policy: RolePolicy, policy_set: PolicySet, heading: str) -> str:
    """The Markdown allow list of a role not managed here: every inbound connection its
    hosts must accept, per peer role and transport, and what no rule here covers."""
    def addresses(network: str) -> str:
        return ", ".join(_code(value["address"]) for value in policy_set.networks[network]["values"])

    role = policy.role.id
    lines = [
        f"# Allow list of role {_code(role)}",
        "",
        _code(heading),
        "",
        f"Role {_code(role)} is not managed here (platform {_code(UNMANAGED)} in roles.csv): it gets no policy,",
        "and nothing here drops its traffic. Whoever manages the firewall of its hosts allows the inbound",
        f"connections below; `{policy.stem}.allow.nft`, where nftables is rendered, holds the same rules as",
        "nftables chains that no hook uses.",
    ]
    for term, peer in zip(policy.terms, policy.peers):
        lines += ["", f"## {term['protocol']} from role {_code(peer)}", "",
                  f"- from: {addresses(term['source-address'])}",
                  f"- to: {addresses(term['destination-address'])}",
                  "- ports:"]
        for service in term["destination-port"]:
            for entry in policy_set.services[service]:
                lines.append(f"  - {entry['protocol']} {entry['port']}: {_code(entry['comment'])}")
    skipped = [item for item in policy_set.skipped if item.role == role]
    gaps = [gap for gap in policy_set.family_gaps if gap.role == role]
    lines += ["", "## Not in this list", "",
              "Inbound flows and addresses that no port rule can carry (also in `SKIPPED.md`).", ""]
    lines += [f"- flow {_code(item.flow)}: {_code(item.reason)}" for item in skipped]
    lines += [f"- {_code(gap.text)}" for gap in gaps]
    if not skipped and not gaps:
        lines.append("- none")
    return "\n".join(lines) + "\n"


def skipped_listing(policy_set: PolicySet, platforms: list[str]) -> str:
    lines = [
        "# Flows without a policy term",
        "",
        "One line per inbound flow direction that some rendered platform does not express: role, flow id, reason.",
        "Configure these by hand or by another mechanism; every other inbound line has a rule.",
        "",
    ]
    lines += [f"- `{item.role}` `{item.flow}`: {item.reason}" for item in policy_set.skipped] or ["- none"]
    lines += ["", "## Addresses without a rule", "",
              "Addresses of one IP version that an inbound line cannot use, because the other end has none of it.", ""]
    lines += [f"- {gap.text}" for gap in policy_set.family_gaps] or ["- none"]
    lines += ["", "## Roles without a policy", "",
              "A role not managed here (platform unmanaged in roles.csv) gets its allow list instead.", ""]
    lines += [f"- `{role}`: {why}" for role, why in policy_set.without_policy] or ["- none"]
    lines += ["", "## Unmatched traffic", ""]
    lines += [f"- {platform}: {DEFAULT_DENY[platform]}" for platform in platforms]
    unmanaged = [f"`{policy.role.id}`" for policy in policy_set.policies if not policy.managed]
    if unmanaged:
        lines.append(f"- roles not managed here ({', '.join(unmanaged)}): no file here drops their traffic, "
                     f"and the firewall of their hosts, managed elsewhere, decides")
    return "\n".join(lines) + "\n"


def readme(platforms: list[str]) -> str:
    return "\n".join([
        "# Aerleon policies",
        "",
        "An Aerleon repository: naming definitions in `def/`, one policy per role in `policies/pol/`,",
        "and in `out/` the files to apply. Each policy accepts the inbound flows of one role on that role's",
        "hosts, in one term per peer role and transport; the term lists one service per flow, named after",
        "the flow and described in `def/services.yaml`. `SKIPPED.md` lists the inbound flows that have no",
        "rule and why.",
        "",
        "The rules in `out/` are what `aclgen --output_directory out` renders in this folder, in a form",
        "that is safe to apply more than once:",
        "",
        "- `<role>.nft` (`nft -f`): Aerleon's term chains in a dual-stack table `inet portbook_<role>`",
        "  (the role id with `-` and `_` swapped) that the file replaces whenever it is loaded; each accept",
        f"  there also sets bit `{nftables.ACCEPTED_MARK:#010x}` of the packet mark, and the table drops nothing.",
        f"  Every role file also replaces the same table `inet {nftables.HOST_TABLE}`, which clears that bit",
        "  before the role tables see a packet and after them accepts loopback, established and related",
        "  traffic, the ICMP and ICMPv6 a host needs (`[policy] accept_loopback`, `accept_established`,",
        "  `accept_icmp` in portbook.toml) and marked packets, and drops the rest; so a host loads the",
        "  file of every role it plays, in any order, and each role's flows pass.",
        "- `<role>.bat` (an administrator's cmd.exe): Aerleon's netsh rules with every value quoted, each",
        "  rule name deleted before rules are added under it, plus program exceptions (`i_program-<flow>`)",
        "  for flows that name a program, which Aerleon cannot express; `[policy] program_paths` in",
        "  portbook.toml gives the full path Windows Firewall matches. CRLF line ends.",
        "",
        "Each role's hosts get the files of the platform its `platform` column in roles.csv names: the",
        "`.bat` for `windows`, the `.nft` for `linux`, both when the column is empty. A role `unmanaged`",
        "here (a host this product does not own, such as a shared DNS server) gets no policy at all,",
        "so nothing here drops its traffic, and no file in `policies/pol/`; instead, for whoever manages",
        "its hosts:",
        "",
        "- `<role>.allow.md`: the inbound connections its hosts must accept, and those no rule covers;",
        "- `<role>.allow.nft`: the same accept rules as chains that no hook uses, with a chain `allow`",
        "  jumping to them, to copy into the table of the host's own input chain (loading the file",
        "  alone accepts and drops nothing).",
        "",
        "`--policy-every-role` gives every role the files of every rendered platform whatever roles.csv",
        "says, as `portbook verify` needs to prove each host's policy.",
        "",
        f"Platforms: {', '.join(platforms) or 'none'}.",
        "",
    ])


def _platform_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PLATFORM_OPTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown platform(s) {', '.join(unknown)}; supported: {', '.join(PLATFORM_OPTIONS)}")
    return names


def add_arguments(group) -> None:
    group.add_argument("--policy-platforms", type=_platform_list, default=None, metavar="LIST",
                       help="comma-separated Aerleon platforms to render (default: [policy] platforms in "
                            f"portbook.toml, else {','.join(DEFAULT_PLATFORMS)}; supported: {', '.join(PLATFORM_OPTIONS)})")
    group.add_argument("--policy-every-role", action="store_true",
                       help="give every role the files of every rendered platform, a full policy, whatever the "
                            "platform column of roles.csv says (to prove the policy in network namespaces)")


def _setting_error(model: Model, key: str, message: str) -> SettingsError:
    """A SettingsError at the line of `key` in the [policy] table."""
    return SettingsError(model.settings.location(f"policy.{key}"), message)


def platforms_for(model: Model, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The platforms to render and notes about configured ones that cannot be."""
    chosen = getattr(args, "policy_platforms", None)
    if chosen is not None:
        return chosen, []
    configured = model.settings.section("policy").get("platforms", DEFAULT_PLATFORMS)
    if isinstance(configured, str):
        configured = configured.split(",")
    if not isinstance(configured, list) or not all(isinstance(name, str) for name in configured):
        raise _setting_error(model, "platforms", f"[policy] platforms must be a list of platform names such as "
                                                 f"{DEFAULT_PLATFORMS!r}, not {safe_comment(repr(configured), 40)}")
    names = [name.strip() for name in configured if name.strip()]
    known = [name for name in names if name in PLATFORM_OPTIONS]
    notes = [f"[policy] platforms: {safe_comment(name, 40)!r} is not supported and is not rendered; "
             f"supported: {', '.join(PLATFORM_OPTIONS)}" for name in names if name not in PLATFORM_OPTIONS]
    return list(dict.fromkeys(known)), notes


def host_defaults(model: Model) -> nftables.HostDefaults:
    """The nftables host defaults from `[policy] accept_*`; each must be true or false."""
    section = model.settings.section("policy")
    chosen = {}
    for key, attribute in HOST_DEFAULT_SETTINGS.items():
        if key not in section:
            continue
        value = section[key]
        if not isinstance(value, bool):
            raise _setting_error(model, key, f"[policy] {key} must be true or false, "
                                             f"not {safe_comment(repr(value), 40)}")
        chosen[attribute] = value
    return nftables.HostDefaults(**chosen)


def program_paths(model: Model) -> dict[str, str]:
    """`[policy] program_paths`: program file name as the data gives it -> its full path on
    the hosts, for the Windows program exceptions (Windows Firewall matches a program by
    its path). Names compare without regard to case, as Windows file names do."""
    configured = model.settings.section("policy").get("program_paths", {})
    if not isinstance(configured, dict):
        raise _setting_error(model, "program_paths", "[policy] program_paths must be a table of program name = "
                                                     "full path, such as { \"Msdpm.exe\" = 'C:\\Tools\\Msdpm.exe' }")
    paths = {}
    for name, path in configured.items():
        if not isinstance(path, str) or not windows.writable(path):
            raise _setting_error(model, "program_paths", f"[policy] program_paths: the path of "
                                                         f"{safe_comment(name, 40)!r} must be text without "
                                                         f"quotes or any of % & | ^ < > ! and not end in a backslash")
        paths[name.lower()] = path
    return paths


def _program_notes(policy_set: PolicySet) -> list[str]:
    """A program exception without a folder matches no program: say so once per program."""
    bare = [rule.program for policy in policy_set.policies for rule in policy.programs
            if "\\" not in rule.program and "/" not in rule.program]
    return [f"Windows program rules name {safe_comment(program, 60)} without its folder; Windows Firewall "
            f"matches programs by full path, so give it in [policy] program_paths" for program in dict.fromkeys(bare)]


def build(model: Model, files: OutputFiles, args: argparse.Namespace) -> list[str]:
    platforms, notes = platforms_for(model, args)
    defaults = host_defaults(model)
    every_role = bool(getattr(args, "policy_every_role", False))
    policy_set = plan(model, platforms, program_paths(model), every_role)
    # No hash of all the data here: a file should change only when its own terms do.
    heading = f"Generated by portbook from {safe_comment(datasets_text(model))}; change the data, not this file."
    # Each file is made only when what it shows of the plan changed.
    inputs = BuildInputs(model, files.name, {"platforms": platforms, "every_role": every_role})
    files.derive("def/networks.yaml", inputs.of((), heading, policy_set.networks),
                 lambda: yaml_text({"networks": policy_set.networks}, heading))
    files.derive("def/services.yaml", inputs.of((), heading, policy_set.services),
                 lambda: yaml_text({"services": policy_set.services}, heading))
    # What rendering each role's files reads: keys its rendered files and, with the
    # services' comments it lists, its allow list.
    read_by = {policy.stem: rendered_from(policy, policy_set) for policy in policy_set.policies
               if platforms or not policy.managed}
    for policy in policy_set.policies:
        # A role not managed here has no policy: aclgen would render it with a drop.
        if policy.terms and policy.targets and policy.managed:
            files.derive(f"policies/pol/{policy.stem}.yaml", inputs.of((), heading, policy.filters()),
                         lambda policy=policy: yaml_text({"filters": policy.filters()}, heading))
        if not policy.managed:
            shown = (heading, policy.peers, read_by[policy.stem], term_services(policy, policy_set),
                     [item for item in policy_set.skipped if item.role == policy.role.id],
                     [gap for gap in policy_set.family_gaps if gap.role == policy.role.id])
            files.derive(f"out/{policy.stem}.allow.md", inputs.of((), *shown),
                         lambda policy=policy: allow_list(policy, policy_set, heading))
    if not platforms:
        notes.append("no platform to render; the policies are written without outputs")
    # Aerleon renders only the roles whose plan or named definitions changed; the files of
    # the others are carried over from the published build.
    wanted: dict[str, str] = {}  # out/ file -> the digest of what it is made from
    unmade = []
    for policy in policy_set.policies if platforms else []:
        made_from = inputs.of((), heading, defaults, read_by[policy.stem])
        names = [f"out/{name}" for name, _kind in rendered_files(policy)]
        if names and not files.carry(names, made_from):
            unmade.append(policy)
            wanted.update(dict.fromkeys(names, made_from))
    outputs, render_notes = render(policy_set, unmade, defaults, heading)
    for name, text in sorted(outputs.items()):
        files.add(f"out/{name}", text, inputs=wanted[f"out/{name}"])
    listed = (platforms, policy_set.skipped, policy_set.family_gaps, policy_set.without_policy,
              [policy.role.id for policy in policy_set.policies if not policy.managed])
    files.derive(SKIPPED_FILE, inputs.of((), *listed), lambda: skipped_listing(policy_set, platforms))
    files.derive("README.md", inputs.of((), platforms), lambda: readme(platforms))
    notes += render_notes
    notes += [f"no term for role {item.role}, flow {item.flow}: {item.reason}" for item in policy_set.skipped]
    notes += [f"no rule for some addresses: {gap.text}" for gap in policy_set.family_gaps]
    notes += _program_notes(policy_set)
    return notes
