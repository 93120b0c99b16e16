"""Checks on the programs firewall rules are bound to."""
from __future__ import annotations

import difflib
from typing import Iterator

from ..issues import Issue, issue
from ..model import Model
from ..registry import Registry
from .registration import all_flows, check, flows_at


@check("C205")
def program_spelling(model: Model, registry: Registry) -> Iterator[Issue]:
    """Program names that differ by a letter or two (sqservr.exe and sqlservr.exe) are one program spelt two ways."""
    flows = all_flows(model)
    if flows.empty:
        return
    named = flows[flows["program"].ne("")].reset_index()
    counts = named["program"].value_counts()
    # The first row of each program, in data order: datasets in order, rows in order.
    first_use = named.drop_duplicates("program").set_index("program")
    names = first_use.index.tolist()
    reported: set[str] = set()
    for index, name in enumerate(names):
        for other in names[:index]:
            if name.lower() == other.lower() and name != other:
                similar = True
            else:
                similar = difflib.SequenceMatcher(None, name.lower(), other.lower()).ratio() >= 0.9
            if similar and name not in reported:
                # Report the rarer spelling: it is more likely the typo.
                rare, common = (name, other) if counts[name] <= counts[other] else (other, name)
                reported.add(rare)
                (flow,) = flows_at(model, [first_use.at[rare, "dataset"]], [first_use.at[rare, "line"]])
                yield issue(
                    "C205", flow.where("program"),
                    f"{flow.id}: program {rare!r} looks like {common!r} used elsewhere; spell it one way",
                    "program",
                )
