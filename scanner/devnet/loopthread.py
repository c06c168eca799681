"""An asyncio event loop in a daemon thread, for local servers (the FAKE stand-ins, test servers)
that must run beside synchronous code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web


class LoopThread:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, boot: Callable[[], Awaitable[None]], timeout: float = 10) -> None:
        """Run ``boot()`` on a new loop in a thread (e.g. start a server), then keep the loop running."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(timeout)
        if errors:
            raise errors[0]

    def stop(self, shutdown: Callable[[], Coroutine[Any, Any, None]] | None = None, timeout: float = 10) -> None:
        if not self.loop:
            return
        try:
            if shutdown is not None:
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread:
                self._thread.join(timeout)
            self.loop = None


async def start_local_site(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on 127.0.0.1 at a free port, on the running loop: (its runner, the port)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


class ServedApp:
    """An aiohttp application on 127.0.0.1:<free port>, its event loop running in a daemon thread
    (``with ServedApp(app) as srv: srv.url``). Per-loop resources belong in the app's on_startup /
    on_cleanup signals."""

    def __init__(self, app: web.Application):
        self.app = app
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._lt = LoopThread()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServedApp":
        async def boot() -> None:
            self._runner, self.port = await start_local_site(self.app)

        self._lt.start(boot)
        return self

    def stop(self) -> None:
        runner, self._runner = self._runner, None
        self._lt.stop(runner.cleanup if runner else None)

    def __enter__(self) -> "ServedApp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
