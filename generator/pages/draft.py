"""Draft flows rows from what a page states, for `import`: one row per port and transport
of its port tables and port lists, filled as far as the page's words go (roles, direction
from arrows and words, transport with a did-you-mean, service from the registry), and what
the page leaves open blank with a note in `assumption`, which also names the page line.
"""
from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from ..csvfile import MAX_FIELD_CHARS
from ..model import ANY, PortRange
from ..registry import Registry
from ..schema import DYNAMIC_RANGES, FLOWS
from .mentions import PageStatements, PortStatement, RowStatements, TCP_UDP, protocol_transports
from .parse import PageRow, one_line, slug

GENERIC_SUFFIX = "server"
MAX_ID = 64


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


# --- roles the page itself names, in its source and destination columns ---

@dataclass(frozen=True)
class PageRole:
    id: str
    name: str
    note: str  # where two names of the page may be one role


def _singular(name: str) -> str:
    words = one_line(name).lower().split()
    while words and words[-1] in (GENERIC_SUFFIX, "servers", "computer", "computers", "host", "hosts"):
        words = words[:-1]
    return re.sub(r"(?<=[a-z])s$", "", " ".join(words))


_NO_ROLE = re.compile(r"[-–—<>→←↔ ]*|(?i:n/?a|none|any|all)")


def role_names(cell: str) -> list[tuple[str, str]]:
    """(role id, name) of each role a source or destination cell names ("Web tier",
    "the directory server and the DNS server"); a dash or "any" names none."""
    found = []
    for name in re.split(r"\s*(?:\n|,|;|\band\b|/)\s*", cell):
        name = re.sub(r"(?i)^the\s+", "", one_line(name)).strip(" .")
        if name and not _NO_ROLE.fullmatch(name):
            found.append((slug(name, "role")[:MAX_ID].rstrip("-"), name))
    return found


def page_roles(stated: PageStatements) -> list[PageRole]:
    """The roles a page's source and destination (or feature) columns name, each once."""
    names: dict[str, str] = {}
    for row in stated.rows:
        for column in ("source", "destination"):
            for role_id, name in role_names(row.row.cell(column)):
                names.setdefault(role_id, name)
    roles = []
    for role_id, name in names.items():
        close = [other for other_id, other in names.items() if other_id != role_id and (
            _singular(other) == _singular(name)
            or difflib.SequenceMatcher(None, _singular(other), _singular(name)).ratio() >= 0.85)]
        note = f"The page also says {', '.join(repr(c) for c in close)}: merge the two if they are one role." if close else ""
        roles.append(PageRole(role_id, name, note))
    return roles


# --- transports, services and direction as the page's words give them ---

# Names that are no misspelt transport although one letter from one (RDP is not UDP).
_NOT_TRANSPORTS = frozenset({"rdp", "rpc", "ftp", "ntp", "smb", "dns", "esp", "gre", "ip", "ah", "ssl", "tls", "ssh",
                             "sctp", "dccp", "ucp", "tdp", "tip"})


def _one_edit(word: str, other: str) -> bool:
    """The words differ by one insertion, deletion, substitution or swap of neighbours."""
    if word == other or abs(len(word) - len(other)) > 1:
        return False
    if len(word) == len(other):
        diffs = [i for i in range(len(word)) if word[i] != other[i]]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and word[diffs[0]] == other[diffs[1]] and word[diffs[1]] == other[diffs[0]])
    short, long = sorted((word, other), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def transport_guess(protocol: str, registry: Registry | None = None) -> tuple[str, str]:
    """(transport, the page's word) when a protocol cell names no transport but a word of
    it is one edit from exactly one ('UPD' -> udp, 'TP' -> tcp), else ("", "")."""
    for word in re.findall(r"[A-Za-z]{2,4}", protocol):
        lowered = word.lower()
        if lowered in _NOT_TRANSPORTS or (registry is not None and registry.knows(lowered)):
            continue
        close = [transport for transport in TCP_UDP if _one_edit(lowered, transport)]
        if len(close) == 1:
            return close[0], word
    return "", ""


_SERVICE_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9+._-]*[A-Za-z0-9+]|[A-Za-z]")


def _registered(registry: Registry, service: str, transport: str, ports: PortRange | None) -> bool:
    if ports is None:
        return False
    transports = TCP_UDP if transport in ("", ANY) else (transport,)
    return any(ports.first in r and ports.last in r for t in transports for r in registry.ports(service, t))


def service_of(names: list[str], context: str, transport: str, ports: PortRange | None,
               registry: Registry | None) -> str:
    """The registered service a row names: one the registry gives this port, named in its
    names or context; else a name the page writes as a name ("PostgreSQL", "LDAP", or the
    whole name cell: "PostgreSQL") even where the registry gives it another port, so that
    `check` says so."""
    if registry is None:
        return ""
    tokens = [(token, text) for text in names for token in _SERVICE_TOKEN.findall(text)]
    for token, _ in tokens + [(token, context) for token in _SERVICE_TOKEN.findall(context)]:
        if registry.knows(token) and _registered(registry, token, transport, ports):
            return token.lower()
    for token, text in tokens:
        if registry.knows(token) and one_line(text).lower() == token.lower():
            return token.lower()
    return ""


_BOTH_ARROW = re.compile(r"<-+>|<=+>|↔|⇔")
_FORWARD_ARROW = re.compile(r"-+>|=+>|→|⇒")
_BACKWARD_ARROW = re.compile(r"<-+|<=+|←|⇐")
_BOTH_WORDS = re.compile(r"(?i)\bboth\b[^.]{0,80}\binitiat|\bbidirectional\b|\bin both directions\b|\beither side\b|\beither direction\b")


def arrow_direction(text: str) -> str:
    """'both', 'forward' (left column to right column), 'backward', or "" from the arrows
    of a text ("<--->", "--->", "<---")."""
    if _BOTH_ARROW.search(text):
        return "both"
    forward, backward = bool(_FORWARD_ARROW.search(text)), bool(_BACKWARD_ARROW.search(text))
    return "forward" if forward and not backward else "backward" if backward and not forward else ""


# --- the rows ---

def _dynamic_pool(ports: PortRange) -> str:
    for key, (first, last, _) in DYNAMIC_RANGES.items():
        if (first, last) == (ports.first, ports.last):
            return key
    return ""


def _unique_id(base: str, taken: set[str]) -> str:
    base = base[:MAX_ID].rstrip("-._")
    if base not in taken:
        return base
    number = 2
    while f"{base[:MAX_ID - 4].rstrip('-._')}-{number}" in taken:
        number += 1
    return f"{base[:MAX_ID - 4].rstrip('-._')}-{number}"


def _transport_of(statement: PortStatement, protocol: str, registry: Registry | None, decide: list[str]) -> str:
    if statement.transport:
        return statement.transport
    guess, word = transport_guess(protocol, registry)
    if guess:
        decide.append(f"The page's protocol {word!r} is taken as {guess} (did you mean {guess}?): confirm it.")
        return guess
    return ""


def draft_rows(stated: PageStatements, aliases: dict[str, str], registry: Registry | None = None,
               dataset: str = "") -> list[dict[str, str]]:
    """One flows row per port and transport the page's tables and port lists state, in the
    flows schema's columns, ids prefixed by the dataset. What the page leaves open stays
    blank, and `assumption` says what to decide and which page line the row comes from."""
    rows: list[dict[str, str]] = []
    taken: set[str] = set()
    for stated_row in stated.rows:
        row = stated_row.row
        protocol = row.cell("protocol")
        label = row.cell("label") or (protocol if not protocol_transports(protocol) and not transport_guess(protocol)[0] else "")
        details = row.cell("details") if stated_row.table is not None else ""
        about_roles: list[str] = []
        source, destination, direction = _roles_of_row(stated_row, aliases, about_roles)
        if stated_row.port_from:
            about_roles.append("The port cell states no port; the port is taken from the row's other cells: confirm it.")
        with_transport = {statement.ports for statement in stated_row.ports if statement.transport}
        for statement in stated_row.ports:
            if not statement.transport and statement.ports in with_transport:
                continue  # "TCP port 135 ... see Special Considerations for Port 135": the same port again
            decide = list(about_roles)
            name = statement.name or label
            purpose = details or name or protocol or row.cell("details") or f"Port stated at page line {statement.line}"
            if len(purpose) > MAX_FIELD_CHARS:
                purpose = purpose[: MAX_FIELD_CHARS - 1] + "…"
                decide.append(f"The details were cut to {MAX_FIELD_CHARS} characters: shorten the purpose.")
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
            transport = _transport_of(statement, protocol, registry, decide)
            service = "" if statement.dynamic else service_of(
                [text for text in (statement.name, row.cell("label"), protocol) if text], details, transport, statement.ports, registry)
            if not transport and service:
                registered = sorted({t for t, _ in registry.all_ports(service)} & set(TCP_UDP))
                if len(registered) == 1:
                    transport = registered[0]
                    decide.append(f"The page gives no transport; {transport} is the one the registry gives {service}: confirm it.")
            if not transport:
                decide.append(f"The page gives no transport for {statement.words!r}: set tcp or udp.")
            programs = stated_row.programs
            program = programs[0] if len(programs) == 1 else ""
            if len(programs) > 1:
                decide.append(f"The row names several programs ({', '.join(programs)}): keep the one the rule is bound to.")
            base_name = name or (re.sub(r"(?i)\.exe$", "", program) if program else "") or "port"
            port_part = "dynamic" if statement.dynamic else ("any" if statement.ports is None else str(statement.ports))
            base = slug("-".join(part for part in (dataset, base_name[:40], port_part,
                                                   transport if transport and transport != port_part else "") if part), "flow")
            flow_id = _unique_id(base, taken)
            taken.add(flow_id)
            decide.append(f"Page line {statement.line}.")
            rows.append({
                "id": flow_id,
                "transport": transport,
                "port": port,
                "dynamic": pool,
                "source": source,
                "destination": destination,
                "direction": direction,
                "service": service,
                "program": program,
                "rule": row.cell("rule"),
                "purpose": purpose,
                "condition": "",
                "reference": row.section.key,
                "assumption": " ".join(decide),
            })
    return [{column: row.get(column, "") for column in FLOWS.column_names} for row in rows]


def decisions_left(row: dict[str, str]) -> bool:
    """Whether a draft row's assumption asks for more than the page line it names."""
    return bool(re.sub(r"Page line [0-9]+\.", "", row["assumption"]).strip())


def _roles_of_row(stated_row: RowStatements, aliases: dict[str, str], decide: list[str]) -> tuple[str, str, str]:
    """(source, destination, direction) as far as the row's words and arrows settle them."""
    row = stated_row.row
    text = " ".join(one_line(cell.text) for role, cell in row.cells.items() if role != "port")
    arrows = arrow_direction(row.cell("port") + " " + row.cell("direction"))
    both_words = bool(_BOTH_WORDS.search(text)) or bool(re.search(r"(?i)\bboth\b|\bbidirectional\b", row.cell("direction")))
    source, destination, direction = _named_roles(row, text, aliases, decide)
    if arrows == "backward":
        source, destination = destination, source
    opener = _opener(text, aliases)
    if not arrows and not both_words and opener and opener in (source, destination):
        # "The client computer initiates the connection": that role is the source.
        if opener == destination:
            source, destination = destination, source
        direction = "one-way"
        decide[:] = [note for note in decide if "which side connects" not in note and "who connects" not in note]
    if arrows == "both" or both_words:
        direction = "both"
        decide[:] = [note for note in decide if "which side connects" not in note]
    elif arrows and source and destination:
        direction = "one-way"
    return source, destination, direction


_OPENS = re.compile(r"(?i)\s+(?:initiates?|opens?|starts?)\b")


def _opener(text: str, aliases: dict[str, str]) -> str:
    """The one role the text says initiates the connection ("the client computer initiates"), or ""."""
    if not aliases:
        return ""
    openers = {aliases[one_line(m.group(1)).lower()] for m in _alias_pattern(tuple(sorted(aliases))).finditer(text)
               if _OPENS.match(text, m.end())}
    return openers.pop() if len(openers) == 1 else ""


def _column_role(row: PageRow, column: str, aliases: dict[str, str]) -> str:
    text = row.cell(column)
    if aliases:
        found = role_mentions(text, aliases)
        return found[0][1] if found else ""
    named = role_names(text)
    return named[0][0] if named else ""


def _named_roles(row: PageRow, text: str, aliases: dict[str, str], decide: list[str]) -> tuple[str, str, str]:
    if "source" in row.cells and "destination" in row.cells:
        source, destination = _column_role(row, "source", aliases), _column_role(row, "destination", aliases)
        if source and destination:
            return source, destination, "one-way"
    if not aliases:
        decide.append("No roles were given (--roles ROLES.csv): fill in source, destination and direction.")
        return "", "", ""
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
