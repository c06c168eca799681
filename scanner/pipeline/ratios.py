"""Reserve ratios per asset: on-chain reserves / liabilities, exact, with the liabilities' provenance.

``reserve_ratios(proven, unproven, liabilities)`` is pure. ``proven`` are the reserves of rows whose
ownership porscan verified, ``unproven`` the rest it read (owner-only, key-only, unverified); both in
coin units per asset. Each ``Ratio`` shows both views side by side:

* ``proven_ratio = proven / liabilities``,
* ``with_unproven_ratio = (proven + unproven) / liabilities``.

Division runs in ``RATIO_CONTEXT`` (34 significant digits, half-even; every other arithmetic step is
exact), so the same inputs give the same digits everywhere. A ratio is ``None`` when the liability is
missing or zero, or is not in coin units (OKX zk-STARK per-coin values are USD-scaled): the ``note``
says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, ROUND_HALF_EVEN
from typing import Mapping

from scanner.amounts import EXACT
from scanner.pipeline.liabilities.model import COIN, LiabilitySet

RATIO_PRECISION = 34
RATIO_CONTEXT = Context(prec=RATIO_PRECISION, rounding=ROUND_HALF_EVEN,
                        traps=[InvalidOperation, DivisionByZero, Overflow])
NO_LIABILITY = "none"  # provenance of a Ratio whose asset has no liability figure


@dataclass(frozen=True, slots=True)
class Ratio:
    asset: str
    liabilities: Decimal | None  # coin units; None when the set has no usable figure for the asset
    proven_reserves: Decimal
    with_unproven_reserves: Decimal  # proven + unproven
    proven_ratio: Decimal | None
    with_unproven_ratio: Decimal | None
    provenance: str  # the liability's provenance, or NO_LIABILITY
    verified: bool = False  # porscan recomputed the liability's commitment (Liability.verified)
    note: str = ""  # why a ratio is None, or what the liability figure is


def _amount(value: Decimal, asset: str, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} reserves of {asset}: {value!r} is not a finite Decimal")
    if value < 0:
        raise ValueError(f"{what} reserves of {asset}: {value} is negative")
    return value


def ratio(reserves: Decimal, liabilities: Decimal | None) -> Decimal | None:
    """reserves / liabilities in RATIO_CONTEXT; None when liabilities are missing or zero."""
    if liabilities is None or liabilities == 0:
        return None
    return RATIO_CONTEXT.divide(reserves, liabilities)


def reserve_ratios(proven_reserves: Mapping[str, Decimal], unproven: Mapping[str, Decimal],
                   liabilities: LiabilitySet, unread: Mapping[str, str] | None = None) -> list[Ratio]:
    """One Ratio per asset with a liability or reserves: liabilities' order first, then the rest by name.

    ``unread`` (asset -> why) names the assets of which nothing could be read: their reserves are
    not zero but unknown, so they get no ratio, only the reason."""
    unread = unread or {}
    by_asset = liabilities.by_asset()
    assets = list(by_asset) + sorted((set(proven_reserves) | set(unproven)) - set(by_asset))
    out: list[Ratio] = []
    for asset in assets:
        proven = _amount(proven_reserves.get(asset, Decimal(0)), asset, "proven")
        extra = _amount(unproven.get(asset, Decimal(0)), asset, "unproven")
        total = EXACT.add(proven, extra)
        item = by_asset.get(asset)
        if item is None:
            out.append(Ratio(asset=asset, liabilities=None, proven_reserves=proven, with_unproven_reserves=total,
                             proven_ratio=None, with_unproven_ratio=None, provenance=NO_LIABILITY,
                             note="no liability figure for this asset"))
            continue
        if item.unit != COIN:
            out.append(Ratio(asset=asset, liabilities=None, proven_reserves=proven, with_unproven_reserves=total,
                             proven_ratio=None, with_unproven_ratio=None, provenance=item.provenance,
                             verified=item.verified,
                             note=f"liability is in {item.unit} units ({item.amount}), not coin units"))
            continue
        if asset in unread:  # a ratio from nothing would read as insolvency
            out.append(Ratio(asset=asset, liabilities=item.amount, proven_reserves=proven,
                             with_unproven_reserves=total, proven_ratio=None, with_unproven_ratio=None,
                             provenance=item.provenance, verified=item.verified,
                             note=unread[asset]))
            continue
        note = "liabilities are zero" if item.amount == 0 else ""
        out.append(Ratio(asset=asset, liabilities=item.amount, proven_reserves=proven, with_unproven_reserves=total,
                         proven_ratio=ratio(proven, item.amount),
                         with_unproven_ratio=ratio(total, item.amount), provenance=item.provenance,
                         verified=item.verified, note=note))
    return out
