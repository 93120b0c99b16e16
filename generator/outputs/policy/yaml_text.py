"""The YAML text of the policy repository's files, written without PyYAML's representer."""
from __future__ import annotations

import re

from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

# Strings that may be written bare: no character YAML gives a meaning to in block style
# (no ':', '#', quote or bracket), no indicator first and no space last. A bare string
# led by a letter reads back as itself unless it is one of YAML 1.1's booleans or null;
# one led by a digit may read as a number, a time or a date, which PyYAML's resolver says.
_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _./()+,=-]*[A-Za-z0-9_./()+=-])?")
_YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}
_STRING_TAG = "tag:yaml.org,2002:str"
# YAML reads a key written before ':' on its line only up to 1024 characters; a longer
# one goes on a '?' line of its own.
_SIMPLE_KEY_LIMIT = 1000
_RESOLVER = Resolver()
# Inside double quotes: printable ASCII stays, the rest is escaped.
_QUOTED_ESCAPE = re.compile(r'[^ !#-\[\]-~]')


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if match.group() in '"\\':
        return "\\" + match.group()
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}" if code < 0x10000 else f"\\U{code:08X}"


def _string_when_bare(value: str) -> bool:
    return _RESOLVER.resolve(ScalarNode, value, (True, False)) == _STRING_TAG


def _scalar(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"no YAML scalar for {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if _PLAIN.fullmatch(value):
        if value[0].isalpha() and value.lower() not in _YAML_WORDS:
            return value
        if value[0].isdigit() and _string_when_bare(value):
            return value
    return '"' + _QUOTED_ESCAPE.sub(_escape, value) + '"'


def _block(value, indent: int, out: list[str]) -> None:
    """Block-style YAML lines of a non-empty dict or list, in PyYAML's layout (a list under
    a key is not indented further)."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = _scalar(key)
            if len(key_text) > _SIMPLE_KEY_LIMIT:
                out.append(f"{pad}? {key_text}")
                key_text = ""
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key_text}:")
                _block(item, indent if isinstance(item, list) else indent + 2, out)
            else:
                out.append(f"{pad}{key_text}: {_inline(item)}")
        return
    for item in value:
        if isinstance(item, (dict, list)) and item:
            start = len(out)
            _block(item, indent + 2, out)
            out[start] = f"{pad}- {out[start][indent + 2:]}"
        else:
            out.append(f"{pad}- {_inline(item)}")


def _inline(value) -> str:
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return _scalar(value)


def yaml_text(data: dict, heading: str) -> str:
    """The YAML text of plain data (dicts, lists, strings, integers) under a comment line.
    Written here rather than by PyYAML, whose pure-Python representer took longer than
    Aerleon itself on large data; every string is bare only where YAML reads it back
    unchanged, and double-quoted with escapes otherwise."""
    lines = [f"# {heading}"]
    _block(data, 0, lines)
    return "\n".join(lines) + "\n"
