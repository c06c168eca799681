"""The README's exit-code table is the one in scanner/exitcodes.py: same codes, same meanings."""

from __future__ import annotations

import re

import scanner.exitcodes as exitcodes
from support.common import ROOT


def _norm(text: str) -> str:
    return " ".join(text.replace("``", "`").split())


def _module_table() -> dict[int, str]:
    """The docstring's table: a row starts with the code, continuation lines are indented under the meaning."""
    rows: dict[int, str] = {}
    code = None
    for line in (exitcodes.__doc__ or "").splitlines():
        m = re.match(r"(\d+)\s+(.*)", line)
        if m:
            code = int(m.group(1))
            rows[code] = m.group(2)
        elif code is not None and line.startswith(" ") and line.strip():
            rows[code] += " " + line.strip()
        elif line.startswith("="):
            code = None
    return {c: _norm(t) for c, t in rows.items()}


def _readme_table() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Exit codes"):]
    section = section[:section.index("\n#", 1)]
    return {int(m.group(1)): _norm(m.group(2)) for m in re.finditer(r"^\| \*\*(\d+)\*\* \| (.+?) \|$", section, re.M)}


def test_exit_code_table_is_the_module_table():
    module = _module_table()
    constants = {v for k, v in vars(exitcodes).items() if k.startswith("EXIT_")}
    assert set(module) == constants  # the docstring table documents every constant, no more
    assert _readme_table() == module
