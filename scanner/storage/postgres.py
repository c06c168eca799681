"""PostgreSQL backend through an asyncpg pool.

Chunks go in with ``copy_records_to_table`` straight into the final tables, after the checkpoint
row, in one transaction, through a pool of writers whose connections encode numeric amounts with
porscan's own encoder (storage/pgnumeric.py); every other statement keeps asyncpg's codecs. Amounts
are ``numeric(78,0)`` (base units) and ``numeric`` (coin units); JSON is jsonb; times are
timestamptz, returned as ISO 8601 UTC text.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import itertools
import json
import re
from datetime import date
from typing import AsyncIterator, Sequence

import asyncpg

from ..records import BalanceRecord, RowRecord
from .migrations import BALANCE_COLUMNS, POSTGRES, VERIFICATION_COLUMNS, pending, tracking_table
from .pgnumeric import decode_numeric, encode_numeric
from .base import Store, checked_units, iso_utc
from chains.secrets import scrub, userinfo_secrets

from .model import StoreError, canonical_json, redact_url

_MIGRATION_LOCK = 0x706F7273  # pg_advisory_xact_lock key: one migrator at a time
# What the driver raises for a database or connection fault. InternalClientError is not an
# InterfaceError: a connection broken mid-operation (the server restarted, pg_terminate_backend) can
# surface as one, and escaped as a traceback with exit code 1 instead of one line and 2.
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError, OSError)


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``?`` placeholders -> ``$1, $2, ...``."""
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=canonical_json, decoder=json.loads, schema="pg_catalog")


# A chunk's row is its record behind the run id: the records' fields are the tables' columns, in order
assert VERIFICATION_COLUMNS == ("run_id", *RowRecord._fields)
assert BALANCE_COLUMNS == ("run_id", *BalanceRecord._fields)


_LAST_UNITS: tuple[int, bytes] = (0, encode_numeric(0))  # the last amount encoded, and its encoding


def _encode_units(v: int) -> bytes:
    """The writers' numeric encoder. Every numeric column a chunk is copied into holds base units,
    checked as Store._in_units checks them.

    A balance's on-chain amount comes right after its published one and nearly always equals it: the
    last value's encoding is kept (one tuple, swapped whole) and given again for an equal int,
    ~0.1 us against ~0.8 us to encode."""
    global _LAST_UNITS
    last = _LAST_UNITS
    if v.__class__ is int and v == last[0]:
        return last[1]
    units = checked_units(v)
    assert units is not None  # asyncpg sends None as NULL without calling an encoder
    encoded = encode_numeric(units)
    _LAST_UNITS = (units, encoded)
    return encoded


async def _init_writer(conn: asyncpg.Connection) -> None:
    await _init_connection(conn)
    await conn.set_type_codec("numeric", encoder=_encode_units, decoder=decode_numeric, schema="pg_catalog",
                              format="binary")


class PostgresStore(Store):
    backend = "postgresql"
    _run_date_sql = "coalesce(snapshot_date, (started_at AT TIME ZONE 'UTC')::date)"

    def __init__(self, url: str) -> None:
        self.url = redact_url(url)
        self._secrets = userinfo_secrets(url)  # the password in every form an error could echo
        self._pool: asyncpg.Pool | None = None
        self._writers: asyncpg.Pool | None = None  # chunk saves (COPY); connected on the first save
        self._claims = contextlib.AsyncExitStack()  # the holds of the runs claimed (claim_run)
        self._dsn = url
        # the connection of an open ``transaction()`` in this task: the store's own statements join it
        self._pinned: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
            f"porscan_pg_{id(self)}", default=None)

    @classmethod
    async def open(cls, url: str, upto_version: int | None = None, max_connections: int = 4,
                   timeout: float = 15.0) -> "PostgresStore":
        store = cls(url)
        try:
            store._pool = await asyncpg.create_pool(url, min_size=1, max_size=max_connections, timeout=timeout,
                                                    init=_init_connection)
            store._writers = asyncpg.create_pool(url, min_size=0, max_size=max_connections, timeout=timeout,
                                                 init=_init_writer)
            await store._writers
        except (*DB_ERRORS, asyncio.TimeoutError, ValueError) as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store {store.url}: {store._scrub(exc)}") from None
        try:
            await store._migrate(upto_version)
        except BaseException:
            await store.close()
            raise
        return store

    def _scrub(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return scrub(text, self._secrets)

    def _error(self, exc: Exception) -> StoreError:
        return StoreError(f"{self.url}: {self._scrub(exc)}")

    async def _migrate(self, upto_version: int | None) -> None:
        try:
            async with self._acquire() as c, c.transaction():
                await c.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                await c.execute(tracking_table("timestamptz"))
                applied = [r[0] for r in await c.fetch("SELECT version FROM schema_migrations")]
                for m in pending(POSTGRES, applied, upto_version, self.url):
                    await c.execute(m.sql)
                    await c.execute("INSERT INTO schema_migrations VALUES ($1, $2, now())", m.version, m.name)
        except DB_ERRORS as exc:
            raise self._error(exc) from None

    async def schema_version(self) -> int:
        rows = await self._fetch("SELECT max(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        """A session-level advisory lock keyed by the name's hash, on a connection of its own outside
        the pools (a pooled connection is reset when returned, and a hold as long as a scan would take
        a place in the pool): the server drops it when that session ends (the holder died or lost its
        connection)."""
        if self._pool is None:
            raise StoreError(f"{self.url} is closed")
        try:
            c = await asyncpg.connect(self._dsn, timeout=15)
        except (*DB_ERRORS, asyncio.TimeoutError) as exc:
            raise self._error(exc) from None
        try:
            try:
                got = bool(await c.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                                            f"porscan hold: {name}"))
            except DB_ERRORS as exc:
                raise self._error(exc) from None
            yield got
        finally:
            try:  # the session's end drops its lock
                await asyncio.wait_for(c.close(), 10)
            except (*DB_ERRORS, asyncio.TimeoutError):
                c.terminate()

    def _acquire(self, pool: asyncpg.Pool | None = None):
        if self._pool is None:
            raise StoreError(f"{self.url} is closed")
        return (pool or self._pool).acquire()

    async def _fetch(self, sql: str, *args) -> list[Sequence]:
        try:
            pinned = self._pinned.get()
            if pinned is not None:
                return await pinned.fetch(numbered(sql), *args)
            async with self._acquire() as c:
                return await c.fetch(numbered(sql), *args)
        except DB_ERRORS as exc:
            raise self._error(exc) from None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction for the store's run statements made inside it by this task, and its
        connection for statements of the caller's own (a job queue's enqueue commits with the run
        row, or neither does). Chunk saves keep their own transactions. The caller may reset the
        connection's type codecs for a library that encodes JSON itself: the store's are set again after."""
        try:
            async with self._acquire() as c:
                try:
                    async with c.transaction():
                        token = self._pinned.set(c)
                        try:
                            yield c
                        finally:
                            self._pinned.reset(token)
                finally:
                    await _init_connection(c)
        except DB_ERRORS as exc:
            raise self._error(exc) from None

    async def _transaction(self, steps: Sequence[tuple[str, Sequence[tuple]]]) -> None:
        try:
            async with self._acquire() as c, c.transaction():
                for sql, arg_list in steps:
                    if arg_list:
                        await c.executemany(numbered(sql), arg_list)
        except DB_ERRORS as exc:
            raise self._error(exc) from None

    def _encode_chunk(self, run_id: int, kind: str, records: Sequence) -> list[tuple]:
        head = (run_id,)  # the writers' encoder checks the amounts, at no cost of its own
        return [head + r for r in records]

    async def _save_chunk(self, run_id, stage, chunk_key, table, columns, records) -> bool:
        values = self._encode_chunk(run_id, stage, records)
        try:
            async with self._acquire(self._writers) as c, c.transaction():
                # checkpoint first: a concurrent save of the same chunk waits on this row, then does nothing
                saved = await c.fetchval(
                    "INSERT INTO checkpoints (run_id, stage, chunk_key, items, saved_at) SELECT id, $2::text, "
                    "$3::text, $4::integer, now() FROM runs WHERE id = $1 AND status = 'running' "
                    "ON CONFLICT DO NOTHING RETURNING 1", run_id, stage, chunk_key, len(values))
                if saved and values:
                    try:
                        await c.copy_records_to_table(table, records=values, columns=columns)
                    except asyncpg.UniqueViolationError as exc:
                        raise self._overlap(run_id, stage, chunk_key, exc) from None
        except DB_ERRORS as exc:
            raise self._error(exc) from None
        if not saved:
            await self._chunk_refused(run_id, stage, chunk_key)
        return bool(saved)

    # lower() in the "C" collation folds ASCII letters only, byte by byte, as canonical_address does; in
    # the database's collation (C.UTF-8, en_US...) it folds more, through wide characters, in twice the time
    _wallet_key_sql = 'lower(address COLLATE "C")'
    _lines_agg_sql = "array_agg(line)"

    def _out_lines(self, v):
        return map(int, v)

    # value conversion: asyncpg takes int/Decimal for numeric, dict for jsonb (codec above)
    def _in_json(self, v):
        return v

    def _in_ts(self, v):
        return v

    def _in_date(self, v):
        return None if v is None else date.fromisoformat(v)

    def _out_units(self, v):
        return None if v is None else int(v)

    def _out_dec(self, v):
        return v

    def _out_json(self, v):
        return v

    def _out_ts(self, v):
        return None if v is None else iso_utc(v)

    def _out_date(self, v):
        return None if v is None else v.isoformat()

    async def close(self) -> None:
        await self._claims.aclose()
        pools = [p for p in (self._writers, self._pool) if p is not None]
        self._pool = self._writers = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except asyncio.TimeoutError:
                pool.terminate()
