"""The list of checks and how a check joins it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import pandas as pd

from ..issues import CATALOG, Issue, sort_key
from ..model import Flow, Model
from ..registry import Registry

CheckFunction = Callable[[Model, Registry], Iterable[Issue]]


@dataclass(frozen=True)
class Check:
    """A check function and the codes it reports: one code, or a few that share one
    reading of the data (C215 and C216 read the same phrases, and differ in severity)."""

    codes: tuple[str, ...]
    function: CheckFunction

    @property
    def doc(self) -> str:
        return (self.function.__doc__ or "").strip()


CHECKS: list[Check] = []


def check(*codes: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check reporting `codes`."""
    unknown = [code for code in codes if code not in CATALOG]
    if not codes or unknown:
        raise KeyError(", ".join(unknown) or "a check needs a code")

    def register(function: CheckFunction) -> CheckFunction:
        CHECKS.append(Check(codes, function))
        return function

    return register


def check_codes() -> list[str]:
    """Every code the checks report, in the order of CHECKS."""
    return [code for entry in CHECKS for code in entry.codes]


def run_checks(model: Model, registry: Registry) -> list[Issue]:
    issues = []
    for entry in CHECKS:
        for found in entry.function(model, registry):
            if found.code not in entry.codes:
                raise ValueError(f"{entry.function.__name__} reported {found.code}, not one of its codes {entry.codes}")
            issues.append(found)
    return sorted(issues, key=sort_key)


def all_flows(model: Model) -> pd.DataFrame:
    """Every dataset's flows frame, one after another in data order."""
    frames = [dataset.frame for dataset in model.datasets]
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames) if frames else pd.DataFrame()


def flows_at(model: Model, datasets: Iterable[str], lines: Iterable[int]) -> list[Flow]:
    """The flows of rows of the datasets' frames, given as (dataset, line) pairs, in order."""
    pairs = list(zip(datasets, lines))
    wanted: dict[str, list[int]] = {}
    for dataset, line in pairs:
        wanted.setdefault(dataset, []).append(line)
    made = {(dataset, flow.line): flow for dataset, rows in wanted.items()
            for flow in model.dataset_by_id[dataset].flows_at(rows)}
    return [made[pair] for pair in pairs]


def role_pairs(flows: pd.DataFrame) -> pd.DataFrame:
    """The roles each flow connects, as columns "one" and "other": (source, destination),
    in name order for bidirectional flows, which connect the same two roles whichever way
    they are written."""
    swap = flows["direction"].eq("both") & (flows["destination"] < flows["source"])
    return pd.DataFrame({"one": flows["source"].where(~swap, flows["destination"]),
                         "other": flows["destination"].where(~swap, flows["source"])})


def first_use(flow: Flow) -> str:
    """A flow as messages cite an earlier one: its id, file and line."""
    return f"{flow.id} ({flow.location.file}:{flow.location.line})"
