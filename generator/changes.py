"""What changed between two models: records added, removed and changed field by field.

Pure functions over two `Model`s, no I/O and no output format. A record's identity is
its key (a flow's id, a dataset's erratum id, a role's id, an inventory entry's role,
host and address, a dataset's id), never its position, so reordering a file changes nothing.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable

from .model import Dataset, Erratum, Flow, Host, Model, Role
from .schema import DATASET_KEYS, ERRATA, FLOWS, INVENTORY, ROLES
from .views import INBOUND, RequestLine


@dataclass(frozen=True)
class Record:
    """One comparable row: its identity, its values by field, and the model object."""

    key: str
    values: dict[str, str]
    item: object = field(compare=False)


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str
    errata: tuple[str, ...] = ()  # ids of errata of either model about this flow field


@dataclass(frozen=True)
class Change:
    key: str
    old: Record
    new: Record
    fields: tuple[FieldChange, ...]


@dataclass
class Comparison:
    """Added, removed and changed records of one kind, in data order (removed: old order)."""

    kind: str  # "flow", "erratum", "role", "host", "dataset"
    fields: list[str]
    added: list[Record] = field(default_factory=list)
    removed: list[Record] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass
class ModelDiff:
    flows: Comparison
    errata: Comparison
    roles: Comparison
    hosts: Comparison
    datasets: Comparison
    old: Model  # the two versions compared, for the firewall lines the change needs
    new: Model

    @property
    def comparisons(self) -> list[Comparison]:
        return [self.flows, self.errata, self.roles, self.hosts, self.datasets]

    @property
    def empty(self) -> bool:
        return all(comparison.empty for comparison in self.comparisons)


FLOW_FIELDS = ["id", "dataset"] + [name for name in FLOWS.column_names if name != "id"]
ERRATUM_FIELDS = ["id", "dataset"] + [name for name in ERRATA.column_names if name != "id"]
# The roles.csv columns the model's Role carries: a record compares what the model holds.
ROLE_FIELDS = ["id", "dataset"] + [name for name in ROLES.column_names
                                   if name != "id" and name in {item.name for item in fields(Role)}]
HOST_FIELDS = INVENTORY.column_names
# The keys of dataset.toml that describe the dataset; its sections are compared through
# the flows and errata that cite them.
DATASET_FIELDS = [key for key, *_ in DATASET_KEYS if not key.startswith("sections.")]


def flow_record(flow: Flow) -> Record:
    return Record(flow.id, {name: flow.value(name) for name in FLOW_FIELDS}, flow)


def erratum_record(erratum: Erratum) -> Record:
    # Erratum ids are unique within a dataset only.
    return Record(f"{erratum.dataset}/{erratum.id}", {name: str(getattr(erratum, name)) for name in ERRATUM_FIELDS}, erratum)


def role_record(role: Role) -> Record:
    return Record(role.id, {name: str(getattr(role, name)) for name in ROLE_FIELDS}, role)


def host_record(host: Host) -> Record:
    # A host may have several rows (an IPv4 and an IPv6 address): each address is its own
    # entry, and a changed address is one removed and one added, as in the firewall.
    return Record(f"{host.role}/{host.host}/{host.address}", {name: str(getattr(host, name)) for name in HOST_FIELDS}, host)


def _dotted(item: object, key: str) -> str:
    """The value of a dotted dataset.toml key ('source.title') on the model object."""
    for name in key.split("."):
        item = getattr(item, name)
    return str(item)


def dataset_record(dataset: Dataset) -> Record:
    return Record(dataset.id, {key: _dotted(dataset, key) for key in DATASET_FIELDS}, dataset)


def _compare(kind: str, fields: list[str], old: Iterable[Record], new: Iterable[Record],
             errata_of: Callable[[str, str], tuple[str, ...]] = lambda key, name: ()) -> Comparison:
    comparison = Comparison(kind, fields)
    old_by_key = {record.key: record for record in old}
    new_by_key = {record.key: record for record in new}
    for key, record in new_by_key.items():
        before = old_by_key.get(key)
        if before is None:
            comparison.added.append(record)
            continue
        changes = tuple(
            FieldChange(name, before.values[name], record.values[name], errata_of(key, name))
            for name in fields if before.values[name] != record.values[name]
        )
        if changes:
            comparison.changed.append(Change(key, before, record, changes))
    comparison.removed = [record for key, record in old_by_key.items() if key not in new_by_key]
    return comparison


def compare(old: Model, new: Model) -> ModelDiff:
    def flow_errata(flow_id: str, name: str) -> tuple[str, ...]:
        found = [e.id for model in (new, old) for e in model.errata_of_flow(flow_id) if e.field == name]
        return tuple(dict.fromkeys(found))

    return ModelDiff(
        flows=_compare("flow", FLOW_FIELDS, map(flow_record, old.flows), map(flow_record, new.flows), flow_errata),
        errata=_compare("erratum", ERRATUM_FIELDS, map(erratum_record, old.errata), map(erratum_record, new.errata)),
        roles=_compare("role", ROLE_FIELDS, map(role_record, old.roles), map(role_record, new.roles)),
        hosts=_compare("host", HOST_FIELDS, map(host_record, old.inventory), map(host_record, new.inventory)),
        datasets=_compare("dataset", DATASET_FIELDS, map(dataset_record, old.datasets), map(dataset_record, new.datasets)),
        old=old,
        new=new,
    )


def _network(address: str) -> str:
    """An address as the firewall reads it: 192.0.2.10 and 192.0.2.10/32 are one rule."""
    try:
        return str(ipaddress.ip_network(address, strict=False))
    except ValueError:
        return address


def _addresses(hosts: tuple[Host, ...]) -> tuple[str, ...]:
    return tuple(sorted({_network(host.address) for host in hosts}))


def _inbound_lines(model: Model, flow: Flow, action: str) -> dict[tuple, RequestLine]:
    """What a firewall line is made of -> the inbound line, with the addresses of `model`'s
    inventory at both ends: two lines with equal keys need the same rule."""
    lines = {}
    for source, destination in flow.directions():
        line = RequestLine(flow, destination, INBOUND, source, destination, action,
                           tuple(model.hosts_of_role(source)), tuple(model.hosts_of_role(destination)))
        key = (source, destination, flow.transport, flow.port_text, flow.program.lower(),
               _addresses(line.source_hosts), _addresses(line.destination_hosts))
        lines.setdefault(key, line)
    return lines


def request_lines(diff: ModelDiff) -> list[RequestLine]:
    """The firewall lines to remove and to add for the change, each for the role that
    accepts the traffic (inbound): for each flow in both versions only the directions whose
    rule differs (its port, transport or program, or the addresses of either end in the
    inventory), then added flows, then removed ones. A line to remove carries the old
    data's addresses, a line to add the new data's."""
    old, new = diff.old, diff.new
    old_flows = {flow.id: flow for flow in old.flows}
    kept, added = [], []
    for flow in new.flows:
        (kept if flow.id in old_flows else added).append(flow)
    new_ids = {flow.id for flow in new.flows}
    lines: list[RequestLine] = []
    for flow in kept:
        before = _inbound_lines(old, old_flows[flow.id], "remove")
        after = _inbound_lines(new, flow, "add")
        lines += [line for key, line in before.items() if key not in after]
        lines += [line for key, line in after.items() if key not in before]
    for flow in added:
        lines += _inbound_lines(new, flow, "add").values()
    for flow in old.flows:
        if flow.id not in new_ids:
            lines += _inbound_lines(old, flow, "remove").values()
    return lines


@dataclass(frozen=True)
class AddressChange:
    """An inventory host whose address moved, or whose network was widened or narrowed:
    one entry removed and one added under the same role and host name."""

    role: str
    host: str
    old: str
    new: str

    @property
    def text(self) -> str:
        return f"{self.host} {self.old} -> {self.new}"


def address_changes(diff: ModelDiff) -> list[AddressChange]:
    """The inventory's removed and added entries paired by role and host name, in the new
    data's order; an entry without a partner stays an added or removed host."""
    removed: dict[tuple[str, str], list[Host]] = {}
    for record in diff.hosts.removed:
        removed.setdefault((record.item.role, record.item.host), []).append(record.item)
    changes = []
    for record in diff.hosts.added:
        host = record.item
        partners = removed.get((host.role, host.host))
        if partners:
            changes.append(AddressChange(host.role, host.host, partners.pop(0).address, host.address))
    return changes


def paired_hosts(changes: list[AddressChange]) -> set[str]:
    """Keys of the host records that `changes` pair (shown as changes, not as added and removed)."""
    keys = set()
    for change in changes:
        keys.add(f"{change.role}/{change.host}/{change.old}")
        keys.add(f"{change.role}/{change.host}/{change.new}")
    return keys


def lines_with_address(lines: list[RequestLine], action: str, role: str, address: str) -> int:
    """How many of `lines` with `action` carry `address` of `role` at either end."""
    def carries(hosts: tuple[Host, ...] | None) -> bool:
        return any(host.role == role and host.address == address for host in hosts or ())
    return sum(1 for line in lines
               if line.action == action and (carries(line.source_hosts) or carries(line.destination_hosts)))


def effect(lines: list[RequestLine], change: AddressChange) -> str:
    """What an address change does to the firewall: "4 firewall lines to remove and add"."""
    removed = lines_with_address(lines, "remove", change.role, change.old)
    added = lines_with_address(lines, "add", change.role, change.new)
    if removed == added:
        return f"{removed} firewall line{'s' if removed != 1 else ''} to remove and add"
    return f"{removed} firewall line{'s' if removed != 1 else ''} to remove, {added} to add"


# Values longer than this are named in the summary, not quoted.
SUMMARY_VALUE_LIMIT = 40
SUMMARY_ITEMS = 5


def _field_summary(change: FieldChange) -> str:
    if len(change.old) + len(change.new) > SUMMARY_VALUE_LIMIT or "\n" in change.old + change.new:
        text = f"{change.field} changed"
    else:
        text = f"{change.field} {change.old or '(empty)'} -> {change.new or '(empty)'}"
    if change.errata:
        text += f" (erratum {', '.join(change.errata)})"
    return text


def _listed(items: list[str], noun: str) -> str:
    shown = ", ".join(items[:SUMMARY_ITEMS])
    more = f" and {len(items) - SUMMARY_ITEMS} more" if len(items) > SUMMARY_ITEMS else ""
    return f"{noun} {shown}{more}"


def summary(diff: ModelDiff) -> list[str]:
    """Short phrases saying what changed, most specific first (flow field changes)."""
    parts = [f"{change.key}: {', '.join(_field_summary(f) for f in change.fields)}"
             for change in diff.flows.changed[:SUMMARY_ITEMS]]
    if len(diff.flows.changed) > SUMMARY_ITEMS:
        parts.append(f"{len(diff.flows.changed) - SUMMARY_ITEMS} more flows changed")
    moved = address_changes(diff)
    if moved:
        parts.append(_listed([change.text for change in moved], "changed address"))
    paired = paired_hosts(moved)
    for comparison in diff.comparisons:
        label = comparison.kind
        added = [r for r in comparison.added if comparison.kind != "host" or r.key not in paired]
        removed = [r for r in comparison.removed if comparison.kind != "host" or r.key not in paired]
        if added:
            parts.append(_listed([display_key(comparison, r) for r in added], f"added {label}"))
        if removed:
            parts.append(_listed([display_key(comparison, r) for r in removed], f"removed {label}"))
        if comparison.changed and comparison.kind != "flow":
            parts.append(_listed([f"{display_key(comparison, c.new)} ({', '.join(f.field for f in c.fields)})"
                                  for c in comparison.changed], f"changed {label}"))
    return parts or ["no changes"]


def display_key(comparison: Comparison, record: Record) -> str:
    """How people name a record: an erratum by its own id, everything else by its key."""
    return record.values["id"] if comparison.kind == "erratum" else record.key
