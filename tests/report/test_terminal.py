"""The terminal report never cuts money: at 80 columns the figures are stacked, piped they keep the
tables' natural width, and in both every published and on-chain amount appears whole."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from scanner.report.terminal import _num, render_scan
from support.common import ROOT

REPORT = json.loads((ROOT / "tests" / "data" / "scan_report_okx.json").read_text())


def _render(width: int) -> str:
    out = io.StringIO()
    render_scan(REPORT, Console(file=out, width=width, highlight=False, color_system=None))
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 120, 100_000])
def test_every_amount_appears_whole(width):
    text = _render(width)
    assert "…" not in text
    lines = text.splitlines()
    assert max(map(len, lines)) <= width
    for a in REPORT["assets"]:
        for key in ("published", "onchain"):
            if a[key] is not None:
                shown = _num(a[key])
                assert any(shown in line for line in lines), (width, a["asset"], key, shown)
        for n in a["networks"]:
            if n["onchain"] is not None:
                assert _num(n["onchain"]) in text, (width, a["asset"], n["network"])


def test_all_decimals_are_kept():
    assert _num("1308800.123456789012345721") == "1,308,800.123456789012345721"
    assert _num("-0.000000000000000001") == "-0.000000000000000001"
    assert re.fullmatch(r"[\d,]+", _num("26000000"))


def test_narrow_terminals_get_the_stacked_layout_wide_ones_the_table():
    assert "Reserves per asset" in _render(80) and "published " in _render(80)
    assert "┃" in _render(100_000) or "│" in _render(100_000)
