"""The snapshot window: is a reserve present only around the snapshot? ("window dressing")

For each wallet the run read at its snapshot height H, the balance at H - w and at H + w is read with
the same adapters and the same grouping the scan uses (balances.read_groups over (coin key, height)
groups of plan.Job), and b0 is the run's stored balance at H. Per wallet (base units):

    window-dressed    max(0, b0 - max(b-, b+))   present at H, absent on both sides
    arrived before    max(0, b0 - b-)            arrived within w before H
    left after        max(0, b0 - b+)            left within w after H

summed per asset and network; the top N wallets by dressed amount are named. A side that could not be
read makes the wallet "unread" for the window (counted with its reason, never a zero); H + w beyond
the chain head is such a side. Only networks whose adapter reads at a height are read
(``adapters.reads_at``); the others are listed as not readable at a past height.

w is a number of blocks (``100``) or a duration (``90s``, ``30m``, ``6h``, ``3d``). A duration becomes
heights per network: EVM and Bitcoin Core/Knots endpoints by a binary search over block timestamps
(the last block at or before time(H) -/+ d); other Bitcoin-family endpoints by the coin's target block
interval, said to be an approximation; other kinds need w in blocks.

The window plan comes from the run's stored balance records (each names the coin key it was read as,
its network, address and the block it was read at): the balance planner's own output, so the rows
are grouped exactly as the scan grouped them, without the reserve file or its layout. The reads at
H -/+ w are never stored as the run's balances: they are not the snapshot.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from chains.jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError

from ..amounts import EXACT, from_base_units
from ..config.networks import CoinTarget, Network
from ..errors import UsageError
from ..records import BalanceRecord
from ..storage import Store
from ..window_model import WindowAddress, WindowAsset, WindowBlocks, WindowCount, WindowPlace, WindowReport
from .adapters import AT_SNAPSHOT, reads_at
from .aggregate import canonical_address
from .balances import read_groups
from .plan import Job, routed_target

TOP_N = 10
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WINDOW = re.compile(r"\s*(\d+)\s*(blocks?|[smhdw])?\s*", re.IGNORECASE)
# target block interval (seconds) of the Bitcoin family, for a duration on endpoints without block times
_BLOCK_SECONDS = {"BTC": 600, "BCH": 600, "LTC": 150, "DASH": 150, "DOGE": 60}
_READ = ("match", "mismatch", "unpublished")  # stored balance statuses of a wallet read at H


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """w as asked: blocks or seconds, exactly one set."""

    text: str
    blocks: int | None = None
    seconds: int | None = None


def parse_window(text: str) -> WindowSpec:
    """``100`` / ``100 blocks`` (blocks) or ``90s``, ``30m``, ``6h``, ``3d``, ``1w`` (a duration)."""
    m = _WINDOW.fullmatch(text or "")
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"--window {text!r}: a positive number of blocks (100) or a duration (90s, 30m, 6h, 3d, 1w)")
    n, unit = int(m.group(1)), (m.group(2) or "").lower()
    if not unit or unit.startswith("block"):
        return WindowSpec(text.strip(), blocks=n)
    return WindowSpec(text.strip(), seconds=n * _UNITS[unit])


# ------------------------------------------------------------------------------------ heights


class _Clock:
    """A network's head and block times over one endpoint (EVM or Bitcoin Core JSON-RPC)."""

    def __init__(self, network: Network, endpoint: Endpoint):
        self.kind = "evm" if network.kind == "evm" else "core"
        self.client = JsonRpcClient(endpoint, attempts=3)
        self._times: dict[int, int] = {}

    @staticmethod
    def for_network(network: Network) -> list[_Clock]:
        """One clock per endpoint that can tell block times, in the configured (failover) order."""
        out = []
        for i, ep in enumerate(network.endpoints):
            if network.kind == "bitcoin":
                opts = network.endpoint_options[i] if i < len(network.endpoint_options) else {}
                default = "electrum" if ep.url.split("://", 1)[0] in ("tcp", "ssl", "tls") else "core"
                if str(opts.get("protocol", default)) != "core":
                    continue
            elif network.kind != "evm":
                continue
            out.append(_Clock(network, ep))
        return out

    async def head(self) -> int:
        if self.kind == "evm":
            return int(await self.client.call("eth_blockNumber", []), 16)
        return int(await self.client.call("getblockcount", []))

    async def time(self, height: int) -> int:
        if height not in self._times:
            if self.kind == "evm":
                block = await self.client.call("eth_getBlockByNumber", [hex(height), False])
                if not block:
                    raise RpcError(0, f"no block {height}")
                self._times[height] = int(block["timestamp"], 16)
            else:
                header = await self.client.call("getblockheader", [await self.client.call("getblockhash", [height])])
                self._times[height] = int(header["time"])
        return self._times[height]

    async def last_at_or_before(self, when: int, high: int) -> int | None:
        """The highest block in [0, high] whose time is at or before ``when`` (None: none is)."""
        if await self.time(0) > when:
            return None
        lo, hi = 0, high
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if await self.time(mid) <= when:
                lo = mid
            else:
                hi = mid - 1
        return lo

    async def close(self) -> None:
        await self.client.close()


@dataclass(slots=True)
class _Side:
    height: int | None
    why: str = ""  # why height is None


_CLOCK_ERRORS = (RpcError, TransportError, KeyError, TypeError, ValueError)


def _shifted(snapshot: int, n: int) -> tuple[_Side, _Side]:
    return (_Side(snapshot - n) if snapshot - n >= 0 else _Side(None, "H - w is before block 0")), _Side(snapshot + n)


async def _by_time(clock: _Clock, snapshot: int, seconds: int) -> tuple[_Side, _Side, int]:
    """H -/+ ``seconds`` as the last blocks at or before those instants, and the head."""
    head = await clock.head()
    t0 = await clock.time(snapshot)
    low = await clock.last_at_or_before(t0 - seconds, snapshot)
    before = _Side(low) if low is not None else _Side(None, "time(H) - w is before block 0")
    if await clock.time(head) < t0 + seconds:
        return before, _Side(None, f"time(H) + w is after the chain head (block {head})"), head
    return before, _Side(await clock.last_at_or_before(t0 + seconds, head)), head


async def _place(network: Network, snapshot: int, spec: WindowSpec, clocks: list[_Clock]) -> WindowBlocks:
    """H - w and H + w on one network, as heights; a side that cannot be placed says why. The
    endpoints are asked in their failover order; the first that answers places the heights."""
    before, after = _Side(None), _Side(None)
    how, notes, head, failed = "blocks", [], None, []
    if spec.blocks is not None:
        before, after = _shifted(snapshot, spec.blocks)
        for clock in clocks:
            try:
                head = await clock.head()
                break
            except _CLOCK_ERRORS as exc:
                failed.append(clock.client.redact(f"{clock.client.label}: {exc}"))
        if head is None and failed:
            notes.append(f"chain head not read ({'; '.join(failed)}): a side beyond it is left to the balance read")
    elif clocks:
        assert spec.seconds is not None
        how = "block timestamps"
        for clock in clocks:
            try:
                before, after, head = await _by_time(clock, snapshot, spec.seconds)
                break
            except _CLOCK_ERRORS as exc:
                failed.append(clock.client.redact(f"{clock.client.label}: {exc}"))
        else:
            why = f"heights not placed: {'; '.join(failed) or 'no endpoint'}"
            before, after = _Side(None, why), _Side(None, why)
        if network.kind == "bitcoin":
            notes.append("Bitcoin block times are not strictly increasing: a height may be off by a block or two")
    elif network.kind == "bitcoin":
        assert spec.seconds is not None
        per = _BLOCK_SECONDS.get(str(network.options.get("coin", network.native_symbol)).upper(), 600)
        n = max(1, spec.seconds // per)
        how = f"approximation: {spec.seconds}s / {per}s per block = {n} blocks (no block times on this endpoint)"
        before, after = _shifted(snapshot, n)
    else:
        why = f"a duration needs block times, which porscan reads on EVM and Bitcoin nodes only: give {network.id} w in blocks"
        before, after = _Side(None, why), _Side(None, why)
    if head is not None and after.height is not None and after.height > head:
        after = _Side(None, f"H + w ({after.height}) is beyond the chain head ({head})")
    note = "; ".join([s.why for s in (before, after) if s.why] + notes)
    return WindowBlocks(network=network.id, snapshot=snapshot, before=before.height, after=after.height, how=how,
                        note=note)


# ------------------------------------------------------------------------------------ the window


@dataclass(slots=True)
class _Wallet:
    key: str  # coin key the run read it as
    target: CoinTarget
    rec: BalanceRecord
    snapshot: int | None = None
    why: str = ""  # why the wallet is left out of the window's sums
    before: int | None = None
    after: int | None = None


@dataclass(slots=True)
class _Sums:
    decimals: int
    dressed: int = 0
    arrived: int = 0
    left: int = 0
    at: int = 0
    addresses: int = 0
    read: int = 0
    top: list[WindowAddress] = field(default_factory=list)
    unread: Counter = field(default_factory=Counter)


async def stored_balances(store: Store, run_id: int) -> list[BalanceRecord]:
    out: list[BalanceRecord] = []
    async for batch in store.iter_balances(run_id):
        out.extend(batch)
    return out


async def compute_window(balances: list[BalanceRecord], spec: WindowSpec, coins: Mapping[str, CoinTarget],
                         networks: Mapping[str, Network], *, top_n: int = TOP_N,
                         adapter_options: dict | None = None) -> WindowReport:
    """The window around the heights ``balances`` (a run's stored balance records) were read at."""
    wallets: list[_Wallet] = []
    routed: dict[str, CoinTarget] = {}
    seen: set[tuple[str, str, str, str]] = set()
    not_readable: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    for rec in sorted(balances, key=lambda r: r.line):
        if rec.status in ("unsupported", "invalid_row"):
            left_out[rec.status] += 1
            continue
        key = rec.coin.strip().upper()
        # a row the scan routed by its address's shape was read under a COIN@NETWORK key: rebuilt here
        target = coins.get(key) or routed_target(key, coins, dict(networks))
        if target is not None and key not in coins:
            routed[key] = target
        net = networks.get(rec.network)
        if target is None or net is None:
            not_readable[f"{rec.network}: coin {rec.coin} is not in this coin and network configuration"] += 1
            continue
        reads = reads_at(net)
        if not reads.startswith(AT_SNAPSHOT):
            not_readable[f"{net.id}: not readable at a past height (its adapter reads at {reads})"] += 1
            continue
        wallet = (target.asset, net.id, target.contract or "", canonical_address(rec.address))
        if wallet in seen:  # listed again: one wallet, counted once, as the scan counts it
            continue
        seen.add(wallet)
        w = _Wallet(key, target, rec)
        if rec.onchain_base_units is None or rec.status not in _READ or rec.block_number is None:
            w.why = "not read at H in the run"
        elif not rec.at_snapshot:
            w.why = "read at the latest block in the run, not at a snapshot height"
        else:
            w.snapshot = rec.block_number
        wallets.append(w)

    places: dict[tuple[str, int], WindowBlocks] = {}
    clocks = {nid: _Clock.for_network(networks[nid]) for nid in {w.target.network for w in wallets if w.why == ""}}
    try:
        for nid, h in sorted({(w.target.network, w.snapshot) for w in wallets if w.snapshot is not None}):
            places[(nid, h)] = await _place(networks[nid], h, spec, clocks[nid])
    finally:
        for some in clocks.values():
            for clock in some:
                await clock.close()

    groups: dict[tuple[str, int | None], list[Job]] = defaultdict(list)
    for w in wallets:
        if w.snapshot is None:
            continue
        p = places[(w.target.network, w.snapshot)]
        if p.before is None or p.after is None:
            w.why = p.note or "H - w or H + w not placed"
            continue
        for h in (p.before, p.after):
            groups[(w.key, h)].append(Job(w.rec.line, w.rec.coin, w.rec.address, None, ""))
    got: dict[tuple[int, str, int | None], BalanceRecord] = {}

    async def collect(_key: str, part: list[BalanceRecord]) -> None:
        for r in part:
            got[(r.line, r.coin, r.snapshot_height)] = r

    if groups:
        targets = {key: routed.get(key) or coins[key] for key, _h in groups}
        await read_groups(dict(groups), targets, dict(networks), on_slice=collect, adapter_options=adapter_options)
    for w in wallets:
        if w.why or w.snapshot is None:
            continue
        p = places[(w.target.network, w.snapshot)]
        for side, at in (("before", p.before), ("after", p.after)):
            r = got.get((w.rec.line, w.rec.coin, at))
            sign = "-" if side == "before" else "+"
            if r is None or r.onchain_base_units is None:
                w.why = f"H {sign} w not read: " + (r.reason if r is not None and r.reason else "no result")
                break
            if r.block_number != at or not r.at_snapshot:
                w.why = f"H {sign} w read at block {r.block_number}, not at {at}"
                break
            setattr(w, side, r.onchain_base_units)
    return _summarise(wallets, spec, top_n, places, not_readable, left_out)


def _summarise(wallets: list[_Wallet], spec: WindowSpec, top_n: int, places: dict[tuple[str, int], WindowBlocks],
               not_readable: Counter[str], left_out: Counter[str]) -> WindowReport:
    sums: dict[tuple[str, str], _Sums] = {}
    for w in wallets:
        s = sums.setdefault((w.target.asset, w.target.network), _Sums(w.target.decimals))
        s.addresses += 1
        if w.why or w.before is None or w.after is None or w.snapshot is None:
            s.unread[w.why or "not read"] += 1
            continue
        assert w.rec.onchain_base_units is not None
        a = WindowAddress(network=w.target.network, address=w.rec.address, line=w.rec.line, decimals=w.target.decimals,
                          before=w.before, at=w.rec.onchain_base_units, after=w.after, snapshot=w.snapshot)
        s.read += 1
        s.dressed += a.dressed
        s.arrived += a.arrived
        s.left += a.left
        s.at += a.at
        if a.dressed:
            s.top.append(a)
    assets: list[WindowAsset] = []
    for asset in sorted({k[0] for k in sums}):
        mine = sorted((n, s) for (x, n), s in sums.items() if x == asset)

        def total(pick) -> Decimal:
            out = Decimal(0)
            for _n, s in mine:
                out = EXACT.add(out, from_base_units(pick(s), s.decimals))
            return out

        top = sorted((a for _n, s in mine for a in s.top),
                     key=lambda a: (-from_base_units(a.dressed, a.decimals), a.network, a.address))[:top_n]
        unread: Counter[str] = Counter()
        for _n, s in mine:
            unread.update({f"{_n}: {why}": c for why, c in s.unread.items()})
        assets.append(WindowAsset(
            asset=asset, dressed=total(lambda s: s.dressed), arrived=total(lambda s: s.arrived),
            left=total(lambda s: s.left), at=total(lambda s: s.at), addresses=sum(s.addresses for _n, s in mine),
            addresses_read=sum(s.read for _n, s in mine),
            networks=tuple(WindowPlace(network=n, decimals=s.decimals, dressed=s.dressed, arrived=s.arrived, left=s.left,
                                       at=s.at, addresses=s.addresses, addresses_read=s.read) for n, s in mine),
            top=tuple(top), unread=tuple(WindowCount(reason=r, addresses=c) for r, c in sorted(unread.items()))))
    notes = [f"{n} row(s) with status {st} have no balance at H and are not in the window" for st, n in sorted(left_out.items())]
    return WindowReport(window=spec.text, blocks=spec.blocks, seconds=spec.seconds, top_n=top_n,
                        heights=tuple(places[k] for k in sorted(places)), assets=tuple(assets),
                        not_readable=tuple(WindowCount(reason=r, addresses=c) for r, c in sorted(not_readable.items())),
                        notes=tuple(notes))


async def window_of_run(store: Store, run_id: int, spec: WindowSpec, coins: Mapping[str, CoinTarget],
                        networks: Mapping[str, Network], *, top_n: int = TOP_N,
                        adapter_options: dict | None = None) -> WindowReport:
    """The window of a stored run (its balances as stored; nothing is written)."""
    await store.get_run(run_id)  # an unknown run is a StoreError naming it
    return await compute_window(await stored_balances(store, run_id), spec, coins, networks, top_n=top_n,
                                adapter_options=adapter_options)


def with_window(report, window: WindowReport):
    """The scan report carrying ``window``, its rubric recomputed (the window criterion now measured)."""
    from .rubric import rubric

    report = dataclasses.replace(report, window=window)
    return dataclasses.replace(report, rubric=rubric(report))


async def scan_window(ctx, store: Store, run, ui, report):
    """``porscan scan --window``: the window of the run just aggregated, in its report (``ctx`` is the
    scan's context: its coins, networks and options)."""
    spec = parse_window(ctx.opts.window)
    ui.stage("window", None)
    window = await window_of_run(store, run.id, spec, ctx.coins, ctx.networks, top_n=ctx.opts.window_top,
                                 adapter_options=ctx.opts.adapter_options)
    ui.end_stage()
    return with_window(report, window)
