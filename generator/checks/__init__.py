"""Consistency checks over a loaded model.

Each check is a small function that yields `Issue`s under one stable code from
`generator.issues.CATALOG`, registered with `@check(code)` beside its definition in
the module of its family. `run_checks` runs them all, in the order below, and
returns every issue; the caller decides the exit code.
"""
from __future__ import annotations

from .registration import CHECKS, Check, CheckFunction, check, check_codes, run_checks

# Importing a family registers its checks; the order is the order of CHECKS.
from . import registry, flows, programs, text, dynamic, errata, roles  # noqa: E402,F401  isort: skip

__all__ = ["CHECKS", "Check", "CheckFunction", "check", "check_codes", "run_checks"]
