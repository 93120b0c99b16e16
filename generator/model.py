"""The in-memory model of the port data: dataclasses and DataFrames, no I/O.

A dataset holds its flows as a pandas DataFrame (`Dataset.frame`), which checks
work on column by column, and as `Flow` objects (`Dataset.flows`) for code that
wants one record per flow. `generator.load` is the one place that builds them
from files.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from .settings import key_location

ANY = "any"


def transports_of(transport: str) -> tuple[str, ...]:
    """The transports a flow's transport stands for: both for ANY."""
    return ("tcp", "udp") if transport == ANY else (transport,)


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive port range; a single port has first == last."""

    first: int
    last: int

    @classmethod
    def single(cls, port: int) -> "PortRange":
        return cls(port, port)

    @property
    def is_single(self) -> bool:
        return self.first == self.last

    def __contains__(self, port: int) -> bool:
        return self.first <= port <= self.last


    def __str__(self) -> str:
        return str(self.first) if self.is_single else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Location:
    """Where a value came from, for messages in FILE:LINE:COLUMN form."""

    file: str
    line: int = 0
    column: int = 0


class CellLocator(Protocol):
    """The file rows came from, and where a named cell of the row starting at `line`
    begins (1-based character column)."""

    path: str

    def column(self, line: int, name: str) -> int: ...


def _cell(location: Location, cells: CellLocator | None, column: str) -> Location:
    return Location(location.file, location.line, cells.column(location.line, column) if cells else 1)


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    description: str
    dataset: str
    location: Location = field(default=Location(""), compare=False)
    platform: str = ""  # windows, linux, unmanaged, or "" for both policy files


@dataclass(frozen=True)
class Section:
    """A section of the published source page that rows cite."""

    key: str
    title: str
    anchor: str


# Not frozen, unlike the other records: a frozen dataclass sets each field through
# object.__setattr__, which made building 100,000 flows four times slower. Nothing
# changes a flow after loading; slots keep each one small.
@dataclass(slots=True, unsafe_hash=True)
class Flow:
    """One directed (or explicitly bidirectional) flow on one transport and port range."""

    id: str
    dataset: str
    transport: str  # "tcp", "udp" or ANY
    ports: PortRange | None  # None means every port (transport ANY or a program exception)
    dynamic: str  # key of DYNAMIC_RANGES when the range is an allocation pool, else ""
    source: str
    destination: str
    bidirectional: bool
    service: str
    program: str
    rule: str
    purpose: str
    condition: str
    reference: str
    assumption: str
    line: int = field(default=0, compare=False)  # where the row starts in its file
    cells: CellLocator | None = field(default=None, compare=False, repr=False)

    @property
    def location(self) -> Location:
        return Location(self.cells.path if self.cells is not None else "", self.line, 1)

    @property
    def port_text(self) -> str:
        return ANY if self.ports is None else str(self.ports)

    @property
    def label(self) -> str:
        """Port and transport as people write them: 1433/tcp, 49152-65535/tcp, any."""
        if self.ports is None and self.transport == ANY:
            return "any"
        return f"{self.port_text}/{self.transport}"

    def directions(self) -> list[tuple[str, str]]:
        """The (source, destination) pairs a firewall must allow for this flow."""
        pairs = [(self.source, self.destination)]
        if self.bidirectional and self.source != self.destination:
            pairs.append((self.destination, self.source))
        return pairs

    def touches(self, role: str) -> bool:
        return role in (self.source, self.destination)

    def where(self, column: str) -> Location:
        return _cell(self.location, self.cells, column)

    def value(self, column: str) -> str:
        """The flow's value for a CSV column, as text (used by errata and diffs)."""
        if column == "port":
            return self.port_text
        if column == "direction":
            return "both" if self.bidirectional else "one-way"
        return str(getattr(self, column))


# The flows.csv columns that a Flow holds converted, under another name; every other
# Flow field of the same name as a column of Dataset.frame is that column's text.
FLOW_FIELD_OF_COLUMN = {"port": "ports", "direction": "bidirectional"}


def _shared_values(column: pd.Series) -> list:
    """column.tolist() with each distinct value one object: most columns repeat a few
    values (roles, transports, services), which every Flow of a large data set would
    otherwise hold a copy of."""
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    return list(map(distinct.tolist().__getitem__, codes.tolist()))


def flows_of_frame(frame: pd.DataFrame, cells: CellLocator | None) -> list[Flow]:
    """A Flow per row of a flows frame (see Dataset.frame), in row order."""
    count = len(frame)
    # One PortRange per distinct port cell, the row of its first use giving its ends.
    codes, _ = pd.factorize(frame["port"], use_na_sentinel=False)
    first_uses = np.unique(codes, return_index=True)[1]
    ends = zip(frame["first"].take(first_uses).tolist(), frame["last"].take(first_uses).tolist())
    ranges = [None if first is pd.NA else PortRange(first, last) for first, last in ends]
    converted = {
        FLOW_FIELD_OF_COLUMN["port"]: list(map(ranges.__getitem__, codes.tolist())),
        FLOW_FIELD_OF_COLUMN["direction"]: frame["direction"].eq("both").tolist(),
        "line": frame.index.tolist(),
        "cells": repeat(cells, count),
    }
    columns = [converted[f.name] if f.name in converted else _shared_values(frame[f.name]) for f in fields(Flow)]
    return list(map(Flow, *columns))


@dataclass(frozen=True)
class Erratum:
    """A correction of the published source: what it says, what is right, and why."""

    id: str
    dataset: str
    flow: str
    field: str
    published: str
    corrected: str
    rationale: str
    evidence: str
    reference: str
    location: Location = field(default=Location(""), compare=False)
    cells: CellLocator | None = field(default=None, compare=False, repr=False)

    def where(self, column: str) -> Location:
        return _cell(self.location, self.cells, column)


@dataclass(frozen=True)
class Host:
    """One inventory entry: a host (or network) that plays a role."""

    role: str
    host: str
    address: str  # normalised by ipaddress: "192.0.2.10/32" style is kept as written
    note: str
    location: Location = field(default=Location(""), compare=False)


@dataclass(frozen=True)
class SourceDocument:
    title: str
    publisher: str
    document_id: str
    url: str
    revision: str = ""  # the source's date or commit the data was transcribed from; "" when not recorded


@dataclass
class Dataset:
    """One product's flows, roles and errata, from one folder under data/."""

    id: str
    title: str
    short_title: str
    version: str
    source: SourceDocument
    sections: dict[str, Section]
    roles: list[Role]
    # One row per flow, indexed by the line of flows.csv where the row starts: column
    # "dataset", the schema's flows columns (enumerations lower-cased) and the ends of
    # the port range, "first" and "last" (missing for any).
    frame: pd.DataFrame
    cells: CellLocator | None  # the flows file, to locate a cell of a row
    errata: list[Erratum]
    files: dict[str, str]  # path -> sha256 of every file read for this dataset

    @cached_property
    def flows(self) -> list[Flow]:
        return flows_of_frame(self.frame, self.cells)

    @cached_property
    def row_hashes(self) -> dict[int, int]:
        """Line -> a 64-bit hash of the row starting there, line included: what tells a
        build which outputs an edited row touches (see `generator.build_inputs`)."""
        hashes = pd.util.hash_pandas_object(self.frame, index=True)
        return dict(zip(hashes.index.tolist(), hashes.tolist()))

    def flows_at(self, lines: list[int]) -> list[Flow]:
        """The flows of the rows starting at `lines`, in that order, made without making
        every other flow (for messages about a few rows)."""
        if not lines:
            return []  # pandas takes a while to select nothing from a large frame
        made = {flow.line: flow for flow in flows_of_frame(self.frame.loc[list(dict.fromkeys(lines))], self.cells)}
        return [made[line] for line in lines]


@dataclass
class Settings:
    """data/portbook.toml, with defaults for what it leaves out."""

    path: Path
    registry_system: Path | None = Path("/etc/services")
    registry_extra: list[Path] = field(default_factory=list)
    inventory: Path | None = None
    raw: dict = field(default_factory=dict)  # every section, for the generators' own settings
    text: str = field(default="", repr=False)  # the file as read, to locate keys in messages
    shown: str = ""  # the path as messages show it

    def section(self, name: str) -> dict:
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}

    def location(self, dotted_key: str) -> Location:
        """Where `dotted_key` (such as `policy.platforms`) is set, for a message about it."""
        line, column = key_location(self.text, dotted_key)
        return Location(self.shown or str(self.path), line, column)


@dataclass
class Model:
    """All datasets of a data folder, plus the inventory shared by them."""

    datasets: list[Dataset]
    inventory: list[Host]
    files: dict[str, str]  # path -> sha256 of every file read
    settings: Settings

    @cached_property
    def flows(self) -> list[Flow]:
        return [flow for dataset in self.datasets for flow in dataset.flows]

    def only(self, dataset_id: str) -> "Model":
        """The model of one dataset: its flows, roles and errata, the inventory of its roles,
        and the files it was read from (with the shared settings and inventory files)."""
        dataset = self.dataset_by_id[dataset_id]
        role_ids = {role.id for role in dataset.roles}
        shared = {path: digest for path, digest in self.files.items()
                  if not any(path in other.files for other in self.datasets)}
        return Model(datasets=[dataset], inventory=[host for host in self.inventory if host.role in role_ids],
                     files={**shared, **dataset.files}, settings=self.settings)

    @cached_property
    def errata(self) -> list[Erratum]:
        return [erratum for dataset in self.datasets for erratum in dataset.errata]

    @cached_property
    def roles(self) -> list[Role]:
        """Roles merged across datasets by id, in first-seen order."""
        merged: dict[str, Role] = {}
        for dataset in self.datasets:
            for role in dataset.roles:
                merged.setdefault(role.id, role)
        return list(merged.values())

    @cached_property
    def role_by_id(self) -> dict[str, Role]:
        return {role.id: role for role in self.roles}

    @cached_property
    def flow_by_id(self) -> dict[str, Flow]:
        return {flow.id: flow for flow in self.flows}

    @cached_property
    def dataset_by_id(self) -> dict[str, Dataset]:
        return {dataset.id: dataset for dataset in self.datasets}

    @cached_property
    def flows_by_role(self) -> dict[str, list[Flow]]:
        """Role id -> the flows touching it, in data order: indexed once, since every
        output asks per role and scanning all flows per role grows as roles x flows."""
        index: dict[str, list[Flow]] = {}
        for flow in self.flows:
            for role in dict.fromkeys((flow.source, flow.destination)):
                index.setdefault(role, []).append(flow)
        return index

    @cached_property
    def hosts_by_role(self) -> dict[str, list[Host]]:
        index: dict[str, list[Host]] = {}
        for host in self.inventory:
            index.setdefault(host.role, []).append(host)
        return index

    def hosts_of_role(self, role: str) -> list[Host]:
        return list(self.hosts_by_role.get(role, ()))

    def role_name(self, role: str) -> str:
        """The role's name for people; the id itself when no dataset defines it."""
        found = self.role_by_id.get(role)
        return found.name if found is not None else role

    def errata_of_flow(self, flow: str) -> list[Erratum]:
        return [erratum for erratum in self.errata if erratum.flow == flow]

    @cached_property
    def fingerprint(self) -> str:
        """One hash over every input file, for "generated from" lines. Paths count relative
        to the data folder, so the same data gives the same fingerprint wherever it is read."""
        import hashlib
        import os

        root = os.path.abspath(self.settings.path.parent)
        named = sorted((os.path.relpath(os.path.abspath(path), root), digest) for path, digest in self.files.items())
        digest = hashlib.sha256()
        for path, file_digest in named:
            digest.update(f"{path}\0{file_digest}\n".encode())
        return digest.hexdigest()
