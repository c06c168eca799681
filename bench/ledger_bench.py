"""bench/xrp, bench/stellar: porscan's XRP Ledger and Stellar adapters reading N addresses from their FAKE servers.

No rippled or Horizon can run here, so the stand-ins (tests/support/fake_xrpl.py: xrpl-py binary-codec
ledger objects; tests/support/fake_horizon.py: stellar-sdk XDR entries; both labelled FAKE) run in their
own process with N funded accounts and print the expected balances; this process reads them with
``chains.xrp.XrpAdapter`` / ``chains.stellar.StellarAdapter`` at the snapshot ledger and checks every
value and label. Neither API has a batch call: one request per address (plus a few per batch), so on a
real endpoint the configured requests_per_second is the limit, not this.

Prints: addresses, seconds, addresses/s, HTTP requests, requests per 1,000 addresses, rows read /
expected, exact or not, labels right or not. ``--fault-rate`` injects faults (XRP: the FaultProxy of
tests/support in front of the stand-in; Stellar: the stand-in's own faults).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402

FAKES = {"xrp": "tests/support/fake_xrpl.py", "stellar": "tests/support/fake_horizon.py"}


def start_fake(kind: str, n: int, fault_rate: float) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    cmd = [sys.executable, FAKES[kind], "--accounts", str(n)]
    if kind == "stellar" and fault_rate:
        cmd += ["--fault-rate", str(fault_rate)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    try:
        info = json.loads(line)
    except ValueError:
        proc.kill()
        raise SystemExit(f"the FAKE {kind} server did not start: {line[:200]!r}") from None
    return proc, info


async def read(kind: str, url: str, addrs: list[str], height: int, concurrency: int, timeout: float):
    ep = Endpoint(f"FAKE-{kind}", url, concurrency=concurrency, timeout=timeout)
    retry = {"attempts": 10, "backoff_min": 0.01, "backoff_max": 0.2}
    if kind == "xrp":
        from chains.xrp import XrpAdapter

        ad = XrpAdapter("xrp", ep, **retry)
        asset = Asset("xrp", "XRP", 6)
    else:
        from chains.stellar import StellarAdapter

        ad = StellarAdapter("stellar", ep, **retry)
        asset = Asset("stellar", "XLM", 7)
    t = time.perf_counter()
    try:
        batch = await ad.balances(asset, addrs, height)
    finally:
        await ad.close()
    return time.perf_counter() - t, batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=sorted(FAKES), required=True)
    p.add_argument("--addresses", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--fault-rate", type=float, default=0.0)
    args = p.parse_args()
    t = time.perf_counter()
    proc, info = start_fake(args.kind, args.addresses, args.fault_rate)
    proxy = None
    try:
        url, height, expected = info["url"], info["ledger"], info["expected"]
        if args.kind == "xrp" and args.fault_rate:
            from support.faultproxy import FaultProxy

            proxy = FaultProxy(url, rate=args.fault_rate, seed=1, timeout_sleep=3.0).start()
            url = proxy.url
        addrs = list(expected)
        print(f"FAKE {args.kind} server (stand-in, not a node) with {len(addrs)} accounts: ready in "
              f"{time.perf_counter() - t:.1f} s; client concurrency {args.concurrency}"
              + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        dt, batch = asyncio.run(read(args.kind, url, addrs, height, args.concurrency, 2.0 if args.fault_rate else 30.0))
        exact = all(r.amount_base_units == expected[r.address] for r in batch.results if r.ok)
        labelled = all(r.block is not None and r.block.at_snapshot and r.block.number == height
                       for r in batch.results if r.ok)
        print(f"{'kind':<8} {'addresses':>9} {'seconds':>8} {'addr/s':>8} {'requests':>9} {'req/1000':>9} "
              f"{'read/expected':>15}  check")
        print(f"{args.kind:<8} {len(addrs):>9} {dt:>8.1f} {len(addrs) / dt:>8.0f} {batch.requests:>9} "
              f"{1000 * batch.requests / len(addrs):>9.0f} {batch.read:>7}/{batch.expected:<7}  "
              + ("exact" if exact else "WRONG VALUES") + (", at snapshot" if labelled else ", WRONG LABELS")
              + ("" if batch.complete else f", {batch.expected - batch.read} unread (never zeros)"))
    finally:
        if proxy is not None:
            proxy.stop()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
