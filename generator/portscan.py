"""Port mentions in free text: the one scanner that says where a text names a port.

A number counts as a port only next to the words that make it one, so that a product's
year or version is not a port:

* "TCP port 1433", "UDP 53", "TCP ports: 135"        (a transport before the number)
* "port 80", "ports 137 through 139", "port range 1024 to 65535"
* "8080/tcp", "5718 / TCP"                            (a transport after a slash)
* "the default 8080 port", "the 53 UDP port"          (the word port after the number)

Wherever a number may stand, so may a range: "1024-65535", "1024–65535" (en dash),
"1024—65535" (em dash), "1024 through 65535", "1024 to 65535", "between 1024 and 65535";
"above 1024" (or "greater/higher/larger than 1024") is every port after it, to 65535.
A bare range with no such word ("2008-2012") is not a mention; "larger than port 1024"
is one even without a word before it.

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
# Words that make a number a count ("2 instances"), not a port.
COUNT_NOUNS = (r"instances?|times?|minutes?|seconds?|hours?|days?|weeks?|months?|years?|rows?|characters?|bytes?"
               r"|[kmg]b|bugs?|issues?|fixes|pages?|servers?|computers?|nodes?|hosts?|clients?|users?|connections?|steps?|tables?|columns?|items?|copies")
_NUMBER = r"(?<![\w.])[0-9]+(?!\w|\.[0-9])"
NUMBER = re.compile(_NUMBER)
_SEPARATOR = r"\s*(?:-|–|—|\bthrough\b|\bto\b)\s*"
_ABOVE = r"\b(?:above|(?:greater|higher|larger)\s+than)\s+"
# "between" makes "and" a range separator; "above N" is read as N+1-65535 by range_of.
RANGE = (rf"(?:(?P<between>\bbetween\s+)|(?P<above>{_ABOVE}(?:ports?\s+)?))?(?P<first>{_NUMBER})"
         rf"(?:(?(between)(?:\s+and\s+|{_SEPARATOR})|{_SEPARATOR})(?P<last>{_NUMBER}))?")
_LEAD = r"(?:\s+(?:range|number)s?)?(?:\s+(?:of|from))?(?:\s*[:=]\s*\(?|\s+\(?|\s*\()"
_PATTERNS = (
    re.compile(rf"(?i)\b(?P<transport>tcp|udp)\b(?:[\s-]+ports?\b)?{_LEAD}{RANGE}"),  # TCP port 1433, UDP 53
    re.compile(rf"(?i)\b(?:local|remote)?ports?\b{_LEAD}{RANGE}"),  # port 80, ports 137 through 139, localport=80
    re.compile(rf"(?i){RANGE}\s*/\s*(?P<transport>tcp|udp)\b"),  # 8080/tcp
    re.compile(rf"(?i){RANGE}(?:\s+(?P<transport>tcp|udp))?\s+ports?\b"),  # the default 8080 port
    re.compile(rf"(?i)(?={_ABOVE}ports?\s){RANGE}"),  # larger than port 1024
    re.compile(rf"(?i)\brange\b(?:\s+(?:of|from))?:?\s+(?=[0-9]+{_SEPARATOR}[0-9]){RANGE}"),  # the range 1025 through 5000
)
# "ports 80 and 443", "port 5022 or 7022", "ports 137, 138 or 139": a list goes on.
_LIST_NEXT = re.compile(rf"(?i)(?:\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+)(?:from\s+)?{RANGE}(?!\s*(?:{COUNT_NOUNS})\b)")
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
    if first is not None and last == first and match.groupdict().get("above"):
        first, last = (first + 1, MAX_PORT) if first < MAX_PORT else (None, None)
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
        widest = max(matches, key=lambda match: (bool(match.group("above")), _numbers_end(match)))
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
    return _with_lists(text, mentions)


def _with_lists(text: str, mentions: list[PortMention]) -> list[PortMention]:
    """The mentions, with the numbers that continue a list after each."""
    found: list[PortMention] = []
    for index, mention in enumerate(mentions):
        found.append(mention)
        limit = mentions[index + 1].start if index + 1 < len(mentions) else len(text)
        end = mention.end
        while (following := _LIST_NEXT.match(text, end, limit)) and (ports := range_of(following)):
            found.append(PortMention(following.start("first"), _numbers_end(following), ports, mention.transport))
            end = following.end()
    return found


# --- numbers that are no port, and why ---

_MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_NOT_PORT_BEFORE = (
    ("a KB article number", re.compile(r"(?i)(?:\bkb|\bq|\barticle|/kb/)\s*#?\s*$")),
    ("a version", re.compile(r"(?i)(?:\bv|\bversion|\bsp|\bservice\s+pack|\brelease|\bbuild|[0-9]\.)\s*$")),
    ("an OS or product version", re.compile(r"(?i)\b(?:windows(?:\s+server)?|server|vista|office|sql\s+server|exchange|sharepoint|edition|center|net|\.net)\s*$")),
    ("a date", re.compile(rf"(?i)\b(?:{_MONTHS})\.?\s+(?:[0-9]{{1,2}},?\s+)?$")),
)
_NOT_PORT_AFTER = (
    ("a version", re.compile(r"(?i)^(?:\.[0-9]|\s+service\s+pack\b)")),
    ("an OS or product version", re.compile(r"(?i)^\s*(?:os\b|r2\b|sp[0-9]|(?:and|or)\s+(?:later|earlier|newer|older|above)\b|editions?\b)")),
    ("a date", re.compile(rf"(?i)^(?:\s+(?:{_MONTHS})\b|,\s+[0-9]{{4}}\b)")),
    ("a count", re.compile(rf"(?i)^\s*(?:{COUNT_NOUNS})\b")),
    ("a percentage or size", re.compile(r"(?i)^\s*(?:%|percent\b|[kmgt]i?b\b|mbps\b|gbps\b|ms\b)")),
)
CONTEXT_CHARS = 40
_YEAR = re.compile(r"19[89][0-9]|20[0-4][0-9]")
_YEAR_BEFORE = re.compile(r"(?i)\b(?:since|in|until|from|before|after|year|copyright|©)\s+$")
_DATE = re.compile(r"(?<![\w/.-])[0-9]{1,4}([/.-])[0-9]{1,2}\1[0-9]{1,4}(?![\w/]|\.[0-9])")  # 05/17/2017, 2017-05-17


def not_port_reason(text: str, start: int, end: int) -> str:
    """Why the digit run text[start:end] is no port ('a version', 'a date', 'a KB article
    number', 'an OS or product version', 'a count', 'out of range'), or "" when it may be one."""
    before, after = text[max(0, start - CONTEXT_CHARS):start], text[end:end + CONTEXT_CHARS]
    window = max(0, start - 10)
    if any(m.start() + window <= start and end <= m.end() + window for m in _DATE.finditer(text[window:end + 10])):
        return "a date"
    for reason, pattern in _NOT_PORT_AFTER:
        if pattern.search(after):
            return reason
    for reason, pattern in _NOT_PORT_BEFORE:
        if pattern.search(before):
            return reason
    if _YEAR.fullmatch(text[start:end]) and _YEAR_BEFORE.search(before):
        return "a year"
    if port_number(text[start:end]) is None:
        return "out of range (a port is 1 to 65535)"
    return ""


_FOOTNOTE = re.compile(r"[0-9]{1,2}")


def is_footnote_marker(text: str, start: int, end: int) -> bool:
    """Whether the digit run text[start:end] marks a footnote: one or two digits closed by
    ")" without an opening "(" before them ("5718, 1)"), or inside square brackets ("[3]")."""
    if not _FOOTNOTE.fullmatch(text[start:end]):
        return False
    before, after = text[start - 1:start], text[end:end + 1]
    return (after == ")" and before != "(") or (before == "[" and after == "]")
