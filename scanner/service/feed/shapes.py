"""The feed's JSON shapes: one function per stored type, exact decimal strings, blanks never zeros."""

from __future__ import annotations

import json
from decimal import Decimal
import logging
from typing import Any


from ...amounts import coverage, fmt
from ...records import AssetTotal, RatioRecord
from ...report_model import ReportError, ScanReport
from ..schedule.job import parse_ts as _ts

log = logging.getLogger("porscan.feed")



# ------------------------------------------------------------------------------------- JSON shapes

def dec(v: Decimal | None) -> str | None:
    return None if v is None else fmt(v)


def units(v: int | None) -> str | None:
    return None if v is None else str(v)


def stored_report(r) -> ScanReport | None:
    """A done run's stored report, read; None for a run without one (running, failed) or with one
    this version cannot read (logged once per request, never a 500)."""
    if r.damaged:
        log.warning("run %s: %s", r.id, r.damaged)
        return None
    if r.status != "done" or not r.summary:
        return None
    try:
        return ScanReport.from_json(r.summary)
    except ReportError as exc:
        log.warning("run %s: stored report unreadable: %s", r.id, exc)
        return None


def run_json(r, full: bool = False) -> dict:
    report = stored_report(r)
    out = {"id": r.id, "exchange": r.exchange, "status": r.status, "snapshot_date": r.snapshot_date,
           "started_at": r.started_at, "finished_at": r.finished_at, "duration_seconds": _duration(r),
           "input_sha256": r.input_sha256, "liabilities_sha256": r.liabilities_sha256,
           "tool_version": r.tool_version,
           "verification": dict(report.by_status) if report else None,
           "balances": dict(report.balance_status) if report else None,
           "stage_seconds": (dict(report.run.stage_seconds) or None) if report else None,
           "resumed": report.run.resumed if report else None}
    if r.damaged:  # the reason names the store's file: the feed says only that the row cannot be read
        out["damaged"] = "the stored row of this run cannot be read (the server log says why)"
    if full:
        out["report"] = public_report(report, r.summary)
    return out


def public_report(report: ScanReport | None, stored: dict | None = None) -> dict | None:
    """A stored report as the feed serves it: input files by name and SHA-256, never by the absolute
    path they had on the machine that scanned them. A run without a report shows what was stored
    for it (a failed run's error)."""
    if report is not None:
        return report.public().to_json()
    if not stored:
        return stored
    return {k: v for k, v in stored.items() if k not in ("inputs", "liabilities")}


def _duration(r) -> float | None:
    a, b = _ts(r.started_at), _ts(r.finished_at)
    return None if a is None or b is None else round(b - a, 3)


def coverage_of(read: int | None, expected: int | None) -> str | None:
    value = coverage(read, expected)  # the report's rule: rounded down
    return None if value is None else fmt(value)


def ratio_json(q: RatioRecord, total: AssetTotal | None = None) -> dict:
    """The ratio's own JSON form, with whether its total was read at the snapshot."""
    out = {**q.to_json(), "at_snapshot": None}
    if total is not None:
        blocks = total.blocks or []
        out["at_snapshot"] = all(b.get("at_snapshot") is not False for b in blocks) if blocks else None
    return out


def total_json(t: AssetTotal) -> dict:
    return t.to_place_json()


def alert_json(a) -> dict:
    return {"id": a.id, "exchange": a.exchange, "key": a.key, "message": a.message, "detail": a.detail,
            "open": a.resolved_at is None, "first_run_id": a.first_run_id, "last_run_id": a.last_run_id,
            "opened_at": a.opened_at, "last_seen_at": a.last_seen_at, "resolved_at": a.resolved_at,
            "notified_at": a.notified_at}


def observation_json(o) -> dict:
    onchain = None
    if o.onchain_base_units is not None and o.decimals is not None:
        onchain = fmt(Decimal(o.onchain_base_units).scaleb(-o.decimals))
    return {"run_id": o.run_id, "exchange": o.exchange, "snapshot_date": o.snapshot_date, "started_at": o.started_at,
            "line": o.line, "coin": o.coin, "network": o.network, "row_status": o.row_status, "scheme": o.scheme,
            "reason": o.reason, "published": o.amount_text, "published_base_units": units(o.amount_base_units),
            "balance_status": o.balance_status, "asset": o.asset, "onchain": onchain,
            "onchain_base_units": units(o.onchain_base_units), "decimals": o.decimals,
            "block": None if o.block_number is None else {"number": o.block_number, "hash": o.block_hash,
                                                          "at_snapshot": o.at_snapshot}}


def failure_json(f) -> dict:
    return {"stage": f.stage, "line": f.line, "coin": f.coin, "network": f.network, "address": f.address,
            "status": f.status, "reason": f.reason}


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
