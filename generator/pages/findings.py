"""What a page gets wrong in its own shape, found at import, each at its page location:
a row repeated exactly, a row with missing or extra cells, a header spelled like no known
header, a row that states no port (so it has no draft row), a row or sentence that gives
one pool two ranges, a table with no port column, an empty port table, a page that states
no port at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from .mentions import PageStatements
from .parse import one_line


@dataclass(frozen=True)
class Finding:
    line: int
    column: int
    message: str


def _ranges(statements) -> list[str]:
    return list(dict.fromkeys(str(s.ports) for s in statements if s.ports is not None and not s.ports.is_single))


def find(stated: PageStatements) -> list[Finding]:
    page = stated.page
    found: list[Finding] = []
    for table in page.tables:
        for position, suggestion in table.misspelt:
            column = table.header_columns[position] if position < len(table.header_columns) else 1
            hint = f"; did you mean {suggestion!r}? (read as that)" if suggestion else "; its cells are read as details"
            found.append(Finding(table.line, column, f"header {table.header[position]!r} is spelled like no known header{hint}"))
        if not table.rows:
            found.append(Finding(table.line, 1, "the port table has no rows"))
        seen: dict[tuple[str, ...], int] = {}
        for row in table.rows:
            if row.cell_count != len(table.header):
                what = "missing" if row.cell_count < len(table.header) else "extra"
                found.append(Finding(row.line, row.column, f"row has {row.cell_count} cell(s) where the header has {len(table.header)}: {what} cells"))
            key = tuple(one_line(cell.text) for cell in row.cells.values())
            if key in seen:
                found.append(Finding(row.line, row.column, f"row repeats the row at line {seen[key]} exactly"))
            else:
                seen[key] = row.line
    for other in page.other_tables:
        found.append(Finding(other.line, 1, f"table with no port column ({' | '.join(other.header)}): its cells are read as prose"
                             + ("" if other.rows else "; it is empty")))
    for row in stated.rows:
        if not row.ports:
            port = row.row.cell("port")
            found.append(Finding(row.row.line, row.row.column, "the row states no port"
                                 + (f" (its port cell says {port!r})" if port else "") + ", so it has no draft row"))
        statements = row.ports + row.mentions
        ranges = _ranges(statements)
        if any(s.dynamic for s in statements) and len(ranges) > 1:
            found.append(Finding(row.row.line, row.row.column, f"the row gives one dynamic pool two ranges: {' and '.join(ranges)}"))
    by_sentence: dict[str, list] = {}
    for statement in stated.prose:
        by_sentence.setdefault(statement.sentence, []).append(statement)
    for sentence, statements in by_sentence.items():
        ranges = _ranges(statements)
        if len(ranges) > 1 and any(word in sentence.lower() for word in ("dynamic", "pool", "range")):
            first = statements[0]
            found.append(Finding(first.line, first.column, f"the sentence gives one pool two ranges: {' and '.join(ranges)}"))
    if not stated.ports:
        found.append(Finding(1, 1, "the page states no port"))
    return sorted(found, key=lambda finding: (finding.line, finding.column))
