"""Checks on the corrections of the published source."""
from __future__ import annotations

from typing import Iterator

from ..issues import Issue, issue
from ..model import Model
from ..registry import Registry
from .registration import check


@check("C208")
def erratum_incomplete(model: Model, registry: Registry) -> Iterator[Issue]:
    """Every correction names the published value, the corrected value, the rationale and the evidence."""
    for erratum in model.errata:
        for column in ("published", "corrected", "rationale", "evidence"):
            if not getattr(erratum, column):
                yield issue("C208", erratum.where(column), f"erratum {erratum.id}: {column} is empty", column)
        if erratum.published and erratum.published == erratum.corrected:
            yield issue("C208", erratum.where("corrected"), f"erratum {erratum.id}: corrected value equals the published one", "corrected")


@check("C209")
def erratum_stale(model: Model, registry: Registry) -> Iterator[Issue]:
    """An erratum's flow must hold the corrected value, not the published one."""
    for dataset in model.datasets:
        if not dataset.errata:
            continue
        ids = dataset.frame["id"]
        corrected = ids[ids.isin([erratum.flow for erratum in dataset.errata if erratum.corrected])]
        flow_of = dict(zip(corrected, dataset.flows_at(corrected.index.tolist())))
        for erratum in dataset.errata:
            flow = flow_of.get(erratum.flow)
            if flow is None or not erratum.corrected:
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
