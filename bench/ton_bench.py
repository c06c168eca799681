"""bench/ton: porscan's TON adapter reading N owners from the FAKE toncenter (tests/support/fake_ton.py).

No TON liteserver can run here, so the stand-in (labelled FAKE, cells built with pytoniq-core) runs in its
own process with N owners' Toncoin and USDT histories; this process builds the same world, reads it with
``chains.ton.TonAdapter`` at the snapshot seqno and checks every value. TON's HTTP API has no batch call:
Toncoin costs one request per owner, a jetton two (wallet address, wallet data) plus one for each wallet
not deployed at the snapshot. On a real endpoint the configured requests_per_second is the limit, not this.

Prints, per asset: owners, seconds, owners/s, HTTP requests, requests per 1,000 owners, read/expected, check.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.standin import READ_HEADER, announce_and_serve, child, read_line, timed_balances, url_of  # noqa: E402
from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from chains.ton import TonAdapter  # noqa: E402
from support.fake_ton import FakeToncenter, ton_world  # noqa: E402


def serve(n: int, fault_rate: float) -> None:
    """Child process: the FAKE toncenter with ``n`` owners (behind a fault proxy when asked) until stdin closes."""

    fake = FakeToncenter()
    ton_world(fake, n, seed="bench")
    with fake.serve() as srv:
        announce_and_serve(srv.url + "/api/v2/jsonRPC", fault_rate)


async def read(url: str, asset: Asset, owners: list[str], height: int, concurrency: int, faulty: bool):
    ep = Endpoint("FAKE-TON", url, concurrency=concurrency, timeout=0.5 if faulty else 10)
    ad = TonAdapter("ton", ep, attempts=8, backoff_min=0.01, backoff_max=0.2)
    return await timed_balances(ad, asset, owners, height)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--owners", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--fault-rate", type=float, default=0.0, help="faults injected by tests/support/faultproxy.py")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.fault_rate)
    t = time.perf_counter()
    with child(__file__, ["--serve", str(args.owners), "--fault-rate", str(args.fault_rate)], "the FAKE toncenter") as line:
        url = url_of(line)
        world = ton_world(FakeToncenter(), args.owners, seed="bench")
        print(f"FAKE toncenter (stand-in, not a liteserver) with {args.owners} owners: ready in "
              f"{time.perf_counter() - t:.1f} s; client concurrency {args.concurrency}"
              + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        print(READ_HEADER)
        for asset, truth in ((Asset("ton", "TON", 9), world["ton_at"]),
                             (Asset("ton", "USDT", 6, world["master"]), world["usdt_at"])):
            dt, batch = asyncio.run(read(url, asset, world["owners"], world["snapshot"], args.concurrency,
                                         bool(args.fault_rate)))
            exact = all(r.amount_base_units == truth[r.address] for r in batch.results if r.ok)
            labelled = all(r.block.number == world["snapshot"] and r.block.at_snapshot for r in batch.results if r.ok)
            print(read_line(asset.symbol, dt, batch, exact, labelled))


if __name__ == "__main__":
    main()
