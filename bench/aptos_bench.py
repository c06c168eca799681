"""bench/aptos: porscan's Aptos adapter reading N addresses from the FAKE Aptos node API (tests/support/fake_aptos.py).

No Aptos node can run here, so the stand-in (labelled FAKE; aptos-sdk addresses, BCS state per ledger
version) runs in its own process with N accounts holding APT in both a coin store and a primary fungible
store, changed after the snapshot; this process derives the same addresses and expected values, reads them
with ``chains.aptos.AptosAdapter`` at the snapshot block and checks every one. The REST API has no batch
call: APT costs two requests per address (CoinStore resource + primary_fungible_store::balance view), an
FA-only asset one; on a real endpoint the configured requests_per_second is the limit, not this.

Prints: addresses, seconds, addresses/s, HTTP requests, requests per 1,000 addresses, read/expected, check.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chains.aptos import AptosAdapter  # noqa: E402
from bench.standin import READ_HEADER, announce_and_serve, child, read_line, timed_balances, url_of  # noqa: E402
from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from support.fake_aptos import FakeAptos, bench_world, expected_bench, seeded_address  # noqa: E402

SEED = "bench"


def serve(n: int, fault_rate: float) -> None:
    """Child process: the FAKE node with ``n`` accounts (faults injected when asked) until stdin closes."""
    fake = FakeAptos(rate=fault_rate, timeout_sleep=1.0)
    snapshot = bench_world(fake, n, SEED)
    with fake.serve() as srv:
        announce_and_serve(f"{srv.url}/v1", prefix=f"snapshot {snapshot} ")  # faults from the FAKE itself


async def read(url: str, addrs: list[str], height: int, concurrency: int, faulty: bool):
    ep = Endpoint("FAKE-APTOS", url, concurrency=concurrency, timeout=0.5 if faulty else 10)
    ad = AptosAdapter("aptos", ep, attempts=8, backoff_min=0.01, backoff_max=0.2)
    return await timed_balances(ad, Asset("aptos", "APT", 8), addrs, height)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addresses", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--fault-rate", type=float, default=0.0, help="faults injected by the FAKE (429/500/timeouts/...)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        serve(args.addresses, args.fault_rate)
        return
    t = time.perf_counter()
    with child(__file__, ["--child", "--addresses", str(args.addresses), "--fault-rate", str(args.fault_rate)], "the FAKE Aptos node") as line:
        height, url = int(line.split()[1]), url_of(line)
        addrs = [str(seeded_address(f"{SEED}/{i}")) for i in range(args.addresses)]
        expected = [sum(expected_bench(i)) for i in range(args.addresses)]
        print(f"FAKE Aptos node API (stand-in, not a node) with {args.addresses} accounts on real Ed25519 keys: "
              f"ready in {time.perf_counter() - t:.1f} s; client concurrency {args.concurrency}"
              + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        dt, batch = asyncio.run(read(url, addrs, height, args.concurrency, bool(args.fault_rate)))
        exact = all(r.amount_base_units == w for r, w in zip(batch.results, expected) if r.ok)
        at = all(r.block is not None and r.block.at_snapshot and r.block.number == height for r in batch.results if r.ok)
        print(READ_HEADER)
        print(read_line("APT", dt, batch, exact, at))


if __name__ == "__main__":
    main()
