"""Checks on the corrections of the published source."""
from __future__ import annotations

from typing import Iterator

from ..issues import Issue, issue
from ..model import Erratum, Model
from ..registry import Registry
from ..schema import FLOWS
from .registration import check

# Flows columns a correction may empty: a published value that should not be there at all
# (a program exception where a port rule is meant).
OPTIONAL_FIELDS = frozenset(column.name for column in FLOWS.columns if not column.required)


@check("C208")
def erratum_incomplete(model: Model, registry: Registry) -> Iterator[Issue]:
    """Every correction names the published value, the corrected value (which may be empty
    only for an optional column: the correction removes the value), the rationale and the evidence."""
    for erratum in model.errata:
        for column in ("published", "corrected", "rationale", "evidence"):
            if column == "corrected" and erratum.field in OPTIONAL_FIELDS:
                continue
            if not getattr(erratum, column):
                yield issue("C208", erratum.where(column), f"erratum {erratum.id}: {column} is empty", column)
        if erratum.published and erratum.published == erratum.corrected:
            yield issue("C208", erratum.where("corrected"), f"erratum {erratum.id}: corrected value equals the published one", "corrected")


def _last_of_chains(errata: list[Erratum]) -> list[Erratum]:
    """The errata whose corrected value no later erratum of the same flow and field corrects
    again: where one erratum fixes a spelling and the next the value itself, the data holds
    the last one's value."""
    corrected_again = {(later.flow, later.field, later.published.lower()) for later in errata}
    return [erratum for erratum in errata
            if (erratum.flow, erratum.field, erratum.corrected.lower()) not in corrected_again]


@check("C209")
def erratum_stale(model: Model, registry: Registry) -> Iterator[Issue]:
    """An erratum's flow must hold the corrected value, not the published one."""
    for dataset in model.datasets:
        errata = [erratum for erratum in _last_of_chains(dataset.errata)
                  if erratum.corrected or erratum.field in OPTIONAL_FIELDS]
        if not errata:
            continue
        ids = dataset.frame["id"]
        corrected = ids[ids.isin([erratum.flow for erratum in errata])]
        flow_of = dict(zip(corrected, dataset.flows_at(corrected.index.tolist())))
        for erratum in errata:
            flow = flow_of.get(erratum.flow)
            if flow is None:
                continue
            current = flow.value(erratum.field)
            if current.lower() != erratum.corrected.lower():
                was_published = current.lower() == erratum.published.lower()
                detail = "the published value is back" if was_published else "the data changed since the erratum"
                yield issue(
                    "C209", flow.where(erratum.field),
                    f"{flow.id}: {erratum.field} is {current!r} but erratum {erratum.id} corrects "
                    f"{erratum.published!r} to {erratum.corrected!r} ({detail})",
                    erratum.field,
                )
