"""Directives and roles that put the data on pages. Every one of them builds
nodes from the model; none writes reStructuredText to be parsed again, so text
from the data can never turn into markup.

Each directive takes what it shows from a reader (see .reads): a function of the
data and the directive's arguments returning plain values, recorded for the page
so that the next build reads the page again only when those values change.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.ext.graphviz import graphviz
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole
from sphinx.util.osutil import relative_uri

from .. import checks, issues, schema
from ..model import Model
from ..urls import safe_url
from ..views import INBOUND, OUTBOUND, RequestLine, flow_anchor, role_lines
from .data import model_of
from .history import role_changed, rows_changed
from .pages import output_links, role_outputs
from .reads import read, reader
from .search import port_index, port_labels, way_anchor
from .table import (COLUMNS, FLOW_COLUMNS, LINE_COLUMNS, REFERENCE_DOC, dataset_doc, docutils_table, line_key,
                    make_port_table, role_doc, shown_cells)

logger = logging.getLogger(__name__)


FLOW_XREF = "portbook-flow"  # reftype of links to a flow's row; see resolve_flow_reference


def flow_link(flow_id: str, docname: str, text: str | None = None) -> addnodes.pending_xref:
    """A link to a flow's row on the reference page, showing `text` (the id by default)."""
    return addnodes.pending_xref(
        "", nodes.literal("", text if text is not None else flow_id),
        refdomain="", reftype=FLOW_XREF, reftarget=flow_id, refdoc=docname, refexplicit=True,
    )


def resolve_flow_reference(app, env, node: addnodes.pending_xref, contnode: nodes.Element) -> nodes.reference | None:
    """missing-reference handler: point flow links at the stable anchor on the reference
    page, relative to the page being written, for every builder."""
    if node.get("reftype") != FLOW_XREF:
        return None
    uri = app.builder.get_relative_uri(node["refdoc"], REFERENCE_DOC)
    return nodes.reference("", "", contnode, internal=True, refuri=f"{uri}#{flow_anchor(node['reftarget'])}", classes=["portbook-flow"])


def role_link(model: Model, role_id: str, docname: str) -> nodes.Node:
    name = model.role_name(role_id)
    if role_id not in model.role_by_id:
        return nodes.Text(name)
    return addnodes.pending_xref(
        "", nodes.inline("", name), refdomain="std", reftype="doc", reftarget="/" + role_doc(role_id),
        refexplicit=True, refwarn=True, refdoc=docname,
    )


def _list(argument: str | None) -> list[str]:
    return [part.strip() for part in (argument or "").split(",") if part.strip()]


def literal_data(result: list[nodes.Node]) -> list[nodes.Node]:
    """Keep data text as written: no smart quotes or dashes inside these nodes."""
    for node in result:
        if isinstance(node, nodes.Element):
            node["support_smartquotes"] = False
    return result


class DataDirective(SphinxDirective):
    """Base of the directives that show data. Subclasses implement `make`, taking the
    data through `read` so that the page is read again exactly when it changes."""

    def run(self) -> list[nodes.Node]:
        return literal_data(self.make())

    @property
    def model(self) -> Model:
        return model_of(self.config)

    def read(self, function, *arguments):
        return read(self.env, function, *arguments)

    def given_options(self) -> tuple[tuple[str, str], ...]:
        """The directive's options as reader arguments (a flag gives "")."""
        return tuple(sorted((name, str(value) if value is not None else "") for name, value in self.options.items()))

    def warn(self, message: str) -> None:
        logger.warning(message, location=self.get_location(), type="portbook", subtype="directive")

    def section(self, title: str, key: str) -> nodes.section:
        section = nodes.section(ids=[nodes.make_id(key)], names=[nodes.fully_normalize_name(title)])
        section += nodes.title("", title)
        self.set_source_info(section)
        return section


FILTERS = ("role", "source", "destination", "transport", "service", "dataset")


@dataclass(frozen=True)
class FlowTable:
    warnings: list[str]
    columns: list[str]
    anchors: bool
    index: list[tuple[str, str, str]]  # (ports, label, anchor) of the index entries, when the rows have anchors
    flows: list[str]  # ids of the chosen flows, in data order
    cells: str  # shown_cells of those flows


@reader
def flow_table(env, options: tuple[tuple[str, str], ...]) -> FlowTable:
    model = model_of(env.config)
    given = dict(options)
    wanted = {name: set(_list(given.get(name))) for name in FILTERS}
    warnings = []
    for name in ("role", "source", "destination"):
        for value in sorted(wanted[name] - set(model.role_by_id)):
            warnings.append(f"port-table: unknown role {value!r} in :{name}:")
    for value in sorted(wanted["dataset"] - set(model.dataset_by_id)):
        warnings.append(f"port-table: unknown dataset {value!r} in :dataset:")
    columns = _list(given.get("columns")) or list(FLOW_COLUMNS)
    bad = [name for name in columns if name not in COLUMNS or COLUMNS[name].lines_only]
    if bad:
        usable = ", ".join(name for name, column in COLUMNS.items() if not column.lines_only)
        warnings.append(f"port-table: unknown column(s) {', '.join(map(repr, bad))}; use {usable}")
        columns = [name for name in columns if name not in bad] or list(FLOW_COLUMNS)

    def keep(flow) -> bool:
        return (
            (not wanted["role"] or any(flow.touches(role) for role in wanted["role"]))
            and (not wanted["source"] or flow.source in wanted["source"])
            and (not wanted["destination"] or flow.destination in wanted["destination"])
            and (not wanted["transport"] or flow.transport in wanted["transport"])
            and (not wanted["service"] or flow.service in wanted["service"])
            and (not wanted["dataset"] or flow.dataset in wanted["dataset"])
        )

    flows = [flow for flow in model.flows if keep(flow)]
    anchors = "anchors" in given
    index = []
    if anchors:
        # One index entry per port label, at the first flow that shows it: the general
        # index lists the ports and the search finds them (see .search). One per flow
        # would make the index as long as the data.
        first: dict[tuple[str, str], str] = {}
        for flow in flows:
            if flow.ports is not None:
                first.setdefault((flow.port_text, flow.label), flow.id)
        index = [(ports, label, flow_anchor(flow_id)) for (ports, label), flow_id in first.items()]
    rows = [(flow, None) for flow in flows]
    return FlowTable(warnings, columns, anchors, index, [flow.id for flow in flows], shown_cells(model, rows, columns))


@reader(data_only=False)
def table_changed(env, options: tuple[tuple[str, str], ...]) -> str:
    """When the rows of a port-table with `options` last changed (from git, so not from the data only)."""
    flows = model_of(env.config).flow_by_id
    return rows_changed(env, [flows[flow_id] for flow_id in flow_table(env, options).flows], [])


def changed_note(text: str) -> nodes.paragraph:
    return nodes.paragraph("", text, classes=["portbook-changed"])


class PortTable(DataDirective):
    """``.. port-table::`` lists flows, filtered by role, source, destination, transport,
    service and dataset (each option takes a comma-separated list), showing `:columns:`.
    `:anchors:` gives each row its flow's stable anchor (the reference page uses it)."""

    option_spec = {
        **{name: directives.unchanged for name in FILTERS},
        "columns": directives.unchanged,
        "anchors": directives.flag,
    }

    def make(self) -> list[nodes.Node]:
        table = self.read(flow_table, self.given_options())
        for message in table.warnings:
            self.warn(message)
        if not table.flows:
            return [nodes.paragraph("", "No flow matches.")]
        result: list[nodes.Node] = []
        if table.index:
            result.append(port_index(table.index))
        # The anchored reference table repeats what the role pages hold; its words would
        # only make the search slower to build.
        flows = self.model.flow_by_id
        rows = [(flows[flow_id], None) for flow_id in table.flows]
        result.append(make_port_table(self.model, rows, table.columns, anchors=table.anchors, search=not table.anchors))
        if table.anchors:  # the reference page
            result.insert(0, changed_note(self.read(table_changed, self.given_options())))
        return result


@dataclass(frozen=True)
class RolePageContent:
    name: str
    description: str
    datasets: list[str]  # titles of the datasets the role's lines come from
    hosts: list[tuple[str, str, str]]
    columns: list[str]
    inbound: list[tuple[str, tuple[str, str, str, str]]]  # (flow id, table.line_key) of each inbound line
    outbound: list[tuple[str, tuple[str, str, str, str]]]
    cells: tuple[str, str]  # shown_cells of the inbound and the outbound lines
    ports: tuple[list[tuple[str, str]], list[tuple[str, str]]]  # search.port_labels of the inbound and the outbound lines
    programs: list[str]
    rules: list[str]


@reader
def role_page(env, role_id: str, columns: tuple[str, ...]) -> RolePageContent | None:
    model = model_of(env.config)
    role = model.role_by_id.get(role_id)
    if role is None:
        return None
    lines = role_lines(model, role.id)
    chosen = [name for name in columns if name in COLUMNS] or list(LINE_COLUMNS)
    # A column empty in every row of the page says nothing; it is left out.
    chosen = [name for name in chosen if any(COLUMNS[name].text(model, line.flow, line) for line in lines)]
    ways = {way: [(line.flow, line) for line in lines if line.direction == way] for way in (INBOUND, OUTBOUND)}
    return RolePageContent(
        role.name, role.description,
        [model.dataset_by_id[dataset].title for dataset in sorted({line.flow.dataset for line in lines})],
        [(host.host, host.address, host.note) for host in model.hosts_of_role(role.id)],
        chosen, *([(flow.id, line_key(line)) for flow, line in ways[way]] for way in (INBOUND, OUTBOUND)),
        (shown_cells(model, ways[INBOUND], chosen), shown_cells(model, ways[OUTBOUND], chosen)),
        (port_labels([flow for flow, _ in ways[INBOUND]]), port_labels([flow for flow, _ in ways[OUTBOUND]])),
        sorted({line.flow.program for line in lines if line.flow.program}),
        sorted({line.flow.rule for line in lines if line.flow.rule}),
    )


class RolePage(DataDirective):
    """``.. role-page:: ROLE`` is a whole role page: what to open on hosts of ROLE."""

    required_arguments = 1
    option_spec = {"columns": directives.unchanged}

    def make(self) -> list[nodes.Node]:
        role_id = self.arguments[0]
        role = self.read(role_page, role_id, tuple(_list(self.options.get("columns"))))
        if role is None:
            self.warn(f"role-page: unknown role {role_id!r}")
            return []
        page = self.section(role.name, f"role-{role_id}")
        if role.description:
            page += nodes.paragraph("", role.description)
        intro = nodes.paragraph()
        intro += nodes.Text("Role id ")
        intro += nodes.literal("", role_id)
        intro += nodes.Text(f": {len(role.inbound)} inbound and {len(role.outbound)} outbound lines")
        if role.datasets:
            intro += nodes.Text(" from " + ", ".join(role.datasets))
        intro += nodes.Text(".")
        page += intro
        page += changed_note(self.read(role_changed, role_id))

        part = self.section("Hosts", f"hosts-{role_id}")
        if role.hosts:
            part += docutils_table(["Host", "Address", "Note"], [[nodes.Text(host), nodes.literal("", address), nodes.Text(note)] for host, address, note in role.hosts])
        else:
            part += nodes.paragraph("", "The inventory names no host for this role.")
        page += part

        flows = self.model.flow_by_id
        for way, lines, ports, title, empty in (
            (INBOUND, role.inbound, role.ports[0], "Inbound: open on these hosts", "No other role connects to this role."),
            (OUTBOUND, role.outbound, role.ports[1], "Outbound: allow from these hosts", "This role opens no connection."),
        ):
            part = self.section(title, way_anchor(way, role_id))
            if ports:
                part += port_index([(port, label, part["ids"][0]) for port, label in ports])
            if lines:
                rows = [(flows[flow_id], RequestLine(flows[flow_id], *key)) for flow_id, key in lines]
                part += make_port_table(self.model, rows, role.columns)
            else:
                part += nodes.paragraph("", empty)
            page += part

        part = self.section("Programs and firewall rules", f"programs-{role_id}")
        # One paragraph per kind, as plain text: a role of a large dataset names hundreds.
        for label, values in (("Programs", role.programs), ("Firewall rules", role.rules)):
            if values:
                part += nodes.paragraph("", f"{label}: " + "; ".join(values) + ".")
        if not (role.programs or role.rules):
            part += nodes.paragraph("", "No flow of this role names a program or a firewall rule.")
        page += part

        part = self.section("Downloads", f"downloads-{role_id}")
        links = output_links(self.read(role_outputs, role_id), self.env.current_document.docname)
        if links:
            items = nodes.bullet_list()
            for link in links:
                items += nodes.list_item("", nodes.paragraph("", "", link))
            part += items
        else:
            part += nodes.paragraph("", "No generated file for this role was found when the site was built; run make first.")
        page += part
        return [page]


@dataclass(frozen=True)
class DatasetRoles:
    dataset: str
    title: str
    roles: list[tuple]  # (id, name, description, inbound lines, outbound lines, hosts) of each role


@reader
def role_table(env, datasets: tuple[str, ...]) -> list[DatasetRoles]:
    """The roles of each dataset (of `datasets`, or all), with their numbers of lines and hosts."""
    model = model_of(env.config)
    result = []
    for dataset in model.datasets:
        if datasets and dataset.id not in datasets:
            continue
        rows = []
        for role in dataset.roles:
            lines = role_lines(model, role.id)
            rows.append((role.id, model.role_name(role.id), role.description, sum(l.direction == INBOUND for l in lines),
                         sum(l.direction == OUTBOUND for l in lines), len(model.hosts_of_role(role.id))))
        result.append(DatasetRoles(dataset.id, dataset.title, rows))
    return result


def role_rows(model: Model, roles: list[tuple], docname: str) -> nodes.table:
    rows = [[
        role_link(model, role_id, docname), nodes.literal("", role_id), nodes.Text(description),
        nodes.Text(str(inbound)), nodes.Text(str(outbound)), nodes.Text(str(hosts)),
    ] for role_id, name, description, inbound, outbound, hosts in roles]
    return docutils_table(["Role", "Id", "Description", "Inbound", "Outbound", "Hosts"], rows)


class RoleList(DataDirective):
    """``.. role-list::`` tables the roles of each dataset, with links to their pages; a
    role of two datasets is listed under both."""

    def make(self) -> list[nodes.Node]:
        docname = self.env.current_document.docname
        result: list[nodes.Node] = []
        for group in self.read(role_table, ()):
            part = self.section(group.title, f"roles-of-{group.dataset}")
            link = addnodes.pending_xref("", nodes.inline("", "Roles of this dataset"), refdomain="std", reftype="doc",
                                         reftarget="/" + dataset_doc(group.dataset), refexplicit=True, refwarn=True,
                                         refdoc=docname)
            part += nodes.paragraph("", "", link)
            part += role_rows(self.model, group.roles, docname)
            result.append(part)
        return result


class DatasetRolesPage(DataDirective):
    """``.. dataset-roles:: DATASET`` is the page of one dataset's roles (generated, see .pages).
    Its content (the toctree of the role pages) goes into the page's section."""

    required_arguments = 1
    has_content = True

    def make(self) -> list[nodes.Node]:
        dataset_id = self.arguments[0]
        groups = self.read(role_table, (dataset_id,))
        if not groups:
            self.warn(f"dataset-roles: unknown dataset {dataset_id!r}")
            return []
        group = groups[0]
        page = self.section(group.title, f"dataset-{dataset_id}")
        intro = nodes.paragraph()
        intro += nodes.Text(f"The {len(group.roles)} roles of dataset ")
        intro += nodes.literal("", dataset_id)
        intro += nodes.Text(".")
        page += intro
        page += role_rows(self.model, group.roles, self.env.current_document.docname)
        page += self.parse_content_to_nodes()
        return [page]


@reader
def dataset_table(env) -> tuple[list[tuple], tuple[int, int, int, int]]:
    model = model_of(env.config)
    rows = [(dataset.title, dataset.id, dataset.version, dataset.source.title, dataset.source.url, dataset.source.publisher,
             len(dataset.flows), len(dataset.roles), len(dataset.errata)) for dataset in model.datasets]
    return rows, (len(model.flows), len(model.roles), len(model.errata), len(model.inventory))


class DatasetSummary(DataDirective):
    """``.. dataset-summary::`` tables what each dataset covers. It names each dataset's
    version, not a hash of all the data, so the page changes only when what it says does."""

    def make(self) -> list[nodes.Node]:
        datasets, (flows, roles, errata, hosts) = self.read(dataset_table)
        rows = []
        for title, dataset_id, version, source_title, url, publisher, *counts in datasets:
            source = nodes.inline()
            source += nodes.reference("", source_title, refuri=url) if safe_url(url) else nodes.Text(source_title)
            if url and not safe_url(url):
                # Not a link a reader can follow safely: shown as text, never made live.
                source += nodes.Text(" ")
                source += nodes.literal("", url)
            if publisher:
                source += nodes.Text(f" ({publisher})")
            rows.append([nodes.Text(title), nodes.literal("", dataset_id), nodes.Text(version), source,
                         *(nodes.Text(str(count)) for count in counts)])
        table = docutils_table(["Dataset", "Id", "Version", "Transcribed from", "Flows", "Roles", "Errata"], rows)
        total = nodes.paragraph("", f"In all: {flows} flows between {roles} roles, {errata} corrections of the "
                                    f"published sources, {hosts} inventory hosts.")
        return [table, total]


@reader
def errata_list(env, datasets: tuple[str, ...]) -> list[tuple]:
    model = model_of(env.config)
    rows = []
    for erratum in model.errata:
        if datasets and erratum.dataset not in datasets:
            continue
        dataset = model.dataset_by_id[erratum.dataset]
        section = dataset.sections.get(erratum.reference)
        rows.append((erratum.id, erratum.dataset, erratum.field, erratum.flow, dataset.title, erratum.published,
                     erratum.corrected, erratum.rationale, erratum.evidence, section.title if section else erratum.reference,
                     dataset.short_title or dataset.title))
    return rows


def erratum_anchors(keys: list[tuple[str, str]]) -> list[str]:
    """One anchor per (dataset id, erratum id), unique on the page. Anchors are lower case,
    so ids differing only in case (E1, e1) or in characters an anchor drops would share
    one: the second and later get the next free -2, -3... in data order."""
    used: set[str] = set()
    anchors = []
    for dataset_id, erratum_id in keys:
        base = nodes.make_id(f"erratum-{dataset_id}-{erratum_id}")
        anchor, number = base, 1
        while anchor in used:
            number += 1
            anchor = f"{base}-{number}"
        used.add(anchor)
        anchors.append(anchor)
    return anchors


class ErrataTable(DataDirective):
    """``.. errata-table::`` lists every correction of the published sources."""

    option_spec = {"dataset": directives.unchanged}

    def make(self) -> list[nodes.Node]:
        errata = self.read(errata_list, tuple(sorted(set(_list(self.options.get("dataset"))))))
        if not errata:
            return [nodes.paragraph("", "The data records no correction.")]
        docname = self.env.current_document.docname
        result: list[nodes.Node] = []
        anchors = erratum_anchors([(row[1], row[0]) for row in errata])
        for anchor, (erratum_id, dataset_id, field, flow_id, dataset_title, published, corrected, why, evidence, section,
                     short_title) in zip(anchors, errata):
            # The dataset in the title: each dataset numbers its errata from E1.
            part = self.section(f"{short_title} {erratum_id}: {field} of {flow_id}", anchor)
            fields = nodes.field_list()
            for name, value in (
                ("Flow", flow_link(flow_id, docname)),
                ("Dataset", nodes.Text(dataset_title)),
                ("Published", nodes.literal("", published)),
                ("Corrected", nodes.literal("", corrected)),
                ("Why", nodes.Text(why)),
                ("Evidence", nodes.Text(evidence)),
                ("Source section", nodes.Text(section)),
            ):
                fields += nodes.field("", nodes.field_name("", name), nodes.field_body("", nodes.paragraph("", "", value)))
            part += fields
            result.append(part)
        return result


def _dot_string(text: str) -> str:
    """A DOT double-quoted string showing `text` as written: backslashes and quotes escaped,
    line breaks kept as \\n, and "&" as &amp; since Graphviz reads HTML-like entities
    (&#1;, &lt;) in every string."""
    text = text.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r", "").replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class DiagramContent:
    title: str  # the datasets drawn
    names: list[tuple[str, str, bool]]  # (role id, name, has a page) of every role with an arrow, in data order
    edges: list[tuple[str, str, bool, list[str]]]  # source, destination, both ways, port labels


@reader
def diagram_edges(env, datasets: tuple[str, ...]) -> DiagramContent:
    model = model_of(env.config)
    edges: dict[tuple[str, str, bool], list[str]] = {}
    for flow in model.flows:
        if datasets and flow.dataset not in datasets:
            continue
        labels = edges.setdefault((flow.source, flow.destination, flow.bidirectional), [])
        if flow.label not in labels:
            labels.append(flow.label)
    order = {role: index for index, role in enumerate(model.role_by_id)}
    roles = sorted({role for key in edges for role in key[:2]}, key=lambda r: order.get(r, 0))
    title = ", ".join(dataset.title for dataset in model.datasets if not datasets or dataset.id in datasets)
    return DiagramContent(title, [(role, model.role_name(role), role in model.role_by_id) for role in roles],
                          [(source, destination, both, labels) for (source, destination, both), labels in edges.items()])


class PortDiagram(DataDirective):
    """``.. port-diagram::`` draws roles as boxes and flows as arrows labelled with ports,
    one drawing per dataset (or one of the datasets given with :dataset:). Each box links
    to its role's page. Without Graphviz's dot the same edges are listed as text."""

    option_spec = {"dataset": directives.unchanged}
    MAX_LABELS = 8  # more ports on one arrow are summarised, so the drawing stays legible
    MAX_EDGES = 120  # beyond this dot's layout takes minutes and the drawing is unreadable
    # Points: Graphviz's SVG is drawn at 1pt = 1.33px, so 12pt is the body text's 16px.
    FONT_SIZE = 12

    def make(self) -> list[nodes.Node]:
        chosen = tuple(sorted(set(_list(self.options.get("dataset")))))
        if chosen:
            return self.drawing(self.read(diagram_edges, chosen))
        result: list[nodes.Node] = []
        for dataset in self.model.datasets:
            diagram = self.read(diagram_edges, (dataset.id,))
            part = self.section(diagram.title, f"diagram-{dataset.id}")
            part += self.drawing(diagram)
            result.append(part)
        return result

    def drawing(self, diagram: DiagramContent) -> list[nodes.Node]:
        if not diagram.edges:
            return [nodes.paragraph("", "No flow to draw.")]
        names = {role: name for role, name, _page in diagram.names}

        def summary(labels: list[str], separator: str = ", ") -> str:
            shown = labels[: self.MAX_LABELS]
            more = len(labels) - len(shown)
            return separator.join(shown) + (f" and {more} more" if more else "")

        dot = shutil.which(self.config.graphviz_dot)
        reason = ""
        if dot is None:
            reason = f"Graphviz {self.config.graphviz_dot!r} was not found (Debian package graphviz)"
        elif len(diagram.edges) > self.MAX_EDGES:
            reason = f"{len(diagram.edges)} role pairs are too many to draw legibly (and dot would take minutes)"
        if reason:
            logger.info(f"portbook: {reason}; the diagram is shown as a list", location=self.get_location())
            note = nodes.paragraph("", f"{reason}; the arrows are listed instead.")
            listing = "\n".join(
                f"{names[source]} {'<->' if both else '->'} {names[destination]}: {summary(labels)}"
                for source, destination, both, labels in diagram.edges
            )
            return [note, nodes.literal_block(listing, listing, language="text", classes=["portbook-diagram-text"])]
        docname = self.env.current_document.docname
        size = self.FONT_SIZE
        lines = ["digraph portbook {", f'  graph [rankdir=TB, nodesep=0.5, ranksep=1.2, fontname="sans-serif", fontsize={size}];',
                 f'  node [shape=box, style="rounded", fontname="sans-serif", fontsize={size + 1}, margin="0.15,0.08"];',
                 f'  edge [fontname="sans-serif", fontsize={size}];']
        # Nodes get names of their own: a role id is never read by dot as anything.
        node_names = {role: f"role{index}" for index, (role, _name, _page) in enumerate(diagram.names)}
        for role, name, has_page in diagram.names:
            link = ""
            if has_page:
                # Relative to the page; Sphinx rewrites it for the SVG's own folder.
                url = relative_uri(f"{docname}.html", f"{role_doc(role)}.html")
                link = f", URL={_dot_string(url)}, target=\"_top\", tooltip={_dot_string(name)}"
            lines.append(f"  {node_names[role]} [label={_dot_string(name)}{link}];")
        for source, destination, both, labels in diagram.edges:
            extra = ", dir=both" if both else ""
            lines.append(f"  {node_names[source]} -> {node_names[destination]} [label={_dot_string(summary(labels, chr(10)))}{extra}];")
        lines.append("}")
        node = graphviz()
        node["code"] = "\n".join(lines) + "\n"
        node["options"] = {"docname": docname}
        node["alt"] = f"Diagram of {len(diagram.names)} roles and the ports between them"
        node["classes"] = ["portbook-diagram"]
        self.set_source_info(node)
        scroll = nodes.container(classes=["portbook-diagram-scroll"])
        scroll += node
        return [scroll]


class DataSchema(SphinxDirective):
    """``.. data-schema::`` documents every data file and column, from generator.schema."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(Path(schema.__file__).resolve()))
        result: list[nodes.Node] = []
        tables = list(schema.DATASET_TABLES) + [schema.INVENTORY]
        for table in tables:
            section = nodes.section(ids=[nodes.make_id(f"schema-{table.name}")], names=[nodes.fully_normalize_name(table.filename)])
            section += nodes.title("", table.filename)
            text = table.description
            if table.key:
                text += f" The {table.key} column is unique."
            if table.name in schema.OPTIONAL_TABLES:
                text += " The file may be left out."
            section += nodes.paragraph("", text)
            rows = [[
                nodes.literal("", column.name), nodes.Text(column.type), nodes.Text("yes" if column.required else "no"),
                nodes.Text(", ".join(column.allowed)), nodes.literal("", column.example) if column.example else nodes.Text(""),
                nodes.Text(column.description),
            ] for column in table.columns]
            section += docutils_table(["Column", "Type", "Required", "Allowed", "Example", "Meaning"], rows)
            result.append(section)
        section = nodes.section(ids=["schema-dataset-toml"], names=["dataset.toml"])
        section += nodes.title("", "dataset.toml")
        section += nodes.paragraph("", "Each dataset folder describes itself and the published source it transcribes.")
        section += docutils_table(["Key", "Required", "Meaning", "Example"], [
            [nodes.literal("", key), nodes.Text("yes" if required else "no"), nodes.Text(meaning), nodes.literal("", example) if example else nodes.Text("")]
            for key, required, meaning, example in schema.DATASET_KEYS
        ])
        result.append(section)
        section = nodes.section(ids=["schema-dynamic-ranges"], names=["dynamic port pools"])
        section += nodes.title("", "Dynamic port pools")
        section += nodes.paragraph("", "Values of the dynamic column and the range each one must name.")
        section += docutils_table(["Value", "Range", "Platform"], [
            [nodes.literal("", key), nodes.literal("", f"{first}-{last}"), nodes.Text(meaning)]
            for key, (first, last, meaning) in schema.DYNAMIC_RANGES.items()
        ])
        result.append(section)
        for node in result:
            self.set_source_info(node)
        return literal_data(result)


class IssueCodes(SphinxDirective):
    """``.. issue-codes::`` lists every issue code with what triggers it, from
    generator.issues.CATALOG and the docstrings of generator.checks.CHECKS."""

    def run(self) -> list[nodes.Node]:
        for module in (issues, checks):
            self.env.note_dependency(str(Path(module.__file__).resolve()))
        docs: dict[str, list[str]] = {}
        for entry in checks.CHECKS:
            for code in entry.codes:
                docs.setdefault(code, []).append(" ".join(entry.doc.split()))
        rows = [[
            nodes.literal("", code.code), nodes.Text(code.name), nodes.Text(code.severity.value),
            nodes.Text(code.summary), nodes.Text(" ".join(docs.get(code.code, []))),
        ] for code in issues.CATALOG.values()]
        return literal_data([docutils_table(["Code", "Name", "Severity", "Meaning", "How it is checked"], rows)])


@reader
def flow_label(env, flow_id: str) -> str | None:
    flow = model_of(env.config).flow_by_id.get(flow_id)
    return flow.label if flow is not None else None


class PortRole(SphinxRole):
    """``:port:`flow-id``` shows a flow's port and transport, linked to its row on the
    reference page; an unknown id is a located build warning."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        flow_id = self.text.strip()
        label = read(self.env, flow_label, flow_id)
        if label is None:
            node = nodes.literal(self.rawtext, flow_id, classes=["portbook-unknown"])
            self.set_source_info(node)
            logger.warning(f"unknown flow id {flow_id!r} in :port:", location=node, type="portbook", subtype="port")
            return [node], []
        node = flow_link(flow_id, self.env.current_document.docname, label)
        self.set_source_info(node)
        return [node], []
