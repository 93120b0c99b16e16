"""Port mentions in free text: the one scanner that says where a text names a port.

A number counts as a port only next to the words that make it one, so that a product's
year or version is not a port:

* "TCP port 1433", "UDP 53", "TCP ports: 135"        (a transport before the number)
* "port 80", "ports 137 through 139", "port range 1024 to 65535"
* "8080/tcp", "5718 / TCP"                            (a transport after a slash)
* "the default 8080 port", "the 53 UDP port"          (the word port after the number)

Wherever a number may stand, so may a range: "1024-65535", "1024–65535" (en dash),
"1024—65535" (em dash), "1024 through 65535", "1024 to 65535". A bare range with no
such word ("2008-2012") is not a mention.

Numbers are ASCII digits only (other scripts' digits are not port numbers), each from 1
to 65535; a mention holding a number out of that range, or a reversed range, is not a
mention at all (the scanner does not fall back to a shorter reading of the same words).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .model import PortRange

MAX_PORT = 65535
MAX_PORT_DIGITS = len(str(MAX_PORT))

# A whole run of ASCII digits, not part of a word or of a dotted version ("1.2", "v8080").
# The run is taken whole and checked afterwards, so "port 123456" is never read as 12345.
_NUMBER = r"(?<![\w.])[0-9]+(?!\w|\.[0-9])"
_SEPARATOR = r"\s*(?:-|–|—|\bthrough\b|\bto\b)\s*"
RANGE = rf"(?P<first>{_NUMBER})(?:{_SEPARATOR}(?P<last>{_NUMBER}))?"
_LEAD = r"(?:\s+(?:range|number)s?)?(?:\s+(?:of|from))?:?\s+"
_PATTERNS = (
    re.compile(rf"(?i)\b(?P<transport>tcp|udp)\b(?:[\s-]+ports?\b)?{_LEAD}{RANGE}"),  # TCP port 1433, UDP 53
    re.compile(rf"(?i)\bports?\b{_LEAD}{RANGE}"),  # port 80, ports 137 through 139
    re.compile(rf"(?i){RANGE}\s*/\s*(?P<transport>tcp|udp)\b"),  # 8080/tcp
    re.compile(rf"(?i){RANGE}(?:\s+(?P<transport>tcp|udp))?\s+ports?\b"),  # the default 8080 port
)
_WHOLE_RANGE = re.compile(rf"\s*{RANGE}\s*", re.IGNORECASE)


@dataclass(frozen=True)
class PortMention:
    start: int  # character offsets of the mention in the text
    end: int
    ports: PortRange
    transport: str  # "tcp", "udp", or "" when the text does not say


def port_number(digits: str) -> int | None:
    """The port an ASCII digit run names, or None when it is no port (0, above 65535).
    The length is checked before int(), which refuses runs of more than 4300 digits."""
    significant = digits.lstrip("0")
    if not significant or len(significant) > MAX_PORT_DIGITS:
        return None
    number = int(significant)
    return number if number <= MAX_PORT else None


def range_of(match: re.Match) -> PortRange | None:
    """The port or range of a match of RANGE (groups 'first' and 'last'), or None when a
    number is no port or the range runs backwards."""
    first = port_number(match.group("first"))
    last = port_number(match.group("last")) if match.group("last") is not None else first
    if first is None or last is None or last < first:
        return None
    return PortRange(first, last)


def stated_range(text: str) -> PortRange | None:
    """The port or range that a whole text is ('8080', '1024-65535', '1024 through 65535'),
    or None for any other text."""
    match = _WHOLE_RANGE.fullmatch(text)
    return range_of(match) if match else None


def _numbers_end(match: re.Match) -> int:
    """Where the number or range a match reads ends."""
    return match.end("last") if match.group("last") is not None else match.end("first")


def scan(text: str) -> list[PortMention]:
    """Every port mention of the text, in text order. Where several shapes read the same
    number ("port 8080/tcp" is both "port 8080" and "8080/tcp"), they are one mention
    spanning all of them, with the transport they name (none when they disagree)."""
    readings: dict[int, list[re.Match]] = {}
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            readings.setdefault(match.start("first"), []).append(match)
    mentions: list[PortMention] = []
    previous: list[re.Match] = []
    for number_start in sorted(readings):
        matches = readings[number_start]
        widest = max(matches, key=_numbers_end)
        ports = range_of(widest)
        if ports is None:
            continue
        named = {match.group("transport").lower() for match in matches if match.groupdict().get("transport")}
        transport = named.pop() if len(named) == 1 else ""
        start = min(match.start() for match in matches)
        end = max(match.end() for match in matches)
        if mentions and start < mentions[-1].end:
            # "TCP 80 port 443": a word two readings share goes to the later number.
            last = mentions[-1]
            kept = max((match.end() for match in previous if match.end() <= start), default=start)
            kept = last.start + len(text[last.start:kept].rstrip())
            mentions[-1] = PortMention(last.start, kept, last.ports, last.transport)
        mentions.append(PortMention(start, end, ports, transport))
        previous = matches
    return mentions
