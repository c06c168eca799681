"""bench/tron: porscan's TRON adapter reading N addresses from the FAKE TRON HTTP API.

No TRON node can run here, so the stand-in (scanner/devnet/fake_tron_solana.py, labelled FAKE) runs in
its own process with N accounts on real tronpy keys; this process derives the same addresses and expected
balances, reads them with ``chains.tron.TronAdapter`` and checks every value. The TRON HTTP API has no
batch call: one request per address, so the figures are requests/s as much as addresses/s, and on a
real endpoint the configured requests_per_second (TronGrid: ~12/s per key) is the limit, not this.

Prints, per mode: addresses, seconds, addresses/s, HTTP requests, rows read / expected, exact or not.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chains.jsonrpc import Endpoint  # noqa: E402
from chains.protocol import Asset  # noqa: E402
from chains.tron import TronAdapter  # noqa: E402
from scanner.devnet.fake_tron_solana import expected_generated, tron_address_of  # noqa: E402

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def start_fake(n: int, seed: str, fault_rate: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "scanner.devnet.fake_tron_solana", "tron", "--accounts", str(n),
                             "--seed", seed, "--fault-rate", str(fault_rate)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the FAKE TRON server did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


async def run_mode(url: str, mode: str, addrs: list[str], expected: list[int], concurrency: int, height: int | None):
    ep = Endpoint("FAKE-TRON", url, concurrency=concurrency, timeout=1.5)
    ad = TronAdapter("tron", ep, {"balance_history": mode == "history"}, attempts=8, backoff_min=0.01, backoff_max=0.2)
    asset = Asset("tron", "USDT", 6, USDT) if mode == "trc20" else Asset("tron", "TRX", 6)
    t = time.perf_counter()
    try:
        batch = await ad.balances(asset, addrs, height if mode == "history" else None)
    finally:
        await ad.close()
    dt = time.perf_counter() - t
    want = [v // 7 for v in expected] if mode == "trc20" else expected
    exact = all(r.amount_base_units == w for r, w in zip(batch.results, want) if r.ok)
    labelled = all(r.block.at_snapshot == (mode == "history") for r in batch.results if r.ok)
    return dt, batch, exact, labelled


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addresses", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=48)
    p.add_argument("--modes", default="latest,history,trc20")
    p.add_argument("--fault-rate", type=float, default=0.0, help="faults injected by the FAKE (429/500/timeouts/...)")
    args = p.parse_args()
    seed = "bench"
    t = time.perf_counter()
    proc, url = start_fake(args.addresses, seed, args.fault_rate)
    try:
        addrs, expected = [], []
        for i in range(args.addresses):
            addrs.append(tron_address_of(f"{seed}/{i}")[0])
            expected.append(expected_generated(i))
        print(f"FAKE TRON HTTP API (stand-in, not a node) with {args.addresses} accounts on real keys: "
              f"ready in {time.perf_counter() - t:.1f} s; client concurrency {args.concurrency}"
              + (f"; fault rate {args.fault_rate:.0%}" if args.fault_rate else ""))
        print(f"{'mode':<8} {'addresses':>9} {'seconds':>8} {'addr/s':>8} {'requests':>9} {'read/expected':>15}  check")
        for mode in args.modes.split(","):
            height = None
            if mode == "history":
                import json
                import urllib.request

                with urllib.request.urlopen(urllib.request.Request(url + "/wallet/getnowblock", b"{}", method="POST")) as r:
                    height = json.loads(r.read())["block_header"]["raw_data"]["number"]
            dt, batch, exact, labelled = asyncio.run(run_mode(url, mode, addrs, expected, args.concurrency, height))
            check = ("exact" if exact else "WRONG VALUES") + (", labels ok" if labelled else ", WRONG LABELS")
            print(f"{mode:<8} {len(addrs):>9} {dt:>8.1f} {len(addrs) / dt:>8.0f} {batch.requests:>9} "
                  f"{batch.read:>7}/{batch.expected:<7}  {check}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
