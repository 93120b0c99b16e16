"""Where every port-like number of a page went, for `import`: into a draft row, onto the
list of ports stated outside the drafted cells (compare them: typos hide there), or set
aside as no port with the reason (a version, a date, a KB number, a footnote marker, a
count, a number no port word stands next to). Nothing on the page is dropped unsaid.
"""
from __future__ import annotations

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


def _texts(stated: PageStatements) -> list[LocatedText]:
    texts = [cell for row in stated.rows for cell in row.row.cells.values()]
    texts += [block.text for block in stated.page.prose]
    return texts


def _covers(statement: PortStatement, line: int, column: int, number: str) -> bool:
    """Whether the number at (line, column) is one the statement reads (its first number,
    or the end of its range): the statement starts at its first digit."""
    return (statement.line == line and statement.column <= column
            and column - statement.column <= len(statement.words) + 8 and number in statement.words)


def account(stated: PageStatements) -> list[NumberFate]:
    """The fate of every ASCII number on the page (each located once, in page order)."""
    drafted = [statement for row in stated.rows for statement in row.ports]
    in_rows = [(statement, row.row.line) for row in stated.rows for statement in row.mentions]
    fates: dict[tuple[int, int], NumberFate] = {}
    for text in _texts(stated):
        for line, column, note in text.notes:
            fates.setdefault((line, column), NumberFate(line, column, note, NOT_PORT, "a footnote marker", ""))
        spans = sentences(text.text)
        for match in NUMBER.finditer(text.text):
            line, column = text.at(match.start())
            if (line, column) in fates:
                continue
            number = match.group()
            sentence = one_line(next((text.text[a:b] for a, b in spans if a <= match.start() < b), ""))
            if any(_covers(s, line, column, number) for s in drafted):
                fates[(line, column)] = NumberFate(line, column, number, DRAFTED, "", sentence)
                continue
            beside = next((row_line for s, row_line in in_rows if _covers(s, line, column, number)), 0)
            if beside:
                reason = f"stated in another cell of the row at line {beside}, whose port cell was drafted: compare them"
                fates[(line, column)] = NumberFate(line, column, number, LISTED, reason, sentence)
                continue
            if any(_covers(s, line, column, number) for s in stated.prose):
                fates[(line, column)] = NumberFate(line, column, number, LISTED, "stated outside the port tables and lists: compare it with them", sentence)
                continue
            reason = not_port_reason(text.text, match.start(), match.end()) or "no port word (port, TCP, UDP, N/tcp) stands next to it"
            fates[(line, column)] = NumberFate(line, column, number, NOT_PORT, reason, sentence)
    return sorted(fates.values(), key=lambda fate: (fate.line, fate.column))
