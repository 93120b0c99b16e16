"""The keys of the two TOML files, written down once, and where a key sits in its file.

`SETTINGS_KEYS` (data/portbook.toml) and `DATASET_KEYS` (data/<dataset>/dataset.toml)
are the one definition of what each file may hold: the site's schema page and the
README's settings section are both rendered from them (a test holds the README to
`keys_table`), and messages about a bad value point at the key's line through
`key_location`.
"""
from __future__ import annotations

import re
from typing import NamedTuple


class Key(NamedTuple):
    """One key of a TOML file: `name` is dotted (`site.base_url`); KEY stands for any name."""

    name: str
    required: bool
    meaning: str
    example: str


SETTINGS_KEYS = (
    Key("registry.system", False, "Services database to check service names against; empty for none.", "/etc/services"),
    Key("registry.extra", False, "Further registries in the IANA CSV column layout, relative to the data folder.", '["registry/vendor-ports.csv"]'),
    Key("inventory.file", False, "Hosts per role (role, host, address, note), relative to the data folder.", "inventory.csv"),
    Key("site.base_url", False, "Address the site is published at; workbooks link flows there (http or https).", "https://ports.example.org/"),
    Key("xlsx.profile", False, "Workbook layout: change-request or traffic-lines.", "change-request"),
    Key("policy.platforms", False, "Aerleon platforms to render policies for.", '["windows_advfirewall", "nftables"]'),
    Key("policy.accept_loopback", False, "nftables: accept traffic on the loopback interface before the terms (default true).", "true"),
    Key("policy.accept_established", False, "nftables: accept established and related connections (default true).", "true"),
    Key("policy.accept_icmp", False, "nftables: accept the ICMP and ICMPv6 types a host needs: neighbour discovery, path MTU, echo (default true).", "true"),
    Key("policy.program_paths", False, "Windows: full path of each program the data names by file name; Windows Firewall matches programs by path.", "{ \"Msdpm.exe\" = 'C:\\Program Files\\DPM\\Msdpm.exe' }"),
)

DATASET_KEYS = (
    Key("id", True, "Identifier of the dataset; unique across data/.", "dpm-2012r2"),
    Key("title", True, "Product the dataset documents.", "System Center 2012 R2 Data Protection Manager"),
    Key("short_title", False, "Short product name for tight spaces.", "DPM 2012 R2"),
    Key("version", True, "Version of the dataset (not of the product).", "2026.11.0"),
    Key("source.title", True, "Title of the published page the data transcribes.", "Configure firewall settings for DPM"),
    Key("source.publisher", False, "Who publishes the source.", "Microsoft"),
    Key("source.document_id", False, "The source's own identifier.", "8ae3f67e-…"),
    Key("source.url", False, "Where the source is published (http or https).", "https://learn.example.com/dpm/firewall"),
    Key("source.revision", False, "Revision of the source the data was transcribed from (its date or commit); `check --against` tells a later page's fixes and additions by it.", "2016-10-12"),
    Key("sections.KEY.title", True, "Title of a section rows can cite as KEY.", "Set up Windows Firewall on the remote SQL Server"),
    Key("sections.KEY.anchor", False, "Anchor of that section in the source.", "BKMK_SQL"),
)

_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _parts(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in dotted.split(".")]


def key_location(text: str, dotted_key: str) -> tuple[int, int]:
    """(line, column) where `dotted_key` (such as `policy.platforms`) is set in TOML `text`,
    or where its table starts; (1, 1) when the file does not name it. Only the forms people
    write are recognised: `[table]` headers with `key = value` lines below, and dotted keys."""
    wanted = _parts(dotted_key)
    table: list[str] = []
    table_line = None
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE.match(line)
        if header:
            table = _parts(header.group(1))
            if table == wanted[:len(table)] and table_line is None:
                table_line = (number, line.index("[") + 1)
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment and table + _parts(assignment.group(1)) == wanted:
            return number, line.index(assignment.group(1)[0]) + 1
    return table_line or (1, 1)


def keys_table(keys: tuple[Key, ...]) -> str:
    """The keys as a Markdown table, as the README shows them."""
    rows = ["| key | required | meaning | example |", "| --- | --- | --- | --- |"]
    for key in keys:
        example = f"`{key.example}`" if key.example else ""
        rows.append(f"| `{key.name}` | {'yes' if key.required else 'no'} | {key.meaning} | {example} |")
    return "\n".join(rows) + "\n"
