"""Turn a real service registry into a data folder: a dataset with real-world text.

    python benchmarks/registry_flows.py [--registry FILE] [--roles R] [--limit N] OUT

Reads the IANA "Service Name and Transport Protocol Port Number Registry" CSV
(default ../shared/iana/service-names-port-numbers.csv next to the checkout) or,
when that is absent, Debian's nmap-services (/usr/share/nmap/nmap-services, from
the `nmap-common` package). Each registered TCP or UDP service becomes one flow
from a client role to the role serving its port band, with the registry's own
description as the purpose. The registry itself is bundled (in IANA layout) as
the folder's only service registry, so every service checks against its source.
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import (ERRATA_COLUMNS, FLOW_COLUMNS, INVENTORY_COLUMNS, REGISTRY_COLUMNS,  # noqa: E402
                       ROLE_COLUMNS, _csv_text, _documentation_addresses)

ROOT = Path(__file__).resolve().parent.parent
IANA_CSV = ROOT.parent / "shared" / "iana" / "service-names-port-numbers.csv"
NMAP_SERVICES = Path("/usr/share/nmap/nmap-services")
REGISTRY_FILE = "registry/services.csv"
DATASET_ID = "registry"

SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,62}")
MAX_TEXT = 1000  # registry notes can run long; the loader caps a cell at 4096 characters
WIDE = 1000  # ranges this wide read as dynamic pools to the checks; they are left out


@dataclass(frozen=True)
class Entry:
    service: str
    transport: str
    first: int
    last: int
    description: str
    note: str

    @property
    def port(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def _clean(text: str) -> str:
    return " ".join(text.split())[:MAX_TEXT]


def read_iana(path: Path) -> list[Entry]:
    entries = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            port = (row.get("Port Number") or "").strip()
            match = re.fullmatch(r"(\d+)(?:-(\d+))?", port)
            if not match:
                continue
            first, last = int(match.group(1)), int(match.group(2) or match.group(1))
            entries.append(Entry((row.get("Service Name") or "").strip(), (row.get("Transport Protocol") or "").strip().lower(),
                                 first, last, _clean(row.get("Description") or ""), _clean(row.get("Assignment Notes") or "")))
    return entries


def read_nmap(path: Path) -> list[Entry]:
    """nmap-services: `name port/proto frequency [# comment]`."""
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        body, _, comment = line.partition("#")
        fields = body.split()
        if len(fields) < 2 or "/" not in fields[1]:
            continue
        port, _, transport = fields[1].partition("/")
        if port.isdigit():
            entries.append(Entry(fields[0], transport.lower(), int(port), int(port), _clean(comment), ""))
    return entries


def usable(entries: list[Entry]) -> list[Entry]:
    """TCP and UDP entries with a service name and a real port, one per (service, transport)
    and one per (transport, port): the checks treat a second row for either as a conflict
    or a duplicate."""
    seen_service: set[tuple[str, str]] = set()
    seen_port: set[tuple[str, str]] = set()
    kept = []
    for entry in entries:
        if entry.transport not in ("tcp", "udp") or not SERVICE_NAME.fullmatch(entry.service):
            continue
        if entry.first < 1 or entry.last > 65535 or entry.last < entry.first or entry.last - entry.first + 1 >= WIDE:
            continue
        service_key, port_key = (entry.service.lower(), entry.transport), (entry.port, entry.transport)
        if service_key in seen_service or port_key in seen_port:
            continue
        seen_service.add(service_key)
        seen_port.add(port_key)
        kept.append(entry)
    return kept


def flow_id(service: str, transport: str, taken: set[str]) -> str:
    stem = re.sub(r"[^a-z0-9._-]+", "-", service.lower()).strip("._-") or "service"
    base = f"{stem[:55]}-{transport}"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


def build_rows(entries: list[Entry], roles: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Roles, flows and inventory: a fifth of the roles are client groups, the rest each
    serve one band of ports, so role pages hold neighbouring services."""
    clients = max(1, roles // 5)
    servers = max(1, roles - clients)
    ordered = sorted(entries, key=lambda e: (e.first, e.transport, e.service.lower()))
    band_size = -(-len(ordered) // servers)
    role_rows = [{"id": f"clients-{n:02d}", "name": f"Client group {n}",
                  "description": "Hosts that open connections to the registered services."} for n in range(1, clients + 1)]
    band_of: dict[Entry, str] = {}
    for number in range(servers):
        band = ordered[number * band_size:(number + 1) * band_size]
        if not band:
            break
        low, high = band[0].first, max(e.last for e in band)
        role = f"ports-{low:05d}-{high:05d}"
        role_rows.append({"id": role, "name": f"Servers of ports {low} to {high}",
                          "description": "Hosts offering the registered services of this port band."})
        for entry in band:
            band_of[entry] = role
    taken: set[str] = set()
    flows = []
    for index, entry in enumerate(entries):
        flows.append({
            "id": flow_id(entry.service, entry.transport, taken),
            "transport": entry.transport,
            "port": entry.port,
            "dynamic": "",
            "source": f"clients-{index % clients + 1:02d}",
            "destination": band_of[entry],
            "direction": "one-way",
            "service": entry.service,
            "program": "",
            "rule": "",
            "purpose": entry.description or f"Registered service {entry.service}.",
            "condition": "",
            "reference": "registry",
            "assumption": entry.note,
        })
    addresses = _documentation_addresses()
    inventory = [{"role": role["id"], "host": f"{role['id']}-h01", "address": next(addresses), "note": "Example host"}
                 for role in role_rows]
    return role_rows, flows, inventory


def registry_csv(entries: list[Entry]) -> str:
    rows = []
    for entry in entries:
        row = dict.fromkeys(REGISTRY_COLUMNS, "")
        row.update({"Service Name": entry.service, "Port Number": entry.port,
                    "Transport Protocol": entry.transport, "Description": entry.description})
        rows.append(row)
    return _csv_text(REGISTRY_COLUMNS, rows)


def convert(source: Path, out: Path, roles: int = 50, limit: int = 0) -> dict[str, int]:
    entries = read_nmap(source) if source.name == "nmap-services" else read_iana(source)
    kept = usable(entries)
    if limit:
        kept = kept[:limit]
    role_rows, flows, inventory = build_rows(kept, roles)
    dataset = out / DATASET_ID
    (out / "registry").mkdir(parents=True, exist_ok=True)
    dataset.mkdir(parents=True, exist_ok=True)
    (out / "portbook.toml").write_text(
        "# Data folder converted from a service registry by benchmarks/registry_flows.py.\n"
        f'[registry]\nsystem = ""\nextra = ["{REGISTRY_FILE}"]\n\n[inventory]\nfile = "inventory.csv"\n', encoding="utf-8")
    (out / REGISTRY_FILE).write_text(registry_csv(kept), encoding="utf-8")
    (out / "inventory.csv").write_text(_csv_text(INVENTORY_COLUMNS, inventory), encoding="utf-8")
    (dataset / "dataset.toml").write_text(
        f'id = "{DATASET_ID}"\ntitle = "Registered services ({source.name})"\nshort_title = "Registry"\nversion = "1.0.0"\n\n'
        f'[source]\ntitle = "Service registry {source.name}"\n\n'
        '[sections.registry]\ntitle = "Registry entries"\nanchor = ""\n', encoding="utf-8")
    (dataset / "roles.csv").write_text(_csv_text(ROLE_COLUMNS, role_rows), encoding="utf-8")
    (dataset / "flows.csv").write_text(_csv_text(FLOW_COLUMNS, flows), encoding="utf-8")
    (dataset / "errata.csv").write_text(_csv_text(ERRATA_COLUMNS, []), encoding="utf-8")
    return {"flows": len(flows), "roles": len(role_rows), "read": len(entries)}


def default_source() -> Path | None:
    for path in (IANA_CSV, NMAP_SERVICES):
        if path.exists():
            return path
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert a service registry into a Portbook data folder.")
    parser.add_argument("--registry", type=Path, help=f"IANA CSV or nmap-services (default: {IANA_CSV}, else {NMAP_SERVICES})")
    parser.add_argument("--roles", type=int, default=50, help="number of roles (default 50)")
    parser.add_argument("--limit", type=int, default=0, help="keep at most N flows (default: all)")
    parser.add_argument("out", type=Path, help="data folder to write")
    args = parser.parse_args(argv)
    source = args.registry or default_source()
    if source is None or not source.exists():
        print(f"error: no registry found; pass --registry, or install nmap-common for {NMAP_SERVICES}", file=sys.stderr)
        return 1
    if args.roles < 2:
        parser.error("--roles must be at least 2")
    counts = convert(source, args.out, args.roles, args.limit)
    print(f"{args.out}: {counts['flows']} flows over {counts['roles']} roles from {counts['read']} entries of {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
