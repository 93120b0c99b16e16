"""Benchmarks of every stage against what a team would do without Portbook.

    .venv/bin/python benchmarks/run.py [--sizes dpm,1000,10000,100000] [--skip-slow-baselines]
                                       [--make-sizes SIZES] [--json FILE] [--markdown FILE] ...

(`--help` lists every option.) For each size (the shipped DPM data, N synthetic
flows over R roles from benchmarks/synthetic.py, or 'registry': the IANA
registry as flows, from benchmarks/registry_flows.py) it measures, each in a
fresh process: `check`, every output format, the Sphinx site, and the whole
`make` on a copy of the tree (a full build, a build with nothing changed, and a
build after editing one row, listing which outputs were rewritten). Beside them
it measures the baselines over the same data: an empty Sphinx project (the
floor), a bare process reading the flows files with pandas, one hand-written
csv-table page per role, and XlsxWriter writing the cells of every workbook
the build writes, unstyled. Figures are wall seconds and the peak resident
memory of the process tree. Every target is a ratio to a baseline measured in
the same run, except the memory ceilings and the lists of rewritten files;
targets are checked at the end and printed as PASS / FAIL / SKIP, followed by
what the public APIs of openpyxl, Sphinx and pandas cost against those
baselines.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import registry_flows  # noqa: E402
import synthetic  # noqa: E402

PYTHON = sys.executable
TIME = Path("/usr/bin/time")
# Measures one command when GNU time is missing: the peak RSS of this fresh process's
# children is that of the command's process tree alone.
RUSAGE_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(json.dumps({'code': code, 'kb': peak}))\n"
)
# A marker word added to one row's purpose; outputs holding it are the ones the edit touches.
MARKER = "qzxmarker"
DEFAULT_SIZES = "dpm,1000,10000,100000"
# A run of every stage on tiny data, for tests: well under a minute.
SMOKE_ARGUMENTS = ["--sizes", "200", "--roles", "4", "--repeat", "1", "--timeout", "120"]
SLOW_BASELINE_ROWS = 50_000  # csv-table baselines from this many flows up are extrapolated with --skip-slow-baselines
# Files Sphinx itself rewrites whenever any page changes, whatever the extension does: listed,
# but not held against "only the outputs the row touches are rewritten".
SPHINX_OWN = re.compile(r"html/(\.buildinfo|_static/.*|search\.html|genindex\.html|objects\.inv|searchindex\.js)$")


@dataclass
class Measurement:
    size: str
    stage: str
    seconds: float | None
    peak_mb: float | None
    ok: bool
    note: str = ""
    rewritten: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # rewritten without holding the edited row
    stale: list[str] = field(default_factory=list)  # holding the edited row but not rewritten
    extrapolated: bool = False
    timed_out: bool = False  # then `seconds` is the timeout: a lower bound
    variant: str = ""  # how the stage was run when not as usual, e.g. without Graphviz

    @property
    def label(self) -> str:
        return f"{self.stage} ({self.variant})" if self.variant else self.stage

    @property
    def skipped(self) -> bool:
        """Not run, for want of what it needs (the note says what), rather than run and failed."""
        return not self.ok and self.seconds is None and self.note.startswith("skipped")


class Runner:
    def __init__(self, work: Path, timeout: float, verbose: bool):
        self.work = work
        self.timeout = timeout
        self.verbose = verbose
        self.results: list[Measurement] = []
        self.counter = 0

    def measure(self, size: str, stage: str, command: list[str], cwd: Path = ROOT, env: dict | None = None,
                variant: str = "") -> Measurement:
        """Run `command` in a fresh process and record its wall time and peak RSS."""
        result = self.run(size, stage, command, cwd, env, variant)
        self.record(result)
        return result

    def best_of(self, runs: list[list[Measurement]]) -> list[Measurement]:
        """For stages run several times (interleaved, so that they share the machine's
        moods), record the fastest run of each: the least disturbed estimate."""
        kept = []
        for measurements in runs:
            done = [m for m in measurements if m.ok]
            best = min(done, key=lambda m: m.seconds) if done else measurements[-1]
            if len(measurements) > 1:
                shown = ", ".join(f"{m.seconds:.2f}" for m in measurements if m.seconds is not None)
                best.note = (best.note + "; " if best.note else "") + f"best of {len(measurements)} runs ({shown} s)"
            self.record(best)
            kept.append(best)
        return kept

    def run(self, size: str, stage: str, command: list[str], cwd: Path = ROOT, env: dict | None = None,
            variant: str = "", accepted: tuple[int, ...] = (0,)) -> Measurement:
        """Run `command` in a fresh process; wall time and peak RSS of its whole process tree.
        The run counts as done when it exits with one of the `accepted` codes."""
        self.counter += 1
        log = self.work / "logs" / f"{self.counter:03d}-{size}-{re.sub(r'[^A-Za-z0-9.-]+', '_', stage)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        report = log.with_suffix(".rusage")
        if TIME.exists():
            wrapped = [str(TIME), "-v", "-o", str(report), *command]
        else:
            wrapped = [PYTHON, "-c", RUSAGE_WRAPPER, str(report), *command]
        if self.verbose:
            print(f"    $ {' '.join(command)}  (log {log})", flush=True)
        started = time.perf_counter()
        with log.open("wb") as output:
            # A session of its own, so that a timeout ends the whole tree (Sphinx, dot, make's children).
            process = subprocess.Popen(wrapped, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                code = None
            except BaseException:
                os.killpg(process.pid, signal.SIGKILL)
                raise
        seconds = time.perf_counter() - started
        peak_kb = _peak_kb(report)
        if code is None:
            result = Measurement(size, stage, self.timeout, None, False, f"timed out after {self.timeout:.0f} s", timed_out=True)
        else:
            ok = code in accepted
            note = "" if ok else f"exit {code}; log {log}"
            result = Measurement(size, stage, seconds, peak_kb / 1024 if peak_kb else None, ok, note)
        result.variant = variant
        if not result.ok:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            print(f"  ! {stage} ({size}) failed: {result.note}", *("    " + line[:200] for line in tail), sep="\n", flush=True)
        return result

    def record(self, result: Measurement) -> None:
        self.results.append(result)
        shown = _shown_seconds(result) + ("" if result.peak_mb is None or not result.ok else f" s {result.peak_mb:8.0f} MB")
        label = " (extrapolated)" if result.extrapolated else ""
        print(f"  {result.size:>7} {result.label:<40} {shown}{label}", flush=True)

    def find(self, size: str, stage: str) -> Measurement | None:
        return next((m for m in self.results if m.size == size and m.stage == stage), None)


def _shown_seconds(m: Measurement) -> str:
    if m.timed_out:
        return f"> {m.seconds:.0f} (timed out)"
    if m.skipped:
        return "skipped"
    return "failed" if m.seconds is None or not m.ok else f"{m.seconds:8.2f}"


def _peak_kb(report: Path) -> float | None:
    try:
        text = report.read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if match:
        return float(match.group(1))
    try:
        return float(json.loads(text)["kb"])
    except (ValueError, KeyError):
        return None


# ---------------------------------------------------------------- data and trees

def make_data(size: str, target: Path, roles: int, seed: int) -> None:
    if size == "dpm":
        shutil.copytree(ROOT / "data", target)
    elif size == "registry":
        source = registry_flows.default_source()
        if source is None:
            raise SystemExit("size 'registry' needs the IANA registry CSV or nmap-services (Debian package nmap-common)")
        registry_flows.convert(source, target, roles)
    else:
        synthetic.generate(target, int(size), roles, seed)


def copy_tree(target: Path, data: Path) -> None:
    """The checkout's files (committed and not, as the working tree has them) without data/,
    build/ or caches, with the given data in data/ and the checkout's virtual environment."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in listed:
        if not name or name.split("/")[0] in ("data", "build", "benchmarks", "tests", ".venv"):
            continue
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    shutil.copytree(data, target / "data")
    (target / ".venv").symlink_to(ROOT / ".venv")


def snapshot(folder: Path) -> dict[str, int]:
    """Output file -> mtime, for telling which files a build rewrote."""
    found = {}
    # Through the links build/<format> -> .current/<format>, skipping hidden folders: the
    # published generations, Make's stamps and Sphinx's cache are not outputs anyone reads.
    for top, subfolders, names in os.walk(folder, followlinks=True):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            path = Path(top, name)
            found[str(path.relative_to(folder))] = path.stat().st_mtime_ns
    return found


def holds(path: Path, word: str) -> bool:
    """Whether a file's text holds `word`, looking inside zip containers (workbooks)."""
    needle = word.encode()
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return any(needle in archive.read(member) for member in archive.namelist())
        return needle in path.read_bytes()
    except (OSError, zipfile.BadZipFile):
        return False


def edit_one_row(data: Path) -> str:
    """Add the marker word to the purpose of the middle flow of the first dataset; returns its id."""
    flows = sorted(data.glob("*/flows.csv"))[0]
    with flows.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    row = rows[len(rows) // 2]
    row["purpose"] = f"{row['purpose']} Edited {MARKER}."
    with flows.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return row["id"]


# ---------------------------------------------------------------- baselines

def project_theme() -> str:
    """The site's html_theme, so that the hand-written baseline pays for the same theme."""
    try:
        match = re.search(r"^html_theme\s*=\s*['\"]([\w.-]+)['\"]", (ROOT / "conf.py").read_text(), re.M)
    except OSError:
        return "alabaster"
    return match.group(1) if match else "alabaster"


BASELINE_COLUMNS = ["Direction", "Peer", "Port", "Service", "Program", "Purpose", "Condition", "Flow"]


def baseline_model(data: Path):
    """The model of a data folder, which the baselines' rows are taken from."""
    from generator.pipeline import load_and_check

    model = load_and_check(data).model
    if model is None:
        raise SystemExit(f"cannot load {data} for the baselines")
    return model


def role_rows(model) -> dict[str, tuple[str, list[list[str]]]]:
    """Role id -> (name, rows): the directed lines each role's firewall must allow, as the
    generators see them (generator.views.role_lines)."""
    from generator.views import role_lines

    rows = {}
    for role in model.roles:
        lines = role_lines(model, role.id)
        rows[role.id] = (role.name, [[line.direction, line.peer, line.flow.label, line.flow.service, line.flow.program,
                                      line.flow.purpose, line.flow.condition, line.flow.id] for line in lines])
    return rows


def workbook_tables(model) -> Iterator[tuple[str, list[list]]]:
    """(workbook file stem, the rows of its request sheet, a title row first): the cells of
    every workbook `build xlsx` writes (generator.outputs.xlsx.planned_workbooks, in the
    layout the data's settings choose), each value as the workbook holds it (text, or a
    number for the line number), "" for an empty cell. The covers, some forty cells a
    workbook, are left out. One workbook at a time."""
    from generator.outputs.xlsx import planned_workbooks, request_table, selected_profile
    from generator.outputs.xlsx.profiles import RowFacts

    profile = selected_profile(model, argparse.Namespace())
    facts = RowFacts(model)
    for book in planned_workbooks(model):
        columns = request_table(book.lines, profile, facts)
        yield Path(book.name).stem, [[column.title for column in profile.columns], *map(list, zip(*columns))]


def write_tables(tables: Iterable[tuple[str, list[list]]], folder: Path) -> None:
    """One JSON file per workbook (a list of rows), which keeps numbers numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables:
        (folder / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def write_role_csvs(rows: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for role, (_, lines) in rows.items():
        with (folder / f"{role}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(BASELINE_COLUMNS)
            writer.writerows(lines)


# The empty Sphinx project, built afresh beside each make after an edit (see run_make).
EMPTY_SPHINX_BESIDE_EDITS = "baseline empty sphinx (beside the edits)"


def empty_sphinx_command(work: Path, out: Path) -> list[str]:
    """A build of the run's empty Sphinx project (empty_sphinx_project) into `out`."""
    return [PYTHON, "-m", "sphinx", "-b", "html", "-q", str(work / "empty" / "src"), str(out)]


def empty_sphinx_project(folder: Path, theme: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.py").write_text(f"project = 'Empty'\nhtml_theme = {theme!r}\n")
    (folder / "index.rst").write_text("Empty\n=====\n\nNothing here.\n")


def csv_table_project(folder: Path, rows: dict, theme: str) -> None:
    """One page per role holding a csv-table of its rows: the hand-written way."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.py").write_text(f"project = 'Ports'\nhtml_theme = {theme!r}\n")
    write_role_csvs(rows, folder / "tables")
    (folder / "index.rst").write_text("Ports\n=====\n\n.. toctree::\n   :maxdepth: 1\n\n"
                                      + "".join(f"   {role}\n" for role in rows))
    for role, (name, _) in rows.items():
        title = f"Flows of {name}"
        (folder / f"{role}.rst").write_text(
            f"{title}\n{'=' * len(title)}\n\n.. csv-table::\n   :file: tables/{role}.csv\n   :header-rows: 1\n\n")


# An empty value is no cell: XlsxWriter's write_row leaves an unformatted "" out, as the
# workbooks do.
XLSXWRITER_SCRIPT = """\
import json, pathlib, sys
import xlsxwriter
source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
for table in sorted(source.glob("*.json")):
    rows = json.loads(table.read_text(encoding="utf-8"))
    workbook = xlsxwriter.Workbook(str(target / (table.stem + ".xlsx")),
                                   {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False})
    sheet = workbook.add_worksheet("Requests")
    for number, row in enumerate(rows):
        sheet.write_row(number, 0, row)
    workbook.close()
"""

# What both openpyxl baselines begin with: the folders, and text escaped as the workbooks
# escape it (openpyxl refuses control characters).
OPENPYXL_START = """\
import json, pathlib, re, sys
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
ILLEGAL = re.compile(r"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]")
def text(value):
    return ILLEGAL.sub(lambda found: f"_x{ord(found.group()):04X}_", value)
source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
"""

# The same cells through openpyxl's public write-only API, unstyled: what any workbook
# writer on openpyxl pays before writing a style, a cover or a second sheet. Strings are
# written as text cells (a value starting with "=" would otherwise be a formula); an
# empty value is no cell.
OPENPYXL_SCRIPT = OPENPYXL_START + """\
for table in sorted(source.glob("*.json")):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Requests")
    for row in json.loads(table.read_text(encoding="utf-8")):
        cells = []
        for value in row:
            if value == "":
                cells.append(None)
                continue
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, text(value))
                cell.data_type = "s"
            else:
                cell = WriteOnlyCell(sheet, value)
            cells.append(cell)
        sheet.append(cells)
    workbook.save(str(target / (table.stem + ".xlsx")))
"""

# The same cells once more, each with a wrapping named style as the workbooks' cells have:
# the least openpyxl's public API costs for a styled cell. One cell per distinct value of a
# column, appended again in every row that shows it, as the workbooks' writer does; no
# cover, widths, heights, validation or print set-up.
OPENPYXL_STYLED_SCRIPT = OPENPYXL_START + """\
from openpyxl.styles import Alignment, NamedStyle
for table in sorted(source.glob("*.json")):
    workbook = Workbook(write_only=True)
    workbook.add_named_style(NamedStyle("Text", alignment=Alignment(wrap_text=True, vertical="top")))
    sheet = workbook.create_sheet("Requests")
    cells = {}
    for row in json.loads(table.read_text(encoding="utf-8")):
        appended = []
        for column, value in enumerate(row):
            if value == "":
                appended.append(None)
                continue
            cell = cells.get((column, value))
            if cell is None:
                if isinstance(value, str):
                    cell = WriteOnlyCell(sheet, text(value))
                    cell.data_type = "s"
                else:
                    cell = WriteOnlyCell(sheet, value)
                cell.style = "Text"
                cells[column, value] = cell
            appended.append(cell)
        sheet.append(appended)
    workbook.save(str(target / (table.stem + ".xlsx")))
"""


# What `check` cannot do without: start Python, import pandas and read every flows file
# into strings, exactly as given (no type guessing, no NA values).
PANDAS_READ_SCRIPT = """\
import sys
import pandas
for path in sys.argv[1:]:
    pandas.read_csv(path, engine="pyarrow", dtype=str, keep_default_na=False)
"""


def flows_files(data: Path) -> list[Path]:
    """The flows.csv of every dataset of a data folder (a dataset is a folder with a dataset.toml)."""
    return [dataset / "flows.csv" for dataset in sorted(toml.parent for toml in data.glob("*/dataset.toml"))
            if (dataset / "flows.csv").is_file()]


def run_check(runner: Runner, size: str, data: Path, repeat: int) -> None:
    """`check` against the bare pandas read of the same flows files: interleaved runs, the
    best of each kept, so that the ratio is not an artefact of the machine's moods."""
    checks: list[Measurement] = []
    reads: list[Measurement] = []
    for _ in range(repeat):
        checks.append(runner.run(size, "check", [PYTHON, "-m", "generator", "check", "--data", str(data)]))
        reads.append(runner.run(size, "baseline pandas read", [PYTHON, "-c", PANDAS_READ_SCRIPT,
                                                                *map(str, flows_files(data))]))
    runner.best_of([checks, reads])


def run_hostile_check(runner: Runner, size: str, data: Path, folder: Path, args: argparse.Namespace) -> None:
    """`check` of the same rows made hostile to one suggestion path each (synthetic.generate_hostile):
    a distinct program on every flow, and errata pointing at unknown flows, against the plain
    `check` of the same folder (CHECK_BESIDE_HOSTILE); one unknown service on every row against
    the plain folder, both with the IANA registry. Interleaved runs, the best of each kept, so
    that each ratio compares runs made in turn rather than minutes apart. A hostile folder's
    findings may make `check` exit 1, which counts as done."""
    iana = registry_flows.IANA_CSV
    stages = [(HOSTILE_PROGRAMS, "programs", []), (HOSTILE_ERRATA, "errata", [])]
    if iana.exists():
        stages.append((HOSTILE_UNKNOWN_SERVICE, "unknown-service", ["--registry", str(iana)]))
    else:
        runner.record(Measurement(size, HOSTILE_UNKNOWN_SERVICE, None, None, False, f"skipped; no IANA registry at {iana}"))
    commands = [(CHECK_BESIDE_HOSTILE, [PYTHON, "-m", "generator", "check", "--data", str(data)])]
    for stage, kind, options in stages:
        synthetic.generate_hostile(folder / f"hostile-{kind}", int(size), args.roles, args.seed, kind)
        commands.append((stage, [PYTHON, "-m", "generator", "check", "--data", str(folder / f"hostile-{kind}"), *options]))
    if iana.exists():
        commands.append((CHECK_IANA, [PYTHON, "-m", "generator", "check", "--data", str(data), "--registry", str(iana)]))
    runs: list[list[Measurement]] = [[] for _ in commands]
    for _ in range(args.repeat):
        for (stage, command), measured in zip(commands, runs):
            measured.append(runner.run(size, stage, command, accepted=(0, 1)))
    runner.best_of(runs)


def run_baselines(runner: Runner, size: str, data: Path, folder: Path, theme: str, skip_slow: bool) -> None:
    model = baseline_model(data)
    rows = role_rows(model)
    flows = sum(len(lines) for _, lines in rows.values()) // 2
    tables = folder / "xlsx-source"
    write_tables(workbook_tables(model), tables)
    del model
    runner.measure(size, "baseline xlsxwriter", [PYTHON, "-c", XLSXWRITER_SCRIPT, str(tables), str(folder / "xlsx-out")])
    runner.measure(size, "baseline openpyxl", [PYTHON, "-c", OPENPYXL_SCRIPT, str(tables), str(folder / "openpyxl-out")])
    runner.measure(size, "baseline openpyxl styled", [PYTHON, "-c", OPENPYXL_STYLED_SCRIPT, str(tables),
                                                      str(folder / "openpyxl-styled-out")])
    if skip_slow and flows >= SLOW_BASELINE_ROWS:
        extrapolate_csv_table(runner, size)
        return
    csv_table_project(folder / "csv-table", rows, theme)
    runner.measure(size, "baseline csv-table", [PYTHON, "-m", "sphinx", "-b", "html", "-q", str(folder / "csv-table"),
                                                str(folder / "csv-table-out")])


def extrapolate_csv_table(runner: Runner, size: str) -> None:
    """Linear in rows from the largest measured size: the csv-table build is close to linear in rows."""
    measured = [m for m in runner.results if m.stage == "baseline csv-table" and m.ok and not m.extrapolated
                and m.size.isdigit()]
    if not measured or not size.isdigit():
        runner.record(Measurement(size, "baseline csv-table", None, None, False, "skipped; no smaller size to extrapolate from"))
        return
    base = max(measured, key=lambda m: int(m.size))
    factor = int(size) / int(base.size)
    runner.record(Measurement(size, "baseline csv-table", base.seconds * factor, base.peak_mb * factor if base.peak_mb else None,
                              True, f"extrapolated linearly from {base.size} flows, not measured", extrapolated=True))


# ---------------------------------------------------------------- stages

def output_formats() -> list[str]:
    from generator.outputs import OUTPUTS

    return list(OUTPUTS)


# For sizes left out of --dot-sizes, Sphinx looks for Graphviz under a name that does not
# exist, as on a machine without it: the site then lists the diagram's edges as text.
NO_DOT = ["-D", "graphviz_dot=portbook-benchmark-without-dot"]


# The hostile `check` stages, run at one size (see hostile_size).
HOSTILE_PROGRAMS = "check hostile programs"
HOSTILE_ERRATA = "check hostile errata"
CHECK_IANA = "check --registry IANA"
# The plain `check` once more, timed in the group of the hostile runs: `run_check`'s runs
# of it are interleaved with the pandas read, minutes before, when the machine may have
# been quicker or slower.
CHECK_BESIDE_HOSTILE = "check (beside the hostile runs)"
HOSTILE_UNKNOWN_SERVICE = "check --registry IANA hostile unknown service"
HOSTILE_SIZE = "10000"


def hostile_size(sizes: list[str]) -> str | None:
    """HOSTILE_SIZE when it is among the sizes, else the largest number of synthetic flows."""
    numbers = [size for size in sizes if size.isdigit()]
    return HOSTILE_SIZE if HOSTILE_SIZE in numbers else max(numbers, key=int, default=None)


def site_source(folder: Path) -> Path:
    """A copy of source/ for one size's site builds: the extension writes each role's page
    source into <source>/roles/, which must not be the checkout's."""
    copy = folder / "source"
    if not copy.exists():
        shutil.copytree(ROOT / "source", copy, ignore=shutil.ignore_patterns("roles"))
    return copy


def site_command(data: Path, outputs: Path, out: Path, jobs: str, extra: list[str]) -> list[str]:
    """The site as `make html` builds it (without -W, so that a warning does not void the figure)."""
    return [PYTHON, "-m", "sphinx", "-b", "html", "-q", "-n", "--keep-going", "-j", jobs, "-c", str(ROOT),
            "-D", f"portbook_data={data}", "-D", f"portbook_outputs={outputs}", *extra,
            str(site_source(data.parent)), str(out)]


def run_size(runner: Runner, size: str, args: argparse.Namespace, theme: str, jobs_size: str) -> None:
    folder = runner.work / size
    data = folder / "data"
    make_data(size, data, args.roles, args.seed)
    print(f"{size}: data in {data}", flush=True)
    run_check(runner, size, data, args.repeat)
    if size == hostile_size(args.sizes):
        run_hostile_check(runner, size, data, folder, args)
    for name in output_formats():
        runner.measure(size, f"build {name}", [PYTHON, "-m", "generator", "build", "--formats", name, "--data", str(data),
                                              "--out", str(folder / "out")])
    with_dot = args.dot_sizes is None or size in args.dot_sizes
    extra, variant = ([], "") if with_dot else (NO_DOT, "without Graphviz")
    if (ROOT / "conf.py").exists() and size == jobs_size:
        # -j 1 against -j auto: interleaved runs, each a fresh build, the best of each kept.
        serial: list[Measurement] = []
        parallel: list[Measurement] = []
        for attempt in range(args.repeat):
            for jobs, runs in (("1", serial), ("auto", parallel)):
                out = folder / f"site-j{jobs}-{attempt}"
                runs.append(runner.run(size, "site" if jobs == "1" else "site -j auto",
                                       site_command(data, folder / "out", out, jobs, extra), variant=variant))
                shutil.rmtree(out, ignore_errors=True)
        runner.best_of([serial, parallel])
    elif (ROOT / "conf.py").exists():
        runner.measure(size, "site", site_command(data, folder / "out", folder / "site", "1", extra), variant=variant)
    else:
        runner.record(Measurement(size, "site", None, None, False, "skipped; no conf.py in the checkout yet"))
    if args.make_sizes is None or size in args.make_sizes:
        run_make(runner, size, data, folder / "repo", extra, variant, args.repeat)
    run_baselines(runner, size, data, folder / "baselines", theme, args.skip_slow_baselines)


def run_make(runner: Runner, size: str, data: Path, repo: Path, sphinx_extra: list[str], variant: str,
             repeat: int) -> None:
    floor_out = repo.parent / "empty-sphinx-out"
    copy_tree(repo, data)
    build = repo / "build"
    # -o: never reinstall the shared virtual environment from the copy.
    make = ["make", "--no-print-directory", "-o", ".venv/.installed", "-C", str(repo)]
    if sphinx_extra:
        make.append("SPHINXOPTS=" + " ".join(["-W", "--keep-going", "-n", *sphinx_extra]))
    full = runner.measure(size, "make (full)", make, cwd=repo, variant=variant)
    if not full.ok:
        return
    before = snapshot(build)
    noop = runner.measure(size, "make (nothing changed)", make, cwd=repo, variant=variant)
    after = snapshot(build)
    noop.rewritten = sorted(name for name in after if before.get(name) != after[name])
    noop.rewritten += sorted(f"{name} (removed)" for name in before if name not in after)
    # The row edited `repeat` times (once more each time), each make interleaved with an
    # empty Sphinx project built afresh, so that the edit and its floor share the machine's
    # moods; the fastest of each is kept, as for -j 1 against -j auto. Every edit's make
    # must rewrite exactly the files holding the row.
    edits: list[Measurement] = []
    floors: list[Measurement] = []
    for _attempt in range(repeat):
        flow = edit_one_row(repo / "data")
        before = after
        edit = runner.run(size, "make (one row edited)", make, cwd=repo, variant=variant)
        after = snapshot(build)
        edit.rewritten = sorted(name for name in after if before.get(name) != after[name])
        touched = {name for name in after if holds(build / name, MARKER)}
        sphinx_own = {name for name in edit.rewritten if SPHINX_OWN.match(name)}
        edit.unexpected = sorted(set(edit.rewritten) - touched - sphinx_own)
        edit.stale = sorted(touched - set(edit.rewritten))
        edits.append(edit)
        shutil.rmtree(floor_out, ignore_errors=True)
        floors.append(runner.run(size, EMPTY_SPHINX_BESIDE_EDITS, empty_sphinx_command(runner.work, floor_out)))
    shutil.rmtree(floor_out, ignore_errors=True)
    edit, _floor = runner.best_of([edits, floors])
    # The best run's figures, and every run's problems.
    edit.unexpected = sorted({name for m in edits for name in m.unexpected})
    edit.stale = sorted({name for m in edits for name in m.stale})
    folders = sorted({name.split("/")[0] for name in after})
    per_folder = ", ".join(
        f"{folder} {sum(n.startswith(folder + '/') for n in edit.rewritten)}/{sum(n.startswith(folder + '/') for n in after)}"
        f" (row in {sum(n.startswith(folder + '/') for n in touched)})" for folder in folders)
    edit.note = (edit.note + "; " if edit.note else "") + (
        f"edited flow {flow}: rewritten/files (holding the row) per output: {per_folder}; "
        f"{len(sphinx_own)} of the html files are Sphinx's own (search, index, static files)")


# ---------------------------------------------------------------- report

@dataclass
class Target:
    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str


def ratio(a: Measurement | None, b: Measurement | None) -> float | None:
    """a / b in time; None unless both were measured (a timed-out `a` gives a lower bound, see at_most)."""
    if a is None or b is None or a.seconds is None or b.seconds is None or not b.seconds or not b.ok:
        return None
    if not (a.ok or a.timed_out):
        return None
    return a.seconds / b.seconds


def at_most(a: Measurement | None, value: float | None, limit: float) -> bool | None:
    """Whether `value` (a ratio or a figure of `a`) is within `limit`: None when unknown, and
    False when `a` timed out beyond the limit already."""
    if value is None or a is None:
        return None
    if a.timed_out:
        return False if value > limit else None
    return value <= limit


def _fmt(value: float | None, unit: str = "x", bound: Measurement | None = None) -> str:
    if value is None:
        return "n/a"
    return (">" if bound is not None and bound.timed_out else "") + f"{value:.2f}{unit}"


# The targets' limits. Each time limit is a ratio to a baseline measured in the same run.
SITE_VS_CSV_TABLE = 0.15
SITE_GROWTH = 10  # site at 100k flows against the site at 10k
SITE_PEAK_MB = 600
WORKBOOK_VS_XLSXWRITER = 1.5
WORKBOOK_PEAK_MB = 300
CHECK_VS_PANDAS_READ = 4
# A make with nothing to do starts no Python tool: at most 0.4x an empty Sphinx project, the
# bar that "under 0.5 s" set on this machine (its empty Sphinx project takes 1.2 to 1.4 s).
NOOP_MAKE_VS_EMPTY_SPHINX = 0.4
# After one row is edited, make computes only the files showing it: a share of a full make.
EDIT_VS_FULL_MAKE = {"10000": 0.25, "100000": 0.2}
EDIT_VS_EMPTY_SPHINX = 2  # on the shipped data, where start-up is most of the time
HOSTILE_VS_PLAIN = 2  # check of rows hostile to the suggestion paths against check of the same rows without them
STAGE_GROWTH = 11  # every stage at 100k flows against 10k: about linear, with room for start-up costs
JOBS_NOISE = 1.05  # two runs of the same build differ by a few per cent on a shared machine


def check_targets(runner: Runner, jobs_size: str) -> list[Target]:
    found = runner.find
    targets: list[Target] = []

    def verdict(name: str, passed: bool | None, detail: str) -> None:
        targets.append(Target(name, "SKIP" if passed is None else "PASS" if passed else "FAIL", detail))

    def seconds(m: Measurement | None) -> str:
        return _fmt(m.seconds if m else None, " s", m)

    def versus(a: Measurement | None, b: Measurement | None, what: str) -> str:
        """Both figures and their ratio, saying what the baseline is."""
        r = ratio(a, b)
        extrapolated = " (baseline extrapolated)" if b is not None and b.extrapolated else ""
        return f"{seconds(a)} vs {seconds(b)} {what} = {_fmt(r, bound=a)}{extrapolated}"

    def peak_below(m: Measurement | None, limit: float) -> bool | None:
        return None if m is None or m.peak_mb is None or not m.ok else m.peak_mb < limit

    site, table = found("10000", "site"), found("10000", "baseline csv-table")
    verdict(f"site 10k <= {SITE_VS_CSV_TABLE}x csv-table baseline", at_most(site, ratio(site, table), SITE_VS_CSV_TABLE),
            versus(site, table, "for one hand-written csv-table page per role"))

    big = found("100000", "site")
    verdict(f"site 100k < {SITE_GROWTH}x site 10k", at_most(big, ratio(big, site), SITE_GROWTH),
            versus(big, site, "for the site at 10k flows"))
    verdict(f"site 100k peak < {SITE_PEAK_MB} MB", peak_below(big, SITE_PEAK_MB),
            _fmt(big.peak_mb if big else None, " MB") + " peak resident memory of the Sphinx process tree")

    for stage in workbook_stages(runner):
        m, writer = found("10000", stage), found("10000", "baseline xlsxwriter")
        verdict(f"{stage} 10000 <= {WORKBOOK_VS_XLSXWRITER}x XlsxWriter unstyled", at_most(m, ratio(m, writer), WORKBOOK_VS_XLSXWRITER),
                versus(m, writer, "for XlsxWriter writing the same cells unstyled"))
        m = found("100000", stage)
        verdict(f"{stage} 100k peak < {WORKBOOK_PEAK_MB} MB", peak_below(m, WORKBOOK_PEAK_MB),
                _fmt(m.peak_mb if m else None, " MB") + " peak resident memory of the build process")

    m, read = found("100000", "check"), found("100000", "baseline pandas read")
    verdict(f"check 100k <= {CHECK_VS_PANDAS_READ}x bare pandas read", at_most(m, ratio(m, read), CHECK_VS_PANDAS_READ),
            versus(m, read, "for a bare process importing pandas and reading the same flows files "
                            "(read_csv, engine pyarrow, dtype str, keep_default_na False)"))

    size = hostile_size(sorted({m.size for m in runner.results}, key=_size_key)) or HOSTILE_SIZE
    # (hostile stage, the plain stage timed beside it, the plain command, what the hostile rows add)
    for stage, plain, command, what in (
            (HOSTILE_PROGRAMS, CHECK_BESIDE_HOSTILE, "check", "a distinct program on every flow"),
            (HOSTILE_ERRATA, CHECK_BESIDE_HOSTILE, "check", f"{synthetic.HOSTILE_ERRATA:,} errata pointing at unknown flows"),
            (HOSTILE_UNKNOWN_SERVICE, CHECK_IANA, CHECK_IANA, "one unknown service on every row")):
        m, base = found(size, stage), found(size, plain)
        verdict(f"{stage} {size} <= {HOSTILE_VS_PLAIN}x {command}", at_most(m, ratio(m, base), HOSTILE_VS_PLAIN),
                versus(m, base, f"for `{command}` of the same rows without {what}, timed in turn with them"))

    floor = found("all", "baseline empty sphinx")
    for size in sorted({m.size for m in runner.results if m.stage == "make (nothing changed)"}, key=_size_key):
        m = found(size, "make (nothing changed)")
        verdict(f"make {size} nothing changed <= {NOOP_MAKE_VS_EMPTY_SPHINX}x empty Sphinx project",
                at_most(m, ratio(m, floor), NOOP_MAKE_VS_EMPTY_SPHINX), versus(m, floor, "for an empty Sphinx project"))
        verdict(f"make {size} nothing changed rewrites nothing", m.ok and not m.rewritten,
                f"{len(m.rewritten)} rewritten" + (f": {', '.join(m.rewritten[:5])}" if m.rewritten else ""))
    for size in sorted({m.size for m in runner.results if m.stage == "make (one row edited)"}, key=_size_key):
        m = found(size, "make (one row edited)")
        problems = []
        if m.unexpected:
            problems.append(f"{len(m.unexpected)} rewritten without holding the row, e.g. {', '.join(m.unexpected[:4])}")
        if m.stale:
            problems.append(f"{len(m.stale)} hold the row but were not rewritten, e.g. {', '.join(m.stale[:4])}")
        full = found(size, "make (full)")
        if size in EDIT_VS_FULL_MAKE:
            limit = EDIT_VS_FULL_MAKE[size]
            verdict(f"make {size} one row edited <= {limit}x full make", at_most(m, ratio(m, full), limit),
                    versus(m, full, "for a full make of the same data"))
        if size == "dpm":
            beside = found(size, EMPTY_SPHINX_BESIDE_EDITS) or floor
            verdict(f"make dpm one row edited <= {EDIT_VS_EMPTY_SPHINX}x empty Sphinx project",
                    at_most(m, ratio(m, beside), EDIT_VS_EMPTY_SPHINX),
                    versus(m, beside, "for an empty Sphinx project built beside the edits"))
        verdict(f"make {size} one row edited rewrites only what it touches", None if not m.ok else not problems,
                "; ".join(problems) or (f"{len(m.rewritten)} rewritten" if m.ok else m.note))

    for stage in sorted({m.stage for m in runner.results if not m.stage.startswith("baseline")}):
        big = found("100000", stage)
        if big is not None:
            verdict(f"{stage} 100k/10k <= {STAGE_GROWTH}", at_most(big, ratio(big, found("10000", stage)), STAGE_GROWTH),
                    versus(big, found("10000", stage), "at 10k flows"))

    serial, parallel = found(jobs_size, "site"), found(jobs_size, "site -j auto")
    verdict(f"sphinx -j auto not slower than -j 1 ({jobs_size})", at_most(parallel, ratio(parallel, serial), JOBS_NOISE),
            versus(parallel, serial, "with -j 1") + f" ({JOBS_NOISE - 1:.0%} noise allowed)")
    return targets


def public_api_cost(runner: Runner) -> str:
    """What building through the public APIs of openpyxl, Sphinx and pandas costs, as ratios
    to the baselines of this run, at every size where both were measured."""
    def at_sizes(stage: str, baseline: str) -> str:
        shown = []
        for m in sorted((m for m in runner.results if m.stage == stage and m.ok), key=lambda m: _size_key(m.size)):
            r = ratio(m, runner.find(m.size, baseline))
            if r is not None:
                where = f"{int(m.size):,} flows" if m.size.isdigit() else f"the {m.size} data"
                shown.append(f"{r:.2f}x at {where}")
        return ", ".join(shown)

    parts = []
    for stage in workbook_stages(runner):
        if figures := at_sizes(stage, "baseline xlsxwriter"):
            parts.append(f"workbooks through openpyxl ({stage}) against XlsxWriter writing the same cells unstyled: {figures}")
    if figures := at_sizes("baseline openpyxl", "baseline xlsxwriter"):
        parts.append(f"openpyxl's own write-only API writing those cells unstyled, as text cells, against XlsxWriter: {figures}")
    if figures := at_sizes("baseline openpyxl styled", "baseline xlsxwriter"):
        parts.append(f"the same with a named style on every cell, against XlsxWriter: {figures}")
    if figures := at_sizes("site", "baseline csv-table"):
        parts.append(f"the site through Sphinx's directive and node APIs against one hand-written csv-table page per role: {figures}")
    if figures := at_sizes("check", "baseline pandas read"):
        parts.append(f"check through pandas against a bare pandas read of the flows: {figures}")
    return "Public-API cost measured in this run: " + ("; ".join(parts) if parts else "nothing measured") + "."


def workbook_stages(runner: Runner) -> list[str]:
    """The `build F` stages whose format writes workbooks."""
    return sorted({m.stage for m in runner.results
                   if m.stage.startswith("build ") and is_workbook_format(runner, m.stage.split(" ", 1)[1])})


def is_workbook_format(runner: Runner, name: str) -> bool:
    return any(runner.work.glob(f"*/out/{name}/**/*.xlsx"))


def _size_key(size: str) -> int:
    return int(size) if size.isdigit() else -1


def print_table(runner: Runner) -> None:
    floor = runner.find("all", "baseline empty sphinx")
    print(f"\n{'size':>7} {'stage':<40} {'seconds':>8} {'peak MB':>8} {'x empty':>8} {'x csv-table':>11} {'x xlsxwriter':>12}")
    for m in runner.results:
        if m.size == "all":
            continue
        cells = [_fmt(ratio(m, floor), bound=m), _fmt(ratio(m, runner.find(m.size, "baseline csv-table")), bound=m),
                 _fmt(ratio(m, runner.find(m.size, "baseline xlsxwriter")), bound=m)]
        seconds = _shown_seconds(m).strip()
        peak = "" if m.peak_mb is None else f"{m.peak_mb:.0f}"
        mark = " *" if m.extrapolated else ""
        print(f"{m.size:>7} {m.label:<40} {seconds:>8} {peak:>8} {cells[0]:>8} {cells[1]:>11} {cells[2]:>12}{mark}")
    if floor is not None and floor.seconds is not None:
        print(f"empty Sphinx project (floor): {floor.seconds:.2f} s, {floor.peak_mb or 0:.0f} MB")
    if any(m.extrapolated for m in runner.results):
        print("* extrapolated, not measured (--skip-slow-baselines)")


def markdown_report(runner: Runner, targets: list[Target], info: dict, command: str) -> str:
    """The figures and verdicts as Markdown, for benchmarks/RESULTS.md."""
    floor = runner.find("all", "baseline empty sphinx")
    lines = [f"Run on {info['date']}: {info['nproc']} CPUs, {info['memory']} memory, Python {info['python']}, "
             f"{info['platform']}; load average (1, 5, 15 min) {info['load_average']} at the start and "
             f"{info['load_average_end']} at the end.", "", f"Command: `{command}`", ""]
    if any(m.variant for m in runner.results):
        lines += ["Stages marked 'without Graphviz' built the site as on a machine without dot: the diagram "
                  "page lists the same edges as text instead of drawing them.", ""]
    lines += [
             "| size | stage | seconds | peak MB | x empty Sphinx | x csv-table | x XlsxWriter |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for m in runner.results:
        seconds = (_shown_seconds(m).strip() if m.ok or m.timed_out
                   else m.note if m.skipped else "failed: " + m.note.split(";")[0])
        peak = "" if m.peak_mb is None or not m.ok else f"{m.peak_mb:.0f}"
        cells = [_fmt(ratio(m, floor), bound=m), _fmt(ratio(m, runner.find(m.size, "baseline csv-table")), bound=m),
                 _fmt(ratio(m, runner.find(m.size, "baseline xlsxwriter")), bound=m)]
        stage = m.label + (" (extrapolated, not measured)" if m.extrapolated else "")
        lines.append(f"| {m.size} | {stage} | {seconds} | {peak} | {' | '.join(cells)} |")
    notes = [m for m in runner.results if m.stage.startswith("make (") and (m.rewritten or m.note)]
    if notes:
        lines += ["", "Incremental builds:", ""]
        for m in notes:
            detail = m.note or f"{len(m.rewritten)} output file(s) rewritten"
            if m.stage == "make (nothing changed)":
                detail = f"{len(m.rewritten)} output file(s) rewritten" + (f": {', '.join(m.rewritten[:6])}" if m.rewritten else "")
            lines.append(f"- {m.size}, {m.stage}: {detail}")
            if m.unexpected:
                lines.append(f"  - rewritten without holding the edited row ({len(m.unexpected)}): {', '.join(m.unexpected[:8])}")
            if m.stale:
                lines.append(f"  - hold the edited row but not rewritten ({len(m.stale)}): {', '.join(m.stale[:8])}")
    repeated = [m for m in runner.results if "best of" in m.note]
    if repeated:
        lines += ["", "Repeated stages:", ""]
        lines += [f"- {m.size}, {m.label}: {m.note}" for m in repeated]
    lines += ["", "| target | verdict | figures |", "|---|---|---|"]
    lines += [f"| {t.name} | {t.status} | {t.detail} |" for t in targets]
    lines += ["", public_api_cost(runner)]
    return "\n".join(lines) + "\n"


def machine() -> dict:
    memory = ""
    try:
        memory = next(line.split(":", 1)[1].strip() for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count(), "memory": memory, "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": " ".join(f"{value:.1f}" for value in os.getloadavg())}


def parse_sizes(text: str) -> list[str]:
    sizes = [part.strip() for part in text.split(",") if part.strip()]
    for size in sizes:
        if size not in ("dpm", "registry") and not (size.isdigit() and int(size) > 0):
            raise argparse.ArgumentTypeError(f"size {size!r} is neither 'dpm', 'registry' nor a number of flows")
    return sizes


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="A SIZES list may be empty ('') for none. A quick run of every stage on tiny data (under a minute):\n"
               f"  benchmarks/run.py {' '.join(SMOKE_ARGUMENTS)}")
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help="comma-separated sizes: 'dpm' (the shipped data), 'registry' (the IANA registry as flows, "
                             f"benchmarks/registry_flows.py) or a number of synthetic flows (default {DEFAULT_SIZES})")
    parser.add_argument("--roles", type=int, default=50, metavar="R", help="roles of the synthetic datasets (default 50)")
    parser.add_argument("--seed", type=int, default=1, metavar="N", help="seed of the synthetic datasets (default 1)")
    parser.add_argument("--skip-slow-baselines", action="store_true",
                        help=f"at sizes of {SLOW_BASELINE_ROWS} flows and more, estimate the csv-table baseline linearly "
                             "from the largest smaller size instead of building it (at 100,000 flows building it takes "
                             "about 15 minutes and 4 GB)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure and verdict as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the figures and verdicts as Markdown tables")
    parser.add_argument("--dot-sizes", type=parse_sizes, metavar="SIZES",
                        help="sizes whose site uses Graphviz (default: all); the others are built as without it "
                             "(the diagram listed as text) and labelled so")
    parser.add_argument("--make-sizes", type=parse_sizes, metavar="SIZES",
                        help="sizes on which to time the whole make: full, nothing changed, one row edited (default: all)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="interleaved runs of `check` and the bare pandas read at every size, and of the site with -j 1 "
                             "and -j auto at 10,000 flows (or the largest size when 10000 is not among --sizes); the best of "
                             "each counts (default 3)")
    parser.add_argument("--timeout", type=float, default=1800, metavar="SECONDS",
                        help="seconds before one measurement is abandoned with its whole process tree (default 1800)")
    parser.add_argument("--work", type=Path, metavar="FOLDER",
                        help="folder for data, builds and each measurement's log (default: a temporary folder, removed at the end)")
    parser.add_argument("--verbose", action="store_true", help="print each measured command and its log file")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not args.sizes:
        parser.error("--sizes needs at least one size")
    if args.roles < 2 or args.repeat < 1 or args.timeout <= 0:
        parser.error("--roles must be at least 2, --repeat at least 1 and --timeout positive")

    work = Path(tempfile.mkdtemp(prefix="portbook-bench-")) if args.work is None else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    runner = Runner(work, args.timeout, args.verbose)
    info = machine()
    print(f"machine: {info['nproc']} CPUs, {info['memory']}, Python {info['python']}; work in {work}", flush=True)
    theme = project_theme()
    jobs_size = "10000" if "10000" in args.sizes else args.sizes[-1]
    empty = work / "empty"
    empty_sphinx_project(empty / "src", theme)
    runner.measure("all", "baseline empty sphinx", empty_sphinx_command(work, empty / "out"))
    for size in sorted(args.sizes, key=_size_key):
        run_size(runner, size, args, theme, jobs_size)
    info["load_average_end"] = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print_table(runner)
    targets = check_targets(runner, jobs_size)
    print("\ntargets:")
    for target in targets:
        print(f"  {target.status:<4} {target.name}: {target.detail}")
    print(f"\n{public_api_cost(runner)}")
    command = shlex.join([".venv/bin/python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    if args.markdown:
        args.markdown.write_text(markdown_report(runner, targets, info, command))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info, "command": command,
            "theme": theme, "measurements": [asdict(m) for m in runner.results],
            "targets": [asdict(t) for t in targets], "public_api_cost": public_api_cost(runner)}, indent=2) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(t.status == "FAIL" for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
