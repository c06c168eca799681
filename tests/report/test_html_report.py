"""The standalone HTML scan report (scanner/report/html.py) and its chart primitives (scanner/report/charts.py).

Pure tests of the charts' geometry and exact number formatting; rendering and escaping tests on the
page's HTML; then the page loaded in headless Chromium (Debian's, see scripts/browser-tools.sh):
the DOM after load must show the key figures. The page on a desktop and a phone screen (layout,
chart text size, screenshots docs/report-1280.png and docs/report-390.png) is tests/report/test_layout.py.

The fixture tests/data/scan_report_okx.json is a realistic porscan.scan/1 report written for these
tests: five assets, ETH below a ratio of 1, TON without liabilities, USDT on tron read at the latest
block, BTC with 20 of 5,000 rows unread, amounts with 18 decimals.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from scanner.report import charts
from scanner.report.charts import (Bar, BarGroup, Layout, Segment, StackRow, bar_chart, format_amount, format_count,
                            format_fraction, format_ratio, nice_axis_max, rows_read_text, scale,
                            stacked_bar_chart, ticks, to_decimal)
from scanner.report.html import render_html, write_html

from support.browser import dump_dom
from support.common import ROOT

FIXTURE = ROOT / "tests" / "data" / "scan_report_okx.json"

# Figures the page must show for the fixture, worked out by hand from its ratios (rounded down).
EXPECTED_RATIOS = {  # asset: (proven ratio, with unproven)
    "BTC": ("100.29%", "103.36%"),
    "ETH": ("96.43%", "98.40%"),
    "USDT": ("103.84%", "105.01%"),
    "SOL": ("130.90%", "130.90%"),
}
LATEST_LABEL = "read at latest block 66543210, not at the snapshot"
BTC_COVERAGE = "4,980 / 5,000 rows read (99.6%)"

INJECTIONS = {
    "coin": "<script>document.title='PWNED'</script>",
    "note": "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">",
    "network": "\"><svg onload=\"document.body.setAttribute('data-pwned','2')\">",
    "path": "'><iframe src=\"javascript:alert(1)\"></iframe>",
}


@pytest.fixture
def report() -> dict:
    return json.loads(FIXTURE.read_text())


def hostile(report: dict) -> dict:
    """The fixture with attacker-controlled strings wherever a published file could put them."""
    r = copy.deepcopy(report)
    r["assets"][0]["asset"] = INJECTIONS["coin"]
    r["assets"][0]["networks"][0]["coins"] = [INJECTIONS["coin"]]
    r["assets"][1]["networks"][0]["network"] = INJECTIONS["network"]
    r["assets"][1]["liabilities_provenance"] = INJECTIONS["network"]
    r["assets"][1]["networks"][0]["blocks"][0]["hash"] = INJECTIONS["path"]
    r["notes"].append(INJECTIONS["note"])
    r["inputs"][0]["path"] = INJECTIONS["path"]
    r["run"]["exchange"] = INJECTIONS["coin"]
    r["liabilities"]["warnings"].append(INJECTIONS["note"])
    r["liabilities"]["totals"][INJECTIONS["coin"]] = INJECTIONS["note"]
    r["summary_block"]["mismatches"].append({"coin": INJECTIONS["coin"], "reason": INJECTIONS["note"]})
    r["verification"]["by_status"][INJECTIONS["coin"]] = 1
    return r


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    p.close()
    return p


def page_text(page: str) -> str:
    return re.sub(r"\s+", " ", "".join(parse(page).text))


def assert_key_figures(text: str) -> None:
    """Each asset's ratios, the not-at-snapshot label, incomplete coverage and the provenance badges."""
    for asset, (proven, with_unproven) in EXPECTED_RATIOS.items():
        assert proven in text and with_unproven in text, asset
    assert LATEST_LABEL in text
    assert BTC_COVERAGE in text
    assert "zk-published" in text and "self-reported" in text and "no liabilities" in text


# ---------------------------------------------------------------------------------------------
# charts.py: numbers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, shown", [
    ("0", "0"),
    ("120.00", "120.00"),  # every digit given is kept
    ("1234567.891", "1,234,567.891"),
    ("123456789012345678901234567890.123456789012345678",
     "123,456,789,012,345,678,901,234,567,890.123456789012345678"),
    ("0.000000000000000001", "0.000000000000000001"),
    ("1308800.123456789012345721", "1,308,800.123456789012345721"),
    ("-3.45", "-3.45"),
    ("-1234567.000000000000000001", "-1,234,567.000000000000000001"),
    ("-0", "0"),
    ("1E+3", "1,000"),  # exponent forms written out
    ("1e-20", "0.00000000000000000001"),
    (" 42 ", "42"),
    (600000, "600,000"),
    (Decimal("99999999999999999999999999.999999999999999999"), "99,999,999,999,999,999,999,999,999.999999999999999999"),
    (None, "\u2014"),
])
def test_format_amount_is_exact(text, shown):
    assert format_amount(text) == shown


def test_format_amount_round_trips_huge_values_digit_for_digit():
    value = "9" * 60 + "." + "1" * 17 + "7"
    shown = format_amount(value)
    assert Decimal(shown.replace(",", "")) == Decimal(value)
    assert shown.split(".")[1] == "1" * 17 + "7"
    assert all(len(g) == 3 for g in shown.split(".")[0].split(",")[1:])


def test_format_amount_signed_differences():
    assert format_amount("-3.45", signed=True) == "-3.45"
    assert format_amount("1234.5", signed=True) == "+1,234.5"
    assert format_amount("0", signed=True) == "0"
    assert format_amount("-46.70000000", signed=True) == "-46.70000000"


@pytest.mark.parametrize("bad", [1.5, float("nan"), True])
def test_floats_are_refused(bad):
    with pytest.raises(TypeError):
        format_amount(bad)


@pytest.mark.parametrize("bad", ["NaN", "inf", "-Infinity", "12abc", ""])
def test_non_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        to_decimal(bad)


def test_ratio_and_coverage_round_down():
    assert format_ratio("1.18") == "118.00%"
    assert format_ratio("0.999999") == "99.99%"  # never a flattering 100.00%
    assert format_ratio("0.964335") == "96.43%"
    assert format_ratio("12.5", 0) == "1,250%"
    assert format_ratio(None) == "\u2014"
    assert format_fraction(9, 10) == "90%"
    assert format_fraction(4999, 5000) == "99.9%"
    assert format_fraction(9999, 10000) == "99.9%"  # not 100%
    assert format_fraction(10, 10) == "100%"
    assert format_fraction(0, 0) == "\u2014"
    assert rows_read_text(9, 10) == "9 / 10 rows read (90%)"
    assert rows_read_text(4980, 5000) == BTC_COVERAGE
    assert format_count(600000) == "600,000"


# ---------------------------------------------------------------------------------------------
# charts.py: geometry
# ---------------------------------------------------------------------------------------------
def test_scale_is_proportional_and_clamped():
    assert scale("0.5", "2", 400) == 100
    assert scale(Decimal("1.5"), Decimal(3), 300) == pytest.approx(150)
    assert scale("1234567.123456789012345678", "2469134.246913578024691356", 1000) == pytest.approx(500)
    assert scale("-3.45", "10", 100) == 0  # negative: no bar
    assert scale(None, "10", 100) == 0
    assert scale("15", "10", 100) == 100  # over range: full length
    assert scale("5", "0", 100) == 0


def test_axis_ends_and_ticks_are_round():
    assert nice_axis_max(Decimal("1.239")) == Decimal("1.25")
    assert nice_axis_max(Decimal("0.9"), at_least=Decimal("1.25")) == Decimal("1.25")
    assert nice_axis_max(Decimal("40"), cap=Decimal(3)) == Decimal(3)
    assert nice_axis_max(Decimal("123456")) == Decimal("125000")
    assert ticks(Decimal("1.5")) == [0, Decimal("0.5"), 1, Decimal("1.5")]
    assert [format_amount(t) for t in ticks(Decimal("300000"))] == ["0", "100,000", "200,000", "300,000"]


def _rects(svg: str, cls: str) -> list[dict]:
    return [a for t, a in parse(svg).tags if t == "rect" and a.get("class") == cls]


def test_bar_chart_lengths_are_proportional_to_values():
    layout = Layout(width=700, label_width=100, text_width=100)  # plot width 500
    values = [Decimal("0.5"), Decimal("1"), Decimal("1.25"), Decimal("2")]
    svg = bar_chart([BarGroup("A", [Bar(v, "#123456", text=str(v)) for v in values])],
                    axis_max=Decimal(2), reference=Decimal(1), layout=layout)
    widths = [float(r["width"]) for r in _rects(svg, "bar")]
    assert widths == [125, 250, 312.5, 500]
    assert [r["data-value"] for r in _rects(svg, "bar")] == ["0.5", "1", "1.25", "2"]
    assert all(float(r["x"]) == 100 for r in _rects(svg, "bar"))
    reference = [a for t, a in parse(svg).tags if t == "line" and a.get("class") == "reference"]
    assert float(reference[0]["x1"]) == 100 + 250  # the 100 % line at value 1


def test_bar_chart_over_range_and_missing_values():
    svg = bar_chart([BarGroup("A", [Bar(Decimal(9), "#111111", text="900%"), Bar(None, "#111111", text="no ratio")])],
                    axis_max=Decimal(3), layout=Layout(width=700, label_width=100, text_width=100))
    bars = _rects(svg, "bar")
    assert len(bars) == 1 and float(bars[0]["width"]) == 500  # over range: full, and marked
    assert "<path" in svg and "no ratio" in svg and "900%" in svg


def test_stacked_bars_add_up_exactly_and_keep_order():
    segs = charts.RESERVE_SEGMENTS
    rows = [StackRow("ethereum", {"proven": "1234567.123456789012345678", "owner_only": "25000.5", "key_only": "0",
                                  "unverified": "1200.000000000000000001", "unread_published": None}),
            StackRow("arbitrum", {"proven": "48000.000000000000000042"})]
    layout = Layout(width=1000, label_width=100, text_width=100)  # plot width 800
    svg = stacked_bar_chart(rows, segs, layout=layout)
    rects = _rects(svg, "seg")
    assert [r["data-key"] for r in rects] == ["proven", "owner_only", "unverified", "proven"]  # zero/None not drawn
    first = rects[:3]
    assert sum(float(r["width"]) for r in first) == pytest.approx(800, abs=0.02)  # largest row spans the axis
    total = Decimal("1234567.123456789012345678") + Decimal("25000.5") + Decimal("1200.000000000000000001")
    for r in first:
        assert float(r["width"]) == pytest.approx(float(Decimal(r["data-value"]) / total) * 800, abs=0.02)
    assert float(rects[3]["width"]) == pytest.approx(float(Decimal("48000.000000000000000042") / total) * 800, abs=0.02)
    # segments follow each other without gaps
    assert float(first[1]["x"]) == pytest.approx(float(first[0]["x"]) + float(first[0]["width"]), abs=0.02)
    # tooltips carry the exact amounts
    assert "proven (verified rows): 1,234,567.123456789012345678" in svg
    assert "unverified: 1,200.000000000000000001" in svg


def test_charts_escape_their_text():
    svg = bar_chart([BarGroup("<script>x", [Bar(Decimal(1), "#000", "<b>", "<i>", "\"'<>")])],
                    axis_max=Decimal(2))
    svg += stacked_bar_chart([StackRow("<img src=x>", {"proven": "1"}, "<u>", "<s>")],
                             [Segment("proven", "<em>", "#000")])
    svg += charts.legend([("<script>", "red\"><script>")])
    assert "<script" not in svg and "<img" not in svg and "<b>" not in svg and "<em>" not in svg
    assert "&lt;script&gt;x" in svg and "&lt;img src=x&gt;" in svg and "&lt;u&gt;" in svg and "&lt;s&gt;" in svg


def test_ratio_chart_colours_follow_the_100_percent_line():
    svg = charts.ratio_chart([charts.RatioItem("ETH", Decimal("0.96"), Decimal("0.98")),
                              charts.RatioItem("BTC", Decimal("1.01"), Decimal("1.02")),
                              charts.RatioItem("TON", None, None, "no liabilities")])
    fills = [r["fill"] for r in _rects(svg, "bar")]
    assert fills == [charts.BAD, charts.BAD_LIGHT, charts.OK, charts.OK_LIGHT]
    assert "no liabilities" in svg and "96.00%" in svg and "100%" in svg


# ---------------------------------------------------------------------------------------------
# html_report.py: the page as text
# ---------------------------------------------------------------------------------------------
def test_page_shows_every_figure(report):
    page = render_html(report)
    text = page_text(page)
    assert_key_figures(text)
    assert "1,240 / 1,240 rows read (100%)" in text
    assert "1,308,800.123456789012345721" in text  # ETH published, all 18 decimals
    assert "21,500,000,000" in text and "-46.70000000" in text  # USDT liabilities, BTC difference (negative)
    for i in report["inputs"]:
        assert i["sha256"] in text and i["path"] in text
    assert "porscan 0.1.0" in text and "scan #3" in text and "OKX" in text
    for note in report["notes"]:
        assert note in text
    assert report["liabilities"]["warnings"][0] in text
    assert "same value, different precision" in text  # summary-block mismatch listed
    assert "10,155" in text and "invalid_row" in text  # verification counts
    # ETH below 1 is flagged; its ratio cell is marked "below"
    assert "ETH: proven reserves cover 96.43% of liabilities (below 100%)" in text
    tags = parse(page).tags
    below = [a for t, a in tags if t == "td" and "below" in (a.get("class") or "")]
    assert len(below) == 2  # ETH proven and with-unproven


def test_page_is_standalone(report):
    page = render_html(report)
    tags = parse(page).tags
    assert not [t for t, _ in tags if t in ("link", "img", "iframe", "object", "embed")]
    assert [a for t, a in tags if t == "script"] == [{}]  # one inline script, no src
    for t, attrs in tags:
        for name in ("src", "href", "action", "srcset"):
            assert name not in attrs, (t, attrs)
    assert "https://" not in page and "@import" not in page and "url(" not in page
    assert set(re.findall(r"http://[^\"]*", page)) == {"http://www.w3.org/2000/svg"}  # a namespace, never fetched
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src 'sha256-" in csp[0]
    assert len([t for t, _ in tags if t == "svg"]) >= 3 + len(report["assets"])  # ratio, coverage, status, per asset


def test_untrusted_strings_render_inert(report):
    page = render_html(hostile(report))
    tags = parse(page).tags
    assert [t for t, _ in tags].count("script") == 1
    assert not [t for t, _ in tags if t in ("img", "iframe")]
    assert [t for t, _ in tags].count("svg") == len([t for t, _ in parse(render_html(report)).tags if t == "svg"])
    for t, attrs in tags:
        assert not [a for a in attrs if a.startswith("on")], (t, attrs)
    text = page_text(page)
    for s in INJECTIONS.values():
        assert s in text  # shown as text, verbatim
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page


def test_partial_and_minimal_reports_render():
    page = render_html({"schema": "porscan.scan/1", "run": {"id": 9, "exchange": "HTX", "status": "interrupted"}})
    text = page_text(page)
    assert "The run is not finished (status interrupted)" in text and "HTX" in text
    r = {"schema": "porscan.scan/1", "run": {"id": 1, "exchange": "X", "status": "done"},
         "assets": [{"asset": "DOGE", "published": "10", "onchain": None, "proven": None, "rows_read": 0,
                     "rows_expected": 4, "liabilities": None, "proven_ratio": None,
                     "networks": [{"network": "dogecoin", "rows_read": 0, "rows_expected": 4, "blocks": []}]}]}
    text = page_text(render_html(r))
    assert "0 / 4 rows read (0%)" in text and "no liabilities" in text
    with pytest.raises(TypeError):
        render_html([])  # type: ignore[arg-type]


def test_write_html_and_module_cli(report, tmp_path):
    from scanner.report.html import main

    out = tmp_path / "a.html"
    write_html(report, str(out))
    src = tmp_path / "scan.json"
    src.write_text(json.dumps(report))
    assert main([str(src), "-o", str(tmp_path / "b.html")]) == 0
    assert (tmp_path / "b.html").read_text() == out.read_text() == render_html(report)
    assert main([str(tmp_path / "missing.json"), "-o", str(tmp_path / "c.html")]) == 2


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------
def test_chromium_dom_shows_the_key_figures(report, tmp_path):
    page = tmp_path / "report.html"
    write_html(report, str(page))
    run = dump_dom(page)
    dom = run.stdout
    assert 'data-sortable="ready"' in dom  # our one script ran: the CSP hash matches it
    assert "Refused to execute" not in run.stderr and "Uncaught" not in run.stderr
    text = page_text(dom)
    assert_key_figures(text)
    tags = parse(dom).tags
    svgs = [a for t, a in tags if t == "svg"]
    assert {"ratio-chart", "coverage-chart", "stacked-chart"} <= {c for a in svgs for c in a.get("class", "").split()}
    # ratios + coverage, each drawn wide (desktop) and narrow (phone)
    assert len([a for t, a in tags if t == "rect" and a.get("class") == "bar"]) == 2 * (2 * 4 + 5)


def test_chromium_keeps_hostile_strings_inert(report, tmp_path):
    page = tmp_path / "hostile.html"
    write_html(hostile(report), str(page))
    run = dump_dom(page)
    dom = run.stdout
    tags = parse(dom).tags
    assert re.search(r"<title>(.*?)</title>", dom).group(1).startswith("porscan: ")  # not replaced by "PWNED"
    assert not any("data-pwned" in a for _, a in tags)
    assert not [t for t, _ in tags if t in ("img", "iframe")]
    text = page_text(dom)
    for s in INJECTIONS.values():
        assert s in text


def test_the_assets_card_counts_assets_with_liabilities():
    """An asset of which nothing was read has a liabilities figure and no ratio: it counts."""
    def asset(name, read, ratio):
        return {"asset": name, "published": "10", "onchain": "10" if read else None, "rows_read": read,
                "rows_expected": 4, "liabilities": "9", "proven_ratio": ratio, "networks": []}

    r = {"schema": "porscan.scan/1", "run": {"id": 1, "exchange": "X", "status": "done"},
         "assets": [asset("ETH", 4, "1.1"), asset("TRX", 0, None)]}
    assert '>Assets</div><div class="big">2</div><div class="small">2 with liabilities<' in render_html(r)
