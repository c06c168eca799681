"""bench/scan10m: ``porscan scan`` on a Binance-layout address list of 10^7 rows (or ``--rows N``)
end to end on local chains, with PostgreSQL, as its own process.

The list (generated once, deterministic for (rows, seed), cached in bench/.data) is Binance's
``Coin,Network,Address,Balance,Height,Custodian`` with the network column saying the chain: ETH on
ETH (75 %), USDT on TRX (20 %), BTC on BTC (5 %); a third-party custodian on ~5 % of the rows;
no signatures (an address list proves nothing: every row is ``unsigned``). Before the timed run,
every address is funded at the list's snapshot heights, as bench/scan does:

* ETH on anvil (``anvil_setBalance`` in batches, at block 100, the snapshot),
* BTC on Bitcoin Knots regtest (the scripts paid, then the chain brought to height 1000),
* USDT-TRC20 on the FAKE TRON server (no TRON node runs here; read at its latest block, labelled).

Printed: seconds per stage (verify, and beside it the balance plan then the balance reads;
aggregate), wall time, rows/s, peak RSS of the scan's whole process tree (sampled every 50 ms), and
whether every asset's on-chain total equals the funded amount exactly. Targets (the issue's):
10^7 rows within 15 minutes, peak RSS at most 2 GB. ``--rows 1000000`` and ``3000000`` show how
time and memory grow when 10^7 does not fit. ``--distributed 2``: the same scan with ``--distributed``
and two ``porscan worker`` processes on this machine sharing the queue (their memory counted too).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.distributed_bench import count, start_workers, stop_workers  # noqa: E402
from bench.scan_bench import DATA, cached_input, config, fund_btc, fund_eth, measure_scan, postgres_pid, start_fakes  # noqa: E402
from scanner.amounts import from_base_units  # noqa: E402
from scanner.devnet.localbtc import Knots  # noqa: E402
from scanner.devnet.localnodes import Anvil  # noqa: E402
from scanner.devnet.localpg import LocalPostgres  # noqa: E402

HEADER = "Coin,Network,Address,Balance,Height,Custodian"
# (coin, network, share, decimals, largest balance in coin units, snapshot height on the local chain,
# smallest balance as a power of ten of base units: Bitcoin refuses to pay dust, under ~300 satoshi)
MIX = (
    ("ETH", "ETH", 0.75, 18, 40, 100, 0),
    ("USDT", "TRX", 0.20, 6, 50_000, 5000, 0),
    ("BTC", "BTC", 0.05, 8, 0.05, 1000, 3),  # regtest mints ~15,000 BTC by height 1000: small balances
)
CUSTODIANS = ("Ceffu", "Copper", "Cobo", "BitGo")
TARGET_SECONDS = 15 * 60
TARGET_RSS_MIB = 2048


def _address(network: str, rnd: random.Random) -> str:
    import base58
    import bech32

    body = rnd.randbytes(20)
    if network == "ETH":
        return "0x" + body.hex()
    if network == "TRX":
        return base58.b58encode_check(b"\x41" + body).decode()
    return bech32.encode("bc", 0, body)  # P2WPKH: Knots pays the same script on regtest


def generate(path: Path, rows: int, seed: int) -> None:
    """The list, deterministic for (rows, seed); balances log-uniform in base units (most deposit
    addresses hold crumbs, a few hold much), written with every decimal the coin has."""
    rnd = random.Random(seed)
    weights = [m[2] for m in MIX]
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="") as fh:
        fh.write(HEADER + "\n")
        buf: list[str] = []
        for _ in range(rows):
            coin, network, _, decimals, top, height, least = rnd.choices(MIX, weights)[0]
            units = int(10 ** rnd.uniform(least, decimals + math.log10(top)))
            whole, frac = divmod(units, 10**decimals)
            balance = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".")
            custodian = rnd.choice(CUSTODIANS) if rnd.random() < 0.05 else ""
            buf.append(f"{coin},{network},{_address(network, rnd)},{balance},{height},{custodian}\n")
            if len(buf) >= 10_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    tmp.replace(path)


def published(path: Path) -> dict[str, dict[str, int]]:
    """coin -> address -> base units, from the file's own text (not through porscan's parser)."""
    decimals = {m[0]: m[3] for m in MIX}
    per: dict[str, dict[str, int]] = {m[0]: {} for m in MIX}
    with open(path) as fh:
        next(fh)
        for line in fh:
            coin, _network, address, balance, _height, _custodian = line.rstrip("\n").split(",")
            whole, _, frac = balance.partition(".")
            d = decimals[coin]
            units = int(whole) * 10**d + (int(frac.ljust(d, "0")) if frac else 0)
            bucket = per[coin]
            bucket[address] = bucket.get(address, 0) + units
    return per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None, help="porscan's --workers (default: all cores)")
    ap.add_argument("--distributed", type=int, default=0, metavar="N",
                    help="scan with --distributed and N `porscan worker` processes on this machine (one "
                         "verification process each), sharing the queue in the same PostgreSQL")
    a = ap.parse_args()
    path = DATA / f"binance-local-{a.rows}-s{a.seed}.csv"
    cached_input("bench/scan10m", path, lambda p: generate(p, a.rows, a.seed))
    t = time.perf_counter()
    per = published(path)
    eth = Anvil.start(gas_limit=2_000_000_000)
    knots = Knots.start()
    pg = LocalPostgres.start()
    tron = sol = None
    try:
        heights = {m[0]: m[5] for m in MIX}
        fund_eth(eth, per["ETH"], heights["ETH"])
        fund_btc(knots, per["BTC"], heights["BTC"], mine_every=1)  # 10^7 rows: 500,000 outputs
        tron, sol = start_fakes(per["USDT"], {})
        d = DATA / "scan10m"
        d.mkdir(exist_ok=True)
        nets, coins = config(d, eth, knots, tron.url, sol.url)
        print(f"funded {sum(len(v) for v in per.values()):,} addresses on anvil, Knots regtest and the FAKE TRON "
              f"server in {time.perf_counter() - t:.0f} s (set-up, not timed)", flush=True)
        out = d / "scan-report.json"
        argv = [sys.executable, "-m", "scanner", "scan", str(path), "--config", str(nets), "--coins", str(coins),
                "--db", pg.dsn, "--fresh", "--exchange", "bench", "--json", str(out), "-q"]
        if a.workers:
            argv += ["--workers", str(a.workers)]
        workers: list = []
        logs: list = []
        if a.distributed:
            argv += ["--distributed"]
            workers, logs = start_workers(pg.dsn, a.distributed, d, "scan10m")
        try:
            report = measure_scan(f"bench/scan10m{f' --distributed {a.distributed}' if a.distributed else ''}", argv,
                                  out, a.rows, "postgresql", TARGET_SECONDS, TARGET_RSS_MIB, [w.pid for w in workers],
                                  {"anvil": eth.process.pid, "bitcoind": knots.process.pid,
                                   "PostgreSQL": postgres_pid(pg)}).report
        finally:
            stop_workers(workers, logs)
        if a.distributed:  # what the fleet did: jobs run by the workers through the queue, per second of the stages
            jobs = asyncio.run(count(pg.dsn, "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'"))
            st = report["run"]["stage_seconds"]
            busy = st.get("verify", 0.0) + st.get("balances", 0.0)
            print(f"  jobs         : {jobs:,} done by {a.distributed} workers, {jobs / busy:,.1f} jobs/s over verify + "
                  f"balances ({busy:.1f} s)" if busy else f"  jobs         : {jobs:,}")
        decimals = {m[0]: m[3] for m in MIX}
        for asset in report["assets"]:
            truth = from_base_units(sum(per[asset["asset"]].values()), decimals[asset["asset"]])
            exact = "exact" if Decimal(asset["onchain"]) == truth else f"DIFFERS from funded {truth}"
            print(f"  {asset['asset']:5s}        : {asset['rows_read']:,}/{asset['rows_expected']:,} rows read, "
                  f"on chain {asset['onchain']} ({exact})")
    finally:
        for srv in (tron, sol):
            if srv is not None:
                srv.stop()
        pg.stop()
        knots.stop()
        eth.stop()


if __name__ == "__main__":
    main()
