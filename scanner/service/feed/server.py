"""The feed server (``porscan serve --db URL``): a read-only REST JSON API, Prometheus metrics and a
dashboard page over the run store, in one aiohttp process.

Routes (``ROUTES`` in routes.py is the single list: it registers the handlers and writes the OpenAPI
document, so the two cannot drift apart):

* ``/api/v1/...``: exchanges; runs (paginated) and one run; latest per-asset ratios (one exchange or
  all) with provenance and coverage; a ratio's time series per asset; a run's per-network breakdown;
  one address across runs; a run's failures (paginated); alerts; ``/api/v1/openapi.json``.
* ``/metrics``: Prometheus text format (reserve ratios, reserves, liabilities with provenance labels,
  coverage, snapshot age, scan durations, rows by status, provider errors, open alerts).
* ``/``: the dashboard (``scanner.service.feed.dashboard``): inline SVG and CSS, no script, no build step.

Amounts are exact decimal strings (base units too: they outgrow a double), in /metrics as well.

Caching: every response body is cached in memory under the store's ``feed_state()`` fingerprint (the
newest run id, finished runs, alerts), checked at most once per ``refresh`` seconds; a new or
finished run or a changed alert empties the cache. JSON and HTML responses carry a strong ETag
(content hash) and answer ``If-None-Match`` with 304, and a Cache-Control header.

Connections: timeouts for request heads and bodies, keep-alive limits and a cap on open connections
(``ConnectionLimits``, ``serve(..., limits=...)``) are in ``scanner.service.feed.connections``.

Binding: 127.0.0.1 by default. On any non-loopback address a bearer token is required (read from an
environment variable named with ``--token-env``); the server refuses to start without one. With a
token, every route needs ``Authorization: Bearer TOKEN`` (or HTTP Basic with the token as password,
so a browser can open the dashboard).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ... import __version__
from ...amounts import shown_fraction
from ..schedule.job import parse_ts as _ts
from .connections import MAX_FIELD_SIZE, MAX_LINE_SIZE, ConnectionGuard, ConnectionLimits, json_errors, problem
from .metrics import Metrics as _Metrics, prometheus_label as _esc, prometheus_number as _num
from .routes import (CACHE_ENTRIES, FeedConfigError, HTTPProblem, ROUTES, Route, _bool_param, _date_range,
                     _next_link, _page, _run_id, openapi_document)
from .shapes import (_duration, alert_json, dumps, failure_json, observation_json, ratio_json,
                     run_json, total_json)

log = logging.getLogger("porscan.feed")


# ------------------------------------------------------------------------------------- server

@dataclass
class Cached:
    body: bytes
    etag: str | None
    content_type: str
    status: int = 200


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class FeedServer:
    """The aiohttp application around one open Store."""

    def __init__(self, store, token: str | None = None, refresh: float = 1.0, cache_entries: int = CACHE_ENTRIES):
        self.store = store
        self.token = token or None
        self.refresh = refresh
        self.cache_entries = cache_entries
        self._cache: OrderedDict[tuple, Cached] = OrderedDict()
        self._state: tuple | None = None
        self._state_at = float("-inf")
        self._lock = asyncio.Lock()
        self._openapi_body = dumps(openapi_document())
        self._basic = (None if self.token is None else
                       {base64.b64encode(f"{u}:{self.token}".encode()).decode() for u in ("", "porscan")})

    # ---- app -------------------------------------------------------------------------------

    def app(self, outer: Sequence[Any] = ()) -> web.Application:
        """The application; ``outer`` middlewares (serve()'s connection guard) run around the feed's own."""
        app = web.Application(middlewares=[*outer, self._middleware])
        for r in ROUTES:
            app.router.add_get(r.path, self._wrap(r))
        return app

    def invalidate(self) -> None:
        """Forget cached responses now (e.g. right after the in-process schedule stored a run)."""
        self._state_at = float("-inf")

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        resp = await self._answer(request, handler)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers["Server"] = "porscan"  # every answer, a 401 too: no Python and aiohttp versions to fingerprint
        return resp

    async def _answer(self, request: web.Request, handler) -> web.StreamResponse:
        if self.token is not None and not self._authorized(request.headers.get("Authorization", "")):
            resp = problem(401, "authorization required: send Authorization: Bearer TOKEN")
            resp.headers.add("WWW-Authenticate", 'Bearer realm="porscan"')
            resp.headers.add("WWW-Authenticate", 'Basic realm="porscan", charset="UTF-8"')
            return resp
        try:
            resp = await handler(request)
        except HTTPProblem as exc:
            resp = problem(exc.status, exc.message)
        except web.HTTPException as exc:
            if exc.status >= 400:
                resp = problem(exc.status, exc.reason)
            else:
                raise
        except Exception:  # noqa: BLE001 - a store error must not leak a trace (or a password)
            log.exception("%s %s failed", request.method, request.path)
            resp = problem(500, "internal error (see the server log)")
        return resp

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if self.token is None:  # callers ask only when a token is configured; without one nothing matches
            return False
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.encode(), self.token.encode())
        if scheme.lower() == "basic":
            return any(hmac.compare_digest(value.encode(), b.encode()) for b in self._basic or ())
        return False

    # ---- caching ---------------------------------------------------------------------------

    async def state(self) -> tuple | None:
        if time.monotonic() - self._state_at < self.refresh:
            return self._state
        async with self._lock:
            if time.monotonic() - self._state_at >= self.refresh:
                state = await self.store.feed_state()
                if state != self._state:
                    self._cache.clear()
                    self._state = state
                self._state_at = time.monotonic()
        return self._state

    def _wrap(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        # /metrics is answered by _metrics_response; every other route by its _<handler> builder
        build: Callable[[web.Request], Awaitable[Any]] | None = getattr(self, "_" + route.handler, None)
        private = self.token is not None
        cache_control = f"{'private' if private else 'public'}, max-age={route.max_age}"

        async def handle(request: web.Request) -> web.StreamResponse:
            if route.handler == "metrics":
                return await self._metrics_response()
            state = await self.state()
            key = (state, request.path_qs)
            entry = self._cache.get(key)
            if entry is None:
                assert build is not None, route.handler  # the route table and the builders are kept in step
                result = await build(request)
                if isinstance(result, (bytes, str)):
                    body = result.encode() if isinstance(result, str) else result
                else:
                    body = dumps(result)
                entry = Cached(body, '"' + hashlib.sha256(body).hexdigest()[:40] + '"', route.content)
                if state == self._state:  # not superseded while building
                    self._cache[key] = entry
                    if len(self._cache) > self.cache_entries:
                        self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            etag = entry.etag
            assert etag is not None  # entries built here always carry one (only /metrics has none)
            headers = {"ETag": etag, "Cache-Control": cache_control}
            if route.content == "text/html":
                headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                                      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
                headers["Referrer-Policy"] = "no-referrer"
            if _etag_matches(request.headers.get("If-None-Match"), etag):
                return web.Response(status=304, headers=headers)
            return web.Response(body=entry.body, headers={**headers, "Content-Type": _ctype(entry.content_type)})

        return handle

    # ---- API handlers ----------------------------------------------------------------------

    async def _exchanges(self, request):
        return {"exchanges": [{"exchange": e.exchange, "runs": e.runs, "done_runs": e.done_runs,
                               "latest_run_id": e.latest_run_id, "latest_done_run_id": e.latest_done_run_id,
                               "latest_snapshot_date": e.latest_snapshot_date} for e in await self.store.exchanges()]}

    async def _runs(self, request):
        limit, offset = _page(request)
        exchange = request.query.get("exchange") or None
        runs = await self.store.list_runs(exchange, limit, offset)
        total = await self.store.count_runs(exchange)
        return {"runs": [run_json(r) for r in runs], "total": total, "limit": limit, "offset": offset,
                "next": _next_link(request, limit, offset, total, len(runs))}

    async def _get_run(self, run_id: int):
        from ...storage import StoreError

        try:
            return await self.store.get_run(run_id)
        except StoreError:
            raise HTTPProblem(404, f"no run {run_id}") from None

    async def _run(self, request):
        return run_json(await self._get_run(_run_id(request)), full=True)

    async def _networks(self, request):
        run = await self._get_run(_run_id(request))
        asset = request.query.get("asset") or None
        totals = await self.store.load_totals(run.id, asset=asset)
        assets: dict[str, dict] = {}
        for t in totals:
            entry = assets.setdefault(t.asset, {"asset": t.asset, "total": None, "networks": []})
            if t.network == "*":
                entry["total"] = total_json(t)
            else:
                entry["networks"].append(total_json(t))
        if asset is not None and not assets:
            raise HTTPProblem(404, f"run {run.id} has no asset {asset!r}")
        return {"run": run_json(run), "assets": list(assets.values())}

    async def _failures(self, request):
        run = await self._get_run(_run_id(request))
        limit, offset = _page(request)
        by_stage = await self.store.count_failures(run.id)
        total = sum(by_stage.values())
        items = await self.store.failures(run.id, limit, offset)
        return {"run_id": run.id, "total": total, "by_stage": by_stage, "limit": limit, "offset": offset,
                "next": _next_link(request, limit, offset, total, len(items)),
                "failures": [failure_json(f) for f in items]}

    async def latest_for(self, exchange: str) -> dict | None:
        got = await self.store.latest_ratios(exchange)
        if got is None:
            return None
        run, ratios = got
        totals = {t.asset: t for t in await self.store.load_totals(run.id, network="*")}
        return {"exchange": exchange, "run": run_json(run),
                "ratios": [ratio_json(q, totals.get(q.asset)) for q in ratios]}

    async def _latest(self, request):
        exchange = request.match_info["exchange"]
        out = await self.latest_for(exchange)
        if out is None:
            raise HTTPProblem(404, f"no finished run of exchange {exchange!r}")
        return out

    async def _all_latest(self, request):
        out = []
        for e in await self.store.exchanges():
            item = await self.latest_for(e.exchange)
            if item is not None:
                out.append(item)
        return {"exchanges": out}

    async def _series(self, request):
        exchange, asset = request.match_info["exchange"], request.match_info["asset"]
        since, until = _date_range(request)
        points = await self.store.ratio_series(exchange, asset, since, until)
        return {"exchange": exchange, "asset": asset, "since": since, "until": until,
                "points": [{"date": p.snapshot_date, "run_id": p.run_id, "finished_at": p.finished_at,
                            **{k: v for k, v in ratio_json(p.ratio).items()
                               if k not in ("asset", "rows_read", "rows_expected", "at_snapshot")}}
                           for p in points]}

    async def _address(self, request):
        address = request.match_info["address"]
        limit, offset = _page(request)
        items = await self.store.address_history(address, request.query.get("exchange") or None, limit, offset)
        return {"address": address, "limit": limit, "offset": offset,
                "next": _next_link(request, limit, offset, None, len(items)),
                "observations": [observation_json(o) for o in items]}

    async def _alerts(self, request):
        limit, offset = _page(request)
        items = await self.store.list_alerts(request.query.get("exchange") or None, _bool_param(request, "open"),
                                             limit, offset)
        return {"limit": limit, "offset": offset, "next": _next_link(request, limit, offset, None, len(items)),
                "alerts": [alert_json(a) for a in items]}

    async def _openapi(self, request):
        return self._openapi_body

    async def _dashboard(self, request):
        from .dashboard import gather, render_dashboard

        return render_dashboard(await gather(self, request.query.get("exchange") or None))

    # ---- /metrics --------------------------------------------------------------------------

    async def _metrics_response(self) -> web.Response:
        state = await self.state()
        key = (state, "/metrics")
        entry = self._cache.get(key)
        if entry is None:
            text, ages = await self._metrics_base()
            entry = Cached(text.encode(), None, "text/plain; version=0.0.4")
            entry.ages = ages  # type: ignore[attr-defined]
            if state == self._state:
                self._cache[key] = entry
        now = time.time()
        tail = ["# HELP porscan_snapshot_age_seconds Seconds since the snapshot date (UTC midnight) of the "
                "latest finished run", "# TYPE porscan_snapshot_age_seconds gauge"]
        for exchange, snap in entry.ages:  # type: ignore[attr-defined]
            if snap is not None:
                tail.append(f'porscan_snapshot_age_seconds{{exchange="{_esc(exchange)}"}} {_num(now - snap)}')
        body = entry.body + ("\n".join(tail) + "\n").encode()
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8",
                                                "Cache-Control": "no-store"})

    async def _metrics_base(self) -> tuple[str, list[tuple[str, float | None]]]:
        m = _Metrics()
        ages: list[tuple[str, float | None]] = []
        for e in await self.store.exchanges():
            ex = {"exchange": e.exchange}
            m.add("porscan_runs", "Stored runs", {**ex, "status": "done"}, e.done_runs)
            m.add("porscan_runs", "Stored runs", {**ex, "status": "other"}, e.runs - e.done_runs)
            open_alerts = await self.store.list_alerts(e.exchange, open_only=True, limit=10_000)
            m.add("porscan_alerts_open", "Open alerts", ex, len(open_alerts))
            got = await self.store.latest_ratios(e.exchange)
            if got is None:
                ages.append((e.exchange, None))
                continue
            run, ratios = got
            snap = _ts(run.snapshot_date + "T00:00:00+00:00") if run.snapshot_date else None  # else unknown, not the scan's age
            ages.append((e.exchange, snap))
            m.add("porscan_latest_run_id", "Id of the latest finished run", ex, run.id)
            if _ts(run.finished_at) is not None:
                m.add("porscan_last_scan_finished_timestamp_seconds", "When the latest finished run finished (Unix)",
                      ex, _ts(run.finished_at))
            if _duration(run) is not None:
                m.add("porscan_scan_duration_seconds", "Wall time of the latest finished run", ex, _duration(run))
            summary = run.summary or {}
            for stage, secs in ((summary.get("run") or {}).get("stage_seconds") or {}).items():
                m.add("porscan_scan_stage_seconds", "Wall time per stage of the latest finished run",
                      {**ex, "stage": stage}, secs)
            for stage in ("verification", "balances"):
                for status, n in ((summary.get(stage) or {}).get("by_status") or {}).items():
                    m.add("porscan_rows", "Rows of the latest finished run by stage and status",
                          {**ex, "stage": "verify" if stage == "verification" else stage, "status": status}, n)
            totals = {t.asset: t for t in await self.store.load_totals(run.id, network="*")}
            for q in ratios:
                a = {**ex, "asset": q.asset}
                prov = q.provenance or "none"
                for basis, value in (("proven", q.proven_ratio), ("with_unproven", q.with_unproven_ratio)):  # as shown
                    m.add("porscan_reserve_ratio", "Reserves / liabilities of the latest finished run",
                          {**a, "basis": basis, "liabilities_provenance": prov}, shown_fraction(value))
                for basis, value in (("proven", q.proven_reserves), ("with_unproven", q.with_unproven_reserves)):
                    m.add("porscan_reserves", "On-chain reserves in coin units, by what ownership proof backs them",
                          {**a, "basis": basis}, value)
                m.add("porscan_liabilities", "Liabilities in coin units, by provenance", {**a, "provenance": prov},
                      q.liabilities)
                m.add("porscan_coverage_ratio", "Rows read / rows expected", a, q.coverage)
                t = totals.get(q.asset)
                if t is not None:
                    f = t.figures()  # as the report shows them: blank (no sample: unknown) when nothing was read
                    for basis, value in (("onchain", f.onchain), ("published", f.published), ("owner_only", f.owner_only),
                                         ("key_only", f.key_only), ("unverified", f.unverified),
                                         ("unread_published", f.unread_published)):
                        m.add("porscan_reserves", "On-chain reserves in coin units, by what ownership proof backs "
                              "them", {**a, "basis": basis}, value)
                    m.add("porscan_rows_expected", "Rows whose balance should be read", a, t.rows_expected)
                    m.add("porscan_rows_read", "Rows whose balance was read", a, t.rows_read)
                    at_latest = any(b.get("at_snapshot") is False for b in t.blocks or [])
                    m.add("porscan_read_at_latest", "1 when some balance was read at the latest block, not at the "
                          "snapshot", a, 1 if at_latest else 0)
            errors = await self.store.unread_by_endpoint(run.id)
            per_network = dict.fromkeys(sorted({t.network for t in await self.store.load_totals(run.id)} - {"*"}), 0)
            for network, endpoint, n in errors:
                per_network[network] = per_network.get(network, 0) + n
            for network, n in per_network.items():
                m.add("porscan_provider_errors", "Balance reads that failed (unread rows) in the latest finished run, "
                      "per network", {**ex, "network": network}, n)
            for network, endpoint, n in errors:
                m.add("porscan_provider_errors_by_endpoint", "Balance reads that failed in the latest finished run, "
                      "per network and endpoint label", {**ex, "network": network, "endpoint": endpoint or "none"}, n)
        m.add("porscan_feed_info", "Feed server build", {"version": __version__, "backend": self.store.backend}, 1)
        return m.text(), ages


class _OneLineBadRequests(logging.Filter):
    """aiohttp logs a malformed request (garbage, an oversized line, a bad header) as an error with
    its whole traceback: a scanner's noise fills the log. One warning line says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            what = exc.message or type(exc).__name__
            record.msg, record.args = "bad request: %s (%s)", (" ".join(str(what).split())[:200], type(exc).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_BAD_REQUESTS = _OneLineBadRequests()


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == etag for t in header.split(","))


def _ctype(content: str) -> str:
    return f"{content}; charset=utf-8" if "charset" not in content else content


# ------------------------------------------------------------------------------------- running

def resolve_token(host: str, token_env: str | None) -> str | None:
    """The bearer token from ``$token_env``; FeedConfigError when a non-loopback bind has none."""
    import os

    token = None
    if token_env:
        token = os.environ.get(token_env) or None
        if token is None:
            raise FeedConfigError(f"--token-env {token_env}: the environment variable is not set or empty")
        if len(token) < 16:
            raise FeedConfigError(f"--token-env {token_env}: the token is shorter than 16 characters")
    if not is_loopback(host) and token is None:
        raise FeedConfigError(f"refusing to listen on {host} (not a loopback address) without a token: set one with "
                              "--token-env VAR, or bind 127.0.0.1 and put a proxy in front")
    return token


async def serve(db: str | None, host: str = "127.0.0.1", port: int = 8080, token: str | None = None,
                schedule=None, interval: float | None = None, ready: Callable[[int], None] | None = None,
                stop: asyncio.Event | None = None, limits: ConnectionLimits | None = None) -> None:
    """Run the feed server (and, with ``schedule``, the scheduled job in the same process) until cancelled
    or ``stop`` is set. ``limits``: timeouts and the connection cap (module docstring)."""
    from ...storage import open_store

    if not is_loopback(host) and not token:
        raise FeedConfigError(f"refusing to listen on {host} without a token")
    limits = limits or ConnectionLimits()
    logging.getLogger("aiohttp.server").addFilter(_BAD_REQUESTS)  # the same filter object: added once
    # the feed only reads; with the scheduled job in the same process it also writes its runs
    store = await open_store(db, max_connections=8, create=schedule is not None)
    feed = FeedServer(store, token)
    guard = ConnectionGuard(limits, limits.connection_cap())
    # aiohttp's own knobs back the guard up: its keep-alive timer, and lingering_time bounds how long
    # it drains a body no handler read
    runner = web.AppRunner(feed.app(outer=[guard.middleware]), access_log=None, handle_signals=False,
                           keepalive_timeout=limits.keepalive_timeout, lingering_time=limits.body_timeout,
                           max_line_size=MAX_LINE_SIZE, max_field_size=MAX_FIELD_SIZE)
    await runner.setup()
    assert runner.server is not None  # set by setup()
    guard.bind(json_errors(runner.server))
    loop = asyncio.get_running_loop()
    previous_handler = guard.accept_errors(loop)
    task = None
    listener: asyncio.Server | None = None
    try:
        # not web.TCPSite: the guard sits between the listening socket and aiohttp's protocol
        listener = await loop.create_server(guard.protocol, host, port, backlog=limits.backlog(), reuse_address=True)
        bound = listener.sockets[0].getsockname()[1] if listener.sockets else port
        log.info("porscan feed on http://%s:%d/ (database %s%s; at most %d connections)",
                 host if ":" not in host else f"[{host}]", bound, store.url, ", token required" if token else "",
                 guard.cap)
        if ready is not None:
            ready(bound)
        if schedule is not None:
            from ..schedule.job import schedule_loop

            task = asyncio.create_task(schedule_loop(schedule, interval, on_pass=lambda _r: feed.invalidate(),
                                                     stop=stop))
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if listener is not None:
            listener.close()
        guard.close_waiting()
        await runner.cleanup()
        loop.set_exception_handler(previous_handler)
        await store.close()
