"""Where every port-like number of a page went, for `import`: into a draft row, onto the
list of ports stated outside the drafted cells (compare them: typos hide there), or set
aside as no port with the reason (a version, a date, a KB number, a footnote marker, a
count, a number no port word stands next to). Nothing on the page is dropped unsaid.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..portscan import NUMBER, not_port_reason
from .mentions import PageStatements, PortStatement, sentences
from .parse import LocatedText, one_line

DRAFTED = "drafted"
LISTED = "listed"
NOT_PORT = "not a port"


@dataclass(frozen=True)
class NumberFate:
    """One number of the page and what became of it."""

    line: int
    column: int
    number: str
    fate: str  # DRAFTED, LISTED or NOT_PORT
    reason: str  # why it is listed or no port; "" when drafted
    sentence: str


def _covers(statement: PortStatement, line: int, column: int, number: str) -> bool:
    """Whether the number at (line, column) is one the statement reads (its first number,
    or the end of its range): the statement starts at its first digit."""
    return (statement.line == line and statement.column <= column
            and column - statement.column <= len(statement.words) + SPAN_SLACK and number in statement.words)


SPAN_SLACK = 8  # page characters a statement's words may grow by on the page (escapes, tags)


class _Statements:
    """Statements found by where they start, so that a page of many numbers is not read
    once per number."""

    def __init__(self, statements: list[PortStatement]):
        self.by_line: dict[int, list[PortStatement]] = {}
        for statement in sorted(statements, key=lambda s: (s.line, s.column)):
            self.by_line.setdefault(statement.line, []).append(statement)
        self.columns = {line: [s.column for s in found] for line, found in self.by_line.items()}
        self.widest = {line: max(len(s.words) for s in found) + SPAN_SLACK for line, found in self.by_line.items()}

    def cover(self, line: int, column: int, number: str) -> bool:
        found = self.by_line.get(line)
        if not found:
            return False
        columns = self.columns[line]
        low = bisect.bisect_left(columns, column - self.widest[line])
        high = bisect.bisect_right(columns, column)
        return any(_covers(found[index], line, column, number) for index in range(low, high))


def _ends(statements: list[PortStatement]) -> set[str]:
    return {str(end) for s in statements if s.ports is not None for end in (s.ports.first, s.ports.last)}


def account(stated: PageStatements) -> list[NumberFate]:
    """The fate of every ASCII number on the page (each located once, in page order)."""
    fates: dict[tuple[int, int], NumberFate] = {}

    def settle(text: LocatedText, fate_of) -> None:
        for line, column, note in text.notes:
            fates.setdefault((line, column), NumberFate(line, column, note, NOT_PORT, "a footnote marker", ""))
        spans = sentences(text.text)
        starts = [start for start, _ in spans]
        said: dict[int, str] = {}
        for match in NUMBER.finditer(text.text):
            line, column = text.at(match.start())
            if (line, column) in fates:
                continue
            index = bisect.bisect_right(starts, match.start()) - 1
            if index not in said:
                inside = index >= 0 and match.start() < spans[index][1]
                said[index] = one_line(text.text[spans[index][0]:spans[index][1]]) if inside else ""
            fate, reason = fate_of(match, line, column)
            if not fate:
                fate, reason = NOT_PORT, (not_port_reason(text.text, match.start(), match.end())
                                          or "no port word (port, TCP, UDP, N/tcp) stands next to it")
            fates[(line, column)] = NumberFate(line, column, match.group(), fate, reason, said[index])

    for row in stated.rows:
        drafted, beside, drafted_ends = _Statements(row.ports), _Statements(row.mentions), _ends(row.ports)

        def row_fate(match, line, column, row=row, drafted=drafted, beside=beside, drafted_ends=drafted_ends):
            number = match.group()
            if drafted.cover(line, column, number):
                return DRAFTED, ""
            if number.lstrip("0") in drafted_ends:
                return DRAFTED, "the row's own port again"
            if beside.cover(line, column, number):
                return LISTED, f"stated in another cell of the row at line {row.row.line}, whose port cell was drafted: compare them"
            return "", ""

        for text in row.row.cells.values():
            settle(text, row_fate)

    prose = _Statements(stated.prose)

    def prose_fate(match, line, column):
        if prose.cover(line, column, match.group()):
            return LISTED, "stated outside the port tables and lists: compare it with them"
        return "", ""

    for block in stated.page.prose:
        settle(block.text, prose_fate)
    return sorted(fates.values(), key=lambda fate: (fate.line, fate.column))
