"""Stored runs with partly and wholly unread assets, as `porscan scan` stores them: for the tests of
how the feed, /metrics and the dashboard show an asset of which nothing (or only part) was read.

The latest run holds ETH (every row read), USDT (8 of 12 rows read: the tron rows not) and TRX (none
of its 4 rows read). Its ratios are stored as scans before porscan 0.1.x stored them, with "0"
reserves for TRX: a stored run is read as it is, never rewritten."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from scanner.records import AssetTotal, LiabilityRecord, RatioRecord
from scanner.report_model import AssetReport, RunHeader, ScanReport
from scanner.storage import RunSpec, open_store

EXCHANGE = "Sample Exchange"
LIABILITIES = {"ETH": Decimal("12398.80319635"), "USDT": Decimal("8424.59"), "TRX": Decimal("1697.3123742")}
BLOCK = [{"number": 100, "hash": "0x" + "ab" * 32, "at_snapshot": True}]


def _total(asset: str, network: str, *, published: str, onchain: str, expected: int, read: int,
           unread_published: str = "0") -> AssetTotal:
    # what aggregate stores for rows not read: nothing on chain, their published amount apart
    return AssetTotal(asset=asset, network=network, rows=expected, rows_expected=expected, rows_read=read,
                      published=Decimal(published), onchain=Decimal(onchain), proven=Decimal(onchain),
                      owner_only=Decimal(0), key_only=Decimal(0), unverified=Decimal(0),
                      unread_published=Decimal(unread_published), blocks=BLOCK if read else [])


def latest_totals() -> list[AssetTotal]:
    """The latest run's totals: all-network lines ("*") and per network."""
    eth = _total("ETH", "ethereum", published="12600", onchain="12525.947995944981146826", expected=28, read=28)
    usdt_eth = _total("USDT", "ethereum", published="1860.22578", onchain="1860.22578", expected=4, read=4)
    usdt_tron = _total("USDT", "tron", published="4879.44417", onchain="0", expected=8, read=0,
                       unread_published="4879.44417")
    usdt = _total("USDT", "*", published="6739.66995", onchain="1860.22578", expected=12, read=4,
                  unread_published="4879.44417")
    trx = _total("TRX", "tron", published="1885.902638", onchain="0", expected=4, read=0,
                 unread_published="1885.902638")
    return [_total("ETH", "*", published="12600", onchain="12525.947995944981146826", expected=28, read=28), eth,
            usdt, usdt_eth, usdt_tron, dataclasses.replace(trx, network="*"),
            trx]


def _ratio(t: AssetTotal) -> RatioRecord:
    liab = LIABILITIES[t.asset]
    read = t.rows_read > 0
    return RatioRecord(asset=t.asset, liabilities=liab, proven_reserves=t.proven, with_unproven_reserves=t.proven,
                       proven_ratio=t.proven / liab if read else None,
                       with_unproven_ratio=t.proven / liab if read else None, provenance="self-reported",
                       coverage=(Decimal(t.rows_read) / t.rows_expected).quantize(Decimal("0.000001"),
                                                                                  rounding="ROUND_DOWN"))


async def store_runs(url: str) -> int:
    """An earlier run with everything read, then the latest run above; returns the latest run's id."""
    store = await open_store(url)
    try:
        run_id = 0
        for day, totals in (("2026-01-01", None), ("2026-01-04", latest_totals())):
            if totals is None:  # the earlier run: every row read
                totals = [_total(a, "*", published=p, onchain=p, expected=n, read=n)
                          for a, p, n in (("ETH", "12600", 28), ("USDT", "6739.66995", 12),
                                          ("TRX", "1885.902638", 4))]
            run = await store.start_run(RunSpec(exchange=EXCHANGE, input_path="reserves.csv", input_sha256="a" * 64,
                                                liabilities_path="liabilities.csv", liabilities_sha256="b" * 64,
                                                params={}, tool_version="test", snapshot_date=day))
            per_asset = [t for t in totals if t.network == "*"]
            await store.save_results(run.id, totals,
                                     [LiabilityRecord(asset=a, amount=v, provenance="self-reported", source="file",
                                                      file="liabilities.csv", detail="") for a, v in LIABILITIES.items()],
                                     [_ratio(t) for t in per_asset])
            report = ScanReport(tool_version="test", run=RunHeader(id=run.id, exchange=EXCHANGE, status="done",
                                                                    started_at=run.started_at, snapshot_date=day),
                                inputs=(), rows=sum(t.rows for t in per_asset), by_status={}, balance_status={},
                                assets=tuple(AssetReport(asset=t.asset, figures=t.figures(),
                                                         liabilities=LIABILITIES[t.asset],
                                                         liabilities_provenance="self-reported",
                                                         proven_ratio=_ratio(t).proven_ratio,
                                                         with_unproven_ratio=_ratio(t).with_unproven_ratio)
                                             for t in per_asset))
            await store.finish_run(run.id, "done", report.to_json())
            run_id = run.id
        return run_id
    finally:
        await store.close()
