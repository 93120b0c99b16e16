"""The data schema, written down once.

Each table of a dataset is a list of `Column`s: what the column means, its
type, allowed values and an example (rendered for people on the site's schema
page), and the cell rules the loader enforces. Cell rules are vectorised
predicates over a column (pandas string operations on a Series of the column's
cells), so that validation stays fast on large tables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .issues import did_you_mean
from .model import ANY
from .settings import DATASET_KEYS  # defined beside the keys of portbook.toml; the schema page shows them

TRANSPORTS = ("tcp", "udp", ANY)
DIRECTIONS = ("one-way", "both")

# Documented default pools for dynamically allocated ports. A flow marked with
# one of these keys must name exactly that range (check C207).
DYNAMIC_RANGES: dict[str, tuple[int, int, str]] = {
    "windows-2008": (49152, 65535, "Windows Server 2008 and later (and Windows Vista and later)"),
    "windows-2003": (1025, 5000, "Windows Server 2003 and earlier"),
    "iana": (49152, 65535, "IANA dynamic and private ports (RFC 6335)"),
    "linux": (32768, 60999, "Linux default net.ipv4.ip_local_port_range"),
}

ID_PATTERN = r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?"
SERVICE_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,62})"


@dataclass(frozen=True)
class CellRule:
    """One rule a cell must satisfy. `ok` returns True where the rule holds or does not apply.
    It judges each value alone, whatever the other values of the column (the loader judges
    each distinct value of a column once)."""

    code: str
    ok: Callable[[pd.Series], pd.Series]  # strings -> booleans
    message: Callable[[str], str]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    example: str
    required: bool = True  # the cell must not be empty
    allowed: tuple[str, ...] = ()
    rules: tuple[CellRule, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Table:
    name: str
    filename: str
    description: str
    columns: tuple[Column, ...]
    key: str = ""  # column whose values must be unique

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]



def _fullmatch(values: pd.Series, pattern: str) -> pd.Series:
    return values.str.fullmatch(pattern)


def _matches(pattern: str) -> Callable[[pd.Series], pd.Series]:
    def ok(values: pd.Series) -> pd.Series:
        return values.eq("") | _fullmatch(values, pattern)

    return ok


def _one_of(choices: tuple[str, ...]) -> Callable[[pd.Series], pd.Series]:
    def ok(values: pd.Series) -> pd.Series:
        return values.eq("") | values.str.lower().isin(choices)

    return ok


# 1 to 65535 without leading zeros, as a regular expression so that the check stays
# vectorised (extracting and converting numbers is an order of magnitude slower).
PORT_NUMBER = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
PORT_SHAPE = r"[0-9]{1,5}(?:-[0-9]{1,5})?"


def _port_bounds(values: pd.Series) -> pd.Series:
    shaped = _fullmatch(values, PORT_SHAPE)
    return ~shaped | _fullmatch(values, f"{PORT_NUMBER}(?:-{PORT_NUMBER})?")


def _port_order(values: pd.Series) -> pd.Series:
    ranges = values[values.str.fullmatch(r"[0-9]{1,5}-[0-9]{1,5}")]
    first = ranges.str.replace(r"-.*", "", regex=True).astype("int32")
    last = ranges.str.replace(r".*-", "", regex=True).astype("int32")
    ok = pd.Series(True, index=values.index)
    ok[ranges.index] = first <= last
    return ok


def port_ends(ports: pd.Series) -> pd.DataFrame:
    """The first and last port of each validated, lower-cased port cell, as columns
    'first' and 'last' (missing for 'any'): '1433' -> 1433, 1433; '49152-65535' -> 49152, 65535."""
    # Each distinct cell once: a data set repeats its ports (7,000 cells of 100,000 rows).
    codes, distinct = pd.factorize(ports, use_na_sentinel=False)
    cells = pd.Series(distinct, dtype=ports.dtype)
    numbered = cells.ne(ANY)
    first = cells.str.replace(r"-.*", "", regex=True).where(numbered, "0").astype("int32")
    last = cells.str.replace(r"^.*-", "", regex=True).where(numbered, "0").astype("int32")
    return pd.DataFrame({"first": first.astype("Int32").where(numbered).take(codes).array,
                         "last": last.astype("Int32").where(numbered).take(codes).array},
                        index=ports.index)


_FIRST_LOOK = 1024  # rows


def repeated_values(values: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    """For a column whose rows repeat their values (roles, ports, conditions, rules), more
    than half of them: each row's number among its distinct values, and those values under
    their numbers, so that a rule or a screen judges each once. None for a column of mostly
    distinct values."""
    # Finding the distinct values of a column of purposes costs about what a screen of it
    # does, so a column whose first rows repeat no value at all is taken as mostly
    # distinct. One that repeats (ports: 7,000 values in 100,000 rows) does so within
    # its first thousand rows, though not yet in half of them.
    first = values.iloc[:_FIRST_LOOK]
    if len(values) > 2 * _FIRST_LOOK and first.nunique() == len(first):
        return None
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    if 2 * len(distinct) < len(values):
        return codes, pd.Series(distinct, dtype=values.dtype)
    return None


def among(values: pd.Series, choices) -> pd.Series:
    """values.isin(choices) for a string column. pandas tests Arrow strings against the
    choices one Python object at a time, which is slow for many choices: then the test
    goes through a hash table, of Python strings or of object arrays."""
    # Series.tolist makes Python strings at once; iterating one makes them one by one.
    choices = choices.tolist() if isinstance(choices, (pd.Series, pd.Index)) else list(choices)
    if len(choices) <= 1000:
        return values.isin(choices)
    if len(values) <= 1000:
        wanted = set(choices)
        return pd.Series([value in wanted for value in values.tolist()], index=values.index, dtype=bool)
    return values.astype(object).isin(pd.Series(choices, dtype=object))


def _port_message(value: str) -> str:
    hint = ""
    stripped = value.strip()
    if re.fullmatch(r"\d+(\s*[,;/]\s*\d+)+", stripped):
        hint = "; write one port or range per row"
    elif re.fullmatch(r"0x[0-9a-fA-F]+|\d+[eE]\d+|\d+\.\d+", stripped):
        hint = "; write the port as a plain decimal number"
    return f"port {value!r} is not a number from 1 to 65535, a range N-M, or 'any'{hint}"


def _bounds_message(value: str) -> str:
    if re.search(r"(?:^|-)0[0-9]", value):
        return f"port {value!r} has a leading zero; write ports without them"
    return f"port {value!r} is outside 1-65535"


# Ids become file names of the outputs; Windows refuses these names (with any extension)
# for files, so an id such as `con` or `com1.x` would make outputs no Windows host can hold.
RESERVED_NAMES = r"(?:con|prn|aux|nul|com[0-9]|lpt[0-9])"

ID_RULE = CellRule(
    "S102",
    _matches(ID_PATTERN),
    lambda v: f"id {v!r} must be a lower-case slug: letters, digits, '.', '_' or '-', at most 64 characters",
)
RESERVED_ID_RULE = CellRule(
    "S102",
    lambda values: values.eq("") | ~_fullmatch(values.str.lower(), rf"{RESERVED_NAMES}(?:\..*)?"),
    lambda v: f"id {v!r} is a name Windows reserves for devices ({v.split('.')[0]}); output files are named after ids, so choose another",
)
ID_RULES = (ID_RULE, RESERVED_ID_RULE)

FLOWS = Table(
    name="flows",
    filename="flows.csv",
    description="One row per flow: one transport and one port or range, from a source role to a destination role.",
    key="id",
    columns=(
        Column("id", "slug", "Stable identifier of the flow; anchors, links and diffs use it, so never reuse one.", "sql-engine-default", rules=(ID_RULE,)),
        Column(
            "transport", "enum", "Transport protocol; 'any' for program exceptions that cover every protocol.", "tcp",
            allowed=TRANSPORTS,
            rules=(CellRule("S105", _one_of(TRANSPORTS), lambda v: f"unknown transport {v!r}; use tcp, udp or any{did_you_mean(v, TRANSPORTS)}"),),
        ),
        Column(
            "port", "port", "Destination port: a number from 1 to 65535, a range N-M, or 'any'.", "1433",
            rules=(
                CellRule("S103", _matches(r"[0-9]{1,5}(?:-[0-9]{1,5})?|(?i:any)"), _port_message),
                CellRule("S103", _port_bounds, _bounds_message),
                CellRule("S104", _port_order, lambda v: f"range {v!r} ends before it starts"),
            ),
        ),
        Column(
            "dynamic", "enum", "Set when the range is a pool of dynamically allocated ports: names the platform whose default pool it is.", "windows-2008",
            required=False, allowed=tuple(DYNAMIC_RANGES),
            rules=(CellRule("S108", _one_of(tuple(DYNAMIC_RANGES)), lambda v: f"unknown dynamic range {v!r}; use one of {', '.join(DYNAMIC_RANGES)}{did_you_mean(v, DYNAMIC_RANGES)}"),),
        ),
        Column("source", "role id", "Role that opens the connection.", "dpm-server", rules=ID_RULES),
        Column("destination", "role id", "Role that accepts the connection.", "sql-server", rules=ID_RULES),
        Column(
            "direction", "enum", "'one-way' from source to destination, or 'both' when either side opens the connection.", "one-way",
            allowed=DIRECTIONS,
            rules=(CellRule("S108", _one_of(DIRECTIONS), lambda v: f"unknown direction {v!r}; use one-way or both{did_you_mean(v, DIRECTIONS)}"),),
        ),
        Column(
            "service", "service name", "Registered service name (IANA / /etc/services) of the port, where one exists.", "ms-sql-s",
            required=False,
            rules=(CellRule("S108", _matches(SERVICE_PATTERN), lambda v: f"service {v!r} is not a service name (letters, digits, '.', '_', '+', '-')"),),
        ),
        Column("program", "text", "Executable the firewall rule is bound to, where the source names one.", "sqlservr.exe", required=False),
        Column("rule", "text", "Name of the firewall rule that the product's set-up creates, where it names one.", "DPMAM_WCF_Service", required=False),
        Column("purpose", "text", "What the flow is for, in a sentence or two.", "Database engine, default instance.", ),
        Column("condition", "text", "When the flow is needed, if not always.", "Only with a remote SQL Server", required=False),
        Column("reference", "section key", "Section of the published source the row comes from (a key of [sections] in dataset.toml).", "remote-sql", rules=(ID_RULE,)),
        Column("assumption", "text", "Decisions the source leaves open (for example the direction) that a reviewer should confirm.", "The DPM server is taken as the client.", required=False),
    ),
)

# How the hosts of a role are managed, which decides the firewall files they get.
ROLE_PLATFORMS = ("windows", "linux", "unmanaged")

ROLES = Table(
    name="roles",
    filename="roles.csv",
    description="The roles hosts play. Datasets may share a role by using the same id and name.",
    key="id",
    columns=(
        Column("id", "slug", "Stable identifier of the role; page and file names derive from it.", "dpm-server", rules=ID_RULES),
        Column("name", "text", "Name shown to people.", "DPM server"),
        Column("description", "text", "What hosts of this role are.", "Server running Data Protection Manager.", required=False),
        Column(
            "platform", "enum",
            "How the role's hosts are managed, which decides their firewall files: 'windows' gets a Windows Firewall "
            "script, 'linux' an nftables file, 'unmanaged' (a host this product does not own, such as a shared "
            "DNS server) only its allow list, with no policy that drops traffic. Empty: both the Windows Firewall "
            "script and the nftables file, as for a role written before the column existed.",
            "windows", required=False, allowed=ROLE_PLATFORMS,
            rules=(CellRule("S108", _one_of(ROLE_PLATFORMS), lambda v: f"unknown platform {v!r}; use windows, linux or unmanaged{did_you_mean(v, ROLE_PLATFORMS)}"),),
        ),
    ),
)

ERRATA = Table(
    name="errata",
    filename="errata.csv",
    description="Corrections of the published source: the published value, the value the data holds instead, and why.",
    key="id",
    columns=(
        Column("id", "text", "Identifier of the correction, as reviewers cite it.", "E1", rules=(CellRule("S102", _matches(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"), lambda v: f"erratum id {v!r} must be letters, digits, '.', '_' or '-'"),)),
        Column("flow", "flow id", "The flow the correction applies to.", "sql-engine-default", rules=(ID_RULE,)),
        Column("field", "column name", "The flows column that was corrected.", "port"),
        Column("published", "text", "The value as the source publishes it.", "1443", required=False),
        Column("corrected", "text", "The value the data holds.", "1433", required=False),
        Column("rationale", "text", "Why the published value is wrong.", "The same section gives 1433 as the default.", required=False),
        Column("evidence", "text", "Where the corrected value is confirmed.", "IANA registry: ms-sql-s 1433/tcp", required=False),
        Column("reference", "section key", "Section of the published source that carries the mistake.", "remote-sql", rules=(ID_RULE,)),
    ),
)

INVENTORY = Table(
    name="inventory",
    filename="inventory.csv",
    description="Example or real hosts for each role; addresses feed workbooks and firewall policies.",
    columns=(
        Column("role", "role id", "Role the host plays.", "dpm-server", rules=ID_RULES),
        Column("host", "text", "Host or network name.", "dpm01", rules=(CellRule("S108", _matches(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})"), lambda v: f"host {v!r} must be letters, digits, '.', '_' or '-'"),)),
        Column("address", "IP address or network", "IPv4/IPv6 address or network in CIDR form.", "192.0.2.10"),
        Column("note", "text", "Free comment.", "Example DPM server", required=False),
    ),
)

DATASET_TABLES = (FLOWS, ROLES, ERRATA)
OPTIONAL_TABLES = ("errata",)  # a dataset without corrections may omit errata.csv
