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
* The page is read against the registries as C217, C215 and C216 read the data. A
  sentence (or a table row) that names a program and states a port opens that port for
  the program: where the programs registry does not give the program that port, the
  page is wrong (P308) unless an erratum of the program of a flow on that port records
  the page's program (under its name or a spelling an erratum corrects it to) and
  corrects it to no program or to one that serves the port (P304). A port the page calls
  by the registered description of another port of the product ("the agent coordinator
  on port 5718", registered for 5719) is P309, unless an erratum of the port of a flow on
  that port records the page's words and keeps the port (P304).

Against a later revision of the page the data was transcribed from (dataset.toml's
`source.revision` and the page's own date differ, the page's being later when both are dates): an erratum whose published value the
page no longer states, while it states the data's value, is fixed by the vendor (P307,
explained), and a port the data lacks is new on the page (still P301).

Several pages (or folders of them) are each compared as above, and with each other: two
pages compared with one dataset disagree (P306, unexplained) when they give one flow, or
the dynamic pool of one transport, values that have none in common. Two revisions of one
page (the same title) are not compared with each other.

The exit code is 0 when every difference is explained and 1 otherwise.
"""
from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from ..checks.programs import SPELLING_CUTOFF, program_serves, programs_called, served_text
from ..checks.registry import product_phrases, records_kept_mapping, registration_text
from ..checks.text import PhraseIndex, without_notes
from ..csvfile import display_path
from ..issues import Issue, issue, render_json, render_text
from ..model import ANY, Dataset, Erratum, Flow, Location, Model
from ..pipeline import Checked
from ..registry import Program, Registry
from ..portscan import stated_range
from .mentions import DYNAMIC, NameStatement, PageStatements, PortStatement, Sentence, page_sentences, read_statements
from .parse import ParsedPage, parse_any, read_page
from ..terminal import json_text, printable


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


def _as_date(revision: str) -> date | None:
    """The day a revision names, when it is a date as pages write them (2019-06-03,
    06/03/2019 as ms.date has it, or an ISO time stamp); None for a commit or other text."""
    text = revision.strip()[:10]
    for layout in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    return None


def _same_page(page: ParsedPage, dataset: Dataset) -> bool:
    return _normal(page.title) == _normal(dataset.source.title)


def later_revision(page: ParsedPage, dataset: Dataset) -> bool:
    """Whether the page is a revision of the dataset's source other than the one the data
    was transcribed from: the same title, and a date of its own other than (later than,
    when both are dates) the recorded revision."""
    recorded = dataset.source.revision
    if not recorded or not page.revision or not _same_page(page, dataset):
        return False
    page_day, recorded_day = _as_date(page.revision), _as_date(recorded)
    if page_day is not None and recorded_day is not None:
        return page_day > recorded_day
    return page.revision.strip() != recorded.strip()


def _revisions(page: ParsedPage, dataset: Dataset) -> str:
    return f"page revision {page.revision or 'not stated'}, data transcribed from revision {dataset.source.revision}"


def compare(stated: PageStatements, shown: str, dataset: Dataset, model: Model,
            registry: Registry | None = None) -> list[Issue]:
    """Every difference between the page's statements and the dataset (one of the model's),
    in page order, then the flows the page does not mention. With the registry, also what
    the page says against it: a program exception on a port the program does not serve,
    a port called by what the registry registers for another port."""
    differences: list[Issue] = []
    explained_flows: set[str] = set()
    seen: set[tuple] = set()
    statements = stated.ports
    later = later_revision(stated.page, dataset)
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
        new = f", new on the page ({_revisions(stated.page, dataset)})" if later else ""
        differences.append(difference(
            "P301", shown, statement.line, statement.column,
            f"page states {what} ({statement.words!r}){new} but no flow of {dataset.id} has it and no erratum records it"
            f"{_close_ports(statement, dataset)}"))
    for name in stated.names:
        differences.extend(_compare_name(name, shown, dataset))
    if later:
        differences.extend(_fixed_upstream(stated, shown, dataset, model.flow_by_id))
    if registry is not None:
        sentences = page_sentences(stated)
        differences.extend(dict.fromkeys(  # a list item's name is read with its whole text too
            _program_ports(sentences, shown, dataset, model.flow_by_id, registry)
            + _described_ports(sentences, shown, dataset, model.flow_by_id, registry)))
    differences.sort(key=lambda item: (item.line, item.column, item.code))
    differences.extend(_unmentioned_flows(statements, shown, dataset, explained_flows))
    return differences


def _fixed_upstream(stated: PageStatements, shown: str, dataset: Dataset, flows: dict[str, Flow]) -> list[Issue]:
    """The errata whose published value this later page no longer states, where it states
    the value the data holds instead: the vendor has fixed them."""
    fixed = []
    for erratum in dataset.errata:
        flow = flows.get(erratum.flow)
        if flow is None:
            continue
        if erratum.field == "port":
            published = stated_range(erratum.published)
            if published is None or any(s.ports == published and _fits(s.transport, flow.transport) for s in stated.ports):
                continue
            now = [s for s in stated.ports if s.ports is not None and _port_fits(s, flow)]
            value = str(flow.ports)
        elif erratum.field in ("program", "rule") and flow.value(erratum.field):
            names = [n for n in stated.names if n.kind == erratum.field]
            if any(n.name.casefold() == erratum.published.casefold() for n in names):
                continue
            now = [n for n in names if n.name.casefold() == flow.value(erratum.field).casefold()]
            value = flow.value(erratum.field)
        else:
            continue
        if now:
            first = min(now, key=lambda s: (s.line, s.column))
            fixed.append(difference(
                "P307", shown, first.line, first.column,
                f"{erratum.id} fixed by the vendor: the page now gives {value} where it gave {erratum.published} "
                f"({_revisions(stated.page, dataset)}); the erratum can be retired"))
    return fixed


def _corrected_text(erratum: Erratum, dataset: Dataset) -> str:
    """What the data holds for an erratum's published value, naming the errata that
    correct its corrected value again (a spelling fixed, then the value itself)."""
    later = [e for e in dataset.errata if e.flow == erratum.flow and e.field == erratum.field
             and e.published.casefold() == erratum.corrected.casefold() and e is not erratum]
    if not later:
        return f"which the data holds as {erratum.corrected!r}"
    again = ", ".join(f"erratum {e.id} corrects that to {e.corrected!r}" if e.corrected
                      else f"erratum {e.id} removes that" for e in later)
    return f"corrected to {erratum.corrected!r}; {again}"


def _compare_name(name: NameStatement, shown: str, dataset: Dataset) -> list[Issue]:
    wanted = name.name.casefold()
    if any(flow.value(name.kind).casefold() == wanted for flow in dataset.flows):
        return []
    errata = [e for e in dataset.errata if e.field == name.kind and e.published.casefold() == wanted]
    if errata:
        return [difference("P304", shown, name.line, name.column,
                           f"page names {name.kind} {name.name!r}; erratum {e.id} records it as the published {name.kind} "
                           f"of flow {e.flow}, {_corrected_text(e, dataset)}") for e in errata]
    known = sorted({flow.value(name.kind) for flow in dataset.flows if flow.value(name.kind)})
    close = difflib.get_close_matches(name.name, known, n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return [difference("P302", shown, name.line, name.column,
                       f"page names {name.kind} {name.name!r} but no flow of {dataset.id} has it and no erratum records it{hint}")]


def _spellings(name: str, dataset: Dataset) -> dict[str, Erratum | None]:
    """The page's program name and every name the dataset's program errata correct it to,
    in order, each with the erratum that gave it (None for the page's own)."""
    found: dict[str, Erratum | None] = {name.casefold(): None}
    grown = True
    while grown:
        grown = False
        for erratum in dataset.errata:
            corrected = erratum.corrected.casefold()
            if erratum.field == "program" and erratum.published.casefold() in found and corrected and corrected not in found:
                found[corrected] = erratum
                grown = True
    return found


def _registered_program(name: str, dataset: Dataset, registry: Registry) -> tuple[Program | None, str]:
    """The program of the programs registry the page means, and how it was read: by its
    name, through an erratum's correction of the name, or as the closest spelling."""
    for spelling, erratum in _spellings(name, dataset).items():
        if spelling in registry.programs:
            program = registry.programs[spelling]
            return program, "" if erratum is None else f" (read as {program.name}, the spelling {erratum.id} corrects it to)"
    close = difflib.get_close_matches(name.casefold(), list(registry.programs), n=1, cutoff=SPELLING_CUTOFF)
    if close:
        program = registry.programs[close[0]]
        return program, f" (read as {program.name}, the registered program spelt closest)"
    return None, ""


def _serving(port: PortStatement, program: Program, registry: Registry) -> bool:
    # A statement that gives no transport may mean either.
    return program_serves(program, port.transport or ANY, port.ports, port.dynamic, registry)


def _program_ports(sentences: list[Sentence], shown: str, dataset: Dataset, flows: dict[str, Flow],
                   registry: Registry) -> list[Issue]:
    """A program exception the page opens on a port that the programs registry does not give
    the program (as C217 reads the data): explained (P304) by an erratum of the program of a
    flow on that port whose corrected value is no program, or one that serves the port;
    otherwise P308. The message names a program the page's text gives the port to instead."""
    if not registry.programs:
        return []
    called = PhraseIndex(programs_called(registry))
    found = []
    for sentence in sentences:
        for name in sentence.programs:
            program, read_as = _registered_program(name.name, dataset, registry)
            if program is None:
                continue
            spellings = _spellings(name.name, dataset)
            for port in sentence.ports:
                if port.ports is None or _serving(port, program, registry):
                    continue
                givers = [f"; the page's text gives it to {words!r} ({other.name})"
                          for words, other in called.find(sentence.text.text)
                          if other is not program and _serving(port, other, registry)]
                said = (f"page opens {port.label} ({port.words!r}) as an exception for {name.name}{read_as}, "
                        f"which the programs registry lists as {without_notes(program.description)}, serving "
                        f"{served_text(program, registry)}, not {port.label}{givers[0] if givers else ''}")
                errata = [erratum for erratum in dataset.errata
                          if erratum.field == "program" and erratum.published.casefold() in spellings
                          and erratum.flow in flows and _port_fits(port, flows[erratum.flow])
                          and (not erratum.corrected or erratum.corrected.casefold() not in registry.programs
                               or _serving(port, registry.programs[erratum.corrected.casefold()], registry))]
                if not errata:
                    found.append(difference("P308", shown, port.line, port.column,
                                            f"{said}; no erratum of {dataset.id} records the program of a flow on {port.label}"))
                for erratum in errata:
                    holds = f"program {erratum.corrected}" if erratum.corrected else "no program: a port rule"
                    found.append(difference(
                        "P304", shown, port.line, port.column,
                        f"{said}; erratum {erratum.id} records {erratum.published} as the published program of flow "
                        f"{erratum.flow} ({flows[erratum.flow].label}), which the data holds with {holds}"))
    return found


def _spans(text: str, found: list[tuple[str, object]]) -> list[tuple[int, int, str, object]]:
    """(start, end, words, value) of what a phrase index found in the text, in text order."""
    spans, cursor = [], 0
    for words, value in found:
        start = text.find(words, cursor)
        cursor = start + len(words)
        spans.append((start, cursor, words, value))
    return spans


def _described_ports(sentences: list[Sentence], shown: str, dataset: Dataset, flows: dict[str, Flow],
                     registry: Registry) -> list[Issue]:
    """A port the page calls by the registered description or name of another port of the
    product (as C215 and C216 read the data): the name goes with the first port the sentence
    states after it, before the next such name. Explained (P304) by an erratum of the port
    of a flow on that port whose published value holds the page's words and whose corrected
    value is the port the data keeps; otherwise P309."""
    index = product_phrases(registry)
    found = []
    for sentence in sentences:
        named = _spans(sentence.words, index.find(sentence.words))
        for number, (start, end, words, product) in enumerate(named):
            after = sentence.at(end - 1)
            before = sentence.at(named[number + 1][0]) if number + 1 < len(named) else (1 << 62, 0)
            ports = [s for s in sentence.ports if s.ports is not None and after < (s.line, s.column) < before]
            if not ports:
                continue
            port = min(ports, key=lambda s: (s.line, s.column))
            words = " ".join(words.split())
            # The registered ports on the statement's transport, either one where it gives none.
            if product.holds(port.transport or ANY, port.ports.first, port.ports.last):
                continue
            said = f"page calls {port.label} ({port.words!r}) {words!r}, which the registry gives {registration_text(product)}"
            # An erratum of the flow's port that keeps the page's port, recording what the page calls it.
            errata = [erratum for erratum in dataset.errata
                      if erratum.flow in flows and _port_fits(port, flows[erratum.flow])
                      and records_kept_mapping(erratum, words, flows[erratum.flow].ports)]
            if not errata:
                found.append(difference("P309", shown, port.line, port.column,
                                        f"{said}, not {port.label}; did you mean {product.suggestion(replace(port, transport=port.transport or ANY))}? "
                                        f"No erratum of {dataset.id} records it"))
            for erratum in errata:
                found.append(difference(
                    "P304", shown, port.line, port.column,
                    f"{said}; erratum {erratum.id} records {erratum.published!r} as the published port of flow "
                    f"{erratum.flow}, which the data keeps as {erratum.corrected} against the registry's description"))
    return found


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


# --- several pages: where they disagree with each other ---

@dataclass
class ComparedPage:
    """One page of `check --against`, read and compared with its dataset."""

    shown: str
    stated: PageStatements
    dataset: Dataset
    differences: list[Issue]


def _is_pool(statement: PortStatement, dynamic_flows: list[Flow], errata: list[Erratum], flows: dict[str, Flow]) -> bool:
    """A range the page calls dynamic, or one it gives for a flow the data marks as a pool."""
    if statement.ports is None or statement.ports.is_single:
        return False
    if statement.dynamic or DYNAMIC.search(statement.sentence):
        return True
    return any(_port_fits(statement, flow) for flow in dynamic_flows) or any(
        flows[erratum.flow].dynamic for erratum in errata if erratum.flow in flows)


def subjects(page: ComparedPage, flows: dict[str, Flow]) -> dict[tuple[str, str], list[PortStatement]]:
    """What each port statement of the page is about: ("pool", transport) for a dynamic
    pool, ("flow", id) for each flow whose port it gives, as the data holds it or as an
    erratum records the published value."""
    dataset = page.dataset
    dynamic_flows = [flow for flow in dataset.flows if flow.dynamic]
    found: dict[tuple[str, str], list[PortStatement]] = {}
    for statement in page.stated.ports:
        if statement.ports is None:
            continue
        errata = _port_errata(statement, dataset, flows)
        if _is_pool(statement, dynamic_flows, errata, flows):
            found.setdefault(("pool", statement.transport), []).append(statement)
            continue
        about = [flow.id for flow in dataset.flows if _port_fits(statement, flow)] + [erratum.flow for erratum in errata]
        for flow_id in dict.fromkeys(about):
            found.setdefault(("flow", flow_id), []).append(statement)
    return found


def _subject_text(subject: tuple[str, str], flows: dict[str, Flow]) -> str:
    kind, name = subject
    if kind == "pool":
        return f"the dynamic pool{' on ' + name if name else ''}"
    flow = flows[name]
    return f"flow {flow.id}" + (f" ({flow.service})" if flow.service else "")


def _values(statements: list[PortStatement]) -> str:
    return ", ".join(dict.fromkeys(str(s.ports) for s in statements))


def disagreements(pages: list[ComparedPage], model: Model) -> list[tuple[ComparedPage, Issue]]:
    """P306 for every flow or pool that two pages of one dataset give values with none
    in common, located on each of the two pages and naming the other's line."""
    flows = model.flow_by_id
    found = []
    about = [subjects(page, flows) for page in pages]
    for first in range(len(pages)):
        for second in range(first + 1, len(pages)):
            a, b = pages[first], pages[second]
            if a.dataset.id != b.dataset.id or _normal(a.stated.page.title) == _normal(b.stated.page.title):
                continue  # other products, or two revisions of one page
            for subject, stated_a in about[first].items():
                stated_b = [s for key, found_b in about[second].items() for s in found_b
                            if key == subject or (subject[0] == key[0] == "pool" and "" in (subject[1], key[1]))]
                if not stated_b or {s.ports for s in stated_a} & {s.ports for s in stated_b}:
                    continue
                what = _subject_text(subject, flows)
                here_a = min(stated_a, key=lambda s: (s.line, s.column))
                here_b = min(stated_b, key=lambda s: (s.line, s.column))
                for page, here, values, other, there, theirs in (
                        (a, here_a, _values(stated_a), b, here_b, _values(stated_b)),
                        (b, here_b, _values(stated_b), a, here_a, _values(stated_a))):
                    found.append((page, difference(
                        "P306", page.shown, here.line, here.column,
                        f"pages disagree on {what}: this page gives {values} ({here.words!r}), "
                        f"{other.shown}:{there.line}:{there.column} gives {theirs}")))
    return found


PAGE_SUFFIXES = (".md", ".html")  # what a folder given to --against holds pages as


def page_paths(given: list[Path]) -> tuple[list[Path], list[str]]:
    """The pages named, each folder replaced by its .md and .html files in name order;
    and a located error for each folder that holds none."""
    paths, errors = [], []
    for path in given:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in PAGE_SUFFIXES and p.is_file())
            if not inside:
                errors.append(f"{display_path(path)}:0:0: no page ({', '.join(PAGE_SUFFIXES)}) in this folder")
            paths.extend(inside)
        else:
            paths.append(path)
    return list(dict.fromkeys(paths)), errors


def render_report(differences: list[Issue], shown: str, dataset: Dataset, stated: PageStatements) -> str:
    lines = [item.format() for item in differences]
    unexplained = sum(not item.explained for item in differences)
    statements = len(stated.ports) + len(stated.names)
    revisions = f" ({_revisions(stated.page, dataset)})" if dataset.source.revision and _same_page(stated.page, dataset) else ""
    lines.append(f"{shown} against {dataset.id}{revisions}: {statements} statement(s), {len(dataset.flows)} flow(s); "
                 f"{unexplained} unexplained, {len(differences) - unexplained} explained difference(s)")
    return "\n".join(lines) + "\n"


def _page_payload(page: ComparedPage) -> dict:
    unexplained = sum(not item.explained for item in page.differences)
    return {
        "page": page.shown,
        "dataset": page.dataset.id,
        "revision": page.stated.page.revision,
        "data_revision": page.dataset.source.revision,
        "statements": len(page.stated.ports) + len(page.stated.names),
        "unexplained": unexplained,
        "explained": len(page.differences) - unexplained,
        "differences": [item.to_dict() | {"explained": item.explained} for item in page.differences],
    }


def run_against(checked: Checked, given: list[Path], wanted: str | None, fmt: str, strict: bool = False) -> int:
    """Compare each page with the checked data, and the pages with each other; the exit
    code of `check --against` (with --strict, warnings about the data fail it too)."""
    if not checked.ok:
        # The data's own issues, in the format asked for, as `check` gives them.
        if fmt == "json":
            sys.stdout.write(render_json(checked.issues))
        else:
            sys.stderr.write(render_text(checked.issues))
        return 1
    paths, errors = page_paths(given)
    pages: list[ComparedPage] = []
    for path in paths:
        text, error = read_page(path)
        if text is None:
            errors.append(error)
            continue
        stated = read_statements(parse_any(text, path))
        dataset, problem = pick_dataset(checked.model.datasets, stated.page.title, wanted)
        shown = printable(display_path(path))
        if dataset is None:
            print(f"error: {shown}: {printable(problem)}", file=sys.stderr)
            return 2
        pages.append(ComparedPage(shown, stated, dataset, compare(stated, shown, dataset, checked.model, checked.registry)))
    if errors:
        for error in errors:
            print(printable(error), file=sys.stderr)
        return 1
    for page, disagreement in disagreements(pages, checked.model):
        page.differences.append(disagreement)
    for page in pages:
        page.differences.sort(key=lambda item: (item.file != page.shown, item.line, item.column, item.code))
    unexplained = sum(not item.explained for page in pages for item in page.differences)
    if fmt == "json":
        if len(pages) == 1:
            payload = _page_payload(pages[0])
        else:
            payloads = [_page_payload(page) for page in pages]
            payload = {"pages": payloads, "unexplained": unexplained,
                       "explained": sum(p["explained"] for p in payloads)}
        payload["data_issues"] = [item.to_dict() for item in checked.issues]
        sys.stdout.write(json_text(payload))
    else:
        if checked.issues:
            sys.stderr.write(render_text(checked.issues))
        for page in pages:
            sys.stdout.write(render_report(page.differences, page.shown, page.dataset, page.stated))
    return 1 if unexplained or (strict and checked.issues) else 0
