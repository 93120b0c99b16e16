"""Views of the model that several outputs share: what one role's firewall must allow,
and where a flow lives on the site. Pure functions over the model, no I/O."""
from __future__ import annotations

from dataclasses import dataclass

from .model import Flow, Host, Model

INBOUND = "inbound"
OUTBOUND = "outbound"


@dataclass(frozen=True)
class RequestLine:
    """One directed traffic line that the firewall of `role`'s hosts must allow."""

    flow: Flow
    role: str  # the role whose hosts the line is for
    direction: str  # INBOUND or OUTBOUND, relative to `role`
    source: str  # role opening the connection
    destination: str  # role accepting it
    action: str = ""  # "add" / "remove" in a change between two versions of the data
    # The inventory entries at each end, for a line whose addresses are not the model's
    # inventory: a line to remove names the addresses of the data it came from. None is
    # the inventory of the model the line is shown with (`Model.hosts_of_role`).
    source_hosts: tuple[Host, ...] | None = None
    destination_hosts: tuple[Host, ...] | None = None

    @property
    def peer(self) -> str:
        return self.source if self.direction == INBOUND else self.destination


def role_lines(model: Model, role: str) -> list[RequestLine]:
    """Every directed line a firewall must allow for `role`, in data order: for each flow
    touching the role, one line per direction in which it involves the role. A flow between
    two hosts of the same role gives an inbound and an outbound line."""
    lines = []
    for flow in model.flows_by_role.get(role, ()):
        for source, destination in flow.directions():
            if destination == role:
                lines.append(RequestLine(flow, role, INBOUND, source, destination))
            if source == role:
                lines.append(RequestLine(flow, role, OUTBOUND, source, destination))
    return lines


def datasets_text(model: Model) -> str:
    """The datasets and their versions, as generated files name their source."""
    return ", ".join(f"{dataset.id} {dataset.version}" for dataset in model.datasets)


def flow_anchor(flow_id: str) -> str:
    """HTML anchor of a flow; stable because it derives from the id only."""
    return f"flow-{flow_id}"


# Site pages, relative to the HTML root. The site, workbooks and Markdown link with these.
REFERENCE_PAGE = "reference.html"


def role_page(role_id: str) -> str:
    return f"roles/{role_id}.html"


def flow_url(model: Model, flow_id: str) -> str:
    """Link to a flow on the site: [site] base_url from portbook.toml plus page and anchor."""
    base = str(model.settings.section("site").get("base_url", "")).rstrip("/")
    page = f"{REFERENCE_PAGE}#{flow_anchor(flow_id)}"
    return f"{base}/{page}" if base else page
