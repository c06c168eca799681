"""Figures as every output shows them, at their types (records, report model, diff): the rows not
read are neither a zero nor a shortfall (stored runs from tests/support/unread_runs.py)."""

from __future__ import annotations

from decimal import Decimal

from scanner.pipeline.diff import AssetDiff, Side
from scanner.report_model import ScanReport
from support.unread_runs import latest_totals


def _total(asset: str, network: str = "*"):
    return next(t for t in latest_totals() if t.asset == asset and t.network == network)


def test_the_difference_is_over_the_rows_read():
    usdt = _total("USDT").figures()  # tron (4879.44417 published) not read, ethereum read as published
    assert usdt.difference == 0 and usdt.published_read == Decimal("1860.22578")
    assert usdt.coverage == Decimal("0.333333")  # how much of the asset the difference covers
    assert _total("USDT", "tron").figures().difference is None  # nothing read: no difference
    assert _total("ETH").figures().difference == Decimal("-74.052004055018853174")  # all read: as before


def test_a_stored_report_shows_the_difference_over_the_rows_read():
    """Reports stored before wrote the rows not read as a shortfall: read back, it is recomputed."""
    usdt = _total("USDT").figures().to_json()
    stored = {"schema": "porscan.scan/1", "run": {"id": 4, "exchange": "X"},
              "assets": [{"asset": "USDT", **usdt, "difference": "-4879.44417"}]}
    report = ScanReport.from_json(stored)
    assert report.assets[0].figures.difference == 0
    assert report.to_json()["assets"][0]["difference"] == "0"


def _side(proven: str, complete: bool) -> Side:
    return Side(proven=Decimal(proven), onchain=Decimal(proven), liabilities=Decimal("8424.59"),
                proven_ratio=Decimal(proven) / Decimal("8424.59"), complete=complete)


def test_a_diff_does_not_count_rows_not_read_as_money_moved():
    d = AssetDiff("USDT", _side("6739.66995", True), _side("1860.22578", False), ())
    assert d.change("proven") is None and d.change("onchain") is None  # b is from part of the rows
    assert d.change("liabilities") == 0
    both = AssetDiff("USDT", _side("6739.66995", True), _side("6700", True), ())
    assert both.change("proven") == Decimal("-39.66995")


def test_the_json_notes_a_ratio_from_incomplete_reads():
    from scanner.report_model import AssetReport

    def note(asset: str) -> str:
        t = _total(asset)
        return AssetReport(asset=asset, figures=t.figures(), liabilities=Decimal(1),
                           proven_ratio=t.proven).to_json()["ratio_note"]

    assert note("USDT") == ("from incomplete reads: 4 of 12 rows read; the rows not read are not in the reserves")
    assert note("ETH") == ""  # read in full
