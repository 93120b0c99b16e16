"""Checks on the programs firewall rules are bound to."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from ..issues import Issue, Suggestions, issue, out_of_reach
from ..model import Flow, Model, PortRange, transports_of
from ..registry import DYNAMIC_PORTS, EVERY_PORT, Program, Registry
from .registration import all_flows, check, flows_at
from .text import FREE_TEXT_COLUMNS, PhraseIndex, named_phrase, without_notes

# The difflib ratio from which two program names are one name spelt two ways.
SPELLING_CUTOFF = 0.9


@check("C205")
def program_spelling(model: Model, registry: Registry) -> Iterator[Issue]:
    """Program names that differ by a letter or two (sqservr.exe and sqlservr.exe) are one program spelt two ways."""
    flows = all_flows(model)
    if flows.empty:
        return
    named = flows[flows["program"].ne("")].reset_index()
    counts = named["program"].value_counts()
    # The first row of each program, in data order: datasets in order, rows in order.
    first_use = named.drop_duplicates("program").set_index("program")
    names = first_use.index.tolist()
    order = {name: index for index, name in enumerate(names)}
    # Spellings of one lower-cased name, and an index of the lower-cased names, so that
    # each name is compared with a bounded set of near spellings, not with every other.
    spellings: dict[str, list[str]] = defaultdict(list)
    for name in names:
        spellings[name.lower()].append(name)
    # Names no other may reach (most, where names are many) are ruled out for all at once:
    # `similar` would give them nothing but their own spellings, which `spellings` holds.
    alone = out_of_reach(names, SPELLING_CUTOFF)
    index = Suggestions(name for name in names if name.lower() not in alone)
    reported: set[str] = set()
    for name in names:
        near = [] if name.lower() in alone else [
            spelling for key in index.similar(name, SPELLING_CUTOFF) for spelling in spellings[key]]
        earlier = sorted((other for other in dict.fromkeys(spellings[name.lower()] + near)
                          if order[other] < order[name]), key=order.__getitem__)
        for other in earlier:
            # Report the rarer spelling: it is more likely the typo.
            rare, common = (name, other) if counts[name] <= counts[other] else (other, name)
            if name in reported or rare in reported:
                continue
            reported.add(rare)
            (flow,) = flows_at(model, [first_use.at[rare, "dataset"]], [first_use.at[rare, "line"]])
            yield issue(
                "C205", flow.where("program"),
                f"{flow.id}: program {rare!r} looks like {common!r} used elsewhere; spell it one way",
                "program",
            )


def _serves(program: Program, flow: Flow, registry: Registry) -> bool:
    return program_serves(program, flow.transport, flow.ports, bool(flow.dynamic), registry)


def program_serves(program: Program, transport: str, ports: PortRange | None, dynamic: bool, registry: Registry) -> bool:
    """Whether the ports (on the transport, either one for ANY) are among those the
    program's services are registered on (a dynamic pool where the program serves one;
    every port for an exception on all)."""
    if EVERY_PORT in program.services or (dynamic and DYNAMIC_PORTS in program.services):
        return True
    if ports is None:
        return False
    return any(ports.first in registered and ports.last in registered
               for service in program.services for on in transports_of(transport)
               for registered in registry.ports(service, on))


def programs_called(registry: Registry) -> dict[str, Program]:
    """The programs of the registry by what free text calls them: their file name, or the
    words of their description ("report server")."""
    called = {program.name.lower(): program for program in registry.programs.values()}
    called.update({phrase: program for program in registry.programs.values()
                   if (phrase := named_phrase(program.description))})
    return called


def served_text(program: Program, registry: Registry) -> str:
    served = [f"{service} ({', '.join(f'{r}/{t}' for t, r in registry.all_ports(service)) or 'unregistered'})"
              if service != DYNAMIC_PORTS else "a dynamic pool" for service in program.services]
    return ", ".join(served) or "no service"


@check("C217")
def program_port(model: Model, registry: Registry) -> Iterator[Issue]:
    """A rule bound to a program opens ports that program serves, as the programs registry
    shipped with the data says (a row naming one of the program's services has its port
    checked against that service instead); where the row's own text gives the port to another
    program of the registry ("the report server listens on port 80"), the message names it."""
    if not registry.programs:
        return
    # The programs as the data's text calls them: by name, or by their description's words.
    called = programs_called(registry)
    index = PhraseIndex(called)
    for dataset in model.datasets:
        frame = dataset.frame
        bound = frame["program"].str.lower().isin(list(registry.programs)) & frame["first"].notna()
        for flow in dataset.flows_at(frame.index[bound].tolist()):
            program = registry.programs[flow.program.lower()]
            # A row naming one of the program's services leaves its port to C201.
            if flow.service.lower() in program.services or _serves(program, flow, registry):
                continue
            others = [(column, words, other)
                      for column in FREE_TEXT_COLUMNS for words, other in index.find(flow.value(column))]
            givers = [f"; the row's {column} gives it to {words!r} ({other.name})"
                      for column, words, other in others if other is not program and _serves(other, flow, registry)]
            yield issue(
                "C217", flow.where("program"),
                f"{flow.id}: {flow.program} ({without_notes(program.description)}) serves "
                f"{served_text(program, registry)}, not {flow.label}{givers[0] if givers else ''}",
                "program",
            )
