"""The feed server (``porscan serve``): the REST API on SQLite and PostgreSQL (pagination, ETag/304,
auth), the OpenAPI document, /metrics through prometheus_client's parser, and the dashboard in
headless Chromium (screenshot kept as docs/dashboard.png; regenerated with PORSCAN_UPDATE_DOCS=1)."""

from __future__ import annotations

import base64
import json
import os
import re
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestClient, TestServer

from scanner.amounts import shown_fraction
from scanner.service.feed.server import FeedConfigError, FeedServer, ROUTES, openapi_document, resolve_token
from scanner.devnet.feed_sample import populate
from scanner.storage import open_store
from support.common import run
from support.feed_world import start_feed

EXCHANGES, DAYS, END = 2, 12, "2025-03-31"
TOKEN = "s3cret-token-for-tests-0123456789"


async def _fill(url: str) -> None:
    store = await open_store(url)
    try:
        await populate(store, EXCHANGES, DAYS, END)
        # an unfinished run (not in "latest") and two alerts, one resolved
        from scanner.storage import RunSpec

        await store.start_run(RunSpec("OKX", "okx-next.csv", "f" * 64, None, None, {}, "test", "2025-04-01"))
        await store.raise_alert("OKX", "proven_ratio_below:BTC", "OKX: BTC proven ratio below 1", {"value": "0.9"})
        await store.raise_alert("OKX", "coverage_below:ETH", "OKX: ETH coverage below 0.99", {})
        await store.resolve_alert("OKX", "coverage_below:ETH")
    finally:
        await store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("feed") / "feed.db")
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"feed_{os.getpid()}")
    run(_fill(url))
    return url


def run_client(url: str, fn, token: str | None = None, refresh: float = 1.0):
    """Run ``await fn(client, store)`` against a FeedServer on ``url`` (in-process test server)."""

    async def main():
        store = await open_store(url)
        try:
            feed = FeedServer(store, token, refresh=refresh)
            async with TestClient(TestServer(feed.app())) as client:
                return await fn(client, store)
        finally:
            await store.close()

    return run(main())


async def _json(client, path, status=200, **kw):
    resp = await client.get(path, **kw)
    assert resp.status == status, (path, resp.status, await resp.text())
    return await resp.json()


def test_api(db_url):
    async def check(client, store):
        ex = await _json(client, "/api/v1/exchanges")
        names = [e["exchange"] for e in ex["exchanges"]]
        assert names == ["Binance", "OKX"]
        okx = next(e for e in ex["exchanges"] if e["exchange"] == "OKX")
        assert okx["runs"] == DAYS + 1 and okx["done_runs"] == DAYS and okx["latest_snapshot_date"] == END

        # runs: pagination with total and next
        first = await _json(client, "/api/v1/runs?exchange=OKX&limit=5")
        assert first["total"] == DAYS + 1 and len(first["runs"]) == 5 and first["offset"] == 0
        assert first["runs"][0]["status"] == "running"  # newest first
        seen = [r["id"] for r in first["runs"]]
        nxt = first["next"]
        while nxt:
            page = await _json(client, nxt)
            seen += [r["id"] for r in page["runs"]]
            nxt = page["next"]
        assert len(seen) == DAYS + 1 == len(set(seen)) and seen == sorted(seen, reverse=True)
        assert (await _json(client, "/api/v1/runs?limit=5&offset=1000"))["runs"] == []
        run = await _json(client, f"/api/v1/runs/{seen[1]}")
        assert run["report"]["schema"] == "porscan.scan/1" and run["exchange"] == "OKX"
        # files by name and hash, never by a path of the scanning machine; no software versions
        assert all("/" not in i["path"] for i in run["report"].get("inputs", []))
        resp = await client.get(f"/api/v1/runs/{seen[1]}")
        assert resp.headers["Server"] == "porscan"

        # latest ratios: exact strings equal to what the store holds
        latest = await _json(client, "/api/v1/exchanges/OKX/ratios/latest")
        assert latest["run"]["snapshot_date"] == END and latest["run"]["status"] == "done"
        stored = {q.asset: q for q in await store.load_ratios(latest["run"]["id"])}
        assert {q["asset"] for q in latest["ratios"]} == set(stored) == {"BTC", "ETH", "USDT", "SOL"}
        for q in latest["ratios"]:
            s = stored[q["asset"]]
            assert isinstance(q["proven_ratio"], str) and Decimal(q["proven_ratio"]) == shown_fraction(s.proven_ratio)
            assert Decimal(q["proven_ratio_exact"]) == s.proven_ratio
            assert Decimal(q["liabilities"]) == s.liabilities and Decimal(q["proven_reserves"]) == s.proven_reserves
            assert q["liabilities_provenance"] in ("zk-published", "self-reported")
            assert q["rows_read"] <= q["rows_expected"] and Decimal(q["coverage"]) <= 1
        sol = next(q for q in latest["ratios"] if q["asset"] == "SOL")
        assert sol["at_snapshot"] is False  # the sample reads solana at latest: said so
        both = await _json(client, "/api/v1/ratios/latest")
        assert [e["exchange"] for e in both["exchanges"]] == ["Binance", "OKX"]
        await _json(client, "/api/v1/exchanges/Nope/ratios/latest", 404)

        # series: one point per date, oldest first; since/until filter
        series = await _json(client, "/api/v1/exchanges/OKX/series/USDT")
        dates = [p["date"] for p in series["points"]]
        assert len(dates) == DAYS and dates == sorted(dates) and dates[-1] == END
        assert series["points"][-1]["proven_ratio"] == next(q for q in latest["ratios"]
                                                            if q["asset"] == "USDT")["proven_ratio"]
        part = await _json(client, "/api/v1/exchanges/OKX/series/USDT?since=2025-03-25&until=2025-03-30")
        assert [p["date"] for p in part["points"]] == [f"2025-03-{d}" for d in range(25, 31)]
        await _json(client, "/api/v1/exchanges/OKX/series/USDT?since=yesterday", 400)

        # per-network breakdown
        nets = await _json(client, f"/api/v1/runs/{latest['run']['id']}/networks")
        usdt = next(a for a in nets["assets"] if a["asset"] == "USDT")
        assert [n["network"] for n in usdt["networks"]] == ["ethereum", "tron", "polygon"]
        assert sum(Decimal(n["onchain"]) for n in usdt["networks"]) == Decimal(usdt["total"]["onchain"])
        only = await _json(client, f"/api/v1/runs/{latest['run']['id']}/networks?asset=BTC")
        assert [a["asset"] for a in only["assets"]] == ["BTC"]
        await _json(client, "/api/v1/runs/999999/networks", 404)

        # failures, paginated
        fails = await _json(client, f"/api/v1/runs/{latest['run']['id']}/failures?limit=2")
        assert fails["total"] == sum(fails["by_stage"].values()) >= 3 and len(fails["failures"]) == 2
        rest = await _json(client, fails["next"])
        assert len(rest["failures"]) == fails["total"] - 2 and rest["next"] is None
        assert {f["stage"] for f in fails["failures"] + rest["failures"]} == {"verify", "balances"}

        # one address across runs: status and exact balance (base units as strings)
        address = fails["failures"][0]["address"]
        hist = await _json(client, f"/api/v1/addresses/{address}?exchange=OKX&limit=5")
        assert len(hist["observations"]) == 5 and hist["next"]
        o = hist["observations"][0]
        assert o["exchange"] == "OKX" and isinstance(o["published_base_units"], str)
        assert o["row_status"] in ("failed", "verified") and o["block"] is None or isinstance(o["block"], dict)

        # alerts
        alerts = await _json(client, "/api/v1/alerts?exchange=OKX")
        assert [a["key"] for a in alerts["alerts"]] == ["coverage_below:ETH", "proven_ratio_below:BTC"]
        open_only = await _json(client, "/api/v1/alerts?open=true")
        assert [a["key"] for a in open_only["alerts"]] == ["proven_ratio_below:BTC"]

        # bad parameters: 400 with a JSON error
        for bad in ("/api/v1/runs?limit=0", "/api/v1/runs?limit=abc", "/api/v1/runs?offset=-1",
                    "/api/v1/runs?limit=100000", "/api/v1/alerts?open=maybe",
                    "/api/v1/runs?offset=99999999999999999999999", "/api/v1/runs?offset=" + "9" * 5000):
            err = await _json(client, bad, 400)
            assert err["error"]["status"] == 400 and err["error"]["message"]
        assert (await _json(client, "/api/v1/nothing", 404))["error"]["status"] == 404
        for missing in ("/api/v1/runs/99999999999999999999999", "/api/v1/runs/0", "/api/v1/runs/9223372036854775808"):
            assert (await _json(client, missing, 404))["error"]["status"] == 404

    run_client(db_url, check)


def test_etag_and_cache(db_url):
    async def check(client, store):
        path = "/api/v1/exchanges/OKX/ratios/latest"
        r1 = await client.get(path)
        body = await r1.read()
        etag = r1.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{40}"', etag)  # strong: no W/
        assert "max-age" in r1.headers["Cache-Control"] and "public" in r1.headers["Cache-Control"]
        r2 = await client.get(path, headers={"If-None-Match": etag})
        assert r2.status == 304 and await r2.read() == b"" and r2.headers["ETag"] == etag
        r3 = await client.get(path, headers={"If-None-Match": '"other", ' + etag})
        assert r3.status == 304
        r4 = await client.get(path, headers={"If-None-Match": '"other"'})
        assert r4.status == 200 and await r4.read() == body
        other = await client.get("/api/v1/exchanges/Binance/ratios/latest")
        assert other.headers["ETag"] != etag
        # a new finished run changes the latest ratios and so the ETag (refresh=0: no staleness)
        from scanner.devnet.feed_sample import write_run
        import random

        new_id = await write_run(store, "OKX", "2025-04-02", random.Random(5),
                                 {a: Decimal("0.95") for a in ("BTC", "ETH", "USDT", "SOL")})
        r5 = await client.get(path, headers={"If-None-Match": etag})
        assert r5.status == 200 and r5.headers["ETag"] != etag
        assert (await r5.json())["run"]["id"] == new_id
        await store.delete_run(new_id)

    run_client(db_url, check, refresh=0)


def test_auth(db_url):
    async def check(client, store):
        r = await client.get("/api/v1/exchanges")
        assert r.status == 401
        assert any(v.startswith("Bearer") for v in r.headers.getall("WWW-Authenticate"))
        assert any(v.startswith("Basic") for v in r.headers.getall("WWW-Authenticate"))
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
        assert (await client.get("/", headers={"Authorization": "Bearer " + TOKEN})).status == 200
        ok = await client.get("/api/v1/exchanges", headers={"Authorization": "Bearer " + TOKEN})
        assert ok.status == 200 and "private" in ok.headers["Cache-Control"]
        basic = base64.b64encode(f"me:{TOKEN}".encode()).decode()
        assert (await client.get("/", headers={"Authorization": "Basic " + basic})).status == 401  # user: "" or porscan
        basic = base64.b64encode(f"porscan:{TOKEN}".encode()).decode()
        assert (await client.get("/", headers={"Authorization": "Basic " + basic})).status == 200
        # the 401 too names the server as porscan, not Python and aiohttp's versions
        assert r.headers["Server"] == "porscan"

    run_client(db_url, check, token=TOKEN)


def test_serve_help_says_which_basic_user_names_work(capsys):
    """The help said "any user name"; user ``x`` got 401 (README and the code: porscan, or none)."""
    from scanner.cli.main import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "any user name" not in text and "HTTP Basic, user name porscan or none, the token as password" in text


@pytest.mark.parametrize("run_id", ["+1", "01", "\uff11", "1_0", " 1", "1 "])
def test_run_ids_are_ascii_digits_only(db_url, run_id):
    """int() took each of these: one run had many URLs, and "1_0" was run 10."""
    from urllib.parse import quote

    async def check(client, store):
        ids = sorted(r.id for r in await store.list_runs(limit=100))
        assert ids[0] == 1 and 10 in ids  # "1_0" would name an existing run
        await _json(client, f"/api/v1/runs/{quote(run_id)}", 404)
        await _json(client, f"/api/v1/runs/{quote(run_id)}/networks", 404)

    run_client(db_url, check)


def test_a_series_whose_since_is_after_until_is_400(db_url):
    """It answered 200 with no points, which reads as "no data"."""
    async def check(client, store):
        body = await _json(client, "/api/v1/exchanges/OKX/series/USDT?since=2025-03-30&until=2025-03-25", 400)
        assert "since (2025-03-30) is after until (2025-03-25)" in body["error"]["message"]
        await _json(client, "/api/v1/exchanges/OKX/series/USDT?since=2025-03-25&until=2025-03-25")

    run_client(db_url, check)


def test_bind_rules(monkeypatch, capsys):
    assert resolve_token("127.0.0.1", None) is None
    assert resolve_token("::1", None) is None and resolve_token("localhost", None) is None
    with pytest.raises(FeedConfigError, match="refusing to listen on 0.0.0.0"):
        resolve_token("0.0.0.0", None)
    monkeypatch.delenv("PORSCAN_T", raising=False)
    with pytest.raises(FeedConfigError, match="PORSCAN_T"):
        resolve_token("0.0.0.0", "PORSCAN_T")
    monkeypatch.setenv("PORSCAN_T", "short")
    with pytest.raises(FeedConfigError, match="shorter than 16"):
        resolve_token("0.0.0.0", "PORSCAN_T")
    monkeypatch.setenv("PORSCAN_T", TOKEN)
    assert resolve_token("0.0.0.0", "PORSCAN_T") == TOKEN
    from scanner.cli.main import main

    assert main(["serve", "--host", "0.0.0.0", "--db", "sqlite:///:memory:"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err and "--token-env" in err


def test_openapi_lists_every_route(db_url):
    async def check(client, store):
        resp = await client.get("/api/v1/openapi.json")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
        doc = json.loads(await resp.text())
        assert doc["openapi"].startswith("3.") and doc["info"]["title"] and doc["paths"]
        registered = {r.resource.canonical for r in client.server.app.router.routes() if r.method == "GET"}
        assert registered == set(doc["paths"]) == {r.path for r in ROUTES}
        for path, item in doc["paths"].items():
            op = item["get"]
            assert op["operationId"] and op["summary"] and "200" in op["responses"]
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
            for ref in re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', json.dumps(op)):
                assert ref[1] in doc["components"][ref[0]]
        return doc

    doc = run_client(db_url, check)
    assert doc == openapi_document()


def test_metrics(db_url):
    from prometheus_client.parser import text_string_to_metric_families

    async def check(client, store):
        resp = await client.get("/metrics")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        latest = await store.latest_ratios("OKX")
        return families, latest, text

    families, (run, ratios), text = run_client(db_url, check)
    for name in ("porscan_reserve_ratio", "porscan_reserves", "porscan_liabilities", "porscan_coverage_ratio",
                 "porscan_snapshot_age_seconds", "porscan_scan_duration_seconds", "porscan_rows",
                 "porscan_provider_errors", "porscan_alerts_open", "porscan_runs", "porscan_latest_run_id"):
        assert name in families, name

    def sample(name, **labels):
        got = [s for s in families[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(got) == 1, (name, labels, got)
        return got[0]

    for q in ratios:
        s = sample("porscan_reserve_ratio", exchange="OKX", asset=q.asset, basis="proven")
        assert s.labels["liabilities_provenance"] == q.provenance
        assert s.value == pytest.approx(float(q.proven_ratio))
        assert sample("porscan_liabilities", exchange="OKX", asset=q.asset).value == pytest.approx(float(q.liabilities))
        assert sample("porscan_coverage_ratio", exchange="OKX", asset=q.asset).value == pytest.approx(float(q.coverage))
        assert sample("porscan_reserves", exchange="OKX", asset=q.asset, basis="proven").value == pytest.approx(
            float(q.proven_reserves))
    assert sample("porscan_latest_run_id", exchange="OKX").value == run.id
    age = sample("porscan_snapshot_age_seconds", exchange="OKX").value
    assert age > 86400  # END is in the past
    assert sample("porscan_alerts_open", exchange="OKX").value == 1
    assert sample("porscan_rows", exchange="OKX", stage="verify", status="failed").value >= 1
    assert sample("porscan_runs", exchange="OKX", status="other").value == 1
    assert all(s.value >= 0 for s in families["porscan_provider_errors"].samples)


# ------------------------------------------------------------------------------------- dashboard

def test_dashboard_in_chromium(tmp_path):
    from support.browser import chromium_or_skip, read_png, run_chromium

    chromium_or_skip()
    db = str(tmp_path / "dash.db")

    async def fill():
        store = await open_store(db)
        try:
            await populate(store, 3, 365, "2025-06-30")
            await store.raise_alert("OKX", "proven_ratio_below:SOL", "OKX: SOL proven reserve ratio 0.88 is below 1.0",
                                    {"value": "0.88"})
            return await store.latest_ratios("OKX")
        finally:
            await store.close()

    stored, ratios = run(fill())
    feed = start_feed(db, tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{feed.port}/?exchange=OKX"
        dom = run_chromium(["--dump-dom", url])
        assert dom.returncode == 0 and "<html" in dom.stdout, dom.stderr[-2000:]
        html = dom.stdout
        png = tmp_path / "dashboard.png"  # docs/ screenshots: tests/service/test_dashboard.py
        shot = run_chromium([f"--screenshot={png}", "--window-size=1280,2200", url])
        assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    finally:
        feed.stop()
    # the figures: every section, one history line per asset, the latest ratios as the report words them
    for section in ("Proven reserve ratio over time", "Latest reserve ratios", "Coverage: balances read",
                    "Per-network breakdown", "Recent alerts"):
        assert section in html, section
    assert html.count('class="line"') >= len(ratios)
    assert 'class="chart ratio-chart"' in html and 'class="chart coverage-chart"' in html
    assert 'class="chart history-chart"' in html and "stacked-chart" in html
    from scanner.report.charts import format_ratio

    for q in ratios:
        assert format_ratio(q.proven_ratio) in html, q.asset
    assert "OKX: SOL proven reserve ratio 0.88 is below 1.0" in html
    assert f"run #{stored.id}" in html
    # the screenshot shows the charts: history line colours, green and red bars, amber coverage
    img = read_png(png)
    assert img.width == 1280
    colours = img.colours(step=2)

    def near(rgb, tol=10):
        return sum(n for c, n in colours.items() if all(abs(a - b) <= tol for a, b in zip(c, rgb)))

    for hexcol in ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#1a9850", "#d73027"):
        rgb = tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
        assert near(rgb) > 40, f"{hexcol} barely on the screenshot"
    white = near((255, 255, 255), 2)
    assert white < 0.9 * sum(colours.values())  # not a blank page


def test_one_rounding_rule_for_what_users_see():
    """A coverage of 9,999,997 / 10,000,000 rows reads 0.999999 in the feed, the scan report and the
    alerts alike (rounded down: it never shows as complete)."""
    from scanner.service.feed import shapes as feed
    from scanner.service.schedule import job as schedule
    from scanner.amounts import coverage, shown_fraction

    assert coverage(9_999_997, 10_000_000) == Decimal("0.999999")
    assert feed.coverage_of(9_999_997, 10_000_000) == "0.999999"
    assert coverage(5, 0) is None and feed.coverage_of(None, 3) is None
    assert shown_fraction(Decimal("1.0102999")) == Decimal("1.010299")
    assert schedule._pct(Decimal("0.9999997")) == "99.9999%"


def test_public_report_names_files_not_paths():
    from scanner.service.feed.shapes import public_report
    from support.reports import scan_report

    report = {"schema": "porscan.scan/1", "inputs": [{"role": "reserves", "path": "/home/a/okx/por.csv", "sha256": "ab"}],
              "liabilities": {"file": "/home/a/okx/sum_proof_data.json", "format": "okx-v2-sum-proof"}}
    shown = public_report(scan_report(report))
    assert shown["inputs"] == [{"role": "reserves", "path": "por.csv", "sha256": "ab"}]
    assert shown["liabilities"]["file"] == "sum_proof_data.json" and report["inputs"][0]["path"].startswith("/")


def _whole_reply(s) -> bytes:
    """Everything the server sends before it closes the connection (its error answers close it)."""
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_requests_are_one_log_line_each(tmp_path):
    """Garbage, an oversized request line and a bad header: 400 each, and one warning line each in
    the log, no traceback."""
    import socket

    db = str(tmp_path / "bad.db")

    async def create():
        store = await open_store(db)
        await store.close()

    run(create())
    feed = start_feed(db, tmp_path / "serve.log")
    port = feed.port
    try:
        bad = (b"GARBAGE \x00\x01 HTTP/9\r\n\r\n", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
               b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        for payload in bad:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(payload)
                reply = _whole_reply(s)
                assert reply.startswith(b"HTTP/1.") and b" 400 " in reply, reply
                # aiohttp's own answer, in the feed's shape: was text/plain, Server: Python/... aiohttp/...
                head, _, body = reply.partition(b"\r\n\r\n")
                assert b"\r\nServer: porscan\r\n" in head and b"aiohttp" not in head, head
                assert b"Content-Type: application/json" in head, head
                assert json.loads(body)["error"]["status"] == 400, body
    finally:
        err = feed.stop()
    assert "Traceback" not in err, err[-2000:]
    # aiohttp logs the oversized line and the bad header (garbage it just answers 400): one line each
    assert err.count("bad request:") == 2, err
    assert all(re.match(r"\d{4}-\d\d-\d\d ", line) for line in err.splitlines() if line.strip()), err
