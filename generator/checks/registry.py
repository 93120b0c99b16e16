"""Checks against the service registry: a named service's registered ports."""
from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterator

import pandas as pd

from ..issues import Issue, did_you_mean, issue
from ..model import ANY, Erratum, Flow, Model, PortRange, transports_of
from ..portscan import stated_range
from ..registry import Registry
from ..schema import among
from .registration import check
from .text import FREE_TEXT_COLUMNS, PhraseIndex, Screened, named_phrase, without_notes

# The free-text columns that describe a flow in the data's own words.
DESCRIBING_COLUMNS = ("purpose", "condition", "assumption")


def _ranges_text(ranges: list[tuple[str, PortRange]]) -> str:
    return ", ".join(f"{ports}/{transport}" for transport, ports in ranges)


def _close_port(port: int, candidates: list[int]) -> int | None:
    """A registered port that looks like a typo of `port`: one digit changed, added,
    dropped or two swapped, or within 10."""
    text = str(port)
    best = None
    for candidate in candidates:
        other = str(candidate)
        ratio = difflib.SequenceMatcher(None, text, other).ratio()
        if ratio >= 0.75 or abs(candidate - port) <= 10:
            if best is None or abs(candidate - port) < abs(best - port):
                best = candidate
    return best


def held_by_registered(asked: pd.DataFrame, registered: pd.DataFrame, key: str) -> pd.DataFrame:
    """The rows of `asked` whose ports, columns "transport", "first" and "last", a range of
    `registered` with the same `key` holds: a range (columns "on", "low", "high") on the
    row's transport, on either for ANY. Each held row once; for many rows at once what
    _ProductService.holds says of one."""
    either = asked["transport"].eq(ANY)
    by_transport = pd.concat([asked[~either].assign(on=asked.loc[~either, "transport"]),
                              *(asked[either].assign(on=on) for on in transports_of(ANY))])
    pairs = by_transport.merge(registered, on=[key, "on"])
    inside = (pairs["low"].le(pairs["first"]) & pairs["first"].le(pairs["high"])
              & pairs["low"].le(pairs["last"]) & pairs["last"].le(pairs["high"]))
    return pairs.loc[inside, list(asked.columns)].drop_duplicates()


@check("C201")
def registry_mismatch(model: Model, registry: Registry) -> Iterator[Issue]:
    """A row that names a registered service must use a port and transport registered for it.
    A near miss such as 1443/tcp for ms-sql-s (1433/tcp) gets a "did you mean"."""
    for dataset in model.datasets:
        frame = dataset.frame
        numbered = frame["service"].ne("") & frame["first"].notna() & frame["dynamic"].eq("")
        named = frame.loc[numbered, ["service", "transport", "first", "last"]]
        services = [service for service in named["service"].unique() if registry.knows(service)]
        named = named[among(named["service"], services)].reset_index()
        registered = pd.DataFrame(
            [(service, transport, ports.first, ports.last)
             for service in services for transport in transports_of(ANY) for ports in registry.ports(service, transport)],
            columns=["service", "on", "low", "high"])
        held = held_by_registered(named, registered, "service")["line"]
        unregistered = named.loc[~named["line"].isin(held), "line"]
        for flow in dataset.flows_at(unregistered.tolist()):
            ports = flow.ports
            transports = transports_of(flow.transport)
            entries = registry.all_ports(flow.service)
            same_transport = [r.first for t, r in entries if t in transports and r.is_single]
            close = _close_port(ports.first, same_transport) if ports.is_single else None
            hint = f"; did you mean {close}/{flow.transport}?" if close is not None else ""
            yield issue(
                "C201", flow.where("port"),
                f"{flow.id}: service {flow.service} is registered as {_ranges_text(entries)}, not {flow.label}{hint}",
                "port",
            )


@check("C202")
def unknown_service(model: Model, registry: Registry) -> Iterator[Issue]:
    """A service name that no registry knows is probably misspelt (or belongs in the vendor registry)."""
    for dataset in model.datasets:
        services = dataset.frame["service"]
        unknown = [service for service in services.unique() if service and not registry.knows(service)]
        # One suggestion per distinct name, from the registry's index of names.
        hints = {service: did_you_mean(service, registry.names, cutoff=0.8)
                 or "; add it to the vendor registry if it is a vendor port" for service in unknown}
        for flow in dataset.flows_at(services.index[among(services, unknown)].tolist()) if unknown else ():
            hint = hints[flow.service]
            yield issue("C202", flow.where("service"), f"{flow.id}: service {flow.service!r} is not in the registry{hint}", "service")


@dataclass
class _ProductService:
    """A registered service of the product, as free text may name it."""

    service: str
    description: str
    ports: list[tuple[str, PortRange]] = field(default_factory=list)

    def holds(self, transport: str, first: int, last: int) -> bool:
        """Whether ports first to last on the transport are among the service's registered
        ones (held_by_registered asks the same of many rows at once)."""
        transports = transports_of(transport)
        return any(on in transports and first in ports and last in ports for on, ports in self.ports)

    def suggestion(self, flow: Flow) -> str:
        """The registered port to suggest: on the flow's transport where there is one."""
        same = [(t, r) for t, r in sorted(self.ports) if flow.transport in (ANY, t)]
        transport, ports = (same or sorted(self.ports))[0]
        return f"{ports}/{transport}"


def _product_services(registry: Registry) -> dict[str, _ProductService]:
    """The product's services by every phrase or name that free text may call them: the
    vendor registry's entries, and public entries whose description carries a vendor
    word (the first word of a vendor entry's description, such as "DPM")."""
    vendor_words = {entry.description.split()[0].lower() for entry in registry.described if entry.vendor}
    by_service: dict[str, _ProductService] = {}
    for entry in registry.described:
        if entry.vendor or vendor_words & set(entry.description.lower().split()):
            product = by_service.setdefault(entry.service, _ProductService(entry.service, entry.description))
            if (entry.transport, entry.ports) not in product.ports:
                product.ports.append((entry.transport, entry.ports))
    names: dict[str, _ProductService] = {}
    for product in by_service.values():
        # A vendor word alone ("dpm") names the product, not one of its services.
        if product.service not in vendor_words:
            names[product.service] = product
    for entry in registry.described:
        product = by_service.get(entry.service)
        phrase = named_phrase(entry.description, vendor_words) if product else ""
        if phrase:
            names.setdefault(phrase, product)
    return names


def _mentions_number(texts: list[str], port: int) -> bool:
    pattern = re.compile(rf"(?<![\w.])0*{port}(?!\w|\.[0-9])")
    return any(pattern.search(text) for text in texts)


def records_kept_mapping(erratum: Erratum, words: str, kept: PortRange | None) -> bool:
    """Whether `erratum`, of a flow's port, records that the data keeps port `kept` where
    the text calls it `words`, another port's registered description (E5 of the DPM data)."""
    return (erratum.field == "port" and " ".join(words.lower().split()) in " ".join(erratum.published.lower().split())
            and stated_range(erratum.corrected) == kept)


def _may_name_elsewhere(screened: Screened, frame: pd.DataFrame, registered: pd.DataFrame) -> pd.Index:
    """The labels of the texts that may name a service whose registered ports do not hold
    their row's (as _ProductService.holds): most texts name only the row's own service,
    and are ruled out here, by merges, before `find` reads any. A pair is ruled out only
    where `holds` would say the same."""
    pairs = screened.pairs.merge(frame[["transport", "first", "last"]], left_on="label", right_index=True)
    held = held_by_registered(pairs, registered, "value")
    unheld = pairs.merge(held[["label", "value"]], on=["label", "value"], how="left", indicator=True)
    return pd.Index(unheld.loc[unheld["_merge"].eq("left_only"), "label"].unique()).union(screened.unread)


def _scan_registered_elsewhere(model: Model, registry: Registry) -> Iterator[tuple[Flow, str, str, _ProductService]]:
    """(flow, column, words, service) where a describing column of the flow calls it by
    the registered description or name of another port of the product, unless the row's
    text gives that port (a row may note the registry's mapping) or an erratum of the
    flow's port records the words and keeps the row's port: where the data keeps a page's
    mapping against the registry's, the erratum is the record of it, whatever the free
    text around it says."""
    names = _product_services(registry)
    if not names:
        return
    index = PhraseIndex(names)
    # Every registered range of every service, by the service's number in index.values.
    registered = pd.DataFrame([(number, on, ports.first, ports.last) for number, product in enumerate(index.values)
                               for on, ports in product.ports], columns=["value", "on", "low", "high"])
    for dataset in model.datasets:
        frame = dataset.frame
        port_errata: dict[str, list[Erratum]] = defaultdict(list)  # flow id -> the errata of its port
        for erratum in dataset.errata:
            if erratum.field == "port":
                port_errata[erratum.flow].append(erratum)
        # The describing columns' texts one below the other, each with its row's ports, so
        # that one screen and one set of merges serve the three columns.
        stacked = pd.concat([frame.loc[frame[column].ne("") & frame["first"].notna(), [column, "transport", "first", "last"]]
                             .rename(columns={column: "text"}).assign(column=column) for column in DESCRIBING_COLUMNS])
        lines, columns = stacked.index.tolist(), stacked["column"].tolist()
        stacked = stacked.reset_index(drop=True)
        texts = stacked["text"]
        texts = texts.loc[_may_name_elsewhere(index.may_name(texts), stacked, registered)]
        # Rows repeat their texts: each distinct one is read once.
        phrases = {text: index.find(text) for text in texts.unique().tolist()}
        found: dict[int, list[tuple[str, str, _ProductService]]] = defaultdict(list)
        for at, text in texts.items():
            if phrases[text]:
                found[lines[at]].extend((columns[at], words, product) for words, product in phrases[text])
        # Most rows name their own service: those are ruled out before any Flow is made.
        stated = frame.loc[list(found), ["transport", "first", "last"]]
        elsewhere: dict[int, list[tuple[str, str, _ProductService]]] = {}
        for line, transport, first, last in zip(stated.index, stated["transport"], stated["first"], stated["last"]):
            others = [(column, words, product) for column, words, product in found[line]
                      if not product.holds(transport, first, last)]
            if others:
                elsewhere[line] = others
        for flow in dataset.flows_at(list(elsewhere)):
            row_text = [flow.value(column) for column in FREE_TEXT_COLUMNS]
            for column, words, product in elsewhere[flow.line]:
                recorded = any(records_kept_mapping(erratum, words, flow.ports) for erratum in port_errata.get(flow.id, ()))
                if not recorded and not any(_mentions_number(row_text, ports.first) for _, ports in product.ports):
                    yield flow, column, words, product


@check("C215", "C216")
def registry_description(model: Model, registry: Registry) -> Iterator[Issue]:
    """A row that calls its port by what the registry registers for another port of the
    product (5718 "the agent coordinator", registered as 5719's description) has one of
    the two wrong. C215, an error, where the row names a service of the same product
    whose registered description does not hold those words; C216, a warning, where the
    row names no service, since its text may speak of the other port in passing. One
    reading of the rows' text serves both."""
    own: dict[str, list[str]] = defaultdict(list)  # service -> its registered descriptions, lower-cased
    for entry in registry.described:
        own[entry.service].append(entry.description.lower())
    for flow, column, words, product in _scan_registered_elsewhere(model, registry):
        if not flow.service:
            yield _description_issue("C216", flow, column, words, product)
            continue
        descriptions = own.get(flow.service, [])
        # Only within one product (a row naming another product's service may mention this
        # one in passing), and not where the row's own service is registered by the same words.
        same_product = any(text.split()[:1] == product.description.lower().split()[:1] for text in descriptions)
        if same_product and not any(words.lower() in text for text in descriptions):
            yield _description_issue("C215", flow, column, words, product)


def _description_issue(code: str, flow: Flow, column: str, words: str, product: _ProductService) -> Issue:
    registered = _ranges_text(sorted(product.ports))
    return issue(
        code, flow.where(column),
        f"{flow.id}: {column} says {words!r}, which the registry gives {registered} "
        f"({product.service}: {without_notes(product.description)}), not {flow.label}; did you mean {product.suggestion(flow)}?",
        column,
    )


def product_phrases(registry: Registry) -> PhraseIndex[_ProductService]:
    """What C215 and C216 read free text for, for text outside the data (a published
    page): the phrases and names of the product's registered ports, each giving its service."""
    return PhraseIndex(_product_services(registry))


def registration_text(product: _ProductService) -> str:
    """What the registry registers for a service of the product, as C215 says it."""
    return f"{_ranges_text(sorted(product.ports))} ({product.service}: {without_notes(product.description)})"
