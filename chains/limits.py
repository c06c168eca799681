"""Request limits per endpoint, pluggable: this process alone (the default) or a whole fleet.

Every HTTP client (``chains.jsonrpc.JsonRpcClient._exchange_raw``, which the REST clients share) and the
Electrum line client ask a :class:`Limiter` for a request slot before each request and hand it back after:
the slot stands for one token of the endpoint's ``requests_per_second`` and one of its ``concurrency``.

:class:`LocalLimiter` (a token bucket and a semaphore) holds the limits for one process. A fleet of
workers sharing one provider key needs the limits held once for all of them: ``set_limiter_factory`` swaps
the implementation process-wide (``porscan scan --shared-limits`` and ``porscan worker`` install the
PostgreSQL one from ``scanner``), and every client built after the call uses it. The limiter is named by
:attr:`LimitSpec.key` (network id and endpoint label), never by the URL: a URL may carry an API key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Protocol

from .secrets import ConfigError

log = logging.getLogger("porscan.rpc")


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """What one endpoint may be sent: ``key`` names it across processes (network id / label, no URL)."""

    key: str
    requests_per_second: float | None
    concurrency: int


class Limiter(Protocol):
    """One endpoint's limits: ``acquire`` waits for a request token and a concurrency slot and returns
    the slot; ``release`` hands the slot back (once, also after a failed or cancelled request)."""

    async def acquire(self) -> object: ...

    async def release(self, slot: object) -> None: ...


LimiterFactory = Callable[[LimitSpec], Limiter]


class RateLimiter:
    """Token bucket: at most ``rate`` acquisitions per second (bursts up to one second's worth, and
    at least one token: with ``rate < 1`` a bucket capped at ``rate`` would never hold a whole one).
    ``None`` means no limit; a rate that is not positive is a configuration error."""

    def __init__(self, rate: float | None):
        if rate is not None and not rate > 0:  # also NaN
            raise ConfigError(f"requests_per_second must be > 0, got {rate!r}")
        self.rate = rate
        self._capacity = max(1.0, rate or 0.0)
        self._tokens = self._capacity
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.rate:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


class LocalLimiter:
    """The limits held by this process alone: a token bucket, then a semaphore of ``concurrency``."""

    def __init__(self, spec: LimitSpec):
        self.spec = spec
        self.rate = RateLimiter(spec.requests_per_second)
        self._sem = asyncio.Semaphore(max(1, spec.concurrency))

    async def acquire(self) -> object:
        await self.rate.acquire()
        await self._sem.acquire()
        return None

    async def release(self, slot: object) -> None:
        self._sem.release()


_factory: LimiterFactory = LocalLimiter


def set_limiter_factory(factory: LimiterFactory | None) -> None:
    """Limiters for clients built from now on come from ``factory`` (``None``: back to :class:`LocalLimiter`)."""
    global _factory
    _factory = factory or LocalLimiter


def limiter_for(spec: LimitSpec) -> Limiter:
    return _factory(spec)


@asynccontextmanager
async def request_slot(limiter: Limiter) -> AsyncIterator[None]:
    """One request's slot, handed back however the request ends. A release that fails is logged, not
    raised: it would hide the request's own outcome, and a fleet slot's lease runs out by itself."""
    slot = await limiter.acquire()
    try:
        yield
    finally:
        try:
            await limiter.release(slot)
        except Exception as exc:  # noqa: BLE001 (see the docstring)
            log.warning("request slot not handed back: %s", type(exc).__name__)
