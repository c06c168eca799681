"""The balance plan: which rows are read, in which (coin key, snapshot height) groups, and which rows
no adapter can read and why. One planner, one grouping rule, for ``porscan scan`` (rows as the run
stores them), ``porscan scan --dry`` and ``porscan balances`` (rows as the file gives them), so the plan
``--dry`` prints is the plan a run executes (rows without a height get their network's one height the
same way everywhere; unsupported rows get the same reasons)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..amounts import to_base_units
from ..config.networks import CoinTarget, CoinTargets, Network
from ..records import BalanceRecord, RowRecord
from .adapters import supported_kinds
from .aggregate import CoinPlace
from .ingest import ReserveRow
from .spool import Job, Jobs, JobSpool, SpoolBudget, merged

NO_PUBLISHED_AMOUNT = "no published amount"
NOT_READ = ("invalid_row", "skipped")  # verification statuses whose rows are not read on chain

# A beacon chain's execution layer, by its genesis_validators_root (networks.toml [networks.beacon]):
# the EVM chain id whose accounts a 20-byte address of that chain's staking coin is.
EXECUTION_CHAIN_OF_BEACON = {
    "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95": 1,  # mainnet
    "0x9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1": 17000,  # holesky
}


_HEX = re.compile(r"[0-9a-fA-F]+")
ACCOUNT_HEX, VALIDATOR_HEX = 40, 96  # hex digits after 0x of a 20-byte account, a 48-byte BLS12-381 key


def address_shape(address: str) -> str:
    """"validator" (0x + 96 hex: a 48-byte BLS12-381 public key), "account" (0x + 40 hex), else ""."""
    a = address.strip()
    if a[:2] not in ("0x", "0X"):
        return ""
    body = a[2:]
    if len(body) not in (ACCOUNT_HEX, VALIDATOR_HEX) or _HEX.fullmatch(body) is None:
        return ""
    return "validator" if len(body) == VALIDATOR_HEX else "account"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one row is read: ``key`` (its coin key, or a ``COIN@NETWORK`` key for ``target``), or why it
    cannot be read (``why``, on ``network``)."""

    key: str
    target: CoinTarget | None = None  # a target to register under ``key`` (a row routed by its address)
    why: str = ""
    network: str = ""


def route_by_shape(coin: str, written: str, address: str, coins: Mapping[str, CoinTarget],
                   networks: dict[str, Network]) -> Route:
    """Where a row is read by its address's shape rather than its coin name: a validator key (OKX's
    "Native ETH Staking" rows under coin ETH) on the beacon network whose coin is the row's asset,
    counted as that asset (their ETH is in OKX's published ETH total); a 20-byte address of a coin keyed
    on a beacon network (HTX's BETH rows) on that beacon chain's execution network. The routed key is
    ``COIN@NETWORK``, so the row's balance record says what it was read as. Any other row keeps its key."""
    target = coins.get(coin)
    net = networks.get(target.network) if target is not None else None
    if target is None or net is None:
        return Route(coin)
    if net.kind != "beacon" and len(address.strip()) != 2 + VALIDATOR_HEX:
        return Route(coin)  # off a beacon network only a validator key is routed: most rows end here, unchecked
    shape = address_shape(address)
    if not shape:
        return Route(coin)
    written = written.strip().upper()
    if shape == "validator" and net.kind != "beacon":
        beacons = [n for n in networks.values() if n.kind == "beacon" and n.native_symbol == target.asset]
        if len(beacons) != 1:
            return Route(coin)
        b = beacons[0]
        key = f"{written}@{b.id.upper()}"
        return Route(key, CoinTarget(coin=key, network=b.id, asset=target.asset, contract=None, decimals=target.decimals))
    if shape == "account" and net.kind == "beacon":
        chain = EXECUTION_CHAIN_OF_BEACON.get(str(net.options.get("genesis_validators_root", "")).lower())
        execution = [n for n in networks.values() if n.kind == "evm" and chain is not None and n.chain_id == chain]
        if len(execution) != 1:
            return Route(coin, why=f"{written} at a 20-byte address is an account, not a validator key, and no "
                                   f"execution network of {net.id} is configured", network=net.id)
        e = execution[0]
        key = f"{written}@{e.id.upper()}"
        if target.asset == e.native_symbol:
            return Route(key, CoinTarget(coin=key, network=e.id, asset=target.asset, contract=None,
                                         decimals=e.native_decimals))
        same = {(t.contract, t.decimals) for t in list(coins.values())
                if t.network == e.id and t.asset == target.asset and t.contract}
        if len(same) == 1:
            ((contract, decimals),) = same
            return Route(key, CoinTarget(coin=key, network=e.id, asset=target.asset, contract=contract, decimals=decimals))
        return Route(coin, network=e.id, why=(
            f"{written} at a 20-byte address is an account on {e.id}, not a validator key: "
            + (f"no {target.asset} token contract on {e.id} in scanner/config/coins.toml" if not same else
               f"{len(same)} {target.asset} token contracts on {e.id} in scanner/config/coins.toml: say which")))
    return Route(coin)


_SAMPLE_ADDRESS = {"validator": "0x" + "00" * 48, "account": "0x" + "00" * 20}  # shapes only, never read


def routed_target(key: str, coins: Mapping[str, CoinTarget], networks: dict[str, Network]) -> CoinTarget | None:
    """The target of a ``COIN@NETWORK`` key that :func:`route_by_shape` makes, rebuilt from the coin and the
    networks alone (a process that did not plan the file, e.g. a ``porscan worker``, reads it the same way);
    None for any other key."""
    written, _, net_id = key.strip().upper().rpartition("@")
    net = next((n for n in networks.values() if n.id.upper() == net_id), None)
    if not written or net is None:
        return None
    shape = "validator" if net.kind == "beacon" else "account"
    route = route_by_shape(written, written, _SAMPLE_ADDRESS[shape], coins, networks)
    return route.target if route.key == key.strip().upper() else None


def published_base_units(row: ReserveRow, target: CoinTarget) -> tuple[int | None, str]:
    if row.amount is None:
        return None, NO_PUBLISHED_AMOUNT
    if row.amount_in_base_units:
        return int(row.amount), ""
    units = to_base_units(row.amount, target.decimals)
    if units is None:
        return None, f"published amount {row.amount_text} has more than {target.decimals} decimals"
    return units, ""


Groups = dict[tuple[str, int | None], Jobs]  # (coin key upper, snapshot height) -> rows in file order


def unpublished_reason(amount_base_units: int | None, amount_text: str) -> str:
    """Why a stored row has no published amount in base units ("" when it has one)."""
    if amount_base_units is not None:
        return ""
    return (NO_PUBLISHED_AMOUNT if not amount_text.strip() else
            f"published amount {amount_text.strip()} does not fit the coin's decimals")


def plain_networks(networks: Mapping[str, Network], kinds: frozenset[str]) -> frozenset[str]:
    """The networks whose rows go straight to their group, unless the row's address is a validator key's
    length: an adapter reads them, they have an endpoint, and they are not a beacon chain (whose rows
    :func:`route_by_shape` may send elsewhere). The planner's fast path, in this process or a worker's."""
    return frozenset(nid for nid, n in networks.items() if n.kind != "beacon" and readable(n, kinds))


def readable(net: Network | None, kinds: frozenset[str]) -> bool:
    """Can this configuration read the network: an adapter of its kind, and an endpoint to use."""
    return net is not None and net.kind in kinds and bool(net.endpoints)


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """The planner's straight path (:meth:`BalancePlanner._add`'s first branch) for the verification
    workers that parse the file for the plan: they send a chunk's rows already as their groups' jobs,
    and this process only extends the groups (600k rows through ``add`` here cost 1.5 core-s).

    Only rows keyed without ``@`` take it: every key :func:`route_by_shape` routes to has one, so no row
    planned here ever shares a group with a routed row, and these rows' keys resolve alike in a
    worker's copy of the coin map and in this process's (which routed targets are added to). A chunk
    with a row of a straight key at a validator key's length is planned here whole, row by row: such a
    row may stay in its key's group, and the groups' rows must stay in file order."""

    coins: CoinTargets
    networks: frozenset[str]  # plain_networks
    keyed_by_network: bool

    def split(self, records: Iterable[tuple]) -> tuple[dict[tuple[str, int | None], list[tuple]], list[tuple]] | None:
        """A chunk's records (RowRecord fields, in order) -> (group -> Job tuples in file order, the
        records left to :meth:`BalancePlanner.add`), or None: plan the whole chunk with ``add``."""
        groups: dict[tuple[str, int | None], list[tuple]] = {}
        rest: list[tuple] = []
        keys: dict[tuple[str, str], str] = {}
        straight: dict[str, bool] = {}
        coins, networks, keyed = self.coins, self.networks, self.keyed_by_network
        for r in records:
            line, coin, network, address, height, amount_text, units, status = r[:8]
            if status in NOT_READ:
                continue
            key = keys.get((coin, network))
            if key is None:
                key = keys[(coin, network)] = coins.key_for(coin, network, keyed)
            plain = straight.get(key)
            if plain is None:
                target = coins.get(key)
                plain = straight[key] = "@" not in key and target is not None and target.network in networks
            if not plain:
                rest.append(r)
                continue
            if len(address.strip()) == 2 + VALIDATOR_HEX:
                return None
            group = groups.get((key, height))
            if group is None:
                group = groups[(key, height)] = []
            group.append((line, coin, address, units, unpublished_reason(units, amount_text)))
        return groups, rest


def unsupported_reason(coin: str, coins: Mapping[str, CoinTarget], networks: dict[str, Network],
                       kinds: frozenset[str]) -> tuple[str, str] | None:
    """(network id, reason) when the coin's balance cannot be read with this configuration, else None."""
    target = coins.get(coin.upper())
    net = networks.get(target.network) if target else None
    if target is not None and readable(net, kinds):
        return None
    why_not = getattr(coins, "why_not", None)  # a CoinTargets says why a name did not resolve
    why = ((f"no balance adapter for coin {coin}" + (f": {why_not(coin)}" if why_not and why_not(coin) else ""))
           if target is None else
           f"network {target.network} is not configured" if net is None else
           f"no adapter for {net.kind} networks yet" if net.kind not in kinds else
           f"network {target.network} has no usable endpoint"
           + (f" (left out: {'; '.join(net.skipped_endpoints)})" if net.skipped_endpoints else ""))
    return (target.network if target else ""), why


def network_heights(keys: Iterable[tuple[str, int | None]], coins: Mapping[str, CoinTarget],
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


def fill_heights(groups: Mapping[tuple[str, int | None], Jobs], coins: Mapping[str, CoinTarget],
                 file_heights: dict[str, int] | None = None) -> tuple[Groups, dict[str, str]]:
    """Rows that publish no height are read at their network's snapshot height, where the file gives
    exactly one for that network (its other rows, or its summary block: ``file_heights``, coin ->
    height); else at the latest block, which every report labels. Returns the regrouped rows and one
    note per network saying which it was."""
    by_network = network_heights(groups, coins, file_heights)
    parts: dict[tuple[str, int | None], list[Jobs]] = defaultdict(list)
    unheighted: dict[str, int] = defaultdict(int)
    for (coin, height), jobs in groups.items():
        nid = coins[coin].network
        if height is None:
            unheighted[nid] += len(jobs)
            height = one_height(by_network.get(nid))
        parts[(coin, height)].append(jobs)
    out: Groups = {key: merged(p) for key, p in parts.items()}  # a group's rows in file order, as before
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
    return out, notes



class HasHeights(Protocol):
    """All the planner needs of a file's head: the snapshot heights its summary block gives (coin -> height)."""

    @property
    def heights(self) -> dict[str, int]: ...


class PlanContext(Protocol):
    """What the planner needs: a scan's context (scan._Context) or a file's (:class:`FileContext`)."""

    @property
    def coins(self) -> Mapping[str, CoinTarget]: ...

    @property
    def networks(self) -> dict[str, Network]: ...

    @property
    def head(self) -> HasHeights: ...

    def key(self, coin: str, network: str) -> str: ...

    def place(self, coin: str) -> CoinPlace: ...


@dataclass(frozen=True, slots=True)
class SummaryHeights:
    heights: dict[str, int] = field(default_factory=dict)  # coin -> height, from the file's summary block


@dataclass(frozen=True, slots=True)
class FileContext:
    """The planner's context for a file read outside a scan (``porscan balances``)."""

    coins: Mapping[str, CoinTarget]  # a CoinTargets (names resolved by rule) or a plain mapping of keys
    networks: dict[str, Network]
    head: HasHeights = SummaryHeights()
    keyed_by_network: bool = False  # address lists, auditor CSV: the network column says the chain

    def key(self, coin: str, network: str) -> str:
        key_for = getattr(self.coins, "key_for", None)
        return key_for(coin, network, self.keyed_by_network) if key_for else coin.strip().upper()

    def place(self, coin: str) -> CoinPlace:
        target = self.coins.get(coin)
        if target is not None:
            return CoinPlace(asset=target.asset, network=target.network, decimals=target.decimals, contract=target.contract)
        return CoinPlace(coin, "unconfigured", None)


@dataclass
class BalancePlan:
    groups: Groups  # (coin key, height) -> rows to read there
    unsupported: list[BalanceRecord]  # rows no adapter can read, each with its reason
    height_notes: dict[str, str]  # network -> how rows without a height were placed

    @property
    def rows(self) -> int:
        return sum(len(v) for v in self.groups.values())

    def close(self) -> None:
        """Drop the rows held (in memory and on disk) now, not when the collector finds them."""
        for jobs in self.groups.values():
            if isinstance(jobs, JobSpool):
                jobs.discard()


@dataclass
class BalancePlanner:
    """Feed it rows, then ``finish()``: ``add`` takes rows as a scan stores them (verified, amounts in
    base units), ``add_file_row`` rows as a file gives them; both go through the same rule."""

    ctx: PlanContext
    groups: dict[tuple[str, int | None], JobSpool] = field(default_factory=dict)
    unsupported: list[BalanceRecord] = field(default_factory=list)
    budget: SpoolBudget = field(default_factory=SpoolBudget)  # rows held in memory; past it, on disk (spool.py)
    keep_rows: bool = True  # False: a plan for its counts (--dry, a coordinator's slice keys), rows not kept

    def __post_init__(self) -> None:
        self._kinds = supported_kinds()
        self._plain_networks = plain_networks(self.ctx.networks, self._kinds)
        # coin key -> readable, and off a beacon network: then only a row at a validator key's length
        # can be routed or refused, and every other row of the coin goes straight to its group (asked
        # once per coin; per row it was half the plan's cost)
        self._plain: dict[str, bool] = {}

    def add(self, r: RowRecord) -> None:
        if r.status in NOT_READ:
            return
        self._add(self.ctx.key(r.coin, r.network), r.line, r.coin, r.network, r.address, r.snapshot_height,
                  r.amount_base_units, unpublished_reason(r.amount_base_units, r.amount_text))

    def worker_plan(self, keyed_by_network: bool) -> WorkerPlan | None:
        """The straight path for workers, when this planner's keys are the coin map's ``key_for``
        (a scan's context: ``keyed_by_network`` is its file's layout's); None when they may not be."""
        if not isinstance(self.ctx.coins, CoinTargets) or not self.keep_rows:
            return None
        return WorkerPlan(self.ctx.coins, self._plain_networks, keyed_by_network)

    def add_planned(self, groups: Mapping[tuple[str, int | None], list[tuple]]) -> None:
        """A chunk's rows as :meth:`WorkerPlan.split` grouped them, before the chunk's other rows go to
        :meth:`add` (they never share a group with these)."""
        for (coin, height), jobs in groups.items():
            self._spool(coin, height).extend_rows(jobs)

    def add_file_row(self, row: ReserveRow) -> None:
        coin = self.ctx.key(row.coin, row.network)
        target = self.ctx.coins.get(coin)
        published, why = (published_base_units(row, target) if target is not None else
                          (int(row.amount) if row.amount is not None and row.amount_in_base_units else None, ""))
        self._add(coin, row.line, row.coin, row.network, row.address, row.snapshot_height, published, why)

    def _is_plain(self, coin: str) -> bool:
        plain = self._plain.get(coin)
        if plain is None:
            target = self.ctx.coins.get(coin)
            plain = self._plain[coin] = target is not None and target.network in self._plain_networks
        return plain

    def _add(self, coin: str, line: int, written: str, network: str, address: str, height: int | None,
             published: int | None, why: str) -> None:
        if self._is_plain(coin) and len(address.strip()) != 2 + VALIDATOR_HEX:
            # route_by_shape keeps such a row's key, and unsupported_reason has nothing to say of it
            self._spool(coin, height).append(Job(line, CoinTargets.read_as(coin, written), address, published, why))
            return
        route = route_by_shape(coin, written, address, self.ctx.coins, self.ctx.networks)
        if route.target is not None and isinstance(self.ctx.coins, dict):
            dict.__setitem__(self.ctx.coins, route.key, route.target)  # read like any other key
            coin = route.key
        bad = ((route.network, route.why) if route.why else
               unsupported_reason(coin, self.ctx.coins, self.ctx.networks, self._kinds))
        if bad is not None:
            place = self.ctx.place(coin)
            self.unsupported.append(BalanceRecord(
                line=line, coin=CoinTargets.read_as(coin, written), network=bad[0] or network, asset=place.asset,
                address=address,
                snapshot_height=height, published_base_units=published, onchain_base_units=None,
                decimals=place.decimals, block_number=None, block_hash=None, at_snapshot=None, status="unsupported",
                reason=bad[1], endpoint=""))
            return
        self._spool(coin, height).append(Job(line, CoinTargets.read_as(coin, written), address, published, why))

    def _spool(self, coin: str, height: int | None) -> JobSpool:
        group = self.groups.get((coin, height))
        if group is None:
            group = self.groups[(coin, height)] = JobSpool(self.budget, keep=self.keep_rows)
        return group

    def finish(self) -> BalancePlan:
        groups, notes = fill_heights(self.groups, self.ctx.coins, self.ctx.head.heights)
        return BalancePlan(groups=groups, unsupported=self.unsupported, height_notes=notes)
