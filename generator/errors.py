"""Errors that stop a command.

Problems in the data are not exceptions: they are `Issue`s, collected and reported
together. These are the few conditions that end a command at once; the command line
catches `PortbookError`, prints it and exits with its `exit_code`, so no generator
ever calls `sys.exit` or prints a traceback for them.
"""
from __future__ import annotations


class PortbookError(Exception):
    """A condition that ends the command; `str(error)` is the message for the user."""

    exit_code = 1


class UsageError(PortbookError):
    """The command line names something that cannot be used (exit 2, as argparse does)."""

    exit_code = 2


class SettingsError(PortbookError):
    """A setting in portbook.toml that a generator cannot work with, located at its key
    (a `generator.model.Location`, as `Settings.location` gives it)."""

    def __init__(self, where, message: str):
        self.where = where
        super().__init__(f"{where.file}:{where.line}:{where.column}: L009 {message}")


class OutputError(PortbookError):
    """An output cannot be produced or written (an unsafe path, a full disk)."""
