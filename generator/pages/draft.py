"""Draft flows rows from a page's port tables, for `import`: one row per port and
transport, roles filled in where the page's words name a role, and what the page leaves
open blank with a note in `assumption`.
"""
from __future__ import annotations

import functools
import re

from ..csvfile import MAX_FIELD_CHARS
from ..model import ANY, PortRange
from ..schema import DYNAMIC_RANGES, FLOWS
from .mentions import PageStatements, protocol_transports
from .parse import PageRow, PageSection, one_line, slug

GENERIC_SUFFIX = "server"


def role_aliases(roles: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names by which a page may refer to each (id, name) role: the name, the id
    with dashes as spaces, and both without a trailing 'server' ("Web server" -> "Web")
    or with one added ("Mail" -> "Mail server"). A name two roles share is dropped."""
    owners: dict[str, set[str]] = {}
    for role_id, name in roles:
        forms = {one_line(name).lower(), role_id.replace("-", " ").lower()}
        for form in list(forms):
            words = form.split()
            if len(words) > 1 and words[-1] == GENERIC_SUFFIX:
                forms.add(" ".join(words[:-1]))
            elif words and words[-1] != GENERIC_SUFFIX:
                forms.add(f"{form} {GENERIC_SUFFIX}")
        for form in forms:
            if form:
                owners.setdefault(form, set()).add(role_id)
    return {alias: next(iter(ids)) for alias, ids in owners.items() if len(ids) == 1}


@functools.lru_cache(maxsize=8)
def _alias_pattern(aliases: tuple[str, ...]) -> re.Pattern:
    """One pattern for a set of aliases, longest first; compiled once per set, since every
    cell of every row is searched with the same one."""
    alternatives = "|".join(re.escape(alias).replace(r"\ ", r"\s+") for alias in sorted(aliases, key=len, reverse=True))
    return re.compile(rf"(?i)(?<![\w-])({alternatives})(?:e?s)?(?![\w-])")


def role_mentions(text: str, aliases: dict[str, str]) -> list[tuple[int, str]]:
    """(offset, role id) for every alias in the text, longest alias first, plurals included."""
    if not aliases:
        return []
    pattern = _alias_pattern(tuple(sorted(aliases)))
    return [(m.start(), aliases[one_line(m.group(1)).lower()]) for m in pattern.finditer(text)]


def role_pairs(text: str, aliases: dict[str, str]) -> list[tuple[str, str]]:
    """Pairs named as 'between A and B', in page order."""
    pairs = []
    for clause in re.split(r"(?i)\bbetween\b", text)[1:]:
        clause = re.split(r"[.;:]", clause)[0]
        roles = list(dict.fromkeys(role for _, role in role_mentions(clause, aliases)))
        if len(roles) >= 2 and (roles[0], roles[1]) not in pairs:
            pairs.append((roles[0], roles[1]))
    return pairs


def _dynamic_pool(ports: PortRange) -> str:
    for key, (first, last, _) in DYNAMIC_RANGES.items():
        if (first, last) == (ports.first, ports.last):
            return key
    return ""


def _unique_id(base: str, section: PageSection, taken: set[str]) -> str:
    candidates = [base, slug(f"{section.key}-{base}", base)]
    for candidate in candidates:
        candidate = candidate[:64].rstrip("-._")
        if candidate not in taken:
            return candidate
    number = 2
    while f"{base[:60].rstrip('-._')}-{number}" in taken:
        number += 1
    return f"{base[:60].rstrip('-._')}-{number}"


def draft_rows(stated: PageStatements, aliases: dict[str, str]) -> list[dict[str, str]]:
    """One flows row per port and transport of the page's tables, in the flows schema's
    columns. What the page leaves open stays blank, and `assumption` says what to decide."""
    rows: list[dict[str, str]] = []
    taken: set[str] = set()
    for stated_row in stated.rows:
        table, row = stated_row.table, stated_row.row
        protocol = row.cell("protocol")
        label = row.cell("label") or (protocol if not protocol_transports(protocol) else "")
        details = row.cell("details")
        purpose = details or label or protocol or f"Port from the table at line {table.line}"
        about_roles: list[str] = []
        source, destination, direction = _roles_of_row(row, aliases, about_roles)
        if len(purpose) > MAX_FIELD_CHARS:
            purpose = purpose[: MAX_FIELD_CHARS - 1] + "…"
            about_roles.append(f"The details were cut to {MAX_FIELD_CHARS} characters: shorten the purpose.")
        for statement in stated_row.ports:
            decide = list(about_roles)
            if statement.dynamic:
                port = str(statement.ports) if statement.ports else ""
                pool = _dynamic_pool(statement.ports) if statement.ports else ""
                if not statement.ports:
                    decide.append("The page calls these ports dynamic without giving a range: set the port to the pool and `dynamic` to its platform.")
                elif not pool:
                    decide.append(f"The page gives {port} as the dynamic range, which is no documented platform pool: record the pool in use and an erratum for the page's value.")
            else:
                port = str(statement.ports) if statement.ports else ANY
                pool = ""
            if not statement.transport:
                decide.append(f"The page gives no transport for {statement.words!r}: set tcp or udp.")
            programs = stated_row.programs
            program = programs[0] if len(programs) == 1 else ""
            if len(programs) > 1:
                decide.append(f"The row names several programs ({', '.join(programs)}): keep the one the rule is bound to.")
            base_name = label or (re.sub(r"(?i)\.exe$", "", program) if program else "") or "port"
            port_part = "dynamic" if statement.dynamic else ("any" if statement.ports is None else str(statement.ports))
            transport = statement.transport
            base = slug(f"{base_name}-{port_part}" + (f"-{transport}" if transport and transport != port_part else ""), "flow")
            flow_id = _unique_id(base, table.section, taken)
            taken.add(flow_id)
            rows.append({
                "id": flow_id,
                "transport": transport,
                "port": port,
                "dynamic": pool,
                "source": source,
                "destination": destination,
                "direction": direction,
                "service": "",
                "program": program,
                "rule": row.cell("rule"),
                "purpose": purpose,
                "condition": "",
                "reference": table.section.key,
                "assumption": " ".join(decide),
            })
    return [{column: row.get(column, "") for column in FLOWS.column_names} for row in rows]


def _roles_of_row(row: PageRow, aliases: dict[str, str], decide: list[str]) -> tuple[str, str, str]:
    """(source, destination, direction) as far as the row's words settle them."""
    if not aliases:
        decide.append("No roles were given (--roles ROLES.csv): fill in source, destination and direction.")
        return "", "", ""
    if "source" in row.cells and "destination" in row.cells:
        source = role_mentions(row.cell("source"), aliases)
        destination = role_mentions(row.cell("destination"), aliases)
        if source and destination:
            return source[0][1], destination[0][1], "one-way"
    text = " ".join(one_line(cell.text) for role, cell in row.cells.items() if role != "port")
    pairs = role_pairs(text, aliases)
    if pairs:
        source, destination = pairs[0]
        decide.append(f"The page names {source} and {destination} without saying which side connects: set the direction (and swap source and destination if needed).")
        for other in pairs[1:]:
            decide.append(f"It also names {other[0]} and {other[1]}: add a row for that pair.")
        return source, destination, ""
    named = list(dict.fromkeys(role for _, role in role_mentions(text, aliases)))
    if len(named) >= 2:
        decide.append(f"The page names {' and '.join(named)} but not who connects to whom: check source and destination and set the direction.")
        return named[0], named[1], ""
    if named:
        decide.append(f"The page names only {named[0]}: choose the peer role, which side connects, and the direction.")
    else:
        decide.append("The page names no known role here: fill in source, destination and direction.")
    return "", "", ""
