"""Which URLs from the data may become links: the one rule every output applies.

Only http, https and mailto URLs, and relative references, are links; anything else
(`javascript:`, `data:`, `file:`, `vbscript:`...) would run or open something the
reader did not ask for, so the loader refuses it and outputs show it as text.
"""
from __future__ import annotations

import re

LINK_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# Browsers drop tabs and line ends inside a URL and ignore leading controls and spaces,
# so "java\tscript:" is javascript:; such URLs are never links.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f-\x9f]")


def safe_url(url: str) -> bool:
    """True where `url` may be rendered as a link."""
    if not url or _UNSAFE_CHARACTERS.search(url):
        return False
    scheme = _SCHEME.match(url)
    return scheme is None or scheme.group(1).lower() in LINK_SCHEMES


def unsafe_url_message(url: str) -> str:
    return (f"{url[:80]!r} is not a link the outputs may show: use an http, https or mailto URL "
            "or a relative one, without spaces or control characters")
