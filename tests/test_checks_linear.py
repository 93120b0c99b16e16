"""Work that grows with the text, not with what it is compared with: registered phrases in
free text are found by one pass along it, suggestions skip the pairs that cannot be close,
and the benchmark's hostile folders show it. An erratum of a flow's port, not the free text
around it, records a mapping kept against the registry."""
from __future__ import annotations

import argparse
import difflib
import random
import re
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import IANA_CSV, ROOT, edit_row, read_rows, write_rows
from generator.checks.text import PhraseIndex
from generator.issues import Suggestions, Trigrams, may_reach, out_of_reach
from generator.pipeline import load_and_check

sys.path.insert(0, str(ROOT / "benchmarks"))

import run  # noqa: E402
import synthetic  # noqa: E402

FLOWS = "dpm-2012r2/flows.csv"
ERRATA = "dpm-2012r2/errata.csv"


def words(index: PhraseIndex, text: str) -> list[str]:
    return [found for found, _ in index.find(text)]


def test_a_phrase_is_found_as_whole_words_case_blind_across_any_white_space():
    index = PhraseIndex({"agent coordinator": 1})
    assert index.find("the Agent\t \u00a0COORDINATOR, then") == [("Agent\t \u00a0COORDINATOR", 1)]
    assert words(index, "agentcoordinator") == []
    assert words(index, "sub-agent coordinator") == []  # "-" belongs to the word
    assert words(index, "agent coordinators") == []
    assert words(index, "(agent coordinator)") == ["agent coordinator"]


def test_signs_in_a_phrase_are_matched_where_they_are_written():
    index = PhraseIndex({"sqlservr.exe": "engine", ".net runtime": "runtime"})
    assert words(index, "start sqlservr.exe.") == ["sqlservr.exe"]
    assert words(index, "x/sqlservr.exe") == ["sqlservr.exe"]
    assert words(index, "sqlservr. exe") == []  # no white space where the phrase has none
    assert words(index, "sqlservr.exe-old") == []
    assert words(index, "the .NET  runtime") == [".NET  runtime"]
    assert words(index, "asp.net runtime") == []  # a phrase does not begin inside a word


def test_the_longest_phrase_from_the_earliest_word_wins_and_the_next_starts_after_it():
    index = PhraseIndex({"report server": "short", "report server database": "long", "database engine": "engine"})
    assert index.find("report server database engine") == [("report server database", "long")]
    assert index.find("report server, database engine") == [("report server", "short"), ("database engine", "engine")]
    # A longer phrase that the text begins but does not finish leaves the shorter one found.
    assert index.find("report server database-x") == [("report server", "short")]


def test_phrases_differing_only_in_case_or_spacing_keep_the_first_value():
    assert PhraseIndex({"Report Server": 1, "report  server": 2}).find("REPORT SERVER") == [("REPORT SERVER", 1)]
    assert PhraseIndex({"": 1, "  ": 2}).find("anything") == []


def test_case_blind_means_casefold_and_odd_letters_are_data():
    index = PhraseIndex({"strasse dienst": 1, "sqlservr.exe": 2})
    assert words(index, "STRASSE Dienst") == ["STRASSE Dienst"]
    assert words(index, "ſqlservr.exe") == ["ſqlservr.exe"]  # long s folds to s
    assert words(index, "\u0130stanbul \ufffd sqlservr.exe") == ["sqlservr.exe"]


def _alternation(phrases) -> re.Pattern:
    """The one regular expression of all phrases the index stands in for, as the oracle."""
    pieces = sorted({r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases}, key=len, reverse=True)
    return re.compile(r"(?i)(?<![\w-])(?:" + "|".join(pieces) + r")(?![\w-])")


TEXT = st.sampled_from(list("abAB1-_./( \t\u00a0\n"))


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.lists(st.text(TEXT, min_size=1, max_size=8), min_size=1, max_size=6), st.text(TEXT, max_size=40))
def test_the_index_finds_what_one_alternation_of_every_phrase_finds(phrases, text):
    named = {" ".join(phrase.lower().split()): index for index, phrase in enumerate(phrases) if phrase.split()}
    expected = [match.group() for match in _alternation(named).finditer(text)] if named else []
    assert words(PhraseIndex(named), text) == expected


ASCII_TEXT = st.sampled_from(list("abAB1-_./( \t\n\v\x1c"))


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(st.lists(st.text(ASCII_TEXT, min_size=1, max_size=8), min_size=1, max_size=6), st.text(ASCII_TEXT, max_size=60))
def test_an_ascii_text_is_read_as_its_tokens_are(phrases, text):
    # ASCII texts take a shorter path (one split, then only the items a phrase begins with).
    index = PhraseIndex({" ".join(phrase.lower().split()): number for number, phrase in enumerate(phrases)})
    assert index.find(text) == index.find_by_tokens(text)


# Letters that fold to other letters (long s, sharp s, Kelvin sign, dotted capital I), signs,
# and white space beyond the ASCII space: the screen makes every character of an ASCII text
# that is no word character a space, and folds a phrase's white space by str.split.
SCREEN_TEXT = st.sampled_from(list("abAB1-_./( \t\n\v\x1c\u00a0") + ["\u017f", "\u00df", "s", "\u212a", "k", "\u0130", "i"])
SCREEN_PHRASES = st.lists(st.text(SCREEN_TEXT, min_size=1, max_size=8), min_size=1, max_size=6)
SCREEN_TEXTS = st.lists(st.text(SCREEN_TEXT, max_size=40), min_size=1, max_size=12)


def assert_screen_keeps_every_phrase_found(phrases: list[str], texts: list[str]) -> None:
    """The property of PhraseIndex.may_name, stated once (derandomised here, random in
    tests/test_checks_prefilter.py): whatever `find` finds in a text, the screen pairs the
    text with, or leaves the text unread."""
    index = PhraseIndex({phrase: number for number, phrase in enumerate(phrases)})
    screened = index.may_name(pd.Series(texts, index=range(100, 100 + len(texts)), dtype=str))
    paired = {(label, index.values[value]) for label, value in zip(screened.pairs["label"], screened.pairs["value"])}
    for label, text in zip(range(100, 100 + len(texts)), texts):
        if label not in screened.unread:
            for _, value in index.find(text):
                assert (label, value) in paired, (text, phrases)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(SCREEN_PHRASES, SCREEN_TEXTS)
def test_the_phrase_screen_keeps_every_phrase_the_index_finds(phrases, texts):
    assert_screen_keeps_every_phrase_found(phrases, texts)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(SCREEN_PHRASES, SCREEN_TEXTS)
def test_a_column_that_repeats_its_texts_is_screened_as_each_row_alone(phrases, texts):
    index = PhraseIndex({phrase: number for number, phrase in enumerate(phrases)})
    repeated = texts * 3  # more than half the rows repeat a text: each distinct one is screened once
    column = pd.Series(repeated, index=range(7, 7 + len(repeated)), dtype=str)
    screened = index.may_name(column)
    alone = [index.may_name(column.loc[[label]]) for label in column.index]
    assert (sorted(zip(screened.pairs["label"], screened.pairs["value"]))
            == sorted(pair for one in alone for pair in zip(one.pairs["label"], one.pairs["value"])))
    assert sorted(screened.unread) == sorted(label for one in alone for label in one.unread)


def test_the_phrase_screen_rules_out_texts_that_name_no_phrase_and_pairs_each_with_its_own():
    index = PhraseIndex({"agent coordinator": "coordinator", "sqlservr.exe": "sql", "ms-sql-s": "mssql"})
    texts = pd.Series(["The Agent  Coordinator listens.", "Runs sqlservr.exe (ms-sql-s).", "No phrase here.",
                       "agent, coordinator", "Stra\u00dfe agent coordinator"], index=[2, 3, 4, 5, 6], dtype=str)
    screened = index.may_name(texts)
    paired = sorted((label, index.values[value]) for label, value in zip(screened.pairs["label"], screened.pairs["value"]))
    # The fourth is wider than find (signs are left out), never narrower; the last is not ASCII.
    assert paired == [(2, "coordinator"), (3, "mssql"), (3, "sql"), (5, "coordinator")]
    assert screened.unread.tolist() == [6]


PORTS = st.integers(1, 40)
REGISTERED = st.lists(st.tuples(st.sampled_from(["tcp", "udp"]), PORTS, PORTS), max_size=4)
ASKED = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["tcp", "udp", "any"]), PORTS, PORTS), max_size=12)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.lists(REGISTERED, min_size=3, max_size=3), ASKED)
def test_the_vectorised_holds_says_what_holds_says_of_each_row(services, rows):
    """held_by_registered, which C201 and the C215/C216 screen use, against
    _ProductService.holds, which the C215/C216 messages use, row by row."""
    from generator.checks.registry import _ProductService, held_by_registered
    from generator.model import PortRange

    products = [_ProductService(f"s{number}", "", [(on, PortRange(min(a, b), max(a, b))) for on, a, b in ranges])
                for number, ranges in enumerate(services)]
    registered = pd.DataFrame([(number, on, ports.first, ports.last) for number, product in enumerate(products)
                               for on, ports in product.ports], columns=["value", "on", "low", "high"])
    asked = pd.DataFrame([(line, value, transport, min(a, b), max(a, b)) for line, (value, transport, a, b) in enumerate(rows)],
                         columns=["label", "value", "transport", "first", "last"])
    held = set(held_by_registered(asked, registered, "value")["label"])
    expected = {line for line, value, transport, first, last in asked.itertuples(index=False)
                if products[value].holds(transport, first, last)}
    assert held == expected


def test_a_word_character_that_folds_into_ascii_folds_into_ascii_word_characters():
    # What the phrase screen relies on to compare folded phrase words with ASCII texts' words.
    word = re.compile(r"[\w-]")
    odd = [hex(code) for code in range(sys.maxunicode + 1) if word.match(chr(code))
           and chr(code).casefold().isascii() and not re.fullmatch(r"[0-9a-z_-]+", chr(code).casefold())]
    assert odd == []


def test_a_phrase_folded_whole_keeps_its_tokens_apart():
    # The screen folds each phrase whole, white space made single spaces by str.split: that
    # reads the words of its tokens only if str.split and the tokens' \s know the same white
    # space, and no sign folds into a word character or white space.
    space = re.compile(r"\s")
    sign = re.compile(r"[^\w\s-]")
    characters = map(chr, range(sys.maxunicode + 1))
    odd = [hex(ord(c)) for c in characters if bool(space.match(c)) != c.isspace()
           or (sign.match(c) and c.casefold().isascii() and re.search(r"[0-9a-z_\s-]", c.casefold()))]
    assert odd == []


def test_a_phrase_of_signs_alone_may_be_named_by_any_text():
    index = PhraseIndex({"/": "slash", "agent": "agent"})
    screened = index.may_name(pd.Series(["tcp/udp", "nothing"], dtype=str))
    assert sorted(zip(screened.pairs["label"], screened.pairs["value"].map(index.values.__getitem__))) == [
        (0, "slash"), (1, "slash")]


def test_reading_a_text_visits_a_bounded_part_of_the_phrases_however_many_there_are():
    # Many phrases sharing a first word: only the one the text goes on with is followed.
    many = PhraseIndex({f"agent {n}": n for n in range(100_000)})
    text = " ".join(f"agent {n} x" for n in range(0, 2_000, 7))
    assert [value for _, value in many.find(text)] == list(range(0, 2_000, 7))
    assert len(many.root.next) == 1 and len(many.root.next[("agent", False)].next) == 100_000


def test_the_erratum_of_the_port_records_the_kept_mapping_whatever_the_text_says(data_dir: Path):
    # E5 records the page's "agent coordinator" on 5718 against the registry's 5719.
    edit_row(data_dir / FLOWS, "id", "agent-coordinator", assumption='=HYPERLINK("http://example.invalid/x","click")')
    checked = load_and_check(data_dir)
    assert checked.ok and not [i for i in checked.issues if i.code in ("C215", "C216")]


def test_without_that_erratum_the_agent_coordinator_on_5718_is_an_error_naming_5719(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "agent-coordinator", assumption="Both ends open connections.")
    header, rows = read_rows(data_dir / ERRATA)
    write_rows(data_dir / ERRATA, header, [row for row in rows if row["flow"] != "agent-coordinator"])
    found = [(i.code, i.line, i.field) for i in load_and_check(data_dir).issues if i.code in ("C215", "C216")]
    assert found == [("C215", line, "purpose")]


def test_an_erratum_of_other_words_records_nothing(data_dir: Path):
    line = edit_row(data_dir / FLOWS, "id", "agent-coordinator", assumption="Both ends open connections.")
    header, rows = read_rows(data_dir / ERRATA)
    for row in rows:
        if row["flow"] == "agent-coordinator" and row["field"] == "port":
            row["published"] = "communication server"
    write_rows(data_dir / ERRATA, header, rows)
    found = [(i.code, i.line) for i in load_and_check(data_dir).issues if i.code == "C215"]
    assert found == [("C215", line)]


def test_a_hostile_folder_is_the_plain_one_with_the_hostile_rows(tmp_path: Path):
    synthetic.generate(tmp_path / "plain", 300, 4, seed=3)
    for kind in synthetic.HOSTILE_KINDS:
        synthetic.generate_hostile(tmp_path / kind, 300, 4, seed=3, kind=kind)
    plain = read_rows(tmp_path / "plain" / "synthetic" / "flows.csv")[1]
    programs = read_rows(tmp_path / "programs" / "synthetic" / "flows.csv")[1]
    unknown = read_rows(tmp_path / "unknown-service" / "synthetic" / "flows.csv")[1]
    assert [{**row, "program": ""} for row in programs] == [{**row, "program": ""} for row in plain]
    names = [row["program"] for row in programs]
    assert len(set(names)) == len(plain) and max(map(len, names)) > synthetic.LONG_NAME_CHARACTERS
    assert not [i for i in load_and_check(tmp_path / "programs").issues if i.code == "C205"]  # none a typo of another
    assert [{**row, "service": ""} for row in unknown] == [{**row, "service": ""} for row in plain]
    assert {row["service"] for row in unknown} == {synthetic.UNKNOWN_SERVICE}
    assert read_rows(tmp_path / "errata" / "synthetic" / "flows.csv")[1] == plain
    # The errata folder's findings are its errata pointing at unknown flows, each with a suggestion.
    unknown_flow = [i for i in load_and_check(tmp_path / "errata").issues if i.code == "S111"]
    assert len(unknown_flow) == synthetic.HOSTILE_ERRATA and all("did you mean" in i.message for i in unknown_flow)
    for kind in synthetic.HOSTILE_KINDS:
        synthetic.generate_hostile(tmp_path / "again" / kind, 300, 4, seed=3, kind=kind)
        for name in ("flows.csv", "errata.csv"):
            assert ((tmp_path / "again" / kind / "synthetic" / name).read_bytes()
                    == (tmp_path / kind / "synthetic" / name).read_bytes())


def test_the_hostile_size_is_ten_thousand_flows_or_the_largest_synthetic_size():
    assert run.hostile_size(["dpm", "1000", "10000", "100000"]) == "10000"
    assert run.hostile_size(["dpm", "200", "50"]) == "200"
    assert run.hostile_size(["dpm", "registry"]) is None


@pytest.mark.skipif(not IANA_CSV.exists(), reason="no IANA snapshot")
def test_the_hostile_check_stages_are_measured_and_judged_against_plain_check(tmp_path: Path):
    runner = run.Runner(tmp_path / "work", timeout=120, verbose=False)
    synthetic.generate(tmp_path / "data", 200, 4, seed=1)
    args = argparse.Namespace(roles=4, seed=1, repeat=1)
    run.run_check(runner, "200", tmp_path / "data", repeat=1)
    run.run_hostile_check(runner, "200", tmp_path / "data", tmp_path, args)
    for stage in (run.HOSTILE_PROGRAMS, run.HOSTILE_ERRATA, run.CHECK_BESIDE_HOSTILE, run.CHECK_IANA, run.HOSTILE_UNKNOWN_SERVICE):
        measured = runner.find("200", stage)
        assert measured is not None and measured.ok, (stage, measured)
    verdicts = {t.name: t for t in run.check_targets(runner, "200")}
    judged = [verdicts[f"{run.HOSTILE_PROGRAMS} 200 <= 2x check"], verdicts[f"{run.HOSTILE_ERRATA} 200 <= 2x check"],
              verdicts[f"{run.HOSTILE_UNKNOWN_SERVICE} 200 <= 2x {run.CHECK_IANA}"]]
    assert all(target.status in ("PASS", "FAIL") and " s vs " in target.detail for target in judged)
    assert "without a distinct program on every flow" in judged[0].detail
    # Each hostile stage is held against the plain command timed in the same group of runs.
    beside = runner.find("200", run.CHECK_BESIDE_HOSTILE)
    assert f"vs {beside.seconds:.2f} s for `check`" in judged[0].detail


NAME = st.text(st.sampled_from(list("abcde-.")), min_size=0, max_size=60)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=40), NAME, st.sampled_from([0.6, 0.8, 0.85, 0.9, 0.95]))
def test_similar_gives_what_difflib_gives_among_the_candidates(choices, value, cutoff):
    index = Suggestions(choices)
    expected = difflib.get_close_matches(value.lower(), index.candidates(value.lower(), cutoff), n=Suggestions.CANDIDATES, cutoff=cutoff)
    assert index.similar(value, cutoff) == [index.original[key] for key in expected]


def _may_pair(one: str, other: str, cutoff: float) -> bool:
    """What `Suggestions.similar` tests before difflib: lengths, then shared trigrams."""
    return (2.0 * min(len(one), len(other)) / (len(one) + len(other)) >= cutoff
            and may_reach(Trigrams(one), Trigrams(other), cutoff))


# Names of 8 to 40 characters over a few letters, each with a few near spellings made by
# changing, dropping or adding a letter, so that some pairs reach the cutoff and some do not.
SPELT = st.text(st.sampled_from(list("abcd.")), min_size=8, max_size=40)


@st.composite
def spellings(draw) -> list[str]:
    names = draw(st.lists(SPELT, min_size=1, max_size=12))
    for name in list(names):
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, len(name) - 1))
            letter = draw(st.sampled_from(list("abcdxy")))
            names.append(draw(st.sampled_from([name[:at] + letter + name[at + 1:], name[:at] + name[at + 1:],
                                               name[:at] + letter + name[at:]])))
    return names


@settings(max_examples=300, derandomize=True, deadline=None)
@given(spellings(), st.sampled_from([0.8, 0.85, 0.9, 0.95]))
def test_a_name_out_of_reach_pairs_with_no_other_name(names, cutoff):
    alone = out_of_reach(names, cutoff)
    keys = {name.lower() for name in names}
    assert alone <= keys
    for key in alone:
        assert not any(_may_pair(key, other, cutoff) for other in keys - {key}), key
    index = Suggestions(names)
    for key in alone:
        assert index.similar(key, cutoff) in ([], [index.original[key]])


def test_the_screen_rules_out_most_of_many_unrelated_names_and_keeps_a_typo():
    names = synthetic.hostile_program_names(3000, random.Random(4))
    short = [name for name in names if len(name) < 64]
    typo = short[7][:5] + "q" + short[7][6:]
    alone = out_of_reach(names + [typo], 0.9)
    assert typo not in alone and short[7] not in alone
    assert len(alone) > 0.8 * len(short)
    assert not any(len(key) > 64 for key in alone)  # long names are left to the index


def test_the_shared_trigram_bound_never_rules_out_a_pair_that_reaches_the_cutoff():
    chooser = random.Random(11)
    for _ in range(2000):
        one = "".join(chooser.choices("ab", k=chooser.randrange(0, 40)))
        other = list(one)
        for _ in range(chooser.randrange(0, 4)):
            if other:
                other[chooser.randrange(len(other))] = chooser.choice("abc")
        other = "".join(other)
        ratio = difflib.SequenceMatcher(None, other, one).ratio()
        for cutoff in (0.8, 0.85, 0.9, 0.95):
            if ratio >= cutoff:
                assert may_reach(Trigrams(one), Trigrams(other), cutoff)
    # Unrelated long texts are ruled out without difflib.
    long_one, long_other = ("".join(chooser.choices("abcdefghijklmnopqrstuvwxyz", k=2000)) for _ in range(2))
    assert not may_reach(Trigrams(long_one), Trigrams(long_other), 0.9)


def test_long_and_short_texts_count_shared_trigrams_alike():
    # Long texts are counted with numpy, short ones with a Counter: both give the plain count.
    chooser = random.Random(5)
    letters = "ab\u00e9\u4e2d\U0001f600"
    for _ in range(300):
        one, other = ("".join(chooser.choices(letters, k=chooser.randrange(0, 2 * Trigrams.LONG))) for _ in range(2))
        plain = sum((Counter(map("".join, zip(one, one[1:], one[2:])))
                     & Counter(map("".join, zip(other, other[1:], other[2:])))).values())
        assert Trigrams(one).shared(Trigrams(other)) == plain
        assert Trigrams(other).shared(Trigrams(one)) == plain


def test_a_typo_of_a_long_name_is_found_among_many_long_names():
    names = synthetic.hostile_program_names(2000, random.Random(2))
    long_name = names[19]
    typo = long_name[:100] + "q" + long_name[101:]
    assert Suggestions(names).similar(typo, 0.9) == [long_name]


def test_an_unrelated_long_name_is_compared_with_none_of_many_long_names():
    names = synthetic.hostile_program_names(2000, random.Random(2))
    stranger = "".join(random.Random(3).choices("abcdefghijklmnopqrstuvwxyz", k=2000)) + ".exe"
    index = Suggestions(names)
    assert index.candidates(stranger) == []
    # A short query keeps its candidates however little it shares with them.
    assert len(index.candidates("qzx.exe")) == Suggestions.CANDIDATES
