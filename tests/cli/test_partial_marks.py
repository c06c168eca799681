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
    assert latest.endswith("USDT * │") and earlier.endswith("USDT │"), (latest, earlier)  # 1: read in full
    assert " ".join(PARTIAL_NOTE.split()) in lines


def test_diff_marks_the_side_read_in_part(db, capsys):
    assert main(["diff", "1", "2", "--db", db]) == 0
    lines = _lines(capsys)
    assert "liabilities 8424.59 -> 8424.59, proven ratio 79.99% -> 22.08% *" in lines
    assert "liabilities 12398.80319635 -> 12398.80319635, proven ratio 101.62% -> 101.02%" in lines
    assert lines[-1] == " ".join(PARTIAL_NOTE.split())
