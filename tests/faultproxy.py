"""A fault-injecting JSON-RPC proxy in front of a real node (for tests and benchmarks).

At a set rate, a request gets one of: HTTP 429, HTTP 500, a timeout (the proxy sleeps past the
client's timeout), malformed JSON, a batch reply with items missing, or a JSON-RPC rate-limit
error for one item. Everything else is forwarded to the upstream node unchanged.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter

from aiohttp import ClientSession, web

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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()

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
                victim = self.rng.randrange(len(reply))
                if fault == "missing-items":
                    del reply[victim]
                else:
                    reply[victim] = {"jsonrpc": "2.0", "id": reply[victim].get("id"),
                                     "error": {"code": -32005, "message": "rate limit exceeded"}}
                return web.json_response(reply)
            if isinstance(reply, dict) and fault == "rpc-rate-limit":
                return web.json_response({"jsonrpc": "2.0", "id": reply.get("id"),
                                          "error": {"code": -32005, "message": "rate limit exceeded"}})
        return web.Response(body=data, content_type="application/json")

    def start(self) -> "FaultProxy":
        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                self._session = ClientSession()
                app = web.Application(client_max_size=512 * 2**20)
                app.router.add_post("/", self._handle)
                self._runner = web.AppRunner(app, access_log=None)
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                await site.start()
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                self._ready.set()

            loop.run_until_complete(boot())
            loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if not self._loop:
            return

        async def shutdown() -> None:
            await self._session.close()
            if self._runner:
                await self._runner.cleanup()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread:
                self._thread.join(10)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
