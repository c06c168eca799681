"""``porscan scan --distributed``: plan, enqueue, wait for the workers, aggregate.

The run is opened as a one-process scan opens it (same resume rules), and its verification jobs
are enqueued in the run row's transaction: there is never a run without its jobs nor jobs without
their run. The balance plan depends on the verified rows (published base units, filtered and
unreadable rows), so the network jobs are enqueued once verification is complete, in one
transaction; the coordinator plans too, with the scan's own planner, for the slice keys it waits
for and the rows no adapter can read. The aggregation reads what the store holds, as always: its totals
equal a one-process scan's."""

from __future__ import annotations

import asyncio
import time
from typing import Sequence

from ...storage import RunInfo, Store, StoreError, open_store
from ..balances import network_slices
from ..ingest import iter_chunks
from ..plan import BalancePlanner
from ..scan import (UNSUPPORTED_KEY, NullUI, ScanError, ScanOptions, ScanOutcome, ScanUI, _load_context, _record_failure,
                    check_distributed, finish_scan, open_run)
from . import STAGE_BALANCES, STAGE_VERIFY, JobQueue, QueuedJob
from .jobs import NetworkReads, RunInputs, VerifyChunk, network_job, verify_job

# The coordinator reads the store's checkpoints and the queue's counts when the queue says a job changed
# (LISTEN/NOTIFY), and at least this often: a lost notification, slices saved inside a network's job
POLL_SECONDS = 1.0


async def run_distributed(opts: ScanOptions, ui: ScanUI | None = None, queue: JobQueue | None = None,
                          ctx=None) -> ScanOutcome:
    """``ctx``: the scan context of ``opts`` when the caller has it already (backfill: its input hashed once)."""
    ui = ui or NullUI()
    db = check_distributed(opts)
    ctx = ctx or _load_context(opts)
    try:
        store = await open_store(db)
    except StoreError as exc:
        raise ScanError(str(exc)) from exc
    if queue is None:
        from .pgqueuer import PgQueuerQueue

        queue = PgQueuerQueue(db)
    try:
        await queue.prepare()
        return await _coordinate(ctx, store, queue, ui)
    except StoreError as exc:
        raise ScanError(str(exc)) from exc
    finally:
        await queue.close()
        await store.close()


async def _coordinate(ctx, store: Store, queue: JobQueue, ui: ScanUI) -> ScanOutcome:
    changed = asyncio.Event()
    await queue.watch(changed.set)
    inputs = RunInputs.of(ctx)
    chunks = [VerifyChunk(inputs=inputs, offset=off, length=length, first_line=first)
              for off, length, first in iter_chunks(ctx.head, ctx.opts.chunk_bytes)]
    async with store.transaction() as conn:  # a PostgreSQL store (check_distributed)
        run, resumed = await open_run(ctx, store, ui)
        done = await store.done_chunks(run.id, STAGE_VERIFY)
        verify_jobs = [verify_job(run.id, c) for c in chunks if str(c.first_line) not in done]
        await queue.enqueue(conn, verify_jobs)
    ui.note(f"run {run.id}: {len(verify_jobs)} verification job(s) queued for `porscan worker`")
    seconds: dict[str, float] = {}
    try:
        t = time.perf_counter()
        await _wait(store, queue, run, STAGE_VERIFY, [(verify_job(run.id, c), {str(c.first_line)}) for c in chunks], ui,
                    changed)
        seconds["verify"] = time.perf_counter() - t
        t = time.perf_counter()
        notes = await _balances(ctx, store, queue, run, inputs, ui, changed)
        seconds["balances"] = time.perf_counter() - t
        return await finish_scan(ctx, store, run, ui, notes, resumed, seconds)
    except BaseException as exc:  # noqa: BLE001 - recorded, then raised as it came
        await _record_failure(store, run.id, exc)
        try:
            await queue.drop(run.id)  # no worker spends time on a failed run's jobs
        except BaseException:  # noqa: BLE001 - the first error is the one to show
            pass
        raise


async def _balances(ctx, store: Store, queue: JobQueue, run: RunInfo, inputs: RunInputs, ui: ScanUI,
                    changed: asyncio.Event) -> list[str]:
    """The scan's balance plan over the verified rows, one job per network, then wait for its slices."""
    planner = BalancePlanner(ctx, keep_rows=False)  # the workers read the rows; here only their slices are counted
    async for rows in store.iter_rows(run.id):
        for r in rows:
            planner.add(r)
    plan = planner.finish()
    done = await store.done_chunks(run.id, STAGE_BALANCES)
    if plan.unsupported and UNSUPPORTED_KEY not in done:
        await store.save_balances(run.id, UNSUPPORTED_KEY, plan.unsupported)
    jobs = [(network_job(run.id, NetworkReads(inputs=inputs, network=network)), keys)
            for network, keys in sorted(network_slices(plan.groups, ctx.coins, ctx.opts.slice_rows).items())]
    async with store.transaction() as conn:
        await queue.enqueue(conn, [job for job, keys in jobs if not keys <= done])
    await _wait(store, queue, run, STAGE_BALANCES, jobs, ui, changed, settle=True)
    # the notes of a one-process scan, in its order: the plan's, then each network's reads' (saved by the workers)
    notes = [f"{nid}: {n}" for nid, n in sorted(plan.height_notes.items())]
    for nid, said in (await store.balance_notes(run.id)).items():
        notes.extend(f"{nid}: {n}" for n in said)
    return notes


async def _wait(store: Store, queue: JobQueue, run: RunInfo, kind: str, jobs: Sequence[tuple[QueuedJob, set[str]]],
                ui: ScanUI, changed: asyncio.Event, settle: bool = False) -> None:
    """Until the checkpoints of every job (``jobs``: each with the checkpoint keys it saves) are in the
    store and, with ``settle``, the jobs have left the queue: a balance job saves what its reads said
    after its last slice, and the coordinator read the notes before that (a report without the last
    network's notes, now and then); progress in checkpoints. Looks again when ``changed`` is set (the queue's notifications),
    else every POLL_SECONDS. A failed job fails the run with its error; a job that left the
    queue with checkpoints missing (not seen in practice: a save commits before its job is
    acknowledged) is enqueued again, which at-least-once delivery allows."""
    keys = set().union(*(k for _, k in jobs)) if jobs else set()
    seen = len(keys & await store.done_chunks(run.id, kind))
    ui.stage(f"{kind} (distributed)", len(keys), seen)
    workers = -1
    while True:
        changed.clear()  # before the reads: a change while they run makes the next look immediate
        counts = await queue.counts(run.id, kind)
        if counts.failed:
            failures = await queue.failures(run.id)
            first = failures[0] if failures else None
            raise ScanError(f"run {run.id}: {counts.failed} {kind} job(s) failed"
                            + (f"; {first.kind} {first.key}: {first.error}" if first else ""))
        done = keys & await store.done_chunks(run.id, kind)
        if not counts.active and len(done) < len(keys):
            async with store.transaction() as conn:
                await queue.enqueue(conn, [job for job, k in jobs if not k <= done])
        if len(done) > seen:
            ui.advance(len(done) - seen)
            seen = len(done)
        if counts.workers != workers and counts.running:
            workers = counts.workers
            ui.note(f"{kind}: {workers} worker(s) busy with run {run.id}")
        if seen >= len(keys) and not (settle and counts.active):
            break
        try:
            await asyncio.wait_for(changed.wait(), POLL_SECONDS)
        except asyncio.TimeoutError:
            pass
    ui.end_stage()
