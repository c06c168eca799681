"""The :class:`JobQueue` port on PgQueuer (jobs in the store's own PostgreSQL database).

A job's entrypoint is ``porscan.<kind>``; its dedupe key ``porscan:<run>:<kind>:<key>`` keeps one
waiting or running copy per checkpoint and lets a run's jobs be counted. Failed jobs are held
(``on_failure="hold"``) so the coordinator can name the error; PgQueuer's log keeps the traceback."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any, Callable, Mapping, Sequence

import asyncpg

from ...storage import StoreError, redact_url
from . import Handler, JobCounts, JobFailure, QueuedJob, WorkerOptions

log = logging.getLogger("porscan.worker")

PREFIX = "porscan."
_INSTALL_LOCK = 0x70677172  # pg_advisory_xact_lock key: one installer of PgQueuer's tables at a time


def dedupe_key(run_id: int, kind: str, key: str) -> str:
    return f"porscan:{run_id}:{kind}:{key}"


def _like(run_id: int, kind: str | None = None) -> str:
    return f"porscan:{run_id}:" + (f"{kind}:" if kind else "") + "%"


class PgQueuerQueue:
    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: asyncpg.Connection | None = None
        self._qm: Any = None

    def _queries(self, conn: asyncpg.Connection):
        from pgqueuer import AsyncpgDriver, Queries

        return Queries(AsyncpgDriver(conn))

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None:
            try:
                self._conn = await asyncpg.connect(self.url, timeout=15)
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise StoreError(f"job queue: cannot connect to {redact_url(self.url)}: {exc}") from None
        return self._conn

    def _table(self, conn: asyncpg.Connection) -> str:
        return self._queries(conn).qbe.settings.queue_table

    def _log_table(self, conn: asyncpg.Connection) -> str:
        return self._queries(conn).qbe.settings.queue_table_log

    async def prepare(self) -> None:
        conn = await self._connection()
        queries = self._queries(conn)
        try:
            async with conn.transaction():
                await conn.execute(f"SELECT pg_advisory_xact_lock({_INSTALL_LOCK})")
                if not await queries.schema_is_installed():
                    await queries.install()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreError(f"job queue: cannot install PgQueuer's tables in {redact_url(self.url)}: {exc}") from None

    async def enqueue(self, conn: Any, jobs: Sequence[QueuedJob]) -> None:
        if not jobs:
            return
        # PgQueuer encodes its JSON columns itself: the store's jsonb codec would encode them twice
        # (the store sets its codecs again when its transaction ends)
        await conn.reset_type_codec("jsonb", schema="pg_catalog")
        table = self._table(conn)
        for run_id in sorted({j.run_id for j in jobs}):
            await conn.execute(f"DELETE FROM {table} WHERE status = 'failed' AND dedupe_key LIKE $1", _like(run_id))
        await self._queries(conn).enqueue(
            [PREFIX + j.kind for j in jobs],
            [json.dumps({"run": j.run_id, "key": j.key}).encode() + b"\n" + j.body for j in jobs],
            [0] * len(jobs), dedupe_key=[dedupe_key(j.run_id, j.kind, j.key) for j in jobs], on_conflict="skip")

    async def counts(self, run_id: int, kind: str) -> JobCounts:
        conn = await self._connection()
        rows = await conn.fetch(
            f"SELECT status::text AS status, count(*) AS n, count(DISTINCT queue_manager_id) AS workers "
            f"FROM {self._table(conn)} WHERE dedupe_key LIKE $1 GROUP BY status", _like(run_id, kind))
        by = {r["status"]: r for r in rows}
        return JobCounts(queued=int(by["queued"]["n"]) if "queued" in by else 0,
                         running=int(by["picked"]["n"]) if "picked" in by else 0,
                         failed=int(by["failed"]["n"]) if "failed" in by else 0,
                         workers=int(by["picked"]["workers"]) if "picked" in by else 0)

    async def failures(self, run_id: int, limit: int = 5) -> list[JobFailure]:
        conn = await self._connection()
        rows = await conn.fetch(
            f"SELECT q.entrypoint, q.dedupe_key, l.traceback::text AS tb FROM {self._table(conn)} q "
            f"LEFT JOIN LATERAL (SELECT traceback FROM {self._log_table(conn)} WHERE job_id = q.id "
            "AND traceback IS NOT NULL ORDER BY created DESC LIMIT 1) l ON true "
            "WHERE q.status = 'failed' AND q.dedupe_key LIKE $1 ORDER BY q.id LIMIT $2", _like(run_id), limit)
        out = []
        for r in rows:
            tb = json.loads(r["tb"]) if r["tb"] else {}
            error = (f"{tb.get('exception_type')}: {tb.get('exception_message')}" if tb else "failed (no traceback logged)")
            out.append(JobFailure(kind=r["entrypoint"].removeprefix(PREFIX), key=r["dedupe_key"].split(":", 3)[-1],
                                  error=error))
        return out

    async def watch(self, wake: Callable[[], None]) -> None:
        # PgQueuer's trigger notifies its channel on every change of its queue table: a job queued,
        # taken, heartbeat, and done (its row deleted once the handler's checkpoint has committed)
        conn = await self._connection()
        await conn.add_listener(self._queries(conn).qbe.settings.channel, lambda *_: wake())

    async def drop(self, run_id: int) -> None:
        conn = await self._connection()
        await conn.execute(f"DELETE FROM {self._table(conn)} WHERE status = 'queued' AND dedupe_key LIKE $1", _like(run_id))

    async def serve(self, handlers: Mapping[str, Handler], options: WorkerOptions) -> None:
        from pgqueuer import QueueManager
        from pgqueuer.models import Job

        conn = await self._connection()
        qm = QueueManager(self._queries(conn))
        self._qm = qm

        def entry(kind: str, handler: Handler):
            async def run(job: Job) -> None:
                head, _, body = (job.payload or b"").partition(b"\n")
                meta = json.loads(head)
                await handler(QueuedJob(kind=kind, run_id=int(meta["run"]), key=str(meta["key"]), body=body))

            qm.entrypoint(PREFIX + kind, on_failure="hold")(run)

        for kind, handler in handlers.items():
            entry(kind, handler)
        # one job per dequeue: a worker holds no more jobs than it runs, so the others get theirs
        await qm.run(dequeue_timeout=timedelta(seconds=options.poll_seconds), batch_size=1,
                     max_concurrent_tasks=max(2, options.jobs),
                     heartbeat_timeout=timedelta(seconds=options.heartbeat_seconds))

    def stop(self) -> None:
        if self._qm is not None:
            self._qm.shutdown.set()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await asyncio.wait_for(conn.close(), 10)
            except (asyncio.TimeoutError, OSError, asyncpg.InterfaceError):
                conn.terminate()
