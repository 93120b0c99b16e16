"""The Windows Firewall script of a role: a batch file of netsh commands that can run twice.

Aerleon's windows_advfirewall output gives the port rules; this module rewrites them so
that every value is quoted, deletes every rule name before adding rules under it, and
adds the program exceptions Aerleon cannot name (its terms have no program keyword).
Lines end in CRLF, as cmd.exe expects.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

NETSH = "netsh advfirewall firewall"
PROGRAM_RULE_PREFIX = "i_program-"
# Inside double quotes cmd.exe still expands '%' (and '!' under delayed expansion);
# a quote, or a backslash before the closing quote, would end the value early; the
# rest would start a second command if a quote slipped.
_UNSAFE_VALUE = re.compile(r'["%&|^<>!\x00-\x1f\x7f]|\\$')
_AERLEON_ADD = f"{NETSH} add rule "
_AERLEON_ATOM = re.compile(r"([a-z]+)=(\S+)")


@dataclass(frozen=True)
class ProgramRule:
    """An inbound program exception: the program may accept on every port of its protocol."""

    name: str
    program: str
    protocol: str  # tcp, udp or any
    local: tuple[str, ...]
    remote: tuple[str, ...]
    description: str

    def atoms(self) -> list[tuple[str, str]]:
        return [("name", self.name), ("enable", "yes"), ("interfacetype", "any"), ("dir", "in"),
                ("program", self.program), ("protocol", self.protocol), ("remoteip", ",".join(self.remote)),
                ("localip", ",".join(self.local)), ("action", "allow"), ("description", self.description)]


def writable(value: str) -> bool:
    """Whether a value can be written between double quotes and stay one inert value."""
    return bool(value) and not _UNSAFE_VALUE.search(value)


def quoted(value: str) -> str:
    if not writable(value):
        raise ValueError(f"value {value!r} cannot be quoted safely for netsh")
    return f'"{value}"'


def aerleon_rules(text: str) -> list[list[tuple[str, str]]]:
    """The `add rule` commands of Aerleon's output as (key, value) lists; its other lines
    are ':' comments. Any other line is refused rather than copied."""
    rules = []
    for line in text.splitlines():
        if not line or line.startswith(":"):
            continue
        if not line.startswith(_AERLEON_ADD):
            raise ValueError(f"unexpected line in Aerleon's netsh output: {line[:60]!r}")
        atoms = line[len(_AERLEON_ADD):].split()
        matches = [_AERLEON_ATOM.fullmatch(atom) for atom in atoms]
        if not all(matches):
            raise ValueError(f"unexpected netsh atom in {line[:60]!r}")
        rules.append([(match[1], match[2]) for match in matches])
    return rules


def netsh_script(aerleon_text: str, programs: list[ProgramRule], comments: list[str]) -> str:
    """Every rule name deleted (inbound rules only), then every rule added, values quoted."""
    rules = aerleon_rules(aerleon_text) + [program.atoms() for program in programs]
    names = list(dict.fromkeys(value for atoms in rules for key, value in atoms if key == "name"))
    lines = [f"rem {comment}" for comment in comments]
    lines += [f"{NETSH} delete rule name={quoted(name)} dir=in" for name in names]
    lines += [f"{NETSH} add rule " + " ".join(f"{key}={quoted(value)}" for key, value in atoms) for atoms in rules]
    return "\r\n".join(lines) + "\r\n"
