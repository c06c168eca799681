"""``porscan balances``: read every row's balance at its snapshot height and compare it with the
published amount, exactly, in base units.

Rows are grouped by (coin, snapshot height); each group is read by its network's adapter in
slices, so progress shows and a slow network does not hold the others (networks run
concurrently). A row that could not be read is ``unread`` with the reason, never a zero.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from chains.protocol import AdapterError, BalanceBatch, BlockRef, ChainAdapter

from .adapters import make_adapter, supported_kinds
from .amounts import from_base_units, to_base_units
from .ingest import ReserveRow, RowError
from .netconfig import CoinTarget, Network

SLICE = 50_000


@dataclass(frozen=True, slots=True)
class BalanceCheck:
    line: int
    coin: str
    network: str  # network id read (or the row's network column when unsupported)
    address: str
    snapshot_height: int | None
    published_base_units: int | None
    onchain_base_units: int | None
    block: BlockRef | None
    status: str  # match | mismatch | unread | unsupported | invalid_row
    reason: str = ""
    endpoint: str = ""

    def as_json(self) -> dict:
        b = self.block
        return {"line": self.line, "coin": self.coin, "network": self.network, "address": self.address,
                "snapshot_height": self.snapshot_height,
                "published_base_units": None if self.published_base_units is None else str(self.published_base_units),
                "onchain_base_units": None if self.onchain_base_units is None else str(self.onchain_base_units),
                "block_number": b.number if b else None, "block_hash": b.hash if b else None,
                "at_snapshot": b.at_snapshot if b else None, "status": self.status, "reason": self.reason,
                "endpoint": self.endpoint}


@dataclass(slots=True)
class NetworkSummary:
    network: str
    rows: int = 0
    read: int = 0
    unread: int = 0
    matched: int = 0
    mismatched: int = 0
    unsupported: int = 0
    onchain_total: dict[str, int] = field(default_factory=dict)  # per coin, base units (read rows only)
    published_total: dict[str, int] = field(default_factory=dict)  # per coin, base units (all rows)
    decimals: dict[str, int] = field(default_factory=dict)
    blocks: set[tuple[int, str | None, bool]] = field(default_factory=set)
    strategies: set[str] = field(default_factory=set)
    requests: int = 0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        coins = sorted(set(self.onchain_total) | set(self.published_total))
        return {
            "network": self.network, "rows": self.rows, "rows_read": self.read, "rows_expected": self.rows - self.unsupported,
            "unread": self.unread, "matched": self.matched, "mismatched": self.mismatched, "unsupported": self.unsupported,
            "coins": [{"coin": c, "decimals": self.decimals.get(c),
                       "onchain_total_base_units": str(self.onchain_total.get(c, 0)),
                       "published_total_base_units": str(self.published_total.get(c, 0)),
                       "onchain_total": _units(self.onchain_total.get(c, 0), self.decimals.get(c)),
                       "published_total": _units(self.published_total.get(c, 0), self.decimals.get(c))} for c in coins],
            "blocks": [{"number": n, "hash": h, "at_snapshot": s} for n, h, s in sorted(self.blocks, key=lambda x: (x[0], str(x[1])))],
            "strategies": sorted(self.strategies), "requests": self.requests, "notes": self.notes[:50],
        }


def _units(units: int, decimals: int | None) -> str | None:
    if decimals is None:
        return None
    value = from_base_units(units, decimals)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def published_base_units(row: ReserveRow, target: CoinTarget) -> tuple[int | None, str]:
    if row.amount is None:
        return None, "the file publishes no amount"
    if row.amount_in_base_units:
        return int(row.amount), ""
    units = to_base_units(row.amount, target.decimals)
    if units is None:
        return None, f"published amount {row.amount_text} has more than {target.decimals} decimals"
    return units, ""


async def check_balances(rows: Iterable[ReserveRow | RowError], coins: dict[str, CoinTarget],
                         networks: dict[str, Network], *, adapter_options: dict | None = None,
                         on_progress: Callable[[int], None] | None = None,
                         on_plan: Callable[[int], None] | None = None) -> tuple[list[BalanceCheck], dict[str, NetworkSummary]]:
    checks: list[BalanceCheck] = []
    summaries: dict[str, NetworkSummary] = {}
    groups: dict[tuple[str, int | None], list[tuple[ReserveRow, int | None, str]]] = defaultdict(list)

    def summary(nid: str) -> NetworkSummary:
        s = summaries.get(nid)
        if s is None:
            s = summaries[nid] = NetworkSummary(nid)
        return s

    kinds = supported_kinds()
    for row in rows:
        if isinstance(row, RowError):
            checks.append(BalanceCheck(row.line, row.coin, row.network, row.address, None, None, None, None,
                                       "invalid_row", f"{row.field}: {row.message}"))
            continue
        target = coins.get(row.coin.upper())
        net = networks.get(target.network) if target else None
        if target is None or net is None or net.kind not in kinds or not net.endpoints:
            why = (f"no balance adapter for coin {row.coin}" if target is None else
                   f"network {target.network} is not configured" if net is None else
                   f"network {target.network} has no usable endpoint"
                   + (f" (left out: {'; '.join(net.skipped_endpoints)})" if net.skipped_endpoints else "")
                   if not net.endpoints else
                   f"no adapter for {net.kind} networks yet")
            nid = target.network if target else (row.network or "?")
            s = summary(nid)
            s.rows += 1
            s.unsupported += 1
            checks.append(BalanceCheck(row.line, row.coin, nid, row.address, None, None, None, None, "unsupported", why))
            continue
        published, why = published_base_units(row, target)
        groups[(row.coin.upper(), row.snapshot_height)].append((row, published, why))
    total = sum(len(v) for v in groups.values())
    if on_plan:
        on_plan(total)
    adapters: dict[str, ChainAdapter] = {}
    try:
        for (coin, _), items in groups.items():
            nid = coins[coin].network
            if nid not in adapters:
                adapters[nid] = make_adapter(networks[nid], **(adapter_options or {}))

        async def run_group(coin: str, height: int | None, items) -> None:
            target = coins[coin]
            asset = target.to_asset()
            adapter = adapters[target.network]
            s = summary(target.network)
            s.decimals[coin] = target.decimals
            for i in range(0, len(items), SLICE):
                part = items[i:i + SLICE]
                try:
                    batch = await adapter.balances(asset, [r.address for r, _, _ in part], height)
                except AdapterError as exc:
                    batch = None
                    s.notes.append(str(exc))
                _record(part, batch, coin, target, height, s, checks)
                if on_progress:
                    on_progress(len(part))

        by_network: dict[str, list] = defaultdict(list)
        for (coin, height), items in groups.items():
            by_network[coins[coin].network].append((coin, height, items))

        async def run_network(jobs) -> None:
            for coin, height, items in jobs:
                await run_group(coin, height, items)

        await asyncio.gather(*(run_network(jobs) for jobs in by_network.values()))
        for nid, ad in adapters.items():
            summaries[nid].requests = getattr(ad, "requests", 0)
            errors_of = getattr(ad, "provider_errors", None)
            for label, errs in (errors_of() if errors_of else {}).items():
                if errs:
                    summaries[nid].notes.append(f"provider errors on {label}: " + ", ".join(f"{k} {v}" for k, v in sorted(errs.items())))
    finally:
        for ad in adapters.values():
            await ad.close()
    checks.sort(key=lambda c: c.line)
    return checks, summaries


def _record(part, batch: BalanceBatch | None, coin: str, target: CoinTarget, height, s: NetworkSummary,
            checks: list[BalanceCheck]) -> None:
    if batch is not None:
        s.strategies.update(x for x in batch.strategy.split(",") if x)
        s.notes.extend(n for n in batch.notes if n not in s.notes)
    for idx, (row, published, why) in enumerate(part):
        res = batch.results[idx] if batch is not None else None
        s.rows += 1
        if published is not None:
            s.published_total[coin] = s.published_total.get(coin, 0) + published
        if res is None or res.amount_base_units is None:
            s.unread += 1
            reason = (res.error if res is not None else "adapter failed") or "not read"
            checks.append(BalanceCheck(row.line, row.coin, target.network, row.address, height, published, None,
                                       res.block if res else None, "unread", reason, res.endpoint if res else ""))
            continue
        s.read += 1
        s.onchain_total[coin] = s.onchain_total.get(coin, 0) + res.amount_base_units
        if res.block is not None:
            s.blocks.add((res.block.number, res.block.hash, res.block.at_snapshot))
        if published is not None and published == res.amount_base_units:
            status, reason = "match", ""
            s.matched += 1
        else:
            status = "mismatch"
            s.mismatched += 1
            if published is None:
                reason = why
            else:
                diff = res.amount_base_units - published
                reason = f"on chain {res.amount_base_units}, published {published} (difference {diff:+d} base units)"
        if res.block is not None and not res.block.at_snapshot:
            reason = (reason + "; " if reason else "") + f"read at block {res.block.number}, not at the snapshot"
        checks.append(BalanceCheck(row.line, row.coin, target.network, row.address, height, published,
                                   res.amount_base_units, res.block, status, reason, res.endpoint))


__all__ = ["BalanceCheck", "NetworkSummary", "check_balances", "Decimal"]
