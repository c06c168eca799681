"""Churn between two stored rounds of an exchange: addresses added and removed per asset and
network, with their published amounts, and the per-asset reserves, liabilities and ratios of both
rounds. Pure: rows and balance records in (each run's, in line order), one ``RunDiff`` out.

An address is "the same" in both rounds under its network's normal form: EVM hex in lower case,
every other encoding exactly as written (base58 is case-sensitive). A wallet's published amount is
the sum of the rows listing it (as published); an amount that cannot be read in coin units is
counted in ``unknown_amounts``, never as a zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..amounts import EXACT, AmountError, exact_sum, fmt, from_base_units, parse_amount, shown_fraction, shown_percent
from ..records import BalanceRecord, RowRecord
from ..report_model import AssetReport, ScanReport
from .aggregate import canonical_address

DIFF_SCHEMA = "porscan.diff/1"
NOT_LISTED = frozenset({"invalid_row", "skipped"})  # rows whose address the run did not take as a wallet


def normal_address(address: str) -> str:
    """The form two runs' spellings of one address are compared in: the scan's own rule (EVM hex and
    single-case bech32 / CashAddr lower-cased, base58 and others as written), so diff, overlap and the
    totals agree on what one wallet is."""
    return canonical_address(address)


def _d(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _sub(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else EXACT.subtract(b, a)


@dataclass(frozen=True, slots=True)
class Wallet:
    """One address of one asset on one network in one run: its lines and published amount."""

    address: str  # as the run's first row spells it
    lines: tuple[int, ...]
    published: Decimal | None  # coin units; None when a row's amount is unknown in coin units

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "lines": list(self.lines), "published": _d(self.published)}


@dataclass(slots=True)
class _WalletAcc:
    address: str
    lines: list[int] = field(default_factory=list)
    amounts: list[Decimal] = field(default_factory=list)
    unknown: bool = False


@dataclass(slots=True)
class AddressBook:
    """A run's wallets per (asset, network), fed row by row with the row's balance records."""

    wallets: dict[tuple[str, str], dict[str, _WalletAcc]] = field(default_factory=dict)
    not_listed: int = 0  # invalid or skipped rows (no wallet to compare)

    def add(self, row: RowRecord, balances: Sequence[BalanceRecord]) -> None:
        if row.status in NOT_LISTED or not row.address.strip():
            self.not_listed += 1
            return
        if not balances:  # no balance check stored: the coin key stands for the asset, the file's network label
            self._put(row.coin.strip().upper(), row.network, row, None)
        for bal in balances:
            self._put(bal.asset, bal.network, row, bal)

    def _put(self, asset: str, network: str, row: RowRecord, bal: BalanceRecord | None) -> None:
        per = self.wallets.setdefault((asset, network), {})
        key = normal_address(row.address)
        acc = per.get(key)
        if acc is None:
            acc = per[key] = _WalletAcc(address=row.address.strip())
        acc.lines.append(row.line)
        amount = _published(row, bal)
        if amount is None:
            acc.unknown = True
        else:
            acc.amounts.append(amount)

    def add_all(self, joined: Iterable[tuple[RowRecord, Sequence[BalanceRecord]]]) -> AddressBook:
        for row, bals in joined:
            self.add(row, bals)
        return self

    def wallet(self, place: tuple[str, str], key: str) -> Wallet:
        acc = self.wallets[place][key]
        return Wallet(address=acc.address, lines=tuple(acc.lines),
                      published=None if acc.unknown else exact_sum(acc.amounts))


def _published(row: RowRecord, bal: BalanceRecord | None) -> Decimal | None:
    """A row's published amount in coin units: from the balance check's base units and decimals,
    else the amount as the file writes it (None when neither reads)."""
    if bal is not None and bal.decimals is not None:
        units = bal.published_base_units if bal.published_base_units is not None else row.amount_base_units
        if units is not None:
            return from_base_units(units, bal.decimals)
    if not row.amount_text.strip():
        return Decimal(0)  # nothing published for this row
    try:
        return parse_amount(row.amount_text)
    except AmountError:
        return None


def join_by_line(rows: Iterable[RowRecord], balances: Iterable[BalanceRecord]
                 ) -> Iterator[tuple[RowRecord, list[BalanceRecord]]]:
    """Each row with its balance records; both inputs in line order (as the store gives them)."""
    it = iter(balances)
    pending = next(it, None)
    for row in rows:
        while pending is not None and pending.line < row.line:
            pending = next(it, None)
        mine = []
        while pending is not None and pending.line == row.line:
            mine.append(pending)
            pending = next(it, None)
        yield row, mine


@dataclass(frozen=True, slots=True)
class PlaceDiff:
    """One asset on one network: the wallets only in run B (added) and only in run A (removed)."""

    asset: str
    network: str
    wallets_a: int
    wallets_b: int
    added: tuple[Wallet, ...]
    removed: tuple[Wallet, ...]

    @property
    def moved_in(self) -> Decimal:
        return exact_sum(w.published for w in self.added if w.published is not None)

    @property
    def moved_out(self) -> Decimal:
        return exact_sum(w.published for w in self.removed if w.published is not None)

    @property
    def unknown_amounts(self) -> int:
        return sum(1 for w in (*self.added, *self.removed) if w.published is None)

    def to_json(self) -> dict[str, Any]:
        return {"asset": self.asset, "network": self.network, "wallets_a": self.wallets_a, "wallets_b": self.wallets_b,
                "added_count": len(self.added), "removed_count": len(self.removed),
                "moved_in": fmt(self.moved_in), "moved_out": fmt(self.moved_out),
                "unknown_amounts": self.unknown_amounts,
                "added": [w.to_json() for w in self.added], "removed": [w.to_json() for w in self.removed]}


@dataclass(frozen=True, slots=True)
class Side:
    """One asset's figures in one run (None when the run has no such asset or figure)."""

    proven: Decimal | None
    onchain: Decimal | None
    liabilities: Decimal | None
    proven_ratio: Decimal | None  # exact
    complete: bool

    @classmethod
    def of(cls, report: AssetReport | None) -> Side | None:
        if report is None:
            return None
        return cls(proven=report.figures.proven, onchain=report.figures.onchain, liabilities=report.liabilities,
                   proven_ratio=report.proven_ratio, complete=report.complete)

    def to_json(self) -> dict[str, Any]:
        return {"proven": _d(self.proven), "onchain": _d(self.onchain), "liabilities": _d(self.liabilities),
                # as the report writes it: shown (the one rounding rule) and exact
                "proven_ratio": _d(shown_fraction(self.proven_ratio)), "proven_ratio_exact": _d(self.proven_ratio),
                "proven_ratio_shown": None if self.proven_ratio is None else shown_percent(self.proven_ratio),
                "complete": self.complete}


@dataclass(frozen=True, slots=True)
class AssetDiff:
    asset: str
    a: Side | None
    b: Side | None
    places: tuple[PlaceDiff, ...]

    @property
    def added(self) -> int:
        return sum(len(p.added) for p in self.places)

    @property
    def removed(self) -> int:
        return sum(len(p.removed) for p in self.places)

    @property
    def moved_in(self) -> Decimal:
        return exact_sum(p.moved_in for p in self.places)

    @property
    def moved_out(self) -> Decimal:
        return exact_sum(p.moved_out for p in self.places)

    def change(self, name: str) -> Decimal | None:
        """B minus A of one figure (proven, onchain, liabilities); None when either is unknown. The
        reserves of a side read in part leave out the rows not read: a change to or from them would
        count those rows as money moved, so it is None too."""
        if self.a is None or self.b is None:
            return None
        if name != "liabilities" and not (self.a.complete and self.b.complete):
            return None
        return _sub(getattr(self.a, name), getattr(self.b, name))

    def to_json(self) -> dict[str, Any]:
        return {"asset": self.asset, "added_count": self.added, "removed_count": self.removed,
                "moved_in": fmt(self.moved_in), "moved_out": fmt(self.moved_out),
                "a": None if self.a is None else self.a.to_json(), "b": None if self.b is None else self.b.to_json(),
                "change": {k: _d(self.change(k)) for k in ("proven", "onchain", "liabilities")},
                "networks": [p.to_json() for p in self.places]}


@dataclass(frozen=True, slots=True)
class RunRef:
    id: int
    exchange: str
    snapshot_date: str | None
    input_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "exchange": self.exchange, "snapshot_date": self.snapshot_date,
                "input_sha256": self.input_sha256}


@dataclass(frozen=True, slots=True)
class RunDiff:
    a: RunRef
    b: RunRef
    assets: tuple[AssetDiff, ...]
    not_listed_a: int
    not_listed_b: int

    @property
    def same_exchange(self) -> bool:
        return self.a.exchange == self.b.exchange

    def to_json(self) -> dict[str, Any]:
        return {"schema": DIFF_SCHEMA, "a": self.a.to_json(), "b": self.b.to_json(),
                "same_exchange": self.same_exchange,
                "rows_not_compared": {"a": self.not_listed_a, "b": self.not_listed_b},
                "assets": [x.to_json() for x in self.assets]}


def _place_diff(place: tuple[str, str], a: AddressBook, b: AddressBook) -> PlaceDiff:
    wa, wb = a.wallets.get(place, {}), b.wallets.get(place, {})
    added = tuple(b.wallet(place, k) for k in sorted(wb.keys() - wa.keys()))
    removed = tuple(a.wallet(place, k) for k in sorted(wa.keys() - wb.keys()))
    return PlaceDiff(asset=place[0], network=place[1], wallets_a=len(wa), wallets_b=len(wb), added=added,
                     removed=removed)


def diff_runs(a: RunRef, b: RunRef, book_a: AddressBook, book_b: AddressBook,
              report_a: ScanReport, report_b: ScanReport) -> RunDiff:
    """The churn from run A to run B."""
    places = sorted(book_a.wallets.keys() | book_b.wallets.keys())
    names = sorted({p[0] for p in places} | {x.asset for x in report_a.assets} | {x.asset for x in report_b.assets})
    assets = tuple(AssetDiff(asset=name, a=Side.of(report_a.asset(name)), b=Side.of(report_b.asset(name)),
                             places=tuple(_place_diff(p, book_a, book_b) for p in places if p[0] == name))
                   for name in names)
    return RunDiff(a=a, b=b, assets=assets, not_listed_a=book_a.not_listed, not_listed_b=book_b.not_listed)
