"""Scan reports for tests: a partial ``porscan.scan/1`` document (only the parts a test is about)
completed with a run header and read into the typed model, as a stored report is."""

from __future__ import annotations

from typing import Any

from scanner.report_model import SCAN_SCHEMA, ScanReport

RUN = {"id": 1, "exchange": "Test", "status": "done", "started_at": "2026-01-01T00:00:00Z"}


def scan_report(doc: dict[str, Any]) -> ScanReport:
    return ScanReport.from_json({"schema": SCAN_SCHEMA, **doc, "run": {**RUN, **(doc.get("run") or {})}})
