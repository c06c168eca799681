"""Reserves and liabilities in USD at the snapshot: per asset and in total (the figure OKX's v2
proofs actually prove). Pure: quotes in, records out; the prices come from ``prices`` (each naming
its source and time).

Rules: a reserve figure is valued only when it was read (an unread asset is left out and named,
never valued as zero) and has a price; the total ratio is then from part of the reserves and says
so (``left_out``). Liabilities in USD:
* per-asset coin figures (simple, Merkle, Binance): amount x the asset's price;
* Binance also publishes its own USD totals (BasePrice): those are the total when present;
* OKX zk-STARK v1 per-coin values and v2 equity/debt are USD integers at a scale the proof does not
  state: the scale comes from ``--usd-scale`` (config) or is derived from the exchange's published
  USD total (``--usd-total``), and the source line says which; without either, no USD total.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping, Protocol, Sequence

from ..amounts import EXACT, fmt
from ..config.assets import OWN_ISSUED
from ..errors import UsageError
from ..report_model import AssetReport, UsdAsset, UsdComparison
from .liabilities.model import COIN, PROVENANCE_RANK, USD_SCALED, LiabilitySet


class Quote(Protocol):
    """A USD price at the snapshot (``prices.PriceQuote`` is one)."""

    asset: str
    usd: Decimal
    source: str
    label: str
    at: str | None
    block: int | None


@dataclass(frozen=True, slots=True)
class UsdScale:
    """How the liabilities' USD integers map to dollars: value x 10^-decimals, and where that came from."""

    decimals: int
    how: str


def scale_from_total(raw_total: Decimal, published_usd: Decimal) -> UsdScale:
    """The power of ten that turns the proof's integer total into the exchange's published USD total
    (within 1%, as a published figure is rounded); a UsageError when none does."""
    if raw_total <= 0 or published_usd <= 0:
        raise UsageError("--usd-total: both the proof's total and the published total must be positive")
    for decimals in range(0, 31):
        shown = EXACT.scaleb(raw_total, -decimals)
        if abs(shown - published_usd) <= published_usd / 100:
            return UsdScale(decimals, f"scale 10^-{decimals} derived from the exchange's published total "
                                      f"{fmt(published_usd)} USD")
    raise UsageError(f"--usd-total {fmt(published_usd)}: no power of ten turns the proof's total {fmt(raw_total)} into it")


def _mul(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else EXACT.multiply(a, b)


def _ratio(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    from .ratios import ratio

    return None if a is None or b is None or b == 0 else ratio(a, b)


def compare_usd(assets: Sequence[AssetReport], liab: LiabilitySet | None, quotes: Mapping[str, Quote],
                scale: UsdScale | None = None) -> UsdComparison | None:
    """The USD comparison, or None when there is nothing to value (no price and no USD total)."""
    if not quotes and (liab is None or not liab.totals):
        return None
    items = liab.by_asset() if liab is not None else {}
    liab_totals = liab.totals if liab is not None else {}
    rows: list[UsdAsset] = []
    left_out: list[str] = []
    proven_total = unproven_total = Decimal(0)
    by_class: dict[str, Decimal] = {}
    for a in assets:
        q = quotes.get(a.asset)
        f = a.figures
        note = ""
        # the asset's liabilities stay in the total (a published USD total cannot be split), so
        # reserves left out make the total ratio a lower bound: said where it is so
        owed = "; its liabilities stay in the total: the total ratio is a lower bound" \
            if (i := items.get(a.asset)) is not None and i.amount != 0 else ""
        if q is None:
            proven = with_unproven = None
            if f.rows_expected:
                left_out.append(f"{a.asset}: no price at the snapshot{owed if 'net_liabilities_usd' in liab_totals else ''}")
        elif f.proven is None:  # nothing read: unread is not zero
            proven = with_unproven = None
            left_out.append(f"{a.asset}: no balance read{owed}")
        else:
            proven = _mul(f.proven, q.usd)
            extra = EXACT.add(EXACT.add(f.owner_only or 0, f.key_only or 0), f.unverified or 0)
            with_unproven = _mul(EXACT.add(f.proven, extra), q.usd)
            if not f.complete:
                note = f"from {f.rows_read} of {f.rows_expected} rows read"
                left_out.append(f"{a.asset}: {f.rows_expected - f.rows_read} row(s) not read{owed}")
            proven_total = EXACT.add(proven_total, proven or 0)
            unproven_total = EXACT.add(unproven_total, with_unproven or 0)
            by_class[a.asset_class] = EXACT.add(by_class.get(a.asset_class, Decimal(0)), proven or 0)
        item = items.get(a.asset)
        liab_usd = None
        if item is not None:
            if item.unit == COIN:
                liab_usd = _mul(item.amount, q.usd if q is not None else None)
            elif item.unit == USD_SCALED and scale is not None:
                liab_usd = EXACT.scaleb(item.amount, -scale.decimals)
        rows.append(UsdAsset(asset=a.asset, price=q.usd if q else None, price_source=q.source if q else None,
                             price_label=q.label if q else None, price_at=q.at if q else None,
                             price_block=q.block if q else None, proven=proven, with_unproven=with_unproven,
                             liabilities=liab_usd, note=note))
    total, source, provenance, unpriced = _liabilities_total(liab, rows, scale)
    if unpriced:  # a liabilities total missing some assets would overstate the ratio: no ratio at all
        left_out.append(f"liabilities of {', '.join(unpriced[:10])}{' ...' if len(unpriced) > 10 else ''} have no price: "
                        "no total ratio")
    usable = total if not unpriced else None
    own = by_class.get(OWN_ISSUED, Decimal(0))
    return UsdComparison(assets=tuple(rows), proven=proven_total, with_unproven=unproven_total, liabilities=total,
                         liabilities_source=source, liabilities_provenance=provenance,
                         ratio=_ratio(proven_total, usable), with_unproven_ratio=_ratio(unproven_total, usable),
                         left_out=tuple(left_out), by_class=dict(sorted(by_class.items())),
                         clean_ratio=_ratio(EXACT.subtract(proven_total, own), usable))


def _liabilities_total(liab: LiabilitySet | None, rows: list[UsdAsset], scale: UsdScale | None
                       ) -> tuple[Decimal | None, str, str | None, list[str]]:
    """(total in USD, what it is and how it was scaled, its provenance, assets whose liabilities could
    not be valued)."""
    if liab is None:
        return None, "no liabilities file", None, []
    t = liab.totals
    provenance = liab.meta.get("totals_provenance") or (liab.liabilities[0].provenance if liab.liabilities else None)
    if "net_liabilities_usd" in t:  # Binance: its own BasePrice x (equity - debt), summed
        return t["net_liabilities_usd"], "the file's own USD total (BasePrice x (equity - debt), summed)", provenance, []
    raw = t.get("net_liabilities", t.get("total_value"))
    if raw is not None:  # OKX v2 equity - debt, or v1 total_value: USD integers at an unstated scale
        what = "total equity - total debt (public inputs)" if "net_liabilities" in t else "trunk total_value"
        if scale is None:
            return None, (f"{what} = {fmt(raw)} at a scale the proof does not state: give --usd-scale or --usd-total"), \
                provenance, []
        return EXACT.scaleb(raw, -scale.decimals), f"{what}, {scale.how}", provenance, []
    priced = [r.liabilities for r in rows if r.liabilities is not None]
    valued = {r.asset for r in rows if r.liabilities is not None}
    unpriced = [i.asset for i in liab.liabilities if i.unit == COIN and i.amount != 0 and i.asset not in valued]
    if not priced:
        return None, "no liability figure could be valued (no prices)", provenance, unpriced
    total = Decimal(0)
    for v in priced:
        total = EXACT.add(total, v)
    # a sum is only as proven as its weakest figure: the first figure's label (a merkle-sum BTC) was
    # shown for a total that also held self-reported figures
    summed = [i.provenance for i in liab.liabilities if i.asset in valued]
    weakest = max(summed, key=lambda p: PROVENANCE_RANK.get(p, len(PROVENANCE_RANK)), default=provenance)
    return total, "sum of per-asset liabilities x price", weakest, unpriced
