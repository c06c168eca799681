"""How the feed, /metrics and the dashboard show an asset of which nothing, or only part, was read
(stored runs from tests/support/unread_runs.py): unknown is never shown as zero."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

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
