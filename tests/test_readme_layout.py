"""The README's layout section names every module and subpackage of the generator, and
nothing the tree does not hold: a reader finds each command, check family and output there."""
from __future__ import annotations

import re

from conftest import ROOT


def layout_names() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^## Layout\n\n```\n(.*?)^```", readme, re.M | re.S)
    assert block, "README.md has no Layout section with a code block"
    package = re.search(r"^generator/.*?\n((?:  .*\n)+)", block.group(1), re.M)
    assert package, "the Layout block has no indented entries under generator/"
    names: set[str] = set()
    for line in package.group(1).splitlines():
        # The names column: "a.py, b.py", "checks/" or "commands/", before the description.
        names.update(re.findall(r"[\w.]+(?:\.py|/)", line.strip().split("  ")[0]))
    return names


def tree_names() -> set[str]:
    generator = ROOT / "generator"
    modules = {path.name for path in generator.glob("*.py") if not path.name.startswith("__")}
    packages = {f"{path.name}/" for path in generator.iterdir() if (path / "__init__.py").is_file()}
    return modules | packages


def test_the_readme_layout_names_every_module_and_package_of_the_generator():
    assert layout_names() == tree_names()
