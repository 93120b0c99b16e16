"""The YAML writer of the policy output: whatever plain data it writes, PyYAML and
Aerleon's own loader read back unchanged."""
from __future__ import annotations

import yaml
from aerleon.lib import yaml_loader
from hypothesis import given, settings, strategies as st

from generator.outputs.policy.yaml_text import yaml_text

from hostile import HOSTILE_TEXT

SCALARS = st.one_of(st.text(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.sampled_from(["yes", "No", "ON", "off", "TRUE", "null", "Null", "~", "", "y", "n", "1e3",
                                     "0x1F", "1_000", "12:30:45", "2026-11-28", ".inf", ".NaN", "<<", "=", "- a",
                                     "a: b", "a #b", "'q'", '"q"', "&anchor", "*alias", "!tag", "%x", "@x", "`x",
                                     "1025-5000", "192.0.2.0/24", "2001:db8::1", "allow-tcp-from-x", *HOSTILE_TEXT]))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=8) | SCALARS.filter(
                                                         lambda value: isinstance(value, str)), inner, max_size=4)),
                    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), DATA, max_size=4))
def test_any_plain_data_reads_back_unchanged(data):
    text = yaml_text(data, "heading")
    assert text.startswith("# heading\n")
    assert (yaml.safe_load(text) or {}) == data


def test_aerleon_loader_reads_back_a_policy_shape():
    data = {"filters": [{"header": {"targets": {"nftables": "mixed input"}, "comment": "Inbound: role a (A)"},
                         "terms": [{"name": "allow-tcp-from-b", "comment": "tcp from role b, 2 flows: x, y",
                                    "destination-port": ["X", "Y"], "protocol": "tcp", "action": "accept"}]}]}
    loaded = yaml.load(yaml_text(data, "heading"), Loader=yaml_loader.SpanSafeYamlLoader(filename="a.yaml"))
    terms = loaded["filters"][0]["terms"]
    assert terms[0]["destination-port"] == ["X", "Y"]
    assert loaded["filters"][0]["header"]["comment"] == "Inbound: role a (A)"


def test_long_keys_read_back():
    data = {"k" * 2000: {"x" * 1500: ["a", {"y" * 1100: "b"}], "é" * 400: 1}, "short": "v"}
    assert yaml.safe_load(yaml_text(data, "heading")) == data
