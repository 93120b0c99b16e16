"""Checks on the roles datasets define."""
from __future__ import annotations

from typing import Iterator

from ..issues import Issue, issue
from ..model import Model, Role
from ..registry import Registry
from .registration import check


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
