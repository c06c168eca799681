"""``porscan balances``: read every row's balance at its snapshot height and compare it with the
published amount, exactly, in base units.

Rows are grouped by (coin, snapshot height) by the one planner (plan.py, shared with ``porscan scan``);
each group is read by its network's adapter in slices, so progress shows and a slow network does not
hold the others (networks run concurrently). A row that could not be read is ``unread`` with the reason, never a zero.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from decimal import Decimal

from chains.protocol import AdapterError, BalanceBatch, BalanceResult, BlockRef, ChainAdapter

from .adapters import make_adapter
from .aggregate import canonical_address
from ..amounts import from_base_units
from .ingest import ReserveRow, RowError
from ..config.networks import CoinTarget, Network
from ..records import BalanceRecord
from .spool import slices
from .plan import NO_PUBLISHED_AMOUNT, BalancePlanner, FileContext, Groups, Job, SummaryHeights, fill_heights, one_height

SLICE = 50_000
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
    # False (``porscan scan``): no ``counted`` set and no once-per-wallet ``onchain_total``; the scan
    # sums in its aggregation, and the set would hold every wallet read (10^7 of them: gigabytes)
    per_wallet: bool = True

    def as_json(self) -> dict:
        coins = sorted(set(self.onchain_total) | set(self.published_total))
        return {
            "network": self.network, "rows": self.rows, "rows_read": self.read, "rows_expected": self.rows - self.unsupported,
            "unread": self.unread, "matched": self.matched, "mismatched": self.mismatched, "unpublished": self.unpublished,
            "duplicates": self.duplicates,
            "unsupported": self.unsupported,
            # a coin none of whose rows was read has no on-chain total (null), never 0
            "coins": [{"coin": c, "decimals": self.decimals.get(c),
                       "onchain_total_base_units": str(self.onchain_total[c]) if c in self.onchain_total else None,
                       "published_total_base_units": str(self.published_total.get(c, 0)),
                       "onchain_total": _units(self.onchain_total[c], self.decimals.get(c)) if c in self.onchain_total else None,
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


# what a network's reads said, kept per network for a scan's report (one-process and distributed alike)
NOTES_KEPT = 20


def slice_key(coin: str, height: int | None, index: int) -> str:
    """Checkpoint key of one slice of a (coin, height) group: stable for the same file and SLICE."""
    return f"{coin}@{'latest' if height is None else height}#{index}"


def network_slices(groups: Mapping[tuple[str, int | None], Sized], coins: Mapping[str, CoinTarget],
                   slice_rows: int) -> dict[str, set[str]]:
    """Network -> the checkpoint keys of its groups' slices (read_groups saves each slice under one):
    what a distributed run's balance job for that network must have saved before it is done."""
    out: dict[str, set[str]] = {}
    for (coin, height), items in groups.items():
        out.setdefault(coins[coin].network, set()).update(
            slice_key(coin, height, index) for index in range(-(-len(items) // slice_rows)))
    return out


async def check_balances(rows: Iterable[ReserveRow | RowError], coins: Mapping[str, CoinTarget],
                         networks: dict[str, Network], *, adapter_options: dict | None = None,
                         on_progress: Callable[[int], None] | None = None,
                         on_plan: Callable[[int], None] | None = None,
                         file_heights: dict[str, int] | None = None,
                         keyed_by_network: bool = False) -> tuple[list[BalanceRecord], dict[str, NetworkSummary]]:
    """``porscan balances``: every row of a file, checked, in file order. The rows are grouped by the
    scan's planner (plan.py): ``file_heights`` (coin -> height, the summary block's) give rows without
    a height their network's snapshot height; with ``keyed_by_network`` (address lists, auditor CSV)
    the network column says the chain."""
    checks: list[BalanceRecord] = []
    summaries: dict[str, NetworkSummary] = {}
    planner = BalancePlanner(FileContext(coins=coins, networks=networks, head=SummaryHeights(file_heights or {}),
                                         keyed_by_network=keyed_by_network))
    for row in rows:
        if isinstance(row, RowError):
            checks.append(_unread_record(row.line, row.coin, row.network, "", row.address, None, "invalid_row",
                                         f"{row.field}: {row.message}"))
        else:
            planner.add_file_row(row)
    plan = planner.finish()
    for rec in plan.unsupported:
        s = _summary(summaries, rec.network or "?")
        s.rows += 1
        s.unsupported += 1
    checks.extend(plan.unsupported)

    async def collect(_key: str, part: list[BalanceRecord]) -> None:
        checks.extend(part)

    await read_groups(plan.groups, coins, networks, adapter_options=adapter_options, on_slice=collect,
                      on_progress=on_progress, on_plan=on_plan, summaries=summaries)
    for nid, note in plan.height_notes.items():
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


async def read_groups(groups: Groups, coins: Mapping[str, CoinTarget], networks: dict[str, Network], *,
                      on_slice: Callable[[str, list[BalanceRecord]], Awaitable[None]],
                      adapter_options: dict | None = None, done: set[str] | frozenset[str] = frozenset(),
                      on_progress: Callable[[int], None] | None = None,
                      on_plan: Callable[[int], None] | None = None,
                      summaries: dict[str, NetworkSummary] | None = None,
                      slice_rows: int = SLICE, per_wallet: bool = True,
                      on_network: Callable[[str, NetworkSummary], Awaitable[None]] | None = None
                      ) -> dict[str, NetworkSummary]:
    """Read every group in slices of ``slice_rows`` rows; each slice's checks go to ``on_slice(key, checks)``
    (a checkpoint for ``porscan scan``). Slices whose key is in ``done`` are not read again. Networks
    run concurrently; a network's groups run one after the other. ``per_wallet`` False: the summaries
    keep no per-wallet on-chain totals (:attr:`NetworkSummary.per_wallet`). ``on_network(network, summary)``
    is awaited after each slice saved and once the network's groups are all read, its summary then
    complete (a scan stores what its reads said, so that a resumed run that reads nothing more there
    still says it)."""
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
            s.per_wallet = per_wallet
            s.decimals[coin] = target.decimals
            for index, part in enumerate(slices(items, slice_rows)):
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
                if on_network is not None:  # what was said so far, kept with the slice: a kill keeps it
                    await on_network(target.network, s)
                if on_progress:
                    on_progress(len(part))

        by_network: dict[str, list] = defaultdict(list)
        for (coin, height), items in todo.items():
            by_network[coins[coin].network].append((coin, height, items))

        async def run_network(nid: str, jobs) -> None:
            for coin, height, items in jobs:
                await run_group(coin, height, items)
            s, ad = summaries[nid], adapters[nid]
            s.requests = ad.requests
            for label, errs in ad.provider_errors().items():
                if errs:
                    s.notes.append(f"provider errors on {label}: " + ", ".join(f"{k} {v}" for k, v in sorted(errs.items())))
            if on_network is not None:
                await on_network(nid, s)

        tasks = [asyncio.ensure_future(run_network(nid, jobs)) for nid, jobs in by_network.items()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # One network failed (a slice that could not be saved): the others are stopped before the
            # adapters close under them. A bare gather left them reading on closed sessions; those reads
            # failed ("Session is closed"), were recorded as unread and saved with their checkpoints,
            # so a resumed run never read them again.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    finally:
        for ad in adapters.values():
            await ad.close()
    return summaries


def _record(part: list[Job], batch: BalanceBatch | None, coin: str, target: CoinTarget, height, s: NetworkSummary,
            checks: list[BalanceRecord], failure: str = "") -> None:
    # one call per slice of up to 20k rows: the counts are kept in locals and added to ``s`` once
    results = None
    if batch is not None:
        s.strategies.update(x for x in batch.strategy.split(",") if x)
        s.notes.extend(n for n in batch.notes if n not in s.notes)
        results = batch.results
    read = unread = matched = mismatched = unpublished = 0
    published_sum, any_published = 0, False
    last_block: BlockRef | None = None
    append = checks.append
    for idx, (line, row_coin, address, published, why) in enumerate(part):
        res = results[idx] if results is not None else None
        if published is not None:
            published_sum += published
            any_published = True
        if res is None or res.amount_base_units is None:
            unread += 1
            reason = (res.error if res is not None else failure or "adapter failed") or "not read"
            append(_checked(line, row_coin, target, address, height, published, None,
                            res.block if res else None, "unread", reason, res.endpoint if res else ""))
            continue
        onchain = res.amount_base_units
        read += 1
        if s.per_wallet:
            wallet = (target.asset, target.contract or "", canonical_address(address))
            if wallet in s.counted:  # listed again (another coin key, spelling or height): counted once
                s.duplicates += 1
            else:
                s.counted.add(wallet)
                s.onchain_total[coin] = s.onchain_total.get(coin, 0) + onchain
        block = res.block
        if block is not None and block is not last_block:  # an adapter gives one BlockRef for many rows
            s.blocks.add((block.number, block.hash, block.at_snapshot))
            last_block = block
        if published is not None and published == onchain:
            status, reason = "match", ""
            matched += 1
        elif published is None and why == NO_PUBLISHED_AMOUNT:
            status, reason = "unpublished", why  # read, and nothing to compare it with: not a mismatch
            unpublished += 1
        else:
            status = "mismatch"
            mismatched += 1
            if published is None:
                reason = why
            else:
                diff = onchain - published
                reason = f"on chain {onchain}, published {published} (difference {diff:+d} base units)"
        if block is not None and not block.at_snapshot:
            reason = (reason + "; " if reason else "") + f"read at block {block.number}, not at the snapshot"
        append(_checked(line, row_coin, target, address, height, published, onchain, block, status, reason,
                        res.endpoint, *split_of(res)))
    s.rows += len(part)
    s.read += read
    s.unread += unread
    s.matched += matched
    s.mismatched += mismatched
    s.unpublished += unpublished
    if any_published:
        s.published_total[coin] = s.published_total.get(coin, 0) + published_sum


def split_of(res: BalanceResult) -> tuple[int | None, int | None]:
    """(staked, unbonding) of a read, from its non-liquid parts; (None, None) when the split is unknown
    (not read, or a part this version does not know: it must not pass as liquid)."""
    if not res.parts_known:
        return None, None
    if not res.parts:  # all liquid: most reads
        return 0, 0
    got = {"staked": 0, "unbonding": 0}
    for name, units in res.parts:
        if name not in got:
            return None, None
        got[name] += units
    return got["staked"], got["unbonding"]


def _checked(line: int, coin: str, target: CoinTarget, address: str, height: int | None, published: int | None,
             onchain: int | None, block: BlockRef | None, status: str, reason: str, endpoint: str,
             staked: int | None = 0, unbonding: int | None = 0) -> BalanceRecord:
    return BalanceRecord(line=line, coin=coin, network=target.network, asset=target.asset, address=address,
                         snapshot_height=height, published_base_units=published, onchain_base_units=onchain,
                         decimals=target.decimals, block_number=block.number if block else None,
                         block_hash=block.hash if block else None, at_snapshot=block.at_snapshot if block else None,
                         status=status, reason=reason, endpoint=endpoint, staked=staked, unbonding=unbonding)


def _unread_record(line: int, coin: str, network: str, asset: str, address: str, height: int | None, status: str,
                   reason: str) -> BalanceRecord:
    """A row not read at all (unreadable, or no adapter for its chain)."""
    return BalanceRecord(line=line, coin=coin, network=network, asset=asset, address=address, snapshot_height=height,
                         published_base_units=None, onchain_base_units=None, decimals=None, block_number=None,
                         block_hash=None, at_snapshot=None, status=status, reason=reason, endpoint="")


# Job, fill_heights and one_height live in plan.py (the grouping rule) and stay importable from here
__all__ = ["NetworkSummary", "check_balances", "Decimal", "Job", "fill_heights", "one_height"]
