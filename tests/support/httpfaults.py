"""Fault injection for the FAKE plain-HTTP API stand-ins (Koios/Blockfrost, aelf, Antelope/Hyperion).

At ``rate``, a request (any method, any path, or only ``paths``) gets one of: HTTP 429, HTTP 500, a reply
later than the client's timeout, or its real reply spoiled (JSON cut in half; a plain-text reply with an
HTML fragment appended, as a gateway's error page would).
"""

from __future__ import annotations

from aiohttp import web

from scanner.devnet.fake_tron_solana import Faults
from support.faultproxy import http_fault_reply

HTTP_FAULTS = ("http429", "http500", "timeout", "malformed")


def HttpFaults(rate: float = 0.0, *, kinds: tuple[str, ...] = HTTP_FAULTS, **kw) -> Faults:  # noqa: N802
    """The TRON stand-in's fault picker (rate, kinds, seed, timeout_sleep, paths; ``injected`` counts) with
    the faults that make sense for any HTTP API."""
    return Faults(rate, kinds=kinds, **kw)


def fault_middleware(get_faults):
    """An aiohttp middleware applying ``get_faults()`` (read per request, so a test can change it)."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        faults = get_faults()
        kind = faults.pick(request.path)
        canned = await http_fault_reply(kind, faults.timeout_sleep, "Internal Server Error")
        if canned is not None:
            return canned
        resp = await handler(request)
        if kind == "malformed" and isinstance(resp, web.Response) and resp.body is not None:
            body = bytes(resp.body)
            spoiled = body[: max(1, len(body) // 2)] if body[:1] in (b"{", b"[", b'"') else body + b"<html>"
            return web.Response(status=resp.status, body=spoiled, content_type=resp.content_type)
        return resp

    return middleware
