"""Synthetic run history for the feed: a year of daily finished runs for several exchanges, written
through the Store's own API (start_run, save_rows, save_balances, save_results, finish_run), fast.

Used by the feed tests and ``bench/feed``; also handy to look at the dashboard without scanning:

    python -m scanner.devnet.feed_sample sample.db --exchanges 5 --days 365 && porscan serve --db sample.db

Figures are deterministic (a seed), exact (Decimal), and shaped like a real scan: per asset and per
network totals split by proof kind, liabilities with provenance, proven / with-unproven ratios,
coverage below 100 % on some days, a read at the latest block on one network, failed and unread rows,
and a ``porscan.scan/1`` summary per run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .. import __version__
from ..amounts import fmt
from ..records import AssetTotal, BalanceRecord, LiabilityRecord, RatioRecord, RowRecord
from ..storage import RunSpec, open_store

EXCHANGES = ("OKX", "Binance", "HTX", "Bitget", "KuCoin", "Bybit", "Gate")
# asset -> (networks, decimals, typical reserve size, liabilities provenance)
ASSETS = {
    "BTC": (("bitcoin",), 8, Decimal("120000"), "zk-proven"),
    "ETH": (("ethereum", "arbitrum"), 18, Decimal("950000"), "zk-proven"),
    "USDT": (("ethereum", "tron", "polygon"), 6, Decimal("8500000000"), "self-reported"),
    "SOL": (("solana",), 9, Decimal("2100000"), "self-reported"),
}
Q = Decimal("0.000001")


def _addr(exchange: str, asset: str, i: int) -> str:
    return "0x" + hashlib.sha256(f"{exchange}/{asset}/{i}".encode()).hexdigest()[:40]


async def write_run(store, exchange: str, day: str, rng: random.Random, drift: dict[str, Decimal]) -> int:
    """One finished run of ``exchange`` at snapshot ``day``; returns its id."""
    digest = hashlib.sha256(f"{exchange}/{day}".encode()).hexdigest()
    run = await store.start_run(RunSpec(exchange, f"{exchange.lower()}-{day}.csv", digest, f"liabilities-{day}.csv",
                                        hashlib.sha256(f"L/{exchange}/{day}".encode()).hexdigest(), {"sample": True},
                                        __version__, day))
    rows, balances, totals, liabs, ratios, assets_json = [], [], [], [], [], []
    line = 10
    by_status = {"verified": 0, "failed": 0, "owner_only": 0}
    bal_status = {"match": 0, "mismatch": 0, "unread": 0}
    for asset, (networks, decimals, size, provenance) in ASSETS.items():
        drift[asset] = min(Decimal("1.35"), max(Decimal("0.9"), drift[asset] + Decimal(rng.randint(-12, 12)) / 1000))
        liability = (size * Decimal(rng.randint(970, 1030)) / 1000).quantize(Decimal("0.01"))
        onchain_all = (liability * drift[asset]).quantize(Decimal("0.00000001"))
        per_net = []
        rest = onchain_all
        for j, net in enumerate(networks):
            amount = rest if j == len(networks) - 1 else (onchain_all * Decimal(rng.randint(40, 70)) / 100).quantize(
                Decimal("0.00000001"))
            rest -= amount
            expected = rng.randint(40, 60)
            read = expected if rng.random() > 0.08 else expected - rng.randint(1, 3)
            owner_only = (amount * Decimal("0.03")).quantize(Decimal("0.00000001"))
            unverified = (amount * Decimal("0.01")).quantize(Decimal("0.00000001"))
            proven = amount - owner_only - unverified
            unread = Decimal(expected - read) * Decimal("12.5")
            blocks: list[dict[str, Any]] = [{"number": 19_000_000 + rng.randint(0, 10**5), "hash": "0x" + rng.randbytes(32).hex(),
                       "at_snapshot": net != "solana"}]
            per_net.append(AssetTotal(asset, net, expected, expected, read, amount + unread, amount, proven,
                                      owner_only, Decimal(0), unverified, unread, blocks))
            for k in range(2):  # a few stored rows per run (address history, failures)
                status = "failed" if (k == 1 and net == "ethereum") else "verified"
                by_status[status] += 1
                units = int(Decimal(1000 + k).scaleb(decimals))
                address = _addr(exchange, asset, k)
                rows.append(RowRecord(line, f"{asset}-{net.upper()}", net, address, 19_000_000, str(1000 + k), units,
                                      status, "eip191", "" if status == "verified" else "signature does not recover "
                                      "the address"))
                unread_row = k == 1 and read < expected
                bstatus = "unread" if unread_row else ("mismatch" if k == 0 and net == "tron" else "match")
                bal_status[bstatus] += 1
                balances.append(BalanceRecord(line, f"{asset}-{net.upper()}", net, asset, address, 19_000_000, units,
                                              None if unread_row else units + (7 if bstatus == "mismatch" else 0),
                                              decimals, None if unread_row else blocks[0]["number"],
                                              None if unread_row else blocks[0]["hash"],
                                              None if unread_row else blocks[0]["at_snapshot"], bstatus,
                                              "HTTP 429 from the endpoint" if unread_row else "",
                                              f"{net}-rpc-1"))
                line += 1
        tot = AssetTotal(asset, "*", sum(t.rows for t in per_net), sum(t.rows_expected for t in per_net),
                         sum(t.rows_read for t in per_net), sum((t.published for t in per_net), Decimal(0)),
                         sum((t.onchain for t in per_net), Decimal(0)), sum((t.proven for t in per_net), Decimal(0)),
                         sum((t.owner_only for t in per_net), Decimal(0)), Decimal(0),
                         sum((t.unverified for t in per_net), Decimal(0)),
                         sum((t.unread_published for t in per_net), Decimal(0)), [b for t in per_net for b in t.blocks])
        totals.append(tot)
        totals.extend(per_net)
        liabs.append(LiabilityRecord(asset, liability, provenance, "sample", f"liabilities-{day}.csv", ""))
        with_unproven = tot.proven + tot.owner_only + tot.key_only + tot.unverified
        coverage = (Decimal(tot.rows_read) / Decimal(tot.rows_expected)).quantize(Q)
        pr, wr = (tot.proven / liability).quantize(Q), (with_unproven / liability).quantize(Q)
        ratios.append(RatioRecord(asset, liability, tot.proven, with_unproven, pr, wr, provenance, coverage))
        assets_json.append({"asset": asset, "published": fmt(tot.published), "onchain": fmt(tot.onchain),
                            "proven": fmt(tot.proven), "owner_only": fmt(tot.owner_only), "key_only": "0",
                            "unverified": fmt(tot.unverified), "unread_published": fmt(tot.unread_published),
                            "difference": fmt(tot.onchain - tot.published), "rows": tot.rows,
                            "rows_expected": tot.rows_expected, "rows_read": tot.rows_read,
                            "coverage": fmt(coverage), "liabilities": fmt(liability),
                            "liabilities_provenance": provenance, "proven_ratio": fmt(pr),
                            "with_unproven_ratio": fmt(wr),
                            "networks": [{"network": t.network, "coins": [], "blocks": t.blocks} for t in per_net]})
    await store.save_rows(run.id, "0", rows)
    await store.save_balances(run.id, "0", balances)
    await store.save_results(run.id, totals, liabs, ratios)
    summary = {"schema": "porscan.scan/1", "tool": {"name": "porscan", "version": __version__},
               "run": {"id": run.id, "exchange": exchange, "status": "done", "snapshot_date": day,
                       "started_at": run.started_at, "finished_at": None, "resumed": False,
                       "stage_seconds": {"verify": 41.2, "balances": 63.9, "aggregate": 4.1, "store": 2.3}},
               "inputs": [{"role": "reserves", "path": f"{exchange.lower()}-{day}.csv", "sha256": digest}],
               "verification": {"rows": len(rows), "by_status": by_status},
               "balances": {"by_status": bal_status}, "assets": assets_json, "notes": ["synthetic sample run"]}
    await store.finish_run(run.id, "done", summary)
    return run.id


async def populate(store, exchanges: int = 5, days: int = 365, end: str = "2025-06-30", seed: int = 1,
                   on_progress=None) -> list[int]:
    """``days`` daily runs (ending ``end``) for each of the first ``exchanges`` sample exchanges."""
    last = date.fromisoformat(end)
    ids = []
    for e, name in enumerate(EXCHANGES[:exchanges]):
        rng = random.Random(seed * 1000 + e)
        drift = {a: Decimal("1.05") + Decimal(rng.randint(-50, 80)) / 1000 for a in ASSETS}
        for d in range(days):
            day = (last - timedelta(days=days - 1 - d)).isoformat()
            ids.append(await write_run(store, name, day, rng, drift))
            if on_progress is not None:
                on_progress(len(ids))
    return ids


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scanner.devnet.feed_sample", description=__doc__.split("\n\n")[0])
    ap.add_argument("db", help="database URL or SQLite path")
    ap.add_argument("--exchanges", type=int, default=5)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--end", default="2025-06-30", help="last snapshot date")
    args = ap.parse_args(argv)

    async def run() -> int:
        store = await open_store(args.db)
        try:
            return len(await populate(store, args.exchanges, args.days, args.end))
        finally:
            await store.close()

    n = asyncio.run(run())
    print(f"wrote {n} runs to {args.db}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
