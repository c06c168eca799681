"""An asyncio event loop in a daemon thread, for test servers that must run beside synchronous code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


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

    def stop(self, shutdown: Callable[[], Awaitable[None]] | None = None, timeout: float = 10) -> None:
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
