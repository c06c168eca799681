"""Check a file's own summary block against the sums of its detail rows.

OKX prints per-network totals rounded to the summary's precision and ``<ASSET>(ALL)`` rows as the
integer part of the cross-network sum; neither OKX tool compares them with the details. porscan
does, per network row and per aggregate row, in coin units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .amounts import EXACT, fmt, from_base_units, places, round_to
from .assets import AssetBook
from .ingest import SummaryRow


@dataclass(frozen=True, slots=True)
class SummaryCheck:
    line: int
    coin: str  # "ETH" or "ETH(ALL)"
    published: str  # as printed in the file
    detail_sum: str | None  # coin units, exact; None when it cannot be computed
    detail_rows: int
    status: str  # match | mismatch | unknown
    note: str


def detail_sums_in_coin_units(sums: dict[str, tuple[Decimal, int]], base_units: bool,
                              book: AssetBook) -> dict[str, tuple[Decimal | None, int]]:
    """``coin -> (published amount sum, rows)`` converted to coin units where needed."""
    out: dict[str, tuple[Decimal | None, int]] = {}
    for coin, (total, rows) in sums.items():
        if base_units:
            decimals = book.decimals(coin)
            out[coin] = (None if decimals is None else from_base_units(int(total), decimals), rows)
        else:
            out[coin] = (total, rows)
    return out


def check_summary(summary: list[SummaryRow], coin_sums: dict[str, tuple[Decimal | None, int]],
                  book: AssetBook, invalid_by_coin: dict[str, int] | None = None) -> list[SummaryCheck]:
    """Compare every summary row with the detail rows (``coin_sums`` keyed by upper-case coin)."""
    invalid_by_coin = invalid_by_coin or {}
    checks = []
    for s in summary:
        key = s.coin.upper()
        if s.aggregate:
            members = [c for c in coin_sums if book.asset_of(c) == key]
            label = f"{s.coin}(ALL)"
        else:
            members = [key] if key in coin_sums else []
            label = s.coin
        total = Decimal(0)
        rows = 0
        unknown = [c for c in members if coin_sums[c][0] is None]
        for c in members:
            value, n = coin_sums[c]
            rows += n
            if value is not None:
                total = EXACT.add(total, value)
        bad_rows = sum(invalid_by_coin.get(c, 0) for c in (members or [key]))
        note = f"{bad_rows} unreadable row(s) of this coin are not in the sum; " if bad_rows else ""
        if unknown:
            checks.append(SummaryCheck(s.line, label, s.amount_text, None, rows, "unknown",
                                       note + f"decimals unknown for {', '.join(unknown)} (base-unit file)"))
            continue
        shown = places(s.amount_text)
        rounded = round_to(total, shown)
        truncated = round_to(total, shown, truncate=True)
        if rounded == s.amount:
            status, how = "match", f"detail sum rounded to {shown} decimals"
        elif truncated == s.amount:
            status, how = "match", f"detail sum truncated to {shown} decimals"
        else:
            status = "mismatch"
            how = f"detail sum {fmt(total)} rounds to {fmt(rounded)}, file says {s.amount_text.strip()}"
        if not members and s.amount == 0:
            how = "no detail rows; published 0"
        elif not members:
            status, how = "mismatch", f"no detail rows for {label}, file says {s.amount_text.strip()}"
        checks.append(SummaryCheck(s.line, label, s.amount_text.strip(), fmt(total), rows, status, note + how))
    return checks
