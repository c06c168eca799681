"""The two kinds of job and what a worker does with each.

* verify: one input chunk [offset, offset + length) cut at line boundaries by ``iter_chunks``,
  verified by ``process_chunk`` and saved with ``save_rows(run, first_line)``, exactly as the
  one-process scan does it;
* balances: one network's groups of the scan's balance plan (made by the worker from the verified
  rows in the store, by the scan's planner), read by ``read_groups`` one slice after the other and
  saved with ``save_balances(run, slice_key)``, the keys a one-process scan uses; what the reads
  said (the network's notes: provider errors, strategies, reads not at the snapshot) is saved with
  ``save_balance_notes`` for the coordinator's report, replacing what an earlier delivery saved.
  A network taken over from a dead worker says what the reads of the worker that finished it said,
  as a resumed one-process scan says what its own reads said.

Each job carries what a worker needs to rebuild the run's context: the input path and its sha256,
the config paths and their digest, the options that shape rows. A checkpoint saved already is
skipped, so a job delivered twice (a worker killed after its save, before its ack) writes nothing
twice, and a network's job taken over from a dead worker goes on from its last saved slice."""

from __future__ import annotations

import asyncio
import json
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from ...storage import Store
from ..balances import NOTES_KEPT
from ..plan import BalancePlan, BalancePlanner
from ..spool import SpoolBudget
from . import STAGE_BALANCES, STAGE_VERIFY, JobQueue, JobRefused, QueuedJob, WorkerOptions

CONTEXTS_KEPT = 4  # runs whose context (config, file head) a worker keeps
# rows of a run's plan a worker holds in memory (the rest on disk, scanner/pipeline/spool.py): a machine
# runs several workers, each with the whole plan, and a ten-million-row run's would not fit them all
PLAN_ROWS_HELD = 200_000


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
class NetworkReads:
    inputs: RunInputs
    network: str

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs.to_json(), "network": self.network}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "NetworkReads":
        return cls(inputs=RunInputs.from_json(d["inputs"]), network=d["network"])


def encode(payload: VerifyChunk | NetworkReads) -> bytes:
    return json.dumps(payload.to_json(), separators=(",", ":")).encode()


def verify_job(run_id: int, chunk: VerifyChunk) -> QueuedJob:
    return QueuedJob(kind=STAGE_VERIFY, run_id=run_id, key=str(chunk.first_line), body=encode(chunk))


def network_job(run_id: int, reads: NetworkReads) -> QueuedJob:
    return QueuedJob(kind=STAGE_BALANCES, run_id=run_id, key=reads.network, body=encode(reads))


def network_groups(plan: BalancePlan, coins, network: str):
    """The plan's groups read on ``network``."""
    return {k: v for k, v in plan.groups.items() if coins[k[0]].network == network}


class Worker:
    """The handlers of one ``porscan worker`` process: one store, one context per run (its file
    hashed once), verification in ``processes`` processes."""

    def __init__(self, store: Store, queue: JobQueue, processes: int = 1) -> None:
        self.store = store
        self.queue = queue
        self.processes = max(1, processes)
        self._contexts: dict[tuple[int, str], Any] = {}
        self._plan_of: tuple[int, BalancePlan] | None = None
        self._lock = asyncio.Lock()
        # chunks verified at once: one per process (more would share its core); balance jobs, I/O, are not held
        self._cores = asyncio.Semaphore(self.processes)
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
            if len(self._contexts) >= CONTEXTS_KEPT:  # a long-lived worker serves run after run
                del self._contexts[next(iter(self._contexts))]
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
        task = ChunkTask(path=head.path, offset=chunk.offset, length=chunk.length, first_line=chunk.first_line,
                         layout=head.layout, heights=head.heights,
                         filters=Filters(frozenset(chunk.inputs.coins), frozenset(chunk.inputs.networks)),
                         want_rows=False, want_failures=False, decimals=ctx.decimals_map(), want_records=True,
                         want_tallies=False)
        async with self._cores:
            if self.processes > 1:
                if self._pool is None:
                    # spawned, not forked: this process holds an event loop and database connections
                    self._pool = ProcessPoolExecutor(self.processes, mp_context=get_context("spawn"))
                res = await asyncio.get_running_loop().run_in_executor(self._pool, process_chunk, task)
            else:
                res = await asyncio.to_thread(process_chunk, task)
        await self.store.save_rows(job.run_id, job.key, row_records(res))
        self.done[STAGE_VERIFY] += 1

    async def _plan(self, run_id: int, ctx) -> BalancePlan:
        """The run's balance plan from its verified rows (all stored before any balance job is queued),
        made once per run by this worker."""
        async with self._lock:
            if self._plan_of is None or self._plan_of[0] != run_id:
                planner = BalancePlanner(ctx, budget=SpoolBudget(PLAN_ROWS_HELD))
                async for rows in self.store.iter_rows(run_id):
                    for r in rows:
                        planner.add(r)
                self._plan_of = (run_id, planner.finish())
            return self._plan_of[1]

    async def balances(self, job: QueuedJob) -> None:
        from ..balances import read_groups

        reads = NetworkReads.from_json(json.loads(job.body))
        ctx = await self._context(job.run_id, reads.inputs)
        groups = network_groups(await self._plan(job.run_id, ctx), ctx.coins, reads.network)
        done = await self.store.done_chunks(job.run_id, STAGE_BALANCES)

        read = 0

        async def save(key: str, checks) -> None:
            nonlocal read
            await self.store.save_balances(job.run_id, key, checks)
            read += 1

        # per_wallet False, as in a one-process scan: the aggregation counts wallets once; a set of every
        # wallet read here held a gigabyte on a network of 7.5 million addresses
        async def network_read(nid: str, s) -> None:
            # a job delivered again after its last save reads nothing: the notes stored stay; a job taken
            # over from a dead worker adds what its own reads said to what that worker's said
            if read:
                said = (await self.store.balance_notes(job.run_id)).get(nid, [])
                await self.store.save_balance_notes(job.run_id, nid,
                                                    (said + [n for n in s.notes if n not in said])[:NOTES_KEPT])

        await read_groups(groups, ctx.coins, ctx.networks, on_slice=save, done=done, per_wallet=False,
                          slice_rows=reads.inputs.slice_rows, adapter_options=dict(reads.inputs.adapter_options),
                          on_network=network_read)
        self.done[STAGE_BALANCES] += 1


async def run_worker(db: str, processes: int, options: WorkerOptions, queue: JobQueue | None = None) -> dict[str, int]:
    """``porscan worker``: take jobs of any run from the store at ``db`` until SIGTERM/SIGINT; the
    jobs done, by kind. Fleet-wide endpoint limits: run it inside ``fleet_limits.run_limited``."""
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
        await queue.serve(worker.handlers(), options)
    finally:
        for sig in stops:
            loop.remove_signal_handler(sig)
        await worker.close()
        await queue.close()
        await store.close()
    return dict(worker.done)
