"""chains.limits: the local limiter keeps one process's rate and concurrency as before, a factory set
process-wide reaches every client built afterwards, and a slot comes back however a request ends."""

from __future__ import annotations

import asyncio
import time

import pytest

from chains.jsonrpc import Endpoint, JsonRpcClient, TransportError
from chains.limits import LimitSpec, LocalLimiter, limiter_for, request_slot, set_limiter_factory


def run(coro):
    return asyncio.run(coro)


def test_local_limiter_holds_concurrency():
    async def go() -> int:
        limiter = LocalLimiter(LimitSpec(key="k", requests_per_second=None, concurrency=2))
        busy = most = 0

        async def one() -> None:
            nonlocal busy, most
            async with request_slot(limiter):
                busy += 1
                most = max(most, busy)
                await asyncio.sleep(0.01)
                busy -= 1

        await asyncio.gather(*(one() for _ in range(10)))
        return most

    assert run(go()) == 2


def test_local_limiter_holds_the_rate():
    async def go() -> float:
        limiter = LocalLimiter(LimitSpec(key="k", requests_per_second=20, concurrency=50))
        started = time.monotonic()
        for _ in range(30):  # 20 from the full bucket, then 10 more at 20/s
            async with request_slot(limiter):
                pass
        return time.monotonic() - started

    assert 0.4 <= run(go()) < 2.0


def test_a_slot_comes_back_when_the_request_fails():
    async def go() -> None:
        limiter = LocalLimiter(LimitSpec(key="k", requests_per_second=None, concurrency=1))
        with pytest.raises(ValueError):
            async with request_slot(limiter):
                raise ValueError("request failed")
        await asyncio.wait_for(limiter.acquire(), 1.0)  # would wait forever on a leaked slot

    run(go())


def test_the_factory_reaches_clients_built_after_it_is_set():
    seen: list[LimitSpec] = []

    class Refusing:
        def __init__(self, spec: LimitSpec):
            seen.append(spec)

        async def acquire(self) -> object:
            raise TransportError("no slot for you")

        async def release(self, slot: object) -> None:  # pragma: no cover (never acquired)
            raise AssertionError

    before = JsonRpcClient(Endpoint("a", "http://127.0.0.1:9/", network="net"))
    set_limiter_factory(Refusing)
    try:
        after = JsonRpcClient(Endpoint("b", "http://127.0.0.1:9/?key=SECRET", network="net", requests_per_second=3,
                                       concurrency=5), attempts=1)
        assert isinstance(before._limiter, LocalLimiter)
        assert seen == [LimitSpec(key="net/b", requests_per_second=3, concurrency=5)]  # no URL in the key

        async def call() -> None:
            try:
                await after.call("x", [])
            finally:
                await after.close()

        with pytest.raises(TransportError, match="no slot"):
            run(call())
    finally:
        set_limiter_factory(None)
    assert isinstance(limiter_for(LimitSpec("k", None, 1)), LocalLimiter)
