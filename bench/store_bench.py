"""bench/store: bulk writes and reads of a run's rows and balances, SQLite and PostgreSQL.

For each backend and chunk size, a fresh database gets N RowRecords and N BalanceRecords (600k
each by default; OKX-like addresses, reasons, 18-decimal amounts), written chunk by chunk through
``save_rows`` / ``save_balances`` (checkpoint + COPY / executemany per chunk), then read back in
line order with ``iter_rows`` / ``iter_balances``. Each configuration runs in its own process so its
peak RSS is its own. PostgreSQL is a private cluster (scanner.devnet.localpg, fsync off), so the
figures are the client and server CPU cost, not disk flushes. Prints records/s and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.storage import BalanceRecord, RowRecord, RunSpec, open_store  # noqa: E402
from scanner.devnet.localpg import LocalPostgres  # noqa: E402

STATUSES = ("verified",) * 17 + ("owner_only", "failed", "invalid_row")


def make_rows(lo: int, hi: int) -> list[RowRecord]:
    return [RowRecord(i, "USDT-ERC20", "ETH", f"0x{i * 7919:040x}", 19_000_000, f"{i}.123456", i * 10**6 + 123456,
                      STATUSES[i % 20], "eip191", "" if i % 20 < 17 else "signature does not recover the address")
            for i in range(lo, hi)]


def make_balances(lo: int, hi: int) -> list[BalanceRecord]:
    block_hash = "0x" + "9f" * 32
    return [BalanceRecord(i, "USDT-ERC20", "ETH", "USDT", f"0x{i * 7919:040x}", 19_000_000, i * 10**6 + 123456,
                          i * 10**6 + 123456 + (i % 50 == 0), 6, 19_000_000, block_hash, True,
                          "mismatch" if i % 50 == 0 else "match", "", "anvil")
            for i in range(lo, hi)]


async def one(url: str, n: int, chunk: int) -> dict:
    store = await open_store(url)
    try:
        run = await store.start_run(RunSpec("bench", "bench.csv", "0" * 64, None, None, {"chunk": chunk}, "bench",
                                            "2024-05-01"))
        out = {}
        for stage, make, save in (("rows", make_rows, store.save_rows), ("balances", make_balances,
                                                                          store.save_balances)):
            spent = 0.0
            for lo in range(0, n, chunk):
                records = make(lo, min(lo + chunk, n))
                t = time.perf_counter()
                await save(run.id, str(lo), records)
                spent += time.perf_counter() - t
            out[f"write_{stage}_per_s"] = n / spent
        for stage, it in (("rows", store.iter_rows), ("balances", store.iter_balances)):
            t, seen = time.perf_counter(), 0
            async for batch in it(run.id):
                seen += len(batch)
            assert seen == n, (stage, seen, n)
            out[f"read_{stage}_per_s"] = n / (time.perf_counter() - t)
        counts = await store.count_rows(run.id)
        assert sum(counts.values()) == n and len(await store.done_chunks(run.id, "balances")) == -(-n // chunk)
        if store.backend == "postgresql":
            out["db_bytes"] = int((await store._fetch("SELECT pg_database_size(current_database())"))[0][0])
        await store.finish_run(run.id, "done", {})
    finally:
        await store.close()
    if url.startswith("sqlite"):
        db = Path(url.removeprefix("sqlite:///"))
        out["db_bytes"] = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--chunks", default="5000,50000", help="chunk sizes, comma-separated")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--one", nargs=2, metavar=("URL", "CHUNK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one(args.one[0], args.rows, int(args.one[1])))))
        return
    backends = args.backends.split(",")
    pg = LocalPostgres.start_for(backends)
    tmp = tempfile.TemporaryDirectory(prefix="porscan-bench-store.")
    print(f"{args.rows:,} RowRecords + {args.rows:,} BalanceRecords per configuration (one process each)")
    print(f"{'backend':<11}{'chunk':>7}{'write rows/s':>14}{'write bal/s':>13}{'read rows/s':>13}{'read bal/s':>12}"
          f"{'db MB':>8}{'peak RSS MB':>13}")
    try:
        for backend in backends:
            for i, chunk in enumerate(int(c) for c in args.chunks.split(",")):
                if backend == "sqlite":
                    url = f"sqlite:///{tmp.name}/c{i}/bench.db"
                else:
                    url = pg.create_database(f"bench_{i}")
                proc = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--one", url, str(chunk)],
                                      capture_output=True, text=True, env=os.environ)
                if proc.returncode != 0:
                    print(f"{backend:<11}{chunk:>7}  failed:\n{proc.stderr[-3000:]}")
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{backend:<11}{chunk:>7}{r['write_rows_per_s']:>14,.0f}{r['write_balances_per_s']:>13,.0f}"
                      f"{r['read_rows_per_s']:>13,.0f}{r['read_balances_per_s']:>12,.0f}{r['db_bytes'] / 2**20:>8,.0f}"
                      f"{r['peak_rss_mb']:>13,.0f}", flush=True)
    finally:
        tmp.cleanup()
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
