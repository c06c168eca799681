"""How the feed, /metrics and the dashboard show an asset of which nothing, or only part, was read
(stored runs from tests/support/unread_runs.py): unknown is never shown as zero."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestClient, TestServer

from scanner.amounts import fmt, shown_fraction
from scanner.service.feed.server import FeedServer
from scanner.storage import open_store
from support.common import run
from support.unread_runs import EXCHANGE, store_runs

LATEST = "/api/v1/exchanges/Sample%20Exchange/ratios/latest"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("unread") / "runs.db")
    run(store_runs(url))
    return url


def _get(url: str, *paths: str) -> list:
    async def main():
        store = await open_store(url)
        try:
            async with TestClient(TestServer(FeedServer(store, None).app())) as client:
                out = []
                for path in paths:
                    resp = await client.get(path)
                    assert resp.status == 200, (path, resp.status)
                    out.append(await resp.json() if "/api/" in path else await resp.text())
                return out
        finally:
            await store.close()

    return run(main())


def _by_asset(latest: dict) -> dict:
    return {q["asset"]: q for q in latest["ratios"]}


def test_an_unread_asset_has_blank_reserves_in_the_feed(db):
    latest, series = _get(db, LATEST, "/api/v1/exchanges/Sample%20Exchange/series/TRX")
    trx = _by_asset(latest)["TRX"]
    assert trx["proven_reserves"] is None and trx["with_unproven_reserves"] is None
    assert (trx["rows_read"], trx["rows_expected"]) == (0, 4) and trx["liabilities"] == "1697.3123742"
    first, last = series["points"]
    assert first["proven_reserves"] == "1885.902638"  # read that day
    assert last["proven_reserves"] is None and last["with_unproven_reserves"] is None
    assert _by_asset(latest)["USDT"]["proven_reserves"] == "1860.22578"  # partly read: what was read


def test_metrics_leave_out_what_was_not_read(db):
    (text,) = _get(db, "/metrics")
    trx = [line for line in text.splitlines() if line.startswith("porscan_reserves{") and 'asset="TRX"' in line]
    bases = {line.split('basis="')[1].split('"')[0] for line in trx}
    # no sample is Prometheus' "unknown": the published figures stay, the on-chain ones go
    assert bases == {"published", "unread_published"}, trx
    assert f'porscan_reserves{{exchange="{EXCHANGE}",asset="USDT",basis="proven"}}' in text


def test_the_dashboard_shows_an_unread_asset_as_a_dash(db):
    (page,) = _get(db, "/?exchange=Sample%20Exchange")
    row = page.split('<td data-label="Asset"><b>TRX</b></td>')[1].split("</tr>")[0]
    cells = dict(re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row))
    assert cells["Proven reserves"] == cells["With unproven reserves"] == "\u2014", cells


def test_the_networks_endpoint_differences_are_over_the_rows_read(db):
    (got,) = _get(db, "/api/v1/runs/2/networks?asset=USDT")
    (usdt,) = got["assets"]
    by_network = {n["network"]: n for n in usdt["networks"]}
    assert by_network["tron"]["difference"] is None and by_network["ethereum"]["difference"] == "0"
    assert usdt["total"]["difference"] == "0"  # not -4879.44417: tron's rows were not read


def _sample(text: str, name: str, **labels: str) -> str:
    """The value text of the one sample of ``name`` with ``labels``."""
    got = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + "{")
           and all(f'{k}="{v}"' in line for k, v in labels.items())]
    assert len(got) == 1, (name, labels, got)
    return got[0]


def test_a_ratio_has_one_shown_form_in_feed_series_metrics_and_dashboard(db):
    latest, series, text, page = _get(db, LATEST, "/api/v1/exchanges/Sample%20Exchange/series/ETH", "/metrics",
                                      "/?exchange=Sample%20Exchange")
    eth = _by_asset(latest)["ETH"]
    exact = Decimal(eth["proven_ratio_exact"])
    shown = fmt(shown_fraction(exact))  # the report's "proven_ratio"
    assert len(eth["proven_ratio_exact"]) > 20 and eth["proven_ratio"] == shown == "1.010254"
    assert series["points"][-1]["proven_ratio"] == shown
    assert _sample(text, "porscan_reserve_ratio", asset="ETH", basis="proven") == shown
    tooltip = re.search(r'title="ratio ([0-9.]+)"', page.split('<b>ETH</b>')[1])
    assert tooltip and tooltip.group(1) == shown
    assert eth["proven_ratio_exact"] not in page  # no 34-digit form anywhere on the page


def test_metrics_write_amounts_exactly_as_the_report(db):
    latest, text = _get(db, LATEST, "/metrics")
    eth = _by_asset(latest)["ETH"]
    assert _sample(text, "porscan_reserves", asset="ETH", basis="proven") == eth["proven_reserves"] \
        == "12525.947995944981146826"  # a float would say 12525.947995944982
    assert _sample(text, "porscan_liabilities", asset="ETH") == eth["liabilities"]
    assert _sample(text, "porscan_coverage_ratio", asset="USDT") == _by_asset(latest)["USDT"]["coverage"]


def test_the_assets_card_counts_assets_with_liabilities(db):
    (page,) = _get(db, "/?exchange=Sample%20Exchange")
    # TRX has a liabilities figure and no ratio (nothing read): it counts
    assert re.search(r'>Assets</div><div class="big">3</div><div class="small">3 with liabilities<', page), \
        re.findall(r'>Assets</div>.{0,80}', page)


def test_the_below_card_names_an_asset_without_a_ratio(db):
    """TRX has liabilities and nothing read: the card counted only the ratios there were, so an asset
    of unknown ratio read as one at or above 100%. It is named now."""
    (page,) = _get(db, "/?exchange=Sample%20Exchange")
    card = re.search(r'>Proven ratio below 100%</div><div class="big">([^<]*)</div><div class="small">([^<]*)<', page)
    assert card, re.findall(r'>Proven ratio below 100%</div>.{0,120}', page)
    assert card.group(1) == "1" and card.group(2) == "USDT; no ratio: TRX not read", card.groups()


def test_the_below_card_of_a_run_without_ratios_is_absent_not_zero():
    """A run with no liabilities: "0" and "none" below 100% (as if every asset were covered) came
    from no ratio at all; the figure is absent and says why, in every output that shows it."""
    from scanner.report.charts import MISSING, below_card

    assert below_card([], [], 0) == (MISSING, "no ratio: no liabilities")
    assert below_card([], ["BTC", "USDT"], 0) == (MISSING, "no ratio: BTC, USDT not read")
    assert below_card([], [], 2) == ("0", "none")
    assert below_card(["ETH *"], ["BTC"], 2) == ("1", "ETH *; no ratio: BTC not read")


def test_a_run_without_a_snapshot_date_has_no_snapshot_age(tmp_path):
    """A scan given no snapshot date: /metrics gave the age of the scan as its snapshot age (an old
    snapshot looked minutes old to an alert on staleness). Now there is no sample (unknown)."""
    from scanner.report_model import AssetReport, RunHeader, ScanReport
    from scanner.storage import RunSpec
    from support.unread_runs import latest_totals

    url = str(tmp_path / "runs.db")

    async def store_one():
        s = await open_store(url)
        try:
            r = await s.start_run(RunSpec(exchange="Undated", input_path="reserves.csv", input_sha256="a" * 64,
                                          liabilities_path=None, liabilities_sha256=None, params={},
                                          tool_version="test", snapshot_date=None))
            assets = tuple(AssetReport(asset=t.asset, figures=t.figures()) for t in latest_totals() if t.network == "*")
            report = ScanReport(tool_version="test", run=RunHeader(id=r.id, exchange="Undated", status="done",
                                                                   started_at=r.started_at, snapshot_date=None),
                                inputs=(), rows=44, by_status={}, balance_status={}, assets=assets)
            await s.finish_run(r.id, "done", report.to_json())
        finally:
            await s.close()

    run(store_one())
    (text,) = _get(url, "/metrics")
    assert 'porscan_last_scan_finished_timestamp_seconds{exchange="Undated"}' in text
    assert "porscan_snapshot_age_seconds{" not in text, [x for x in text.splitlines() if "snapshot_age" in x]


def test_the_ratio_history_marks_partial_points_and_labels_the_latest_date(db):
    (page,) = _get(db, "/?exchange=Sample%20Exchange")
    wide = page.split('class="chart-wide"><svg')[1].split("</svg>")[0]
    labels = re.findall(r'class="end-label"[^>]*>([^<]*)<', wide)
    # TRX had a ratio on 2026-01-01 only: not shown as if it were the latest run's
    assert "TRX no ratio 2026-01-04" in labels and not any(x.startswith("TRX 1") for x in labels), labels
    assert "USDT 22.08% *" in labels, labels
    usdt = wide.split('data-asset="USDT"')[1].split("</g>")[0]
    # the latest point is partial: drawn once, hollow (a filled "last" dot over it hid the hollow one)
    (dot,) = re.findall(r'<circle class="[^"]*"[^>]*><title>USDT 2026-01-04: 22.08% \* \(from incomplete reads\)', usdt)
    assert 'class="last partial"' in dot and 'fill="#fff"' in dot
    assert len(re.findall(r"<title>USDT 2026-01-04", usdt)) == 1
    caption = page.split('id="history"')[1].split("</p>")[0]
    assert "none of the asset's rows read" in caption and "Hollow points (*)" in caption


def test_a_damaged_stored_run_leaves_the_feed_serving_the_others(db, tmp_path):
    """A run whose stored summary is not JSON made /, /metrics, /api/v1/runs and the latest ratios
    answer 500, and that run's own page 404 ('no run'), though it exists."""
    import shutil
    import sqlite3

    copy = tmp_path / "runs.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as c:
        (last,) = c.execute("SELECT max(id) FROM runs").fetchone()
        c.execute("UPDATE runs SET summary = '{not json' WHERE id = ?", (last,))
    runs, one, _latest, _metrics, page = _get(str(copy), "/api/v1/runs", f"/api/v1/runs/{last}", LATEST, "/metrics", "/")
    listed = {r["id"]: r for r in runs["runs"]} if isinstance(runs, dict) else {r["id"]: r for r in runs}
    assert listed[last]["damaged"] and len(listed) > 1 and all("damaged" not in r for i, r in listed.items() if i != last)
    assert one["id"] == last and one["damaged"] and one["verification"] is None
    assert str(copy) not in one["damaged"]  # the store's path is the server's business
    assert "Sample Exchange" in page


def test_the_dashboard_reads_a_stored_report_of_wrong_shapes_without_failing():
    """A summary whose "networks" was a number made the dashboard answer 500 (TypeError)."""
    from scanner.service.feed.dashboard import _coins_by_place

    assert _coins_by_place({"assets": [{"asset": "ETH", "networks": 5}, 7, {"asset": "BTC", "networks": [
        {"network": "bitcoin", "coins": ["BTC"]}, "x"]}]}) == {("BTC", "bitcoin"): ["BTC"]}
