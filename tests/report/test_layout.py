"""The standalone HTML report on real screens: loaded in headless Chromium at a desktop (1280x900) and
a phone (390x844) size and measured after load (tests/support/browser.py ``view_page``). No page-level
sideways scrolling, no table cell whose content is wider than the cell, chart text of at least 11 px
after the SVG's scaling and inside its drawing, on a phone the tables as cards (nothing scrolls
sideways), and the incomplete mark on exactly the assets read incompletely. The same for a report
with extreme widths (very long amounts, coin lists, reasons). PORSCAN_UPDATE_DOCS=1 writes the
full-page screenshots to docs/report-1280.png and docs/report-390.png."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil

import pytest

from scanner.report import charts
from scanner.report.html import breakable, render_html
from support.browser import chromium_or_skip, read_png, view_page
from support.common import ROOT

FIXTURE = ROOT / "tests" / "data" / "scan_report_okx.json"
SIZES = ((1280, 900), (390, 844))
IDS = [f"{w}x{h}" for w, h in SIZES]


def _report() -> dict:
    """The fixture (five assets, BTC with 20 of 5,000 rows unread) with the rows to look at listed,
    as a scan writes them."""
    r = json.loads(FIXTURE.read_text())
    r["failures"] = {"total": 3, "listed": 3, "by_stage": {"verify": 2, "balances": 1}, "rows": [
        {"line": 17, "stage": "verify", "coin": "USDT-ERC20", "network": "ethereum",
         "address": "0x" + "ab12" * 10, "status": "failed", "reason": "signature does not recover the address"},
        {"line": 4021, "stage": "verify", "coin": "BTC", "network": "bitcoin",
         "address": "bc1q" + "x7" * 29, "status": "invalid_row", "reason": "unknown address type"},
        {"line": 9001, "stage": "balances", "coin": "USDT-TRC20", "network": "tron", "address": "T" + "Q9" * 16 + "z",
         "status": "unread", "reason": "HTTP 429 from tron-rpc-1 after 6 attempts; the row counts as unread"}]}
    return r


def _extreme() -> dict:
    """Widths a real file can bring: a 40-digit amount with 18 decimals, many coins on one network,
    a long network name and a long unbroken reason."""
    r = _report()
    huge = "1234567890123456789012345678901234567890.123456789012345678"
    a = r["assets"][1]
    for key in ("published", "onchain", "proven"):
        a[key] = huge
        a["networks"][0][key] = huge
    a["networks"][0]["coins"] = [f"ETH-{c}" for c in ("ERC20", "BEP20", "ARBITRUM", "OPTIMISM", "BASE", "LINEA",
                                                        "ZKSYNC", "SCROLL", "MANTLE", "BLAST")]
    a["networks"][1]["network"] = "arbitrum-one-nitro-mainnet-archive"
    for place in (a, a["networks"][0]):  # a staking split: its own table, as wide as the amounts get
        place.update({"liquid": huge, "staked": huge, "unbonding": huge, "split_unknown": huge,
                      "split_unknown_rows": 12_345_678})
    r["failures"]["rows"][0]["reason"] = "x" * 120
    return r


def _partial_assets(report: dict) -> list[str]:
    return sorted(a["asset"] for a in report["assets"]
                  if a["rows_read"] < a["rows_expected"] and a["proven_ratio"] is not None)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
@pytest.mark.parametrize("kind", ["fixture", "extreme"])
def test_report_fits_the_screen(kind, size, tmp_path):
    chromium_or_skip()
    report = _report() if kind == "fixture" else _extreme()
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    png = tmp_path / f"report-{size[0]}.png"
    m = view_page(page.resolve().as_uri(), size, screenshot=png).measured
    assert m["innerWidth"] == size[0]
    assert m["scrollWidth"] <= m["innerWidth"], m  # no sideways scrolling of the page
    assert m["clippedCells"] == [], m["clippedCells"]
    assert m["cells"] > 100
    assert m["firstColumnsOffScreen"] == 0
    assert m["scrollBoxes"] == [], m["scrollBoxes"]  # nothing in the page scrolls sideways either
    # ratio, coverage, verification and one per asset: all shown, none with text under 11 px
    assert m["visibleCharts"] == 3 + len(report["assets"])
    assert m["minChartFont"] >= 11, m["smallChartText"]
    assert m["textOutsideChart"] == [], m["textOutsideChart"]
    assert sorted(set(m["marks"])) == _partial_assets(report) == ["BTC"]

    img = read_png(png)
    assert img.width == size[0] and img.height > 3 * size[1]  # the whole page
    counts = img.colours()

    def seen(colour: str) -> int:
        return counts.get(tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5)), 0)

    # bars, not just legend swatches (12x12 px): ratios, coverage, per-network segments
    for colour in (charts.OK, charts.OK_LIGHT, charts.BAD, charts.BAD_LIGHT, charts.INCOMPLETE):
        assert seen(colour) > 1000, (colour, seen(colour))
    for seg in charts.RESERVE_SEGMENTS:  # more than its 12x12 legend swatch
        assert seen(seg.colour) > 12 * 12 + 10, (seg.key, seen(seg.colour))
    if kind == "fixture" and os.environ.get("PORSCAN_UPDATE_DOCS") == "1":
        shutil.copyfile(png, ROOT / "docs" / f"report-{size[0]}.png")


def test_tables_carry_their_headings_for_the_phone_layout():
    """Every data cell of a card table names its column (the phone shows it beside the figure)."""
    page = render_html(_report())
    tables = re.findall(r'<table class="[^"]*\bstack\b[^"]*">(.*?)</table>', page, re.S)
    assert len(tables) >= 6
    for t in tables:
        heads = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", t)]
        for row in re.findall(r"<tr>(<td.*?)</tr>", t):
            labels = re.findall(r'<td data-label="([^"]*)"', row)
            assert labels == heads[:len(labels)] and len(labels) == len(heads), (labels, heads)


def test_long_amounts_may_wrap_only_between_digit_groups():
    assert breakable("1,308,800.123456789012345721") == "1,308,800<wbr>.123456<wbr>789012<wbr>345721"
    assert breakable("120.00") == "120<wbr>.00"
    assert breakable("21,500,000,000") == "21,500,000,000"  # a short integer part never breaks
    assert breakable("1,234,567,890,123,456,789") == "1,<wbr>234,<wbr>567,<wbr>890,<wbr>123,<wbr>456,<wbr>789"
    page = render_html(_report())
    assert "1,308,800<wbr>.123456<wbr>789012<wbr>345721" in page  # ETH published, every digit kept


def test_narrow_charts_put_labels_above_the_bars():
    items = [charts.RatioItem("BTC", None, None, "no liabilities"),
             charts.RatioItem("ETH", charts.to_decimal("0.96"), charts.to_decimal("0.98"), partial=True)]
    narrow = charts.ratio_chart(items, layout=charts.RATIO_NARROW)
    assert f'viewBox="0 0 {charts.NARROW_WIDTH} ' in narrow
    assert '<text class="group-label" x="0"' in narrow  # the asset's name on its own line
    assert "96.00% *" in narrow and "98.00% *" in narrow  # the incomplete mark on both ratios
    cov = charts.coverage_chart([charts.CoverageItem("BTC", 4980, 5000)], layout=charts.COVERAGE_NARROW)
    assert "BTC<tspan" in cov and "4,980 / 5,000 rows read (99.6%)" in cov
    bar = re.search(r'<rect class="bar"[^>]*width="([\d.]+)"', cov)
    assert bar and abs(float(bar.group(1)) - 0.996 * charts.COVERAGE_NARROW.plot_width) < 0.01
    both = charts.wide_or_narrow("<svg>a</svg>", "<svg>b</svg>")
    assert both == '<div class="chart-wide"><svg>a</svg></div><div class="chart-narrow"><svg>b</svg></div>'


def test_percentages_follow_the_one_rounding_rule():
    from decimal import Decimal

    from scanner.amounts import shown_fraction, shown_percent

    for text in ("0.999999", "1.0102999", "0.964335", "0.5", "2.999999999"):
        d = Decimal(text)
        assert charts.format_ratio(d) == shown_percent(d)
        assert charts.format_ratio(d) == f"{shown_fraction(d, 4) * 100:.2f}%"
    assert charts.format_fraction(9999, 10000) == "99.9%" and charts.format_fraction(1, 3) == "33.3%"


def test_the_extreme_report_keeps_every_digit():
    page = render_html(copy.deepcopy(_extreme()))
    assert "1,234,567,890,123,456,789,012,345,678,901,234,567,890.123456789012345678" in re.sub(r"<wbr>", "", page)

