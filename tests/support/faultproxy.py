"""A fault-injecting JSON-RPC proxy in front of a real node (for tests and benchmarks).

At a set rate, a request gets one of: HTTP 429, HTTP 500, a timeout (the proxy sleeps past the
client's timeout), malformed JSON, a batch reply with items missing, or a JSON-RPC rate-limit
error for one item. Everything else is forwarded to the upstream node unchanged.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

from aiohttp import ClientSession, web

from scanner.devnet.loopthread import ServedApp

FAULTS = ("http429", "http500", "timeout", "malformed", "missing-items", "rpc-rate-limit")


async def http_fault_reply(fault: str | None, timeout_sleep: float, error_text: str) -> web.Response | None:
    """The HTTP-level faults every stand-in shares: 429, 500, and a reply that comes too late (the
    client times out first). None for other faults (the caller corrupts the real answer instead)."""
    if fault == "http429":
        return web.Response(status=429, text="Too Many Requests")
    if fault == "http500":
        return web.Response(status=500, text=error_text)
    if fault == "timeout":
        await asyncio.sleep(timeout_sleep)
        return web.Response(status=504, text="late")
    return None


RATE_LIMITED = {"code": -32005, "message": "rate limit exceeded"}


def spoil_one_item(reply: list, rng: random.Random, drop: bool, error: dict) -> None:
    """A batch reply's faults: one item, chosen by ``rng``, removed (``drop``) or replaced by ``error``."""
    k = rng.randrange(len(reply))
    if drop:
        del reply[k]
    else:
        reply[k] = {"jsonrpc": "2.0", "id": reply[k].get("id"), "error": error}


class FaultProxy:
    def __init__(self, upstream: str, rate: float, seed: int = 1, faults=FAULTS, timeout_sleep: float = 3.0,
                 min_items: int = 0):
        self.upstream = upstream
        self.rate = rate
        self.rng = random.Random(seed)
        self.faults = tuple(faults)
        self.timeout_sleep = timeout_sleep
        self.min_items = min_items  # only requests with at least this many JSON-RPC calls get faults
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self.port: int | None = None
        self._server: ServedApp | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        items = body.count(b'"jsonrpc"') if self.min_items else 0
        eligible = items >= self.min_items
        fault = self.rng.choice(self.faults) if eligible and self.rng.random() < self.rate else None
        if fault:
            self.injected[fault] += 1
        canned = await http_fault_reply(fault, self.timeout_sleep, "upstream exploded")
        if canned is not None:
            return canned
        async with self._session.post(self.upstream, data=body, headers={"content-type": "application/json"}) as up:
            data = await up.read()
        self.forwarded += 1
        if fault == "malformed":
            return web.Response(body=data[: max(1, len(data) // 2)], content_type="application/json")
        if fault in ("missing-items", "rpc-rate-limit"):
            try:
                reply = json.loads(data)
            except ValueError:
                reply = None
            if isinstance(reply, list) and reply:
                spoil_one_item(reply, self.rng, fault == "missing-items", RATE_LIMITED)
                return web.json_response(reply)
            if isinstance(reply, dict) and fault == "rpc-rate-limit":
                return web.json_response({"jsonrpc": "2.0", "id": reply.get("id"), "error": RATE_LIMITED})
        return web.Response(body=data, content_type="application/json")

    def start(self) -> "FaultProxy":
        async def open_session(app: web.Application) -> None:
            self._session = ClientSession()

        async def close_session(app: web.Application) -> None:
            await self._session.close()

        app = web.Application(client_max_size=512 * 2**20)
        app.router.add_post("/", self._handle)
        app.on_startup.append(open_session)
        app.on_cleanup.append(close_session)
        self._server = ServedApp(app).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
