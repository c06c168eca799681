"""SQLite backend: one file, WAL mode, one connection driven by one dedicated thread.

Every call runs on that thread (so the event loop never blocks on disk and calls are serialized);
bulk chunks are one ``executemany`` inside ``BEGIN IMMEDIATE`` .. ``COMMIT``. Several processes may
share a file: WAL lets readers run during a write and writers wait (busy timeout) for each other.
Amounts are TEXT (exact integer or decimal strings); booleans 0/1; times ISO 8601 UTC text.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import AsyncIterator, Sequence

from .migrations import SQLITE, pending, tracking_table
from .base import Store, iso_utc, utc_now
from .model import StoreError, canonical_json

MIN_SQLITE = (3, 39, 0)  # RETURNING, IS NOT DISTINCT FROM, upsert on a partial index


class SqliteStore(Store):
    backend = "sqlite"
    _run_date_sql = "coalesce(snapshot_date, substr(started_at, 1, 10))"

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="porscan-sqlite")
        self._claims = contextlib.AsyncExitStack()  # the holds of the runs claimed (claim_run)

    @classmethod
    async def open(cls, path: str, upto_version: int | None = None) -> "SqliteStore":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreError(f"SQLite {sqlite3.sqlite_version} is too old: porscan needs "
                             f"{'.'.join(map(str, MIN_SQLITE))} or newer")
        store = cls(path)
        try:
            await store._call(store._connect, upto_version)
        except BaseException:
            await store.close()
            raise
        return store

    async def _call(self, fn, *args):
        if self._thread is None:
            raise StoreError(f"{self.url} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    def _connect(self, upto_version: int | None) -> None:
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for {self.url}: {exc}") from exc
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.url}: {exc}") from exc
        for pragma in ("synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=60000", "cache_size=-65536",
                       "temp_store=MEMORY"):
            conn.execute(f"PRAGMA {pragma}")
        self._conn = conn
        self._migrate(upto_version)

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        """An exclusive ``flock`` on a file per name beside the database (``<db>.locks/``): the kernel
        drops it when the holder dies. An in-memory store has one process: always held."""
        if self.path == ":memory:":
            yield True
            return
        folder = Path(self.path + ".locks")
        try:
            folder.mkdir(exist_ok=True)
            fd = os.open(folder / hashlib.sha256(name.encode()).hexdigest()[:32], os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"{self.url}: cannot create a lock file in {folder}: {exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.url} is closed")
        return self._conn

    def _migrate(self, upto_version: int | None) -> None:
        conn = self._db
        with self._tx():
            conn.execute(tracking_table("text"))
            applied = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
            for m in pending(SQLITE, applied, upto_version, self.url):
                for statement in m.sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (m.version, m.name, iso_utc(utc_now())))

    def _tx(self):
        return _Immediate(self._db)

    async def schema_version(self) -> int:
        rows = await self._fetch("SELECT max(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    async def _fetch(self, sql: str, *args) -> list[Sequence]:
        return await self._call(self._fetch_sync, sql, args)

    def _fetch_sync(self, sql: str, args: tuple) -> list[tuple]:
        return self._db.execute(sql, args).fetchall()

    async def _transaction(self, steps: Sequence[tuple[str, Sequence[tuple]]]) -> None:
        await self._call(self._transaction_sync, steps)

    def _transaction_sync(self, steps) -> None:
        with self._tx():
            for sql, arg_list in steps:
                self._db.executemany(sql, arg_list)

    async def _save_chunk(self, run_id, stage, chunk_key, table, columns, records) -> bool:
        saved = await self._call(self._save_chunk_sync, run_id, stage, chunk_key, table, columns, records)
        if not saved:
            await self._chunk_refused(run_id, stage, chunk_key)
        return saved

    def _save_chunk_sync(self, run_id, stage, chunk_key, table, columns, records) -> bool:
        values = self._encode_chunk(run_id, stage, records)  # on this thread, not the event loop's
        with self._tx():
            cur = self._db.execute(
                "INSERT INTO checkpoints (run_id, stage, chunk_key, items, saved_at) SELECT ?, ?, ?, ?, ? FROM runs "
                "WHERE id = ? AND status = 'running' ON CONFLICT DO NOTHING",
                (run_id, stage, chunk_key, len(values), iso_utc(utc_now()), run_id))
            if cur.rowcount != 1:
                return False
            try:
                self._db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                       f"VALUES ({', '.join('?' * len(columns))})", values)
            except sqlite3.IntegrityError as exc:
                raise self._overlap(run_id, stage, chunk_key, exc) from exc
        return True

    # value conversion: exact strings for amounts, ISO text for times
    def _in_units(self, v):
        return None if v is None else str(super()._in_units(v))

    def _in_dec(self, v):
        return None if v is None else str(super()._in_dec(v))

    def _in_json(self, v):
        return canonical_json(v)

    def _in_ts(self, v: datetime):
        return iso_utc(v)

    def _in_date(self, v):
        return v

    def _in_bool(self, v):
        return None if v is None else int(v)

    def _out_units(self, v):
        return None if v is None else int(v)

    def _out_dec(self, v):
        return None if v is None else Decimal(v)

    def _out_json(self, v):
        return json.loads(v)

    def _out_ts(self, v):
        return v

    def _out_date(self, v):
        return v

    async def close(self) -> None:
        await self._claims.aclose()
        if self._thread is None:
            return
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)
        self._thread = None


class _Immediate:
    """``with``: BEGIN IMMEDIATE (take the write lock now), COMMIT, or ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
