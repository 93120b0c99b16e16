"""Load a data folder into the model, validating everything on the way.

Layout of a data folder:

    data/portbook.toml          project settings (registry sources, inventory file, ...)
    data/inventory.csv          hosts per role, shared by all datasets
    data/<dataset>/dataset.toml the product and the published source it transcribes
    data/<dataset>/flows.csv    the flows
    data/<dataset>/roles.csv    the roles its flows name
    data/<dataset>/errata.csv   corrections of the published source (optional)

Every folder with a dataset.toml is a dataset; adding one needs no code change.
Each CSV file is read into a pandas DataFrame indexed by line; cell values are
validated column by column with the vectorised rules of `generator.schema`, and
references between tables with DataFrame operations here. Nothing raises on bad data:
`load` returns the model (None when errors prevent building it) and every issue.
"""
from __future__ import annotations

import hashlib
import ipaddress
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from . import schema
from .csvfile import CONTROL_CHARACTERS, MAX_FIELD_CHARS, MAX_FILE_BYTES, CsvTable, display_path, read_csv
from .issues import Issue, Suggestions, did_you_mean, has_errors, issue, sort_key
from .model import ANY, Dataset, Erratum, Host, Location, Model, Role, Section, Settings, SourceDocument
from .settings import key_location
from .urls import safe_url, unsafe_url_message

SETTINGS_FILE = "portbook.toml"
DATASET_FILE = "dataset.toml"


@dataclass
class TomlFile:
    """A parsed TOML file and its text, so that a message about a key can point at its line."""

    shown: str  # the path as messages show it
    text: str
    values: dict

    def at(self, dotted_key: str) -> Location:
        line, column = key_location(self.text, dotted_key)
        return Location(self.shown, line, column)


MAX_TOML_DEPTH = 8  # tables within tables: no setting needs more
MAX_TOML_ITEMS = 1000  # entries of one array or table


def _toml_value_problems(value: object, key: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """(dotted key, message) for every value the cell rules would refuse: control
    characters, strings longer than a cell, too deep or too large tables and arrays.
    TOML values reach the same outputs as cells, so they are held to the same rules."""
    if depth > MAX_TOML_DEPTH:
        return [(key, f"{key or 'the file'}: tables and arrays are nested deeper than {MAX_TOML_DEPTH} levels")]
    if isinstance(value, str):
        if CONTROL_CHARACTERS.search(value) or "\x00" in value or "\x7f" in value:
            return [(key, f"{key}: control character in the value; only tab and line ends may appear")]
        if len(value) > MAX_FIELD_CHARS:
            return [(key, f"{key}: value is {len(value)} characters long; at most {MAX_FIELD_CHARS} are allowed")]
        return []
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    if len(items) > MAX_TOML_ITEMS:
        return [(key, f"{key or 'the file'}: more than {MAX_TOML_ITEMS} entries")]
    problems = []
    for name, item in items:
        inner = key if isinstance(name, int) else f"{key}.{name}" if key else str(name)
        problems += _toml_value_problems(item, inner, depth + 1)
    return problems


def _read_toml(path: Path, files: dict[str, str]) -> tuple[TomlFile | None, list[Issue]]:
    """Parse a TOML file, recording the sha256 of the bytes read in `files`; values the cell
    rules would refuse are errors at their keys."""
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, [issue("L001", Location(shown, 0, 0), f"cannot read file: {error.strerror or error}")]
    files[shown] = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_FILE_BYTES:
        return None, [issue("L006", Location(shown, 1, 1), f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")]
    try:
        text = data.decode("utf-8")
        values = tomllib.loads(text)
    except UnicodeDecodeError:
        return None, [issue("L002", Location(shown, 1, 1), "file is not valid UTF-8")]
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", 1) or 1
        column = getattr(error, "colno", 1) or 1
        return None, [issue("L009", Location(shown, line, column), f"invalid TOML: {error.args[0] if error.args else error}")]
    except RecursionError:
        return None, [issue("L009", Location(shown, 1, 1), f"tables and arrays are nested deeper than {MAX_TOML_DEPTH} levels")]
    toml = TomlFile(shown, text, values)
    problems = _toml_value_problems(values)
    if problems:
        return None, [issue("L009", toml.at(key), message) for key, message in problems]
    return toml, []


def load_settings(data_dir: Path, files: dict[str, str]) -> tuple[Settings, list[Issue]]:
    path = data_dir / SETTINGS_FILE
    settings = Settings(path=path)
    if not path.exists():
        return settings, []
    toml, issues = _read_toml(path, files)
    if toml is None:
        return settings, issues
    raw = toml.values
    settings.raw, settings.text, settings.shown = raw, toml.text, toml.shown
    registry = raw.get("registry", {})
    inventory = raw.get("inventory", {})
    for name, value in (("registry", registry), ("inventory", inventory)):
        if not isinstance(value, dict):
            issues.append(issue("L009", toml.at(name), f"[{name}] must be a table"))
    if issues:
        return settings, issues
    system = registry.get("system", "/etc/services")
    extra = registry.get("extra", [])
    if not isinstance(system, str):
        issues.append(issue("L009", toml.at("registry.system"), "registry.system must be a path"))
    elif not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
        issues.append(issue("L009", toml.at("registry.extra"), "registry.extra must be a list of paths"))
    else:
        settings.registry_system = Path(system) if system else None
        settings.registry_extra = [data_dir / e for e in extra]
    inventory_file = inventory.get("file", "")
    if not isinstance(inventory_file, str):
        issues.append(issue("L009", toml.at("inventory.file"), "inventory.file must be a path"))
    elif inventory_file:
        settings.inventory = data_dir / inventory_file
    site = raw.get("site", {})
    base_url = site.get("base_url", "") if isinstance(site, dict) else ""
    if not isinstance(site, dict) or not isinstance(base_url, str):
        issues.append(issue("L009", toml.at("site.base_url"), "site.base_url must be a URL"))
    elif base_url and not safe_url(base_url):
        issues.append(issue("L009", toml.at("site.base_url"), f"site.base_url: {unsafe_url_message(base_url)}"))
    return settings, issues


_REQUIRED = schema.CellRule("S101", lambda values: values.ne(""), lambda v: "a value is required")


def validate_cells(table: schema.Table, csv_table: CsvTable) -> tuple[set[int], list[Issue]]:
    """Validate every cell; returns the lines of rejected records and the issues. One
    message per cell: the first rule that fails."""
    frame = csv_table.frame
    if not len(frame):
        return set(), []
    failed: dict[tuple[int, int], Issue] = {}  # (line, column position) -> issue
    for position, column in enumerate(table.columns):
        rules = ((_REQUIRED,) if column.required else ()) + column.rules
        if not rules:
            continue
        values = frame[column.name]
        # A rule judges each cell alone: where a column repeats its values (roles, ports,
        # services), each distinct value is judged once. The key's values are meant to be
        # distinct, and "a value is required" costs less than finding the distinct ones.
        repeated = schema.repeated_values(values) if column.name != table.key and rules != (_REQUIRED,) else None
        for rule in rules:
            if repeated is not None:
                codes, distinct = repeated
                ok = pd.Series(rule.ok(distinct).to_numpy(dtype=bool)[codes], index=values.index)
            else:
                ok = rule.ok(values)
            for line, value in values[~ok].items():
                if (line, position) not in failed:
                    failed[(line, position)] = issue(rule.code, csv_table.where(line, column.name),
                                                     f"{column.name}: {rule.message(value)}", column.name)
    return {line for line, _ in failed}, [failed[key] for key in sorted(failed)]


def _read_table(path: Path, table: schema.Table) -> tuple[CsvTable | None, set[int], list[Issue]]:
    required = [c.name for c in table.columns if c.required]
    csv_table, issues = read_csv(path, table.column_names, required)
    if csv_table is None:
        return None, set(), issues
    rejected, cell_issues = validate_cells(table, csv_table)
    return csv_table, rejected, issues + cell_issues


class FirstUse:
    """Where each key (an id) was first used: a DataFrame indexed by key, with the
    file and line of its first use, across the files read so far."""

    def __init__(self) -> None:
        self.places = pd.DataFrame({"file": pd.Series(dtype=str), "line": pd.Series(dtype="int64")},
                                   index=pd.Index([], dtype=str))

    def keys(self) -> set[str]:
        return set(self.places.index)


def _duplicates(csv_table: CsvTable, column: str, rejected: set[int], seen: FirstUse) -> list[Issue]:
    """S107 for every record whose key a record before it (in this file or an earlier
    one) already uses; the first use of each key is recorded in `seen`."""
    values = csv_table.frame[column]
    present = values.ne("") & ~values.index.isin(list(rejected))
    candidates = values if present.all() else values[present]
    again = candidates.duplicated(keep="first")
    if len(seen.places):
        again |= schema.among(candidates, seen.places.index)
    first_here = candidates[~again]
    seen.places = pd.concat([seen.places, pd.DataFrame({"file": csv_table.path, "line": first_here.index.to_numpy()},
                                                       index=pd.Index(first_here.to_numpy(), dtype=str))])
    issues = []
    for line, value in candidates[again].items():
        first = seen.places.loc[value]
        issues.append(issue("S107", csv_table.where(line, column), f"{column} {value!r} is already used at {first['file']}:{first['line']}", column))
        rejected.add(line)
    return issues


def _kept(frame: pd.DataFrame, rejected: set[int]) -> pd.DataFrame:
    """The records of a table not rejected (by line); the table itself when none is."""
    return frame[~frame.index.isin(list(rejected))] if rejected else frame


def _load_metadata(folder: Path, files: dict[str, str]) -> tuple[dict | None, list[Issue]]:
    path = folder / DATASET_FILE
    toml, issues = _read_toml(path, files)
    if toml is None:
        return None, issues
    raw = toml.values
    problems: list[tuple[str, str]] = []  # (dotted key, message)
    for key in ("id", "title", "version"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            problems.append((key, f"key {key!r} must be a non-empty string"))
    source = raw.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("title"), str):
        problems.append(("source", "table [source] with a 'title' is required"))
    else:
        for key in ("publisher", "document_id", "url", "revision"):
            if not isinstance(source.get(key, ""), str):
                problems.append((f"source.{key}", f"source.{key} must be a string"))
        url = source.get("url", "")
        if isinstance(url, str) and url and not safe_url(url):
            problems.append(("source.url", f"source.url: {unsafe_url_message(url)}"))
    if not isinstance(raw.get("short_title", ""), str):
        problems.append(("short_title", "short_title must be a string"))
    sections = raw.get("sections")
    if not isinstance(sections, dict) or not sections:
        problems.append(("sections", "at least one [sections.KEY] table with a 'title' is required"))
    else:
        for key, value in sections.items():
            if not isinstance(value, dict) or not isinstance(value.get("title"), str):
                problems.append((f"sections.{key}", f"[sections.{key}] needs a 'title'"))
            elif not isinstance(value.get("anchor", ""), str):
                problems.append((f"sections.{key}.anchor", f"sections.{key}.anchor must be a string"))
            # Rows cite sections by key (a slug), and outputs may make anchors or names of it.
            if not _is_slug(key):
                problems.append((f"sections.{key}", f"section key {key!r} must be a lower-case slug"))
    if isinstance(raw.get("id"), str) and raw.get("id") and not _is_slug(raw["id"]):
        problems.append(("id", f"id {raw['id']!r} must be a lower-case slug"))
    if problems:
        return None, [issue("L009", toml.at(key), message) for key, message in problems]
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
        kept = _kept(roles_table.frame, roles_rejected)
        roles = [Role(id_, name, description, dataset_id, Location(roles_table.path, line, 1), platform.lower())
                 for line, id_, name, description, platform
                 in kept[["id", "name", "description", "platform"]].itertuples()]

    flows = pd.DataFrame({**{name: pd.Series(dtype=str) for name in ("dataset", *schema.FLOWS.column_names)},
                          "first": pd.Series(dtype="Int32"), "last": pd.Series(dtype="Int32")},
                         index=pd.Index([], dtype="int64", name="line"))
    if flows_table is not None:
        # When roles.csv itself cannot be read, its own issue says why; naming every role
        # every flow cites as unknown would bury it.
        flows, flow_issues = _build_flows(flows_table, flows_rejected, dataset_id, role_ids.keys() if roles_table is not None else None, sections)
        issues += flow_issues

    errata = []
    if errata_table is not None and flows_table is not None:  # without flows, errata cannot be resolved
        errata, errata_issues = _build_errata(errata_table, errata_rejected, dataset_id, flows_table, sections)
        issues += errata_issues

    if metadata is None:
        return None, issues
    source = metadata["source"]
    dataset = Dataset(
        id=dataset_id, title=metadata["title"], short_title=str(metadata.get("short_title", metadata["title"])),
        version=metadata["version"],
        source=SourceDocument(source["title"], str(source.get("publisher", "")), str(source.get("document_id", "")), str(source.get("url", "")),
                              str(source.get("revision", ""))),
        sections=sections, roles=roles, frame=flows, cells=flows_table, errata=errata, files=files,
    )
    return dataset, issues


def _build_errata(table: CsvTable, rejected: set[int], dataset_id: str, flows_table: CsvTable,
                  sections: dict) -> tuple[list[Erratum], list[Issue]]:
    """Errata from validated rows whose flow, field and section exist."""
    frame = _kept(table.frame, rejected)
    flow_ids = flows_table.frame["id"]
    correctable = [name for name in schema.FLOWS.column_names if name != "id"]

    @cache
    def known_flows() -> Suggestions:
        # Indexed once, and only when an erratum names an unknown flow: each such erratum
        # then costs a lookup, not a pass over every flow id.
        return Suggestions(flow_ids.tolist())

    problems = [  # (code, column, where it fails, message for a row)
        ("S111", "flow", ~schema.among(frame["flow"], flow_ids),
         lambda v: f"flow: no flow {v['flow']!r} in this dataset{did_you_mean(v['flow'], known_flows())}"),
        ("S111", "field", ~frame["field"].isin(correctable),
         lambda v: f"field: {v['field']!r} is not a correctable flows column{did_you_mean(v['field'], schema.FLOWS.column_names)}"),
    ]
    if sections:
        problems.append(("S109", "reference", ~frame["reference"].isin(list(sections)), lambda v: f"reference: unknown section {v['reference']!r}"))
    issues = []
    bad = pd.Series(False, index=frame.index)
    for code, column, wrong, message in problems:
        for line, row in frame[wrong].iterrows():
            issues.append(issue(code, table.where(line, column), message(row), column))
        bad |= wrong
    errata = [Erratum(id=v.id, dataset=dataset_id, flow=v.flow, field=v.field, published=v.published,
                      corrected=v.corrected, rationale=v.rationale, evidence=v.evidence, reference=v.reference,
                      location=Location(table.path, v.Index, 1), cells=table)
              for v in frame[~bad].itertuples()]
    return errata, issues


def _build_flows(table: CsvTable, rejected: set[int], dataset_id: str, role_ids: set[str] | None,
                 sections: dict) -> tuple[pd.DataFrame, list[Issue]]:
    """The flows frame from validated rows, checking what the cell rules cannot:
    references to roles and sections, and combinations of cells. Enumerated columns are
    lower-cased; columns 'first' and 'last' hold the port range's ends (missing for any)."""
    frame = _kept(table.frame, rejected)
    transport = frame["transport"].str.lower()
    port = frame["port"].str.lower()
    dynamic = frame["dynamic"].str.lower()
    checks: list[tuple[str, str, pd.Series, object]] = []  # (code, column, where it fails, message for a value)
    if role_ids is not None:
        for column in ("source", "destination"):
            checks.append(("S106", column, ~schema.among(frame[column], role_ids),
                           lambda v, column=column: f"{column}: unknown role {v!r}{did_you_mean(v, role_ids)}"))
    if sections:
        checks.append(("S109", "reference", ~frame["reference"].isin(list(sections)),
                       lambda v: f"reference: unknown section {v!r}; the dataset defines {', '.join(sections)}"))
    checks.append(("S108", "port", transport.eq(ANY) & port.ne(ANY),
                   lambda v: "port: a flow on transport 'any' must have port 'any'"))
    checks.append(("S108", "dynamic", dynamic.ne("") & ~port.str.contains("-", regex=False),
                   lambda v: "dynamic: a dynamic pool must be written as a range N-M"))
    issues = []
    bad = pd.Series(False, index=frame.index)
    for code, column, wrong, message in checks:
        if wrong.any():
            issues += [issue(code, table.where(line, column), message(value), column)
                       for line, value in frame.loc[wrong, column].items()]
            bad |= wrong
    flows = frame.assign(transport=transport, port=port, dynamic=dynamic, direction=frame["direction"].str.lower())
    if bad.any():
        flows = flows[~bad]
    flows.insert(0, "dataset", pd.Series(dataset_id, index=flows.index, dtype=str))
    flows = flows.join(schema.port_ends(flows["port"]))
    return flows, issues


def normal_address(text: str) -> tuple[str, str]:
    """(the address or network in normal form, "") or ("", why it is refused). A network
    with host bits set is refused naming both readings, since a firewall would silently
    widen it; zone ids (fe80::1%eth0) name an interface of one host, not an address."""
    if "%" in text:
        return "", f"{text[:80]!r} has a zone id (%...); write the address without it"
    try:
        if "/" not in text:
            return str(ipaddress.ip_address(text)), ""
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return "", f"{text[:80]!r} is not an IP address or network"
    written = ipaddress.ip_interface(text)
    if written.ip != network.network_address:
        single = f"{written.ip}/{network.max_prefixlen}"
        return "", f"{text}: host bits set; did you mean {single} or {network}?"
    return str(network), ""


def _load_inventory(path: Path, role_ids: set[str] | None) -> tuple[list[Host], dict[str, str], list[Issue]]:
    csv_table, rejected, issues = _read_table(path, schema.INVENTORY)
    if csv_table is None:
        return [], {}, issues
    hosts = []
    frame = _kept(csv_table.frame, rejected)
    for line, role, host, address, note in frame[["role", "host", "address", "note"]].itertuples():
        if role_ids is not None and role not in role_ids:
            issues.append(issue("S106", csv_table.where(line, "role"), f"role: unknown role {role!r}{did_you_mean(role, role_ids)}", "role"))
            continue
        normal, problem = normal_address(address)
        if problem:
            issues.append(issue("S110", csv_table.where(line, "address"), f"address: {problem}", "address"))
            continue
        hosts.append(Host(role, host, normal, note, Location(csv_table.path, line, 1)))
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
    model = Model(datasets=datasets, inventory=inventory, files=files, settings=settings)
    return (None if has_errors(issues) else model), issues
