"""Binance zkmerkle-proof-of-solvency ``CexAssetsInfo``: the published per-asset liabilities totals.

Binance publishes them as the ``CexAssetsInfo`` list of the batch verifier's ``config.json``
(``{"CexAssetsInfo": [{"TotalEquity", "TotalDebt", "BasePrice", "Symbol", "Index", ...}]}``; a bare
list of such objects is accepted too). Every figure is a fixed-point integer (see
``shared/vectors/binance/README.md``):

* balances: asset units × 10^8, or × 10^2 for the "two-digit" assets (``TWO_DIGIT_ASSETS``);
* ``BasePrice``: USD × 10^8, or × 10^14 for two-digit assets (balance × price is USD × 10^16 for all).

Per-asset liability = ``(TotalEquity − TotalDebt) / scale``, exact. Collateral fields are not
liabilities. An asset with ``TotalEquity < TotalDebt`` is refused, as the Binance verifier refuses the
whole list ("invalid cex asset info"). A JSON decimal (``54.75341087``) or a value above 2^64 − 1 is
refused as a wrong scale. The list is bound by the Groth16 batch proofs' asset commitment, which porscan
does not verify: provenance ``zk-published``, ``verified=False``.

``cex_assets_info.csv`` (symbol, price, collateral tiers) is a price list, not totals: it is refused
with an explanation, as are the sample user CSVs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from scanner.amounts import EXACT

from .model import ZK_PUBLISHED, Liability, LiabilitiesError, Parsed, asset_symbol, jpath, json_int, show

TWO_DIGIT_ASSETS = frozenset(s.upper() for s in (
    "BTTC", "SHIB", "LUNC", "XEC", "WIN", "BIDR", "SPELL", "HOT", "DOGE", "PEPE", "FLOKI", "IDRT", "DOGS",
    "BONK", "1000SATS", "NEIRO", "1000PEPPER", "NOT", "NFT", "BOME", "1MBABYDOGE", "HMSTR", "WLFI", "PUMP",
    "MONKY", "1000CHEEMS", "IDR"))
U64_MAX = 2**64 - 1
_OPTIONAL_INTS = ("LoanCollateral", "MarginCollateral", "PortfolioMarginCollateral")


def looks_like_cex_assets_info(data: Any) -> bool:
    if isinstance(data, dict):
        return "CexAssetsInfo" in data
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "TotalEquity" in data[0]


def balance_scale(symbol: str) -> int:
    return 2 if symbol.upper() in TWO_DIGIT_ASSETS else 8


def parse_cex_assets_info(data: Any, file: str) -> Parsed:
    where = "$.CexAssetsInfo" if isinstance(data, dict) else "$"
    entries = data.get("CexAssetsInfo") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise LiabilitiesError(file, where, None, "expected a non-empty list of asset totals")
    liabilities: list[Liability] = []
    seen_sym: dict[str, str] = {}
    seen_idx: dict[int, str] = {}
    equity_usd = debt_usd = Decimal(0)
    prices: dict[str, str] = {}  # "price_usd.BTC" -> exact USD per coin: the price book reads them (pipeline/prices.py)
    for i, entry in enumerate(entries):
        at = jpath(where, i)
        if not isinstance(entry, dict):
            raise LiabilitiesError(file, at, None, "not an object")
        for required in ("Symbol", "TotalEquity", "TotalDebt", "BasePrice", "Index"):
            if required not in entry:
                raise LiabilitiesError(file, at, required, "missing")
        sym = asset_symbol(entry["Symbol"], file, at, "Symbol")
        ints = {k: _fixed(entry[k], file, at, k) for k in ("TotalEquity", "TotalDebt", "BasePrice", "Index")}
        for k in _OPTIONAL_INTS:
            if k in entry:
                _fixed(entry[k], file, at, k)
        if sym in seen_sym:
            raise LiabilitiesError(file, at, "Symbol", f"{sym} already listed at {seen_sym[sym]}")
        if ints["Index"] in seen_idx:
            raise LiabilitiesError(file, at, "Index", f"{ints['Index']} already used at {seen_idx[ints['Index']]}")
        seen_sym[sym], seen_idx[ints["Index"]] = at, at
        eq, debt = ints["TotalEquity"], ints["TotalDebt"]
        if eq < debt:
            raise LiabilitiesError(file, at, "TotalDebt", f"{debt} exceeds TotalEquity {eq}: negative liabilities "
                                   "(the Binance verifier rejects the list)")
        scale = balance_scale(sym)
        price_scale = 16 - scale
        equity_usd = EXACT.add(equity_usd, EXACT.scaleb(Decimal(eq * ints["BasePrice"]), -16))
        debt_usd = EXACT.add(debt_usd, EXACT.scaleb(Decimal(debt * ints["BasePrice"]), -16))
        amount = EXACT.scaleb(Decimal(eq - debt), -scale)
        price = EXACT.scaleb(Decimal(ints["BasePrice"]), -price_scale)
        if price > 0:  # a zero BasePrice is no price
            prices[f"price_usd.{sym}"] = str(price)
        liabilities.append(Liability(
            sym, amount, ZK_PUBLISHED, "binance-cex-assets-info", file,
            f"{at}: (TotalEquity {eq} - TotalDebt {debt}) / 10^{scale}; Index {ints['Index']}; "
            f"BasePrice {ints['BasePrice']} = {price} USD", verified=False))
    warnings = ["Binance CexAssetsInfo: porscan does not verify the Groth16 batch proofs that commit to "
                "these totals (run Binance's batch verifier); figures are taken as published"]
    totals = {"total_equity_usd": equity_usd, "total_debt_usd": debt_usd,
              "net_liabilities_usd": EXACT.subtract(equity_usd, debt_usd)}
    return Parsed(items=liabilities, warnings=warnings, meta={"assets": str(len(liabilities)), "price_field": "BasePrice", **prices},
                  totals=totals)


def _fixed(value: Any, file: str, at: str, key: str) -> int:
    v = json_int(value, file, at, key)
    if v > U64_MAX:
        raise LiabilitiesError(file, at, key, f"{show(v)} exceeds 2^64-1 (wrong scale?)")
    return v


def price_list_error(file: str, header: str) -> LiabilitiesError:
    return LiabilitiesError(file, 1, None, f"a Binance price/collateral-tier list ({header[:60]}...), not "
                            "liabilities totals: use the CexAssetsInfo of the batch verifier's config.json")


def user_list_error(file: str) -> LiabilitiesError:
    return LiabilitiesError(file, 1, None, "a Binance user balance list (rn,id,...), not liabilities totals: "
                            "use the CexAssetsInfo of the batch verifier's config.json")
