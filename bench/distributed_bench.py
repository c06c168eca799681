"""bench/distributed: ``porscan scan --distributed`` with 1 and 2 ``porscan worker`` processes, against the
one-process scan of the same inputs.

Two workloads, each on a private PostgreSQL cluster, a fresh database per configuration:

* sample: the sample exchange of scanner/devnet/localworld.py (anvil for ETH/Arbitrum/USDT, Bitcoin
  Knots regtest for BTC when installed; ``--scale`` multiplies its rows), verification and balances;
* okx: the first ``--okx-rows`` rows of an OKX-layout file signed with porscan's keys (bench/gen_okx.py,
  cached in bench/.data), with no endpoint configured: verification only, the part that needs cores.
 Each worker runs one verification process (``--processes 1``): on this 2-core machine
two workers are what two cores give. Printed per configuration: wall time of the coordinator, its stage
seconds (verify, balances, aggregate), jobs done (verification chunks, one per network for balances) and
jobs per second of verify + balances,
and whether the figures equal the one-process scan's.

Requests per endpoint (sample): every anvil endpoint is reached through a counting proxy that forwards
each HTTP request and notes when it came: what a provider counts, whichever worker sent it. Printed per
endpoint label: requests, mean and max per 1-s window (windows from the endpoint's first request to its
last), and the max after the first window (a limit's bucket starts full: a second's worth at once). Then the limits held for the fleet: the endpoints get ``requests_per_second = --rps``, and
``--runs`` runs of the EVM coins are scanned at once (their networks' jobs read the same endpoints at
the same time) by 1 and 2 workers, each with its own limits and with ``--shared-limits``; a JSON-RPC
batch is one request, as the limiter counts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from scanner.devnet.localpg import LocalPostgres  # noqa: E402
from scanner.devnet.localworld import build_local_exchange  # noqa: E402
from support.faultproxy import FaultProxy  # noqa: E402

EVM_COINS = "ETH,ETH-ARBITRUM,USDT-ERC20"  # the coins read on the proxied (anvil) endpoints

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def scan_argv(w: "Workload", db: str, out: Path, chunk: int, slice_rows: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scanner", "scan", str(w.reserves),
            *(["--liabilities", str(w.liabilities)] if w.liabilities else []),
            "--config", str(w.networks), "--coins", str(w.coins), "--db", db, "--exchange", "Sample", "-q",
            "--chunk-bytes", str(chunk), "--slice-rows", str(slice_rows), "--json", str(out), *extra]


async def count(db: str, sql: str) -> int:
    conn = await asyncpg.connect(db)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def assets(report: dict) -> list:
    return report["assets"]


class CountingProxy(FaultProxy):
    """Forwards every request to one endpoint (no faults) and notes when each came."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, rate=0.0)
        self.times: list[float] = []

    async def _handle(self, request):
        self.times.append(time.monotonic())
        return await super()._handle(request)

    def take(self) -> list[float]:
        """The arrival times since the last take (the proxy's thread appends; a swap is atomic)."""
        times, self.times = self.times, []
        return times


def per_second(times: list[float]) -> tuple[int, float, int, int | None]:
    """Requests; their mean and max per 1-s window from the first request to the last; and the max
    after the first window (a token bucket lets a second's worth through at once when it starts full)."""
    if not times:
        return 0, 0.0, 0, None
    windows = Counter(int(t - times[0]) for t in times)
    later = [c for w, c in windows.items() if w > 0]
    return len(times), len(times) / (max(windows) + 1), max(windows.values()), max(later, default=None)


def print_rates(proxies: dict[str, CountingProxy], limit: float | None = None) -> None:
    for label, proxy in proxies.items():
        n, mean, most, later = per_second(sorted(proxy.take()))
        print(f"    {label}: {n} requests, mean {mean:.1f}/s, max {most}/s"
              + (f", max after the first second {later}/s" if later is not None else "")
              + (f" (requests_per_second = {limit:g})" if limit else ""), flush=True)


def proxied(networks: Path, out: Path, proxies: dict[str, CountingProxy], rps: float | None) -> Path:
    """``networks`` with every anvil endpoint behind its proxy (labels kept), limited to ``rps``."""
    def swap(m: re.Match) -> str:
        label = m.group(1)
        proxy = proxies.get(label) or proxies.setdefault(label, CountingProxy(m.group(2)).start())
        limit = f", requests_per_second = {rps:g}" if rps else ""
        return f'label = "{label}", url = "{proxy.url}"{limit}'

    out.write_text(re.sub(r'label = "(local-anvil-[^"]+)", url = "([^"]+)"', swap, networks.read_text()))
    return out


def stop_workers(workers: list[subprocess.Popen], logs) -> None:
    for p in workers:
        os.killpg(p.pid, signal.SIGTERM)
    for p in workers:
        p.wait(timeout=30)
    for log in logs:
        log.close()


def start_workers(db: str, n: int, folder: Path, tag: str, *extra: str):
    logs = [open(folder / f"w-{tag}-{i}.log", "wb") for i in range(n)]
    workers = [subprocess.Popen([sys.executable, "-m", "scanner", "worker", "--db", db, "--processes", "1",
                                 "--jobs", "2", *extra], env=ENV, stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True) for log in logs]
    return workers, logs


def fleet_limits(w: "Workload", pg: LocalPostgres, folder: Path, proxies: dict[str, CountingProxy], args) -> None:
    """``--runs`` runs of the EVM coins at once, by 1 and 2 workers, per-process and shared limits."""
    networks = proxied(w.networks, folder / "limited.toml", proxies, args.rps)
    limited = Workload(w.reserves, networks, w.coins, w.liabilities)
    print(f"\nlimits: requests_per_second = {args.rps:g} on every anvil endpoint; {args.runs} runs of {EVM_COINS} at "
          f"once, slices of {args.limit_slice_rows} rows", flush=True)
    for n in (int(x) for x in args.workers.split(",")):
        for shared in (False, True):
            tag = f"{n}{'s' if shared else ''}"
            db = pg.create_database(f"limits{tag}")
            workers, logs = start_workers(db, n, folder, tag, *(["--shared-limits"] if shared else []))
            try:
                for p in proxies.values():
                    p.take()
                t = time.perf_counter()
                # another exchange name each: the same inputs under one name would resume one run
                coordinators = [subprocess.Popen(
                    scan_argv(limited, db, folder / f"l{tag}-{i}.json", args.chunk_bytes, args.limit_slice_rows,
                              "--distributed", "--coin", EVM_COINS, "--exchange", f"Sample-{i}"),
                    env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(args.runs)]
                errors = [c.communicate()[1] for c in coordinators]
                wall = time.perf_counter() - t
                unread = 0
                for i, err in enumerate(errors):
                    out = folder / f"l{tag}-{i}.json"
                    if not out.exists():
                        print(f"  run {i}: failed: {err[-2000:]}")
                        continue
                    unread += json.loads(out.read_text())["balances"]["by_status"].get("unread", 0)
                print(f"  {n} worker(s), {'shared limits' if shared else 'limits per process'}: {wall:.2f} s, "
                      f"{unread} balance(s) unread", flush=True)
                print_rates(proxies, args.rps)
            finally:
                stop_workers(workers, logs)


@dataclass(frozen=True)
class Workload:
    reserves: Path
    networks: Path
    coins: Path
    liabilities: Path | None = None


def okx_workload(rows: int, folder: Path) -> Workload:
    """The first ``rows`` detail rows of the cached 600k-row OKX file (generated once if missing), and a
    network config with every endpoint removed: rows are verified, none is read on chain."""
    data = ROOT / "bench" / ".data"
    full = data / "okx-600000-s1.csv"
    if not full.exists():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_okx.py"), str(full), "--rows", "600000"], check=True)
    part = folder / f"okx-{rows}.csv"
    with open(full) as src, open(part, "w") as out:
        n, detail = 0, False
        for line in src:
            if detail:
                n += 1
                if n > rows:
                    break
            out.write(line)
            detail = detail or line.startswith("coin,Network")
    networks = folder / "noread.toml"
    networks.write_text("\n".join(
        f'[networks.{nid}]\nkind = "{kind}"\nnative_symbol = "{sym}"\n{extra}endpoints = []\n'
        for nid, kind, sym, extra in (("ethereum", "evm", "ETH", "chain_id = 1\n"),
                                      ("bitcoin", "bitcoin", "BTC", 'coin = "BTC"\nchain = "main"\nnative_decimals = 8\n'),
                                      ("tron", "tron", "TRX", "native_decimals = 6\n"),
                                      ("solana", "solana", "SOL", "native_decimals = 9\n"))))
    return Workload(part, networks, data / "coins.toml")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=["sample", "okx"], default="sample")
    ap.add_argument("--scale", type=int, default=10, help="sample: exchange size (x 30 EVM, 10 BTC, 12 TRON rows)")
    ap.add_argument("--okx-rows", type=int, default=30_000, help="okx: rows verified")
    ap.add_argument("--chunk-bytes", type=int, default=4096)
    ap.add_argument("--slice-rows", type=int, default=10)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--rps", type=float, default=20.0, help="sample: requests_per_second of each anvil endpoint in "
                    "the limits part (0: skip that part)")
    ap.add_argument("--runs", type=int, default=2, help="sample, limits part: runs scanned at once")
    ap.add_argument("--limit-slice-rows", type=int, default=2, help="sample, limits part: rows per read")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="porscan-bench-dist.")
    pg = LocalPostgres.start()
    world = None
    proxies: dict[str, CountingProxy] = {}  # by endpoint label
    if args.workload == "sample":
        world = build_local_exchange(Path(tmp.name) / "world", seed=5, scale=args.scale, litecoin=False, tron_solana=False)
        w = Workload(world.reserves, proxied(world.networks, Path(tmp.name) / "proxied.toml", proxies, None),
                     world.coins, world.liabilities)
    else:
        w = okx_workload(args.okx_rows, Path(tmp.name))
    try:
        size = w.reserves.stat().st_size
        print(f"{args.workload} x{args.scale if world else args.okx_rows}: {size:,} bytes; chunks of {args.chunk_bytes} B, "
              f"slices of {args.slice_rows} rows")
        out = Path(tmp.name) / "single.json"
        t = time.perf_counter()
        subprocess.run(scan_argv(w, pg.create_database("single"), out, args.chunk_bytes, args.slice_rows), env=ENV,
                       capture_output=True, check=False)
        single = json.loads(out.read_text())
        st = single["run"]["stage_seconds"]
        print(f"{'configuration':<16}{'wall s':>8}{'verify s':>10}{'balances s':>12}{'aggregate s':>13}{'jobs':>6}"
              f"{'jobs/s':>8}  same figures")
        print(f"{'one process':<16}{time.perf_counter() - t:>8.2f}{st['verify']:>10.2f}{st['balances']:>12.2f}"
              f"{st['aggregate']:>13.2f}{'':>6}{'':>8}  -", flush=True)
        print_rates(proxies)
        for n in (int(x) for x in args.workers.split(",")):
            db = pg.create_database(f"dist{n}")
            workers, logs = start_workers(db, n, Path(tmp.name), str(n))
            try:
                out = Path(tmp.name) / f"dist{n}.json"
                t = time.perf_counter()
                done = subprocess.run(scan_argv(w, db, out, args.chunk_bytes, args.slice_rows, "--distributed"),
                                      env=ENV, capture_output=True, text=True, check=False)
                wall = time.perf_counter() - t
                if not out.exists():
                    print(f"{n} worker(s): failed: {done.stderr[-2000:]}")
                    continue
                report = json.loads(out.read_text())
                st = report["run"]["stage_seconds"]
                jobs = asyncio.run(count(db, "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'"))
                busy = st["verify"] + st["balances"]
                print(f"{f'{n} worker(s)':<16}{wall:>8.2f}{st['verify']:>10.2f}{st['balances']:>12.2f}"
                      f"{st['aggregate']:>13.2f}{jobs:>6}{jobs / busy:>8.1f}  "
                      f"{'yes' if assets(report) == assets(single) else 'NO'}", flush=True)
                print_rates(proxies)
            finally:
                stop_workers(workers, logs)
        if proxies and args.rps:
            fleet_limits(w, pg, Path(tmp.name), proxies, args)
    finally:
        for proxy in proxies.values():
            proxy.stop()
        if world is not None:
            world.stop()
        pg.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
