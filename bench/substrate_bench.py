"""bench/substrate: porscan's Substrate adapter reading N addresses at a snapshot block from chopsticks.

chopsticks (tests/support/substrate_world.py) runs the Rococo Asset Hub runtime offline from its shipped
chain spec; N accounts get native balances (and USDT, asset 1984) through the runtime's metadata, every
tenth a staking ledger; the snapshot block is sealed and the balances then changed on later blocks, so a
read that is not at the snapshot's hash would be wrong. Each mode reads all N at the snapshot and checks
every value.

Prints, per mode: addresses, seconds, addresses/s, HTTP requests, requests per 1,000 addresses,
rows read / expected, exact or not.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from chains.substrate import SubstrateAdapter  # noqa: E402
from support.faultproxy import FaultProxy  # noqa: E402
from support.substrate_world import USDT_ID, Chopsticks, account, address  # noqa: E402

NET = "bench-asset-hub"


async def read(url: str, asset: Asset, addrs: list[str], height: int, staking: bool, args) -> tuple[float, object]:
    ep = Endpoint("chopsticks", url, concurrency=args.concurrency, max_batch=args.max_batch,
                  timeout=5 if args.fault_rate else 60)
    ad = SubstrateAdapter(NET, ep, ss58_prefix=2, staking=staking, keys_per_call=args.keys_per_call,
                          attempts=12, backoff_min=0.01, backoff_max=0.2)
    t = time.perf_counter()
    try:
        batch = await ad.balances(asset, addrs, height)
    finally:
        await ad.close()
    return time.perf_counter() - t, batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addresses", type=int, default=10_000)
    p.add_argument("--keys-per-call", type=int, default=200)
    p.add_argument("--max-batch", type=int, default=20, help="state_queryStorageAt calls per HTTP request")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--fault-rate", type=float, default=0.0, help="faults injected by tests/support/faultproxy.py")
    args = p.parse_args()
    t = time.perf_counter()
    node = Chopsticks.start()
    try:
        started = time.perf_counter() - t
        accts = [account(i, "bench") for i in range(args.addresses)]
        native = {a: (10**12 + i, i % 7) for i, a in enumerate(accts)}
        usdt = {a: 1_000_000 + i for i, a in enumerate(accts) if i % 2 == 0}
        t = time.perf_counter()
        node.set_native(native)
        node.set_asset(USDT_ID, usdt)
        for a in accts[::10]:
            node.set_staking(a, 10**11, [(1, 9)])
        snapshot = node.new_block()
        node.new_block()
        node.set_native({a: (1, 0) for a in accts[: args.addresses // 2]})
        node.new_block()
        print(f"chopsticks 1.5.1 (real Asset Hub runtime, offline) ready in {started:.1f} s; {args.addresses} accounts "
              f"written in {time.perf_counter() - t:.1f} s; snapshot block {snapshot}, balances changed after it; "
              f"{args.keys_per_call} keys per call, {args.max_batch} calls per request, concurrency {args.concurrency}"
              + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        addrs = [address(a) for a in accts]
        modes = [("native+staking", Asset(NET, "KSM", 12), True, [f + r for f, r in native.values()]),
                 ("native", Asset(NET, "KSM", 12), False, [f + r for f, r in native.values()]),
                 ("usdt-1984", Asset(NET, "USDT", 6, str(USDT_ID)), False, [usdt.get(a, 0) for a in accts])]
        print(f"{'mode':<15} {'addresses':>9} {'seconds':>8} {'addr/s':>8} {'requests':>9} {'req/1k':>7} "
              f"{'read/expected':>15}  check")
        proxy = FaultProxy(node.url, rate=args.fault_rate, seed=5, timeout_sleep=6).start() if args.fault_rate else None
        url = proxy.url if proxy else node.url
        try:
            for name, asset, staking, want in modes:
                dt, batch = asyncio.run(read(url, asset, addrs, snapshot, staking, args))
                exact = all(r.amount_base_units == w for r, w in zip(batch.results, want) if r.ok)
                at = all(r.block.at_snapshot and r.block.number == snapshot for r in batch.results if r.ok)
                check = ("exact" if exact else "WRONG VALUES") + (", at snapshot" if at else ", WRONG BLOCK")
                print(f"{name:<15} {len(addrs):>9} {dt:>8.2f} {len(addrs) / dt:>8.0f} {batch.requests:>9} "
                      f"{1000 * batch.requests / len(addrs):>7.1f} {batch.read:>7}/{batch.expected:<7}  {check}")
        finally:
            if proxy:
                print(f"faults injected: {dict(proxy.injected)}")
                proxy.stop()
    finally:
        node.stop()


if __name__ == "__main__":
    main()
