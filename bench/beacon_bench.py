"""bench/beacon: porscan's beacon adapter reading N validator keys from the FAKE Beacon API (tests/support/fake_beacon.py).

No consensus client can run here, so the stand-in (labelled FAKE, keys are real BLS12-381 G1 points) runs in its
own process with N validators; this process builds the same world, reads it with ``chains.beacon.BeaconAdapter``
at the snapshot execution block (genesis, the head and a few blocks to find the slot, then POST
``states/{slot}/validators`` with ``--max-batch`` keys a request, plus one GET per key the list omits) and checks
every value. On a real node its limits are the endpoint's requests_per_second and max_batch, not this.

Prints: addresses, seconds, addresses/s, HTTP requests, requests per 1,000 addresses, read/expected, check.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chains.beacon import BeaconAdapter  # noqa: E402
from bench.standin import READ_HEADER, announce_and_serve, child, read_line, timed_balances, url_of  # noqa: E402
from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from support.fake_beacon import MAINNET_GENESIS_ROOT, FakeBeacon, beacon_world  # noqa: E402

HEAD = 10_000_000


def make(n: int) -> tuple[FakeBeacon, dict]:
    rng = random.Random(7)
    fake = FakeBeacon(head_slot=HEAD, missed={rng.randrange(HEAD - 3_000_000, HEAD) for _ in range(30_000)})
    return fake, beacon_world(fake, n, snapshot_block=fake.block_number(HEAD) - 2_000_000, seed="bench")


def serve(n: int, fault_rate: float) -> None:
    """Child process: the FAKE Beacon API with ``n`` validators (faults injected when asked) until stdin closes."""
    from support.httpfaults import HttpFaults

    fake, _ = make(n)
    if fault_rate:
        fake.faults = HttpFaults(fault_rate, seed=3, timeout_sleep=1.0)
    with fake.serve() as srv:
        announce_and_serve(srv.url)  # faults come from the FAKE itself (HttpFaults), not a proxy


async def read(url: str, keys: list[str], height: int, concurrency: int, max_batch: int, faulty: bool):
    ep = Endpoint("FAKE-BEACON", url, concurrency=concurrency, max_batch=max_batch, timeout=0.5 if faulty else 30)
    ad = BeaconAdapter("beacon", ep, genesis_validators_root=MAINNET_GENESIS_ROOT, attempts=8, backoff_min=0.01,
                       backoff_max=0.2)
    return await timed_balances(ad, Asset("beacon", "BETH", 18), keys, height)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addresses", type=int, default=5_000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-batch", type=int, default=200, help="validator keys per POST")
    p.add_argument("--fault-rate", type=float, default=0.0, help="faults injected by tests/support/httpfaults.py")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.fault_rate)
    t = time.perf_counter()
    with child(__file__, ["--serve", str(args.addresses), "--fault-rate", str(args.fault_rate)], "the FAKE Beacon API") as line:
        url = url_of(line)
        _, world = make(args.addresses)
        print(f"FAKE Beacon API (stand-in, not a node) with {args.addresses} validators: ready in "
              f"{time.perf_counter() - t:.1f} s; snapshot 2,000,000 blocks back; client concurrency {args.concurrency}, "
              f"max_batch {args.max_batch}" + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        dt, batch = asyncio.run(read(url, world["keys"], world["snapshot"], args.concurrency, args.max_batch,
                                     bool(args.fault_rate)))
        exact = all(r.amount_base_units == world["at"][r.address] for r in batch.results if r.ok)
        labelled = all(r.block.number == world["snapshot"] and r.block.at_snapshot for r in batch.results if r.ok)
        print(READ_HEADER)
        print(read_line("BETH", dt, batch, exact, labelled))


if __name__ == "__main__":
    main()
