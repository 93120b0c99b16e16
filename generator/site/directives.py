"""Directives and roles that put the data on pages. Every one of them builds
nodes from the model; none writes reStructuredText to be parsed again, so text
from the data can never turn into markup."""
from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.ext.graphviz import graphviz
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

from .. import checks, issues, schema
from ..model import Model
from ..views import INBOUND, OUTBOUND, flow_anchor, role_addresses, role_lines
from .data import data_files, model_of
from .pages import download_nodes
from .table import (COLUMNS, FLOW_COLUMNS, LINE_COLUMNS, REFERENCE_DOC, docutils_table,
                    make_port_table, role_doc)

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
    """Base of the directives that read the model: gives access to it and records
    which data files the page depends on, so an edit re-reads exactly those pages.
    Subclasses implement `make`."""

    def run(self) -> list[nodes.Node]:
        return literal_data(self.make())

    @property
    def model(self) -> Model:
        return model_of(self.config)

    def depend_on_data(self, datasets: set[str] | None = None) -> None:
        for path in data_files(self.model, datasets):
            self.env.note_dependency(path)

    def warn(self, message: str) -> None:
        logger.warning(message, location=self.get_location(), type="portbook", subtype="directive")

    def section(self, title: str, key: str) -> nodes.section:
        section = nodes.section(ids=[nodes.make_id(f"{key}")], names=[nodes.fully_normalize_name(title)])
        section += nodes.title("", title)
        self.set_source_info(section)
        return section


class PortTable(DataDirective):
    """``.. port-table::`` lists flows, filtered by role, source, destination, transport,
    service and dataset (each option takes a comma-separated list), showing `:columns:`.
    `:anchors:` gives each row its flow's stable anchor (the reference page uses it)."""

    option_spec = {
        "role": directives.unchanged,
        "source": directives.unchanged,
        "destination": directives.unchanged,
        "transport": directives.unchanged,
        "service": directives.unchanged,
        "dataset": directives.unchanged,
        "columns": directives.unchanged,
        "anchors": directives.flag,
    }

    def make(self) -> list[nodes.Node]:
        model = self.model
        wanted = {name: set(_list(self.options.get(name))) for name in ("role", "source", "destination", "transport", "service", "dataset")}
        for name in ("role", "source", "destination"):
            for value in sorted(wanted[name] - set(model.role_by_id)):
                self.warn(f"port-table: unknown role {value!r} in :{name}:")
        for value in sorted(wanted["dataset"] - set(model.dataset_by_id)):
            self.warn(f"port-table: unknown dataset {value!r} in :dataset:")
        columns = _list(self.options.get("columns")) or list(FLOW_COLUMNS)
        bad = [name for name in columns if name not in COLUMNS or COLUMNS[name].lines_only]
        if bad:
            usable = ", ".join(name for name, column in COLUMNS.items() if not column.lines_only)
            self.warn(f"port-table: unknown column(s) {', '.join(map(repr, bad))}; use {usable}")
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
        self.depend_on_data(wanted["dataset"] or None)
        if not flows:
            return [nodes.paragraph("", "No flow matches.")]
        result: list[nodes.Node] = []
        if "anchors" in self.options:
            # One index entry per port and transport, at the first flow that uses it: the
            # general index lists the ports, and the search page finds a port number
            # through it (Sphinx leaves plain numbers out of its word index, but matches
            # index entries at most twice as long as the query). One per flow would make
            # the index as long as the data.
            first: dict[tuple[str, str], str] = {}
            for flow in flows:
                first.setdefault((flow.port_text, flow.transport), flow.id)
            entries = [("single", f"{port}; {transport}", flow_anchor(flow_id), "", None) for (port, transport), flow_id in first.items()]
            result.append(addnodes.index(entries=entries))
        # The anchored reference table repeats what the role pages hold; its words would
        # only make the search slower to build.
        anchors = "anchors" in self.options
        result.append(make_port_table(model, [(flow.id, "") for flow in flows], columns, anchors=anchors, search=not anchors))
        return result


class RolePage(DataDirective):
    """``.. role-page:: ROLE`` is a whole role page: what to open on hosts of ROLE."""

    required_arguments = 1
    option_spec = {"columns": directives.unchanged}

    def make(self) -> list[nodes.Node]:
        model = self.model
        role_id = self.arguments[0]
        role = model.role_by_id.get(role_id)
        if role is None:
            self.warn(f"role-page: unknown role {role_id!r}")
            return []
        self.depend_on_data()
        page = self.section(role.name, f"role-{role.id}")
        if role.description:
            page += nodes.paragraph("", role.description)
        lines = role_lines(model, role.id)
        datasets = sorted({line.flow.dataset for line in lines})
        intro = nodes.paragraph()
        intro += nodes.Text("Role id ")
        intro += nodes.literal("", role.id)
        intro += nodes.Text(f": {sum(l.direction == INBOUND for l in lines)} inbound and "
                            f"{sum(l.direction == OUTBOUND for l in lines)} outbound lines")
        if datasets:
            intro += nodes.Text(" from " + ", ".join(model.dataset_by_id[d].title for d in datasets))
        intro += nodes.Text(".")
        page += intro

        hosts = role_addresses(model, role.id)
        part = self.section("Hosts", f"hosts-{role.id}")
        if hosts:
            part += docutils_table(["Host", "Address", "Note"], [[nodes.Text(h.host), nodes.literal("", h.address), nodes.Text(h.note)] for h in hosts])
        else:
            part += nodes.paragraph("", "The inventory names no host for this role.")
        page += part

        columns = _list(self.options.get("columns")) or list(LINE_COLUMNS)
        for way, title, empty in (
            (INBOUND, "Inbound: open on these hosts", "No other role connects to this role."),
            (OUTBOUND, "Outbound: allow from these hosts", "This role opens no connection."),
        ):
            chosen = [(line.flow.id, way) for line in lines if line.direction == way]
            part = self.section(title, f"{way}-{role.id}")
            if chosen:
                part += make_port_table(model, chosen, [c for c in columns if c in COLUMNS] or list(LINE_COLUMNS))
            else:
                part += nodes.paragraph("", empty)
            page += part

        programs = sorted({line.flow.program for line in lines if line.flow.program})
        rules = sorted({line.flow.rule for line in lines if line.flow.rule})
        part = self.section("Programs and firewall rules", f"programs-{role.id}")
        # One paragraph per kind, as plain text: a role of a large dataset names hundreds.
        for label, values in (("Programs", programs), ("Firewall rules", rules)):
            if values:
                part += nodes.paragraph("", f"{label}: " + "; ".join(values) + ".")
        if not (programs or rules):
            part += nodes.paragraph("", "No flow of this role names a program or a firewall rule.")
        page += part

        part = self.section("Downloads", f"downloads-{role.id}")
        links = download_nodes(self.env, role.id)
        if links:
            items = nodes.bullet_list()
            for link in links:
                items += nodes.list_item("", nodes.paragraph("", "", link))
            part += items
        else:
            part += nodes.paragraph("", "No generated file for this role was found when the site was built; run make first.")
        page += part
        return [page]


class RoleList(DataDirective):
    """``.. role-list::`` tables every role with a link to its page."""

    def make(self) -> list[nodes.Node]:
        model = self.model
        self.depend_on_data()
        docname = self.env.current_document.docname
        rows = []
        for role in model.roles:
            lines = role_lines(model, role.id)
            rows.append([
                role_link(model, role.id, docname), nodes.literal("", role.id), nodes.Text(role.description),
                nodes.Text(str(sum(l.direction == INBOUND for l in lines))),
                nodes.Text(str(sum(l.direction == OUTBOUND for l in lines))),
                nodes.Text(str(len(role_addresses(model, role.id)))),
            ])
        return [docutils_table(["Role", "Id", "Description", "Inbound", "Outbound", "Hosts"], rows)]


class DatasetSummary(DataDirective):
    """``.. dataset-summary::`` tables what each dataset covers."""

    def make(self) -> list[nodes.Node]:
        model = self.model
        self.depend_on_data()
        rows = []
        for dataset in model.datasets:
            source = nodes.inline()
            if dataset.source.url:
                source += nodes.reference("", dataset.source.title, refuri=dataset.source.url)
            else:
                source += nodes.Text(dataset.source.title)
            if dataset.source.publisher:
                source += nodes.Text(f" ({dataset.source.publisher})")
            rows.append([
                nodes.Text(dataset.title), nodes.literal("", dataset.id), nodes.Text(dataset.version), source,
                nodes.Text(str(len(dataset.flows))), nodes.Text(str(len(dataset.roles))), nodes.Text(str(len(dataset.errata))),
            ])
        table = docutils_table(["Dataset", "Id", "Version", "Transcribed from", "Flows", "Roles", "Errata"], rows)
        total = nodes.paragraph("", f"In all: {len(model.flows)} flows between {len(model.roles)} roles, "
                                    f"{len(model.errata)} corrections of the published sources, "
                                    f"{len(model.inventory)} inventory hosts. Data fingerprint ")
        total += nodes.literal("", model.fingerprint[:16])
        total += nodes.Text(".")
        return [table, total]


class ErrataTable(DataDirective):
    """``.. errata-table::`` lists every correction of the published sources."""

    option_spec = {"dataset": directives.unchanged}

    def make(self) -> list[nodes.Node]:
        model = self.model
        wanted = set(_list(self.options.get("dataset")))
        self.depend_on_data(wanted or None)
        errata = [e for e in model.errata if not wanted or e.dataset in wanted]
        if not errata:
            return [nodes.paragraph("", "The data records no correction.")]
        docname = self.env.current_document.docname
        result: list[nodes.Node] = []
        for erratum in errata:
            section = model.dataset_by_id[erratum.dataset].sections.get(erratum.reference)
            part = self.section(f"{erratum.id}: {erratum.field} of {erratum.flow}", f"erratum-{erratum.dataset}-{erratum.id}")
            fields = nodes.field_list()
            for name, value in (
                ("Flow", flow_link(erratum.flow, docname)),
                ("Dataset", nodes.Text(model.dataset_by_id[erratum.dataset].title)),
                ("Published", nodes.literal("", erratum.published)),
                ("Corrected", nodes.literal("", erratum.corrected)),
                ("Why", nodes.Text(erratum.rationale)),
                ("Evidence", nodes.Text(erratum.evidence)),
                ("Source section", nodes.Text(section.title if section else erratum.reference)),
            ):
                fields += nodes.field("", nodes.field_name("", name), nodes.field_body("", nodes.paragraph("", "", value)))
            part += fields
            result.append(part)
        return result


def _dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks kept as \\n."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n") + '"'


class PortDiagram(DataDirective):
    """``.. port-diagram::`` draws roles as boxes and flows as arrows labelled with ports.
    Without Graphviz's dot the same edges are listed as text."""

    option_spec = {"dataset": directives.unchanged}
    MAX_LABELS = 8  # more ports on one arrow are summarised, so the drawing stays legible
    MAX_EDGES = 120  # beyond this dot's layout takes minutes and the drawing is unreadable

    def edges(self, model: Model, wanted: set[str]) -> dict[tuple[str, str, bool], list[str]]:
        edges: dict[tuple[str, str, bool], list[str]] = {}
        for flow in model.flows:
            if wanted and flow.dataset not in wanted:
                continue
            labels = edges.setdefault((flow.source, flow.destination, flow.bidirectional), [])
            if flow.label not in labels:
                labels.append(flow.label)
        return edges

    def make(self) -> list[nodes.Node]:
        model = self.model
        wanted = set(_list(self.options.get("dataset")))
        self.depend_on_data(wanted or None)
        edges = self.edges(model, wanted)

        def summary(labels: list[str], separator: str = ", ") -> str:
            shown = labels[: self.MAX_LABELS]
            more = len(labels) - len(shown)
            return separator.join(shown) + (f" and {more} more" if more else "")

        dot = shutil.which(self.config.graphviz_dot)
        reason = ""
        if dot is None:
            reason = f"Graphviz {self.config.graphviz_dot!r} was not found (Debian package graphviz)"
        elif len(edges) > self.MAX_EDGES:
            reason = f"{len(edges)} role pairs are too many to draw legibly (and dot would take minutes)"
        if reason:
            logger.info(f"portbook: {reason}; the diagram is shown as a list", location=self.get_location())
            note = nodes.paragraph("", f"{reason}; the arrows are listed instead.")
            listing = "\n".join(
                f"{model.role_name(source)} {'<->' if both else '->'} {model.role_name(destination)}: {summary(labels)}"
                for (source, destination, both), labels in edges.items()
            )
            return [note, nodes.literal_block(listing, listing, language="text", classes=["portbook-diagram-text"])]
        order = {role: index for index, role in enumerate(model.role_by_id)}
        roles = sorted({role for key in edges for role in key[:2]}, key=lambda r: order.get(r, 0))
        lines = ["digraph portbook {", '  graph [rankdir=TB, nodesep=0.6, ranksep=0.9, fontname="sans-serif"];',
                 '  node [shape=box, style="rounded", fontname="sans-serif"];', '  edge [fontname="sans-serif", fontsize=10];']
        for role in roles:
            lines.append(f"  {_dot_string(role)} [label={_dot_string(model.role_name(role))}];")
        for (source, destination, both), labels in edges.items():
            extra = ", dir=both" if both else ""
            lines.append(f"  {_dot_string(source)} -> {_dot_string(destination)} [label={_dot_string(summary(labels, chr(10)))}{extra}];")
        lines.append("}")
        node = graphviz()
        node["code"] = "\n".join(lines) + "\n"
        node["options"] = {"docname": self.env.current_document.docname}
        node["alt"] = f"Diagram of {len(roles)} roles and the ports between them"
        node["classes"] = ["portbook-diagram"]
        self.set_source_info(node)
        return [node]


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
            docs.setdefault(entry.code, []).append(" ".join(entry.doc.split()))
        rows = [[
            nodes.literal("", code.code), nodes.Text(code.name), nodes.Text(code.severity.value),
            nodes.Text(code.summary), nodes.Text(" ".join(docs.get(code.code, []))),
        ] for code in issues.CATALOG.values()]
        return literal_data([docutils_table(["Code", "Name", "Severity", "Meaning", "How it is checked"], rows)])


class PortRole(SphinxRole):
    """``:port:`flow-id``` shows a flow's port and transport, linked to its row on the
    reference page; an unknown id is a located build warning."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        model = model_of(self.config)
        flow_id = self.text.strip()
        flow = model.flow_by_id.get(flow_id)
        if flow is None:
            node = nodes.literal(self.rawtext, flow_id, classes=["portbook-unknown"])
            self.set_source_info(node)
            logger.warning(f"unknown flow id {flow_id!r} in :port:", location=node, type="portbook", subtype="port")
            return [node], []
        dataset = model.dataset_by_id[flow.dataset]
        for path in data_files(model, {dataset.id}):
            self.env.note_dependency(path)
        node = flow_link(flow.id, self.env.current_document.docname, flow.label)
        self.set_source_info(node)
        return [node], []
