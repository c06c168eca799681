"""Endpoint limits held by a fleet: several real processes share one endpoint's rate and concurrency
through PostgreSQL (scanner.pipeline.fleet_limits), measured at a loopback server that counts what it
gets; a SIGKILLed process's slots come back when its lease runs out."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import asyncpg
import pytest
from aiohttp import web

from chains.jsonrpc import Endpoint, JsonRpcClient
from chains.limits import LimitSpec, set_limiter_factory
from scanner.devnet.loopthread import ServedApp
from scanner.errors import UsageError
from scanner.pipeline.fleet_limits import FleetLimits
from support.common import ROOT

# one fleet member: N concurrent calls through the fleet's limits, then a line saying so
WORKER = """
import asyncio, sys
from chains.jsonrpc import Endpoint, JsonRpcClient
from chains.limits import set_limiter_factory
from scanner.pipeline.fleet_limits import FleetLimits

dsn, url, rps, conc, n, lease, method = sys.argv[1:8]
fleet = FleetLimits(dsn, lease=float(lease))
set_limiter_factory(fleet)

async def main():
    ep = Endpoint(label="shared", network="testnet", url=url,
                  requests_per_second=float(rps) if rps != "-" else None, concurrency=int(conc))
    client = JsonRpcClient(ep, attempts=1)
    print("ready", flush=True)
    results = await asyncio.gather(*(client.call(method, [i]) for i in range(int(n))))
    await client.close()
    await fleet.aclose()
    print("done", len(results), flush=True)

asyncio.run(main())
"""


class Counter:
    """A JSON-RPC server that notes when each request arrives and how many are in flight."""

    def __init__(self, hold: float):
        self.hold = hold
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/", self.handle)
        self.served = ServedApp(app)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(8 if body[0]["method"] == "hang" else self.hold)  # "hang": past the lease
        finally:
            with self.lock:
                self.in_flight -= 1
        return web.json_response([{"jsonrpc": "2.0", "id": c["id"], "result": c["params"][0]} for c in body])


def _fleet(tmp_path, dsn: str, url: str, *, procs: int, rps: float | None, conc: int, n: int,
           lease: float = 5.0, method: str = "echo") -> list[subprocess.Popen]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [dsn, url, "-" if rps is None else str(rps), str(conc), str(n), str(lease), method]
    return [subprocess.Popen([sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(procs)]


def _finish(workers: list[subprocess.Popen], timeout: float = 120) -> None:
    for w in workers:
        out, err = w.communicate(timeout=timeout)
        assert w.returncode == 0, err[-2000:]
        assert out.splitlines()[-1].startswith("done"), out


def test_fleet_rate_stays_within_the_endpoints_requests_per_second(tmp_path, postgres_db):
    rps, procs, n = 10.0, 3, 20  # three processes, each alone allowed 10/s: 30/s without shared limits
    counter_obj = Counter(hold=0.0)
    with counter_obj.served as srv:
        _finish(_fleet(tmp_path, postgres_db, srv.url, procs=procs, rps=rps, conc=8, n=n))
    arrivals = sorted(counter_obj.arrivals)
    assert len(arrivals) == procs * n
    # a token bucket of one second's capacity (rps tokens) allows that burst, then rps a second; a
    # process may hold a few tokens it took for its waiting requests (at most a quarter of the bucket
    # each, used within a second): tolerance = one bucket + one block per process
    tolerance = rps + procs * max(1, int(rps / 4))
    for window in (1.0, 2.0):
        most = max(sum(1 for t in arrivals if a <= t < a + window) for a in arrivals)
        assert most <= rps * window + tolerance, (window, most)
    span = arrivals[-1] - arrivals[0]
    assert span >= (len(arrivals) - tolerance) / rps * 0.9, span  # 30/s would take ~1.7 s, 10/s ~4.5 s


def test_fleet_in_flight_never_exceeds_concurrency(tmp_path, postgres_db):
    counter = Counter(hold=0.05)
    with counter.served as srv:
        _finish(_fleet(tmp_path, postgres_db, srv.url, procs=3, rps=None, conc=3, n=15))
    assert len(counter.arrivals) == 45
    assert counter.max_in_flight == 3  # reached, never passed (each process alone would allow 3)


def test_a_killed_processes_slots_come_back_after_the_lease(tmp_path, postgres_db):
    lease = 2.0
    counter = Counter(hold=0.0)
    with counter.served as srv:
        (victim,) = _fleet(tmp_path, postgres_db, srv.url, procs=1, rps=None, conc=2, n=2, lease=lease, method="hang")
        try:
            deadline = time.monotonic() + 60
            while counter.in_flight < 2:  # both fleet slots held by requests that never end
                assert time.monotonic() < deadline and victim.poll() is None, victim.stderr
                time.sleep(0.05)
            time.sleep(lease)  # the victim has renewed its leases at least once
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            killed = time.monotonic()
        finally:
            if victim.poll() is None:
                victim.kill()
                victim.wait(10)

        async def one_call() -> float:
            fleet = FleetLimits(postgres_db, lease=lease)
            set_limiter_factory(fleet)
            try:
                ep = Endpoint(label="shared", network="testnet", url=srv.url, concurrency=2)
                client = JsonRpcClient(ep, attempts=1)
                held = await _holders(postgres_db)
                assert len(held) == 2 and all(f":{victim.pid}:" in h for h in held)  # still the dead one's
                assert await client.call("echo", [7]) == 7
                await client.close()
                return time.monotonic()
            finally:
                set_limiter_factory(None)
                await fleet.aclose()

        served = asyncio.run(one_call())
    waited = served - killed
    # the dead process renewed every lease/3: its slots come back between 2/3 and 1 lease after the kill
    assert lease * 0.5 <= waited <= lease + 3.0, waited


async def _holders(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT holder FROM porscan_limit_slots WHERE key = 'testnet/shared' "
                                "AND holder IS NOT NULL AND expires_at > clock_timestamp()")
        return [r["holder"] for r in rows]
    finally:
        await conn.close()


def test_the_limit_key_is_the_network_and_label_never_the_url(postgres_db):
    async def go() -> list[str]:
        fleet = FleetLimits(postgres_db, lease=5)
        limiter = fleet(LimitSpec(key=Endpoint("alchemy", "https://x/v2/SECRETKEY", network="eth").limit_key,
                                  requests_per_second=5, concurrency=1))
        slot = await limiter.acquire()
        await limiter.release(slot)
        await fleet.aclose()
        conn = await asyncpg.connect(postgres_db)
        try:
            rows = await conn.fetch("SELECT key FROM porscan_limit_buckets UNION SELECT key FROM porscan_limit_slots")
            return [r["key"] for r in rows]
        finally:
            await conn.close()

    assert asyncio.run(go()) == ["eth/alchemy"]


def test_shared_limits_need_postgresql(tmp_path):
    with pytest.raises(UsageError, match="PostgreSQL"):
        FleetLimits(f"sqlite:///{tmp_path}/x.db")


def test_a_living_process_holds_no_slot_once_its_requests_are_done(postgres_db):
    """Slots passed between one process's requests go back to the fleet when none is waiting, so an
    idle worker does not keep the fleet's concurrency."""
    counter = Counter(hold=0.02)

    async def go() -> tuple[list[str], list[str]]:
        fleet = FleetLimits(postgres_db, lease=30)
        set_limiter_factory(fleet)
        try:
            client = JsonRpcClient(Endpoint(label="shared", network="testnet", url=srv.url, concurrency=2), attempts=1)
            calls = [asyncio.ensure_future(client.call("echo", [i])) for i in range(30)]
            while counter.in_flight < 2:  # both slots taken (after the pool and tables are set up)
                await asyncio.sleep(0.005)
            during = await _holders(postgres_db)
            assert sorted(await asyncio.gather(*calls)) == list(range(30))
            await client.close()
            deadline = time.monotonic() + 1.0  # a poller's last round trip may still hand its slot back
            while (after := await _holders(postgres_db)) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return during, after  # before aclose: the process lives on
        finally:
            set_limiter_factory(None)
            await fleet.aclose()

    with counter.served as srv:
        during, after = asyncio.run(go())
    assert len(during) == 2 and after == []
    assert counter.max_in_flight == 2
