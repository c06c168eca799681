"""bench/sui: porscan's Sui adapter reading N addresses from the FAKE Sui JSON-RPC (tests/support/fake_sui.py).

No Sui node can run here, so the stand-in (labelled FAKE; addresses of real Ed25519 keys) runs in its own
process with N addresses holding SUI; this process derives the same addresses and expected values, reads
them with ``chains.sui.SuiAdapter`` (``suix_getBalance`` in JSON-RPC batches of ``--batch`` calls, at the
latest checkpoint: labelled so) and checks every one. Faults (``--fault-rate``) come from the JSON-RPC fault
proxy (tests/support/faultproxy.py) in front of the FAKE.

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

from bench.standin import READ_HEADER, announce_and_serve, child, read_line, timed_balances, url_of  # noqa: E402
from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from chains.sui import SuiAdapter  # noqa: E402
from support.fake_sui import SUI, FakeSui, sui_address_of  # noqa: E402


def expected(i: int) -> int:
    return (i * 7_919_000_003) % 10**13


def serve(n: int, fault_rate: float) -> None:
    """Child process: the FAKE node with ``n`` funded addresses (behind a fault proxy when asked) until stdin closes."""

    fake = FakeSui()
    for i in range(n):
        fake.set_balance(sui_address_of(f"bench/{i}"), SUI, expected(i))
    with fake.serve() as srv:
        announce_and_serve(srv.url, fault_rate)


async def read(url: str, addrs: list[str], concurrency: int, batch_size: int, faulty: bool):
    ep = Endpoint("FAKE-SUI", url, concurrency=concurrency, max_batch=batch_size, timeout=0.5 if faulty else 30)
    ad = SuiAdapter("sui", ep, attempts=8, backoff_min=0.01, backoff_max=0.2)
    return await timed_balances(ad, Asset("sui", "SUI", 9), addrs, None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addresses", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--batch", type=int, default=100, help="suix_getBalance calls per HTTP request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="faults injected by the JSON-RPC fault proxy")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        serve(args.addresses, args.fault_rate)
        return
    t = time.perf_counter()
    with child(__file__, ["--child", "--addresses", str(args.addresses), "--fault-rate", str(args.fault_rate)], "the FAKE Sui node") as line:
        url = url_of(line)
        addrs = [sui_address_of(f"bench/{i}") for i in range(args.addresses)]
        print(f"FAKE Sui JSON-RPC (stand-in, not a node) with {args.addresses} funded addresses: ready in "
              f"{time.perf_counter() - t:.1f} s; client concurrency {args.concurrency}, batches of {args.batch}"
              + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        dt, batch = asyncio.run(read(url, addrs, args.concurrency, args.batch, bool(args.fault_rate)))
        exact = all(r.amount_base_units == expected(i) for i, r in enumerate(batch.results) if r.ok)
        labelled = all(r.block is not None and not r.block.at_snapshot for r in batch.results if r.ok)
        print(READ_HEADER)
        print(read_line("SUI", dt, batch, exact, labelled, "labelled latest"))


if __name__ == "__main__":
    main()
