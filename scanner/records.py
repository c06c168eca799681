"""The domain records the pipeline produces and the store keeps: plain frozen records, exact amounts
(int base units, Decimal coin units), each with its one JSON form next to it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .amounts import EXACT, coverage, fmt


def _d(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _units(value: int | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class RowRecord:
    """One row's ownership verification."""

    line: int
    coin: str
    network: str
    address: str
    snapshot_height: int | None
    amount_text: str
    amount_base_units: int | None
    status: str
    scheme: str
    reason: str
    custodian: str = ""  # the third party holding the wallet, as an address list names it ("" = the exchange)


@dataclass(frozen=True, slots=True)
class BalanceRecord:
    """One row's balance check: what was read on chain, at which block, and the verdict against the
    published amount (match | mismatch | unpublished | unread | unsupported | invalid_row); unique per
    (run, line, asset). ``porscan balances`` prints it, ``porscan scan`` stores it."""

    line: int
    coin: str
    network: str
    asset: str
    address: str
    snapshot_height: int | None
    published_base_units: int | None
    onchain_base_units: int | None
    decimals: int | None
    block_number: int | None
    block_hash: str | None
    at_snapshot: bool | None
    status: str
    reason: str
    endpoint: str

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a balance check (``porscan balances --json`` rows): base units as strings."""
        return {"line": self.line, "coin": self.coin, "network": self.network, "asset": self.asset,
                "address": self.address, "snapshot_height": self.snapshot_height,
                "published_base_units": _units(self.published_base_units),
                "onchain_base_units": _units(self.onchain_base_units), "decimals": self.decimals,
                "block_number": self.block_number, "block_hash": self.block_hash, "at_snapshot": self.at_snapshot,
                "status": self.status, "reason": self.reason, "endpoint": self.endpoint}


@dataclass(frozen=True, slots=True)
class AssetTotal:
    """Per-asset (network '*') or per-asset-and-network totals, in coin units."""

    asset: str
    network: str
    rows: int
    rows_expected: int
    rows_read: int
    published: Decimal
    onchain: Decimal
    proven: Decimal
    owner_only: Decimal
    key_only: Decimal
    unverified: Decimal
    unread_published: Decimal
    blocks: list  # [{"number", "hash", "at_snapshot"}]

    @property
    def nothing_read(self) -> bool:
        """Rows were expected and none was read: the on-chain figures are unknown, not zero."""
        return self.rows_expected > 0 and self.rows_read == 0

    @property
    def complete(self) -> bool:
        """Every expected row was read (the figures leave out the rows not read)."""
        return self.rows_read >= self.rows_expected

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a total (scan report, feed, dashboard): exact decimal strings; the
        on-chain figures blank, never 0, when nothing was read; coverage by the one rounding rule."""
        if self.nothing_read:  # blank, never 0
            onchain = proven = owner_only = key_only = unverified = difference = None
        else:
            onchain, proven, owner_only, key_only = self.onchain, self.proven, self.owner_only, self.key_only
            unverified, difference = self.unverified, EXACT.subtract(self.onchain, self.published)
        return {"published": _d(self.published), "onchain": _d(onchain), "proven": _d(proven),
                "owner_only": _d(owner_only), "key_only": _d(key_only), "unverified": _d(unverified),
                "unread_published": _d(self.unread_published), "difference": _d(difference),
                "rows": self.rows, "rows_expected": self.rows_expected, "rows_read": self.rows_read,
                "coverage": _d(coverage(self.rows_read, self.rows_expected)),
                # the figures leave out the rows not read (their published amounts are in unread_published)
                "complete": self.complete}

    def to_place_json(self) -> dict[str, Any]:
        """:meth:`to_json` of one (asset, network) place, with the network and the blocks read."""
        return {"network": self.network, **self.to_json(), "blocks": self.blocks}


@dataclass(frozen=True, slots=True)
class LiabilityRecord:
    asset: str
    amount: Decimal
    provenance: str
    source: str
    file: str
    detail: str


@dataclass(frozen=True, slots=True)
class RatioRecord:
    asset: str
    liabilities: Decimal | None
    proven_reserves: Decimal
    with_unproven_reserves: Decimal
    proven_ratio: Decimal | None
    with_unproven_ratio: Decimal | None
    provenance: str
    coverage: Decimal | None
