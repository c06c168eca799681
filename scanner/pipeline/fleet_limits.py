"""Endpoint limits held for a whole fleet of porscan processes, in PostgreSQL.

``chains.limits`` asks a limiter for a slot before every request; :class:`FleetLimits` is the factory
that makes those limiters share one PostgreSQL database, so ten workers reading through one provider key
send at most the endpoint's ``requests_per_second`` and ``concurrency`` between them, not ten times that.

* Rate: a token bucket row per endpoint key (network id / label, never the URL), refilled by the
  database's own clock in the one ``UPDATE ... RETURNING`` that takes tokens: no clock skew between
  machines. A process takes as many tokens as it has requests waiting (up to a quarter of the bucket),
  so a batch of thousands of requests pays about one round trip per few requests, not one each; tokens
  it took and did not use within a second are dropped, never saved up for a burst.
* Concurrency: ``concurrency`` slot rows per key, each taken with a lease that the holder renews while
  it lives; a process that dies (SIGKILL, a lost machine) stops renewing and its slots come back when
  the lease runs out. A slot freed while another request of the same process waits goes to that
  request without a round trip (also one coming within ``_LINGER``), at most ``_HANDOVERS`` times
  before it goes back to the fleet.

The tables are created here (``CREATE TABLE IF NOT EXISTS``): they hold no history, only the state of
the limits, and a fleet may share them across store databases' versions.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, TypeVar

import asyncpg

from chains.jsonrpc import TransportError
from chains.limits import LimitSpec, Limiter, set_limiter_factory
from chains.secrets import ConfigError, scrub, userinfo_secrets

from ..errors import UsageError
from ..storage.model import redact_url

log = logging.getLogger("porscan.limits")
T = TypeVar("T")

_DDL_LOCK = 0x706F726C  # pg_advisory_xact_lock key: one process creates the tables
_DDL = """
CREATE TABLE IF NOT EXISTS porscan_limit_buckets (
    key text PRIMARY KEY,
    rate double precision NOT NULL,
    capacity double precision NOT NULL,
    tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS porscan_limit_slots (
    key text NOT NULL,
    slot integer NOT NULL,
    holder text,
    expires_at timestamptz,
    PRIMARY KEY (key, slot)
);
"""
_BUCKET = """
INSERT INTO porscan_limit_buckets (key, rate, capacity, tokens, updated_at)
VALUES ($1, $2, $3, $3, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET rate = excluded.rate, capacity = excluded.capacity
"""
_SLOTS = """
INSERT INTO porscan_limit_slots (key, slot) SELECT $1, s FROM generate_series(0, $2 - 1) AS s
ON CONFLICT DO NOTHING
"""
# refill by elapsed time, take up to $2 whole tokens, in one statement under the row's lock
_TAKE = """
WITH cur AS (
    SELECT key, rate, t, least(capacity, tokens + greatest(0, extract(epoch FROM t - updated_at)) * rate) AS avail
    FROM porscan_limit_buckets, (SELECT clock_timestamp() AS t) AS now WHERE key = $1 FOR UPDATE
), taken AS (SELECT key, rate, t, avail, least($2::integer, floor(avail)::integer) AS n FROM cur)
UPDATE porscan_limit_buckets b SET tokens = taken.avail - taken.n, updated_at = taken.t
FROM taken WHERE b.key = taken.key
RETURNING taken.n, taken.avail - taken.n AS left_over, taken.rate
"""
_ACQUIRE = """
UPDATE porscan_limit_slots SET holder = $2, expires_at = clock_timestamp() + make_interval(secs => $3)
WHERE (key, slot) = (
    SELECT key, slot FROM porscan_limit_slots
    WHERE key = $1 AND slot < $4 AND (holder IS NULL OR expires_at < clock_timestamp())
    ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING slot
"""
_RELEASE = "UPDATE porscan_limit_slots SET holder = NULL, expires_at = NULL WHERE key = $1 AND slot = $2 AND holder = $3"
_RENEW = "UPDATE porscan_limit_slots SET expires_at = clock_timestamp() + make_interval(secs => $2) WHERE holder = $1"

_HANDOVERS = 32  # a slot passed between one process's requests this many times goes back to the fleet
_LINGER = 0.1  # seconds a freed slot waits for this process's next request before it goes back
_TOKEN_TTL = 1.0  # seconds a taken token may wait for its request before it is dropped


@dataclass(slots=True)
class _Slot:
    number: int
    handovers: int = 0
    idle_since: float = 0.0  # monotonic time it was last freed


@dataclass(slots=True)
class _Loop:
    """Per event loop: asyncpg connections belong to the loop that made them."""

    pool: asyncpg.Pool
    renew: asyncio.Task[None] | None = None
    held: dict[tuple[str, int], None] = field(default_factory=dict)


class FleetLimits:
    """Limiter factory for ``chains.limits.set_limiter_factory``: every process of a fleet builds one
    with the same database and the same ``lease`` (seconds a dead process keeps its slots)."""

    def __init__(self, dsn: str, *, lease: float = 30.0, poll: float = 0.02):
        if not dsn.startswith(("postgres://", "postgresql://")):
            raise UsageError("shared limits need a PostgreSQL database (postgresql://...)")
        self.dsn = dsn
        self.url = redact_url(dsn)
        self._secrets = userinfo_secrets(dsn)
        self.lease = lease
        self.poll = poll
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._loops: dict[asyncio.AbstractEventLoop, _Loop] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def __call__(self, spec: LimitSpec) -> Limiter:
        return FleetLimiter(self, spec)

    def _fail(self, exc: BaseException) -> TransportError:
        return TransportError(f"fleet limits at {self.url}: {scrub(f'{type(exc).__name__}: {exc}', self._secrets)}")

    async def loop_state(self) -> _Loop:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is not None:
            return state
        async with self._locks.setdefault(loop, asyncio.Lock()):
            state = self._loops.get(loop)
            if state is None:
                try:
                    pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4, timeout=15.0)
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
                        await conn.execute(_DDL)
                except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    raise self._fail(exc) from None
                state = self._loops[loop] = _Loop(pool)
                state.renew = loop.create_task(self._renew(state))
        return state

    async def _renew(self, state: _Loop) -> None:
        """Extend the leases of the slots this process holds while it lives."""
        while True:
            await asyncio.sleep(self.lease / 3)
            if not state.held:
                continue
            try:
                await state.pool.execute(_RENEW, self.holder, self.lease)
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("%s", self._fail(exc))

    async def aclose(self) -> None:
        """Hand back what this process holds on the running loop and close its connections."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is None:
            return
        if state.renew is not None:
            state.renew.cancel()
        try:
            if state.held:
                await state.pool.execute("UPDATE porscan_limit_slots SET holder = NULL, expires_at = NULL "
                                         "WHERE holder = $1", self.holder)
        finally:
            await state.pool.close()


class FleetLimiter:
    """One endpoint's share of the fleet's limits (see the module docstring)."""

    def __init__(self, fleet: FleetLimits, spec: LimitSpec):
        if spec.requests_per_second is not None and not spec.requests_per_second > 0:  # also NaN
            raise ConfigError(f"requests_per_second must be > 0, got {spec.requests_per_second!r}")
        self.fleet = fleet
        self.spec = spec
        self.concurrency = max(1, spec.concurrency)
        self._capacity = max(1.0, spec.requests_per_second or 0.0)
        self._ready: asyncio.AbstractEventLoop | None = None  # the loop its locks and queue belong to
        self._tokens: list[float] = []  # monotonic times the tokens in hand were taken
        self._token_lock: asyncio.Lock | None = None
        self._poller: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._token_waiters = 0
        self._next_ask = 0.0  # monotonic time before which the bucket is known to be dry
        self._free: asyncio.Queue[_Slot] | None = None
        self._slot_waiters = 0
        self._setup: asyncio.Task[None] | None = None

    async def _state(self) -> _Loop:
        state = await self.fleet.loop_state()
        loop = asyncio.get_running_loop()
        if self._ready is not loop:  # first use on this loop: its locks, and the rows, made once
            self._ready = loop
            self._tokens, self._token_waiters, self._slot_waiters = [], 0, 0
            self._token_lock, self._free, self._poller, self._sweeper = asyncio.Lock(), asyncio.Queue(), None, None
            self._setup = loop.create_task(self._rows(state))
        try:
            assert self._setup is not None
            await asyncio.shield(self._setup)  # one waiter cancelled does not cancel the others' setup
        except TransportError:
            self._ready = None
            raise
        return state

    async def _rows(self, state: _Loop, ddl: bool = False) -> None:
        try:
            if ddl:  # the tables were dropped under a running fleet
                async with state.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
                    await conn.execute(_DDL)
            if self.spec.requests_per_second:
                await state.pool.execute(_BUCKET, self.spec.key, self.spec.requests_per_second, self._capacity)
            await state.pool.execute(_SLOTS, self.spec.key, self.concurrency)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self.fleet._fail(exc) from None

    async def acquire(self) -> object:
        state = await self._state()
        if self.spec.requests_per_second:
            await self._token(state)
        return await self._slot(state)

    async def _token(self, state: _Loop) -> None:
        assert self._token_lock is not None
        self._token_waiters += 1
        try:
            async with self._token_lock:
                while True:
                    now = time.monotonic()
                    self._tokens = [t for t in self._tokens if now - t < _TOKEN_TTL]
                    if self._tokens:
                        self._tokens.pop()
                        return
                    if now < self._next_ask:
                        await asyncio.sleep(self._next_ask - now)
                        continue
                    want = max(1, min(self._token_waiters, math.floor(self._capacity / 4)))
                    try:
                        row = await state.pool.fetchrow(_TAKE, self.spec.key, want)
                    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                        raise self.fleet._fail(exc) from None
                    if row is None:  # the bucket row went away (tables dropped): make it again
                        await self._rows(state, ddl=True)
                        continue
                    if row["n"] < want:  # the bucket is dry: ask again once a block (1/20 s of rate) is back
                        block = max(1, min(want, math.floor(row["rate"] / 20)))
                        self._next_ask = time.monotonic() + max(0.001, (block - row["left_over"]) / row["rate"])
                    if row["n"]:
                        self._tokens.extend([time.monotonic()] * (row["n"] - 1))
                        return
        finally:
            self._token_waiters -= 1

    async def _slot(self, state: _Loop) -> _Slot:
        """A slot handed over by a request of this process, or one the poller took from the fleet: one
        poller per endpoint and process asks the database, however many requests wait."""
        assert self._free is not None
        self._slot_waiters += 1
        try:
            while True:
                try:
                    return self._free.get_nowait()
                except asyncio.QueueEmpty:
                    pass
                poller = self._poller
                if poller is not None and poller.done():
                    self._poller = None
                    failure = None if poller.cancelled() else poller.exception()
                    if failure is not None:
                        raise failure  # the database failed the poller (a TransportError)
                if self._poller is None:
                    self._poller = asyncio.get_running_loop().create_task(self._poll(state))
                try:
                    return await asyncio.wait_for(self._free.get(), 0.25)
                except asyncio.TimeoutError:
                    continue  # look at the poller again
        finally:
            self._slot_waiters -= 1
            # nobody waits: a slot handed over meanwhile goes back after the linger (the poller is
            # never cancelled: a slot taken by a cancelled query would stay held, and renewed)
            if not self._slot_waiters and not self._free.empty():
                self._sweep_soon(state)

    async def _poll(self, state: _Loop) -> None:
        """Take fleet slots while this process has more waiting requests than free slots in hand."""
        assert self._free is not None
        delay = self.fleet.poll
        while self._slot_waiters > self._free.qsize():
            try:
                number = await state.pool.fetchval(_ACQUIRE, self.spec.key, self.fleet.holder, self.fleet.lease,
                                                   self.concurrency)
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise self.fleet._fail(exc) from None
            if number is None:  # all the fleet's slots are busy
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            delay = self.fleet.poll
            slot = _Slot(number)
            state.held[(self.spec.key, number)] = None
            if self._slot_waiters > self._free.qsize():
                self._park(state, slot)
            else:  # the requests that waited got slots handed over meanwhile
                await self._give_back(state, slot)

    async def release(self, slot: object) -> None:
        """The slot goes to the next request of this process (waiting, or coming within ``_LINGER``), at
        most ``_HANDOVERS`` times; then, or when no request came, back to the fleet."""
        assert isinstance(slot, _Slot) and self._free is not None
        state = await self.fleet.loop_state()
        if slot.handovers < _HANDOVERS:
            slot.handovers += 1
            self._park(state, slot)
            return
        await self._give_back(state, slot)

    def _park(self, state: _Loop, slot: _Slot) -> None:
        assert self._free is not None
        slot.idle_since = time.monotonic()
        self._free.put_nowait(slot)
        if not self._slot_waiters:
            self._sweep_soon(state)

    def _sweep_soon(self, state: _Loop) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(state))

    async def _sweep(self, state: _Loop) -> None:
        """Give back the slots that no request of this process took within ``_LINGER``."""
        assert self._free is not None
        while not self._free.empty():
            await asyncio.sleep(_LINGER)
            if self.fleet._loops.get(asyncio.get_running_loop()) is not state:
                return  # closed (aclose gave back every slot of this process)
            expired: list[_Slot] = []
            if not self._slot_waiters:
                now, kept = time.monotonic(), list[_Slot]()
                for _ in range(self._free.qsize()):
                    slot = self._free.get_nowait()
                    (expired if now - slot.idle_since >= _LINGER * 0.9 else kept).append(slot)
                for slot in kept:
                    self._free.put_nowait(slot)
            for slot in expired:
                try:
                    await self._give_back(state, slot)
                except TransportError as exc:  # its lease runs out: it is no longer renewed
                    log.warning("%s", exc)

    async def _give_back(self, state: _Loop, slot: _Slot) -> None:
        state.held.pop((self.spec.key, slot.number), None)
        try:
            await state.pool.execute(_RELEASE, self.spec.key, slot.number, self.fleet.holder)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self.fleet._fail(exc) from None


def install(db: str, *, lease: float = 30.0) -> FleetLimits:
    """Every endpoint client built from now on in this process shares its limits with the fleet through
    ``db`` (a PostgreSQL URL; anything else is a UsageError). ``porscan scan --shared-limits`` and
    ``porscan worker`` call this once before they build adapters, and ``await fleet.aclose()`` on the
    loop that ran them when done."""
    fleet = FleetLimits(db, lease=lease)
    set_limiter_factory(fleet)
    return fleet


async def run_limited(job: Awaitable[T], db: str | None) -> T:
    """``await job`` with every endpoint's limits shared with the fleet through ``db`` (a PostgreSQL URL),
    or this process's own limits when ``db`` is None; the factory is put back and the connections closed
    after. ``porscan worker`` runs its loop in this: ``run_async(run_limited(run_worker(...), db))``."""
    if db is None:
        return await job
    fleet = install(db)
    try:
        return await job
    finally:
        set_limiter_factory(None)
        await fleet.aclose()
