"""USD comparison: prices with their source, unread assets never valued as zero, a liabilities total
missing an asset's value gives no ratio, and the zk scale is stated."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D

import pytest

from scanner.errors import UsageError
from scanner.pipeline.liabilities.model import COIN, USD_SCALED, Liability, LiabilitySet
from scanner.pipeline.usd import UsdScale, compare_usd, scale_from_total
from scanner.records import Figures
from scanner.report_model import AssetReport, ScanReport, UsdComparison


@dataclass(frozen=True)
class Q:
    asset: str
    usd: D
    source: str = "oracle"
    label: str = "chainlink-eth-usd"
    at: str | None = "2025-06-30T23:59:47Z"
    block: int | None = 22_800_000


def _asset(name, proven, read=10, expected=10, unverified="0"):
    f = Figures(published=D(proven or 0), onchain=None if proven is None else D(proven), proven=None if proven is None else D(proven),
                owner_only=D(0), key_only=D(0), unverified=D(unverified), unread_published=D(0), difference=D(0),
                rows=expected, rows_expected=expected, rows_read=read, coverage=None)
    return AssetReport(asset=name, figures=f)


def _liab(*items, totals=None, meta=None):
    return LiabilitySet(liabilities=tuple(Liability(a, D(v), "self-reported", "simple", "l.csv", unit=u) for a, v, u in items),
                        totals=totals or {}, warnings=(), file_sha256="00", format="simple", meta=meta or {})


def test_coin_liabilities_are_valued_at_each_price_and_the_ratio_is_exact():
    usd = compare_usd([_asset("BTC", "2", unverified="1"), _asset("ETH", "10")],
                      _liab(("BTC", "1.5", COIN), ("ETH", "10", COIN)),
                      {"BTC": Q("BTC", D("60000.5")), "ETH": Q("ETH", D("3000"))})
    assert usd.proven == D("150001.0") and usd.with_unproven == D("210001.5")
    assert usd.liabilities == D("120000.75")
    from scanner.pipeline.ratios import ratio

    assert usd.ratio == ratio(D("150001.0"), D("120000.75")) and usd.complete  # the ratios' own context, not floats
    btc = usd.assets[0]
    assert (btc.price_source, btc.price_label, btc.price_block) == ("oracle", "chainlink-eth-usd", 22_800_000)


def test_a_sum_of_coin_liabilities_carries_its_weakest_figure_s_provenance():
    """BTC recomputed from a Merkle root, ETH typed into a file: the USD total was labelled with the
    first figure's provenance (merkle-sum) though half of it is only the exchange's word."""
    liab = LiabilitySet(liabilities=(Liability("BTC", D("1"), "merkle-sum", "simple+okx-merkle-v2-tree", "l.csv", verified=True),
                                     Liability("ETH", D("10"), "self-reported", "simple", "l.csv")),
                        totals={}, warnings=(), file_sha256="00", format="simple")
    prices = {"BTC": Q("BTC", D("60000")), "ETH": Q("ETH", D("3000"))}
    usd = compare_usd([_asset("BTC", "2"), _asset("ETH", "10")], liab, prices)
    assert usd.liabilities == D("90000") and usd.liabilities_provenance == "self-reported"
    only_btc = compare_usd([_asset("BTC", "2")], LiabilitySet(liabilities=liab.liabilities[:1], totals={}, warnings=(),
                                                               file_sha256="00", format="simple"), prices)
    assert only_btc.liabilities_provenance == "merkle-sum"


def test_an_unread_or_unpriced_asset_is_left_out_and_named_never_zero():
    usd = compare_usd([_asset("BTC", None, read=0), _asset("ETH", "10"), _asset("DOGE", "5")],
                      _liab(("ETH", "10", COIN)), {"ETH": Q("ETH", D("3000")), "BTC": Q("BTC", D("60000"))})
    assert usd.proven == D("30000") and not usd.complete
    assert any("BTC" in x and "no balance read" in x for x in usd.left_out)
    assert any("DOGE" in x and "no price" in x for x in usd.left_out)
    assert usd.assets[0].proven is None  # unread: no figure, not 0


def test_reserves_left_out_while_their_liabilities_stay_in_say_the_ratio_is_a_lower_bound():
    """An unread asset's liabilities are valued into the total; 'left out' alone read as if the
    asset were out of both sides."""
    usd = compare_usd([_asset("BTC", None, read=0), _asset("ETH", "10", read=9), _asset("SOL", None, read=0)],
                      _liab(("BTC", "1", COIN), ("ETH", "10", COIN)),
                      {"ETH": Q("ETH", D("3000")), "BTC": Q("BTC", D("60000")), "SOL": Q("SOL", D("150"))})
    assert usd.liabilities == D("90000") and usd.ratio is not None  # BTC's 60000 USD owed is in the total
    said = {x.split(":")[0]: x for x in usd.left_out}
    assert said["BTC"].endswith("no balance read; its liabilities stay in the total: the total ratio is a lower bound")
    assert said["ETH"].endswith("1 row(s) not read; its liabilities stay in the total: the total ratio is a lower bound")
    assert said["SOL"] == "SOL: no balance read"  # nothing owed in SOL: nothing to say about the total


def test_liabilities_without_a_price_give_no_total_ratio():
    usd = compare_usd([_asset("ETH", "10")], _liab(("ETH", "10", COIN), ("XYZ", "4", COIN)), {"ETH": Q("ETH", D("3000"))})
    assert usd.ratio is None and usd.liabilities == D("30000")
    assert any("XYZ" in x and "no total ratio" in x for x in usd.left_out)


def test_zk_usd_integers_need_a_stated_scale():
    v2 = _liab(totals={"total_equity": D(1_200_000_000), "total_debt": D(200_000_000), "net_liabilities": D(1_000_000_000)},
               meta={"totals_provenance": "zk-published"})
    assets, quotes = [_asset("ETH", "5")], {"ETH": Q("ETH", D("3000"))}
    unscaled = compare_usd(assets, v2, quotes)
    assert unscaled.liabilities is None and unscaled.ratio is None and "--usd-scale" in unscaled.liabilities_source
    scaled = compare_usd(assets, v2, quotes, UsdScale(5, "scale 10^-5 from --usd-scale"))
    assert scaled.liabilities == D("10000") and scaled.ratio == D("1.5")
    assert "public inputs" in scaled.liabilities_source and "--usd-scale" in scaled.liabilities_source
    assert scaled.liabilities_provenance == "zk-published"
    derived = scale_from_total(D(1_000_000_000), D("10000.2"))
    assert derived.decimals == 5 and "published total" in derived.how
    with pytest.raises(UsageError):
        scale_from_total(D(1_000_000_000), D("77"))


def test_v1_usd_scaled_coin_values_use_the_same_scale():
    v1 = _liab(("BTC", "600000000", USD_SCALED), totals={"total_value": D(900_000_000)})
    usd = compare_usd([_asset("BTC", "0.1")], v1, {"BTC": Q("BTC", D("60000"))}, UsdScale(4, "scale 10^-4 from --usd-scale"))
    assert usd.assets[0].liabilities == D("60000") and usd.liabilities == D("90000")
    assert "total_value" in usd.liabilities_source


def test_the_usd_comparison_round_trips_in_the_report():
    from support.reports import scan_report

    usd = compare_usd([_asset("ETH", "10")], _liab(("ETH", "8", COIN)), {"ETH": Q("ETH", D("3000"))})
    base = scan_report({"assets": []})
    import dataclasses

    report = dataclasses.replace(base, usd=usd)
    doc = report.to_json()
    assert doc["usd"]["ratio"] == "1.25" and doc["usd"]["assets"][0]["price_source"] == "oracle"
    again = ScanReport.from_json(doc)
    assert isinstance(again.usd, UsdComparison) and again.usd == usd


def test_composition_splits_reserves_by_kind_and_the_clean_ratio_leaves_out_own_tokens():
    import dataclasses

    from scanner.config.assets import default_book
    from scanner.pipeline.rubric import rubric
    from support.reports import scan_report

    book = default_book()
    assert book.asset_class("OKB", "OKX") == "own-issued" and book.asset_class("OKB", "HTX") == "native"
    assert book.asset_class("WBTC") == "wrapped" and book.asset_class("STETH") == "staked"
    assets = [dataclasses.replace(_asset("BTC", "1"), asset_class="native"),
              dataclasses.replace(_asset("WBTC", "1"), asset_class="wrapped"),
              dataclasses.replace(_asset("OKB", "1000"), asset_class=book.asset_class("OKB", "OKX"))]
    quotes = {"BTC": Q("BTC", D("60000")), "WBTC": Q("WBTC", D("59000")), "OKB": Q("OKB", D("50"))}
    usd = compare_usd(assets, _liab(totals={"net_liabilities_usd": D("150000")}), quotes)
    assert usd.by_class == {"native": D("60000"), "own-issued": D("50000"), "wrapped": D("59000")}
    from scanner.pipeline.ratios import ratio

    assert usd.ratio == ratio(D("169000"), D("150000")) and usd.clean_ratio == ratio(D("119000"), D("150000"))
    doc = dataclasses.replace(scan_report({"assets": []}), assets=tuple(assets), usd=usd)
    grade = {c.name: c for c in rubric(doc).criteria}["own-issued"]
    assert grade.grade == "D" and grade.value.startswith("29.58%")  # 50,000 of 169,000, rounded down
    again = ScanReport.from_json(doc.to_json())
    assert again.usd.by_class == usd.by_class and [a.asset_class for a in again.assets] == ["native", "wrapped", "own-issued"]
