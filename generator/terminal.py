"""Text from a page or the data printed to a terminal stays text: it can carry escape
sequences (ESC, CSI, bidirectional overrides) that would recolour, move or hide what a
reader sees. import, check --against and verify print through these.
"""
from __future__ import annotations

import json


def _escape(character: str) -> str:
    return repr(character)[1:-1] if not character.isprintable() else character


def printable(text: str) -> str:
    """The text with every character that is not printable (control characters, line
    breaks, format characters such as U+202E) escaped repr-style: '\\x1b', '\\n', '\\u202e'."""
    if text.isprintable():
        return text
    return "".join(map(_escape, text))


def _json_escape(character: str) -> str:
    if character == "\n" or character.isprintable():
        return character
    return json.dumps(character)[1:-1]  # \uXXXX, or a surrogate pair beyond the BMP


def json_text(payload) -> str:
    """JSON of the payload, readable (non-ASCII text as itself) but with every character
    that is not printable written as a \\u escape; json.loads gives the same data back.
    Outside strings json.dumps writes only spaces and line breaks."""
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    if text.replace("\n", "").isprintable():
        return text + "\n"
    return "".join(map(_json_escape, text)) + "\n"
