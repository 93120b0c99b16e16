"""What changed between two models: records added, removed and changed field by field.

Pure functions over two `Model`s, no I/O and no output format. A record's identity is
its key (a flow's id, a dataset's erratum id, a role's id, an inventory entry's role,
host and address, a dataset's id), never its position, so reordering a file changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
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

    @property
    def comparisons(self) -> list[Comparison]:
        return [self.flows, self.errata, self.roles, self.hosts, self.datasets]

    @property
    def empty(self) -> bool:
        return all(comparison.empty for comparison in self.comparisons)


FLOW_FIELDS = ["id", "dataset"] + [name for name in FLOWS.column_names if name != "id"]
ERRATUM_FIELDS = ["id", "dataset"] + [name for name in ERRATA.column_names if name != "id"]
ROLE_FIELDS = ["id", "dataset"] + [name for name in ROLES.column_names if name != "id"]
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
    )


def _inbound_lines(flow: Flow, action: str, keep: Callable[[tuple], bool] = lambda key: True) -> list[RequestLine]:
    return [RequestLine(flow, destination, INBOUND, source, destination, action)
            for source, destination in flow.directions() if keep(_line_key(flow, source, destination))]


def _line_key(flow: Flow, source: str, destination: str) -> tuple:
    """What a firewall line is made of: two flows with equal keys need the same rule."""
    return (source, destination, flow.transport, flow.port_text, flow.program.lower())


def request_lines(diff: ModelDiff) -> list[RequestLine]:
    """The firewall lines to remove and to add for the change: for each changed flow only the
    directions whose rule differs, then added flows, then removed ones. Each line is for
    the role that accepts the traffic (inbound)."""
    lines: list[RequestLine] = []
    for change in diff.flows.changed:
        old, new = change.old.item, change.new.item
        old_keys = {_line_key(old, *pair) for pair in old.directions()}
        new_keys = {_line_key(new, *pair) for pair in new.directions()}
        lines += _inbound_lines(old, "remove", lambda key: key not in new_keys)
        lines += _inbound_lines(new, "add", lambda key: key not in old_keys)
    for record in diff.flows.added:
        lines += _inbound_lines(record.item, "add")
    for record in diff.flows.removed:
        lines += _inbound_lines(record.item, "remove")
    return lines


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
    for comparison in diff.comparisons:
        label = comparison.kind
        if comparison.added:
            parts.append(_listed([display_key(comparison, r) for r in comparison.added], f"added {label}"))
        if comparison.removed:
            parts.append(_listed([display_key(comparison, r) for r in comparison.removed], f"removed {label}"))
        if comparison.changed and comparison.kind != "flow":
            parts.append(_listed([f"{display_key(comparison, c.new)} ({', '.join(f.field for f in c.fields)})"
                                  for c in comparison.changed], f"changed {label}"))
    return parts or ["no changes"]


def display_key(comparison: Comparison, record: Record) -> str:
    """How people name a record: an erratum by its own id, everything else by its key."""
    return record.values["id"] if comparison.kind == "erratum" else record.key
