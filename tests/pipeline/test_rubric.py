"""The quality rubric: the worst measured criterion is the grade, each criterion from a fact of the
report with its rule; a failed check is F; what was not measured does not count."""

from __future__ import annotations

import dataclasses
import json

from scanner.pipeline.rubric import rubric
from scanner.report_model import ScanReport
from support.common import ROOT
from support.reports import scan_report

FIXTURE = json.loads((ROOT / "tests" / "data" / "scan_report_okx.json").read_text())


def _asset(name, proven, onchain, read=10, expected=10, provenance="zk-verified", at_snapshot=True):
    fig = {"published": onchain, "onchain": onchain, "proven": proven, "rows": expected, "rows_expected": expected,
           "rows_read": read}
    return {"asset": name, **fig, "liabilities": "1", "liabilities_provenance": provenance,
            "networks": [{"network": "n", **fig, "blocks": [{"number": 7, "hash": None, "at_snapshot": at_snapshot}]}]}


def _grades(report: ScanReport) -> dict[str, str]:
    return {c.name: c.grade for c in rubric(report).criteria}


def test_a_clean_scan_is_a_and_each_weakness_lowers_it_by_its_own_rule():
    liab = {"format": "f", "file": "l", "sha256": None}
    clean = scan_report({"assets": [_asset("ETH", "100", "100")], "liabilities": liab})
    assert rubric(clean).grade == "A"
    cases = [
        (_asset("ETH", "95", "100"), "ownership", "B"),
        (_asset("ETH", "40", "100"), "ownership", "D"),
        (_asset("ETH", "100", "100", provenance="zk-published"), "liabilities", "C"),
        (_asset("ETH", "100", "100", provenance="self-reported"), "liabilities", "D"),
        (_asset("ETH", "100", "100", read=95, expected=100), "coverage", "C"),
        (_asset("ETH", "100", "100", at_snapshot=False), "snapshot", "D"),
    ]
    for asset, name, grade in cases:
        r = rubric(scan_report({"assets": [asset], "liabilities": liab}))
        assert _grades(scan_report({"assets": [asset], "liabilities": liab}))[name] == grade, (name, grade)
        assert r.grade == grade  # the only weakness decides the grade
    failed = scan_report({"assets": [_asset("ETH", "100", "100")], "liabilities": liab,
                          "verification": {"by_status": {"verified": 9, "failed": 1}}})
    assert rubric(failed).grade == "F" and "1 signature" in next(c.value for c in rubric(failed).criteria
                                                                   if c.name == "checks")
    overlapped = dataclasses.replace(clean, notes=("overlap: 3 address(es) of ETH are also claimed by B ...",))
    assert rubric(overlapped).grade == "C"


def test_not_measured_criteria_do_not_count_and_every_criterion_states_its_rule():
    r = rubric(ScanReport.from_json(FIXTURE))
    assert {c.name for c in r.criteria if c.grade == "-"} == {"window"}  # own-issued: measured on the fixture's USD
    bare = dataclasses.replace(ScanReport.from_json(FIXTURE), usd=None)
    assert {c.name for c in rubric(bare).criteria if c.grade == "-"} == {"window", "own-issued"}
    assert all(c.rule for c in r.criteria)
    assert r.grade == "F"  # the fixture has 12 failed signatures
    doc = dataclasses.replace(ScanReport.from_json(FIXTURE), rubric=r).to_json()
    assert ScanReport.from_json(doc).rubric == r


def test_the_scan_report_carries_the_rubric_in_terminal_json_and_html(tmp_path):
    import io

    from rich.console import Console

    from scanner.report.html import render_html
    from scanner.report.terminal import render_scan

    report = dataclasses.replace(ScanReport.from_json(FIXTURE), rubric=rubric(ScanReport.from_json(FIXTURE)))
    out = io.StringIO()
    render_scan(report, Console(file=out, width=200, color_system=None))
    assert "quality grade F" in out.getvalue() and "checks" in out.getvalue()
    page = render_html(report.to_json())
    assert 'id="rubric"' in page and "Quality grade F" in page


def test_coverage_reads_as_every_page_words_it():
    """One rule for a share of rows: the rubric's "(80.6%)" is the dashboard's and the report's."""
    from scanner.report.charts import rows_read_text

    report = scan_report({"assets": [_asset("ETH", "100", "100", read=50, expected=62)]})
    criteria = {c.name: c.value for c in rubric(report).criteria}
    assert criteria["coverage"] == "50 of 62 rows read (80.6%)"
    assert rows_read_text(50, 62).endswith("(80.6%)")
    assert criteria["snapshot"] == "50 of 50 read rows at the snapshot height (100%)"
