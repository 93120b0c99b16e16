"""Checks against the service registry: a named service's registered ports."""
from __future__ import annotations

import difflib
from typing import Iterator

import pandas as pd

from ..issues import Issue, did_you_mean, issue
from ..model import ANY, Model, PortRange
from ..registry import Registry
from ..schema import among
from .registration import check


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


@check("C201")
def registry_mismatch(model: Model, registry: Registry) -> Iterator[Issue]:
    """A row that names a registered service must use a port and transport registered for it.
    A near miss such as 1443/tcp for ms-sql-s (1433/tcp) gets a "did you mean"."""
    for dataset in model.datasets:
        frame = dataset.frame
        numbered = frame["service"].ne("") & frame["first"].notna() & frame["dynamic"].eq("")
        named = frame.loc[numbered, ["service", "transport", "first", "last"]]
        services = [service for service in named["service"].unique() if registry.knows(service)]
        named = named[among(named["service"], services)].reset_index()
        # Each row against every range registered for its service on its transport
        # (both, for transport any): registered where one range holds the row's.
        registered = pd.DataFrame(
            [(service, transport, ports.first, ports.last)
             for service in services for transport in ("tcp", "udp") for ports in registry.ports(service, transport)],
            columns=["service", "registered_transport", "registered_first", "registered_last"])
        asked = named.assign(registered_transport=named["transport"])
        either = asked[asked["transport"].eq(ANY)]
        asked = pd.concat([asked[asked["transport"].ne(ANY)], either.assign(registered_transport="tcp"),
                           either.assign(registered_transport="udp")])
        pairs = asked.merge(registered, on=["service", "registered_transport"])
        held = pairs.loc[(pairs["first"] >= pairs["registered_first"]) & (pairs["last"] <= pairs["registered_last"]), "line"]
        unregistered = named.loc[~named["line"].isin(held), "line"]
        for flow in dataset.flows_at(unregistered.tolist()):
            ports = flow.ports
            transports = ["tcp", "udp"] if flow.transport == ANY else [flow.transport]
            entries = registry.all_ports(flow.service)
            same_transport = [r.first for t, r in entries if t in transports and r.is_single]
            close = _close_port(ports.first, same_transport) if ports.is_single else None
            hint = f"; did you mean {close}/{flow.transport}?" if close is not None else ""
            yield issue(
                "C201", flow.where("port"),
                f"{flow.id}: service {flow.service} is registered as {_ranges_text(entries)}, not {flow.label}{hint}",
                "port",
            )


@check("C202")
def unknown_service(model: Model, registry: Registry) -> Iterator[Issue]:
    """A service name that no registry knows is probably misspelt (or belongs in the vendor registry)."""
    for dataset in model.datasets:
        services = dataset.frame["service"]
        unknown = [service for service in services.unique() if service and not registry.knows(service)]
        # One suggestion per distinct name, from the registry's index of names.
        hints = {service: did_you_mean(service, registry.names, cutoff=0.8)
                 or "; add it to the vendor registry if it is a vendor port" for service in unknown}
        for flow in dataset.flows_at(services.index[among(services, unknown)].tolist()) if unknown else ():
            hint = hints[flow.service]
            yield issue("C202", flow.where("service"), f"{flow.id}: service {flow.service!r} is not in the registry{hint}", "service")
