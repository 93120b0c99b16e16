"""The model behind a site build: loaded once per build, shared by every directive.

The cache lives in this module, not in the Sphinx environment, so the pickled
environment stays small and forked parallel workers inherit the loaded model.
It is keyed by a fingerprint of the data folder's files (names, sizes, times): a build after a
data edit loads again, a build with unchanged data reuses the model.
"""
from __future__ import annotations

from pathlib import Path

from sphinx.config import Config
from sphinx.errors import SphinxError
from sphinx.util import logging

from ..issues import Severity, render_text
from ..model import Model
from ..pipeline import Checked, fingerprint, load_and_check

logger = logging.getLogger(__name__)

# Resolved data folder -> (fingerprint, checked model). One entry per folder, so a
# long-lived process (tests, sphinx-autobuild) holds one model per folder at most.
_CACHE: dict[Path, tuple[str, Checked]] = {}


class DataError(SphinxError):
    """The data folder does not load or fails its checks; the message lists every issue."""

    category = "Portbook data error"


def data_dir(config: Config) -> Path:
    value = str(config.portbook_data or "")
    if not value:
        raise DataError("portbook_data is not set: name the data folder in conf.py or with -D portbook_data=PATH")
    return Path(value).resolve()  # a relative path is taken from the working directory


def keep(folder: Path, key: str, checked: Checked) -> None:
    """Hand the site a model this process has already loaded and checked, from the data
    folder as `fingerprint` found it before loading (`build` of the formats and the site
    in one process loads the data once). A folder edited since then is loaded again."""
    if checked.ok:
        _CACHE[folder.resolve()] = (key, checked)


def load(config: Config) -> Checked:
    """Load and check the data folder unless the cached model still matches its files."""
    folder = data_dir(config)
    if not folder.is_dir():
        raise DataError(f"portbook_data {str(folder)!r} is not a folder")
    key = fingerprint(folder)
    cached = _CACHE.get(folder)
    if cached is not None and cached[0] == key:
        return cached[1]
    _CACHE.pop(folder, None)  # let the old model go before loading the new one
    checked = load_and_check(folder)
    if not checked.ok:
        errors = [item for item in checked.issues if item.severity is Severity.ERROR]
        raise DataError("the data has errors; the site is not built\n" + render_text(errors))
    for item in checked.issues:
        # Data warnings are reported by `generator check`; the site still builds.
        logger.info("portbook: %s", item.format())
    _CACHE[folder] = (key, checked)
    return checked


def model_of(config: Config) -> Model:
    """The model loaded for this build (at builder-inited, so it is always there)."""
    cached = _CACHE.get(data_dir(config))
    if cached is None:
        return load(config).model
    return cached[1].model
