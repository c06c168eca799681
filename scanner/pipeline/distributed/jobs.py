"""The two kinds of job and what a worker does with each.

* verify: one input chunk [offset, offset + length) cut at line boundaries by ``iter_chunks``,
  verified by ``process_chunk`` and saved with ``save_rows(run, first_line)``, exactly as the
  one-process scan does it;
* balances: one slice of a (coin key, snapshot height) group as the scan's planner made it, read by
  ``read_groups`` and saved with ``save_balances(run, slice_key)``.

Each job carries what a worker needs to rebuild the run's context: the input path and its sha256,
the config paths and their digest, the options that shape rows. A checkpoint saved already makes
the job a no-op, so a job delivered twice (a worker killed after its save, before its ack) writes
nothing twice."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from ...storage import Store
from ..plan import Job
from . import STAGE_BALANCES, STAGE_VERIFY, JobBusy, JobQueue, JobRefused, QueuedJob, WorkerOptions

log = logging.getLogger("porscan.worker")


@dataclass(frozen=True, slots=True)
class RunInputs:
    """What every job of a run says about its inputs: a worker checks them before any work."""

    file: str
    sha256: str
    config_sha256: str
    networks_path: str | None = None
    coins_path: str | None = None
    rpc: tuple[str, ...] = ()
    coins: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    chunk_bytes: int = 1 << 20
    slice_rows: int = 50_000
    adapter_options: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "config_sha256": self.config_sha256,
                "networks_path": self.networks_path, "coins_path": self.coins_path, "rpc": list(self.rpc),
                "coins": list(self.coins), "networks": list(self.networks), "chunk_bytes": self.chunk_bytes,
                "slice_rows": self.slice_rows, "adapter_options": self.adapter_options}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunInputs":
        return cls(file=d["file"], sha256=d["sha256"], config_sha256=d["config_sha256"],
                   networks_path=d.get("networks_path"), coins_path=d.get("coins_path"), rpc=tuple(d.get("rpc", ())),
                   coins=tuple(d.get("coins", ())), networks=tuple(d.get("networks", ())),
                   chunk_bytes=int(d["chunk_bytes"]), slice_rows=int(d["slice_rows"]),
                   adapter_options=dict(d.get("adapter_options") or {}))

    @classmethod
    def of(cls, ctx) -> "RunInputs":
        """From a scan context (scan._Context): the options the run's rows depend on."""
        o = ctx.opts
        return cls(file=os.path.abspath(o.file), sha256=ctx.input_sha256, config_sha256=ctx.config_sha256,
                   networks_path=o.networks_path and os.path.abspath(o.networks_path),
                   coins_path=o.coins_path and os.path.abspath(o.coins_path), rpc=tuple(o.rpc),
                   coins=tuple(sorted(o.coins)), networks=tuple(sorted(o.networks)), chunk_bytes=o.chunk_bytes,
                   slice_rows=o.slice_rows,
                   adapter_options={k: v for k, v in sorted(o.adapter_options.items()) if isinstance(v, (int, str, bool))})


@dataclass(frozen=True, slots=True)
class VerifyChunk:
    inputs: RunInputs
    offset: int
    length: int
    first_line: int

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs.to_json(), "offset": self.offset, "length": self.length, "first_line": self.first_line}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "VerifyChunk":
        return cls(inputs=RunInputs.from_json(d["inputs"]), offset=int(d["offset"]), length=int(d["length"]),
                   first_line=int(d["first_line"]))


@dataclass(frozen=True, slots=True)
class BalanceSlice:
    inputs: RunInputs
    coin: str  # the group's coin key
    height: int | None
    rows: tuple[Job, ...]

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs.to_json(), "coin": self.coin, "height": self.height,
                "rows": [[j.line, j.coin, j.address, None if j.published is None else str(j.published), j.why]
                         for j in self.rows]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "BalanceSlice":
        return cls(inputs=RunInputs.from_json(d["inputs"]), coin=d["coin"], height=d["height"],
                   rows=tuple(Job(int(line), coin, address, None if published is None else int(published), why)
                              for line, coin, address, published, why in d["rows"]))


def encode(payload: VerifyChunk | BalanceSlice) -> bytes:
    return json.dumps(payload.to_json(), separators=(",", ":")).encode()


def verify_job(run_id: int, chunk: VerifyChunk) -> QueuedJob:
    return QueuedJob(kind=STAGE_VERIFY, run_id=run_id, key=str(chunk.first_line), body=encode(chunk))


def balance_job(run_id: int, key: str, part: BalanceSlice) -> QueuedJob:
    return QueuedJob(kind=STAGE_BALANCES, run_id=run_id, key=key, body=encode(part))


class Worker:
    """The handlers of one ``porscan worker`` process: one store, one context per run (its file
    hashed once), verification in ``processes`` processes."""

    def __init__(self, store: Store, queue: JobQueue, processes: int = 1) -> None:
        self.store = store
        self.queue = queue
        self.processes = max(1, processes)
        self._contexts: dict[tuple[int, str], Any] = {}
        self._lock = asyncio.Lock()
        self._pool: Executor | None = None
        self.done = {STAGE_VERIFY: 0, STAGE_BALANCES: 0}

    def handlers(self):
        return {STAGE_VERIFY: self.verify, STAGE_BALANCES: self.balances}

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _context(self, run_id: int, inputs: RunInputs):
        """The run's scan context, built once per run and inputs; refuses a file or config that differs."""
        from ..scan import ScanOptions, _load_context

        key = (run_id, inputs.sha256)
        async with self._lock:
            cached = self._contexts.get(key)
            if cached is not None:
                return cached
            opts = ScanOptions(file=inputs.file, networks_path=inputs.networks_path, coins_path=inputs.coins_path,
                               rpc=inputs.rpc, coins=frozenset(inputs.coins), networks=frozenset(inputs.networks),
                               chunk_bytes=inputs.chunk_bytes, slice_rows=inputs.slice_rows,
                               adapter_options=dict(inputs.adapter_options))
            try:
                ctx = await asyncio.to_thread(_load_context, opts, False)
            except Exception as exc:
                raise JobRefused(f"run {run_id}: this worker cannot read the run's inputs: {exc}") from exc
            if ctx.input_sha256 != inputs.sha256:
                raise JobRefused(f"run {run_id}: {inputs.file} on this worker has sha256 {ctx.input_sha256[:16]}..., "
                                 f"the run read {inputs.sha256[:16]}...: every worker needs the same file at the same path")
            if ctx.config_sha256 != inputs.config_sha256:
                raise JobRefused(f"run {run_id}: the network/coin config on this worker differs from the run's "
                                 "(same files at the same paths, same --rpc on every machine)")
            self._contexts[key] = ctx
            return ctx

    async def _saved(self, job: QueuedJob) -> bool:
        return job.key in await self.store.done_chunks(job.run_id, job.kind)

    async def verify(self, job: QueuedJob) -> None:
        from ..verify import ChunkTask, Filters, process_chunk, row_records

        chunk = VerifyChunk.from_json(json.loads(job.body))
        if await self._saved(job):
            return  # delivered again after its save: nothing to do
        ctx = await self._context(job.run_id, chunk.inputs)
        head = ctx.head
        task = ChunkTask(head.path, chunk.offset, chunk.length, chunk.first_line, head.layout, head.heights,
                         Filters(frozenset(chunk.inputs.coins), frozenset(chunk.inputs.networks)), False, False,
                         ctx.decimals_map(), True)
        if self.processes > 1:
            if self._pool is None:
                # spawned, not forked: this process holds an event loop and database connections
                self._pool = ProcessPoolExecutor(self.processes, mp_context=get_context("spawn"))
            res = await asyncio.get_running_loop().run_in_executor(self._pool, process_chunk, task)
        else:
            res = await asyncio.to_thread(process_chunk, task)
        await self.store.save_rows(job.run_id, job.key, row_records(res))
        self.done[STAGE_VERIFY] += 1

    async def balances(self, job: QueuedJob) -> None:
        from ..balances import read_groups

        part = BalanceSlice.from_json(json.loads(job.body))
        if await self._saved(job):
            return
        ctx = await self._context(job.run_id, part.inputs)
        options = dict(part.inputs.adapter_options)

        async def save(_key: str, checks) -> None:  # the slice's own key: read_groups numbers a lone slice 0
            await self.store.save_balances(job.run_id, job.key, checks)

        network = ctx.coins[part.coin].network
        async with self.queue.exclusive(f"porscan balances {network}") as mine:
            if not mine:
                raise JobBusy(f"{network} is being read by another worker", retry_after=0.5)
            if await self._saved(job):
                return  # saved by another delivery while this one waited
            summaries = await read_groups({(part.coin, part.height): list(part.rows)}, ctx.coins, ctx.networks,
                                          on_slice=save, slice_rows=max(1, len(part.rows)), adapter_options=options)
        for nid, s in summaries.items():
            for note in s.notes[:5]:
                log.info("run %s %s %s: %s", job.run_id, nid, job.key, note)
        self.done[STAGE_BALANCES] += 1


async def run_worker(db: str, processes: int, options: WorkerOptions, limits: Any = None,
                     queue: JobQueue | None = None) -> dict[str, int]:
    """``porscan worker``: take jobs of any run from the store at ``db`` until SIGTERM/SIGINT; the
    jobs done, by kind. ``limits``: an async context manager entered around the serving (the
    fleet-wide rate limits: the adapters the jobs create while it is open share every endpoint's
    limits with the other workers)."""
    import contextlib
    import signal

    from ...storage import open_store

    store = await open_store(db, max_connections=max(2, options.jobs + 1))
    if queue is None:
        from .pgqueuer import PgQueuerQueue

        queue = PgQueuerQueue(db)
    worker = Worker(store, queue, processes)
    loop = asyncio.get_running_loop()
    stops = []
    try:
        await queue.prepare()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, queue.stop)
                stops.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests): no signals to take
                pass
        async with limits if limits is not None else contextlib.nullcontext():
            await queue.serve(worker.handlers(), options)
    finally:
        for sig in stops:
            loop.remove_signal_handler(sig)
        await worker.close()
        await queue.close()
        await store.close()
    return dict(worker.done)
