"""`porscan runs` and `porscan diff` mark a ratio from incomplete reads as the reports do (`*` and
the note), over stored runs from tests/support/unread_runs.py."""

from __future__ import annotations

import pytest

from scanner.cli.main import main
from scanner.report.charts import PARTIAL_NOTE
from support.common import run
from support.unread_runs import store_runs


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("marks") / "runs.db")
    run(store_runs(url))
    return url


def _lines(capsys) -> list[str]:
    return [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]


def test_runs_mark_an_asset_below_100_percent_from_incomplete_reads(db, capsys):
    assert main(["runs", "--db", db]) == 0
    lines = _lines(capsys)
    latest = next(line for line in lines if line.startswith("│ 2 "))
    earlier = next(line for line in lines if line.startswith("│ 1 "))
    # 1: read in full; 2: TRX has liabilities and nothing read, so no ratio: named, not taken as fine
    assert latest.endswith("USDT *; no ratio: TRX not read │") and earlier.endswith("USDT │"), (latest, earlier)
    assert " ".join(PARTIAL_NOTE.split()) in lines


def test_runs_of_a_run_without_liabilities_say_no_ratio_not_none(tmp_path, capsys):
    """A run scanned without liabilities has no ratio: 'assets below 100%: none' read as every asset
    covered. It says '- (no ratio: no liabilities)' now."""
    from scanner.report_model import AssetReport, RunHeader, ScanReport
    from scanner.storage import RunSpec, open_store
    from support.unread_runs import latest_totals

    db = str(tmp_path / "runs.db")

    async def store():
        s = await open_store(db)
        try:
            r = await s.start_run(RunSpec(exchange="NoLiab", input_path="reserves.csv", input_sha256="a" * 64,
                                          liabilities_path=None, liabilities_sha256=None, params={},
                                          tool_version="test", snapshot_date="2026-01-04"))
            assets = tuple(AssetReport(asset=t.asset, figures=t.figures()) for t in latest_totals() if t.network == "*")
            report = ScanReport(tool_version="test", run=RunHeader(id=r.id, exchange="NoLiab", status="done",
                                                                   started_at=r.started_at, snapshot_date="2026-01-04"),
                                inputs=(), rows=44, by_status={}, balance_status={}, assets=assets)
            await s.finish_run(r.id, "done", report.to_json())
        finally:
            await s.close()

    run(store())
    assert main(["runs", "--db", db]) == 0
    (row,) = [line for line in _lines(capsys) if line.startswith("│ 1 ")]
    assert row.endswith("│ - (no ratio: no liabilities) │"), row


def test_diff_marks_the_side_read_in_part(db, capsys):
    assert main(["diff", "1", "2", "--db", db]) == 0
    lines = _lines(capsys)
    assert "liabilities 8424.59 -> 8424.59, proven ratio 79.99% -> 22.08% *" in lines
    assert "liabilities 12398.80319635 -> 12398.80319635, proven ratio 101.62% -> 101.02%" in lines
    assert lines[-1] == " ".join(PARTIAL_NOTE.split())


@pytest.mark.parametrize("input_path, said", [
    ("/data/okx rounds/2026-01 reserves.csv",
     "finish it with `porscan scan --resume 1 '/data/okx rounds/2026-01 reserves.csv'`"),
    ("https://por.example/okx/reserves.csv", "the schedule or backfill that started it resumes it on its next pass"),
])
def test_report_of_an_unfinished_run_is_one_line_that_can_be_followed(tmp_path, capsys, monkeypatch, input_path, said):
    """`porscan report` of a running or failed run printed its advice through rich, wrapped at 80
    columns into two lines, with an unquoted path (spaces broke the command) and, for a scheduled
    run of a URL, a `porscan scan` of that URL, which scan does not read."""
    from scanner.storage import RunSpec, open_store

    monkeypatch.setenv("COLUMNS", "80")
    db = str(tmp_path / "runs.db")

    async def store():
        s = await open_store(db)
        try:
            await s.start_run(RunSpec(exchange="OKX", input_path=input_path, input_sha256="a" * 64,
                                      liabilities_path=None, liabilities_sha256=None, params={},
                                      tool_version="test", snapshot_date="2026-01-04"))
        finally:
            await s.close()

    run(store())
    assert main(["report", "1", "--db", db]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"porscan report: run 1 is running, not done; {said}", line
