"""Sphinx configuration of the Portbook site. Pages come from source/; every table,
role page and diagram is built from the data folder by the generator.site extension."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent

project = "Portbook"
author = "Portbook"
copyright = "Portbook contributors"

extensions = ["generator.site"]

# The data folder; `make html` passes -D portbook_data=... for another folder.
portbook_data = str(ROOT / "data")
# Where the other formats were built (workbooks, Markdown, policies) so role pages can
# link to them; empty means the folder above the HTML output (build/).
portbook_outputs = ""

root_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_theme = "furo"
html_title = "Portbook"
html_show_sourcelink = False
html_copy_source = False  # a page's source holds directives, not what the page shows
graphviz_output_format = "svg"
nitpicky = True
