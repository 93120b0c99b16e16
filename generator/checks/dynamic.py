"""Checks on dynamically allocated port pools."""
from __future__ import annotations

from typing import Iterator

from ..issues import Issue, issue
from ..model import Model
from ..registry import Registry
from ..schema import DYNAMIC_RANGES
from .registration import check


@check("C207")
def dynamic_range(model: Model, registry: Registry) -> Iterator[Issue]:
    """A flow marked as a dynamic pool must name exactly that platform's documented default range."""
    for dataset in model.datasets:
        frame = dataset.frame
        pools = frame[frame["dynamic"].ne("") & frame["first"].notna()]
        expected_first = pools["dynamic"].map({key: first for key, (first, _, _) in DYNAMIC_RANGES.items()})
        expected_last = pools["dynamic"].map({key: last for key, (_, last, _) in DYNAMIC_RANGES.items()})
        for flow in dataset.flows_at(pools.index[pools["first"].ne(expected_first) | pools["last"].ne(expected_last)].tolist()):
            ports = flow.ports
            first, last, platform = DYNAMIC_RANGES[flow.dynamic]
            others = [key for key, (f, l, _) in DYNAMIC_RANGES.items() if (f, l) == (ports.first, ports.last)]
            hint = f"; it is the {others[0]} default" if others else ""
            yield issue(
                "C207", flow.where("port"),
                f"{flow.id}: dynamic range {ports} disagrees with the {platform} default {first}-{last}{hint}",
                "port",
            )


@check("C212")
def dynamic_unmarked(model: Model, registry: Registry) -> Iterator[Issue]:
    """A range that spans a platform's whole dynamic pool, or a thousand ports or more, is
    almost always a dynamic allocation pool and should say which platform's."""
    for dataset in model.datasets:
        frame = dataset.frame
        wide = frame["dynamic"].eq("") & (frame["last"] - frame["first"] + 1).ge(1000).fillna(False)
        for flow in dataset.flows_at(frame.index[wide].tolist()):
            yield issue(
                "C212", flow.where("dynamic"),
                f"{flow.id}: range {flow.ports} is wide; if it is a dynamic pool, set dynamic to one of {', '.join(DYNAMIC_RANGES)}",
                "dynamic",
            )
