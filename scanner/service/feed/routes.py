"""The feed's routes (one table: path, handler, cache age, parameters) and their query parameters,
checked and bounded (a bad one is a 400 naming it), and the OpenAPI document built from the table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ... import __version__
from ...errors import ConfigError


API = "/api/v1"
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
CACHE_ENTRIES = 2048
LIVE_MAX_AGE = 15  # seconds: figures that change when a new run lands
RUN_MAX_AGE = 300  # seconds: figures of one finished run (they do not change)


class FeedConfigError(ConfigError):
    """The server cannot start as asked (e.g. a public address without a token)."""


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# ------------------------------------------------------------------------------------- query params

MAX_INT_PARAM = 2**63 - 1  # what the databases hold: beyond it a query would fail, not answer


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int | None = None) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    hi = MAX_INT_PARAM if hi is None else hi
    try:
        if len(text) > 30:  # int() of a huge digit string is slow, and no bound here is that long
            raise ValueError
        value = int(text)
    except ValueError:
        raise HTTPProblem(400, f"query parameter {name} must be an integer, got {text[:40]!r}") from None
    if value < lo or value > hi:
        raise HTTPProblem(400, f"query parameter {name} must be between {lo} and {hi}, got {value}")
    return value


def _page(request: web.Request) -> tuple[int, int]:
    return (_int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT), _int_param(request, "offset", 0, 0))


def _date_param(request: web.Request, name: str) -> str | None:
    text = request.query.get(name)
    if not text:
        return None
    try:
        if date.fromisoformat(text).isoformat() == text:
            return text
    except ValueError:
        pass
    raise HTTPProblem(400, f"query parameter {name} must be a YYYY-MM-DD date, got {text[:40]!r}")


def _date_range(request: web.Request) -> tuple[str | None, str | None]:
    """``since`` and ``until``; since after until is a 400 (it answered 200 with no points: "no data")."""
    since, until = _date_param(request, "since"), _date_param(request, "until")
    if since is not None and until is not None and since > until:
        raise HTTPProblem(400, f"query parameter since ({since}) is after until ({until})")
    return since, until


def _bool_param(request: web.Request, name: str) -> bool:
    text = (request.query.get(name) or "").lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise HTTPProblem(400, f"query parameter {name} must be true or false, got {text[:40]!r}")


def _next_link(request: web.Request, limit: int, offset: int, total: int | None, got: int) -> str | None:
    more = (offset + limit < total) if total is not None else got == limit
    if not more:
        return None
    params = dict(request.query)
    params.update(limit=str(limit), offset=str(offset + limit))
    return f"{request.path}?{urlencode(params)}"


def _run_id(request: web.Request) -> int:
    text = request.match_info["run_id"]
    # ASCII digits only, no leading zero: int() also took "+1", "01", a full-width "１" and "1_0"
    # (run 10), so one run had many URLs and a typo could name another run
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 and text[0] != "0" else -1
    if not 0 < value <= MAX_INT_PARAM:  # beyond what the database holds: no such run, not a 500
        raise HTTPProblem(404, f"no run {text[:40]!r}")
    return value


# ------------------------------------------------------------------------------------- routes

@dataclass(frozen=True)
class Route:
    path: str
    handler: str  # method name of FeedServer
    summary: str
    params: tuple[tuple[str, str, str, str], ...] = ()  # (name, in, type, description)
    max_age: int = LIVE_MAX_AGE
    content: str = "application/json"
    paginated: bool = False


PAGE_PARAMS = (("limit", "query", "integer", f"items per page, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})"),
               ("offset", "query", "integer", "items to skip (default 0)"))
EXCHANGE = ("exchange", "path", "string", "exchange name as tagged on its runs")
RUN_ID = ("run_id", "path", "integer", "run id")

ROUTES: tuple[Route, ...] = (
    Route("/", "dashboard", "Dashboard page: ratio over time per asset, latest ratios, coverage, per-network "
          "breakdown, recent alerts (HTML, no scripts)",
          (("exchange", "query", "string", "exchange to show (default: the first)"),), content="text/html"),
    Route(f"{API}/exchanges", "exchanges", "Exchanges with stored runs"),
    Route(f"{API}/runs", "runs", "Runs, newest first (paginated)",
          (("exchange", "query", "string", "only this exchange's runs"),) + PAGE_PARAMS, paginated=True),
    Route(f"{API}/runs/{{run_id}}", "run", "One run with its full porscan.scan/1 report", (RUN_ID,),
          max_age=RUN_MAX_AGE),
    Route(f"{API}/runs/{{run_id}}/networks", "networks", "A run's per-asset totals and per-network breakdown",
          (RUN_ID, ("asset", "query", "string", "only this asset")), max_age=RUN_MAX_AGE),
    Route(f"{API}/runs/{{run_id}}/failures", "failures", "A run's failed rows, by line (paginated)",
          (RUN_ID,) + PAGE_PARAMS, max_age=RUN_MAX_AGE, paginated=True),
    Route(f"{API}/ratios/latest", "all_latest", "Latest per-asset reserve ratios of every exchange"),
    Route(f"{API}/exchanges/{{exchange}}/ratios/latest", "latest", "Latest per-asset reserve ratios of one "
          "exchange, with liabilities provenance and coverage", (EXCHANGE,)),
    Route(f"{API}/exchanges/{{exchange}}/series/{{asset}}", "series", "A reserve ratio over time: one point per "
          "snapshot date (the newest finished run of that date)",
          (EXCHANGE, ("asset", "path", "string", "asset, e.g. USDT"),
           ("since", "query", "string", "first date, YYYY-MM-DD"), ("until", "query", "string", "last date, YYYY-MM-DD"))),
    Route(f"{API}/addresses/{{address}}", "address", "One address across runs: row status and balance",
          (("address", "path", "string", "address as published"),
           ("exchange", "query", "string", "only this exchange's runs")) + PAGE_PARAMS, paginated=True),
    Route(f"{API}/alerts", "alerts", "Alerts, newest first (paginated)",
          (("exchange", "query", "string", "only this exchange"), ("open", "query", "boolean", "only open alerts"))
          + PAGE_PARAMS, paginated=True),
    Route(f"{API}/openapi.json", "openapi", "This OpenAPI 3 document", max_age=RUN_MAX_AGE),
    Route("/metrics", "metrics", "Prometheus metrics (text exposition format 0.0.4)",
          content="text/plain; version=0.0.4"),
)


def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    for r in ROUTES:
        params = [{"name": n, "in": where, "required": where == "path", "description": desc,
                   "schema": {"type": kind}} for n, where, kind, desc in r.params]
        responses: dict[str, Any] = {
            "200": {"description": "OK", "content": {r.content.split(";")[0]: {"schema": {"type": "object"}
                                                                                if r.content == "application/json"
                                                                                else {"type": "string"}}},
                    "headers": {"ETag": {"schema": {"type": "string"}},
                                "Cache-Control": {"schema": {"type": "string"}}}},
            "304": {"description": "Not modified (If-None-Match matched the ETag)"},
            "400": {"$ref": "#/components/responses/Problem"},
            "401": {"$ref": "#/components/responses/Problem"},
            "404": {"$ref": "#/components/responses/Problem"},
        }
        if r.path == "/metrics":
            responses.pop("304")
            responses["200"].pop("headers")
        op = {"operationId": r.handler, "summary": r.summary, "parameters": params, "responses": responses}
        if r.paginated:
            op["description"] = ("Paginated with limit and offset; the response gives limit, offset, total (when "
                                 "known) and next (the next page's path and query, or null).")
        paths[r.path] = {"get": op}
    return {
        "openapi": "3.0.3",
        "info": {"title": "porscan feed", "version": __version__,
                 "description": "Read-only proof-of-reserves figures from porscan's run store. Amounts are exact "
                                "decimal strings (coin units), base units are integer strings; ratios are decimal "
                                "strings."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "basic": {"type": "http", "scheme": "basic"}},
            "responses": {"Problem": {"description": "Error", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error": {"type": "object", "properties": {
                    "status": {"type": "integer"}, "message": {"type": "string"}}}}}}}}},
        },
        "security": [{}, {"bearer": []}, {"basic": []}],
    }
