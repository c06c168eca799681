"""The domain records the pipeline produces and the store keeps: plain frozen records, exact amounts
(int base units, Decimal coin units), each with its one JSON form next to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, NamedTuple

from .amounts import EXACT, coverage, fmt, shown_fraction


# provenance: what stands behind a figure
ZK_VERIFIED = "zk-verified"  # a public output of a zero-knowledge proof porscan itself verified
ZK_PUBLISHED = "zk-published"  # a public output of a zero-knowledge proof the publisher ships, not verified here
MERKLE_SUM = "merkle-sum"  # a Merkle-sum root whose hash porscan recomputed from its children
SELF_REPORTED = "self-reported"  # a number the publisher states, bound to nothing porscan checked
PROVENANCES = (ZK_VERIFIED, ZK_PUBLISHED, MERKLE_SUM, SELF_REPORTED)
PROVENANCE_RANK = {ZK_VERIFIED: 0, ZK_PUBLISHED: 1, MERKLE_SUM: 2, SELF_REPORTED: 3}  # lower is stronger
PROVENANCE_NOTES = {ZK_PUBLISHED: "proof not verified by porscan"}  # said next to the label wherever shown
_OLDER_NAMES = {"zk-proven": ZK_PUBLISHED}  # what runs stored before porscan verified any zk proof


def provenance_name(text: str | None) -> str | None:
    """A provenance as this version names it (older stored runs said "zk-proven" for zk-published)."""
    return None if text is None else _OLDER_NAMES.get(text, text)


def _d(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _units(value: int | None) -> str | None:
    return None if value is None else str(value)


class RowRecord(NamedTuple):
    """One row's ownership verification. A named tuple, not a dataclass, for the reason TallyRow is one:
    a scan builds one per row twice (the plan, then what verification stores), and a frozen dataclass
    costs ~1.7 us to build against ~0.3 us; built with keywords and read by name like any record."""

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


class BalanceRecord(NamedTuple):
    """One row's balance check: what was read on chain, at which block, and the verdict against the
    published amount (match | mismatch | unpublished | unread | unsupported | invalid_row); unique per
    (run, line, asset). ``porscan balances`` prints it, ``porscan scan`` stores it. A named tuple, as
    RowRecord is: one per row read."""

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
    # the parts of ``onchain_base_units`` locked in staking (bonded / validator balance) and leaving it
    # (unbonding, exited validators); the rest is liquid. None: the split could not be read, so nothing
    # of this balance may be passed as liquid. 0 and 0: all liquid (what a chain without staking reads).
    staked: int | None = 0
    unbonding: int | None = 0

    @property
    def split_known(self) -> bool:
        return self.staked is not None and self.unbonding is not None

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a balance check (``porscan balances --json`` rows): base units as strings."""
        return {"line": self.line, "coin": self.coin, "network": self.network, "asset": self.asset,
                "address": self.address, "snapshot_height": self.snapshot_height,
                "published_base_units": _units(self.published_base_units),
                "onchain_base_units": _units(self.onchain_base_units), "decimals": self.decimals,
                "block_number": self.block_number, "block_hash": self.block_hash, "at_snapshot": self.at_snapshot,
                "status": self.status, "reason": self.reason, "endpoint": self.endpoint,
                "staked_base_units": _units(self.staked), "unbonding_base_units": _units(self.unbonding)}


class TallyRow(NamedTuple):
    """One stored row as the aggregation reads it: the fields of its verification and of its balance
    read that the sums need, and nothing else (a 10^7-row run is summed from these, not from full
    records). The ``read_*`` / ``balance_status`` fields are None when the row has no balance record.
    A named tuple, not a dataclass: the store builds millions of them per run."""

    line: int
    coin: str  # as the row writes it
    network: str
    status: str  # ownership status
    amount_text: str
    amount_base_units: int | None
    custodian: str
    snapshot_height: int | None
    read_coin: str | None  # the balance record's coin key (``COIN@NETWORK`` when routed by address shape)
    asset: str | None
    read_network: str | None
    decimals: int | None
    address: str | None  # as read
    onchain_base_units: int | None
    block_number: int | None
    block_hash: str | None
    at_snapshot: bool | None
    staked: int | None
    unbonding: int | None
    balance_status: str | None

    @classmethod
    def of(cls, row: RowRecord, bal: BalanceRecord | None) -> "TallyRow":
        if bal is None:
            return cls(line=row.line, coin=row.coin, network=row.network, status=row.status,
                       amount_text=row.amount_text, amount_base_units=row.amount_base_units,
                       custodian=row.custodian, snapshot_height=row.snapshot_height, read_coin=None, asset=None,
                       read_network=None, decimals=None, address=None, onchain_base_units=None, block_number=None,
                       block_hash=None, at_snapshot=None, staked=None, unbonding=None, balance_status=None)
        return cls(line=row.line, coin=row.coin, network=row.network, status=row.status,
                   amount_text=row.amount_text, amount_base_units=row.amount_base_units, custodian=row.custodian,
                   snapshot_height=row.snapshot_height, read_coin=bal.coin, asset=bal.asset,
                   read_network=bal.network, decimals=bal.decimals, address=bal.address,
                   onchain_base_units=bal.onchain_base_units, block_number=bal.block_number,
                   block_hash=bal.block_hash, at_snapshot=bal.at_snapshot, staked=bal.staked,
                   unbonding=bal.unbonding, balance_status=bal.status)


def read_difference(onchain: Decimal | None, published: Decimal, unread_published: Decimal) -> Decimal | None:
    """On chain less the published amount of the rows that were read: the rows not read are left out
    of both sides (their published amount is ``unread_published``, never a shortfall), so how much of
    the figure this covers is its coverage. None when nothing was read."""
    if onchain is None:
        return None
    return EXACT.subtract(onchain, EXACT.subtract(published, unread_published))


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of an asset, or of an asset on one network, in coin units. The on-chain figures
    are None (blank, never 0) when nothing was read."""

    published: Decimal
    onchain: Decimal | None
    proven: Decimal | None
    owner_only: Decimal | None
    key_only: Decimal | None
    unverified: Decimal | None
    unread_published: Decimal
    difference: Decimal | None  # read_difference: over the rows read
    rows: int
    rows_expected: int
    rows_read: int
    coverage: Decimal | None  # shown (rounded down); None when nothing was expected
    # components of ``onchain``: staked and unbonding (read as such), and the on-chain amount of the
    # ``split_unknown_rows`` rows whose split could not be read (neither liquid nor staked: unknown)
    staked: Decimal = Decimal(0)
    unbonding: Decimal = Decimal(0)
    split_unknown: Decimal = Decimal(0)
    split_unknown_rows: int = 0

    @property
    def complete(self) -> bool:
        """Every expected row was read (the figures leave out the rows not read)."""
        return self.rows_read >= self.rows_expected

    @property
    def published_read(self) -> Decimal:
        """The published amount of the rows that were read (what ``difference`` compares on chain with)."""
        return EXACT.subtract(self.published, self.unread_published)

    @property
    def has_split(self) -> bool:
        """Some of ``onchain`` is staked, unbonding or of unknown split: the liquid part is not all of it."""
        return bool(self.staked or self.unbonding or self.split_unknown_rows)

    @property
    def liquid(self) -> Decimal | None:
        """``onchain`` less staked, unbonding and the rows of unknown split (blank when nothing was read)."""
        if self.onchain is None:
            return None
        return EXACT.subtract(self.onchain, EXACT.add(EXACT.add(self.staked, self.unbonding), self.split_unknown))

    def to_json(self) -> dict[str, Any]:
        out = {"published": _d(self.published), "onchain": _d(self.onchain), "proven": _d(self.proven),
               "owner_only": _d(self.owner_only), "key_only": _d(self.key_only), "unverified": _d(self.unverified),
               "unread_published": _d(self.unread_published), "difference": _d(self.difference),
               "rows": self.rows, "rows_expected": self.rows_expected, "rows_read": self.rows_read,
               "coverage": _d(self.coverage),
               # the figures leave out the rows not read (their published amounts are in unread_published)
               "complete": self.complete}
        if self.has_split:  # keys only where there is a split: reports stored before it read the same
            out.update({"liquid": _d(self.liquid), "staked": _d(self.staked), "unbonding": _d(self.unbonding)})
            if self.split_unknown_rows:
                out.update({"split_unknown": _d(self.split_unknown), "split_unknown_rows": self.split_unknown_rows})
        return out


NO_FIGURES = Figures(published=Decimal(0), onchain=Decimal(0), proven=Decimal(0), owner_only=Decimal(0),
                     key_only=Decimal(0), unverified=Decimal(0), unread_published=Decimal(0), difference=Decimal(0),
                     rows=0, rows_expected=0, rows_read=0, coverage=None)


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
    staked: Decimal = Decimal(0)  # of onchain (see Figures)
    unbonding: Decimal = Decimal(0)
    split_unknown: Decimal = Decimal(0)
    split_unknown_rows: int = 0

    @property
    def nothing_read(self) -> bool:
        """Rows were expected and none was read: the on-chain figures are unknown, not zero."""
        return self.rows_expected > 0 and self.rows_read == 0

    @property
    def complete(self) -> bool:
        """Every expected row was read (the figures leave out the rows not read)."""
        return self.rows_read >= self.rows_expected

    def figures(self) -> Figures:
        """The figures as shown: the on-chain ones blank, never 0, when nothing was read; coverage by
        the one rounding rule."""
        if self.nothing_read:  # blank, never 0
            onchain = proven = owner_only = key_only = unverified = difference = None
        else:
            onchain, proven, owner_only, key_only = self.onchain, self.proven, self.owner_only, self.key_only
            unverified = self.unverified
            difference = read_difference(self.onchain, self.published, self.unread_published)
        return Figures(published=self.published, onchain=onchain, proven=proven, owner_only=owner_only,
                       key_only=key_only, unverified=unverified, unread_published=self.unread_published,
                       difference=difference, rows=self.rows, rows_expected=self.rows_expected,
                       rows_read=self.rows_read, coverage=coverage(self.rows_read, self.rows_expected),
                       staked=self.staked, unbonding=self.unbonding, split_unknown=self.split_unknown,
                       split_unknown_rows=self.split_unknown_rows)

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a total (scan report, feed, dashboard): that of its figures."""
        return self.figures().to_json()

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
    """An asset's reserves against its liabilities, as stored per run. The reserves are None when
    none of the asset's rows could be read (unknown, never zero); ``rows_read``/``rows_expected``
    are those of the asset's all-network total (None when not known)."""

    asset: str
    liabilities: Decimal | None
    proven_reserves: Decimal | None
    with_unproven_reserves: Decimal | None
    proven_ratio: Decimal | None
    with_unproven_ratio: Decimal | None
    provenance: str
    coverage: Decimal | None
    rows_read: int | None = None
    rows_expected: int | None = None

    @property
    def partial(self) -> bool:
        """A ratio from incomplete reads (as ``AssetReport.partial``)."""
        return (self.proven_ratio is not None and self.rows_read is not None and self.rows_expected is not None
                and self.rows_read < self.rows_expected)

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a ratio (feed, dashboard): amounts exact, blanks never zeros; the
        ratios as the report writes them, shown (``shown_fraction``) and exact (``*_exact``)."""
        return {"asset": self.asset, "liabilities": _d(self.liabilities),
                "liabilities_provenance": provenance_name(self.provenance),
                "proven_reserves": _d(self.proven_reserves), "with_unproven_reserves": _d(self.with_unproven_reserves),
                "proven_ratio": _d(shown_fraction(self.proven_ratio)),
                "with_unproven_ratio": _d(shown_fraction(self.with_unproven_ratio)),
                "proven_ratio_exact": _d(self.proven_ratio), "with_unproven_ratio_exact": _d(self.with_unproven_ratio),
                "coverage": _d(self.coverage), "rows_read": self.rows_read, "rows_expected": self.rows_expected}


@dataclass(frozen=True, slots=True)
class Failure:
    """A row that failed a stage: verify (signature/row) or balances (mismatch/unread/disputed)."""

    stage: str
    line: int
    coin: str
    network: str
    address: str
    status: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "line": self.line, "coin": self.coin, "network": self.network,
                "address": self.address, "status": self.status, "reason": self.reason}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Failure:
        return cls(stage=str(d["stage"]), line=int(d["line"]), coin=str(d["coin"]), network=str(d["network"]),
                   address=str(d["address"]), status=str(d["status"]), reason=str(d.get("reason") or ""))


@dataclass(frozen=True, slots=True)
class SummaryCheck:
    """One line of a reserve file's summary block against the sum of its detail rows."""

    line: int
    coin: str  # "ETH" or "ETH(ALL)"
    published: str  # as printed in the file
    detail_sum: str | None  # coin units, exact; None when it cannot be computed
    detail_rows: int
    status: str  # match | mismatch | unknown
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "coin": self.coin, "published": self.published, "detail_sum": self.detail_sum,
                "detail_rows": self.detail_rows, "status": self.status, "note": self.note}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SummaryCheck:
        return cls(line=int(d["line"]), coin=str(d["coin"]), published=str(d["published"]),
                   detail_sum=None if d.get("detail_sum") is None else str(d["detail_sum"]),
                   detail_rows=int(d.get("detail_rows") or 0), status=str(d["status"]), note=str(d.get("note") or ""))


# what porscan concluded about one liabilities proof: verified (porscan recomputed everything the proof
# binds and it held), failed (the reason names the first check that did not hold, with the file and
# the JSON path or batch), not_verified (porscan cannot check this kind of proof here; not a failure)
VERIFIED = "verified"
FAILED = "failed"
NOT_VERIFIED = "not_verified"
STATUSES = (VERIFIED, FAILED, NOT_VERIFIED)


@dataclass(frozen=True, slots=True)
class ProofCheck:
    file: str  # the proof file (or folder) as given
    kind: str  # e.g. okx-zk-stark-v1-sum, okx-zk-stark-v1-inclusion, okx-v2-inclusion, okx-v2-global
    status: str  # verified | failed | not_verified
    reason: str = ""  # why failed / not verified; what was checked when verified
    detail: Mapping[str, Any] = field(default_factory=dict)  # kind-specific figures (JSON-ready values only)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"proof status {self.status!r} is not one of {STATUSES}")

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "kind": self.kind, "status": self.status, "reason": self.reason,
                **({"detail": dict(self.detail)} if self.detail else {})}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProofCheck:
        detail = d.get("detail") or {}
        return cls(file=str(d["file"]), kind=str(d["kind"]), status=str(d["status"]), reason=str(d.get("reason") or ""),
                   detail=dict(detail) if isinstance(detail, dict) else {})
