"""Checks on the programs firewall rules are bound to."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from ..issues import Issue, Suggestions, issue
from ..model import Model
from ..registry import Registry
from .registration import all_flows, check, flows_at

# The difflib ratio from which two program names are one name spelt two ways.
SPELLING_CUTOFF = 0.9


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
    order = {name: index for index, name in enumerate(names)}
    # Spellings of one lower-cased name, and an index of the lower-cased names, so that
    # each name is compared with a bounded set of near spellings, not with every other.
    spellings: dict[str, list[str]] = defaultdict(list)
    for name in names:
        spellings[name.lower()].append(name)
    index = Suggestions(names)
    reported: set[str] = set()
    for name in names:
        near = [spelling for key in index.similar(name, SPELLING_CUTOFF) for spelling in spellings[key]]
        earlier = sorted((other for other in dict.fromkeys(spellings[name.lower()] + near)
                          if order[other] < order[name]), key=order.__getitem__)
        for other in earlier:
            # Report the rarer spelling: it is more likely the typo.
            rare, common = (name, other) if counts[name] <= counts[other] else (other, name)
            if name in reported or rare in reported:
                continue
            reported.add(rare)
            (flow,) = flows_at(model, [first_use.at[rare, "dataset"]], [first_use.at[rare, "line"]])
            yield issue(
                "C205", flow.where("program"),
                f"{flow.id}: program {rare!r} looks like {common!r} used elsewhere; spell it one way",
                "program",
            )
