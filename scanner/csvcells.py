"""CSV cells a spreadsheet will not execute (OWASP's rule against CSV injection).

Reserve files are untrusted: a coin, address or amount cell may be ``=HYPERLINK(...)`` or ``+1+2``,
and porscan copies such cells into ``--failures-csv`` and ``report.csv``. A cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so a spreadsheet shows
it as text. Plain decimal numbers (``-0.5``, porscan's own differences) stay numbers: a formula
cannot be one. JSON output is not touched.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def row(values: Iterable[Any]) -> list[str]:
    return [cell(v) for v in values]
