"""The feed's dashboard (``GET /`` of ``porscan serve``) as a person sees it: served by a real server
over a real store and measured in headless Chromium at a desktop (1280x900) and a phone (390x844)
size. No page-level sideways scrolling, no table cell whose text overflows it, chart text of at least
11 px after the SVG's scaling, the incomplete mark on the asset read incompletely, the coins per
network, alerts with scaled figures (exact on hover) and the periodic reload that keeps the ETag
caching. PORSCAN_UPDATE_DOCS=1 writes the full-page screenshots to docs/dashboard-1280.png and
docs/dashboard-390.png."""

from __future__ import annotations

import html as htmllib
import io
import os
import re
import shutil
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from scanner import __version__
from scanner.amounts import shown_fraction
from scanner.devnet.feed_sample import populate
from scanner.records import AssetTotal, LiabilityRecord, RatioRecord
from scanner.report import charts
from scanner.service.feed import dashboard
from scanner.storage import RunSpec, open_store
from support.browser import chromium_or_skip, read_png, view_page
from support.common import ROOT, run
from support.feed_world import start_feed

SIZES = ((1280, 900), (390, 844))
DAY = "2025-07-01"
D = Decimal

# The newest run of OKX, written here so that its figures are known: USDT on tron has 10 of 3,000 rows
# unread (the only incomplete asset), USDT's proven ratio is below 1 and its on-chain amount differs
# from the published one, and 12 rows failed ownership. (asset, network, coins, rows, rows read,
# published, on chain, proven, owner-only, key-only, unverified, unread published)
PLACES = (
    ("USDT", "ethereum", ["USDT-ERC20"], 800, 800, D("9878043210.123456"), D("9878043210.123456"),
     D("9700000000"), D("178043210.123456"), D(0), D(0), D(0)),
    ("USDT", "tron", ["USDT-TRC20"], 3000, 2990, D("12250000000.5"), D("12150000000"), D("12000000000"),
     D("150000000"), D(0), D(0), D("40000000")),
    ("BTC", "bitcoin", ["BTC"], 5000, 5000, D("121917.32345679"), D("121870.62345679"), D("118250.12345678"),
     D(0), D("1520.5"), D("2100.00000001"), D(0)),
)
LIABILITIES = {"USDT": (D("22250000000"), "self-reported"), "BTC": (D("117900.25"), "zk-proven")}


def _totals() -> tuple[list[AssetTotal], list[dict]]:
    totals, assets = [], []
    for asset in LIABILITIES:
        places = [p for p in PLACES if p[0] == asset]
        nets = [AssetTotal(asset=asset, network=net, rows=rows, rows_expected=rows, rows_read=read, published=pub,
                           onchain=onchain, proven=proven, owner_only=owner, key_only=key, unverified=unver,
                           unread_published=unread,
                           blocks=[{"number": 19_000_000, "hash": "0x" + "ab" * 32, "at_snapshot": True}])
                for (_, net, _, rows, read, pub, onchain, proven, owner, key, unver, unread) in places]

        def total(field: str) -> Decimal:
            return sum((getattr(n, field) for n in nets), D(0))

        star = AssetTotal(asset=asset, network="*", rows=sum(n.rows for n in nets),
                          rows_expected=sum(n.rows_expected for n in nets), rows_read=sum(n.rows_read for n in nets),
                          published=total("published"), onchain=total("onchain"), proven=total("proven"),
                          owner_only=total("owner_only"), key_only=total("key_only"),
                          unverified=total("unverified"), unread_published=total("unread_published"),
                          blocks=[b for n in nets for b in n.blocks])
        totals += [star, *nets]
        liab, provenance = LIABILITIES[asset]
        with_unproven = star.proven + star.owner_only + star.key_only + star.unverified
        assets.append({"asset": asset, **star.to_json(), "liabilities": str(liab),
                       "liabilities_provenance": provenance, "proven_ratio": str(star.proven / liab),
                       "with_unproven_ratio": str(with_unproven / liab),
                       "networks": [{**n.to_place_json(), "coins": p[2]} for n, p in zip(nets, places)]})
    return totals, assets


async def _write_latest(store) -> tuple[int, dict]:
    run = await store.start_run(RunSpec(exchange="OKX", input_path=f"okx-{DAY}.csv", input_sha256="c" * 64,
                                        liabilities_path=f"liabilities-{DAY}.csv", liabilities_sha256="d" * 64,
                                        params={}, tool_version=__version__, snapshot_date=DAY))
    totals, assets = _totals()
    liabs = [LiabilityRecord(asset=a, amount=amount, provenance=prov, source="test", file=f"liabilities-{DAY}.csv",
                             detail="") for a, (amount, prov) in LIABILITIES.items()]
    ratios = []
    for t in totals:
        if t.network == "*":
            liab, prov = LIABILITIES[t.asset]
            with_unproven = t.proven + t.owner_only + t.key_only + t.unverified
            ratios.append(RatioRecord(asset=t.asset, liabilities=liab, proven_reserves=t.proven,
                                      with_unproven_reserves=with_unproven, proven_ratio=t.proven / liab,
                                      with_unproven_ratio=with_unproven / liab, provenance=prov,
                                      coverage=shown_fraction(D(t.rows_read) / D(t.rows_expected))))
    await store.save_results(run.id, totals, liabs, ratios)
    summary = {"schema": "porscan.scan/1", "tool": {"name": "porscan", "version": __version__},
               "run": {"id": run.id, "exchange": "OKX", "status": "done", "snapshot_date": DAY,
                       "started_at": run.started_at, "finished_at": None, "resumed": False},
               "inputs": [{"role": "reserves", "path": f"okx-{DAY}.csv", "sha256": "c" * 64}],
               "verification": {"rows": 8800, "by_status": {"verified": 8788, "failed": 12}},
               "balances": {"by_status": {"match": 8790, "unread": 10}}, "assets": assets, "notes": []}
    await store.finish_run(run.id, "done", summary)
    return run.id, summary


async def _fill(db: str) -> tuple[int, dict]:
    from scanner.report_model import ScanReport
    from scanner.service.schedule.alerts import evaluate
    from scanner.service.schedule.config import Rules

    store = await open_store(db)
    try:
        await populate(store, 3, 365, "2025-06-30")  # a year of history for the chart and the other exchanges
        run_id, summary = await _write_latest(store)
        rules = Rules(proven_ratio_below={"*": D(1)}, coverage_below={"*": D("0.999")},
                      mismatch_above={"*": D("0.001")}, failed_signatures_above=10)
        for c in evaluate("OKX", run_id, ScanReport.from_json(summary), rules):  # the scheduler's own alerts
            await store.raise_alert("OKX", c.key, c.message, c.detail, run_id)
        return run_id, summary
    finally:
        await store.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(dashboard URL, latest run id, its report) from a `porscan serve` over a filled SQLite store."""
    db = str(tmp_path_factory.mktemp("dashboard") / "dash.db")
    run_id, summary = run(_fill(db))
    feed = start_feed(db, Path(db).with_suffix(".log"), unset=(dashboard.REFRESH_ENV,))
    try:
        yield f"http://127.0.0.1:{feed.port}/?exchange=OKX", run_id, summary
    finally:
        feed.stop()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:  # 304 comes as an "error"
        return exc.code, dict(exc.headers), ""


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", "", page)))


# ------------------------------------------------------------------------------------- in Chromium

@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_dashboard_layout_in_chromium(served, size, tmp_path):
    chromium_or_skip()
    url, _, _ = served
    png = tmp_path / f"dashboard-{size[0]}.png"
    m = view_page(url, size, screenshot=png).measured
    assert m["innerWidth"] == size[0]
    assert m["scrollWidth"] <= m["innerWidth"], m  # no sideways scrolling of the page
    assert m["clippedCells"] == [], m["clippedCells"]
    assert m["cells"] > 20  # the tables are there (as tables or as cards)
    assert m["visibleCharts"] >= 4 and m["chartTexts"] > 20
    assert m["minChartFont"] >= 11, m["smallChartText"]
    assert m["textOutsideChart"] == [], m["textOutsideChart"]
    assert m["firstColumnsOffScreen"] == 0
    if size[0] < 640:
        assert m["scrollBoxes"] == [], m["scrollBoxes"]  # cards, nothing to scroll sideways
    assert sorted(set(m["marks"])) == ["USDT"]  # the one asset read incompletely, and only it
    assert m["refresh"] == str(dashboard.REFRESH_SECONDS)

    img = read_png(png)
    assert img.width == size[0] and img.height > size[1]  # the whole page, longer than a screen
    colours = img.colours(step=2)

    def near(hexcol: str, tol: int = 10) -> int:
        rgb = tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
        return sum(n for c, n in colours.items() if all(abs(a - b) <= tol for a, b in zip(c, rgb)))

    # history lines, green and red ratio bars, amber coverage, the stacked per-network segments
    for hexcol in (*dashboard.SERIES_COLOURS[:len(LIABILITIES)], charts.OK, charts.BAD, charts.INCOMPLETE, "#4575b4"):
        assert near(hexcol) > 40, f"{hexcol} barely on the screenshot"
    if os.environ.get("PORSCAN_UPDATE_DOCS") == "1":
        shutil.copyfile(png, ROOT / "docs" / f"dashboard-{size[0]}.png")


# ------------------------------------------------------------------------------------- the page

def test_dashboard_shows_coins_marks_and_scaled_alerts(served):
    url, run_id, summary = served
    status, _, page = _get(url)
    assert status == 200
    text = _text(page)
    # the coins seen per network, from the run's report
    coins = [_text(c).strip() for c in re.findall(r'<td data-label="Coins">(.*?)</td>', page)]
    assert coins == [", ".join(p[2]) for a in LIABILITIES for p in PLACES if p[0] == a]
    # the incomplete mark and its note, in the terminal report's words
    assert charts.PARTIAL_NOTE in text
    rows = {r[0]: r for r in re.findall(r"<tr><td[^>]*><b>(\w+)</b></td>(.*?)</tr>", page)}
    assert "partial-mark" in rows["USDT"][1] and "partial-mark" not in rows["BTC"][1]
    # alerts: figures scaled for reading (cut, never rounded up), the exact value on hover
    assert "USDT proven reserve ratio 97.52% is below 100% (self-reported liabilities)" in text
    assert "USDT coverage 3,790 / 3,800 rows read (99.7%) is below 99.9%" in text
    assert ("USDT on chain 22B USDT differs from the published 22B USDT (rows read) by -60M USDT (0.27%), "
            "above 0.1%") in text
    assert "12 row(s) failed ownership verification, more than 10" in text
    assert f"(run {run_id}, snapshot {DAY})" in text
    assert '<span class="fig" title="22,028,043,210.123456 USDT">22B USDT</span>' in page
    assert '<span class="fig" title="-60,000,000.5 USDT">-60M USDT</span>' in page
    ratio = re.search(r'<span class="fig" title="([^"]+)">97\.52%</span>', page)
    assert ratio and Decimal(ratio.group(1).split()[0]) == D(21_700_000_000) / D(22_250_000_000)


def test_reload_keeps_the_etag_caching(served):
    """The page reloads itself; an unchanged state answers the reload with a 304 (same ETag), and the
    reload interval is longer than the page's max-age, so a reload revalidates instead of being
    served stale from a cache."""
    url, _, _ = served
    status, headers, page = _get(url)
    assert status == 200
    meta = re.search(r'<meta http-equiv="refresh" content="(\d+)">', page)
    assert meta and int(meta.group(1)) == dashboard.REFRESH_SECONDS
    age = int(re.search(r"max-age=(\d+)", headers["Cache-Control"]).group(1))
    assert 0 < age <= int(meta.group(1))
    again, headers2, page2 = _get(url)
    assert again == 200 and page2 == page and headers2["ETag"] == headers["ETag"]
    status, _, body = _get(url, {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == ""


def test_refresh_interval_setting(monkeypatch):
    data = {"exchange": None, "exchanges": [], "known": False, "latest": None}
    monkeypatch.delenv(dashboard.REFRESH_ENV, raising=False)
    assert 'content="60"' in dashboard.render_dashboard(data)
    monkeypatch.setenv(dashboard.REFRESH_ENV, "300")
    assert '<meta http-equiv="refresh" content="300">' in dashboard.render_dashboard(data)
    monkeypatch.setenv(dashboard.REFRESH_ENV, "0")
    assert 'http-equiv="refresh"' not in dashboard.render_dashboard(data)
    monkeypatch.setenv(dashboard.REFRESH_ENV, "soon")  # not a number of seconds: the default
    assert dashboard.refresh_seconds() == dashboard.REFRESH_SECONDS
    assert 'content="15"' in dashboard.render_dashboard(data, refresh=15)


def test_alerts_without_known_figures_keep_their_words():
    """An alert of another origin shows its message; its large figures are scaled, exact on hover;
    hostile text stays text."""
    shown = dashboard.alert_html("custom", "OKX: USDT reserve 8512345678.5 left <b>", {})
    assert shown == ('OKX: USDT reserve <span class="fig" title="8,512,345,678.5">8.51B</span> left &lt;b&gt;')
    assert dashboard.alert_html("proven_ratio_below:SOL", "OKX: SOL proven reserve ratio 0.88 is below 1.0",
                                {"value": "0.88"}) == "OKX: SOL proven reserve ratio 0.88 is below 1.0"


def test_the_partial_mark_is_the_terminal_reports():
    """Same mark, same words in the terminal, the HTML report and the dashboard."""
    from rich.console import Console

    from scanner.report.terminal import render_scan
    from scanner.report_model import ScanReport

    _, assets = _totals()
    report = {"schema": "porscan.scan/1", "run": {"id": 1, "exchange": "OKX", "status": "done",
                                                  "started_at": "2025-07-01T00:00:00Z"},
              "verification": {"rows": 8800, "by_status": {"verified": 8800}}, "assets": assets}
    out = io.StringIO()
    render_scan(ScanReport.from_json(report), Console(file=out, width=100_000, highlight=False, color_system=None))
    assert charts.PARTIAL_NOTE in out.getvalue()
    rows = [line for line in out.getvalue().splitlines() if "USDT" in line and "%" in line]
    assert rows and all(f"% {charts.PARTIAL_MARK}" in line for line in rows), rows


def test_scaled_amounts_are_cut_never_rounded_up():
    assert charts.format_scaled("12412345.6", "USDT") == "12.4M USDT"
    assert charts.format_scaled("999999999") == "999M"  # not "1000M" nor "1B"
    assert charts.format_scaled("1234") == "1.23K"
    assert charts.format_scaled("-5000000") == "-5M"
    assert charts.format_scaled("0.00012") == "0.00012"
    assert charts.format_scaled("-0.0001", "BTC") == "-0.0001 BTC"
    assert charts.format_scaled("0") == "0"
    assert charts.format_scaled(None) == charts.MISSING


def test_history_chart_has_a_narrow_drawing():
    series = {"BTC": [("2025-01-01", D("0.98")), ("2025-03-01", D("1.02")), ("2025-06-30", D("1.05"))]}
    wide = dashboard.ratio_history_chart(series)
    narrow = dashboard.ratio_history_chart(series, width=charts.NARROW_WIDTH, height=220, end_labels=False)
    assert 'class="end-label"' in wide and 'class="end-label"' not in narrow
    assert f'viewBox="0 0 {charts.NARROW_WIDTH} 220"' in narrow
    # the first and last dates end inside the drawing
    assert 'text-anchor="start"' in narrow and 'text-anchor="end" fill="#666666">2025-06-30' in narrow


def test_the_store_gives_the_coins(tmp_path):
    """gather() reads the coins per network from the run's stored report."""
    from scanner.service.feed.server import FeedServer

    db = str(tmp_path / "c.db")

    async def main():
        store = await open_store(db)
        try:
            await _write_latest(store)
            return await dashboard.gather(FeedServer(store), "OKX")
        finally:
            await store.close()

    data = run(main())
    got = {(a["asset"], n["network"]): n["coins"] for a in data["assets"] for n in a["networks"]}
    assert got == {(p[0], p[1]): p[2] for p in PLACES}

