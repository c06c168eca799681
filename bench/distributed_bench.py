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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.devnet.localpg import LocalPostgres  # noqa: E402
from scanner.devnet.localworld import build_local_exchange  # noqa: E402

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
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="porscan-bench-dist.")
    pg = LocalPostgres.start()
    world = None
    if args.workload == "sample":
        world = build_local_exchange(Path(tmp.name) / "world", seed=5, scale=args.scale, litecoin=False, tron_solana=False)
        w = Workload(world.reserves, world.networks, world.coins, world.liabilities)
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
        for n in (int(x) for x in args.workers.split(",")):
            db = pg.create_database(f"dist{n}")
            logs = [open(Path(tmp.name) / f"w{n}-{i}.log", "wb") for i in range(n)]
            workers = [subprocess.Popen([sys.executable, "-m", "scanner", "worker", "--db", db, "--processes", "1",
                                         "--jobs", "2"], env=ENV, stdout=subprocess.DEVNULL, stderr=log,
                                        start_new_session=True) for log in logs]
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
            finally:
                for p in workers:
                    os.killpg(p.pid, signal.SIGTERM)
                for p in workers:
                    p.wait(timeout=30)
                for log in logs:
                    log.close()
    finally:
        if world is not None:
            world.stop()
        pg.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
