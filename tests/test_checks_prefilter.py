"""The prose prefilter and the phrase screen against the exact readings, with random seeds: `make test` runs the same
properties derandomised (tests/test_foundation_checks.py, and tests/test_checks_linear.py for
the phrase screen); this variant is for the long
fuzz profile (HYPOTHESIS_PROFILE=long, -m slow), where each run draws new examples."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_checks_linear import SCREEN_PHRASES, SCREEN_TEXTS, assert_screen_keeps_every_phrase_found
from test_foundation_checks import _MENTION_PIECES, assert_prefilter_keeps, assert_screen_keeps

KNOWN = {80, 443, 1024, 65535}
# As the long profile of tests/test_fuzz.py, which this module is imported before.
LONG_EXAMPLES = 1000
texts = st.lists(st.sampled_from(_MENTION_PIECES), max_size=16).map("".join)


@pytest.mark.slow
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False,
          max_examples=LONG_EXAMPLES if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 200)
@given(batch=st.lists(texts, min_size=1, max_size=20))
def test_the_prefilter_keeps_every_text_the_scan_finds_an_unknown_port_in(batch: list[str]):
    assert_prefilter_keeps(batch, KNOWN)


@pytest.mark.slow
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False,
          max_examples=LONG_EXAMPLES if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 200)
@given(batch=st.lists(texts, min_size=1, max_size=20))
def test_the_pool_or_transport_screen_keeps_every_text_that_mentions_one(batch: list[str]):
    assert_screen_keeps(batch)


@pytest.mark.slow
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False,
          max_examples=LONG_EXAMPLES if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 200)
@given(SCREEN_PHRASES, SCREEN_TEXTS)
def test_the_phrase_screen_keeps_every_phrase_the_index_finds(phrases, texts):
    assert_screen_keeps_every_phrase_found(phrases, texts)
