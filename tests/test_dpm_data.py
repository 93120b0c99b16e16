"""The shipped DPM dataset holds every port, program and rule of its published page."""
from __future__ import annotations

from conftest import DATA
from generator.load import load

MODEL, ISSUES = load(DATA)
DPM = MODEL.dataset_by_id["dpm-2012r2"]


def test_loads_cleanly():
    assert ISSUES == []


def test_every_published_port_is_recorded():
    labels = {flow.label for flow in DPM.flows}
    published = {
        "135/tcp", "5718/tcp", "5719/tcp", "6075/tcp", "53/udp", "88/udp", "88/tcp", "389/tcp", "389/udp",
        "137/udp", "138/udp", "139/tcp", "445/tcp",  # the protocol table
        "1433/tcp", "1434/udp", "80/tcp",  # the remote SQL Server section
        "49152-65535/tcp",  # dynamic DCOM / RPC / named instances, corrected range
        "any",  # the two program exceptions
    }
    assert published <= labels


def test_programs_and_rules():
    programs = {flow.program for flow in DPM.flows if flow.program}
    assert {"Msdpm.exe", "Dpmra.exe", "Amscvhost.exe", "sqlservr.exe"} <= programs
    rules = {flow.rule for flow in DPM.flows if flow.rule}
    assert {
        "Microsoft System Center 2012 R2 Data Protection Manager DCOM Setting",
        "Microsoft System Center 2012 R2 Data Protection Manager",
        "Microsoft System Center 2012 R2 Data Protection Manager Replication Agent",
        "DPMAM_WCF_Service",
    } <= rules
    central_console = MODEL.flow_by_id["central-console"]
    assert (central_console.program, central_console.rule, central_console.label) == ("Amscvhost.exe", "DPMAM_WCF_Service", "6075/tcp")


def test_netbios_row_is_four_ports_between_three_role_pairs():
    netbios = [f for f in DPM.flows if f.service in ("netbios-ns", "netbios-dgm", "netbios-ssn", "microsoft-ds")]
    pairs = {(f.source, f.destination) for f in netbios}
    assert pairs == {("dpm-server", "protected-computer"), ("dpm-server", "domain-controller"), ("protected-computer", "domain-controller")}
    assert len(netbios) == 12
    assert {f.label for f in netbios if f.service == "microsoft-ds"} == {"445/tcp"}


def test_remote_sql_section():
    sql = {f.id: f for f in DPM.flows if f.reference == "remote-sql"}
    assert sql["sql-engine-default"].service == "ms-sql-s"
    assert sql["sql-browser"].label == "1434/udp" and sql["sql-browser"].service == "ms-sql-m"
    assert sql["sql-named-instance"].dynamic == "windows-2008"
    assert sql["sql-report-server"].label == "80/tcp"
    assert {"sql-rpc-endpoint-mapper", "sql-rpc-dynamic"} <= set(sql)
    assert all(f.condition for f in sql.values())  # only needed with a remote SQL Server


def test_vague_directions_are_marked_as_assumptions():
    for flow in DPM.flows:
        assert flow.assumption, f"{flow.id} records a decision without saying so"


def test_published_typos_are_errata():
    errata = {(e.flow, e.field, e.published, e.corrected) for e in DPM.errata}
    assert errata == {
        ("sql-engine-default", "port", "1443", "1433"),
        ("dcom-dynamic", "port", "1024-65535", "49152-65535"),
        ("sql-report-server", "program", "sqservr.exe", "sqlservr.exe"),
        # The database engine does not serve the report server's port 80: a port rule instead.
        ("sql-report-server", "program", "sqlservr.exe", ""),
        # The registry gives "agent coordinator" to 5719; the data keeps the page's 5718.
        ("agent-coordinator", "port", "agent coordinator", "5718"),
    }


def test_inventory_uses_documentation_addresses():
    import ipaddress

    documentation = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    for host in MODEL.inventory:
        network = ipaddress.ip_network(host.address)
        assert any(network.subnet_of(d) for d in documentation), host
    assert {h.role for h in MODEL.inventory} == {r.id for r in MODEL.roles}
