"""bench/filecoin: porscan's Filecoin adapter reading N addresses from the FAKE Lotus (tests/support/fake_lotus.py).

No Lotus node can run here, so the stand-in (labelled FAKE, addresses from the filecoin-address package) runs
in its own process with N holders (f0/f1/f2/f3); this process builds the same world, reads it with
``chains.filecoin.FilecoinAdapter`` at the snapshot height (one ChainGetTipSetByHeight, then StateGetActor in
JSON-RPC batches of ``--max-batch``) and checks every value. On a real endpoint its requests_per_second and
max_batch are the limits, not this.

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

from chains.filecoin import FilecoinAdapter  # noqa: E402
from bench.standin import READ_HEADER, announce_and_serve, child, read_line, timed_balances, url_of  # noqa: E402
from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from support.fake_lotus import FakeLotus, filecoin_world  # noqa: E402


def serve(n: int, fault_rate: float) -> None:
    """Child process: the FAKE Lotus with ``n`` holders (behind a fault proxy when asked) until stdin closes."""

    fake = FakeLotus()
    filecoin_world(fake, n, seed="bench")
    with fake.serve() as srv:
        announce_and_serve(srv.url + "/rpc/v1", fault_rate)


async def read(url: str, holders: list[str], height: int, concurrency: int, max_batch: int, faulty: bool):
    ep = Endpoint("FAKE-LOTUS", url, concurrency=concurrency, max_batch=max_batch, timeout=0.5 if faulty else 30)
    ad = FilecoinAdapter("filecoin", ep, attempts=8, backoff_min=0.01, backoff_max=0.2)
    return await timed_balances(ad, Asset("filecoin", "FIL", 18), holders, height)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addresses", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-batch", type=int, default=100, help="StateGetActor calls per HTTP request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="faults injected by tests/support/faultproxy.py")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.fault_rate)
    t = time.perf_counter()
    with child(__file__, ["--serve", str(args.addresses), "--fault-rate",
                             str(args.fault_rate)], "the FAKE Lotus") as line:
        url = url_of(line)
        world = filecoin_world(FakeLotus(), args.addresses, seed="bench")
        print(f"FAKE Lotus (stand-in, not a node) with {args.addresses} holders: ready in {time.perf_counter() - t:.1f} s; "
              f"client concurrency {args.concurrency}, max_batch {args.max_batch}"
              + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        dt, batch = asyncio.run(read(url, world["holders"], world["snapshot"], args.concurrency, args.max_batch,
                                     bool(args.fault_rate)))
        exact = all(r.amount_base_units == world["at"][r.address] for r in batch.results if r.ok)
        labelled = all(r.block.number == world["snapshot"] and r.block.at_snapshot for r in batch.results if r.ok)
        print(READ_HEADER)
        print(read_line("FIL", dt, batch, exact, labelled))


if __name__ == "__main__":
    main()
