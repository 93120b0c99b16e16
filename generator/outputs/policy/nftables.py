"""The nftables file of a role: Aerleon's term chains inside a table of the role's own,
and the host's shared table that decides.

Aerleon renders each term as a chain, which is kept as rendered. What Aerleon cannot
say is written here: it names every table `filtering_policies` (two roles on one host
would merge), it cannot make a file that replaces its own table when loaded again, and
its base chain accepts neither loopback traffic nor the ICMP a host needs. ICMP terms in
Aerleon would not do: it adds `ct state new` to every accept, and the kernel leaves
neighbour discovery untracked and ICMP errors related, so such terms would never match
them. So the file declares the role's table, deletes it and defines it again in one
transaction, and writes the one chain of that table hooked into input.

An accept ends only the base chain it is reached from, and every base chain on the hook
sees the packet, so one table per role that dropped what it does not accept would drop
the flows of every other role of the same host. So a role's table drops nothing: each
term's accept first sets ACCEPTED_MARK in the packet mark, and its input chain's policy
is accept. The host table (HOST_TABLE), which every role file declares, deletes and
defines again identically, so that whichever file loads last leaves the same table,
clears that bit before any role table sees the packet and, after all of them, accepts
the host defaults and marked packets and drops the rest: the only chain that drops. A
role not managed here gets the role table without any hooked chain and no host table:
its accept rules for whoever manages its hosts, and nothing that drops.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# The Aerleon header target that gives one `inet` table holding IPv4 and IPv6 rules.
AERLEON_TARGET = "mixed input"
BASE_CHAIN = "input"
# The table every role file on a host shares. Role tables are TABLE_PREFIX and more, so
# no role id names this one.
HOST_TABLE = "portbook"
# The bit of the packet mark by which a role table tells the host table it accepted the
# packet; it means nothing outside the input hook, between the two priorities below.
ACCEPTED_MARK = 0x01000000
# Input hook priorities: the host table clears the bit, every role table may set it,
# then the host table decides.
CLEAR_PRIORITY, ROLE_PRIORITY, DECIDE_PRIORITY = -10, 0, 10
CLEAR_CHAIN = "clear-accepted"
# The chain of an allow list that jumps to its term chains; no term name is a bare word.
ALLOW_CHAIN = "allow"
# nftables refuses names longer than this (NFT_NAME_MAXLEN less the final NUL).
NAME_LIMIT = 255
TABLE_PREFIX = "portbook_"

# Echo, and time-exceeded for traceroute and path MTU discovery across routers; the
# fragmentation-needed code of destination-unreachable carries IPv4 path MTU.
ICMP_TYPES = ("echo-request", "time-exceeded")
# Neighbour and router discovery (without them IPv6 stops working on the link), path
# MTU (packet-too-big), time-exceeded and echo.
ICMPV6_TYPES = ("nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert",
                "packet-too-big", "time-exceeded", "echo-request")


@dataclass(frozen=True)
class HostDefaults:
    """What the base chain accepts before any term: `[policy] accept_*` in portbook.toml."""

    loopback: bool = True
    established: bool = True
    icmp: bool = True

    def rules(self) -> list[str]:
        rules = []
        if self.loopback:
            rules.append('iif "lo" accept')
        if self.established:
            rules.append("ct state established,related accept")
        if self.icmp:
            rules += [
                f"icmp type {{ {', '.join(ICMP_TYPES)} }} accept",
                "icmp type destination-unreachable icmp code frag-needed accept",
                f"icmpv6 type {{ {', '.join(ICMPV6_TYPES)} }} accept",
            ]
        return rules


# '-' and '_' trade places, so that no two role ids share a table and a role whose id has
# neither, or only '-', keeps the table it always had; '.' stays (nftables names carry it).
_TABLE_CHARACTERS = str.maketrans("-_", "_-")


def table_name(role_id: str) -> str:
    """The nftables table of a role, one per role id: TABLE_PREFIX and the id with '-' and
    '_' swapped (a role id is a-z, 0-9, '.', '_' and '-', at most 64 characters)."""
    return TABLE_PREFIX + role_id.translate(_TABLE_CHARACTERS)


_TABLE_OPEN = "table inet filtering_policies {"
_BASE_OPEN = re.compile(r"    chain root\d+ \{")
_JUMP = re.compile(r"        jump ([a-z0-9-]+)")


def term_chains(aerleon_text: str) -> tuple[list[str], list[str]]:
    """The term chains of an Aerleon nftables output (its lines) and the names its base
    chain jumps to, in order. Anything but the one table shape Aerleon writes for a
    'mixed' filter is refused, so that no rule is lost on the way."""
    lines = aerleon_text.rstrip("\n").split("\n")
    if lines[0] != _TABLE_OPEN or lines[-1] != "}":
        raise ValueError(f"unexpected Aerleon nftables output starting {lines[0]!r}")
    body = lines[1:-1]
    base = next((index for index, line in enumerate(body) if _BASE_OPEN.fullmatch(line)), None)
    if base is None or body[-1] != "    }":
        raise ValueError("Aerleon nftables output without its base chain")
    jumps = [match[1] for line in body[base + 1:-1] if (match := _JUMP.fullmatch(line))]
    # For a 'mixed' filter Aerleon writes each port rule once per IP version it handles,
    # the same text twice; the copy matches nothing the first did not.
    chains: list[str] = []
    seen: set[str] = set()
    for line in body[:base]:
        if line.startswith("    chain "):
            seen = set()
        elif line.startswith("        ") and not line.startswith("        comment "):
            if line in seen:
                continue
            seen.add(line)
        chains.append(line)
    return chains, jumps


def _replace(table: str, body: list[str]) -> list[str]:
    """A table replaced atomically, however often the file is loaded, and nothing else."""
    return [f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{", *body, "}"]


def _chain(name: str, rules: list[str]) -> list[str]:
    return [f"    chain {name} {{", *(f"        {rule}" for rule in rules), "    }"]


def _file(comments: list[str], tables: list[str]) -> str:
    return "\n".join([
        *(f"# {comment}" for comment in comments),
        "# Loading this file again replaces the tables below and leaves every other table alone.",
        *tables,
    ]) + "\n"


def _marking(chains: list[str]) -> list[str]:
    """The term chains with each accept setting ACCEPTED_MARK first: Aerleon's rule text,
    then the mark, then its verdict. A rule with another verdict is refused, since a term
    here only accepts."""
    marked = []
    for line in chains:
        if line.startswith("        ") and not line.startswith("        comment "):
            if not line.endswith(" accept"):
                raise ValueError(f"unexpected Aerleon nftables rule {line.strip()!r}")
            line = f"{line[:-len(' accept')]} meta mark set meta mark | {ACCEPTED_MARK:#010x} accept"
        marked.append(line)
    return marked


def host_table(defaults: HostDefaults) -> list[str]:
    """The host table, the same in every role file: the only chain that drops."""
    return _replace(HOST_TABLE, [
        *_chain(CLEAR_CHAIN, [
            'comment "No packet enters the role tables marked as accepted"',
            f"type filter hook input priority {CLEAR_PRIORITY}; policy accept;",
            f"meta mark set meta mark & {~ACCEPTED_MARK & 0xFFFFFFFF:#010x}",
        ]),
        *_chain(BASE_CHAIN, [
            'comment "Host defaults, then what a role table accepted, and the rest is dropped"',
            f"type filter hook input priority {DECIDE_PRIORITY}; policy drop;",
            *defaults.rules(),
            f"meta mark & {ACCEPTED_MARK:#010x} == {ACCEPTED_MARK:#010x} accept",
        ]),
    ])


def nftables_file(aerleon_text: str, table: str, comment: str, heading: str, defaults: HostDefaults) -> str:
    """The policy of a role managed here: the role's table marks what its terms accept,
    and the host table drops the rest."""
    chains, jumps = term_chains(aerleon_text)
    base_rules = [f'comment "{comment}"', f"type filter hook input priority {ROLE_PRIORITY}; policy accept;",
                  *(f"jump {name}" for name in jumps)]
    return _file([heading], [*_replace(table, [*_marking(chains), *_chain(BASE_CHAIN, base_rules)]),
                             *host_table(defaults)])


def allow_file(aerleon_text: str, table: str, comment: str, heading: str) -> str:
    """The accept rules of a role not managed here, for whoever manages its hosts: the term
    chains and a chain `allow` that jumps to each. No chain is hooked, so loading the file
    accepts and drops nothing; a jump stays within its table, so the owner copies the
    chains into the table of the host's input chain and jumps to `allow` from there."""
    chains, jumps = term_chains(aerleon_text)
    allow_rules = [f'comment "{comment}"', *(f"jump {name}" for name in jumps)]
    return _file([
        heading,
        "Not a policy: no chain below is hooked into the kernel, so loading this file accepts and drops nothing.",
        f"Copy the chains into the table of the host's input chain and `jump {ALLOW_CHAIN}` there, before it drops.",
    ], _replace(table, [*chains, *_chain(ALLOW_CHAIN, allow_rules)]))
