"""The port-mention scanner: which words name a port, and which do not."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from generator.model import PortRange
from generator.portscan import PortMention, not_port_reason, scan, stated_range


def read(text: str) -> list[tuple[str, str, str]]:
    """(words of the mention, port or range, transport) per mention."""
    return [(text[m.start:m.end], str(m.ports), m.transport) for m in scan(text)]


@pytest.mark.parametrize(("text", "words", "ports", "transport"), [
    ("Open TCP port 1433 on the server.", "TCP port 1433", "1433", "tcp"),
    ("It listens on port 80.", "port 80", "80", ""),
    ("NetBIOS uses ports 137 through 139.", "ports 137 through 139", "137-139", ""),
    ("Allow 8080/tcp inbound.", "8080/tcp", "8080", "tcp"),
    ("Allow 5718 / TCP inbound.", "5718 / TCP", "5718", "tcp"),
    ("Change the default 8080 port.", "8080 port", "8080", ""),
    ("the 53 UDP port", "53 UDP port", "53", "udp"),
    ("UDP 53 answers", "UDP 53", "53", "udp"),
    ("TCP ports: 135", "TCP ports: 135", "135", "tcp"),
    ("ports 1024-65535", "ports 1024-65535", "1024-65535", ""),
    ("ports 1024–65535", "ports 1024–65535", "1024-65535", ""),  # en dash
    ("ports 1024—65535", "ports 1024—65535", "1024-65535", ""),  # em dash
    ("the port range 1024 to 65535", "port range 1024 to 65535", "1024-65535", ""),
    ("TCP 1024—65535", "TCP 1024—65535", "1024-65535", "tcp"),
    ("1024-65535/udp", "1024-65535/udp", "1024-65535", "udp"),
    ("port 65535", "port 65535", "65535", ""),
    ("port 1", "port 1", "1", ""),
])
def test_the_shapes_pages_write(text, words, ports, transport):
    assert read(text) == [(words, ports, transport)]


@pytest.mark.parametrize("text", [
    "Windows Server 2012 R2 and 2008-2012",  # years and versions: no port word
    "1024-65535",  # a bare range
    "port 0",
    "port 65536",
    "port 70000",
    "ports 1024-70000",  # one end out of range: not read as port 1024 either
    "ports 1024-655350",
    "port 123456",  # never read as 12345
    "ports 139-137",  # reversed
    "port ١٤٣٣",  # Arabic-Indic digits are no port number
    "port ۱۴۳۳",  # Extended Arabic-Indic
    "port １４３３",  # full-width
    "port 1.2",  # a version
    "port 80x86",
    "version 8.8080/tcp",
])
def test_what_is_not_a_mention(text):
    assert scan(text) == []


def test_one_mention_per_number_with_every_word_that_makes_it_one():
    assert read("port 8080/tcp") == [("port 8080/tcp", "8080", "tcp")]
    assert read("TCP 53/udp") == [("TCP 53/udp", "53", "")]  # the text contradicts itself
    assert read("TCP 80 port 443") == [("TCP 80", "80", "tcp"), ("port 443", "443", "")]
    assert read("TCP ports: 135 and 5718/TCP") == [("TCP ports: 135", "135", "tcp"), ("5718/TCP", "5718", "tcp")]


def test_a_huge_digit_run_is_no_port():
    assert scan("port " + "9" * 10_000) == []
    assert scan("port " + "0" * 10_000 + "80") == [PortMention(0, 10_007, PortRange(80, 80), "")]


def test_stated_range_reads_a_whole_value():
    assert stated_range("8080") == PortRange(8080, 8080)
    assert stated_range(" 1024 through 65535 ") == PortRange(1024, 65535)
    assert stated_range("1024—65535") == PortRange(1024, 65535)
    assert stated_range("65536") is None
    assert stated_range("١٤٣٣") is None
    assert stated_range("port 80") is None


SEPARATORS = ["-", "–", "—", " - ", " through ", " to "]
TEMPLATES = ["TCP port {}", "UDP {}", "port {}", "ports {}", "{}/tcp", "{} / UDP", "the default {} port", "{} tcp ports"]


@settings(derandomize=True, max_examples=300)
@given(
    first=st.integers(0, 70_000),
    last=st.integers(0, 70_000) | st.none(),
    separator=st.sampled_from(SEPARATORS),
    template=st.sampled_from(TEMPLATES),
    before=st.sampled_from(["", "Allow ", "(", "and "]),
    after=st.sampled_from(["", ".", " inbound", ", then", ")"]),
)
def test_every_written_port_is_read_back_exactly_when_it_is_one(first, last, separator, template, before, after):
    number = str(first) if last is None else f"{first}{separator}{last}"
    text = before + template.format(number) + after
    mentions = scan(text)
    stop = first if last is None else last
    if 1 <= first <= 65535 and 1 <= stop <= 65535 and first <= stop:
        transport = "tcp" if "tcp" in template.lower() else "udp" if "udp" in template.lower() else ""
        assert [(m.ports, m.transport) for m in mentions] == [(PortRange(first, stop), transport)]
        assert text[mentions[0].start:mentions[0].end] == template.format(number).removeprefix("the default ")
    else:
        assert mentions == []


@settings(derandomize=True, max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("0123456789 -–—/.:tcpudporTCPUDPORs١٣hrough")), max_size=60))
def test_mentions_are_in_order_apart_and_in_range(text):
    mentions = scan(text)
    end = 0
    for mention in mentions:
        assert end <= mention.start < mention.end <= len(text)
        assert 1 <= mention.ports.first <= mention.ports.last <= 65535
        assert mention.transport in ("tcp", "udp", "")
        assert all(character in "0123456789" or not character.isdigit() for character in text[mention.start:mention.end])
        end = mention.end


@pytest.mark.parametrize(("text", "expected"), [
    ("ports between 49152 and 65535", [("ports between 49152 and 65535", "49152-65535", "")]),
    ("TCP ports above 1024", [("TCP ports above 1024", "1025-65535", "tcp")]),
    ("ports that are larger than port 1024 are used", [("larger than port 1024", "1025-65535", "")]),
    ("the ports (1024-65535) stay open", [("ports (1024-65535", "1024-65535", "")]),
    ("a port from the range 1025 through 5000", [("range 1025 through 5000", "1025-5000", "")]),
    ("open ports 80 and 443 now", [("ports 80", "80", ""), ("443", "443", "")]),
    ("TCP port 5022 or 7022", [("TCP port 5022", "5022", "tcp"), ("7022", "7022", "tcp")]),
    ("ports 137, 138 and 139", [("ports 137", "137", ""), ("138", "138", ""), ("139", "139", "")]),
    ("TCP ports 135, 2 instances", [("TCP ports 135", "135", "tcp")]),  # a count ends the list
    ("protocol = TCP localport = 1433", [("localport = 1433", "1433", "")]),
    ("the range between 2008 and 2012", []),  # no port word
])
def test_range_wordings_and_lists(text, expected):
    assert read(text) == expected


@pytest.mark.parametrize(("text", "number", "why"), [
    ("(2008 OS and later)", "2008", "an OS or product version"),
    ("Windows Server 2012 R2", "2012", "an OS or product version"),
    ("see KB 2919355", "2919355", "a KB article number"),
    ("ms.date: 05/17/2017", "17", "a date"),
    ("released Jan 2019", "2019", "a date"),
    ("since 2019", "2019", "a year"),
    ("version 2.0", "2", "a version"),
    ("every 30 seconds", "30", "a count"),
    ("port 1433", "1433", ""),
    ("80/8530: HTTP", "8530", ""),
    ("1024-65535", "65535", ""),
])
def test_numbers_that_are_no_port_say_why(text, number, why):
    start = text.index(number)
    assert not_port_reason(text, start, start + len(number)) == why
