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
from ..records import AssetTotal, BalanceRecord, LiabilityRecord, RatioRecord, RowRecord
from ..report_model import AssetReport, Block, InputFile, Place, RunHeader, ScanReport
from ..storage import RunSpec, open_store

EXCHANGES = ("OKX", "Binance", "HTX", "Bitget", "KuCoin", "Bybit", "Gate")
# asset -> (networks, decimals, typical reserve size, liabilities provenance)
ASSETS = {
    "BTC": (("bitcoin",), 8, Decimal("120000"), "zk-published"),
    "ETH": (("ethereum", "arbitrum"), 18, Decimal("950000"), "zk-published"),
    "USDT": (("ethereum", "tron", "polygon"), 6, Decimal("8500000000"), "self-reported"),
    "SOL": (("solana",), 9, Decimal("2100000"), "self-reported"),
}
Q = Decimal("0.000001")


def _addr(exchange: str, asset: str, i: int) -> str:
    return "0x" + hashlib.sha256(f"{exchange}/{asset}/{i}".encode()).hexdigest()[:40]


async def write_run(store, exchange: str, day: str, rng: random.Random, drift: dict[str, Decimal]) -> int:
    """One finished run of ``exchange`` at snapshot ``day``; returns its id."""
    digest = hashlib.sha256(f"{exchange}/{day}".encode()).hexdigest()
    run = await store.start_run(RunSpec(exchange=exchange, input_path=f"{exchange.lower()}-{day}.csv", input_sha256=digest,
                                        liabilities_path=f"liabilities-{day}.csv",
                                        liabilities_sha256=hashlib.sha256(f"L/{exchange}/{day}".encode()).hexdigest(),
                                        params={"sample": True}, tool_version=__version__, snapshot_date=day))
    rows: list[RowRecord] = []
    balances: list[BalanceRecord] = []
    totals: list[AssetTotal] = []
    liabs: list[LiabilityRecord] = []
    ratios: list[RatioRecord] = []
    assets: list[AssetReport] = []
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
            per_net.append(AssetTotal(asset=asset, network=net, rows=expected, rows_expected=expected, rows_read=read,
                                      published=amount + unread, onchain=amount, proven=proven, owner_only=owner_only,
                                      key_only=Decimal(0), unverified=unverified, unread_published=unread, blocks=blocks))
            for k in range(2):  # a few stored rows per run (address history, failures)
                status = "failed" if (k == 1 and net == "ethereum") else "verified"
                by_status[status] += 1
                units = int(Decimal(1000 + k).scaleb(decimals))
                address = _addr(exchange, asset, k)
                rows.append(RowRecord(line=line, coin=f"{asset}-{net.upper()}", network=net, address=address,
                                      snapshot_height=19_000_000, amount_text=str(1000 + k), amount_base_units=units,
                                      status=status, scheme="eip191",
                                      reason="" if status == "verified" else "signature does not recover the address"))
                unread_row = k == 1 and read < expected
                bstatus = "unread" if unread_row else ("mismatch" if k == 0 and net == "tron" else "match")
                bal_status[bstatus] += 1
                balances.append(BalanceRecord(
                    line=line, coin=f"{asset}-{net.upper()}", network=net, asset=asset, address=address,
                    snapshot_height=19_000_000, published_base_units=units,
                    onchain_base_units=None if unread_row else units + (7 if bstatus == "mismatch" else 0),
                    decimals=decimals, block_number=None if unread_row else blocks[0]["number"],
                    block_hash=None if unread_row else blocks[0]["hash"],
                    at_snapshot=None if unread_row else blocks[0]["at_snapshot"], status=bstatus,
                    reason="HTTP 429 from the endpoint" if unread_row else "", endpoint=f"{net}-rpc-1"))
                line += 1
        def total(name: str) -> Decimal:
            return sum((getattr(t, name) for t in per_net), Decimal(0))

        tot = AssetTotal(asset=asset, network="*", rows=sum(t.rows for t in per_net),
                         rows_expected=sum(t.rows_expected for t in per_net), rows_read=sum(t.rows_read for t in per_net),
                         published=total("published"), onchain=total("onchain"), proven=total("proven"),
                         owner_only=total("owner_only"), key_only=Decimal(0), unverified=total("unverified"),
                         unread_published=total("unread_published"), blocks=[b for t in per_net for b in t.blocks])
        totals.append(tot)
        totals.extend(per_net)
        liabs.append(LiabilityRecord(asset=asset, amount=liability, provenance=provenance, source="sample",
                                     file=f"liabilities-{day}.csv", detail=""))
        with_unproven = tot.proven + tot.owner_only + tot.key_only + tot.unverified
        coverage = (Decimal(tot.rows_read) / Decimal(tot.rows_expected)).quantize(Q)
        pr, wr = (tot.proven / liability).quantize(Q), (with_unproven / liability).quantize(Q)
        ratios.append(RatioRecord(asset=asset, liabilities=liability, proven_reserves=tot.proven,
                                  with_unproven_reserves=with_unproven, proven_ratio=pr, with_unproven_ratio=wr,
                                  provenance=provenance, coverage=coverage))
        assets.append(AssetReport(
            asset=asset, figures=tot.figures(), liabilities=liability, liabilities_provenance=provenance,
            liabilities_source="sample", proven_ratio=pr, with_unproven_ratio=wr,
            networks=tuple(Place(network=t.network, coins=(f"{asset}-{t.network.upper()}",), figures=t.figures(),
                                 blocks=tuple(Block.from_json(b) for b in t.blocks)) for t in per_net)))
    await store.save_rows(run.id, "0", rows)
    await store.save_balances(run.id, "0", balances)
    await store.save_results(run.id, totals, liabs, ratios)
    report = ScanReport(
        tool_version=__version__,
        run=RunHeader(id=run.id, exchange=exchange, status="done", started_at=run.started_at, snapshot_date=day,
                      stage_seconds={"verify": 41.2, "balances": 63.9, "aggregate": 4.1, "store": 2.3}),
        inputs=(InputFile(role="reserves", path=f"{exchange.lower()}-{day}.csv", sha256=digest),),
        rows=len(rows), by_status=by_status, balance_status=bal_status, assets=tuple(assets),
        notes=("synthetic sample run",))
    await store.finish_run(run.id, "done", report.to_json())
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
