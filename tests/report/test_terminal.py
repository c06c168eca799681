"""The terminal report never cuts money: at 80 columns the figures are stacked, piped they keep the
tables' natural width, and in both every published and on-chain amount appears whole."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from decimal import Decimal

from scanner.report.terminal import _num as _num_of, render_scan
from scanner.report_model import ScanReport
from support.common import ROOT
from support.reports import scan_report

REPORT = json.loads((ROOT / "tests" / "data" / "scan_report_okx.json").read_text())


def _num(text: str) -> str:
    return _num_of(Decimal(text))


def _render(width: int) -> str:
    out = io.StringIO()
    render_scan(ScanReport.from_json(REPORT), Console(file=out, width=width, highlight=False, color_system=None))
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


def test_the_verdict_comes_first_in_the_terminal_and_the_html_report():
    from scanner.pipeline.scan import verdict
    from scanner.report.html import render_html

    v = verdict(ScanReport.from_json(REPORT))
    text = _render(80)
    assert text.splitlines()[1] == f"verdict: {v.line}"[:80] or f"verdict: {v.line}" in text.replace("\n", "")
    html = render_html(REPORT)
    top = html[html.index("<h1"):]
    assert top.index('class="verdict') < top.index("</h1>") + 200  # right under the title
    absolute = {**REPORT, "inputs": [{**i, "path": "/home/analyst/por/" + i["path"]} for i in REPORT["inputs"]]}
    shown = render_html(absolute)
    assert "/home/analyst" not in shown and REPORT["inputs"][0]["path"] in shown  # files by name and SHA-256


def test_verdict_rules():
    from scanner.pipeline.scan import verdict

    def report(v=None, b=None, read=10, expected=10):
        return scan_report({"assets": [{"asset": "ETH", "rows_read": read, "rows_expected": expected, "proven_ratio": "1"}],
                            "verification": {"by_status": v or {"verified": 10}}, "balances": {"by_status": b or {"match": 10}}})

    assert verdict(report()).code == 0 and verdict(report()).line.startswith("all checks held")
    assert verdict(report(v={"verified": 9, "failed": 1})).code == 1
    assert verdict(report(b={"match": 9, "mismatch": 1})).code == 1
    assert verdict(report(b={"match": 9, "unread": 1}, read=9)).code == 3
    assert "1 rows publish no signature" in verdict(report(v={"verified": 9, "unsigned": 1}), require_signatures=True).line


@pytest.mark.parametrize("width", [80, 200])
def test_staked_and_unbonding_are_shown_whole_when_an_asset_has_them(width):
    """An asset with a staking split gets its liquid / staked / unbonding lines (table or stacked); the rows
    whose split is unknown are named; a report without any split shows none of it."""
    doc = json.loads(json.dumps(REPORT))
    eth = next(a for a in doc["assets"] if a["networks"])
    onchain = Decimal(eth["onchain"])
    staked, unbonding, unknown = onchain / 4, onchain / 8, Decimal("0.000000000000000001")
    eth.update({"staked": str(staked), "unbonding": str(unbonding), "split_unknown": str(unknown),
                "split_unknown_rows": 3})
    out = io.StringIO()
    render_scan(ScanReport.from_json(doc), Console(file=out, width=width, highlight=False, color_system=None))
    text = out.getvalue()
    assert "Staked and locked" in text and max(map(len, text.splitlines())) <= width
    liquid = onchain - staked - unbonding - unknown
    for amount in (staked, unbonding, liquid, unknown):
        assert _num(str(amount)) in text, (width, amount)
    assert "(3 row(s))" in text and "not counted as liquid" in text
    assert "Staked and locked" not in _render(width)
