"""The keys of portbook.toml and dataset.toml: one definition, documented in the README,
and located in their files for messages."""
from __future__ import annotations

from generator.settings import DATASET_KEYS, SETTINGS_KEYS, key_location, keys_table

from conftest import ROOT

TEXT = """# settings
[registry]
system = "/etc/services"
extra = ["a.csv"]

[policy]
  platforms = 5
site.base_url = "x"

[sections.remote-sql]
title = "T"
"""


def test_a_key_is_located_at_its_own_line():
    assert key_location(TEXT, "registry.extra") == (4, 1)
    assert key_location(TEXT, "policy.platforms") == (7, 3)
    assert key_location(TEXT, "policy.site.base_url") == (8, 1)  # a dotted key inside [policy]
    assert key_location(TEXT, "sections.remote-sql.title") == (11, 1)


def test_a_key_the_file_does_not_set_points_at_its_table_or_the_start():
    assert key_location(TEXT, "policy.accept_loopback") == (6, 1)
    assert key_location(TEXT, "xlsx.profile") == (1, 1)


def test_the_readme_documents_every_key_from_the_definitions():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for keys in (SETTINGS_KEYS, DATASET_KEYS):
        assert keys_table(keys) in readme, "README's settings tables differ from generator/settings.py"
