"""bench/ingest: porscan verify on a Binance-layout address list (no signatures), plain and gzip.

1. Generates (once, cached in bench/.data/) a list of N rows (1,000,000 by default) in Binance's
   layout ``Coin,Network,Address,Balance,Height,Custodian``: BTC, ETH, USDT and BNB on the BTC,
   ETH, BSC and TRX networks, with well-formed addresses made deterministically from the seed
   (P2PKH / P2SH / bech32 P2WPKH, 0x-hex, TRON base58check), balances with decimals, one
   snapshot height per network and a third-party custodian on ~5 % of the rows; plus a ``.gz``
   copy of the same file.
2. Runs ``porscan verify FILE --no-progress -q`` as a subprocess on each (start-up, gunzip for the
   ``.gz``, parsing, verification: everything) and samples the RSS of its whole process tree.
Prints rows/s and peak RSS per input against the targets (>= 100,000 rows/s, <= 300 MB).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.verify_bench import run_measured

DATA = ROOT / "bench" / ".data"
TARGET_ROWS_PER_S = 100_000
TARGET_RSS_MB = 300

HEADER = "Coin,Network,Address,Balance,Height,Custodian"
# (coin, network, share, decimals shown, largest balance): deposit addresses hold little, a few hold much
MIX = (
    ("USDT", "TRX", 0.30, 6, 50_000),
    ("USDT", "ETH", 0.12, 6, 50_000),
    ("USDT", "BSC", 0.08, 8, 50_000),
    ("ETH", "ETH", 0.15, 8, 40),
    ("ETH", "BSC", 0.03, 8, 40),
    ("BTC", "BTC", 0.20, 8, 2),
    ("BNB", "BSC", 0.12, 8, 300),
)
HEIGHTS = {"BTC": 870000, "ETH": 21000000, "BSC": 45000000, "TRX": 66000000}
CUSTODIANS = ("Ceffu", "Copper", "Cobo", "BitGo")
CUSTODIAN_SHARE = 0.05


def _address(network: str, rnd: random.Random) -> str:
    import base58
    import bech32

    body = rnd.randbytes(20)
    if network in ("ETH", "BSC"):
        return "0x" + body.hex()
    if network == "TRX":
        return base58.b58encode_check(b"\x41" + body).decode()
    kind = rnd.random()  # Bitcoin: legacy, P2SH and native segwit deposit addresses
    if kind < 0.25:
        return base58.b58encode_check(b"\x00" + body).decode()
    if kind < 0.45:
        return base58.b58encode_check(b"\x05" + body).decode()
    return bech32.encode("bc", 0, body)


def generate(path: Path, rows: int, seed: int) -> None:
    """Write the list (deterministic for (rows, seed)) and its .gz copy next to it."""
    rnd = random.Random(seed)
    choices = list(MIX)
    weights = [m[2] for m in MIX]
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="") as fh:
        fh.write(HEADER + "\n")
        buf: list[str] = []
        for _ in range(rows):
            coin, network, _, shown, top = rnd.choices(choices, weights)[0]
            # log-uniform balance: most deposit addresses hold crumbs, a few hold a lot
            units = int(10 ** rnd.uniform(0, shown + len(str(top)) - 1))
            whole, frac = divmod(units, 10**shown)
            balance = f"{whole}.{frac:0{shown}d}".rstrip("0").rstrip(".")
            custodian = rnd.choice(CUSTODIANS) if rnd.random() < CUSTODIAN_SHARE else ""
            buf.append(f"{coin},{network},{_address(network, rnd)},{balance},{HEIGHTS[network]},{custodian}\n")
            if len(buf) >= 10_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    os.replace(tmp, path)
    gz = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(gz.with_name(gz.name + ".part"), "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(gz.with_name(gz.name + ".part"), gz)


def run_porscan(path: Path, workers: int | None) -> dict:
    cmd = [sys.executable, "-m", "scanner", "verify", str(path), "--no-progress", "-q"]
    if workers:
        cmd += ["--workers", str(workers)]
    elapsed, peak_kib, proc = run_measured(cmd, cwd=ROOT)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"porscan verify {path.name} failed ({proc.returncode}): {proc.stderr.strip()}")
    m = re.match(r"(\d+) rows: (.*)", proc.stdout.strip().splitlines()[-1])
    if not m:
        raise SystemExit(f"porscan verify {path.name}: unexpected output {proc.stdout!r}")
    return {"elapsed": elapsed, "rows": int(m.group(1)), "statuses": m.group(2), "peak_mb": peak_kib / 1024,
            "exit": proc.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None, help="porscan's --workers (default: its own, all cores)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per input, alternating plain and .gz; the best (shortest) is reported, "
                         "the peak RSS is the highest of all")
    a = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"binance-list-{a.rows}-s{a.seed}.csv"
    gz = path.with_name(path.name + ".gz")
    if not (path.exists() and gz.exists()):
        print(f"generating {path.name} and its .gz ({a.rows:,} rows) ...", flush=True)
        t = time.perf_counter()
        generate(path, a.rows, a.seed)
        print(f"  generated in {time.perf_counter() - t:.1f} s", flush=True)
    print(f"input: {path.name} {path.stat().st_size / 2**20:.0f} MiB, .gz {gz.stat().st_size / 2**20:.0f} MiB; "
          f"{os.cpu_count()} cores", flush=True)
    # alternating rounds: the machine is a VM whose speed drifts from minute to minute
    runs: dict[str, list[dict]] = {"plain": [], "gzip": []}
    for i in range(a.repeat):
        for kind, p in (("plain", path), ("gzip", gz)):
            r = run_porscan(p, a.workers)
            runs[kind].append(r)
            print(f"  round {i + 1} {kind:5}: {r['rows'] / r['elapsed']:,.0f} rows/s, peak {r['peak_mb']:.0f} MB",
                  flush=True)
    ok = True
    for kind, label in (("plain", path.name), ("gzip", gz.name)):
        best = min(runs[kind], key=lambda r: r["elapsed"])
        peak = max(r["peak_mb"] for r in runs[kind])
        rate = best["rows"] / best["elapsed"]
        met = rate >= TARGET_ROWS_PER_S and peak <= TARGET_RSS_MB
        ok &= met
        print(f"{kind:5} {label}: {best['rows']:,} rows in {best['elapsed']:.2f} s = {rate:,.0f} rows/s; "
              f"peak RSS {peak:.0f} MB (whole process tree, sampled every 50 ms); "
              f"target >= {TARGET_ROWS_PER_S:,} rows/s and <= {TARGET_RSS_MB} MB: {'met' if met else 'NOT met'}")
        print(f"      statuses: {best['statuses']}; exit {best['exit']}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
