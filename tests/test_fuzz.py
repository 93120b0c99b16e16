"""Property-based fuzzing of the loader and every generator.

Random and mutated data folders (cells replaced by malformed ports, markup, formulas,
huge or odd Unicode text; files re-encoded, truncated, salted with NUL bytes, stray
quotes or thousands of columns) go through the command line in-process. Whatever the
input: no exception escapes, the exit code is 0 or 1, every reported problem is a
`FILE:LINE:COLUMN: CODE message` line, a rejection always says why, and accepted data
builds every output format that exists.

`make test` runs a few dozen examples per property; the `long` hypothesis profile
(HYPOTHESIS_PROFILE=long, with `-m slow`) runs the same properties a thousand times.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from conftest import DATA, read_rows, write_rows
from generator import csvfile
from generator.cli import main
from generator.issues import CATALOG
from generator.outputs import OUTPUTS
from hostile import HOSTILE_IDS, HOSTILE_TEXT

HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=HEALTH)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
QUICK_EXAMPLES = 25

ISSUE_LINE = re.compile(r"^[^:]+:\d+:\d+: [LSC]\d{3} .+$")
SUMMARY_LINE = re.compile(r"^\d+ error\(s\), \d+ warning\(s\)$")


# ---------------------------------------------------------------- helpers shared by the suite

def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run the command line in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def issue_lines(output: str) -> list[str]:
    """The problem lines of `check`'s output (without the summary and registry notes)."""
    return [line for line in output.splitlines() if line and not SUMMARY_LINE.match(line) and not line.startswith("note: ")]


def first_dataset(data_dir: Path) -> Path:
    """The first dataset folder of a data folder, whatever the product."""
    return sorted(path.parent for path in Path(data_dir).glob("*/dataset.toml"))[0]


def build_all(data_dir: Path, out: Path) -> tuple[int, str, str]:
    """Build every format discovered at this moment (others may be added at any time)."""
    return run_cli(["build", "--data", str(data_dir), "--out", str(out), "--formats", ",".join(OUTPUTS)]) if OUTPUTS \
        else run_cli(["build", "--data", str(data_dir), "--out", str(out)])


def cell_column(path: Path, line: int, column: str) -> int:
    """1-based character column where `column`'s cell starts on physical line `line`."""
    header = read_rows(path)[0]
    text = path.read_text(encoding="utf-8").split("\n")[line - 1]
    return csvfile._field_starts(text)[header.index(column)]


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in Path(root).rglob("*")}


def assert_check_contract(data_dir: Path) -> int:
    """The invariants of `check` on any input; returns its exit code."""
    code, out, err = run_cli(["check", "--data", str(data_dir)])
    assert code in (0, 1), err
    problems = issue_lines(out)
    bad = [line for line in problems if not ISSUE_LINE.match(line)]
    assert not bad, f"malformed problem lines: {bad[:3]}"
    codes = [line.split(": ", 1)[1].split(" ", 1)[0] for line in problems]
    assert all(code_ in CATALOG for code_ in codes), codes
    errors = [c for c in codes if CATALOG[c].severity.value == "error"]
    if code == 1:
        assert errors, f"rejected without an error line:\n{out}"
    else:
        assert not errors, out
    # The JSON report agrees with the text one.
    json_code, json_out, _ = run_cli(["check", "--data", str(data_dir), "--format", "json"])
    report = json.loads(json_out)
    assert json_code == code and report["errors"] == len(errors)
    return code


def assert_builds(root: Path, data_dir: Path) -> None:
    """Accepted data builds every format, writing nowhere but the output folder."""
    out = root / "out"
    before = files_under(root)
    code, _, err = build_all(data_dir, out)
    assert code == 0, err
    outside = {name for name in files_under(root) - before if not name.startswith("out")}
    assert not outside, outside
    assert not Path("/tmp/portbook-pwned").exists()


# ---------------------------------------------------------------- the template data

def _template() -> dict:
    """Tables of the shipped data: relative path -> (header, rows), read once."""
    tables = {}
    for path in sorted(DATA.rglob("*.csv")):
        if path.parent.name == "registry":
            continue  # service registries are inputs of checks, not of the schema
        tables[str(path.relative_to(DATA))] = read_rows(path)
    return tables


TABLES = _template()
TEXT_FILES = sorted(TABLES) + sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.toml"))

PORT_CASES = [
    "1e3", "0x50", "-1", "0", "65536", "99999", "123456", " 80 ", "80,443", "80;443", "80/443", "80 443",
    "80-", "-80", "90-80", "80--90", "80-90-100", "1-65536", "0-5", "00080", "80.0", "+80", "٨٠", "８０",
    "any", "ANY", "Any ", "all", "*", "", "80-80", "65535", "1-65535", "49152-65535", "1024 - 65535", "\u00a080",
]
SPECIAL = ["", " ", "NaN", "nan", "None", "null", "TRUE", "0", "-0", "1.5", "tcp", "udp", "both", "one-way",
           "\ufeff", "\u200b", "\u2028", "\u0085", "\u202e", "\ufffe", "\x0c", "\x1b[31m", "a\rb", "a\r\nb", '"', '""', "'"]


def _column_values() -> dict[str, list[str]]:
    """Every value each column holds in the shipped data, to make duplicates and swaps."""
    values: dict[str, set[str]] = {}
    for header, rows in TABLES.values():
        for row in rows:
            for name in header:
                values.setdefault(name, set()).add(row[name])
    return {name: sorted(found) for name, found in values.items()}


COLUMN_VALUES = _column_values()
ALL_VALUES = sorted({value for found in COLUMN_VALUES.values() for value in found})

cell_values = st.one_of(
    st.sampled_from(PORT_CASES + SPECIAL + HOSTILE_TEXT + HOSTILE_IDS),
    st.sampled_from(ALL_VALUES),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.builds(lambda char, count: char * count, st.sampled_from(["x", "9", " ", '"', "<", "\n"]),
              st.sampled_from([4095, 4096, 4097, 32767, 32768, 40000])),
)

insertions = st.one_of(
    st.sampled_from([b"\x00", b'"', b'""', b"\r", b"\n", b",", b",,,", b"\xff", b"\xc3", b"\xe2\x80\xa8", b"\x0c",
                     b"\xef\xbb\xbf", b"=", b"[", b"]", b"\\", b"'''", b'"""']),
    st.binary(min_size=1, max_size=8),
)

# One change to a data folder; (kind, file, ...) tuples applied by `mutate`.
mutations = st.one_of(
    st.tuples(st.just("cell"), st.sampled_from(sorted(TABLES)), st.integers(0, 200), st.integers(0, 20), cell_values),
    st.tuples(st.just("append"), st.sampled_from(sorted(TABLES)), st.integers(0, 200), st.integers(0, 20), cell_values),
    st.tuples(st.just("insert"), st.sampled_from(TEXT_FILES), st.floats(0, 1), insertions),
    st.tuples(st.just("truncate"), st.sampled_from(TEXT_FILES), st.floats(0, 1)),
    st.tuples(st.just("encode"), st.sampled_from(TEXT_FILES), st.sampled_from(["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"])),
    st.tuples(st.just("columns"), st.sampled_from(sorted(TABLES)), st.sampled_from([1, 2, 50, 63, 64, 65, 3000])),
    st.tuples(st.just("newlines"), st.sampled_from(TEXT_FILES), st.sampled_from(["\r\n", "\r", "\n\n", "\u2028"])),
    st.tuples(st.just("duplicate-line"), st.sampled_from(sorted(TABLES)), st.integers(0, 200)),
    st.tuples(st.just("remove"), st.sampled_from(TEXT_FILES)),
    st.tuples(st.just("empty"), st.sampled_from(TEXT_FILES)),
)


def mutate(data_dir: Path, change: tuple) -> None:
    """Apply one change; changes that need readable text skip files an earlier change broke."""
    try:
        _mutate(data_dir / change[1], change)
    except (UnicodeError, csv.Error, ValueError, IndexError, ZeroDivisionError):
        pass


def _mutate(path: Path, change: tuple) -> None:
    kind = change[0]
    if not path.exists():
        return
    if kind in ("cell", "append"):
        header, rows = read_rows(path)
        column = header[change[3] % len(header)]
        if kind == "append" or not rows:
            rows.append(dict(rows[change[2] % len(rows)]) if rows else {n: "" for n in header})
            index = len(rows) - 1
        else:
            index = change[2] % len(rows)
        rows[index][column] = change[4]
        write_rows(path, header, rows)
    elif kind == "insert":
        data = path.read_bytes()
        at = int(change[2] * len(data))
        path.write_bytes(data[:at] + change[3] + data[at:])
    elif kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: int(change[2] * len(data))])
    elif kind == "encode":
        text = path.read_text(encoding="utf-8")
        # An accented letter makes single-byte encodings differ from UTF-8.
        path.write_bytes(text.replace("e", "é", 1).encode(change[2], errors="replace"))
    elif kind == "columns":
        first, rest = path.read_text(encoding="utf-8").split("\n", 1)
        path.write_text(first + "".join(f",c{n}" for n in range(change[2])) + "\n" + rest, encoding="utf-8")
    elif kind == "newlines":
        path.write_text(path.read_text(encoding="utf-8").replace("\n", change[2]), encoding="utf-8", newline="")
    elif kind == "duplicate-line":
        lines = path.read_text(encoding="utf-8").split("\n")
        index = change[2] % len(lines)
        lines.insert(index, lines[index])
        path.write_text("\n".join(lines), encoding="utf-8")
    elif kind == "remove":
        path.unlink()
    elif kind == "empty":
        path.write_bytes(b"")


@contextlib.contextmanager
def data_copy():
    """A fresh copy of the shipped data in a temporary root (hypothesis examples cannot
    share pytest's per-test tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="portbook-fuzz-") as root:
        target = Path(root) / "data"
        shutil.copytree(DATA, target)
        yield Path(root), target


def _examples(long: bool, quick: int = QUICK_EXAMPLES) -> settings:
    """The long variant (`make fuzz`) is random, takes its count from the loaded profile
    (1000 under `long`) and shrinks failures. The quick one (`make test`) tries the same
    examples on every run and machine: derandomised, and without the example database,
    which would replay a local run's failures in one checkout and not in another; it
    skips shrinking, which can take minutes when every example builds all outputs (the
    failing example is reported unshrunk)."""
    if long:
        return settings(max_examples=settings().max_examples, deadline=None, suppress_health_check=HEALTH)
    return settings(max_examples=quick, deadline=None, suppress_health_check=HEALTH, derandomize=True,
                    database=None, phases=[Phase.explicit, Phase.generate])


# ---------------------------------------------------------------- properties

def _check_never_crashes(changes: list[tuple]) -> None:
    with data_copy() as (root, data_dir):
        for change in changes:
            mutate(data_dir, change)
        if assert_check_contract(data_dir) == 0:
            assert_builds(root, data_dir)


check_never_crashes = given(st.lists(mutations, min_size=1, max_size=3))(_check_never_crashes)

# Free-text columns: anything printable is data, never a reason to refuse or to fail a build.
FREE_TEXT = {
    "flows.csv": ["purpose", "condition", "assumption", "rule"],
    "roles.csv": ["name", "description"],
    "errata.csv": ["rationale", "evidence"],
    "inventory.csv": ["note"],
}
printable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from(["\t", "\n", "\r", " "]),
    min_size=1, max_size=200,
).filter(lambda text: text.strip() != "")
free_text = st.one_of(st.sampled_from(HOSTILE_TEXT), printable)


def _free_text_builds(edits: list[tuple[int, int, int, str]]) -> None:
    with data_copy() as (root, data_dir):
        tables = [name for name in sorted(TABLES) if Path(name).name in FREE_TEXT]
        for table_index, row, column_index, text in edits:
            path = data_dir / tables[table_index % len(tables)]
            header, rows = read_rows(path)
            columns = FREE_TEXT[path.name]
            rows[row % len(rows)][columns[column_index % len(columns)]] = text
            write_rows(path, header, rows)
        assert assert_check_contract(data_dir) == 0
        assert_builds(root, data_dir)


free_text_builds = given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 200), st.integers(0, 10), free_text),
                                  min_size=1, max_size=8))(_free_text_builds)
# The agent coordinator flow's assumption (flows.csv, third row, third free-text column)
# replaced: the erratum of its port, not that text, records that the data keeps the page's
# 5718 against the registry's description, so C215 stays quiet.
free_text_builds = example(edits=[(1, 2, 2, HOSTILE_TEXT[0])])(free_text_builds)


@pytest.mark.parametrize("long", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["quick", "long"])
def test_check_never_crashes(long):
    """Mutated data of every kind: check keeps its contract, and accepted data builds."""
    _examples(long)(check_never_crashes)()


@pytest.mark.parametrize("long", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["quick", "long"])
def test_free_text_always_builds(long):
    """Any printable text, markup or formula in a free-text column is accepted and builds."""
    _examples(long, quick=10)(free_text_builds)()  # every example builds all formats


# ---------------------------------------------------------------- fixed hostile inputs (deterministic)

@pytest.mark.parametrize("port", PORT_CASES)
def test_port_forms(data_dir, port):
    """Every malformed port is refused with S103/S104 at the port cell; well-formed ones load."""
    flows = first_dataset(data_dir) / "flows.csv"
    header, rows = read_rows(flows)
    # A row no erratum corrects and no dynamic pool, without its service, so only the port is in question.
    corrected = {row["flow"] for row in read_rows(flows.parent / "errata.csv")[1]} if (flows.parent / "errata.csv").exists() else set()
    index = next(i for i, row in enumerate(rows) if not row["dynamic"] and row["transport"] != "any" and row["id"] not in corrected)
    rows[index].update(port=port, transport="tcp", service="")
    write_rows(flows, header, rows)
    code, out, _ = run_cli(["check", "--data", str(data_dir)])
    mine = [line for line in issue_lines(out) if f"flows.csv:{index + 2}:" in line]
    # The oracle: ASCII digits without leading zeros, 1-65535, ranges in order, or 'any'.
    well_formed = re.fullmatch(r"\s*(?:[1-9][0-9]{0,4}(?:-[1-9][0-9]{0,4})?|(?i:any))\s*", port)
    if well_formed and port.strip().lower() != "any":
        numbers = [int(n) for n in port.strip().split("-")]
        well_formed = all(1 <= n <= 65535 for n in numbers) and numbers == sorted(numbers)
    if well_formed:
        assert not [line for line in mine if re.search(r" S10[34] ", line)], out
    else:
        assert code == 1
        at = f"flows.csv:{index + 2}:{cell_column(flows, index + 2, 'port')}: "
        assert any(at in line and re.search(r" S10[134] port", line) for line in mine), out
        assert all(ISSUE_LINE.match(line) for line in issue_lines(out))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])
def test_foreign_encodings_are_refused_with_l002(data_dir, encoding):
    roles = first_dataset(data_dir) / "roles.csv"
    roles.write_bytes(roles.read_text(encoding="utf-8").replace("e", "é").encode(encoding))
    code, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert code == 1
    mine = [line for line in issue_lines(out) if "roles.csv" in line]
    assert len(mine) == 1 and " L002 " in mine[0] and ISSUE_LINE.match(mine[0]), out


@pytest.mark.parametrize("salt, offset", [(b"\x00", 3), (b"\x0c", 3), (b"\x1b", 7), (b'"', 0)])
def test_stray_bytes_are_located(data_dir, salt, offset):
    """A NUL, a control character or a quote opening a cell that never closes is refused
    with L003 at its own line (and, where it is known, column)."""
    roles = first_dataset(data_dir) / "roles.csv"
    lines = roles.read_bytes().split(b"\n")
    lines[2] = lines[2][:offset] + salt + lines[2][offset:]
    roles.write_bytes(b"\n".join(lines))
    status, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert status == 1
    mine = [line for line in issue_lines(out) if "roles.csv" in line]
    assert len(mine) == 1 and " L003 " in mine[0], out
    assert mine[0].split(": ")[0].endswith(f"roles.csv:3:{offset + 1}"), mine


@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\u2029", "\x1c"])
def test_unicode_line_separators_stay_inside_cells(data_dir, separator):
    """Cells are split at newlines only: a Unicode line separator inside a cell is text
    (or, for C0 controls, refused), and never breaks the row into pieces."""
    roles = first_dataset(data_dir) / "roles.csv"
    header, rows = read_rows(roles)
    rows[0]["description"] = f"before{separator}after"
    write_rows(roles, header, rows)
    code, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert not [line for line in issue_lines(out) if " L007 " in line], out
    if separator == "\x1c":
        assert code == 1 and any(" L003 " in line and "roles.csv:2:" in line for line in issue_lines(out)), out
    else:
        assert code == 0, out


def test_duplicate_ids_and_unknown_roles_are_located(data_dir):
    flows = first_dataset(data_dir) / "flows.csv"
    header, rows = read_rows(flows)
    rows.append(dict(rows[0]))
    rows.append(dict(rows[1], id="fuzz-unknown-role", source="no-such-role"))
    write_rows(flows, header, rows)
    code, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert code == 1
    problems = issue_lines(out)
    assert any(f"flows.csv:{len(rows)}:1: S107 " in line for line in problems), out
    at = f"flows.csv:{len(rows) + 1}:{cell_column(flows, len(rows) + 1, 'source')}: S106 source"
    assert any(at in line for line in problems), out


def test_unreadable_roles_file_is_one_issue_not_one_per_flow(data_dir):
    """When roles.csv cannot be read, its own located issue says why; flows citing its
    roles are not each reported as naming an unknown role."""
    roles = first_dataset(data_dir) / "roles.csv"
    roles.write_bytes(roles.read_text(encoding="utf-8").encode("utf-16"))
    code, out, _ = run_cli(["check", "--data", str(data_dir)])
    assert code == 1
    problems = issue_lines(out)
    assert [line for line in problems if "roles.csv" in line and " L002 " in line], out
    assert not [line for line in problems if "flows.csv" in line and " S106 " in line], out
