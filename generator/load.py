"""Load a data folder into the model, validating everything on the way.

Layout of a data folder:

    data/portbook.toml          project settings (registry sources, inventory file, ...)
    data/inventory.csv          hosts per role, shared by all datasets
    data/<dataset>/dataset.toml the product and the published source it transcribes
    data/<dataset>/flows.csv    the flows
    data/<dataset>/roles.csv    the roles its flows name
    data/<dataset>/errata.csv   corrections of the published source (optional)

Every folder with a dataset.toml is a dataset; adding one needs no code change.
Cell values are validated column by column with the vectorised rules of
`generator.schema`; references between tables are validated here. Nothing raises on bad data:
`load` returns the model (None when errors prevent building it) and every issue.
"""
from __future__ import annotations

import hashlib
import ipaddress
import tomllib
from collections import defaultdict
from itertools import repeat
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from .csvfile import CsvTable, display_path, read_csv, release_memory
from .issues import Issue, did_you_mean, has_errors, issue, sort_key
from .model import (ANY, Dataset, Erratum, FlowColumns, Host, Location, Model, Role, Section,
                    Settings, SourceDocument)

SETTINGS_FILE = "portbook.toml"
DATASET_FILE = "dataset.toml"


def _read_toml(path: Path, files: dict[str, str]) -> tuple[dict | None, list[Issue]]:
    """Parse a TOML file, recording the sha256 of the bytes read in `files`."""
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, [issue("L001", Location(shown, 0, 0), f"cannot read file: {error.strerror or error}")]
    files[shown] = hashlib.sha256(data).hexdigest()
    try:
        return tomllib.loads(data.decode("utf-8")), []
    except UnicodeDecodeError:
        return None, [issue("L002", Location(shown, 1, 1), "file is not valid UTF-8")]
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", 1) or 1
        column = getattr(error, "colno", 1) or 1
        return None, [issue("L009", Location(shown, line, column), f"invalid TOML: {error.args[0] if error.args else error}")]


def load_settings(data_dir: Path, files: dict[str, str]) -> tuple[Settings, list[Issue]]:
    path = data_dir / SETTINGS_FILE
    settings = Settings(path=path)
    if not path.exists():
        return settings, []
    raw, issues = _read_toml(path, files)
    if raw is None:
        return settings, issues
    settings.raw = raw
    shown = Location(display_path(path), 1, 1)
    registry = raw.get("registry", {})
    inventory = raw.get("inventory", {})
    if not isinstance(registry, dict) or not isinstance(inventory, dict):
        return settings, [issue("L009", shown, "[registry] and [inventory] must be tables")]
    system = registry.get("system", "/etc/services")
    extra = registry.get("extra", [])
    if not isinstance(system, str) or not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
        issues.append(issue("L009", shown, "registry.system must be a path and registry.extra a list of paths"))
    else:
        settings.registry_system = Path(system) if system else None
        settings.registry_extra = [data_dir / e for e in extra]
    inventory_file = inventory.get("file", "")
    if not isinstance(inventory_file, str):
        issues.append(issue("L009", shown, "inventory.file must be a path"))
    elif inventory_file:
        settings.inventory = data_dir / inventory_file
    return settings, issues


_REQUIRED = schema.CellRule("S101", lambda values: pc.not_equal(values, ""), lambda v: "a value is required")


def validate_cells(table: schema.Table, csv_table: CsvTable) -> tuple[set[int], list[Issue]]:
    """Validate every cell; returns the indexes of rejected records and the issues. One
    message per cell: the first rule that fails."""
    if not len(csv_table):
        return set(), []
    failed: dict[tuple[int, int], Issue] = {}  # (record, column position) -> issue
    for position, column in enumerate(table.columns):
        rules = ((_REQUIRED,) if column.required else ()) + column.rules
        if not rules:
            continue
        values = csv_table.columns[column.name]
        if not column.rules:  # required only: a plain scan, no Arrow array needed
            for index in (index for index, value in enumerate(values) if not value) if "" in values else ():
                failed[(index, position)] = issue(_REQUIRED.code, csv_table.where(index, column.name),
                                                  f"{column.name}: {_REQUIRED.message('')}", column.name)
            continue
        array = csv_table.array(column.name)
        # Rules depend on the value alone: where values repeat (roles, transports,
        # sections), each distinct value is tested once and the verdicts spread back.
        if pa.types.is_dictionary(array.type):
            encoded = array.combine_chunks()
        else:
            encoded = pc.dictionary_encode(array).combine_chunks() if len(array) >= 1000 else None
        repeats = encoded is not None and len(encoded.dictionary) <= len(array) // 4
        for rule in rules:
            ok = pc.take(rule.ok(encoded.dictionary), encoded.indices) if repeats else rule.ok(array)
            for index in pc.indices_nonzero(pc.invert(ok)).to_pylist():
                if (index, position) not in failed:
                    failed[(index, position)] = issue(rule.code, csv_table.where(index, column.name),
                                                      f"{column.name}: {rule.message(values[index])}", column.name)
    return {index for index, _ in failed}, [failed[key] for key in sorted(failed)]


def _read_table(path: Path, table: schema.Table) -> tuple[CsvTable | None, set[int], list[Issue]]:
    required = [c.name for c in table.columns if c.required]
    csv_table, issues = read_csv(path, table.column_names, required, [c.name for c in table.columns if c.rules])
    if csv_table is None:
        return None, set(), issues
    rejected, cell_issues = validate_cells(table, csv_table)
    csv_table.arrays.clear()  # only the rules needed them; the model holds the lists
    return csv_table, rejected, issues + cell_issues


class FirstUse:
    """Where each key (an id) was first used, file by file: (file, {key: line})."""

    def __init__(self) -> None:
        self.files: list[tuple[str, dict[str, int]]] = []

    def __contains__(self, key: str) -> bool:
        return any(key in keys for _, keys in self.files)

    def where(self, key: str) -> tuple[str, int] | None:
        return next(((path, keys[key]) for path, keys in self.files if key in keys), None)

    def isdisjoint(self, keys: set[str]) -> bool:
        return all(seen.keys().isdisjoint(keys) for _, seen in self.files)

    def keys(self) -> set[str]:
        return {key for _, seen in self.files for key in seen}


def _duplicates(csv_table: CsvTable, column: str, rejected: set[int], seen: FirstUse) -> list[Issue]:
    values = csv_table.columns[column]
    lines = dict(zip(values, csv_table.lines))
    if not rejected and len(lines) == len(values) and "" not in lines and seen.isdisjoint(lines.keys()):
        seen.files.append((csv_table.path, lines))  # the usual case, in one pass
        return []
    issues = []
    here: dict[str, int] = {}
    seen.files.append((csv_table.path, here))
    for index, value in enumerate(values):
        if not value or index in rejected:
            continue
        first = seen.where(value)
        if first is None:
            here[value] = csv_table.lines[index]
            continue
        issues.append(issue("S107", csv_table.where(index, column), f"{column} {value!r} is already used at {first[0]}:{first[1]}", column))
        rejected.add(index)
    return issues


def _load_metadata(folder: Path, files: dict[str, str]) -> tuple[dict | None, list[Issue]]:
    path = folder / DATASET_FILE
    raw, issues = _read_toml(path, files)
    if raw is None:
        return None, issues
    where = Location(display_path(path), 1, 1)
    problems = []
    for key in ("id", "title", "version"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            problems.append(f"key {key!r} must be a non-empty string")
    source = raw.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("title"), str):
        problems.append("table [source] with a 'title' is required")
    sections = raw.get("sections")
    if not isinstance(sections, dict) or not sections:
        problems.append("at least one [sections.KEY] table with a 'title' is required")
    else:
        for key, value in sections.items():
            if not isinstance(value, dict) or not isinstance(value.get("title"), str):
                problems.append(f"[sections.{key}] needs a 'title'")
            # Rows cite sections by key (a slug), and outputs may make anchors or names of it.
            if not _is_slug(key):
                problems.append(f"section key {key!r} must be a lower-case slug")
    if isinstance(raw.get("id"), str) and raw.get("id") and not _is_slug(raw["id"]):
        problems.append(f"id {raw['id']!r} must be a lower-case slug")
    if problems:
        return None, [issue("L009", where, message) for message in problems]
    return raw, []


def _is_slug(value: str) -> bool:
    import re

    return re.fullmatch(schema.ID_PATTERN, value) is not None


def _load_dataset(folder: Path, flow_ids: FirstUse) -> tuple[Dataset | None, list[Issue]]:
    files: dict[str, str] = {}
    metadata, issues = _load_metadata(folder, files)
    tables: dict[str, tuple[CsvTable | None, set[int]]] = {}
    for table in schema.DATASET_TABLES:
        path = folder / table.filename
        if table.name in schema.OPTIONAL_TABLES and not path.exists():
            tables[table.name] = (None, set())
            continue
        csv_table, rejected, table_issues = _read_table(path, table)
        issues += table_issues
        tables[table.name] = (csv_table, rejected)
        if csv_table is not None:
            files[csv_table.path] = csv_table.sha256

    roles_table, roles_rejected = tables["roles"]
    flows_table, flows_rejected = tables["flows"]
    errata_table, errata_rejected = tables["errata"]
    role_ids = FirstUse()
    if roles_table is not None:
        issues += _duplicates(roles_table, "id", roles_rejected, role_ids)
    if flows_table is not None:
        issues += _duplicates(flows_table, "id", flows_rejected, flow_ids)
    if errata_table is not None:
        issues += _duplicates(errata_table, "id", errata_rejected, FirstUse())

    sections = {}
    if metadata is not None:
        sections = {
            key: Section(key, value["title"], str(value.get("anchor", "")))
            for key, value in metadata["sections"].items()
        }

    dataset_id = metadata["id"] if metadata else folder.name
    roles = []
    if roles_table is not None:
        for index in range(len(roles_table)):
            if index in roles_rejected:
                continue
            v = roles_table.row(index)
            roles.append(Role(v["id"], v["name"], v["description"], dataset_id, Location(roles_table.path, roles_table.lines[index], 1)))

    flows = FlowColumns(dataset_id, None, *([] for _ in range(15)))
    if flows_table is not None:
        # When roles.csv itself cannot be read, its own issue says why; naming every role
        # every flow cites as unknown would bury it.
        flows, flow_issues = _build_flows(flows_table, flows_rejected, dataset_id, role_ids.keys() if roles_table is not None else None, sections)
        issues += flow_issues

    errata = []
    if errata_table is not None and flows_table is not None:  # without flows, errata cannot be resolved
        local_flows = set(flows_table.columns["id"])
        for index in range(len(errata_table)):
            if index in errata_rejected:
                continue
            v = errata_table.row(index)
            bad = False
            if v["flow"] not in local_flows:
                issues.append(issue("S111", errata_table.where(index, "flow"), f"flow: no flow {v['flow']!r} in this dataset{did_you_mean(v['flow'], local_flows)}", "flow"))
                bad = True
            if v["field"] not in schema.FLOWS.column_names or v["field"] == "id":
                issues.append(issue("S111", errata_table.where(index, "field"), f"field: {v['field']!r} is not a correctable flows column{did_you_mean(v['field'], schema.FLOWS.column_names)}", "field"))
                bad = True
            if sections and v["reference"] not in sections:
                issues.append(issue("S109", errata_table.where(index, "reference"), f"reference: unknown section {v['reference']!r}", "reference"))
                bad = True
            if bad:
                continue
            errata.append(Erratum(
                id=v["id"], dataset=dataset_id, flow=v["flow"], field=v["field"], published=v["published"],
                corrected=v["corrected"], rationale=v["rationale"], evidence=v["evidence"], reference=v["reference"],
                location=Location(errata_table.path, errata_table.lines[index], 1), cells=errata_table,
            ))

    if metadata is None:
        return None, issues
    source = metadata["source"]
    dataset = Dataset(
        id=dataset_id, title=metadata["title"], short_title=str(metadata.get("short_title", metadata["title"])),
        version=metadata["version"],
        source=SourceDocument(source["title"], str(source.get("publisher", "")), str(source.get("document_id", "")), str(source.get("url", ""))),
        sections=sections, roles=roles, flow_columns=flows, errata=errata, files=files,
    )
    return dataset, issues


def _build_flows(table: CsvTable, rejected: set[int], dataset_id: str, role_ids: set[str] | None, sections: dict) -> tuple[FlowColumns, list[Issue]]:
    """Flows from validated rows, checking what the cell rules cannot: references to
    roles and sections, and combinations of cells. Column by column, and row by row only
    where a problem was found, since files can be large."""
    c = table.columns
    problems: dict[int, list[tuple[str, str, str]]] = defaultdict(list)  # record -> (code, column, message)

    def unknown(code: str, column: str, known: set[str] | dict, message: Callable[[str], str]) -> None:
        strangers = set(c[column]).difference(known)
        for index, value in enumerate(c[column]):
            if value in strangers and index not in rejected:
                problems[index].append((code, column, message(value)))

    if role_ids is not None:
        for column in ("source", "destination"):
            unknown("S106", column, role_ids, lambda v, column=column: f"{column}: unknown role {v!r}{did_you_mean(v, role_ids)}")
    if sections:
        unknown("S109", "reference", sections, lambda v: f"reference: unknown section {v!r}; the dataset defines {', '.join(sections)}")
    transports = schema.lower_each(c["transport"])
    for index, (transport, port, dynamic) in enumerate(zip(transports, c["port"], c["dynamic"])):
        if (transport == ANY and port.lower() != ANY) or (dynamic and "-" not in port):
            if index in rejected:
                continue
            if transport == ANY and port.lower() != ANY:
                problems[index].append(("S108", "port", "port: a flow on transport 'any' must have port 'any'"))
            if dynamic and "-" not in port:
                problems[index].append(("S108", "dynamic", "dynamic: a dynamic pool must be written as a range N-M"))
    issues = [issue(code, table.where(index, column), message, column)
              for index in sorted(problems) for code, column, message in problems[index]]

    keep = None
    if rejected or problems:
        skipped = rejected | problems.keys()
        keep = [index for index in range(len(table)) if index not in skipped]

    def column(values: list) -> list:
        return values if keep is None else [values[index] for index in keep]

    flows = FlowColumns(
        dataset=dataset_id, cells=table, id=column(c["id"]), transport=column(transports),
        ports=list(map(schema.parse_ports, column(c["port"]))), dynamic=schema.lower_each(column(c["dynamic"])),
        source=column(c["source"]), destination=column(c["destination"]),
        bidirectional=[direction == "both" for direction in schema.lower_each(column(c["direction"]))],
        service=column(c["service"]), program=column(c["program"]), rule=column(c["rule"]),
        purpose=column(c["purpose"]), condition=column(c["condition"]), reference=column(c["reference"]),
        assumption=column(c["assumption"]), line=column(table.lines),
    )
    return flows, issues


def _load_inventory(path: Path, role_ids: set[str] | None) -> tuple[list[Host], dict[str, str], list[Issue]]:
    csv_table, rejected, issues = _read_table(path, schema.INVENTORY)
    if csv_table is None:
        return [], {}, issues
    hosts = []
    for index in range(len(csv_table)):
        if index in rejected:
            continue
        v = csv_table.row(index)

        def at(column: str) -> Location:
            return csv_table.where(index, column)

        if role_ids is not None and v["role"] not in role_ids:
            issues.append(issue("S106", at("role"), f"role: unknown role {v['role']!r}{did_you_mean(v['role'], role_ids)}", "role"))
            continue
        try:
            address = str(ipaddress.ip_network(v["address"], strict=False)) if "/" in v["address"] else str(ipaddress.ip_address(v["address"]))
        except ValueError:
            issues.append(issue("S110", at("address"), f"address: {v['address']!r} is not an IP address or network", "address"))
            continue
        hosts.append(Host(v["role"], v["host"], address, v["note"], Location(csv_table.path, csv_table.lines[index], 1)))
    return hosts, {csv_table.path: csv_table.sha256}, issues


def load(data_dir: Path) -> tuple[Model | None, list[Issue]]:
    """Load every dataset under `data_dir`. The model is None when errors prevent building it."""
    data_dir = Path(data_dir)
    files: dict[str, str] = {}
    settings, issues = load_settings(data_dir, files)
    folders = sorted(p.parent for p in data_dir.glob(f"*/{DATASET_FILE}"))
    if not folders:
        issues.append(issue("L001", Location(display_path(data_dir), 0, 0), f"no dataset found: expected {data_dir}/<name>/{DATASET_FILE}"))
        return None, issues
    datasets: list[Dataset] = []
    flow_ids = FirstUse()
    dataset_ids: set[str] = set()
    for folder in folders:
        dataset, dataset_issues = _load_dataset(folder, flow_ids)
        issues += dataset_issues
        if dataset is None:
            continue
        if dataset.id in dataset_ids:
            issues.append(issue("L009", Location(display_path(folder / DATASET_FILE), 1, 1), f"dataset id {dataset.id!r} is used by another folder"))
            continue
        dataset_ids.add(dataset.id)
        datasets.append(dataset)
        files.update(dataset.files)
    inventory: list[Host] = []
    if settings.inventory is not None:
        # When a file failed to load, role references cannot be resolved: say nothing
        # rather than one unknown-role error per inventory row.
        files_failed = any(found.code.startswith("L") for found in issues)
        role_ids = None if files_failed else {role.id for dataset in datasets for role in dataset.roles}
        inventory, inventory_files, inventory_issues = _load_inventory(settings.inventory, role_ids)
        issues += inventory_issues
        files.update(inventory_files)
    issues.sort(key=sort_key)
    release_memory()
    model = Model(datasets=datasets, inventory=inventory, files=files, settings=settings)
    return (None if has_errors(issues) else model), issues
