"""Problems found in the data, as records with stable codes.

Loading and checks both yield `Issue` records; nothing raises on bad data. The
caller collects every issue and only then decides the exit code.
"""
from __future__ import annotations

import difflib
import heapq
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from enum import Enum
from functools import lru_cache
from typing import Iterable

import numpy as np

from .model import Location


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    severity: Severity
    summary: str
    # For a difference between a published page and the data: a recorded correction or
    # a platform default accounts for it, so it does not fail the comparison.
    explained: bool = False


# Every code the project can report. Codes are stable: a code is never reused
# for another meaning, so scripts and suppressions can rely on them.
CATALOG: dict[str, Code] = {
    c.code: c
    for c in [
        # Reading files (L).
        Code("L001", "file-unreadable", Severity.ERROR, "A data file is missing or cannot be read."),
        Code("L002", "encoding", Severity.ERROR, "A data file is not valid UTF-8."),
        Code("L003", "csv-syntax", Severity.ERROR, "The CSV cannot be parsed: an unbalanced quote, a NUL byte or a stray character."),
        Code("L004", "missing-column", Severity.ERROR, "A required column is absent from the header."),
        Code("L005", "unknown-column", Severity.ERROR, "The header names a column the schema does not know (often a typo)."),
        Code("L006", "too-large", Severity.ERROR, "A file, row, field or header exceeds the stated size limits."),
        Code("L007", "field-count", Severity.ERROR, "A row has more or fewer fields than the header."),
        Code("L008", "duplicate-column", Severity.ERROR, "The header names the same column twice."),
        Code("L009", "metadata", Severity.ERROR, "A dataset.toml or portbook.toml is malformed or lacks a required key."),
        # Values and references (S).
        Code("S101", "missing-value", Severity.ERROR, "A required cell is empty."),
        Code("S102", "bad-id", Severity.ERROR, "An id is not a lower-case slug (letters, digits, '.', '_', '-')."),
        Code("S103", "bad-port", Severity.ERROR, "A port is not a whole number from 1 to 65535, a range N-M, or 'any'."),
        Code("S104", "reversed-range", Severity.ERROR, "A port range ends before it starts."),
        Code("S105", "unknown-transport", Severity.ERROR, "The transport is not tcp, udp or any."),
        Code("S106", "unknown-role", Severity.ERROR, "A flow or inventory entry names a role that no roles.csv defines."),
        Code("S107", "duplicate-id", Severity.ERROR, "Two rows share an id (flow ids are unique across all datasets)."),
        Code("S108", "bad-value", Severity.ERROR, "A cell holds a value outside the column's allowed set or form."),
        Code("S109", "unknown-section", Severity.ERROR, "A row cites a section the dataset's source does not define."),
        Code("S110", "bad-address", Severity.ERROR, "An inventory address is not an IP address or network."),
        Code("S111", "unknown-flow", Severity.ERROR, "An erratum points at a flow id or column that does not exist."),
        # Consistency checks (C).
        Code("C201", "registry-mismatch", Severity.ERROR, "The port or transport disagrees with the registered service the row names."),
        Code("C202", "unknown-service", Severity.WARNING, "The service name is in no registry that was read."),
        Code("C203", "service-port-conflict", Severity.ERROR, "The same service between the same roles is given different ports."),
        Code("C204", "duplicate-flow", Severity.ERROR, "Two rows describe the same flow (transport, ports, roles and program)."),
        Code("C205", "program-spelling", Severity.ERROR, "One program is spelt two ways across the data."),
        Code("C206", "prose-port", Severity.WARNING, "Free text mentions a port that no flow of the dataset uses."),
        Code("C207", "dynamic-range", Severity.ERROR, "A dynamic port range disagrees with the platform's documented default."),
        Code("C208", "erratum-incomplete", Severity.ERROR, "An erratum lacks its published value, corrected value, rationale or evidence."),
        Code("C209", "erratum-stale", Severity.ERROR, "The data no longer holds an erratum's corrected value, or still holds its published one."),
        Code("C210", "role-conflict", Severity.ERROR, "Two datasets define the same role id with different names."),
        Code("C211", "unused-role", Severity.WARNING, "A role has no flows."),
        Code("C212", "dynamic-unmarked", Severity.WARNING, "A wide port range is not marked as a dynamic allocation pool."),
        Code("C213", "shared-address", Severity.WARNING, "Two roles claim the same inventory address or overlapping networks."),
        Code("C214", "sheet-row-limit", Severity.ERROR, "A role has more request lines than one worksheet holds (1,048,576 rows with the header)."),
        Code("C215", "registry-description", Severity.ERROR, "A row names a service, and its text calls the port by the registered description or name of another port of the same product."),
        Code("C216", "registry-description-text", Severity.WARNING, "A row's text calls its port by the registered description or name of another port of the same product."),
        Code("C217", "program-port", Severity.ERROR, "A rule bound to a program opens a port that the programs registry does not give that program."),
        Code("C218", "self-contradiction", Severity.WARNING, "One cell gives one thing two values: two ranges for one pool, or two transports for one port, with the row or within a sentence."),
        # A published page compared with a dataset (P), by `check --against`: unexplained
        # differences are errors, explained ones warnings.
        Code("P301", "port-not-in-data", Severity.ERROR, "The page states a port that no flow of the dataset has, and no erratum records."),
        Code("P302", "name-not-in-data", Severity.ERROR, "The page names a program or rule that no flow of the dataset has, and no erratum records."),
        Code("P303", "flow-not-on-page", Severity.ERROR, "A flow of the dataset whose port the page never states."),
        Code("P304", "erratum", Severity.WARNING, "The page's value differs from the data, as a recorded erratum explains.", explained=True),
        Code("P305", "dynamic-pool", Severity.WARNING, "The page says dynamic ports without a range; the data records the platform's pool.", explained=True),
        Code("P306", "pages-disagree", Severity.ERROR, "Two pages compared with one dataset give one flow, or one transport's dynamic pool, values with none in common."),
        Code("P307", "fixed-upstream", Severity.WARNING, "A later revision of the page no longer states an erratum's published value and states the data's: the vendor fixed it.", explained=True),
        Code("P308", "page-program-port", Severity.ERROR, "The page opens a port as an exception for a program that the programs registry does not give that port, and no erratum records it."),
        Code("P309", "page-registry-description", Severity.ERROR, "The page calls a port by the registered description or name of another port of the same product, and no erratum records it."),
    ]
}


@dataclass(frozen=True)
class Issue:
    code: str
    file: str
    line: int
    column: int
    message: str
    field: str = ""  # the CSV column (or metadata key) the issue is about

    @property
    def severity(self) -> Severity:
        return CATALOG[self.code].severity

    @property
    def name(self) -> str:
        return CATALOG[self.code].name

    @property
    def explained(self) -> bool:
        return CATALOG[self.code].explained

    def format(self) -> str:
        """The FILE:LINE:COLUMN: CODE message form that editors and CI understand."""
        return f"{self.file}:{self.line}:{self.column}: {self.code} {self.message}"

    def to_dict(self) -> dict:
        record = asdict(self)
        record.update(severity=self.severity.value, name=self.name)
        return record


def issue(code: str, where: Location, message: str, field: str = "") -> Issue:
    if code not in CATALOG:
        raise KeyError(f"unregistered issue code {code}")
    return Issue(code, where.file, where.line, where.column, message, field)


def has_errors(issues: list[Issue]) -> bool:
    return any(item.severity is Severity.ERROR for item in issues)


def counts(issues: list[Issue]) -> tuple[int, int]:
    """(errors, warnings) among the issues."""
    errors = sum(item.severity is Severity.ERROR for item in issues)
    return errors, len(issues) - errors


def render_text(issues: list[Issue]) -> str:
    lines = [item.format() for item in issues]
    errors, warnings = counts(issues)
    lines.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(lines) + "\n"


def render_json(issues: list[Issue]) -> str:
    errors, warnings = counts(issues)
    payload = {
        "errors": errors,
        "warnings": warnings,
        "issues": [item.to_dict() for item in issues],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def sort_key(item: Issue) -> tuple:
    return (item.file, item.line, item.column, item.code)


class Suggestions:
    """Close matches among many choices, in time that does not grow with their number.

    Choices are indexed by the character trigrams of their first INDEXED characters
    (lower-cased): a misspelling shares most of those, and a long name costs no more to
    index or look up than a short one. A query reads the index's lists of the trigrams
    it shares, rarest first and at most POSTINGS entries in all (NEAR_POSTINGS for a
    cutoff of NEAR or more, LONG_POSTINGS for a long query), and compares with
    difflib only the CANDIDATES choices sharing the most trigrams with it; a query
    longer than INDEXED characters, only those among them that share at least a
    quarter of the lists read (a misspelt long name shares nearly all of them; comparing
    two unrelated long names is what costs). Up to CANDIDATES choices, every one is
    compared, as a plain difflib search would."""

    CANDIDATES = 8
    POSTINGS = 2048
    # At a cutoff of NEAR and above, a match shares most of the query's trigrams, the
    # rarest among them, so a shorter read finds it; long queries read the least.
    NEAR = 0.9
    NEAR_POSTINGS = 512
    LONG_POSTINGS = 128
    INDEXED = 128

    def __init__(self, choices: Iterable[str]):
        # The first spelling of each lower-cased choice, in the order given.
        self.original: dict[str, str] = {}
        for choice in choices:
            self.original.setdefault(choice.lower(), choice)
        self.keys = list(self.original)
        # Each key's trigrams, counted the first time a query is compared with it.
        self.key_trigrams: dict[str, Trigrams] = {}
        self.postings: dict[str, list[int]] = defaultdict(list)
        for index, key in enumerate(self.keys):
            for gram in trigrams(key[:self.INDEXED]):
                self.postings[gram].append(index)

    def candidates(self, value: str, cutoff: float = 0.0) -> list[str]:
        """The lower-cased choices worth comparing with `value` for a ratio of `cutoff`: at most CANDIDATES."""
        if len(self.keys) <= self.CANDIDATES:
            return self.keys
        # Rarest first, lists of one length in the order of their trigrams (not of a set's
        # hashing, so that a run gives the same suggestions as any other).
        grams = sorted(trigrams(value.lower()[:self.INDEXED]))
        lists = sorted(filter(None, map(self.postings.get, grams)), key=len)
        read: list[int] = []
        cut: list[int] = []  # the part read of a list the budget cuts short
        long = len(value) > self.INDEXED
        budget = self.LONG_POSTINGS if long else self.NEAR_POSTINGS if cutoff >= self.NEAR else self.POSTINGS
        lists_read = 0
        for found in lists:
            lists_read += 1
            if len(found) >= budget:
                cut = found[:budget]
                break
            read += found
            budget -= len(found)
        shared_by = Counter(read)  # in the order first read
        if len(shared_by) >= self.CANDIDATES:
            # A choice first read in the cut list shares one trigram and ranks after every
            # choice read before it, of which there are enough: only those can gain.
            shared_by.update(shared_by.keys() & cut)
        else:
            shared_by.update(cut)
        # The most shared first, ties in the order first read.
        shared = shared_by.most_common(self.CANDIDATES)
        least = lists_read / 4 if long else 0
        return [self.keys[index] for index, count in shared if count >= least]

    def similar(self, value: str, cutoff: float) -> list[str]:
        """The candidates whose difflib ratio to `value` (lower-cased) is at least `cutoff`,
        closest first, in their original spelling: what difflib.get_close_matches gives,
        without the ratio of pairs that cannot reach `cutoff` (see `may_reach`), which on
        long names costs far more than reading them."""
        lowered = value.lower()
        own: Trigrams | None = None
        matcher: difflib.SequenceMatcher | None = None
        scored = []
        for key in self.candidates(lowered, cutoff):
            if key == lowered:
                scored.append((1.0, key))
                continue
            # The bounds from the cheapest up: lengths, shared trigrams, letter counts.
            if 2.0 * min(len(lowered), len(key)) / (len(lowered) + len(key)) < cutoff:  # difflib's real_quick_ratio
                continue
            if own is None:
                own = self.key_trigrams.get(lowered) or Trigrams(lowered)
            if (theirs := self.key_trigrams.get(key)) is None:
                theirs = self.key_trigrams[key] = Trigrams(key)
            if not may_reach(own, theirs, cutoff):
                continue
            if matcher is None:
                matcher = difflib.SequenceMatcher()
                matcher.set_seq2(lowered)
            matcher.set_seq1(key)
            if matcher.quick_ratio() >= cutoff and (ratio := matcher.ratio()) >= cutoff:
                scored.append((ratio, key))
        return [self.original[key] for _, key in heapq.nlargest(self.CANDIDATES, scored)]


# The screen of `out_of_reach` reads choices from SCREEN_FROM characters (shorter pairs
# may reach a cutoff sharing no trigram) to SCREEN_TO, each reading at most SCREEN_READS
# postings (a choice made of common pieces is left to `Suggestions.similar`), SCREEN_BLOCK
# choices at a time, so that at most SCREEN_BLOCK * SCREEN_READS pairs are held at once.
SCREEN_FROM = 8
SCREEN_TO = 64
SCREEN_READS = 1024
SCREEN_BLOCK = 1024
SCREEN_HITS = 3
# Taken off every bound, so that float rounding never makes the screen stricter than the
# tests it stands for.
_SLACK = 1e-9


def out_of_reach(choices: Iterable[str], cutoff: float) -> set[str]:
    """The lower-cased choices that no other choice may reach at `cutoff`, found for all
    at once. Reaching is symmetric, so no other choice's `Suggestions.similar` gives such
    a choice, and its own gives itself at most: a caller comparing every choice with every
    other (the program spelling check) leaves these out, of the index and of the queries.

    A pair reaches the cutoff only if its lengths allow it (difflib's real_quick_ratio)
    and, by `may_reach`, it shares `bound` trigrams or more, counting at most the fewer
    repeats of the two: so a choice of n distinct trigrams shares at least T of them with
    any other that can reach it, T from the shortest length allowed and the choice's own
    repeats. Then the other holds at least m = min(SCREEN_HITS, T) of any n - T + m of the
    choice's trigrams, here its rarest. The screen counts, for each choice, the others
    holding those; one that no other holds m of is out of reach. Only that necessary
    condition is tested: a choice it leaves is compared as before."""
    coefficient = 2.5 * cutoff - 2
    if coefficient <= 0 or cutoff > 1:
        return set()  # the bound says nothing
    widest = SCREEN_TO * (2 - cutoff) / cutoff + _SLACK  # the longest choice a screened one may reach
    keys = [key for key in dict.fromkeys(choice.lower() for choice in choices) if len(key) <= widest]
    if len(keys) < 2:
        return set()
    grams = [Trigrams(key) for key in keys]
    pieces = [piece for trigrams in grams for piece in trigrams.distinct]
    distinct = np.array([len(trigrams.distinct) for trigrams in grams], dtype=np.int64)
    repeats = np.array([trigrams.repeats for trigrams in grams], dtype=np.int64)
    lengths = np.array(list(map(len, keys)), dtype=np.int64)
    owner = np.repeat(np.arange(len(keys)), distinct)
    codes = _numbered(pieces)
    frequency = np.bincount(codes)
    # Postings: the owners of each trigram, trigram after trigram.
    posted = owner[np.argsort(codes, kind="stable")]
    starts = np.cumsum(frequency) - frequency
    # Each choice's required share T, and its n - T + m rarest trigrams.
    shortest = np.ceil(lengths * cutoff / (2 - cutoff) - _SLACK)
    required = np.ceil(coefficient * (lengths + shortest) - 2 - repeats - _SLACK).astype(np.int64)
    hits = np.minimum(SCREEN_HITS, required)
    order = np.lexsort((codes, frequency[codes], owner))  # by owner, rarest first
    rank = run_positions(distinct)
    entry = order[rank < (distinct - required + hits)[owner[order]]]
    reads = np.bincount(owner[entry], weights=frequency[codes[entry]], minlength=len(keys))
    screened = (lengths >= SCREEN_FROM) & (lengths <= SCREEN_TO) & (required >= 1) & (reads <= SCREEN_READS)
    entry = entry[screened[owner[entry]]]
    reached = np.zeros(len(keys), dtype=bool)
    # Entries are in owner order: a block of owners is a run of entries.
    bounds = np.searchsorted(owner[entry], np.arange(0, len(keys) + SCREEN_BLOCK, SCREEN_BLOCK))
    for low, high in zip(bounds[:-1], bounds[1:]):
        block = entry[low:high]
        # Every (choice, other choice holding one of its read trigrams), once per trigram held.
        counts = frequency[codes[block]]
        query = np.repeat(owner[block], counts)
        other = posted[np.repeat(starts[codes[block]], counts) + run_positions(counts)]
        fits = (other != query) & (2 * np.minimum(lengths[query], lengths[other])
                                   >= cutoff * (lengths[query] + lengths[other]) - _SLACK)
        pair, held = np.unique(query[fits] * len(keys) + other[fits], return_counts=True)
        reached[pair[held >= hits[pair // len(keys)]] // len(keys)] = True
    return {keys[at] for at in np.flatnonzero(screened & ~reached)}


def run_positions(lengths: np.ndarray) -> np.ndarray:
    """For runs of `lengths` elements laid end to end, each element's position within its run."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _numbered(values: list[str]) -> np.ndarray:
    """Each value's number among the distinct values, in order of first appearance."""
    numbers = {value: number for number, value in enumerate(dict.fromkeys(values))}
    return np.fromiter(map(numbers.__getitem__, values), dtype=np.int64, count=len(values))


def trigrams(text: str) -> set[str]:
    """The three-character pieces of `text`, padded so that short texts and their ends count."""
    padded = f"  {text} "
    return {padded[index:index + 3] for index in range(len(padded) - 2)}


def _pieces(text: str) -> list[str]:
    """The three-character pieces of `text`, unpadded, in order."""
    return list(map("".join, zip(text, text[1:], text[2:])))


class Trigrams:
    """The three-character pieces of a text (unpadded) with how often each occurs, in
    the form that is cheapest to compare. A short text keeps the set of its distinct
    trigrams and how many of its trigrams repeat one: set operations then rule most
    pairs out, and give the count outright where either text repeats none. A long text
    is counted with numpy (sorted trigram codes and their counts), since counting a
    2,000-character name's trigrams in Python costs more than everything else a
    suggestion does."""

    LONG = 128  # characters from which a text is counted with numpy

    __slots__ = ("text", "short", "distinct", "repeats", "_counter", "_codes")

    def __init__(self, text: str):
        self.text = text
        self.short = len(text) < self.LONG
        self.distinct: frozenset[str] = frozenset()
        self.repeats = 0
        if self.short:
            grams = _pieces(text)
            self.distinct = frozenset(grams)
            self.repeats = len(grams) - len(self.distinct)
        self._counter: Counter[str] | None = None
        self._codes: tuple[np.ndarray, np.ndarray] | None = None

    def counter(self) -> Counter[str]:
        if self._counter is None:
            self._counter = Counter(_pieces(self.text))
        return self._counter

    def codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Each distinct trigram as one integer (three 21-bit code points), sorted, and its count."""
        if self._codes is None:
            points = np.frombuffer(self.text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
            grams = (points[:-2] << np.uint64(42)) | (points[1:-1] << np.uint64(21)) | points[2:]
            self._codes = np.unique(grams, return_counts=True)
        return self._codes

    def shares_at_least(self, other: Trigrams, bound: float) -> bool:
        """Whether the texts share `bound` trigrams or more, as `shared` counts them."""
        if self.short and other.short:
            common = len(self.distinct & other.distinct)
            # Each shared trigram counts once, and at most the repeats of the text with fewer more.
            if common + min(self.repeats, other.repeats) < bound:
                return False
            if not self.repeats or not other.repeats:
                return common >= bound
        return self.shared(other) >= bound

    def shared(self, other: Trigrams) -> int:
        """How many trigrams the two texts share, each counted as often as the text with fewer holds it."""
        if self.short and other.short:
            one, two = self.counter(), other.counter()
            return sum(min(one[gram], two[gram]) for gram in one.keys() & two.keys())
        (one_codes, one_counts), (two_codes, two_counts) = self.codes(), other.codes()
        _, one_at, two_at = np.intersect1d(one_codes, two_codes, assume_unique=True, return_indices=True)
        return int(np.minimum(one_counts[one_at], two_counts[two_at]).sum())


def may_reach(one: Trigrams, other: Trigrams, cutoff: float) -> bool:
    """Whether two texts with these trigrams may have a difflib ratio of `cutoff` or more.
    Ratio r = 2M/length, length the two texts' characters together and M the characters
    of the matching blocks; a block of L characters holds L - 2 trigrams both texts share,
    and blocks are separated by at least one unmatched character, so there are at most
    length - 2M + 1 of them and the shared trigrams are at least M - 2(length - 2M + 1),
    that is (5r/2 - 2) * length - 2. Below a cutoff of 0.8 that bound says nothing."""
    bound = (2.5 * cutoff - 2) * (len(one.text) + len(other.text)) - 2
    return bound <= 0 or one.shares_at_least(other, bound)


@lru_cache(maxsize=8)
def _suggestions_of(choices: frozenset[str]) -> Suggestions:
    return Suggestions(sorted(choices))


def did_you_mean(value: str, choices: Iterable[str] | Suggestions, cutoff: float = 0.6) -> str:
    """' (did you mean X?)' for the closest choice, or ''. A caller asking about many
    values against the same large set passes one `Suggestions` built once; a plain set
    of choices is indexed once and the index kept for the next calls with the same set."""
    index = choices if isinstance(choices, Suggestions) else _suggestions_of(frozenset(choices))
    match = index.similar(value, cutoff)
    return f" (did you mean {match[0]!r}?)" if match else ""
