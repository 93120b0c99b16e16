"""Suggestions come from an index: each query compares a bounded set of choices."""
from __future__ import annotations

import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IANA_CSV, append_row
from generator.issues import Suggestions, did_you_mean
from generator.pipeline import load_and_check
from generator.registry import build_registry

FLOWS = "dpm-2012r2/flows.csv"


def _names(count: int, seed: int = 7) -> list[str]:
    chooser = random.Random(seed)
    return ["".join(chooser.choices(string.ascii_lowercase, k=12)) + ".exe" for _ in range(count)]


def test_a_query_compares_a_bounded_number_of_choices_however_many_there_are():
    for count in (100, 10_000, 50_000):
        names = _names(count)
        index = Suggestions(names)
        typo = names[count // 2][:5] + names[count // 2][6:]
        assert len(index.candidates(typo)) <= Suggestions.CANDIDATES
        assert index.similar(typo, 0.8) == [names[count // 2]]


def test_a_query_made_of_common_pieces_reads_a_bounded_part_of_the_index():
    # Every choice shares the query's trigrams: the reading budget, not the choice count, bounds the work.
    names = [f"flow-{number:05d}" for number in range(20_000)]
    index = Suggestions(names)
    assert len(index.candidates("flow-")) <= Suggestions.CANDIDATES
    assert max(len(found) for found in index.postings.values()) > Suggestions.POSTINGS


def test_few_choices_are_all_compared_as_a_plain_search_would():
    assert did_you_mean("tpc", ("tcp", "udp", "any")) == " (did you mean 'tcp'?)"
    assert did_you_mean("ICMP", ("tcp", "udp", "any")) == ""
    assert Suggestions(["TCP", "tcp"]).candidates("x") == ["tcp"]


def test_program_spelling_finds_the_typo_among_many_distinct_programs(data_dir: Path):
    names = _names(300)
    for number, name in enumerate(names):
        append_row(data_dir / FLOWS, id=f"extra-{number}", transport="tcp", port=str(20000 + number),
                   source="dpm-server", destination="protected-computer", direction="one-way",
                   program=name, purpose="Synthetic program.", reference="ports")
    typo = names[10][:4] + names[10][5:]
    line = append_row(data_dir / FLOWS, id="extra-typo", transport="tcp", port="30000",
                      source="dpm-server", destination="protected-computer", direction="one-way",
                      program=typo, purpose="Synthetic program.", reference="ports")
    checked = load_and_check(data_dir)
    spelling = [(i.line, i.message) for i in checked.issues if i.code == "C205"]
    assert spelling == [(line, f"extra-typo: program {typo!r} looks like {names[10]!r} used elsewhere; spell it one way")]


def test_an_unknown_service_repeated_gets_one_suggestion_from_the_registry_index(data_dir: Path):
    lines = [append_row(data_dir / FLOWS, id=f"typo-{number}", transport="tcp", port="5718",
                        source="dpm-server", destination="protected-computer", direction="one-way",
                        service="dpm-agnet", purpose="DPM.", reference="ports") for number in range(3)]
    checked = load_and_check(data_dir)
    unknown = [(i.line, i.message) for i in checked.issues if i.code == "C202"]
    assert [line for line, _ in unknown] == lines
    assert all("(did you mean 'dpm-agent'?)" in message for _, message in unknown)


_CANDIDATES_SCRIPT = """
import random, string
from generator.issues import Suggestions
chooser = random.Random(3)
names = [f"flow-{number:05d}-" + "".join(chooser.choices(string.ascii_lowercase, k=3)) for number in range(5_000)]
index = Suggestions(names)
for name in names[::97]:
    print(index.candidates(name[:-1]))
"""


def test_suggestions_do_not_depend_on_the_order_sets_hash_in():
    # A query's lists are cut at the reading budget; which ones are read may not vary by run.
    outputs = {subprocess.run([sys.executable, "-c", _CANDIDATES_SCRIPT], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}, cwd=Path(__file__).resolve().parents[1]).stdout
               for seed in (1, 2, 3, 4)}
    assert len(outputs) == 1 and next(iter(outputs)).count("\n") > 40


@pytest.mark.skipif(not IANA_CSV.exists(), reason=f"IANA registry snapshot not found at {IANA_CSV}")
def test_transposed_letters_of_registered_names_are_found_among_the_whole_registry():
    # Short queries against thousands of names read enough of the index to find the name.
    registry, _ = build_registry(None, IANA_CSV, [])
    assert did_you_mean("vmp-udp", registry.names, cutoff=0.8) == " (did you mean 'vpm-udp'?)"
    assert did_you_mean("spdroxy", registry.names, cutoff=0.8) == " (did you mean 'sdproxy'?)"
