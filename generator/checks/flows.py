"""Checks that compare flows with each other: conflicting ports, repeated flows."""
from __future__ import annotations

from typing import Iterator

import pandas as pd

from ..issues import Issue, issue
from ..model import Model
from ..registry import Registry
from .registration import all_flows, check, first_use, flows_at, role_pairs


def _ends(flows: pd.DataFrame) -> pd.DataFrame:
    """The port range's ends as plain integers, -1 for every port, so that 'any' groups as one value."""
    return flows[["first", "last"]].fillna(-1).astype("int64")


@check("C203")
def service_port_conflict(model: Model, registry: Registry) -> Iterator[Issue]:
    """The same service between the same roles must use the same port everywhere."""
    flows = all_flows(model)
    if flows.empty:
        return
    columns = ["dataset", "transport", "first", "last", "source", "destination", "direction", "service"]
    flows = flows.loc[flows["service"].ne("") & flows["first"].notna(), columns].reset_index()
    keyed = pd.concat([flows[["dataset", "line", "transport", "first", "last"]], role_pairs(flows)], axis=1)
    keyed["service"] = flows["service"].str.lower()
    key = ["service", "transport", "one", "other"]
    # The first flow of each service, transport and role pair, in data order.
    firsts = keyed.groupby(key, sort=False)[["dataset", "line", "first", "last"]].transform("first")
    differs = keyed["first"].ne(firsts["first"]) | keyed["last"].ne(firsts["last"])
    for flow, first in zip(flows_at(model, keyed.loc[differs, "dataset"], keyed.loc[differs, "line"]),
                           flows_at(model, firsts.loc[differs, "dataset"], firsts.loc[differs, "line"])):
        yield issue(
            "C203", flow.where("port"),
            f"{flow.id}: {flow.service} between {flow.source} and {flow.destination} is {flow.label} here "
            f"but {first.label} in {first_use(first)}",
            "port",
        )


@check("C204")
def duplicate_flow(model: Model, registry: Registry) -> Iterator[Issue]:
    """Two rows with the same transport, ports, roles and program describe one flow twice."""
    flows = all_flows(model)
    if flows.empty:
        return
    flows = flows[["dataset", "transport", "first", "last", "source", "destination", "direction", "program"]].reset_index()
    keyed = pd.concat([flows[["dataset", "line", "transport"]], _ends(flows), role_pairs(flows)], axis=1)
    keyed["program"] = flows["program"].str.lower()
    key = ["transport", "first", "last", "one", "other", "program"]
    again = keyed.duplicated(key, keep="first")
    if not again.any():
        return
    firsts = keyed.groupby(key, sort=False)[["dataset", "line"]].transform("first")
    for flow, first in zip(flows_at(model, keyed.loc[again, "dataset"], keyed.loc[again, "line"]),
                           flows_at(model, firsts.loc[again, "dataset"], firsts.loc[again, "line"])):
        yield issue(
            "C204", flow.where("id"),
            f"{flow.id} repeats {first_use(first)}: same transport, ports, roles and program",
            "id",
        )
