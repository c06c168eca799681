"""Generate a large OKX-layout (11-column) reserve file signed with porscan's own keys.

Mix (by default): 60 % EVM EOAs, 20 % BTC 2-of-3 P2WSH, 15 % TRON, 5 % SOL; every row valid.
Deterministic for a given (rows, seed); signing is spread over all cores.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.devnet import samplegen as g  # noqa: E402
from scanner.amounts import fmt, from_base_units  # noqa: E402

MIX = (("evm", 0.60), ("btc", 0.20), ("tron", 0.15), ("sol", 0.05))
HEIGHTS = {"ETH": 21000000, "BTC": 870000, "USDT-TRC20": 66000000, "SOL": 300000000}
# --local: heights the local chains of bench/scan are brought to (anvil, Knots regtest, the TRON and
# Solana stand-ins), and BTC amounts small enough for a regtest wallet to fund 120k addresses
LOCAL_HEIGHTS = {"ETH": 100, "BTC": 1000, "USDT-TRC20": 5000, "SOL": 5000}
LOCAL_BTC_MAX_SATS = 5_000_000
BTC_KEY_POOL = 300


def _kinds(rows: int, seed: int) -> list[str]:
    kinds = []
    for name, share in MIX:
        kinds += [name] * round(rows * share)
    kinds = (kinds + ["evm"] * rows)[:rows]
    random.Random(seed).shuffle(kinds)
    return kinds


def _make(args: tuple[int, int, list[str], bool]) -> list[str]:
    start, seed, kinds, local = args
    heights = LOCAL_HEIGHTS if local else HEIGHTS
    rng = random.Random(seed * 1_000_003 + start)
    pool = [g.seeded_key(i, f"btc-pool-{seed}") for i in range(BTC_KEY_POOL)]
    sigcache: dict[bytes, str] = {}
    out = []
    for i, kind in enumerate(kinds, start):
        secret = g.seeded_key(i, f"bench-{seed}")
        if kind == "evm":
            addr, sig = g.evm_sign_okx_fast(secret)
            row = g.SampleRow("ETH", "ETH", addr, g.random_amount(rng, 18), signature1=sig)
        elif kind == "tron":
            addr, sig = g.tron_sign_fast(secret)
            row = g.SampleRow("USDT-TRC20", "TRON", addr, g.random_amount(rng, 6), signature1=sig)
        elif kind == "btc":
            keys = rng.sample(pool, 3)
            signers = tuple(sorted(rng.sample(range(3), 2)))
            addr, s1, s2, script = g.p2wsh_multisig(keys, signers, signatures=sigcache)
            amount = (fmt(from_base_units(rng.randrange(1000, LOCAL_BTC_MAX_SATS), 8)) if local
                      else g.random_amount(rng, 8))
            row = g.SampleRow("BTC", "BTC", addr, amount, signature1=s1, signature2=s2, script=script)
        else:
            addr, sig, pub = g.sol_sign(secret)
            row = g.SampleRow("SOL", "SOL", addr, g.random_amount(rng, 9), signature1=sig, script=pub)
        out.append(g.okx11_line(row, heights[row.coin]))
    return out


def generate(path: Path, rows: int, seed: int = 1, workers: int | None = None, local: bool = False) -> None:
    kinds = _kinds(rows, seed)
    step = 5000
    heights = LOCAL_HEIGHTS if local else HEIGHTS
    tasks = [(s, seed, kinds[s:s + step], local) for s in range(0, rows, step)]
    sums: dict[str, Decimal] = {}
    tmp = path.with_suffix(".part")
    body = tmp.with_suffix(".body")
    with mp.get_context("fork").Pool(workers or os.cpu_count()) as pool, open(body, "w") as fh:
        for lines in pool.imap(_make, tasks):
            for line in lines:
                coin, _, _, _, amount = line.split(",", 5)[:5]
                sums[coin] = sums.get(coin, Decimal(0)) + Decimal(amount)
                fh.write(line + "\n")
    with open(tmp, "w") as out:
        out.write("coin,snapshot height,amount\n")
        for coin in sorted(sums):
            out.write(f"{coin},{heights[coin]},{sums[coin].quantize(Decimal('0.0001'))}\n")
        out.write("\n" + g.OKX11_HEADER + "\n")
        with open(body) as fh:
            while chunk := fh.read(1 << 22):
                out.write(chunk)
    body.unlink()
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--local", action="store_true", help="heights and BTC amounts for bench/scan's local chains")
    a = ap.parse_args()
    generate(a.path, a.rows, a.seed, local=a.local)


if __name__ == "__main__":
    main()
