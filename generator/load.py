"""Load a data folder into the model, validating everything on the way.

Layout of a data folder:

    data/portbook.toml          project settings (registry sources, inventory file, ...)
    data/inventory.csv          hosts per role, shared by all datasets
    data/<dataset>/dataset.toml the product and the published source it transcribes
    data/<dataset>/flows.csv    the flows
    data/<dataset>/roles.csv    the roles its flows name
    data/<dataset>/errata.csv   corrections of the published source (optional)

Every folder with a dataset.toml is a dataset; adding one needs no code change.
Cell values are validated with pandera against the schema in `generator.schema`;
references between tables are validated here. Nothing raises on bad data:
`load` returns the model (None when errors prevent building it) and every issue.
"""
from __future__ import annotations

import hashlib
import ipaddress
import tomllib
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from . import schema
from .csvfile import CsvTable, display_path, read_csv
from .issues import Issue, did_you_mean, has_errors, issue, sort_key
from .model import (Dataset, Erratum, Flow, Host, Location, Model, Role, Section,
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


def _pandera_schema(table: schema.Table) -> tuple[pa.DataFrameSchema, dict[str, schema.CellRule]]:
    """The pandera schema for a table; check names map back to our cell rules."""
    rules: dict[str, schema.CellRule] = {}
    columns: dict[str, pa.Column] = {}
    missing = schema.CellRule("S101", lambda values: values != "", lambda v: "a value is required")
    for column in table.columns:
        checks = []
        for index, rule in enumerate(((missing,) if column.required else ()) + column.rules):
            name = f"{column.name}#{index}"
            rules[name] = rule
            checks.append(pa.Check(rule.ok, name=name))
        columns[column.name] = pa.Column("string[pyarrow]", checks=checks, nullable=False, coerce=False)
    return pa.DataFrameSchema(columns, strict=False), rules


def validate_cells(table: schema.Table, csv_table: CsvTable) -> tuple[set[int], list[Issue]]:
    """Validate every cell; returns the indexes of rejected records and the issues."""
    if not len(csv_table):
        return set(), []
    # Arrow-backed strings keep the vectorised checks in native code.
    frame = pd.DataFrame(
        {name: pd.Series(csv_table.columns[name], dtype="string[pyarrow]") for name in table.column_names}
    )
    pandera_schema, rules = _pandera_schema(table)
    try:
        pandera_schema.validate(frame, lazy=True)
        return set(), []
    except SchemaErrors as errors:
        failures = errors.failure_cases
    issues: list[Issue] = []
    rejected: set[int] = set()
    seen: set[tuple[int, str]] = set()
    for column, check, index, value in zip(failures["column"], failures["check"], failures["index"], failures["failure_case"]):
        rule = rules.get(str(check))
        if rule is None or index is None or pd.isna(index):
            continue
        index = int(index)
        if (index, column) in seen:  # one message per cell: the first rule that fails
            continue
        seen.add((index, column))
        issues.append(issue(rule.code, csv_table.where(index, column), f"{column}: {rule.message(str(value))}", column))
        rejected.add(index)
    return rejected, issues


def _read_table(path: Path, table: schema.Table) -> tuple[CsvTable | None, set[int], list[Issue]]:
    required = [c.name for c in table.columns if c.required]
    csv_table, issues = read_csv(path, table.column_names, required)
    if csv_table is None:
        return None, set(), issues
    rejected, cell_issues = validate_cells(table, csv_table)
    return csv_table, rejected, issues + cell_issues


def _duplicates(csv_table: CsvTable, column: str, rejected: set[int], seen: dict[str, Location]) -> list[Issue]:
    issues = []
    for index, value in enumerate(csv_table.columns[column]):
        if not value or index in rejected:
            continue
        first = seen.get(value)
        if first is None:
            seen[value] = Location(csv_table.path, csv_table.lines[index], 0)
            continue
        issues.append(issue("S107", csv_table.where(index, column), f"{column} {value!r} is already used at {first.file}:{first.line}", column))
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


def _load_dataset(folder: Path, flow_ids: dict[str, Location]) -> tuple[Dataset | None, list[Issue]]:
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
    role_ids: dict[str, Location] = {}
    if roles_table is not None:
        issues += _duplicates(roles_table, "id", roles_rejected, role_ids)
    if flows_table is not None:
        issues += _duplicates(flows_table, "id", flows_rejected, flow_ids)
    if errata_table is not None:
        issues += _duplicates(errata_table, "id", errata_rejected, {})

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

    flows = []
    if flows_table is not None:
        # When roles.csv itself cannot be read, its own issue says why; naming every role
        # every flow cites as unknown would bury it.
        flows, flow_issues = _build_flows(flows_table, flows_rejected, dataset_id, role_ids if roles_table is not None else None, sections)
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
        sections=sections, roles=roles, flows=flows, errata=errata, files=files,
    )
    return dataset, issues


def _build_flows(table: CsvTable, rejected: set[int], dataset_id: str, role_ids: dict | None, sections: dict) -> tuple[list[Flow], list[Issue]]:
    """Flows from validated rows, checking what the cell rules cannot: references to
    roles and sections, and combinations of cells. Column-wise, since files can be large."""
    issues: list[Issue] = []
    flows: list[Flow] = []
    c = table.columns
    rows = zip(range(len(table)), table.lines, c["id"], c["transport"], c["port"], c["dynamic"], c["source"],
               c["destination"], c["direction"], c["service"], c["program"], c["rule"], c["purpose"],
               c["condition"], c["reference"], c["assumption"])
    path = table.path
    for index, line, id_, transport, port, dynamic, source, destination, direction, service, program, rule, purpose, condition, reference, assumption in rows:
        if index in rejected:
            continue
        problems = []
        if role_ids is not None and source not in role_ids:
            problems.append(("S106", "source", f"source: unknown role {source!r}{did_you_mean(source, role_ids)}"))
        if role_ids is not None and destination not in role_ids:
            problems.append(("S106", "destination", f"destination: unknown role {destination!r}{did_you_mean(destination, role_ids)}"))
        if sections and reference not in sections:
            problems.append(("S109", "reference", f"reference: unknown section {reference!r}; the dataset defines {', '.join(sections)}"))
        transport = transport.lower()
        if transport == "any" and port.lower() != "any":
            problems.append(("S108", "port", "port: a flow on transport 'any' must have port 'any'"))
        if dynamic and "-" not in port:
            problems.append(("S108", "dynamic", "dynamic: a dynamic pool must be written as a range N-M"))
        if problems:
            issues.extend(issue(code, table.where(index, column), message, column) for code, column, message in problems)
            continue
        flows.append(Flow(
            id=id_, dataset=dataset_id, transport=transport, ports=schema.parse_ports(port),
            dynamic=dynamic.lower(), source=source, destination=destination,
            bidirectional=direction.lower() == "both", service=service, program=program,
            rule=rule, purpose=purpose, condition=condition, reference=reference,
            assumption=assumption, location=Location(path, line, 1), cells=table,
        ))
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
    flow_ids: dict[str, Location] = {}
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
    model = Model(datasets=datasets, inventory=inventory, files=files, settings=settings)
    return (None if has_errors(issues) else model), issues
