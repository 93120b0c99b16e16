"""Registered service names and their ports.

Sources, merged in order: the system services database (/etc/services format),
or a copy of the IANA "Service Name and Transport Protocol Port Number
Registry" CSV, plus the small vendor registry shipped in data/ (IANA layout).
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .issues import Suggestions
from .model import PortRange


@dataclass
class Registry:
    # service name -> transport -> registered ranges
    entries: dict[str, dict[str, list[PortRange]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    sources: list[str] = field(default_factory=list)
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


def _parse_range(text: str) -> PortRange | None:
    text = text.strip()
    try:
        if "-" in text:
            first, last = text.split("-", 1)
            return PortRange(int(first), int(last))
        return PortRange.single(int(text))
    except ValueError:
        return None


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


def read_iana_csv(registry: Registry, text: str, source: str) -> None:
    """The IANA registry CSV: "Service Name","Port Number","Transport Protocol",..."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    try:
        columns = [header.index(name) for name in ("Service Name", "Transport Protocol", "Port Number")]
    except ValueError:
        raise csv.Error("not an IANA registry: the header lacks Service Name, Transport Protocol or Port Number") from None
    width = max(columns) + 1
    for row in reader:
        if len(row) < width:
            continue
        name, transport, port = (row[index].strip() for index in columns)
        ports = _parse_range(port) if name and transport else None
        if ports is not None:
            registry.add(name, transport, ports)
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
            read_iana_csv(registry, path.read_text(encoding="utf-8-sig"), str(path))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            notes.append(f"cannot read vendor registry {path}: {error}")
    return registry, notes
