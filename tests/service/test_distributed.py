"""``porscan scan --distributed`` with ``porscan worker`` processes on a real PostgreSQL (PgQueuer):
the sample exchange on anvil (and Knots when installed), a coordinator and two worker processes give
the totals of a one-process scan; a worker SIGKILLed while it holds jobs loses none and doubles none;
a worker whose input file differs from the run's fails the run with that error."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import asyncpg
import pytest

from support.common import ROOT, need_anvil

HEARTBEAT = 2  # seconds: a killed worker's jobs are taken by another after this


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    w = build_local_exchange(tmp_path_factory.mktemp("dworld"), seed=5, scale=4, litecoin=False, tron_solana=False)
    yield w
    w.stop()


# PYTHONFAULTHANDLER: a worker sent SIGABRT writes every thread's Python stack to its log first (what a
# stalled worker was doing when a wait gives up)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}


def _scan_argv(w, db: str, out, *extra: str) -> list[str]:
    # small chunks and slices: many jobs, so both workers get some and a kill lands mid-run
    return [sys.executable, "-m", "scanner", "scan", str(w.reserves), "--liabilities", str(w.liabilities),
            "--config", str(w.networks), "--coins", str(w.coins), "--db", db, "--exchange", "Sample", "-q",
            "--chunk-bytes", "1024", "--slice-rows", "4", "--json", str(out), *extra]


def _worker(db: str, log, processes: int = 1) -> subprocess.Popen:
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "scanner", "worker", "--db", db, "--processes", str(processes), "--jobs", "2",
                                 "--heartbeat-timeout", str(HEARTBEAT)], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _figures(report: dict) -> dict:
    """What must not depend on who did the work: every asset's figures, per network and block, and
    the row and balance status counts."""
    return {"assets": report["assets"], "by_status": report["verification"]["by_status"],
            "balance_status": report["balances"]["by_status"], "rows": report["verification"].get("rows")}


def _sql(db: str, sql: str, *args):
    async def go():
        conn = await asyncpg.connect(db)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory) -> dict:
    """The one-process scan of the same inputs and options (SQLite)."""
    tmp = tmp_path_factory.mktemp("single")
    out = tmp / "single.json"
    done = subprocess.run(_scan_argv(world, str(tmp / "single.db"), out), env=ENV, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(out.read_text())


def _stored_once(db: str, run_id: int, reference: dict) -> None:
    """Every line stored once, in both stages, and as many as the one-process scan stored."""
    for table in ("verifications", "balances"):
        twice = _sql(db, f"SELECT line, count(*) FROM {table} WHERE run_id = $1 GROUP BY line HAVING count(*) > 1", run_id)
        assert not twice, f"{table}: lines stored twice: {twice[:5]}"
    (rows,) = _sql(db, "SELECT count(*) FROM verifications WHERE run_id = $1", run_id)
    assert rows[0] == sum(reference["verification"]["by_status"].values())
    (bal,) = _sql(db, "SELECT count(*) FROM balances WHERE run_id = $1", run_id)
    assert bal[0] == sum(reference["balances"]["by_status"].values())


def test_two_workers_give_the_totals_of_one_process(world, reference, tmp_path, postgres_db):
    # one worker verifies in its own thread, the other in a pool of (spawned) processes
    dry = tmp_path / "plan.json"
    planned = subprocess.run(_scan_argv(world, postgres_db, dry, "--distributed", "--dry"), env=ENV,
                             capture_output=True, text=True, timeout=60)
    assert planned.returncode == 0, planned.stderr
    jobs = json.loads(dry.read_text())["jobs"]
    workers = [_worker(postgres_db, tmp_path / "w1.log"), _worker(postgres_db, tmp_path / "w2.log", processes=2)]
    try:
        out = tmp_path / "dist.json"
        done = subprocess.run(_scan_argv(world, postgres_db, out, "--distributed"), env=ENV, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode in (0, 1), done.stderr
        report = json.loads(out.read_text())
        assert _figures(report) == _figures(reference)
        assert report["notes"] == reference["notes"]  # the workers' reads say what the one process's said
        assert report["run"]["status"] == "done"
        _stored_once(postgres_db, report["run"]["id"], reference)
        # every chunk was a job, done once or more (a job may be delivered again; its rows are saved once)
        (delivered,) = _sql(postgres_db, "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful' "
                            "AND entrypoint = 'porscan.verify'")
        chunks, slices, networks = done_jobs(postgres_db, report["run"]["id"])
        assert delivered[0] >= chunks > 10
        # --dry showed the jobs this run queued: its chunks, and each network's slices
        assert (chunks, slices, networks) == (
            jobs["verify"], sum(j["slices"] for j in jobs["balances"]), {j["network"] for j in jobs["balances"]})
    finally:
        _stop(workers)
    assert all(p.returncode == 0 for p in workers), [(tmp_path / f"w{i}.log").read_text()[-2000:] for i in (1, 2)]


def done_jobs(db: str, run_id: int) -> tuple[int, int, set[str]]:
    """(verification chunks, balance slices, networks read) a run checkpointed."""
    (verified,) = _sql(db, "SELECT count(*) FROM checkpoints WHERE run_id = $1 AND stage = 'verify'", run_id)
    (slices,) = _sql(db, "SELECT count(*) FROM checkpoints WHERE run_id = $1 AND stage = 'balances' "
                         "AND chunk_key <> 'unsupported'", run_id)  # the rows no adapter reads: a key of their own
    networks = _sql(db, "SELECT DISTINCT network FROM balances WHERE run_id = $1 AND status <> 'unsupported'", run_id)
    return verified[0], slices[0], {n for (n,) in networks}


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_what_the_workers_reads_said_reaches_the_report(world, tmp_path, postgres_db):
    """An endpoint that refuses every connection: its network's notes (the failed reads, the provider
    errors) are in the distributed run's report as in the one-process scan's, and a balance job
    delivered again after its last save leaves them said once."""
    dead = ("--rpc", f"arbitrum=http://127.0.0.1:{_closed_port()}")
    single = subprocess.run(_scan_argv(world, str(tmp_path / "single.db"), tmp_path / "single.json", *dead), env=ENV,
                            capture_output=True, text=True, timeout=120)
    assert single.returncode in (1, 3), single.stderr
    expected = json.loads((tmp_path / "single.json").read_text())["notes"]
    said = [n for n in expected if n.startswith("arbitrum: ")]
    assert said, expected  # the dead endpoint gave notes to compare
    workers = [_worker(postgres_db, tmp_path / "w1.log"), _worker(postgres_db, tmp_path / "w2.log")]
    try:
        out = tmp_path / "dist.json"
        done = subprocess.run(_scan_argv(world, postgres_db, out, "--distributed", *dead), env=ENV,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode in (1, 3), done.stderr
        report = json.loads(out.read_text())
        assert report["notes"] == expected
        run_id = report["run"]["id"]
        stored = _sql(postgres_db, "SELECT note FROM balance_notes WHERE run_id = $1 AND network = 'arbitrum' "
                      "ORDER BY seq", run_id)
        assert ["arbitrum: " + r["note"] for r in stored] == said
    finally:
        _stop(workers)

    # the network's job delivered again after its last save (a worker killed before its ack): it reads
    # nothing, and the notes stay as said, once
    from scanner.pipeline.distributed import QueuedJob
    from scanner.pipeline.distributed.jobs import NetworkReads, RunInputs, Worker, encode
    from scanner.pipeline.scan import ScanOptions, _load_context
    from scanner.storage import open_store

    ctx = _load_context(ScanOptions(file=str(world.reserves), networks_path=str(world.networks),
                                    coins_path=str(world.coins), rpc=(dead[1],), chunk_bytes=1024, slice_rows=4), False)
    job = QueuedJob(kind="balances", run_id=run_id, key="arbitrum",
                    body=encode(NetworkReads(inputs=RunInputs.of(ctx), network="arbitrum")))

    async def deliver_again() -> None:
        store = await open_store(postgres_db)
        try:
            await Worker(store, queue=None).balances(job)  # type: ignore[arg-type]  # balances never queues
        finally:
            await store.close()

    asyncio.run(deliver_again())
    again = _sql(postgres_db, "SELECT note FROM balance_notes WHERE run_id = $1 AND network = 'arbitrum' "
                 "ORDER BY seq", run_id)
    assert [r["note"] for r in again] == [r["note"] for r in stored]


def test_the_coordinator_wakes_on_the_queues_notifications(world, reference, tmp_path, postgres_db, monkeypatch):
    """With the poll pushed out past the test's time, the run still ends in seconds: the coordinator
    looks when PgQueuer's NOTIFY says a job changed, not on a timer."""
    from scanner.pipeline.distributed import coordinator
    from scanner.pipeline.scan import ScanOptions

    monkeypatch.setattr(coordinator, "POLL_SECONDS", 600.0)
    opts = ScanOptions(file=str(world.reserves), liabilities=str(world.liabilities), networks_path=str(world.networks),
                       coins_path=str(world.coins), db=postgres_db, exchange="Sample", chunk_bytes=1024, slice_rows=4,
                       distributed=True)
    workers = [_worker(postgres_db, tmp_path / "w1.log")]
    try:
        t = time.monotonic()
        outcome = asyncio.run(asyncio.wait_for(coordinator.run_distributed(opts), 90))
        assert time.monotonic() - t < 60
    finally:
        _stop(workers)
    assert _figures(outcome.report.to_json()) == _figures(reference)


def _state(db: str, coordinator: subprocess.Popen, worker: subprocess.Popen, worker_log) -> str:
    """What a failed wait has to say: the queue and the checkpoints, the coordinator's exit and last
    words, whether the worker was still alive and its log (its tail; a live worker is sent SIGABRT
    first, so the log ends with its threads' stacks)."""
    try:
        queue = {r[0]: r[1] for r in _sql(db, "SELECT status, count(*) FROM pgqueuer GROUP BY status")}
        saved = _sql(db, "SELECT stage, count(*) FROM checkpoints GROUP BY stage")
    except (asyncpg.PostgresError, OSError) as exc:
        queue, saved = {"unreadable": str(exc)}, []
    if coordinator.poll() is None:
        os.killpg(coordinator.pid, signal.SIGKILL)
    _, err = coordinator.communicate(timeout=30)
    alive = worker.poll() is None
    if alive:
        worker.send_signal(signal.SIGABRT)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    log = worker_log.read_text(errors="replace") if worker_log.exists() else "(no worker log)"
    return (f"queue {queue}; checkpoints {[tuple(r) for r in saved]}; coordinator exit {coordinator.returncode}; "
            f"worker {'alive (stacks below)' if alive else f'exited {worker.returncode}'}\n"
            f"coordinator stderr (tail):\n{(err or '')[-2000:]}\nworker log (tail):\n{log[-6000:]}")


def test_a_sigkilled_workers_jobs_are_done_by_another_once(world, reference, tmp_path, postgres_db):
    first = _worker(postgres_db, tmp_path / "w1.log")
    procs = [first]
    try:
        out = tmp_path / "dist.json"
        coordinator = subprocess.Popen(_scan_argv(world, postgres_db, out, "--distributed"), env=ENV,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(coordinator)
        orphans: list = []
        deadline = time.monotonic() + 60
        while not orphans:  # mid-run: some chunks saved, and the first worker holding a job
            if time.monotonic() >= deadline or coordinator.poll() is not None:
                pytest.fail("no job was ever picked while the run went on\n" + _state(postgres_db, coordinator, first,
                                                                                      tmp_path / "w1.log"))
            try:
                saved = _sql(postgres_db, "SELECT count(*) FROM checkpoints")[0][0]
                holding = _sql(postgres_db, "SELECT count(*) FROM pgqueuer WHERE status = 'picked'")[0][0]
            except (asyncpg.PostgresError, OSError):  # tables not created yet
                saved = holding = 0
            if saved >= 3 and holding:
                os.killpg(first.pid, signal.SIGKILL)  # no clean-up, no acknowledgement, no heartbeat
                first.wait()
                # its jobs, still picked: the ones it was running and any done but not yet acknowledged
                orphans = [r[0] for r in _sql(postgres_db, "SELECT id FROM pgqueuer WHERE status = 'picked'")]
                if not orphans:  # its job was done and acknowledged between the count and the kill: again
                    first = _worker(postgres_db, tmp_path / "w1.log")
                    procs.append(first)
            time.sleep(0.02)
        second = _worker(postgres_db, tmp_path / "w2.log")
        procs.append(second)
        stdout, stderr = coordinator.communicate(timeout=90)
        assert coordinator.returncode in (0, 1), stderr
        report = json.loads(out.read_text())
        assert _figures(report) == _figures(reference)
        _stored_once(postgres_db, report["run"]["id"], reference)
        # the killed worker's jobs are taken again after the heartbeat timeout and done: the queue empties
        # (the run may end first: a job whose rows were saved before the kill leaves nothing to wait for)
        deadline = time.monotonic() + 30
        while _sql(postgres_db, "SELECT id FROM pgqueuer WHERE dedupe_key LIKE $1", f"porscan:{report['run']['id']}:%"):
            assert time.monotonic() < deadline, "jobs left in the queue"
            time.sleep(0.2)
        picked_again = _sql(postgres_db, "SELECT DISTINCT job_id FROM pgqueuer_log WHERE job_id = ANY($1::bigint[]) "
                            "AND status = 'successful'", orphans)
        assert {r[0] for r in picked_again} == set(orphans)
    finally:
        _stop(procs)


def test_a_killed_coordinator_is_resumed_by_the_same_command(world, reference, tmp_path, postgres_db):
    """SIGKILL the coordinator mid-run: the workers go on, and the same command started again resumes
    the run (its jobs are not queued twice) and gives the one-process totals."""
    procs = [_worker(postgres_db, tmp_path / "w1.log")]
    try:
        out = tmp_path / "dist.json"
        argv = _scan_argv(world, postgres_db, out, "--distributed")
        coordinator = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        procs.append(coordinator)
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline and coordinator.poll() is None, "the run ended before the kill"
            try:
                if _sql(postgres_db, "SELECT count(*) FROM checkpoints")[0][0] >= 3:
                    break
            except (asyncpg.PostgresError, OSError):
                pass
            time.sleep(0.02)
        os.killpg(coordinator.pid, signal.SIGKILL)
        coordinator.wait()
        done = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=90)
        assert done.returncode in (0, 1), done.stderr
        report = json.loads(out.read_text())
        assert report["run"]["resumed"] is True
        assert [r[0] for r in _sql(postgres_db, "SELECT id FROM runs")] == [report["run"]["id"]]
        assert _figures(report) == _figures(reference)
        _stored_once(postgres_db, report["run"]["id"], reference)
    finally:
        _stop(procs)


def test_a_worker_refuses_another_file_and_the_run_fails(world, tmp_path, postgres_db):
    reserves = tmp_path / "reserves.csv"
    reserves.write_bytes(world.reserves.read_bytes())
    argv = _scan_argv(world, postgres_db, tmp_path / "x.json", "--distributed")
    argv[argv.index(str(world.reserves))] = str(reserves)
    coordinator = subprocess.Popen(argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
    procs = [coordinator]
    try:
        deadline = time.monotonic() + 30
        while True:  # the run and its jobs are stored: now the file changes under it
            assert time.monotonic() < deadline and coordinator.poll() is None, coordinator.stderr
            try:
                if _sql(postgres_db, "SELECT count(*) FROM pgqueuer")[0][0]:
                    break
            except (asyncpg.PostgresError, OSError):
                pass
            time.sleep(0.05)
        with open(reserves, "ab") as fh:
            fh.write(b"\n")
        procs.append(_worker(postgres_db, tmp_path / "w.log"))
        _, stderr = coordinator.communicate(timeout=60)
        assert coordinator.returncode == 2
        line = stderr.strip().splitlines()[-1]
        assert "job(s) failed" in line and "sha256" in line and str(reserves) in line
        (run,) = _sql(postgres_db, "SELECT status, summary FROM runs")
        assert run["status"] == "failed" and "sha256" in run["summary"]
        assert not _sql(postgres_db, "SELECT id FROM pgqueuer WHERE status = 'queued'")  # no worker spends time on them
    finally:
        _stop(procs)


def test_distributed_needs_postgresql(world, tmp_path):
    done = subprocess.run(_scan_argv(world, str(tmp_path / "s.db"), tmp_path / "o.json", "--distributed"), env=ENV,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "porscan scan: --distributed needs a PostgreSQL store (--db postgresql://...): the workers take their jobs from it"]
    assert not (tmp_path / "s.db").exists()
    # --dry prints what the run would do, so it refuses what the run refuses, with the same line
    dry = subprocess.run(_scan_argv(world, str(tmp_path / "s.db"), tmp_path / "p.json", "--distributed", "--dry"),
                         env=ENV, capture_output=True, text=True, timeout=60)
    assert (dry.returncode, dry.stderr) == (done.returncode, done.stderr)


def test_distributed_needs_a_file_workers_can_read(world, tmp_path):
    import gzip

    packed = tmp_path / "reserves.csv.gz"
    packed.write_bytes(gzip.compress(world.reserves.read_bytes()))
    argv = _scan_argv(world, "postgresql://nobody@127.0.0.1:1/none", tmp_path / "o.json", "--distributed")
    argv[argv.index(str(world.reserves))] = str(packed)
    done = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"porscan scan: --distributed: workers read the input at its path, so give a plain CSV file, not {packed}"]


def test_the_coordinator_waits_for_the_balance_jobs_to_end_before_it_reads_their_notes():
    """A balance job saves what its reads said after its last slice: the coordinator, done as soon as
    every slice was in the store, read the notes before the job saved them, and the report now and
    then lacked the last network's notes (TRON's 'read at the latest state, NOT at snapshot block')."""
    from scanner.pipeline.distributed import JobCounts, QueuedJob
    from scanner.pipeline.distributed.coordinator import _wait
    from scanner.pipeline.scan import NullUI

    class Store:
        async def done_chunks(self, run_id, kind):
            return {"TRX@1#0"}  # every slice saved ...

    class Queue:
        polls = 0

        async def counts(self, run_id, kind):
            self.polls += 1  # ... while the job runs on for two more looks, saving its notes
            return JobCounts(running=1, workers=1) if self.polls <= 2 else JobCounts()

    class Run:
        id = 1

    queue = Queue()
    job = QueuedJob(kind="balances", run_id=1, key="tron", body=b"{}")

    async def go():
        changed = asyncio.Event()
        changed.set()  # no poll interval to wait out in the test
        await _wait(Store(), queue, Run(), "balances", [(job, {"TRX@1#0"})], NullUI(), _Always(changed),
                    settle=True)

    asyncio.run(go())
    assert queue.polls == 3


class _Always:
    """An event that is always set (clear() does nothing): each look follows the last at once."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def clear(self) -> None:
        pass

    async def wait(self) -> bool:
        await asyncio.sleep(0)
        return True
