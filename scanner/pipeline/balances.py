"""``porscan balances``: read every row's balance at its snapshot height and compare it with the
published amount, exactly, in base units.

Rows are grouped by (coin, snapshot height); each group is read by its network's adapter in
slices, so progress shows and a slow network does not hold the others (networks run
concurrently). A row that could not be read is ``unread`` with the reason, never a zero.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from chains.protocol import AdapterError, BalanceBatch, BlockRef, ChainAdapter

from .adapters import make_adapter, supported_kinds
from .aggregate import canonical_address
from ..amounts import from_base_units, to_base_units
from .ingest import ReserveRow, RowError
from ..config.networks import CoinTarget, CoinTargets, Network
from ..records import BalanceRecord

SLICE = 50_000
NO_PUBLISHED_AMOUNT = "no published amount"
log = logging.getLogger("porscan.balances")


@dataclass(slots=True)
class NetworkSummary:
    network: str
    rows: int = 0
    read: int = 0
    unread: int = 0
    matched: int = 0
    mismatched: int = 0
    unpublished: int = 0  # read, but the file publishes no amount to compare with
    unsupported: int = 0
    onchain_total: dict[str, int] = field(default_factory=dict)  # per coin, base units (read rows only)
    published_total: dict[str, int] = field(default_factory=dict)  # per coin, base units (all rows)
    decimals: dict[str, int] = field(default_factory=dict)
    blocks: set[tuple[int, str | None, bool]] = field(default_factory=set)
    strategies: set[str] = field(default_factory=set)
    requests: int = 0
    notes: list[str] = field(default_factory=list)
    # wallets counted in onchain_total: (asset, token, canonical address), each once, as scan counts them
    counted: set[tuple[str, str, str]] = field(default_factory=set)
    duplicates: int = 0

    def as_json(self) -> dict:
        coins = sorted(set(self.onchain_total) | set(self.published_total))
        return {
            "network": self.network, "rows": self.rows, "rows_read": self.read, "rows_expected": self.rows - self.unsupported,
            "unread": self.unread, "matched": self.matched, "mismatched": self.mismatched, "unpublished": self.unpublished,
            "duplicates": self.duplicates,
            "unsupported": self.unsupported,
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
        return None, NO_PUBLISHED_AMOUNT
    if row.amount_in_base_units:
        return int(row.amount), ""
    units = to_base_units(row.amount, target.decimals)
    if units is None:
        return None, f"published amount {row.amount_text} has more than {target.decimals} decimals"
    return units, ""


class Job(NamedTuple):
    """One row to read: its line, coin key as written, address and the published amount in base units."""

    line: int
    coin: str
    address: str
    published: int | None
    why: str  # why ``published`` is None, if it is


Groups = dict[tuple[str, int | None], list[Job]]  # (coin key upper, snapshot height) -> rows in file order


def unsupported_reason(coin: str, coins: dict[str, CoinTarget], networks: dict[str, Network],
                       kinds: frozenset[str]) -> tuple[str, str] | None:
    """(network id, reason) when the coin's balance cannot be read with this configuration, else None."""
    target = coins.get(coin.upper())
    net = networks.get(target.network) if target else None
    if target is not None and net is not None and net.kind in kinds and net.endpoints:
        return None
    why_not = getattr(coins, "why_not", None)  # a CoinTargets says why a name did not resolve
    why = ((f"no balance adapter for coin {coin}" + (f": {why_not(coin)}" if why_not and why_not(coin) else ""))
           if target is None else
           f"network {target.network} is not configured" if net is None else
           f"no adapter for {net.kind} networks yet" if net.kind not in kinds else
           f"network {target.network} has no usable endpoint"
           + (f" (left out: {'; '.join(net.skipped_endpoints)})" if net.skipped_endpoints else ""))
    return (target.network if target else ""), why


def network_heights(keys: Iterable[tuple[str, int | None]], coins: dict[str, CoinTarget],
                    file_heights: dict[str, int] | None = None) -> dict[str, set[int]]:
    """Network id -> the snapshot heights the file gives it: its rows' (``keys``: (coin, height))
    and its summary block's (``file_heights``: coin -> height)."""
    by_network: dict[str, set[int]] = defaultdict(set)
    for coin, height in keys:
        if height is not None:
            by_network[coins[coin].network].add(height)
    for coin, height in (file_heights or {}).items():
        target = coins.get(coin)
        if target is not None:
            by_network[target.network].add(height)
    return by_network


def one_height(heights: set[int] | None) -> int | None:
    """The height a row with none is read at: its network's, when the file gives exactly one."""
    return next(iter(heights)) if heights and len(heights) == 1 else None


def fill_heights(groups: Groups, coins: dict[str, CoinTarget],
                 file_heights: dict[str, int] | None = None) -> tuple[Groups, dict[str, str]]:
    """Rows that publish no height are read at their network's snapshot height, where the file gives
    exactly one for that network (its other rows, or its summary block: ``file_heights``, coin ->
    height); else at the latest block, which every report labels. Returns the regrouped rows and one
    note per network saying which it was."""
    by_network = network_heights(groups, coins, file_heights)
    out: Groups = defaultdict(list)
    unheighted: dict[str, int] = defaultdict(int)
    for (coin, height), jobs in groups.items():
        nid = coins[coin].network
        if height is None:
            unheighted[nid] += len(jobs)
            height = one_height(by_network.get(nid))
        out[(coin, height)].extend(jobs)
    for key in out:
        out[key].sort(key=lambda j: j.line)  # a group's rows in file order, as before
    notes = {}
    for nid, n in sorted(unheighted.items()):
        known = sorted(by_network.get(nid, set()))
        if len(known) == 1:
            notes[nid] = f"{n} row(s) publish no snapshot height: read at {known[0]}, the one snapshot height the file gives for {nid}"
        elif known:
            notes[nid] = (f"{n} row(s) publish no snapshot height and the file gives {nid} several "
                          f"({', '.join(map(str, known))}): read at the latest block, not at the snapshot")
        else:
            notes[nid] = f"{n} row(s) publish no snapshot height and the file gives none for {nid}: read at the latest block, not at the snapshot"
    return dict(out), notes


def slice_key(coin: str, height: int | None, index: int) -> str:
    """Checkpoint key of one slice of a (coin, height) group: stable for the same file and SLICE."""
    return f"{coin}@{'latest' if height is None else height}#{index}"


async def check_balances(rows: Iterable[ReserveRow | RowError], coins: dict[str, CoinTarget],
                         networks: dict[str, Network], *, adapter_options: dict | None = None,
                         on_progress: Callable[[int], None] | None = None,
                         on_plan: Callable[[int], None] | None = None,
                         file_heights: dict[str, int] | None = None,
                         keyed_by_network: bool = False) -> tuple[list[BalanceRecord], dict[str, NetworkSummary]]:
    """``porscan balances``: every row of a file, checked, in file order. ``file_heights`` (coin ->
    height, the summary block's) give rows without a height their network's snapshot height; with
    ``keyed_by_network`` (address lists, auditor CSV) the network column says the chain."""
    key_for = getattr(coins, "key_for", None)
    checks: list[BalanceRecord] = []
    summaries: dict[str, NetworkSummary] = {}
    groups: Groups = defaultdict(list)
    kinds = supported_kinds()
    for row in rows:
        if isinstance(row, RowError):
            checks.append(_unread_record(row.line, row.coin, row.network, "", row.address, None, "invalid_row",
                                         f"{row.field}: {row.message}"))
            continue
        key = key_for(row.coin, row.network, keyed_by_network) if key_for else row.coin.strip().upper()
        bad = unsupported_reason(key, coins, networks, kinds)
        if bad is not None:
            nid = bad[0] or row.network or "?"
            s = _summary(summaries, nid)
            s.rows += 1
            s.unsupported += 1
            target = coins.get(key)
            checks.append(_unread_record(row.line, row.coin, nid, target.asset if target else key, row.address,
                                         row.snapshot_height, "unsupported", bad[1]))
            continue
        published, why = published_base_units(row, coins[key])
        groups[(key, row.snapshot_height)].append(Job(row.line, CoinTargets.read_as(key, row.coin), row.address,
                                                      published, why))

    async def collect(_key: str, part: list[BalanceRecord]) -> None:
        checks.extend(part)

    groups, notes = fill_heights(groups, coins, file_heights)
    await read_groups(groups, coins, networks, adapter_options=adapter_options, on_slice=collect,
                      on_progress=on_progress, on_plan=on_plan, summaries=summaries)
    for nid, note in notes.items():
        _summary(summaries, nid).notes.append(note)
    for s in summaries.values():
        if s.duplicates:
            s.notes.append(f"{s.duplicates} row(s) repeat a wallet already listed: its on-chain balance is counted once")
    checks.sort(key=lambda c: c.line)
    return checks, summaries


def _summary(summaries: dict[str, NetworkSummary], nid: str) -> NetworkSummary:
    s = summaries.get(nid)
    if s is None:
        s = summaries[nid] = NetworkSummary(nid)
    return s


async def read_groups(groups: Groups, coins: dict[str, CoinTarget], networks: dict[str, Network], *,
                      on_slice: Callable[[str, list[BalanceRecord]], Awaitable[None]],
                      adapter_options: dict | None = None, done: set[str] | frozenset[str] = frozenset(),
                      on_progress: Callable[[int], None] | None = None,
                      on_plan: Callable[[int], None] | None = None,
                      summaries: dict[str, NetworkSummary] | None = None,
                      slice_rows: int = SLICE) -> dict[str, NetworkSummary]:
    """Read every group in slices of ``slice_rows`` rows; each slice's checks go to ``on_slice(key, checks)``
    (a checkpoint for ``porscan scan``). Slices whose key is in ``done`` are not read again. Networks
    run concurrently; a network's groups run one after the other."""
    summaries = {} if summaries is None else summaries
    todo = {k: v for k, v in groups.items()}
    total = sum(len(v) for v in todo.values())
    if on_plan:
        on_plan(total)
    adapters: dict[str, ChainAdapter] = {}
    try:
        for (coin, _), items in todo.items():
            nid = coins[coin].network
            if nid not in adapters:
                adapters[nid] = make_adapter(networks[nid], **(adapter_options or {}))

        async def run_group(coin: str, height: int | None, items: list[Job]) -> None:
            target = coins[coin]
            asset = target.to_asset()
            adapter = adapters[target.network]
            s = _summary(summaries, target.network)
            s.decimals[coin] = target.decimals
            for index, i in enumerate(range(0, len(items), slice_rows)):
                part = items[i:i + slice_rows]
                key = slice_key(coin, height, index)
                if key in done:
                    if on_progress:
                        on_progress(len(part))
                    continue
                try:
                    batch = await adapter.balances(asset, [j.address for j in part], height)
                except AdapterError as exc:
                    batch, failure = None, str(exc)
                    s.notes.append(failure)
                except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop the other networks
                    log.exception("%s adapter failed on %s at height %s", target.network, coin, height)
                    batch, failure = None, f"adapter error ({type(exc).__name__}): {exc}"
                    s.notes.append(failure)
                else:
                    failure = ""
                out: list[BalanceRecord] = []
                _record(part, batch, coin, target, height, s, out, failure)
                await on_slice(key, out)
                if on_progress:
                    on_progress(len(part))

        by_network: dict[str, list] = defaultdict(list)
        for (coin, height), items in todo.items():
            by_network[coins[coin].network].append((coin, height, items))

        async def run_network(jobs) -> None:
            for coin, height, items in jobs:
                await run_group(coin, height, items)

        await asyncio.gather(*(run_network(jobs) for jobs in by_network.values()))
        for nid, ad in adapters.items():
            summaries[nid].requests = ad.requests
            for label, errs in ad.provider_errors().items():
                if errs:
                    summaries[nid].notes.append(f"provider errors on {label}: " + ", ".join(f"{k} {v}" for k, v in sorted(errs.items())))
    finally:
        for ad in adapters.values():
            await ad.close()
    return summaries


def _record(part: list[Job], batch: BalanceBatch | None, coin: str, target: CoinTarget, height, s: NetworkSummary,
            checks: list[BalanceRecord], failure: str = "") -> None:
    if batch is not None:
        s.strategies.update(x for x in batch.strategy.split(",") if x)
        s.notes.extend(n for n in batch.notes if n not in s.notes)
    for idx, (line, row_coin, address, published, why) in enumerate(part):
        res = batch.results[idx] if batch is not None else None
        s.rows += 1
        if published is not None:
            s.published_total[coin] = s.published_total.get(coin, 0) + published
        if res is None or res.amount_base_units is None:
            s.unread += 1
            reason = (res.error if res is not None else failure or "adapter failed") or "not read"
            checks.append(_checked(line, row_coin, target, address, height, published, None,
                                   res.block if res else None, "unread", reason, res.endpoint if res else ""))
            continue
        s.read += 1
        wallet = (target.asset, target.contract or "", canonical_address(address))
        if wallet in s.counted:  # listed again (another coin key, spelling or height): counted once
            s.duplicates += 1
        else:
            s.counted.add(wallet)
            s.onchain_total[coin] = s.onchain_total.get(coin, 0) + res.amount_base_units
        if res.block is not None:
            s.blocks.add((res.block.number, res.block.hash, res.block.at_snapshot))
        if published is not None and published == res.amount_base_units:
            status, reason = "match", ""
            s.matched += 1
        elif published is None and why == NO_PUBLISHED_AMOUNT:
            status, reason = "unpublished", why  # read, and nothing to compare it with: not a mismatch
            s.unpublished += 1
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
        checks.append(_checked(line, row_coin, target, address, height, published, res.amount_base_units, res.block,
                               status, reason, res.endpoint))


def _checked(line: int, coin: str, target: CoinTarget, address: str, height: int | None, published: int | None,
             onchain: int | None, block: BlockRef | None, status: str, reason: str, endpoint: str) -> BalanceRecord:
    return BalanceRecord(line=line, coin=coin, network=target.network, asset=target.asset, address=address,
                         snapshot_height=height, published_base_units=published, onchain_base_units=onchain,
                         decimals=target.decimals, block_number=block.number if block else None,
                         block_hash=block.hash if block else None, at_snapshot=block.at_snapshot if block else None,
                         status=status, reason=reason, endpoint=endpoint)


def _unread_record(line: int, coin: str, network: str, asset: str, address: str, height: int | None, status: str,
                   reason: str) -> BalanceRecord:
    """A row not read at all (unreadable, or no adapter for its chain)."""
    return BalanceRecord(line=line, coin=coin, network=network, asset=asset, address=address, snapshot_height=height,
                         published_base_units=None, onchain_base_units=None, decimals=None, block_number=None,
                         block_hash=None, at_snapshot=None, status=status, reason=reason, endpoint="")


__all__ = ["NetworkSummary", "check_balances", "Decimal"]
