"""A scan's work shared by ``porscan worker`` processes on any number of machines, through the
PostgreSQL store the runs already live in.

The job engine sits behind a small port (:class:`JobQueue`: enqueue in a given transaction, count a
run's jobs, name its failed ones, serve handlers by job kind); :mod:`.pgqueuer` is the adapter
(PgQueuer: ``FOR UPDATE SKIP LOCKED`` dequeue, LISTEN/NOTIFY wake-ups, heartbeats; a dead worker's
job is picked again once its heartbeat is older than the timeout). Another engine (procrastinate,
...) replaces it by implementing the same methods.

A job is one verification chunk, or one network's balance reads (:mod:`.jobs`), each saved in
checkpoints; delivery is at-least-once, and a checkpoint saved twice is a no-op, so a job run again
writes nothing twice and a network's job taken over from a dead worker skips the slices saved. A
network's slices are read one after the other, as a one-process scan reads them: an adapter may
move its node (a Bitcoin node rolled back to the snapshot: two slices read at once on one node left
rows unread) or be held to an endpoint's limits. Chunks and networks run in parallel. The coordinator (:mod:`.coordinator`) opens the run exactly as a
one-process scan does, enqueues the jobs in the run row's transaction, waits, and aggregates once
every checkpoint is in the store.

Workers read the input file at the path the coordinator was given (same path on every machine: a
shared or copied folder) and the same network/coin config files; a worker whose file or config
hashes differ refuses the job, and the run fails with that one error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence

from ...errors import PorscanError

STAGE_VERIFY = "verify"
STAGE_BALANCES = "balances"
KINDS = (STAGE_VERIFY, STAGE_BALANCES)


class JobRefused(PorscanError):
    """A worker cannot do this job as asked (another input file or config than the run's): the job
    fails with this message, and the run with it."""


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """One unit of a run's work; (run, kind, key) is its identity."""

    kind: str  # STAGE_VERIFY or STAGE_BALANCES
    run_id: int
    key: str  # a verification chunk's first line (its checkpoint key); a network id
    body: bytes  # the kind's payload (jobs.py), JSON


@dataclass(frozen=True, slots=True)
class JobCounts:
    """A run's jobs still in the queue, by state (done ones have left it: the store has their rows)."""

    queued: int = 0
    running: int = 0
    failed: int = 0
    workers: int = 0  # distinct workers running this run's jobs now

    @property
    def active(self) -> int:
        return self.queued + self.running


@dataclass(frozen=True, slots=True)
class JobFailure:
    kind: str
    key: str
    error: str


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    jobs: int = 2  # jobs this worker runs at once
    heartbeat_seconds: float = 30.0  # a picked job whose heartbeat is older is taken by another worker
    poll_seconds: float = 5.0  # longest wait for work without a notification


Handler = Callable[[QueuedJob], Awaitable[None]]


class JobQueue(Protocol):
    """The port a job engine implements for porscan."""

    async def prepare(self) -> None:
        """Create the engine's tables if missing (safe to call from several processes at once)."""

    async def enqueue(self, conn: Any, jobs: Sequence[QueuedJob]) -> None:
        """Add ``jobs`` on ``conn`` (a store transaction's connection): they exist once it commits.
        A job whose (run, kind, key) is already waiting or running is not added twice; failed jobs of
        the same runs are dropped (they are enqueued again when their checkpoint is missing)."""

    async def counts(self, run_id: int, kind: str) -> JobCounts: ...

    async def failures(self, run_id: int, limit: int = 5) -> list[JobFailure]: ...

    async def watch(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever jobs may have changed (queued, taken, done), until :meth:`close`: a
        hint that spares the coordinator its polls, never its only signal (a notification can be lost)."""

    async def drop(self, run_id: int) -> None:
        """Remove the run's jobs not yet taken (the run failed or was interrupted: a resumed run
        queues what its checkpoints lack)."""

    async def serve(self, handlers: Mapping[str, Handler], options: WorkerOptions) -> None:
        """Run jobs of these kinds until :meth:`stop` (any run's, in the order they came)."""

    def stop(self) -> None: ...

    async def close(self) -> None: ...
