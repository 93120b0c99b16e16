"""The nftables file of a role: Aerleon's term chains inside a table of the role's own.

Aerleon renders each term as a chain, which is kept as rendered. What Aerleon cannot
say is written here: it names every table `filtering_policies` (two roles on one host
would merge), it cannot make a file that replaces its own table when loaded again, and
its base chain accepts neither loopback traffic nor the ICMP a host needs. ICMP terms in
Aerleon would not do: it adds `ct state new` to every accept, and the kernel leaves
neighbour discovery untracked and ICMP errors related, so such terms would never match
them. So the file declares the role's table, deletes it and defines it again in one
transaction, and the base chain, the only one hooked into input, is written here with
the host defaults. A role not managed here gets the same table without any hooked
chain: its accept rules for whoever manages its hosts, and nothing that drops.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# The Aerleon header target that gives one `inet` table holding IPv4 and IPv6 rules.
AERLEON_TARGET = "mixed input"
BASE_CHAIN = "input"
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


def table_name(role_id: str) -> str:
    """An nftables identifier for a role's table: a letter first, then a-z, 0-9 and '_'."""
    return (TABLE_PREFIX + re.sub(r"[^a-z0-9]+", "_", role_id.lower()).strip("_"))[:NAME_LIMIT]


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


def _table_file(table: str, comments: list[str], chains: list[str], last_chain: str, rules: list[str]) -> str:
    """A file that replaces the role's table and nothing else, atomically, however often
    it is loaded: the term chains, then one chain of the file's own."""
    return "\n".join([
        *(f"# {comment}" for comment in comments),
        "# Loading this file again replaces the table below and leaves every other table alone.",
        f"table inet {table} {{}}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        *chains,
        f"    chain {last_chain} {{",
        *(f"        {rule}" for rule in rules),
        "    }",
        "}",
    ]) + "\n"


def nftables_file(aerleon_text: str, table: str, comment: str, heading: str, defaults: HostDefaults) -> str:
    """The policy of a role managed here: only its input hook drops."""
    chains, jumps = term_chains(aerleon_text)
    base_rules = [f'comment "{comment}"', "type filter hook input priority 0; policy drop;",
                  *defaults.rules(), *(f"jump {name}" for name in jumps)]
    return _table_file(table, [heading], chains, BASE_CHAIN, base_rules)


def allow_file(aerleon_text: str, table: str, comment: str, heading: str) -> str:
    """The accept rules of a role not managed here, for whoever manages its hosts: the term
    chains and a chain `allow` that jumps to each. No chain is hooked, so loading the file
    accepts and drops nothing; a jump stays within its table, so the owner copies the
    chains into the table of the host's input chain and jumps to `allow` from there."""
    chains, jumps = term_chains(aerleon_text)
    return _table_file(table, [
        heading,
        "Not a policy: no chain below is hooked into the kernel, so loading this file accepts and drops nothing.",
        f"Copy the chains into the table of the host's input chain and `jump {ALLOW_CHAIN}` there, before it drops.",
    ], chains, ALLOW_CHAIN, [f'comment "{comment}"', *(f"jump {name}" for name in jumps)])
