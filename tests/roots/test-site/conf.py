# Test site: the portbook extension over a small data folder that each test
# writes next to this file (into the test's own copy of this folder).
from pathlib import Path

project = "Portbook test site"
extensions = ["generator.site"]
portbook_data = str(Path(__file__).resolve().parent / "_data")
exclude_patterns = ["_data", "_build"]
html_theme = "basic"
nitpicky = True
html_copy_source = False
