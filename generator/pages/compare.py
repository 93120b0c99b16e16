"""`check --against PAGE.md`: compare a published port page with one dataset.

What counts as a difference, and when it is explained:

* Every port the page states is compared, wherever it stands: a table's port cell, a
  sentence in a table's details, or page prose ("TCP port N", "the default N port",
  "N through M"). A number counts as a port only next to the words that make it one
  (port, TCP, UDP, N/tcp), so a product's year or version is not a port.
* The data *has* a stated port when some flow of the dataset carries exactly that port
  or range on a compatible transport (a statement without a transport fits any; "All
  protocols / All ports" fits a flow whose transport and port are both 'any').
  "Dynamic" ports without a range fit any flow marked as a dynamic pool on that transport.
* The data *contradicts* a stated value when it lacks it but an erratum of the dataset
  records it as the published value of a flow's field (port, program, rule): that is
  reported as explained (P304). A page that gives one port as the default and another
  a sentence later, a dynamic range no platform uses, or a misspelt program name is
  each explained by the erratum that records the page's value.
* Otherwise the data *lacks* it: P301 for a port, P302 for a program (name.exe) or a
  rule name from a table's rule column. Both are unexplained.
* A flow of the data that no statement fits, and whose errata correct no stated value,
  is not on the page: P303, unexplained. A flow marked as a dynamic pool where the page
  only says "dynamic ports" is on the page with a range the page leaves open: P305,
  explained.

The exit code is 0 when every difference is explained and 1 otherwise.
"""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

from ..csvfile import display_path
from ..issues import Issue, issue, render_json, render_text
from ..model import Dataset, Erratum, Flow, Location, Model
from ..pipeline import Checked
from ..portscan import stated_range
from .mentions import NameStatement, PageStatements, PortStatement, read_statements
from .parse import parse_page, read_page
from .terminal import json_text, printable


def difference(code: str, file: str, line: int, column: int, message: str) -> Issue:
    """One difference, as an issue with a P3xx code of `issues.CATALOG`."""
    return issue(code, Location(file, line, column), message)


def _normal(title: str) -> str:
    return " ".join(title.casefold().split())


def pick_dataset(datasets: list[Dataset], title: str, wanted: str | None) -> tuple[Dataset | None, str]:
    """The dataset named by --dataset, else the one whose source title is the page's title."""
    known = ", ".join(f"{d.id} ({d.source.title!r})" for d in datasets) or "none"
    if wanted:
        for dataset in datasets:
            if dataset.id == wanted:
                return dataset, ""
        return None, f"no dataset {wanted!r}; known: {known}"
    matches = [d for d in datasets if _normal(d.source.title) == _normal(title)]
    if len(matches) == 1:
        return matches[0], ""
    if not title:
        return None, f"the page has no title (front matter 'title:' or a '# ' heading); pass --dataset (known: {known})"
    return None, f"no single dataset has the source title {title!r}; pass --dataset (known: {known})"


def _fits(statement_transport: str, flow_transport: str) -> bool:
    if not statement_transport:
        return True
    return statement_transport == flow_transport


def _port_fits(statement: PortStatement, flow: Flow) -> bool:
    if not _fits(statement.transport, flow.transport):
        return False
    if statement.dynamic and statement.ports is None:
        return bool(flow.dynamic)
    return statement.ports == flow.ports


def _port_errata(statement: PortStatement, dataset: Dataset, flows: dict[str, Flow]) -> list[Erratum]:
    return [
        erratum for erratum in dataset.errata
        if erratum.field == "port" and statement.ports is not None
        and stated_range(erratum.published) == statement.ports
        and erratum.flow in flows and _fits(statement.transport, flows[erratum.flow].transport)
    ]


def _close_ports(statement: PortStatement, dataset: Dataset) -> str:
    if statement.ports is None or not statement.ports.is_single:
        return ""
    ports = sorted({str(f.ports.first) for f in dataset.flows if f.ports is not None and f.ports.is_single})
    close = difflib.get_close_matches(str(statement.ports.first), ports, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def compare(stated: PageStatements, shown: str, dataset: Dataset, model: Model) -> list[Issue]:
    """Every difference between the page's statements and the dataset (one of the model's),
    in page order, then the flows the page does not mention."""
    differences: list[Issue] = []
    explained_flows: set[str] = set()
    seen: set[tuple] = set()
    statements = stated.ports
    for statement in sorted(statements, key=lambda s: (s.line, s.column)):
        key = (statement.line, statement.ports, statement.transport)
        if key in seen:
            continue  # a port cell's dynamic range taken from the details of the same row
        seen.add(key)
        if any(_port_fits(statement, flow) for flow in dataset.flows):
            continue
        errata = _port_errata(statement, dataset, model.flow_by_id)
        if errata:
            for erratum in errata:
                explained_flows.add(erratum.flow)
                differences.append(difference(
                    "P304", shown, statement.line, statement.column,
                    f"page states {statement.label} ({statement.words!r}); erratum {erratum.id} records it as the published "
                    f"port of flow {erratum.flow}, which the data holds as {erratum.corrected}"))
            continue
        what = "dynamic ports" if statement.dynamic and statement.ports is None else statement.label
        differences.append(difference(
            "P301", shown, statement.line, statement.column,
            f"page states {what} ({statement.words!r}) but no flow of {dataset.id} has it and no erratum records it"
            f"{_close_ports(statement, dataset)}"))
    for name in stated.names:
        differences.extend(_compare_name(name, shown, dataset))
    differences.sort(key=lambda item: (item.line, item.column, item.code))
    differences.extend(_unmentioned_flows(statements, shown, dataset, explained_flows))
    return differences


def _compare_name(name: NameStatement, shown: str, dataset: Dataset) -> list[Issue]:
    wanted = name.name.casefold()
    if any(flow.value(name.kind).casefold() == wanted for flow in dataset.flows):
        return []
    errata = [e for e in dataset.errata if e.field == name.kind and e.published.casefold() == wanted]
    if errata:
        return [difference("P304", shown, name.line, name.column,
                           f"page names {name.kind} {name.name!r}; erratum {e.id} records it as the published {name.kind} "
                           f"of flow {e.flow}, which the data holds as {e.corrected!r}") for e in errata]
    known = sorted({flow.value(name.kind) for flow in dataset.flows if flow.value(name.kind)})
    close = difflib.get_close_matches(name.name, known, n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return [difference("P302", shown, name.line, name.column,
                       f"page names {name.kind} {name.name!r} but no flow of {dataset.id} has it and no erratum records it{hint}")]


def _unmentioned_flows(statements: list[PortStatement], shown: str, dataset: Dataset, explained: set[str]) -> list[Issue]:
    differences = []
    exact = [s for s in statements if not (s.dynamic and s.ports is None)]
    dynamic = [s for s in statements if s.dynamic and s.ports is None]
    for flow in dataset.flows:
        if flow.id in explained or any(_port_fits(s, flow) for s in exact):
            continue
        fitting = [s for s in dynamic if _port_fits(s, flow)]
        section = dataset.sections.get(flow.reference)
        cited = [s for s in fitting if section is not None
                 and ((section.anchor and s.section.anchor == section.anchor) or _normal(s.section.title) == _normal(section.title))]
        pool = (cited or fitting or [None])[0]
        if pool is not None:
            differences.append(difference(
                "P305", shown, pool.line, pool.column,
                f"flow {flow.id} ({flow.label}) is the {flow.dynamic} dynamic pool; the page says dynamic ports without a range"))
            continue
        where = flow.where("port")
        differences.append(difference(
            "P303", where.file, where.line, where.column,
            f"flow {flow.id} ({flow.label}) is not on {shown}: no statement there gives {flow.label}"))
    return differences


def render_report(differences: list[Issue], shown: str, dataset: Dataset, statements: int) -> str:
    lines = [item.format() for item in differences]
    unexplained = sum(not item.explained for item in differences)
    lines.append(f"{shown} against {dataset.id}: {statements} statement(s), {len(dataset.flows)} flow(s); "
                 f"{unexplained} unexplained, {len(differences) - unexplained} explained difference(s)")
    return "\n".join(lines) + "\n"


def run_against(checked: Checked, page_path: Path, wanted: str | None, fmt: str, strict: bool = False) -> int:
    """Compare the page with the checked data; the exit code of `check --against` (with
    --strict, warnings about the data fail it too)."""
    if not checked.ok:
        # The data's own issues, in the format asked for, as `check` gives them.
        if fmt == "json":
            sys.stdout.write(render_json(checked.issues))
        else:
            sys.stderr.write(render_text(checked.issues))
        return 1
    text, error = read_page(page_path)
    if text is None:
        print(printable(error), file=sys.stderr)
        return 1
    stated = read_statements(parse_page(text))
    dataset, problem = pick_dataset(checked.model.datasets, stated.page.title, wanted)
    if dataset is None:
        print(f"error: {printable(problem)}", file=sys.stderr)
        return 2
    shown = printable(display_path(page_path))
    differences = compare(stated, shown, dataset, checked.model)
    statements = len(stated.ports) + len(stated.names)
    unexplained = sum(not item.explained for item in differences)
    if fmt == "json":
        payload = {
            "page": shown,
            "dataset": dataset.id,
            "statements": statements,
            "unexplained": unexplained,
            "explained": len(differences) - unexplained,
            "differences": [item.to_dict() | {"explained": item.explained} for item in differences],
            "data_issues": [item.to_dict() for item in checked.issues],
        }
        sys.stdout.write(json_text(payload))
    else:
        if checked.issues:
            sys.stderr.write(render_text(checked.issues))
        sys.stdout.write(render_report(differences, shown, dataset, statements))
    return 1 if unexplained or (strict and checked.issues) else 0
