"""bench/scan: ``porscan scan`` on a 600k-row reserve file end to end, on local chains, with PostgreSQL.

The file (generated once with porscan's own keys, cached in bench/.data): 60 % ETH EOAs, 20 % BTC
2-of-3 P2WSH, 15 % USDT-TRC20, 5 % SOL, every row signed. Before the timed run, every address is
funded at the file's snapshot heights:

* ETH on anvil (balances written at block 100, the snapshot; later blocks change some),
* BTC on Bitcoin Knots regtest (the P2WSH scripts paid, then the chain brought to height 1000, the
  snapshot; some scripts paid again after it),
* USDT-TRC20 and SOL on the FAKE TRON and Solana servers of scanner/devnet/fake_tron_solana.py (no TRON
  node or Solana validator runs here; those reads are at the latest block and labelled so),

then ``porscan scan FILE --db postgresql://...`` runs as its own process. Printed: time per stage
(verify, and beside it the balance plan then the balance reads; aggregate), total wall time, peak RSS of the scan's process tree, rows
read per asset and whether the on-chain totals equal the funded amounts exactly.

``--runs N`` scans N times on the one funded world, each run into an empty database of its own, then
prints the spread (min, median, max) and how many runs met the 30 s target: this VM's speed drifts by
the hour, and one run says little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import median
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.verify_bench import run_measured  # noqa: E402
from scanner.amounts import from_base_units  # noqa: E402
from scanner.pipeline.ingest import ReserveRow, iter_rows, read_head  # noqa: E402
from scanner.devnet.localbtc import Knots, btc, funded_wallet, knots_root, tool_missing  # noqa: E402
from scanner.devnet.localnodes import Anvil, rpc, rpc_batch  # noqa: E402
from scanner.devnet.localworld import knots_network_toml, regtest_address  # noqa: E402
from scanner.devnet.localpg import LocalPostgres  # noqa: E402

DATA = ROOT / "bench" / ".data"
USDT_TRC20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # the real contract address; served by the FAKE
DECIMALS = {"ETH": 18, "BTC": 8, "USDT-TRC20": 6, "SOL": 9}


def published(path: Path) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """coin -> address -> base units (summed over rows), and the snapshot height per coin."""
    head = read_head(str(path))
    per: dict[str, dict[str, int]] = {}
    heights: dict[str, int] = {}
    for row in iter_rows(str(path), head):
        if not isinstance(row, ReserveRow):
            continue
        units = int((row.amount * (Decimal(10) ** DECIMALS[row.coin])).to_integral_value())
        bucket = per.setdefault(row.coin, {})
        bucket[row.address] = bucket.get(row.address, 0) + units
        heights[row.coin] = row.snapshot_height
    return per, heights


def fund_eth(node: Anvil, balances: dict[str, int], height: int) -> None:
    rpc(node.url, "anvil_mine", [hex(height)])
    items = list(balances.items())
    for i in range(0, len(items), 2000):
        rpc_batch(node.url, [("anvil_setBalance", [a, hex(v)]) for a, v in items[i:i + 2000]])
    assert int(rpc(node.url, "eth_blockNumber"), 16) == height
    # the block after millions of new balances computes their state root: over 30 s on a slow hour
    rpc(node.url, "evm_mine", timeout=900)
    rpc_batch(node.url, [("anvil_setBalance", [a, "0x1"]) for a, _ in items[:500]])  # after the snapshot
    rpc(node.url, "evm_mine", timeout=900)


def fund_btc(node: Knots, balances: dict[str, int], height: int, per_tx: int = 2000, mine_every: int = 10) -> None:
    """Pay every script its balance, then bring the chain to ``height``. A block every ``mine_every``
    payments keeps chains of unconfirmed payments under the node's descendant size limit (a wallet
    whose confirmed coins run out pays from its own unconfirmed change)."""
    miner = funded_wallet(node, "bench", sum(balances.values()) + 10**9)
    items = list(balances.items())
    for k, i in enumerate(range(0, len(items), per_tx)):
        node.rpc("sendmany", "", {regtest_address(a): btc(v) for a, v in items[i:i + per_tx]}, wallet="bench",
                 timeout=600)
        if k % mine_every == mine_every - 1:
            node.rpc("generatetoaddress", 1, miner)  # keep unconfirmed chains short
    node.rpc("generatetoaddress", 1, miner)
    tip = node.rpc("getblockcount")
    if tip > height:
        raise SystemExit(f"bench/scan: funding needed {tip} blocks, more than the snapshot height {height}")
    node.rpc("generatetoaddress", height - tip, miner)
    node.rpc("sendmany", "", {regtest_address(a): btc(1000) for a, _ in items[:200]}, wallet="bench")
    node.rpc("generatetoaddress", 2, miner)


def start_fakes(tron_balances: dict[str, int], sol_balances: dict[str, int]):
    from scanner.devnet.fake_tron_solana import FakeSolana, FakeTron, _parse_addr

    tron = FakeTron(history_lookup=False, start_block=5100)  # its head is past the snapshot (5000)
    contract = _parse_addr(USDT_TRC20)
    tron.add_token(contract, 6)
    for a, v in tron_balances.items():
        tron.set_token(contract, _parse_addr(a), v)
    sol = FakeSolana(slot=5100, slot_step=0)
    sol.lamports.update(sol_balances)
    return tron.serve().start(), sol.serve().start()


def config(d: Path, eth: Anvil, knots: Knots, tron_url: str, sol_url: str, *,
           tron_jsonrpc: bool = True) -> tuple[Path, Path]:
    """``tron_jsonrpc``: TRC-20 balances in JSON-RPC batches (the endpoint declares ``jsonrpc_url``, as a
    node with ``node.jsonrpc`` on would); False: one HTTP request per address."""
    nets = d / "networks.toml"
    rpc = f', jsonrpc_url = "{tron_url}/jsonrpc"' if tron_jsonrpc else ""
    nets.write_text(f'''# bench/scan: local chains and FAKE stand-ins (not real networks)
[networks.ethereum]
kind = "evm"
chain_id = 31337
native_symbol = "ETH"
endpoints = [{{ label = "local-anvil", url = "{eth.url}", concurrency = 4, timeout = 600 }}]

{knots_network_toml(knots)}
[networks.tron]
kind = "tron"
native_symbol = "TRX"
native_decimals = 6
endpoints = [{{ label = "FAKE-TRON", url = "{tron_url}", concurrency = 48, timeout = 60{rpc} }}]

[networks.solana]
kind = "solana"
native_symbol = "SOL"
native_decimals = 9
endpoints = [{{ label = "FAKE-SOLANA", url = "{sol_url}", concurrency = 8, max_batch = 20, timeout = 60 }}]
''')
    coins = d / "coins.toml"
    coins.write_text(f'''[ETH]
network = "ethereum"
asset = "ETH"
decimals = 18

[BTC]
network = "bitcoin"
asset = "BTC"
decimals = 8

["USDT-TRC20"]
network = "tron"
asset = "USDT"
contract = "{USDT_TRC20}"
decimals = 6

[SOL]
network = "solana"
asset = "SOL"
decimals = 9
''')
    return nets, coins


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process tree has used: each live process's own, and those of
    the children each has reaped (/proc/PID/stat fields 14-17)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pid(pg) -> int:
    return int((pg.data_dir / "postmaster.pid").read_text().split()[0])


def recovery_microseconds(n: int = 2000, rounds: int = 3) -> float:
    """The machine's speed at the moment: microseconds per secp256k1 public-key recovery (coincurve,
    one core, the best of ``rounds``). This VM's speed drifts by up to ~40 % from hour to hour (the same
    code, the same command), and key recovery is most of a scan's work: runs are comparable at like
    figures."""
    from coincurve import PrivateKey, PublicKey

    from signatures.hashing import sha256

    sigs = []
    for i in range(n):
        digest = sha256(b"porscan bench %d" % i)
        sigs.append((PrivateKey(sha256(b"key %d" % i)).sign_recoverable(digest, hasher=None), digest))
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for sig, digest in sigs:
            PublicKey.from_signature_and_message(sig, digest, hasher=None)
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6


@dataclass(frozen=True, slots=True)
class Measured:
    """One measured scan: its JSON report, wall time and the machine's speed before and after it."""

    report: dict
    wall: float
    recovery_us: tuple[float, float]  # recovery_microseconds() before, after


def measure_scan(name: str, argv: list[str], out: Path, rows: int, db: str, target_seconds: float | None = None,
                 target_mib: float | None = None, workers: Sequence[int] = (),
                 servers: Mapping[str, int] | None = None) -> Measured:
    """Run ``porscan scan`` (``argv``, writing its JSON report to ``out``) as its own process and print
    its wall time, time per stage, peak RSS and statuses (against the targets, when given); the report, wall time and machine speed.
    ``workers``: pids of the ``porscan worker``s of a ``--distributed`` scan, counted in the RSS and CPU.
    ``servers``: the nodes' and database's pids by name, whose CPU during the scan is printed beside the
    scan's (with this process's own: the FAKE servers' threads), and so what the machine's cores allow."""
    servers = dict(servers or {})
    cpu_before = {k: tree_cpu_seconds(v) for k, v in {**servers, **{f"worker {i}": w for i, w in enumerate(workers)}}.items()}
    speed_before = recovery_microseconds()
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, peak_kib, proc = run_measured(argv, beside=workers)
    cpu = {"porscan scan": _used(kids, resource.getrusage(resource.RUSAGE_CHILDREN))}
    cpu.update({k: tree_cpu_seconds(pid) - cpu_before[k]
                for k, pid in {**servers, **{f"worker {i}": w for i, w in enumerate(workers)}}.items()})
    cpu["FAKE servers (this process)"] = _used(own, resource.getrusage(resource.RUSAGE_SELF))
    speed_after = recovery_microseconds()
    if proc.returncode not in (0, 1):
        sys.exit(f"{name}: porscan scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(out.read_text())
    stages = report["run"].get("stage_seconds", {})
    # verification runs beside the balance plan, the reads, then the aggregation of what it has stored
    # so far: together they take the longer (a distributed scan, which has no plan stage of its own,
    # waits for verification, then for the reads)
    beside = ("plan", "balances", "aggregate_beside")
    overlapped = (max(stages.get("verify", 0.0), sum(stages.get(k, 0.0) for k in beside))
                  if "plan" in stages else stages.get("verify", 0.0) + stages.get("balances", 0.0))
    accounted = sum(v for k, v in stages.items() if k not in ("verify", *beside)) + overlapped

    def target(value: float, limit: float | None, unit: str) -> str:
        return "" if limit is None else f"; target {limit:,.0f} {unit}: {'met' if value <= limit else 'NOT met'}"

    print(f"porscan scan   : {rows:,} rows end to end in {wall:.1f} s ({rows / wall:,.0f} rows/s), database {db}"
          + target(wall, target_seconds, "s"), flush=True)
    # the figures depend on the interpreter's build (scripts/env.sh says which it prefers, and why)
    print(f"  python       : {platform.python_implementation()} {platform.python_version()}, "
          f"{os.path.realpath(getattr(sys, '_base_executable', sys.executable))}")
    print("  stages       : " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
          + (f" (verify beside plan, balances, then aggregate_beside: {overlapped:.1f} s of wall time)"
             if "plan" in stages else "")
          + "; start-up, input hashing, "
          f"storing results, report {wall - accounted:.1f} s")
    print(f"  peak RSS     : {peak_kib / 1024:.0f} MiB (scan process tree incl. verification workers"
          + (f" and {len(workers)} porscan worker trees" if workers else "") + ", sampled every 50 ms)"
          + target(peak_kib / 1024, target_mib, "MiB"))
    used, cores = sum(cpu.values()), os.cpu_count() or 1
    print("  CPU          : " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items())
          + f"; in all {used:.0f} core-seconds in {wall:.0f} s ({used / wall:.2f} of {cores} cores busy); "
          f"this work with all {cores} cores busy all the time: {used / cores:.0f} s")
    print(f"  machine      : secp256k1 key recovery {speed_before:.1f} us before the run, {speed_after:.1f} us after "
          "(this VM's speed drifts by the hour: compare runs at like figures)")
    print(f"  ownership    : {report['verification']['by_status']}")
    print(f"  balances     : {report['balances']['by_status']}")
    return Measured(report=report, wall=wall, recovery_us=(speed_before, speed_after))


def _used(before, after) -> float:
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cached_input(name: str, path: Path, make: Callable[[Path], None]) -> None:
    """Check the nodes' tools are installed, then make the input file once (``make(path)``; cached in bench/.data)."""
    why = tool_missing("knots", knots_root() / "usr" / "bin" / "bitcoind")
    if why:
        sys.exit(f"{name}: {why}")
    DATA.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t = time.perf_counter()
        make(path)
        print(f"generated {path.name} in {time.perf_counter() - t:.0f} s", flush=True)
    else:
        print(f"using cached {path.name} ({path.stat().st_size / 2**20:.0f} MiB)", flush=True)


# what the 600k-row scan may take end to end on this 2-core machine (it took 59 s with its stages one after another)
TARGET_SECONDS = 30.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--tron-http", action="store_true",
                    help="read USDT-TRC20 one HTTP request per address (no jsonrpc_url on the FAKE TRON endpoint)")
    ap.add_argument("--runs", type=int, default=1,
                    help="scan N times on the one funded world, each into a database of its own (this VM's speed "
                         "drifts: one run says little); prints each run, then the spread")
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    from bench.gen_okx import generate

    path = DATA / f"okx-{a.rows}-s1-local.csv"
    cached_input("bench/scan", path, lambda p: generate(p, a.rows, 1, local=True))
    target = TARGET_SECONDS if a.rows == 600_000 else None
    t = time.perf_counter()
    per, heights = published(path)
    eth = Anvil.start(gas_limit=2_000_000_000)
    knots = Knots.start()
    pg = LocalPostgres.start() if a.db == "postgresql" else None
    tron = sol = None
    try:
        fund_eth(eth, per["ETH"], heights["ETH"])
        fund_btc(knots, per["BTC"], heights["BTC"])
        tron, sol = start_fakes(per["USDT-TRC20"], per["SOL"])
        nets, coins = config(DATA, eth, knots, tron.url, sol.url, tron_jsonrpc=not a.tron_http)
        print(f"funded {sum(len(v) for v in per.values()):,} addresses on anvil, Knots regtest and the FAKE TRON/Solana "
              f"servers in {time.perf_counter() - t:.0f} s (set-up, not timed)", flush=True)
        out = DATA / "scan-report.json"
        servers = {"anvil": eth.process.pid, "bitcoind": knots.process.pid}
        if pg is not None:
            servers["PostgreSQL"] = postgres_pid(pg)
        runs: list[Measured] = []
        for i in range(a.runs):
            # every run starts from an empty store, as the first does: later runs must not write into a
            # database grown by the ones before
            if pg is not None:
                name = pg.database if i == 0 else f"porscan_run{i + 1}"
                db = pg.dsn if i == 0 else pg.create_database(name)
            else:
                db_file = DATA / "scan-bench.db"
                for leftover in DATA.glob("scan-bench.db*"):
                    leftover.unlink()
                db = str(db_file)
            argv = [sys.executable, "-m", "scanner", "scan", str(path), "--config", str(nets), "--coins", str(coins),
                    "--db", db, "--fresh", "--exchange", "bench", "--json", str(out), "-q"]
            if a.runs > 1:
                print(f"run {i + 1} of {a.runs}", flush=True)
            m = measure_scan("bench/scan", argv, out, a.rows, a.db, target, servers=servers)
            runs.append(m)
            for asset in m.report["assets"]:
                coin = {"ETH": "ETH", "BTC": "BTC", "USDT": "USDT-TRC20", "SOL": "SOL"}[asset["asset"]]
                truth = from_base_units(sum(per[coin].values()), DECIMALS[coin])
                exact = "exact" if Decimal(asset["onchain"]) == truth else f"DIFFERS from funded {truth}"
                blocks = {(b["number"], b["at_snapshot"]) for n in asset["networks"] for b in n["blocks"]}
                print(f"  {asset['asset']:5s}        : {asset['rows_read']:,}/{asset['rows_expected']:,} rows read, "
                      f"on chain {asset['onchain']} ({exact}); blocks "
                      + ", ".join(f"{n}{'' if s else ' (latest, not the snapshot)'}" for n, s in sorted(blocks)))
            if pg is not None and i + 1 < a.runs:
                # untimed: autovacuum would otherwise take up this run's 1.2M new rows during the next run
                # (PostgreSQL's CPU went from 5.7 to 8.3-8.9 core-s in the runs after the first), and the
                # server would write this run's pages out during it
                pg.psql("VACUUM ANALYZE", database=name)
                pg.psql("CHECKPOINT")
        if len(runs) > 1:
            print(spread(runs, target))
    finally:
        for srv in (tron, sol):
            if srv is not None:
                srv.stop()
        if pg is not None:
            pg.stop()
        knots.stop()
        eth.stop()


def spread(runs: Sequence[Measured], target: float | None) -> str:
    """The runs' wall times, fastest to slowest, each with the machine's speed before it; min, median, max;
    and how many met the target."""
    walls = sorted(m.wall for m in runs)
    each = ", ".join(f"{m.wall:.1f} s ({m.recovery_us[0]:.0f} us)" for m in sorted(runs, key=lambda m: m.wall))
    line = (f"{len(runs)} runs     : {each}\n  wall         : min {walls[0]:.1f} s, median {median(walls):.1f} s, "
            f"max {walls[-1]:.1f} s (in brackets: us per key recovery before the run)")
    if target is not None:
        met = sum(w <= target for w in walls)
        line += f"\n  target       : {target:.0f} s met by {met} of {len(runs)} runs"
    return line


if __name__ == "__main__":
    main()
