"""Checks on the roles datasets define."""
from __future__ import annotations

import ipaddress
from typing import Iterator

import pandas as pd

from ..issues import Issue, issue
from ..model import Model, Role
from ..registry import Registry
from .registration import all_flows, check

# The rows one worksheet holds (the limit of Excel and of the xlsx format's readers),
# the header row among them.
SHEET_ROWS = 1_048_576


@check("C210")
def role_conflict(model: Model, registry: Registry) -> Iterator[Issue]:
    """Datasets share a role by id; they must agree on its name."""
    first: dict[str, Role] = {}
    for dataset in model.datasets:
        for role in dataset.roles:
            seen = first.setdefault(role.id, role)
            if seen is not role and seen.name != role.name:
                yield issue(
                    "C210", role.location,
                    f"role {role.id} is named {role.name!r} here but {seen.name!r} in dataset {seen.dataset}",
                    "name",
                )


@check("C211")
def unused_role(model: Model, registry: Registry) -> Iterator[Issue]:
    """A role no flow uses is dead weight in every output."""
    used = {role for dataset in model.datasets for column in ("source", "destination") for role in dataset.frame[column].unique()}
    for dataset in model.datasets:
        for role in dataset.roles:
            if role.id not in used:
                yield issue("C211", role.location, f"role {role.id} has no flows", "id")


@check("C213")
def shared_address(model: Model, registry: Registry) -> Iterator[Issue]:
    """Two roles claiming one address (or overlapping networks) give each other's
    firewall rules to the same host: usually a copied inventory row."""
    networks = sorted(((ipaddress.ip_network(host.address), host) for host in model.inventory),
                      key=lambda pair: (pair[0].version, pair[0].network_address, -pair[0].prefixlen))
    # Sorted by start address, a network can only overlap those after it up to where they
    # start beyond its end: linear for inventories without nested networks.
    for index, (network, host) in enumerate(networks):
        for other, other_host in networks[index + 1:]:
            if other.version != network.version or other.network_address > network.broadcast_address:
                break
            if other_host.role != host.role:
                # Reported at the later row of the two: the one most likely copied.
                first, later = sorted((host, other_host), key=lambda h: h.location.line)
                yield issue("C213", later.location,
                            f"{later.role} claims {later.address}, which overlaps {first.address} of {first.role} "
                            f"({first.location.file}:{first.location.line})", "address")


def request_line_counts(model: Model) -> pd.Series:
    """Role id -> the number of request lines `views.role_lines` gives the role, counted
    over the flows frames: a flow gives each role it joins one line per direction (two
    for a bidirectional flow between two roles), and a flow within one role gives that
    role an inbound and an outbound line."""
    flows = all_flows(model)
    if flows.empty:
        return pd.Series(dtype="int64")
    within = flows["source"].eq(flows["destination"])
    per_end = flows["direction"].eq("both").astype("int64").add(1).where(~within, 1)
    ends = pd.concat([pd.DataFrame({"role": flows["source"], "lines": per_end}),
                      pd.DataFrame({"role": flows["destination"], "lines": per_end})])
    return ends.groupby("role", sort=False)["lines"].sum()


def roles_beyond_one_sheet(model: Model, sheet_rows: int) -> Iterator[Issue]:
    """C214 for every role with more request lines than a sheet of `sheet_rows` rows holds
    beside its header row, at the role's row."""
    counts = request_line_counts(model)
    over = counts[counts.ge(sheet_rows)]
    reported: set[str] = set()
    for dataset in model.datasets:
        for role in dataset.roles:
            if role.id in over.index and role.id not in reported:
                reported.add(role.id)
                yield issue("C214", role.location,
                            f"role {role.id} has {over[role.id]:,} request lines; one worksheet holds "
                            f"{sheet_rows - 1:,} beside its header row: split the role", "id")


@check("C214")
def sheet_row_limit(model: Model, registry: Registry) -> Iterator[Issue]:
    """A role's change request is one worksheet, which holds 1,048,575 request lines beside
    its header row; a role with more cannot be written."""
    yield from roles_beyond_one_sheet(model, SHEET_ROWS)
