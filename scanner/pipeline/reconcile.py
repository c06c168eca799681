"""Check a file's own summary block against the sums of its detail rows.

OKX prints per-network totals rounded to the summary's precision and ``<ASSET>(ALL)`` rows as the
integer part of the cross-network sum; neither OKX tool compares them with the details. porscan
does, per network row and per aggregate row, in coin units.
"""

from __future__ import annotations

from decimal import Decimal

from signatures.registry import chain_alias, resolve_name

from ..amounts import EXACT, exact_sum, fmt, from_base_units, half_ulp, round_to, shown_places
from ..config.assets import AssetBook
from ..records import SummaryCheck
from .ingest import SummaryRow


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
                  book: AssetBook, invalid_by_coin: dict[str, int] | None = None,
                  slack: dict[str, Decimal] | None = None) -> list[SummaryCheck]:
    """Compare every summary row with the detail rows (``coin_sums`` keyed by upper-case coin).

    ``slack`` (coin -> Decimal) is how far that coin's detail sum may be from the exact one because
    its rows are themselves rounded (half a unit in the last place of each, see
    :func:`scanner.amounts.rounding_slack`); absent, the rows are taken as exact.

    A plain row is set against the detail rows of its name, else of a name for the same asset on
    the same chain (``USDT-ERC20`` above, ``USDT-ETH`` below). An aggregate ``X(ALL)`` row is set
    against a family: the rows the summary lists right under it (HTX groups stETH and BETH under
    ETH(ALL)), and every coin of asset X (by scanner/config/assets.toml, else by the name's rule); it
    agrees when either family's detail rows add up to it, and the note names that family."""
    invalid_by_coin = invalid_by_coin or {}
    slack = slack or {}
    listed = _listed_groups(summary)
    checks = []
    for s in summary:
        key = s.coin.upper()
        if s.aggregate:
            label = f"{s.coin}(ALL)"
            group = listed.get(s.line, [])
            families = []
            if group:
                names = [g.coin for g in group]
                families.append((_members(names, coin_sums), f"family as the summary lists it ({', '.join(names)}); "))
            families.append(([c for c in coin_sums if asset_of(c, book) == key], ""))
        else:
            label = s.coin
            members = _members([s.coin], coin_sums)
            spelt = f"the detail rows of {', '.join(members)} (same asset and chain); " if members and members != [key] else ""
            families = [(members, spelt)]
            group = []
        for members, grouped_by in families:
            total, rows, unknown = _detail_sum(members, coin_sums)
            how = "" if unknown else _agrees(s, total, exact_sum(slack.get(c, Decimal(0)) for c in members))
            if how:
                break
        else:  # no family agrees: report the first (the summary's own grouping where it has one)
            members, grouped_by = families[0]
            total, rows, unknown = _detail_sum(members, coin_sums)
        bad_rows = sum(invalid_by_coin.get(c, 0) for c in (members or [key]))
        note = grouped_by + (f"{bad_rows} unreadable row(s) of this coin are not in the sum; " if bad_rows else "")
        if unknown:
            checks.append(SummaryCheck(line=s.line, coin=label, published=s.amount_text, detail_sum=None, detail_rows=rows,
                                       status="unknown",
                                       note=note + f"decimals unknown for {', '.join(unknown)} (base-unit file)"))
            continue
        if how:
            status = "match"
        else:
            status = "mismatch"
            how = (f"detail sum {fmt(total)} rounds to {fmt(round_to(total, shown_places(s.amount_text)))}, "
                   f"file says {s.amount_text.strip()}")
        if not members and s.amount == 0:
            how = "no detail rows; published 0"
        elif not members:
            status, how = "mismatch", f"no detail rows for {label}, file says {s.amount_text.strip()}"
        elif status == "mismatch" and group:
            empty = [g for g in group if not _members([g.coin], coin_sums)]
            if empty:  # published with no address behind it (HTX's ThirdParty lines)
                how += (f"; published with no detail rows: {', '.join(f'{g.coin} {g.amount_text.strip()}' for g in empty)}")
        checks.append(SummaryCheck(line=s.line, coin=label, published=s.amount_text.strip(), detail_sum=fmt(total),
                                   detail_rows=rows, status=status, note=note + how))
    return checks


def _detail_sum(members: list[str], coin_sums) -> tuple[Decimal, int, list[str]]:
    """(sum of the members' detail amounts, their rows, members whose sum is unknown)."""
    total = Decimal(0)
    rows = 0
    unknown = []
    for c in members:
        value, n = coin_sums[c]
        rows += n
        if value is None:
            unknown.append(c)
        else:
            total = EXACT.add(total, value)
    return total, rows, unknown


def _members(names: list[str], coin_sums) -> list[str]:
    """The detail coins that stand for summary names: the same name, else the same asset on the
    same chain however spelt (USDT-ERC20 / USDT-ETH, SOL-USDC / USDC-SOL)."""
    out: list[str] = []
    for name in names:
        key = name.strip().upper()
        found = [key] if key in coin_sums else _same_place(key, coin_sums)
        out.extend(c for c in found if c not in out)
    return out


def asset_of(coin: str, book: AssetBook) -> str:
    """The asset a coin counts towards: scanner/config/assets.toml's, else the name's (``USDT-ETH`` -> USDT)."""
    info = book.get(coin)
    return info.asset if info is not None else resolve_name(coin, "", "").asset


def _same_place(coin: str, coin_sums) -> list[str]:
    """Detail coins whose names resolve to the same asset on the same chain as ``coin``, or are made
    of the same words once chain names are read as chains (SOL-USDC and USDC-SOL)."""
    def place(name: str) -> tuple[str, str]:
        r = resolve_name(name, "", "")
        return r.asset, r.chain

    def words(name: str) -> frozenset[str]:
        parts = "".join(ch if ch.isalnum() else " " for ch in name).split()
        return frozenset((chain.id if (chain := chain_alias(p)) else p.upper()) for p in parts)

    want, want_words = place(coin), words(coin)
    return [c for c in coin_sums
            if (want[1] and place(c) == want) or (len(want_words) > 1 and words(c) == want_words)]


def _listed_groups(summary: list[SummaryRow]) -> dict[int, list[SummaryRow]]:
    """Aggregate row's line -> the plain rows right under it, up to the next aggregate row."""
    out: dict[int, list[SummaryRow]] = {}
    current: list[SummaryRow] | None = None
    for s in summary:
        if s.aggregate:
            current = out[s.line] = []
        elif current is not None:
            current.append(s)
    return out


def _agrees(s: SummaryRow, total: Decimal, slack: Decimal) -> str:
    """How the published figure agrees with ``total`` ("" if it does not): rounded or truncated to
    the decimals it shows, or within what rounding the parts and the figure allows."""
    shown = shown_places(s.amount_text)
    if round_to(total, shown) == s.amount:
        return f"detail sum rounded to {shown} decimals"
    if round_to(total, shown, truncate=True) == s.amount:
        return f"detail sum truncated to {shown} decimals"
    if slack:
        bound = EXACT.add(half_ulp(shown), slack)
        if abs(EXACT.subtract(total, s.amount)) <= bound:
            return (f"detail sum {fmt(total)} is within {fmt(bound)} of the published figure: the rounding "
                    f"its {shown} decimals and the rounded detail figures allow")
    return ""

