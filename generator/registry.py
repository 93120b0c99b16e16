"""Registered service names and their ports.

Sources, merged in order: the system services database (/etc/services format),
or a copy of the IANA "Service Name and Transport Protocol Port Number
Registry" CSV, plus the small vendor registry shipped in data/ (IANA layout).
Beside a vendor registry, a programs.csv names the programs of the product and the
services each one serves.
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .issues import Suggestions
from .model import PortRange
from .portscan import port_number

PROGRAMS_FILE = "programs.csv"
PROGRAMS_HEADER = ("Program", "Service Names", "Description")
# Words of a program's Service Names that stand for ports rather than a service.
DYNAMIC_PORTS = "dynamic"  # the platform's dynamic pool, wherever a flow marks one
EVERY_PORT = "any"  # a program exception on every port


@dataclass(frozen=True)
class Described:
    """A registered port or range with the registry's description of it."""

    service: str
    transport: str
    ports: PortRange
    description: str
    vendor: bool  # from a vendor registry shipped with the data, not a public one


@dataclass(frozen=True)
class Program:
    """A program of the product and the services (or DYNAMIC_PORTS, EVERY_PORT) it serves."""

    name: str
    services: tuple[str, ...]
    description: str


@dataclass
class Registry:
    # service name -> transport -> registered ranges
    entries: dict[str, dict[str, list[PortRange]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    sources: list[str] = field(default_factory=list)
    # Every row that came with a description, in the order read.
    described: list[Described] = field(default_factory=list)
    # lower-cased program name -> its entry
    programs: dict[str, Program] = field(default_factory=dict)
    # The index of service names for suggestions, made when first asked for.
    _names: Suggestions | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def names(self) -> Suggestions:
        """The registered service names, indexed for "did you mean"."""
        if self._names is None:
            self._names = Suggestions(self.entries)
        return self._names

    def add(self, service: str, transport: str, ports: PortRange) -> None:
        self._names = None
        ranges = self.entries[service.lower()][transport.lower()]
        if ports not in ranges:
            ranges.append(ports)

    def knows(self, service: str) -> bool:
        return service.lower() in self.entries

    def ports(self, service: str, transport: str) -> list[PortRange]:
        return list(self.entries.get(service.lower(), {}).get(transport.lower(), []))

    def all_ports(self, service: str) -> list[tuple[str, PortRange]]:
        found = self.entries.get(service.lower(), {})
        return sorted((transport, ports) for transport, ranges in found.items() for ports in ranges)


_RANGE_TEXT = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def _parse_range(text: str) -> PortRange | None:
    """A port or range of ASCII digits, each from 1 to 65535, first to last; else None."""
    match = _RANGE_TEXT.fullmatch(text.strip())
    if match is None:
        return None
    first = port_number(match.group(1))
    last = port_number(match.group(2)) if match.group(2) is not None else first
    if first is None or last is None or last < first:
        return None
    return PortRange(first, last)


def read_services_file(registry: Registry, text: str, source: str) -> None:
    """/etc/services: `name port/proto [aliases...] [# comment]`."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].split()
        if len(line) < 2 or "/" not in line[1]:
            continue
        port, _, transport = line[1].partition("/")
        ports = _parse_range(port)
        if ports is None:
            continue
        for name in [line[0], *line[2:]]:
            registry.add(name, transport, ports)
    registry.sources.append(source)


def read_iana_csv(registry: Registry, text: str, source: str, vendor: bool = False) -> None:
    """The IANA registry CSV: "Service Name","Port Number","Transport Protocol",...
    and, where present, "Description"."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    try:
        columns = [header.index(name) for name in ("Service Name", "Transport Protocol", "Port Number")]
    except ValueError:
        raise csv.Error("not an IANA registry: the header lacks Service Name, Transport Protocol or Port Number") from None
    description = header.index("Description") if "Description" in header else None
    width = max(columns) + 1
    for row in reader:
        if len(row) < width:
            continue
        name, transport, port = (row[index].strip() for index in columns)
        ports = _parse_range(port) if name and transport else None
        if ports is not None:
            registry.add(name, transport, ports)
            text = row[description].strip() if description is not None and description < len(row) else ""
            if text:
                registry.described.append(Described(name.lower(), transport.lower(), ports, text, vendor))
    registry.sources.append(source)


def read_programs_csv(registry: Registry, text: str, source: str) -> None:
    """A programs.csv: "Program","Service Names" (separated by spaces),"Description"."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    if tuple(name.strip() for name in header[:3]) != PROGRAMS_HEADER:
        raise csv.Error(f"not a programs registry: the header must begin {', '.join(PROGRAMS_HEADER)}")
    for row in reader:
        if len(row) < 3 or not row[0].strip():
            continue
        name, services, description = (cell.strip() for cell in row[:3])
        registry.programs.setdefault(name.lower(), Program(name, tuple(services.lower().split()), description))
    registry.sources.append(source)


def build_registry(system: Path | None, iana: Path | None, extra: list[Path]) -> tuple[Registry, list[str]]:
    """Build the registry; returns it with notes about sources that could not be read."""
    registry = Registry()
    notes: list[str] = []
    if iana is not None:
        try:
            read_iana_csv(registry, iana.read_text(encoding="utf-8-sig"), str(iana))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            notes.append(f"cannot read IANA registry {iana}: {error}")
    elif system is not None:
        try:
            read_services_file(registry, system.read_text(encoding="utf-8", errors="replace"), str(system))
        except OSError as error:
            notes.append(f"cannot read services database {system}: {error.strerror or error}")
    for path in extra:
        try:
            read_iana_csv(registry, path.read_text(encoding="utf-8-sig"), str(path), vendor=True)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            notes.append(f"cannot read vendor registry {path}: {error}")
    # The programs registry is optional: a folder of vendor registries may hold one.
    for path in dict.fromkeys(path.parent / PROGRAMS_FILE for path in extra):
        if not path.is_file():
            continue
        try:
            read_programs_csv(registry, path.read_text(encoding="utf-8-sig"), str(path))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            notes.append(f"cannot read programs registry {path}: {error}")
    return registry, notes
