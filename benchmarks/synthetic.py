"""A seeded synthetic data folder: N flows over R roles, clean under `check`.

    python benchmarks/synthetic.py --flows 10000 --roles 50 --seed 1 OUT

writes OUT/portbook.toml, OUT/inventory.csv, OUT/registry/services.csv and one
dataset folder OUT/synthetic/ (dataset.toml, roles.csv, flows.csv, errata.csv).
Text lengths follow the shipped data (purposes of one or two sentences,
occasional conditions, assumptions and rule names) so that outputs do
realistic work. The same arguments always give byte-identical files.

Everything the checks look at is kept consistent by construction: ids are
unique, a service always uses the one port the bundled registry gives it, no
two rows share transport, ports, role pair and program, dynamic pools name
their platform's exact range, free text only mentions the row's own port, and
inventory addresses come from the documentation ranges (RFC 5737, RFC 3849).
"""
from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import random
import sys
from pathlib import Path

from generator.schema import ERRATA, FLOWS, INVENTORY, ROLES

# The files' columns are the schema's; a row leaves out the optional cells it does not fill.
FLOW_COLUMNS = FLOWS.column_names
ROLE_COLUMNS = ROLES.column_names
ERRATA_COLUMNS = ERRATA.column_names
INVENTORY_COLUMNS = INVENTORY.column_names
REGISTRY_COLUMNS = ["Service Name", "Port Number", "Transport Protocol", "Description", "Assignee", "Contact",
                    "Registration Date", "Modification Date", "Reference", "Service Code",
                    "Unauthorized Use Reported", "Assignment Notes"]

DATASET_ID = "synthetic"
REGISTRY_FILE = "registry/services.csv"

# Kinds of hosts a role can stand for: (id stem, name, description).
ROLE_KINDS = [
    ("web-frontend", "Web front end", "Reverse proxy and static content servers facing users on the internal network."),
    ("app-server", "Application server", "Hosts running the business application and its scheduled jobs."),
    ("database", "Database server", "Relational database instances holding the application's data and its reporting copies."),
    ("backup-server", "Backup server", "Servers that pull backups from protected hosts and keep the catalogue."),
    ("backup-agent", "Protected host", "Any host with the backup agent installed, from file servers to workstations."),
    ("domain-controller", "Domain controller", "Directory servers providing name resolution, authentication and policy."),
    ("monitoring", "Monitoring server", "Collectors and dashboards that poll hosts and receive their alerts."),
    ("log-collector", "Log collector", "Central log intake that receives syslog and agent streams and indexes them."),
    ("jump-host", "Administration jump host", "Hardened hosts from which administrators reach the management interfaces."),
    ("file-server", "File server", "Servers exporting shared folders to users and applications."),
    ("mail-relay", "Mail relay", "Outbound and inbound relays for notification and user mail."),
    ("message-broker", "Message broker", "Queue and stream brokers connecting the application components."),
    ("cache", "Cache cluster", "In-memory caches in front of the databases, replicated within the cluster."),
    ("workstation", "User workstation", "Desktops and laptops of staff, including remote users on the VPN pool."),
    ("hypervisor", "Virtualisation host", "Hypervisors running the server estate and their management agents."),
    ("storage-array", "Storage array", "Block and file storage controllers with their replication links."),
    ("print-server", "Print server", "Queues for the office printers and label printers."),
    ("ci-runner", "Build runner", "Continuous integration runners that fetch sources and publish artefacts."),
    ("artifact-repo", "Artefact repository", "Package and container registries used by builds and deployments."),
    ("vpn-gateway", "VPN gateway", "Concentrators terminating remote access and site-to-site tunnels."),
]

# Programs a rule can be bound to. Deliberately far apart in spelling: names that
# differ by a letter would be reported as one program spelt two ways.
PROGRAMS = ["backupd", "nginx", "postgres", "java.exe", "httpd", "slapd", "named", "sshd", "rsyncd", "haproxy",
            "redis-server", "mongod", "dotnet.exe", "w3wp.exe", "lsass.exe", "svchost.exe", "vmtoolsd", "collectd",
            "telegraf", "filebeat", "prometheus", "grafana-server", "kafka-run", "rabbitmq-beam", "spoolsv.exe",
            "smbd", "chronyd", "squid", "dockerd", "kubelet"]

SERVICE_STEMS = ["sync", "repl", "agent", "ctl", "mgmt", "feed", "bus", "store", "cache", "auth", "stat", "log",
                 "push", "pull", "poll", "admin", "index", "query", "stream", "relay"]
SERVICE_PREFIXES = ["acme", "orbit", "lumen", "quill", "vesta", "nimbus", "tarn", "kite", "ember", "fjord",
                    "halyard", "ivory", "juniper", "krait", "larch", "marlin", "nettle", "osprey", "pylon", "quartz"]

ACTIVITIES = [
    "replication of changed blocks", "status polling", "job scheduling", "configuration push", "metric collection",
    "alert forwarding", "catalogue updates", "session brokering", "cache invalidation", "health probes",
    "licence checks", "software distribution", "event streaming", "directory lookups", "report rendering",
    "file transfer", "remote administration", "certificate enrolment", "queue consumption", "index rebuilds",
]
DETAILS = [
    "The connection stays open while a job runs and is re-established after a failover.",
    "Traffic is light except during the nightly window.",
    "Payloads are encrypted by the application itself.",
    "The client retries with back-off when the listener is busy.",
    "Each host opens a handful of connections at start-up.",
    "Volume grows with the number of protected hosts.",
    "Used interactively by administrators, rarely by automation.",
    "",
    "",
]
CONDITIONS = [
    "Only when the {feature} feature is enabled",
    "Only during the maintenance window",
    "Only when the {feature} add-on is installed",
    "Only for hosts in the {feature} tier",
    "Only when high availability is configured",
]
FEATURES = ["reporting", "archive", "self-service restore", "clustering", "auditing", "remote console", "deduplication"]
ASSUMPTIONS = [
    "The source does not say which side connects; the {source} is taken as the client.",
    "Recorded in both directions because either end may start the exchange.",
    "The vendor lists the port without a transport; the transport shown is the one captured on the wire.",
    "The range is left at the platform default; narrow it if the application allows.",
]
SECTIONS = {
    "ports": ("Ports and protocols overview", "ports"),
    "agents": ("Agent communication", "agents"),
    "infrastructure": ("Infrastructure services", "infra"),
    "administration": ("Administration and monitoring", "admin"),
    "storage": ("Storage and replication", "storage"),
    "optional": ("Optional features", "optional"),
}
# Dynamic pools: (key, range). Two keys share 49152-65535, so a pair can hold only one of them per transport.
DYNAMIC = [("windows-2008", "49152-65535"), ("iana", "49152-65535"), ("linux", "32768-60999"), ("windows-2003", "1025-5000")]


def _csv_text(header: list[str], rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def make_roles(count: int) -> list[dict[str, str]]:
    roles = []
    for index in range(count):
        stem, name, description = ROLE_KINDS[index % len(ROLE_KINDS)]
        group = index // len(ROLE_KINDS) + 1
        roles.append({
            "id": f"{stem}-{group:02d}",
            "name": f"{name} group {group}",
            "description": f"{description} Group {group} of the estate.",
        })
    return roles


def make_services(count: int, rng: random.Random) -> list[tuple[str, int]]:
    """`count` services with distinct names and ports in the registered range (1024-49151),
    avoiding the 1025-5000 pool so that no service port sits inside a dynamic range it might
    be confused with."""
    ports = rng.sample(range(5001, 32768), count)
    names = []
    for index, port in enumerate(ports):
        prefix = SERVICE_PREFIXES[index % len(SERVICE_PREFIXES)]
        stem = SERVICE_STEMS[(index // len(SERVICE_PREFIXES)) % len(SERVICE_STEMS)]
        round_ = index // (len(SERVICE_PREFIXES) * len(SERVICE_STEMS))
        names.append(f"{prefix}-{stem}" + (f"{round_ + 1}" if round_ else ""))
    return list(zip(names, ports))


def _sentence(rng: random.Random, service: str, source: str, destination: str, port: int | None) -> str:
    activity = rng.choice(ACTIVITIES)
    text = f"{activity.capitalize()} from the {source} to the {destination}"
    if service:
        text += f" over the {service} service"
    if port is not None and rng.random() < 0.3:
        text += f" on port {port}"
    text += "."
    detail = rng.choice(DETAILS)
    return f"{text} {detail}".strip()


def make_flows(count: int, roles: list[dict[str, str]], rng: random.Random) -> tuple[list[dict[str, str]], list[tuple[str, int]]]:
    """The flow rows and the services they use."""
    if len(roles) < 2:
        raise ValueError("at least two roles are needed")
    services = make_services(max(20, min(4000, count // 4 + 1)), rng)
    names = {role["id"]: role["name"].lower() for role in roles}
    ids = [role["id"] for role in roles]
    used_keys: set[tuple] = set()
    rows: list[dict[str, str]] = []
    serial = 0
    while len(rows) < count:
        source, destination = rng.sample(ids, 2)
        both = rng.random() < 0.2
        pair = tuple(sorted((source, destination))) if both else (source, destination)
        kind = rng.random()
        program = rng.choice(PROGRAMS) if rng.random() < 0.3 else ""
        service, dynamic, transport = "", "", "tcp" if rng.random() < 0.75 else "udp"
        port_number: int | None = None
        if kind < 0.04:
            dynamic, port = rng.choice(DYNAMIC)
        elif kind < 0.07:
            transport, port, program = "any", "any", rng.choice(PROGRAMS)
        elif kind < 0.10:
            first = rng.randrange(33000, 48000)
            port = f"{first}-{first + rng.randrange(1, 100)}"
        else:
            service, port_number = rng.choice(services)
            port = str(port_number)
        key = (transport, port, pair, program.lower())
        if key in used_keys:
            continue
        used_keys.add(key)
        serial += 1
        stem = service or (f"dynamic-{dynamic}" if dynamic else "program" if transport == "any" else "range")
        row = {
            "id": f"{stem}-{serial:06d}",
            "transport": transport,
            "port": port,
            "dynamic": dynamic,
            "source": source,
            "destination": destination,
            "direction": "both" if both else "one-way",
            "service": service,
            "program": program,
            "rule": f"Allow {service or stem} from {names[source]}" if rng.random() < 0.25 else "",
            "purpose": _sentence(rng, service, names[source], names[destination], port_number),
            "condition": rng.choice(CONDITIONS).format(feature=rng.choice(FEATURES)) if rng.random() < 0.3 else "",
            "reference": rng.choice(list(SECTIONS)),
            "assumption": rng.choice(ASSUMPTIONS).format(source=names[source]) if rng.random() < 0.2 else "",
        }
        rows.append(row)
    return rows, services


def make_errata(flows: list[dict[str, str]], rng: random.Random) -> list[dict[str, str]]:
    """About one correction per 200 flows, each a published port one digit off the right one."""
    candidates = [row for row in flows if row["service"]]
    chosen = rng.sample(candidates, min(len(candidates), max(1, len(flows) // 200)))
    errata = []
    for number, row in enumerate(sorted(chosen, key=lambda r: r["id"]), start=1):
        port = int(row["port"])
        published = port + 1 if port < 65535 else port - 1
        errata.append({
            "id": f"E{number}",
            "flow": row["id"],
            "field": "port",
            "published": str(published),
            "corrected": row["port"],
            "rationale": f"The source is off by one; {row['service']} is registered on the corrected value.",
            "evidence": f"Bundled service registry entry for {row['service']}",
            "reference": row["reference"],
        })
    return errata


def _documentation_addresses():
    """Host addresses from the documentation ranges: RFC 5737 first, then RFC 3849."""
    for network in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"):
        yield from (str(address) for address in ipaddress.ip_network(network).hosts())
    for number in range(1, 1 << 20):
        yield str(ipaddress.ip_address("2001:db8::") + number)


def make_inventory(roles: list[dict[str, str]], rng: random.Random) -> list[dict[str, str]]:
    addresses = _documentation_addresses()
    rows = []
    for role in roles:
        for number in range(1, rng.randint(1, 4) + 1):
            rows.append({
                "role": role["id"],
                "host": f"{role['id']}-h{number:02d}",
                "address": next(addresses),
                "note": f"Example host {number} of {role['name'].lower()}",
            })
    return rows


def registry_rows(services: list[tuple[str, int]]) -> list[dict[str, str]]:
    rows = []
    for name, port in services:
        for transport in ("tcp", "udp"):
            row = dict.fromkeys(REGISTRY_COLUMNS, "")
            row.update({"Service Name": name, "Port Number": str(port), "Transport Protocol": transport,
                        "Description": f"Synthetic {name.replace('-', ' ')} service"})
            rows.append(row)
    return rows


def dataset_toml(flows: int, roles: int, seed: int) -> str:
    lines = [
        "# Synthetic dataset for benchmarks; regenerate with benchmarks/synthetic.py.",
        f'id = "{DATASET_ID}"',
        f'title = "Synthetic product ({flows} flows, {roles} roles, seed {seed})"',
        'short_title = "Synthetic"',
        'version = "1.0.0"',
        "",
        "[source]",
        'title = "Synthetic port requirements"',
        'publisher = "Portbook benchmarks"',
        "",
    ]
    for key, (title, anchor) in SECTIONS.items():
        lines += [f"[sections.{key}]", f'title = "{title}"', f'anchor = "{anchor}"', ""]
    return "\n".join(lines)


PORTBOOK_TOML = f"""# Synthetic data folder for benchmarks. Services are checked against the bundled
# registry only, so results do not depend on the machine's /etc/services.
[registry]
system = ""
extra = ["{REGISTRY_FILE}"]

[inventory]
file = "inventory.csv"
"""


def generate(out: Path, flows: int, roles: int, seed: int) -> dict[str, int]:
    """Write the data folder; returns the row counts written."""
    rng = random.Random(seed)
    role_rows = make_roles(roles)
    flow_rows, services = make_flows(flows, role_rows, rng)
    errata = make_errata(flow_rows, rng)
    inventory = make_inventory(role_rows, rng)
    dataset = out / DATASET_ID
    (out / "registry").mkdir(parents=True, exist_ok=True)
    dataset.mkdir(parents=True, exist_ok=True)
    (out / "portbook.toml").write_text(PORTBOOK_TOML, encoding="utf-8")
    (out / REGISTRY_FILE).write_text(_csv_text(REGISTRY_COLUMNS, registry_rows(services)), encoding="utf-8")
    (out / "inventory.csv").write_text(_csv_text(INVENTORY_COLUMNS, inventory), encoding="utf-8")
    (dataset / "dataset.toml").write_text(dataset_toml(flows, roles, seed), encoding="utf-8")
    (dataset / "roles.csv").write_text(_csv_text(ROLE_COLUMNS, role_rows), encoding="utf-8")
    (dataset / "flows.csv").write_text(_csv_text(FLOW_COLUMNS, flow_rows), encoding="utf-8")
    (dataset / "errata.csv").write_text(_csv_text(ERRATA_COLUMNS, errata), encoding="utf-8")
    return {"flows": len(flow_rows), "roles": len(role_rows), "errata": len(errata), "hosts": len(inventory),
            "services": len(services)}


# What a hostile folder adds to the one `generate` writes (see `generate_hostile`).
HOSTILE_KINDS = ("programs", "errata", "unknown-service")
UNKNOWN_SERVICE = "ms-sql-sx"  # one letter off the registered ms-sql-s, so each row asks for a suggestion
HOSTILE_ERRATA = 1000
LONG_NAME_CHARACTERS = 2000


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def hostile_program_names(count: int, rng: random.Random) -> list[str]:
    """`count` distinct program names, one in ten of them LONG_NAME_CHARACTERS long."""
    names = []
    for index in range(count):
        length = LONG_NAME_CHARACTERS if index % 10 == 9 else 12
        names.append("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=length)) + f"{index}.exe")
    return names


def generate_hostile(out: Path, flows: int, roles: int, seed: int, kind: str) -> dict[str, int]:
    """The folder `generate` writes for the same arguments, with the rows that make one
    suggestion path of `check` work hardest: "programs", a distinct program on every flow
    (the program spelling check); "errata", HOSTILE_ERRATA more errata pointing at flows
    that do not exist, each id one letter off a real one ("did you mean" over the flow
    ids; such errata stop `check` before the other checks, hence a folder of their own);
    or "unknown-service", every flow naming UNKNOWN_SERVICE ("did you mean" over the
    registry `check --registry` reads). `check` of such a folder, against `check` of the
    plain one, shows whether the path grows with the rows alone."""
    if kind not in HOSTILE_KINDS:
        raise ValueError(f"unknown hostile kind {kind!r}; use one of {', '.join(HOSTILE_KINDS)}")
    counts = generate(out, flows, roles, seed)
    rng = random.Random(f"hostile-{kind}-{seed}")
    flows_path, errata_path = out / DATASET_ID / "flows.csv", out / DATASET_ID / "errata.csv"
    header, rows = _read_csv(flows_path)
    if kind == "programs":
        for row, program in zip(rows, hostile_program_names(len(rows), rng)):
            row["program"] = program
        counts.update(programs=len(rows))
    elif kind == "errata":
        errata_header, errata = _read_csv(errata_path)
        for number in range(1, HOSTILE_ERRATA + 1):
            flow = rng.choice(rows)
            cut = rng.randrange(len(flow["id"]))
            errata.append({**dict.fromkeys(errata_header, ""), "id": f"H{number}",
                           "flow": flow["id"][:cut] + flow["id"][cut + 1:], "field": "port",
                           "published": "1", "corrected": flow["port"], "rationale": "Points at no flow.",
                           "evidence": "Benchmark input", "reference": flow["reference"]})
        errata_path.write_text(_csv_text(errata_header, errata), encoding="utf-8")
        counts.update(errata=len(errata))
        return counts
    else:
        for row in rows:
            row["service"] = UNKNOWN_SERVICE
        counts.update(unknown_service_rows=len(rows))
    flows_path.write_text(_csv_text(header, rows), encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a seeded synthetic Portbook data folder.")
    parser.add_argument("--flows", type=int, default=1000, help="number of flows (default 1000)")
    parser.add_argument("--roles", type=int, default=50, help="number of roles, at least 2 (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("out", type=Path, help="data folder to write")
    args = parser.parse_args(argv)
    if args.flows < 1 or args.roles < 2:
        parser.error("--flows must be at least 1 and --roles at least 2")
    counts = generate(args.out, args.flows, args.roles, args.seed)
    print(f"{args.out}: " + ", ".join(f"{value} {name}" for name, value in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
