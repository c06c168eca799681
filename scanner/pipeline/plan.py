"""The balance plan: which rows are read, in which (coin key, snapshot height) groups, and which rows
no adapter can read and why. One planner for the real run and for ``porscan scan --dry``, so the plan
``--dry`` prints is the plan the run executes (rows without a height get their network's one height
the same way in both; unsupported rows get the same reasons)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from ..config.networks import CoinTargets, Network
from ..records import BalanceRecord, RowRecord
from .adapters import supported_kinds
from .aggregate import CoinPlace
from .balances import NO_PUBLISHED_AMOUNT, Job, fill_heights, unsupported_reason
from .ingest import FileHead


class PlanContext(Protocol):
    """What the planner needs of a scan's context (scan._Context)."""

    coins: CoinTargets
    networks: dict[str, Network]
    head: FileHead

    def key(self, coin: str, network: str) -> str: ...

    def place(self, coin: str) -> CoinPlace: ...

NOT_READ = ("invalid_row", "skipped")  # verification statuses whose rows are not read on chain


@dataclass
class BalancePlan:
    groups: dict[tuple[str, int | None], list[Job]]  # (coin key, height) -> rows to read there
    unsupported: list[BalanceRecord]  # rows no adapter can read, each with its reason
    height_notes: dict[str, str]  # network -> how rows without a height were placed

    @property
    def rows(self) -> int:
        return sum(len(v) for v in self.groups.values())


@dataclass
class BalancePlanner:
    """Feed it rows (``add``), then ``finish()``: rows come from the store (a run) or the file (--dry)."""

    ctx: PlanContext
    groups: dict[tuple[str, int | None], list[Job]] = field(default_factory=lambda: defaultdict(list))
    unsupported: list[BalanceRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._kinds = supported_kinds()

    def add(self, r: RowRecord) -> None:
        if r.status in NOT_READ:
            return
        ctx = self.ctx
        coin = ctx.key(r.coin, r.network)
        bad = unsupported_reason(coin, ctx.coins, ctx.networks, self._kinds)
        if bad is not None:
            place = ctx.place(coin)
            self.unsupported.append(BalanceRecord(
                line=r.line, coin=r.coin, network=bad[0] or r.network, asset=place.asset, address=r.address,
                snapshot_height=r.snapshot_height, published_base_units=r.amount_base_units, onchain_base_units=None,
                decimals=place.decimals, block_number=None, block_hash=None, at_snapshot=None, status="unsupported",
                reason=bad[1], endpoint=""))
            return
        why = "" if r.amount_base_units is not None else (
            NO_PUBLISHED_AMOUNT if not r.amount_text.strip() else
            f"published amount {r.amount_text.strip()} does not fit the coin's decimals")
        self.groups[(coin, r.snapshot_height)].append(
            Job(r.line, CoinTargets.read_as(coin, r.coin), r.address, r.amount_base_units, why))

    def finish(self) -> BalancePlan:
        groups, notes = fill_heights(self.groups, self.ctx.coins, self.ctx.head.heights)
        return BalancePlan(groups=groups, unsupported=self.unsupported, height_notes=notes)
