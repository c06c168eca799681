"""The quality rubric: a grade computed from the report's verified facts, shown with its inputs.

Each criterion is one fact with explicit thresholds (A best, then B, C, D; F when a check failed), and
the grade is the worst of them: nothing is weighted or hidden, and anyone can check it by hand from the
figures beside it. What porscan did not measure says so ("-") and does not count.

| criterion | fact | A | B | C | D |
|---|---|---|---|---|---|
| ownership | proven / on-chain reserves (USD when priced, else the lowest asset) | >= 99 % | >= 90 % | >= 50 % | lower |
| liabilities | the weakest provenance of an asset's liabilities | zk-verified | merkle-sum | zk-published | self-reported or none |
| coverage | rows read / rows expected | 100 % | >= 99 % | >= 90 % | lower |
| snapshot | read rows read at the snapshot height (not at latest) | 100 % | >= 90 % | >= 50 % | lower |
| overlap | addresses another exchange's run also claims | none | - | some | - |
| proofs and checks | a liabilities proof, a signature or a balance failed | none: A | | | any: F |
| window | the highest share of an asset's proven reserves present at H only (window-dressed, `--window`) | none | < 1 % | < 10 % | higher |
"""

from __future__ import annotations

from decimal import Decimal

from ..amounts import count_percent, shown_percent
from ..records import MERKLE_SUM, SELF_REPORTED, ZK_PUBLISHED, ZK_VERIFIED
from ..report_model import Criterion, Rubric, ScanReport

ORDER = "ABCDF"
_LIABILITY_GRADE = {ZK_VERIFIED: "A", MERKLE_SUM: "B", ZK_PUBLISHED: "C", SELF_REPORTED: "D"}


def _band(value: Decimal, a: Decimal, b: Decimal, c: Decimal) -> str:
    return "A" if value >= a else "B" if value >= b else "C" if value >= c else "D"


def _ownership(report: ScanReport) -> Criterion:
    rule = "A >= 99 %, B >= 90 %, C >= 50 %, else D"
    usd = report.usd
    if usd is not None and usd.complete and usd.with_unproven:
        share = usd.proven / usd.with_unproven if usd.proven is not None else Decimal(0)
        return Criterion("ownership", f"{shown_percent(share)} of reserves in USD proven by signature",
                         _band(share, Decimal("0.99"), Decimal("0.9"), Decimal("0.5")), rule)
    shares = [(a.figures.proven / a.figures.onchain, a.asset) for a in report.assets
              if a.figures.onchain and a.figures.proven is not None]
    if not shares:
        return Criterion("ownership", "no reserves read", "-", rule)
    low, asset = min(shares)
    return Criterion("ownership", f"lowest: {asset} {shown_percent(low)} of on-chain reserves proven by signature",
                     _band(low, Decimal("0.99"), Decimal("0.9"), Decimal("0.5")), rule)


def _liabilities(report: ScanReport) -> Criterion:
    rule = "A zk-verified, B merkle-sum, C zk-published, D self-reported or none"
    provs = sorted({a.liabilities_provenance or "none" for a in report.assets if a.figures.rows_expected})
    if report.liabilities is None or not provs:
        return Criterion("liabilities", "no liabilities file", "D", rule)
    grade = max((_LIABILITY_GRADE.get(p, "D") for p in provs), key=ORDER.index)
    return Criterion("liabilities", ", ".join(provs), grade, rule)


def _coverage(report: ScanReport) -> Criterion:
    rule = "A 100 %, B >= 99 %, C >= 90 %, else D"
    if not report.rows_expected:
        return Criterion("coverage", "no rows to read", "-", rule)
    share = Decimal(report.rows_read) / Decimal(report.rows_expected)
    grade = "A" if report.rows_read >= report.rows_expected else _band(share, Decimal(2), Decimal("0.99"), Decimal("0.9"))
    return Criterion("coverage", f"{report.rows_read:,} of {report.rows_expected:,} rows read "
                                 f"({count_percent(report.rows_read, report.rows_expected)})",
                     grade, rule)


def _snapshot(report: ScanReport) -> Criterion:
    rule = "A 100 %, B >= 90 %, C >= 50 %, else D"
    read = at = 0
    for a in report.assets:
        for n in a.networks:
            read += n.figures.rows_read
            if n.blocks and all(b.at_snapshot for b in n.blocks):
                at += n.figures.rows_read
    if not read:
        return Criterion("snapshot", "no rows read", "-", rule)
    share = Decimal(at) / Decimal(read)
    grade = "A" if at == read else _band(share, Decimal(2), Decimal("0.9"), Decimal("0.5"))
    return Criterion("snapshot", f"{at:,} of {read:,} read rows at the snapshot height ({count_percent(at, read)})", grade, rule)


def _overlap(report: ScanReport) -> Criterion:
    lines = [n for n in report.notes if n.startswith("overlap:")]
    return Criterion("overlap", f"{len(lines)} asset(s) with addresses another exchange also claims" if lines else "none",
                     "C" if lines else "A", "A none, C some (the notes give the amounts counted twice)")


def _checks(report: ScanReport) -> Criterion:
    failed = []
    if report.by_status.get("failed"):
        failed.append(f"{report.by_status['failed']:,} signature(s)")
    if report.balance_status.get("mismatch"):
        failed.append(f"{report.balance_status['mismatch']:,} balance(s) unlike the published amount")
    if report.liabilities is not None and report.liabilities.failed_proofs:
        failed.append(f"{len(report.liabilities.failed_proofs)} liabilities proof(s)")
    return Criterion("checks", "failed: " + ", ".join(failed) if failed else "none failed", "F" if failed else "A",
                     "A none failed, F any signature, balance or proof failed")


def _own_issued(report: ScanReport) -> Criterion:
    rule = "A none, B < 5 %, C < 20 %, else D of proven reserves in USD are the exchange's own tokens"
    usd = report.usd
    if usd is None or not usd.proven:
        return Criterion("own-issued", "not measured (no USD valuation)", "-", rule)
    share = usd.by_class.get("own-issued", Decimal(0)) / usd.proven
    grade = "A" if share == 0 else "B" if share < Decimal("0.05") else "C" if share < Decimal("0.2") else "D"
    return Criterion("own-issued", f"{shown_percent(share)} of proven reserves in USD are its own tokens", grade, rule)


def _window(report: ScanReport) -> Criterion:
    rule = "A none, B < 1 %, C < 10 %, else D of an asset's proven reserves window-dressed (present at H only)"
    window = report.window
    if window is None:
        return Criterion("window", "not measured (no --window)", "-", rule)
    proven = {a.asset: a.figures.proven for a in report.assets}
    shares = []
    for w in window.assets:
        if w.dressed:
            base = proven.get(w.asset)
            # dressed reserves of an asset with no proven reserves: all of it is at stake
            shares.append((w.dressed / base if base else Decimal(1), w.asset))
    read = sum(w.addresses_read for w in window.assets)
    total = sum(w.addresses for w in window.assets)
    seen = f"{read:,} of {total:,} addresses read at H -/+ {window.window}"
    if not read:
        return Criterion("window", f"not measured ({seen})", "-", rule)
    if not shares:
        return Criterion("window", f"none window-dressed ({seen})", "A", rule)
    high, asset = max(shares)
    grade = "B" if high < Decimal("0.01") else "C" if high < Decimal("0.1") else "D"
    return Criterion("window", f"highest: {asset} {shown_percent(min(high, Decimal(1)))} of proven reserves "
                     f"window-dressed ({seen})", grade, rule)


def rubric(report: ScanReport) -> Rubric:
    criteria = (_ownership(report), _liabilities(report), _coverage(report), _snapshot(report), _overlap(report),
                _checks(report), _window(report),
                _own_issued(report))
    measured = [c.grade for c in criteria if c.grade in ORDER]
    return Rubric(grade=max(measured, key=ORDER.index) if measured else "-", criteria=criteria)
