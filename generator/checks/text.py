"""Checks on ports mentioned in free text."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import Generic, Iterator, Mapping, NamedTuple, TypeVar

import numpy as np
import pandas as pd

from ..issues import Issue, issue, run_positions
from ..model import ANY, Flow, Model, PortRange
from ..portscan import NUMBER, PortMention, is_footnote_marker, not_port_reason, port_number, scan
from ..registry import Registry
from ..schema import among, repeated_values
from .registration import check

FREE_TEXT_COLUMNS = ("purpose", "condition", "assumption", "rule")

T = TypeVar("T")

# A vectorised screen (RE2, through pandas' string methods) that rules out most texts
# before `scan` reads the rest. Every shape of mention `scan` knows holds one of these:
# a transport or "port" word, then (through the words scan allows between) a digit
# (KEYWORD); or after a number, "/tcp", a range sign, or a "port" word, or before one,
# "between", "above" or "greater than" (FOLLOWER). The
# classes are wider than scan's: they may keep a text scan finds nothing in, never the
# reverse. The space class is Python's \s spelt out, since RE2's \s is ASCII only.
_SPACE = "[" + "".join(chr(code) for code in range(0x3001) if chr(code).isspace()) + "]"
_BEFORE_NUMBER = (rf"(?:tcp|udp|ports?)(?:(?:{_SPACE}|-)+ports?)?(?:{_SPACE}+(?:range|number)s?)?"
                  rf"(?:{_SPACE}+(?:of|from))?:?{_SPACE}+")
_KEYWORD = rf"(?i){_BEFORE_NUMBER}[0-9]"
_KEYWORD_NUMBER = rf"(?is)^.*?{_BEFORE_NUMBER}([0-9]+).*$"
_RANGE_SIGN = "(?:-|–|—|through|to)"  # what may stand between the two numbers of a range
_FOLLOWER = (rf"(?i)/{_SPACE}*(?:tcp|udp)|{_RANGE_SIGN}{_SPACE}*[0-9]"
             rf"|[0-9](?:{_SPACE}+(?:tcp|udp))?{_SPACE}+ports?"
             rf"|(?:between|above|than){_SPACE}+(?:ports?{_SPACE}+)?[0-9]")


# A screen for C218: what it reports needs a mention of a pool (a range, "above N") or of
# a transport, and each of those holds one of these. Wider than scan, never narrower.
_POOL_OR_TRANSPORT = rf"(?i)tcp|udp|above|than|[0-9]{_SPACE}*(?:{_RANGE_SIGN}|and){_SPACE}*[0-9]"


def without_notes(description: str) -> str:
    """A registry description without its parenthesised notes."""
    return " ".join(re.sub(r"\([^)]*\)?", " ", description).split())


def named_phrase(description: str, common_words: set[str] = frozenset()) -> str:
    """The words of a registry description that name its thing in free text: lower-cased,
    without parenthesised notes or `common_words` (a vendor or product word that every
    entry of the product carries); '' when fewer than two words are left, since one word
    ("server", "agent") names too many things."""
    words = [word for word in without_notes(description).lower().split() if word not in common_words]
    return " ".join(words) if len(words) >= 2 else ""


# Free text as phrases are looked for in it: runs of word characters (letters, digits,
# "_" and "-", the characters a whole word may not touch) and single signs between them.
_WORD, _SIGN = r"[\w-]+", r"[^\w\s-]"
_TOKEN = re.compile(rf"({_WORD})|{_SIGN}")


class _Token(NamedTuple):  # a tuple: texts make hundreds of thousands of them
    start: int
    end: int
    folded: str  # str.casefold of the token
    word: bool  # a run of word characters, not a sign
    spaced: bool  # white space comes before it

    @property
    def key(self) -> tuple[str, bool]:
        return self.folded, self.spaced


# An ASCII text as a partition: runs of white space, runs of word characters, single signs.
_ITEM = re.compile(rf"\s+|{_WORD}|{_SIGN}")


def _is_word(item: str) -> bool:
    """Whether an item of an ASCII text's partition is a run of word characters."""
    first = item[0]
    return first.isalnum() or first == "_" or first == "-"


def _tokens(text: str) -> list[_Token]:
    tokens, end = [], 0
    for match in _TOKEN.finditer(text):
        tokens.append(_Token(match.start(), match.end(), match.group().casefold(), match.group(1) is not None,
                             match.start() > end))
        end = match.end()
    return tokens


@dataclass
class _Node(Generic[T]):
    """The phrases that go on with one more token, and the phrase that ends here."""

    next: dict[tuple[str, bool], _Node[T]] = field(default_factory=dict)
    ends: bool = False
    value: T | None = None


class Screened(NamedTuple):
    """What `PhraseIndex.may_name` makes of a column of texts."""

    pairs: pd.DataFrame  # columns "label" (a text's index label) and "value" (a number in PhraseIndex.values)
    unread: pd.Index  # the labels of the texts the screen cannot rule on: `find` reads them


# The screen's reading of an ASCII text, lower-cased: every character that is neither a word
# character nor a space becomes a space (spaces are most of what is not a word, and RE2's
# replace costs by the match), and the text is split at each space.
_NOT_WORD_OR_SPACE = r"[^0-9a-z_ -]"


def _screen_split(texts: pd.Series) -> pd.Series:
    """Each ASCII text as the screen reads it: its lower-cased words as a list, with an
    empty word wherever two spaces meet or a space begins or ends the text. Lists of words
    through pandas' Arrow list type, so that splitting and exploding are vectorised."""
    spaced = texts.str.lower().str.replace(_NOT_WORD_OR_SPACE, " ", regex=True)
    return spaced.astype("large_string[pyarrow]").str.split(" ")


def _word_numbers(texts: pd.Series, vocabulary: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """The words of ASCII texts as the screen reads them, in order, each as its number in
    `vocabulary` (-1: in no phrase), with the label of its text. The texts are split at
    spaces only, and each distinct item is then read as `_screen_split` reads a text:
    items recur across texts, so the regular expression reads some thousands of items
    rather than every character of every text (at 100k flows, the three columns' screen
    took 0.45-0.52 s this way against 0.59-0.60 s). Lower-casing and the signs are per
    character, so the words are those of the whole text read at once, save the empty
    words where spaces repeat, begin or end a text: they are no words, and are dropped
    (words a space apart are neighbours)."""
    items = texts.astype("large_string[pyarrow]").str.split(" ").explode()
    item_codes, distinct = pd.factorize(items, use_na_sentinel=False)
    if not len(distinct):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=texts.index.dtype)
    # Each distinct item's words: its numbers in `flat`, from offsets[item], counts[item] long.
    read = _screen_split(pd.Series(distinct, dtype=str)).explode()
    kept = read.ne("").to_numpy()
    flat = vocabulary.get_indexer(read[kept])
    counts = np.bincount(read.index.to_numpy()[kept], minlength=len(distinct))
    offsets = np.cumsum(counts) - counts
    per_item = counts[item_codes]
    code = flat[np.repeat(offsets[item_codes], per_item) + run_positions(per_item)]
    return code, np.repeat(items.index.to_numpy(), per_item)


@dataclass
class _PhraseWords:
    """The phrases as the screen compares them: the word tokens of each (signs left out),
    as numbers in `words`, one row of `table` per phrase, padded with -1."""

    words: pd.Index
    table: np.ndarray
    lengths: np.ndarray
    values: np.ndarray  # each phrase's value, as a number in PhraseIndex.values
    always: list[int]  # values of phrases with no word: every text may name them
    by_first: np.ndarray  # the phrases' rows in the order of their first words


class PhraseIndex(Generic[T]):
    """Where free text names any of many phrases: as whole words (not inside a longer word,
    "-" counting as a letter), case-blind (by str.casefold), with white space of any width
    where the phrase has some and none where it has none. The phrases are a tree of their
    tokens; the text is tokenised once, and from each token the tree is followed only as
    far as the text goes on like some phrase, so the time grows with the text (and the
    longest phrase), not with the number of phrases. Where phrases overlap, the longest
    from the earliest token is found, and the next one is looked for after it."""

    def __init__(self, named: Mapping[str, T]):
        self.named = dict(named)
        # Each distinct value once (values need not be hashable), for the screen's numbers.
        self.values: list[T] = list({id(value): value for value in self.named.values()}.values())

    # The tree is made when `find` first reads a text: the screen (may_name) rules out
    # most columns without it.
    @cached_property
    def root(self) -> _Node[T]:
        root: _Node[T] = _Node()
        for phrase, value in self.named.items():
            tokens = _tokens(phrase)
            if not tokens:
                continue
            node = root.next.setdefault((tokens[0].folded, False), _Node())
            for token in tokens[1:]:
                node = node.next.setdefault(token.key, _Node())
            if not node.ends:  # the first of two phrases that differ only in case or spacing
                node.ends, node.value = True, value
        return root

    @cached_property
    def by_first_token(self) -> dict[str, _Node[T]]:
        """The tree's first level by the token alone, as the ASCII reading looks it up."""
        return {folded: node for (folded, _), node in self.root.next.items()}

    @cached_property
    def _phrase_words(self) -> _PhraseWords:
        number = {id(value): at for at, value in enumerate(self.values)}
        # Each phrase with its white space as single spaces (Python's str.split and the
        # tokens' \s know the same white space), folded as its tokens are. One that is not
        # ASCII then has a token no ASCII text has; one that is ASCII has, as the screen
        # reads it, the words of its word tokens (a test checks every code point).
        folded = {phrase: " ".join(phrase.split()).casefold() for phrase in self.named}
        plain = [phrase for phrase in self.named if folded[phrase] and folded[phrase].isascii()]
        read = _screen_split(pd.Series([folded[phrase] for phrase in plain], dtype=str)).tolist() if plain else []
        phrases: list[list[str]] = []
        values: list[int] = []
        always: set[int] = set()
        for phrase, words in zip(plain, read):
            words = [word for word in words if word]
            if words:
                phrases.append(words)
                values.append(number[id(self.named[phrase])])
            else:  # signs alone: any text may hold them
                always.add(number[id(self.named[phrase])])
        vocabulary = sorted({word for words in phrases for word in words})
        numbers = {word: at for at, word in enumerate(vocabulary)}
        table = np.full((len(phrases), max(map(len, phrases), default=1)), -1, dtype=np.int64)
        for row, words in enumerate(phrases):
            table[row, :len(words)] = [numbers[word] for word in words]
        return _PhraseWords(pd.Index(vocabulary, dtype=str), table, np.array([len(words) for words in phrases], dtype=np.int64),
                            np.array(values, dtype=np.int64), sorted(always), np.argsort(table[:, 0], kind="stable"))

    # The screen reads texts this many at a time, so that their words (tens for each text)
    # are never all held at once.
    SCREEN_SLICE = 16_384

    def may_name(self, texts: pd.Series) -> Screened:
        """A vectorised screen for `find` over a column: each (text, value) that `find`
        would give is among the pairs, or the text is among the unread; more may be.
        It compares the words of ASCII texts with the phrases' words as consecutive
        runs, case-blind, leaving out the signs, spacing and word edges `find` heeds."""
        repeated = repeated_values(texts)
        if repeated is not None:
            # Each distinct text is screened once, under its number, and its pairs go to
            # every row showing it.
            codes, distinct = repeated
            once = self.may_name(distinct)
            rows = pd.DataFrame({"row": texts.index, "label": codes})
            pairs = once.pairs.merge(rows, on="label")[["row", "value"]].rename(columns={"row": "label"})
            return Screened(pairs, texts.index[np.isin(codes, once.unread)])
        plain = texts.str.isascii()
        unread = texts.index[~plain]
        texts = texts[plain]
        phrases = self._phrase_words
        always = np.array(phrases.always, dtype=np.int64)
        parts = [pd.DataFrame({"label": texts.index.repeat(len(always)), "value": np.tile(always, len(texts))})]
        if len(phrases.values):
            parts += [self._screen_slice(texts.iloc[at:at + self.SCREEN_SLICE], phrases)
                      for at in range(0, len(texts), self.SCREEN_SLICE)]
        return Screened(pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True), unread)

    @staticmethod
    def _screen_slice(texts: pd.Series, phrases: _PhraseWords) -> pd.DataFrame:
        code, labels = _word_numbers(texts, phrases.words)
        # Phrases sorted by their first word; every (word, phrase beginning with it) pair is
        # a start, followed word by word while the text goes on like the phrase.
        order = phrases.by_first
        firsts = phrases.table[order, 0]
        at = np.flatnonzero(code >= 0)
        low = np.searchsorted(firsts, code[at], "left")
        counts = np.searchsorted(firsts, code[at], "right") - low
        start = np.repeat(at, counts)
        phrase = order[np.repeat(low, counts) + run_positions(counts)]
        alive = np.ones(len(start), dtype=bool)
        for step in range(1, phrases.table.shape[1]):
            going = np.flatnonzero(alive & (phrases.lengths[phrase] > step))
            if not len(going):
                break
            following = start[going] + step
            inside = following < len(code)
            following = np.where(inside, following, 0)
            same = (inside & (labels[following] == labels[start[going]])
                    & (code[following] == phrases.table[phrase[going], step]))
            alive[going[~same]] = False
        return pd.DataFrame({"label": labels[start[alive]], "value": phrases.values[phrase[alive]]})

    def find(self, text: str) -> list[tuple[str, T]]:
        """(the words as the text writes them, the phrase's value) for each phrase the
        text names, in text order."""
        return self._find_ascii(text) if text.isascii() else self.find_by_tokens(text)

    def find_by_tokens(self, text: str) -> list[tuple[str, T]]:
        """`find` by reading the text's tokens one by one: the reading for any text."""
        tokens = _tokens(text)
        found, index = [], 0
        while index < len(tokens):
            longest = self._longest_from(tokens, index)
            if longest is None:
                index += 1
                continue
            end, value = longest
            found.append((text[tokens[index].start:tokens[end - 1].end], value))
            index = end
        return found

    def _find_ascii(self, text: str) -> list[tuple[str, T]]:
        """`find` for an ASCII text, where case folding is lower-casing and keeps every
        character in place: the text is split once by one regular expression, and only
        the items a phrase begins with are read in Python, since most texts name none or
        one of them. It finds what the token reading finds (a test holds it to that)."""
        items = _ITEM.findall(text.lower())
        first = self.by_first_token
        present = first.keys() & items
        if not present:
            return []
        starts = []
        for word in present:
            at = -1
            try:
                while True:
                    at = items.index(word, at + 1)
                    starts.append(at)
            except ValueError:
                pass
        starts.sort()
        count, found, resume, offsets = len(items), [], 0, None
        for start in starts:
            if start < resume:
                continue  # inside the phrase found before
            if start and not _is_word(items[start]) and _is_word(items[start - 1]):
                continue  # a phrase may not begin inside a word's text
            node, at, longest = first[items[start]], start, None
            while node is not None:
                last, at = items[at], at + 1
                spaced = at < count and items[at][0].isspace()
                at += spaced
                following = items[at] if at < count else None
                # Not ending between a sign and a word written against it.
                if node.ends and (following is None or spaced or _is_word(last) or not _is_word(following)):
                    longest = at - 1 - spaced, node.value
                node = node.next.get((following, spaced)) if following is not None else None
            if longest is not None:
                end, value = longest
                if offsets is None:
                    offsets = list(accumulate(map(len, items), initial=0))
                found.append((text[offsets[start]:offsets[end + 1]], value))
                resume = end + 1
        return found

    def _longest_from(self, tokens: list[_Token], start: int) -> tuple[int, T] | None:
        """(the index after the last token, the value) of the longest phrase that begins
        at tokens[start], or None."""
        first = tokens[start]
        if not first.word and start > 0 and _glued(tokens[start - 1], first):
            return None  # a phrase may not begin inside a word's text
        node = self.root.next.get((first.folded, False))
        longest, index = None, start
        while node is not None:
            last, index = tokens[index], index + 1
            following = tokens[index] if index < len(tokens) else None
            if node.ends and (last.word or following is None or not _glued(last, following)):
                longest = index, node.value
            node = node.next.get(following.key) if following is not None else None
        return longest


def _glued(left: _Token, right: _Token) -> bool:
    """Whether a word and a sign are written together: a phrase beginning or ending with
    the sign would begin or end inside the word's text."""
    return not right.spaced and left.word != right.word


def may_mention_other_ports(texts: pd.Series, known: set[int]) -> pd.Series:
    """The texts that may mention a port outside `known`. A text is ruled out when it
    shows no mention shape, or exactly one: a keyword before a known port ("on port
    1433"). A range, "/tcp" or "port" after that number, or a second keyword, would be
    another shape."""
    repeated = repeated_values(texts)
    if repeated is not None:
        codes, distinct = repeated
        return texts[np.isin(codes, may_mention_other_ports(distinct, known).index)]
    empty = texts.eq("")
    present = texts[~empty] if empty.any() else texts
    keywords = present.str.count(_KEYWORD)
    followed = present.str.contains(_FOLLOWER)
    shaped = (keywords.gt(0) | followed).to_numpy()
    if not shaped.any():
        return present[shaped]
    single = (keywords.eq(1) & ~followed).to_numpy()
    # The number after the keyword, by rewriting the text to it (RE2 has no extract that
    # pandas uses; its replace is vectorised).
    number = present[single].str.replace(_KEYWORD_NUMBER, r"\1", regex=True)
    # By position, not label: a column whose labels repeat keeps each of its rows.
    known_only = np.zeros(len(present), dtype=bool)
    known_only[np.flatnonzero(single)[among(number, map(str, known)).to_numpy()]] = True
    return present[shaped & ~known_only]


def may_mention_pool_or_transport(texts: pd.Series) -> pd.Series:
    """Whether each text may mention a pool or a transport (False: it mentions neither)."""
    repeated = repeated_values(texts)
    if repeated is not None:
        codes, distinct = repeated
        once = may_mention_pool_or_transport(distinct).to_numpy(dtype=bool, na_value=False)
        return pd.Series(once[codes], index=texts.index, name=texts.name)
    return texts.str.contains(_POOL_OR_TRANSPORT)


def is_incidental(text: str, mention: PortMention) -> bool:
    """Whether a number of the mention is no port after all: an OS or product version
    ("Windows Server 2012 port 135"), a KB article number, a date, or a footnote marker
    ("ports 5718, 1)")."""
    return any(not_port_reason(text, digits.start(), digits.end()) or is_footnote_marker(text, digits.start(), digits.end())
               for digits in NUMBER.finditer(text, mention.start, mention.end))


@check("C206")
def prose_port(model: Model, registry: Registry) -> Iterator[Issue]:
    """A port number written in a free-text column must be a port some flow of the dataset
    uses, or a published value that an erratum of the row corrects."""
    for dataset in model.datasets:
        frame = dataset.frame
        ends = frame[["first", "last"]].dropna()
        singles = set(ends["first"].tolist()) | set(ends["last"].tolist())
        explained: dict[str, set[int]] = defaultdict(set)
        for erratum in dataset.errata:
            explained[erratum.flow].update(port for digits in NUMBER.findall(erratum.published)
                                           if (port := port_number(digits)) is not None)
        for column in FREE_TEXT_COLUMNS:
            texts = may_mention_other_ports(frame[column], singles)
            unexplained = {line: ports for line, flow_id, text in zip(texts.index, frame.loc[texts.index, "id"], texts)
                           if (ports := [port for mention in scan(text) if not is_incidental(text, mention)
                                         for port in dict.fromkeys((mention.ports.first, mention.ports.last))
                                         if port not in singles and port not in explained.get(flow_id, ())])}
            for flow in dataset.flows_at(list(unexplained)):
                for port in unexplained[flow.line]:
                    if flow.ports is not None and port in flow.ports:
                        continue
                    yield issue(
                        "C206", flow.where(column),
                        f"{flow.id}: {column} mentions port {port}, which no flow of {dataset.id} uses (the row says {flow.label})",
                        column,
                    )


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


def _overlap(one: PortRange, other: PortRange) -> bool:
    return one.first <= other.last and other.first <= one.last


def _is_pool(ports: PortRange) -> bool:
    return not ports.is_single


def _contradictions(flow: Flow, column: str, text: str, explained: set[int],
                     other_transports: set[tuple[str, int]]) -> Iterator[str]:
    """What in one cell gives two values for one thing, with the row's own cells or
    within one sentence."""
    mentions = [mention for mention in scan(text) if not is_incidental(text, mention)
                and not {mention.ports.first, mention.ports.last} <= explained]
    ports = flow.ports
    for mention in mentions:
        said, words = mention.ports, text[mention.start:mention.end]
        if ports is not None and _is_pool(said) and _is_pool(ports) and said != ports and _overlap(said, ports):
            yield f"{column} gives the pool as {words!r} ({said}) but the row's port is {ports}"
        if (ports is not None and mention.transport and flow.transport != ANY and mention.transport != flow.transport
                and said.first in ports and said.last in ports
                and (mention.transport, said.first) not in other_transports):
            yield f"{column} gives {words!r} ({mention.transport}) but the row's transport is {flow.transport}"
    # Within one sentence: two overlapping ranges that differ describe one pool two ways.
    offset = 0
    for sentence in _SENTENCE_END.split(text):
        start, end = offset, offset + len(sentence)
        offset = end
        pools = [mention for mention in mentions if start <= mention.start < end + 1 and _is_pool(mention.ports)]
        for index, pool in enumerate(pools):
            clash = next((other for other in pools[:index]
                          if other.ports != pool.ports and _overlap(other.ports, pool.ports)), None)
            if clash is not None:
                yield (f"one sentence of {column} gives one pool as {text[clash.start:clash.end]!r} ({clash.ports}) "
                       f"and as {text[pool.start:pool.end]!r} ({pool.ports})")
                break


@check("C218")
def self_contradiction(model: Model, registry: Registry) -> Iterator[Issue]:
    """A cell that gives one thing two values ("above 1024" beside 49152-65535, 5718/udp on
    a tcp row) says two things at once, with the row's own port or transport or within
    one of its sentences; a published value an erratum of the row corrects is no clash."""
    for dataset in model.datasets:
        frame = dataset.frame
        explained: dict[str, set[int]] = defaultdict(set)
        for erratum in dataset.errata:
            explained[erratum.flow].update(port for digits in NUMBER.findall(erratum.published)
                                           if (port := port_number(digits)) is not None)
        stated = frame.loc[frame["first"].notna() & frame["first"].eq(frame["last"]), ["transport", "first"]]
        stated = stated.astype({"first": "int64"}).drop_duplicates()
        # As lists: iterating an Arrow-backed column yields one element per call.
        in_use = set(zip(stated["transport"].tolist(), stated["first"].tolist()))
        for column in FREE_TEXT_COLUMNS:
            texts = frame[column]
            texts = may_mention_other_ports(texts[may_mention_pool_or_transport(texts)], set())
            for flow in dataset.flows_at(texts.index.tolist()):
                text = flow.value(column)
                for problem in dict.fromkeys(_contradictions(flow, column, text, explained[flow.id], in_use)):
                    yield issue("C218", flow.where(column), f"{flow.id}: {problem}", column)
