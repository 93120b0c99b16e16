"""Consistency checks over a loaded model.

Each check is a small function that yields `Issue`s under one stable code from
`generator.issues.CATALOG`. `run_checks` runs them all and returns every issue;
the caller decides the exit code.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
from typing import Callable, Iterable, Iterator

from .issues import CATALOG, Issue, did_you_mean, issue, sort_key
from .model import ANY, Flow, FlowColumns, Model, PortRange
from .registry import Registry
from .schema import DYNAMIC_RANGES, lower_each, strings

CheckFunction = Callable[[Model, Registry], Iterable[Issue]]


@dataclass(frozen=True)
class Check:
    code: str
    function: CheckFunction

    @property
    def doc(self) -> str:
        return (self.function.__doc__ or "").strip()


CHECKS: list[Check] = []


def check(code: str) -> Callable[[CheckFunction], CheckFunction]:
    if code not in CATALOG:
        raise KeyError(code)

    def register(function: CheckFunction) -> CheckFunction:
        CHECKS.append(Check(code, function))
        return function

    return register


def run_checks(model: Model, registry: Registry) -> list[Issue]:
    issues = [found for entry in CHECKS for found in entry.function(model, registry)]
    return sorted(issues, key=sort_key)


def _ranges_text(ranges: list[tuple[str, PortRange]]) -> str:
    return ", ".join(f"{ports}/{transport}" for transport, ports in ranges)


def _close_port(port: int, candidates: list[int]) -> int | None:
    """A registered port that looks like a typo of `port`: one digit changed, added,
    dropped or two swapped, or within 10."""
    text = str(port)
    best = None
    for candidate in candidates:
        other = str(candidate)
        ratio = difflib.SequenceMatcher(None, text, other).ratio()
        if ratio >= 0.75 or abs(candidate - port) <= 10:
            if best is None or abs(candidate - port) < abs(best - port):
                best = candidate
    return best


def _tables(model: Model) -> list[FlowColumns]:
    return [dataset.flow_columns for dataset in model.datasets]


@check("C201")
def registry_mismatch(model: Model, registry: Registry) -> Iterator[Issue]:
    """A row that names a registered service must use a port and transport registered for it.
    A near miss such as 1443/tcp for ms-sql-s (1433/tcp) gets a "did you mean"."""
    def registered_for(service: str, transport: str, first: int, last: int) -> bool:
        transports = ("tcp", "udp") if transport == ANY else (transport,)
        return any(first in r and last in r for t in transports for r in registry.ports(service, t))

    registered: set[tuple[str, str, int, int]] = set()  # combinations already found in the registry
    for table in _tables(model):
        known = {service for service in set(table.service) if service and registry.knows(service)}
        for index, (service, transport, ports, dynamic) in enumerate(zip(table.service, table.transport, table.ports, table.dynamic)):
            if service not in known or ports is None or dynamic:
                continue
            key = (service, transport, ports.first, ports.last)
            if key in registered:
                continue
            if registered_for(*key):
                registered.add(key)
                continue
            flow = table.flow(index)
            transports = ["tcp", "udp"] if transport == ANY else [transport]
            entries = registry.all_ports(service)
            same_transport = [r.first for t, r in entries if t in transports and r.is_single]
            close = _close_port(ports.first, same_transport) if ports.is_single else None
            hint = f"; did you mean {close}/{transport}?" if close is not None else ""
            yield issue(
                "C201", flow.where("port"),
                f"{flow.id}: service {service} is registered as {_ranges_text(entries)}, not {flow.label}{hint}",
                "port",
            )


@check("C202")
def unknown_service(model: Model, registry: Registry) -> Iterator[Issue]:
    """A service name that no registry knows is probably misspelt (or belongs in the vendor registry)."""
    for table in _tables(model):
        unknown = {service for service in set(table.service) if service and not registry.knows(service)}
        for index in (index for index, service in enumerate(table.service) if service in unknown) if unknown else ():
            flow = table.flow(index)
            hint = (did_you_mean(flow.service, registry.entries, cutoff=0.8)
                    or "; add it to the vendor registry if it is a vendor port")
            yield issue("C202", flow.where("service"), f"{flow.id}: service {flow.service!r} is not in the registry{hint}", "service")


def _first_use(flow: Flow) -> str:
    return f"{flow.id} ({flow.location.file}:{flow.location.line})"


@check("C203")
def service_port_conflict(model: Model, registry: Registry) -> Iterator[Issue]:
    """The same service between the same roles must use the same port everywhere."""
    tables = _tables(model)
    keys = {}
    for table in tables:
        keys[id(table)] = [(service, transport, pair) if service and end is not None else None
                           for service, transport, pair, end in zip(lower_each(table.service), table.transport, table.role_pairs, table.port_ends)]
    first_ends: dict[tuple, tuple[int, int]] = {}
    if not any(first_ends.setdefault(key, end) != end for table in tables
               for key, end in zip(keys[id(table)], table.port_ends) if key is not None):
        return  # the usual case, found without making a Flow
    seen: dict[tuple, tuple[FlowColumns, int]] = {}  # first flow of each service, transport and pair
    for table in tables:
        for index, key in enumerate(keys[id(table)]):
            if key is None:
                continue
            first_table, first_index = seen.setdefault(key, (table, index))
            if (first_table is not table or first_index != index) and first_table.ports[first_index] != table.ports[index]:
                flow, first = table.flow(index), first_table.flow(first_index)
                yield issue(
                    "C203", flow.where("port"),
                    f"{flow.id}: {flow.service} between {flow.source} and {flow.destination} is {flow.label} here "
                    f"but {first.label} in {_first_use(first)}",
                    "port",
                )


@check("C204")
def duplicate_flow(model: Model, registry: Registry) -> Iterator[Issue]:
    """Two rows with the same transport, ports, roles and program describe one flow twice."""
    keys = {id(table): list(zip(table.transport, table.port_ends, table.role_pairs, lower_each(table.program)))
            for table in _tables(model)}
    if len({key for table_keys in keys.values() for key in table_keys}) == sum(map(len, keys.values())):
        return
    seen: dict[tuple, tuple[FlowColumns, int]] = {}
    for table in _tables(model):
        for index, key in enumerate(keys[id(table)]):
            first_table, first_index = seen.setdefault(key, (table, index))
            if first_table is not table or first_index != index:
                flow = table.flow(index)
                yield issue(
                    "C204", flow.where("id"),
                    f"{flow.id} repeats {_first_use(first_table.flow(first_index))}: same transport, ports, roles and program",
                    "id",
                )


@check("C205")
def program_spelling(model: Model, registry: Registry) -> Iterator[Issue]:
    """Program names that differ by a letter or two (sqservr.exe and sqlservr.exe) are one program spelt two ways."""
    first_use: dict[str, tuple[FlowColumns, int]] = {}
    counts: Counter[str] = Counter()
    for table in _tables(model):
        for index, program in enumerate(table.program):
            if program:
                first_use.setdefault(program, (table, index))
        counts.update(table.program)
    names = list(first_use)  # in data order: datasets in order, rows in order
    reported: set[str] = set()
    for index, name in enumerate(names):
        for other in names[:index]:
            if name.lower() == other.lower() and name != other:
                similar = True
            else:
                similar = difflib.SequenceMatcher(None, name.lower(), other.lower()).ratio() >= 0.9
            if similar and name not in reported:
                # Report the rarer spelling: it is more likely the typo.
                rare, common = (name, other) if counts[name] <= counts[other] else (other, name)
                reported.add(rare)
                table, row = first_use[rare]
                flow = table.flow(row)
                yield issue(
                    "C205", flow.where("program"),
                    f"{flow.id}: program {rare!r} looks like {common!r} used elsewhere; spell it one way",
                    "program",
                )


# A number is a port mention when its neighbourhood says so: "1433/tcp", "TCP 1433",
# "UDP port 1434", "port 80", or either end of "1024-65535" / "1024 through 65535".
# The scan looks for those words and signs with str.find and tries a short anchored
# pattern at each hit: regular expressions sweeping whole sentences were the slowest
# part of checking large datasets.
_AFTER_KEYWORD = re.compile(r"(?:(?:tcp|udp)(?:\s+ports?)?|ports?)\s+(\d{1,5})(?![\w])")
_AROUND_SLASH = re.compile(r"(\d{1,5})\s*/\s*(?:tcp|udp)(?![\w])")
_RANGE = re.compile(r"(\d{2,5})\s*(?:-|–|through|to)\s*(\d{2,5})(?![\w])")
_NUMBER_BEFORE = re.compile(r"\d{1,5}\s*$")
_DIGIT_AFTER = re.compile(r"\s*\d")
_PROTOCOL_AFTER = re.compile(r"\s*(?:tcp|udp)")
_KEYWORDS = ("port", "tcp", "udp")
_RANGE_SIGNS = ("-", "–", "through", "to")
FREE_TEXT_COLUMNS = ("purpose", "condition", "assumption", "rule")


def _starts_word(text: str, index: int) -> bool:
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] in "._")


def _occurrences(text: str, needle: str):
    index = text.find(needle)
    while index != -1:
        yield index
        index = text.find(needle, index + 1)


def _number_start(text: str, end: int) -> int | None:
    """Where the number ending just before `end` (spaces allowed) starts, if it is a whole number."""
    match = _NUMBER_BEFORE.search(text, max(0, end - 12), end)
    if match is None or not _starts_word(text, match.start()):
        return None
    return match.start()


# The same shapes for Arrow's vectorised matcher (RE2), which rules out most texts
# before the exact scan runs on the rest. RE2 takes \d and \s as ASCII only; these
# classes match what Python's do, so that no text the exact scan would flag is ruled out.
_DIGIT = r"\p{Nd}"
_SPACE = r"[\s\p{Z}\x{1c}-\x{1f}\x{85}]"
_MENTION_SHAPES = (rf"(?i)(?:port|tcp|udp)s?{_SPACE}+{_DIGIT}|{_DIGIT}{_SPACE}*/{_SPACE}*(?:tcp|udp)"
                   rf"|{_DIGIT}{_SPACE}*(?:-|–|through|to){_SPACE}*{_DIGIT}")
# "port 19384": a mention of one number after a keyword, the usual way rows name a port.
_KEYWORD_MENTION = rf"(?i)(?:port|tcp|udp)s?{_SPACE}+(?P<number>{_DIGIT}+)"


def _may_mention_other_ports(texts: list[str], known: set[int]) -> list[int]:
    """Indexes of the texts that may mention a port outside `known`, in order. A text is
    ruled out when it shows no mention shape, or exactly one that is a keyword mention
    of a known port ("on port 1433"): a range or "/tcp" next to that number would be a
    second shape, since the first covers only the number's first digit."""
    # Optional free-text columns are mostly empty: only the texts present are scanned.
    present = [index for index, text in enumerate(texts) if text]
    texts_array = strings(texts if len(present) == len(texts) else [texts[index] for index in present])
    shaped = pc.indices_nonzero(pc.match_substring_regex(texts_array, _MENTION_SHAPES))
    texts_array = pc.take(texts_array, shaped)
    number = pc.struct_field(pc.extract_regex(texts_array, _KEYWORD_MENTION), [0])
    known_only = pc.and_(pc.equal(pc.count_substring_regex(texts_array, _MENTION_SHAPES), 1),
                         pc.fill_null(pc.is_in(number, value_set=strings(sorted(map(str, known)))), False))
    selected = pc.take(shaped, pc.indices_nonzero(pc.invert(known_only)))
    return pc.take(pa.array(present, type=pa.int64()), selected).to_pylist()


@lru_cache(maxsize=65536)
def port_mentions(text: str) -> tuple[int, ...]:
    """Port numbers a sentence states; cached because many rows share their wording."""
    lower = text.lower()
    found: dict[int, int] = {}  # position -> port, so a number matched twice counts once
    for keyword in _KEYWORDS:
        if keyword not in lower:
            continue
        for index in _occurrences(lower, keyword):
            match = _AFTER_KEYWORD.match(lower, index) if _starts_word(lower, index) else None
            if match:
                found[match.start(1)] = int(match.group(1))
    if "/" in lower:
        for index in _occurrences(lower, "/"):
            start = _number_start(lower, index) if _PROTOCOL_AFTER.match(lower, index + 1) else None
            if start is not None:
                match = _AROUND_SLASH.match(lower, start)
                if match:
                    found[start] = int(match.group(1))
    for sign in _RANGE_SIGNS:
        if sign not in lower:
            continue
        for index in _occurrences(lower, sign):
            # Most hits are words ("to the", "front-end"): the other end must follow.
            start = _number_start(lower, index) if _DIGIT_AFTER.match(lower, index + len(sign)) else None
            if start is not None:
                match = _RANGE.match(lower, start)
                if match:
                    found[start] = int(match.group(1))
                    found[match.start(2)] = int(match.group(2))
    return tuple(found[position] for position in sorted(found))





@check("C206")
def prose_port(model: Model, registry: Registry) -> Iterator[Issue]:
    """A port number written in a free-text column must be a port some flow of the dataset
    uses, or a published value that an erratum of the row corrects."""
    for dataset in model.datasets:
        table = dataset.flow_columns
        used: list[PortRange] = [ports for ports in table.ports if ports is not None]
        singles = {r.first for r in used} | {r.last for r in used}
        explained: dict[str, set[int]] = defaultdict(set)
        for erratum in dataset.errata:
            explained[erratum.flow].update(int(n) for n in re.findall(r"\d{1,5}", erratum.published))
        for column in FREE_TEXT_COLUMNS:
            texts: list[str] = getattr(table, column)
            for index in _may_mention_other_ports(texts, singles) if any(texts) else ():
                ports = table.ports[index]
                for port in port_mentions(texts[index]):
                    if port in singles or port in explained.get(table.id[index], ()):
                        continue
                    if ports is not None and port in ports:
                        continue
                    flow = table.flow(index)
                    yield issue(
                        "C206", flow.where(column),
                        f"{flow.id}: {column} mentions port {port}, which no flow of {dataset.id} uses (the row says {flow.label})",
                        column,
                    )


@check("C207")
def dynamic_range(model: Model, registry: Registry) -> Iterator[Issue]:
    """A flow marked as a dynamic pool must name exactly that platform's documented default range."""
    for table in _tables(model):
        for index, (dynamic, ports) in enumerate(zip(table.dynamic, table.ports)):
            if not dynamic or ports is None:
                continue
            first, last, platform = DYNAMIC_RANGES[dynamic]
            if (ports.first, ports.last) != (first, last):
                others = [key for key, (f, l, _) in DYNAMIC_RANGES.items() if (f, l) == (ports.first, ports.last)]
                hint = f"; it is the {others[0]} default" if others else ""
                flow = table.flow(index)
                yield issue(
                    "C207", flow.where("port"),
                    f"{flow.id}: dynamic range {ports} disagrees with the {platform} default {first}-{last}{hint}",
                    "port",
                )


@check("C212")
def dynamic_unmarked(model: Model, registry: Registry) -> Iterator[Issue]:
    """A range that spans a platform's whole dynamic pool, or a thousand ports or more, is
    almost always a dynamic allocation pool and should say which platform's."""
    for table in _tables(model):
        for index, (dynamic, ports) in enumerate(zip(table.dynamic, table.ports)):
            if dynamic or ports is None or ports.last - ports.first + 1 < 1000:
                continue
            flow = table.flow(index)
            yield issue(
                "C212", flow.where("dynamic"),
                f"{flow.id}: range {ports} is wide; if it is a dynamic pool, set dynamic to one of {', '.join(DYNAMIC_RANGES)}",
                "dynamic",
            )


@check("C208")
def erratum_incomplete(model: Model, registry: Registry) -> Iterator[Issue]:
    """Every correction names the published value, the corrected value, the rationale and the evidence."""
    for erratum in model.errata:
        for column in ("published", "corrected", "rationale", "evidence"):
            if not getattr(erratum, column):
                yield issue("C208", erratum.where(column), f"erratum {erratum.id}: {column} is empty", column)
        if erratum.published and erratum.published == erratum.corrected:
            yield issue("C208", erratum.where("corrected"), f"erratum {erratum.id}: corrected value equals the published one", "corrected")


@check("C209")
def erratum_stale(model: Model, registry: Registry) -> Iterator[Issue]:
    """An erratum's flow must hold the corrected value, not the published one."""
    rows: dict[str, dict[str, int]] = {}  # dataset -> flow id -> row, for datasets with errata
    for erratum in model.errata:
        table = model.dataset_by_id[erratum.dataset].flow_columns
        if erratum.dataset not in rows:
            rows[erratum.dataset] = {flow_id: index for index, flow_id in enumerate(table.id)}
        index = rows[erratum.dataset].get(erratum.flow)
        if index is None or not erratum.corrected:
            continue
        flow = table.flow(index)
        current = flow.value(erratum.field)
        if current.lower() != erratum.corrected.lower():
            was_published = current.lower() == erratum.published.lower()
            detail = "the published value is back" if was_published else "the data changed since the erratum"
            yield issue(
                "C209", flow.where(erratum.field),
                f"{flow.id}: {erratum.field} is {current!r} but erratum {erratum.id} corrects "
                f"{erratum.published!r} to {erratum.corrected!r} ({detail})",
                erratum.field,
            )


@check("C210")
def role_conflict(model: Model, registry: Registry) -> Iterator[Issue]:
    """Datasets share a role by id; they must agree on its name."""
    first: dict[str, object] = {}
    for dataset in model.datasets:
        for role in dataset.roles:
            seen = first.setdefault(role.id, role)
            if seen is not role and seen.name != role.name:  # type: ignore[attr-defined]
                yield issue(
                    "C210", role.location,
                    f"role {role.id} is named {role.name!r} here but {seen.name!r} in dataset {seen.dataset}",  # type: ignore[attr-defined]
                    "name",
                )


@check("C211")
def unused_role(model: Model, registry: Registry) -> Iterator[Issue]:
    """A role no flow uses is dead weight in every output."""
    used = {role for table in _tables(model) for column in (table.source, table.destination) for role in set(column)}
    for dataset in model.datasets:
        for role in dataset.roles:
            if role.id not in used:
                yield issue("C211", role.location, f"role {role.id} has no flows", "id")
