"""The balance check around adapters: one network's broken adapter does not stop the others, and
its rows are unread with the reason (never zero)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from chains.jsonrpc import Endpoint
from chains.memory import MemoryAdapter
from scanner.pipeline import adapters
from scanner.pipeline.balances import check_balances
from scanner.pipeline.ingest import ReserveRow
from scanner.config.networks import CoinTarget, Network


def _row(line: int, coin: str, address: str, amount: str) -> ReserveRow:
    return ReserveRow(line, coin, coin, 10, address, Decimal(amount), amount, False, "m", "s", "", "", "", "", "")


def test_a_broken_adapter_leaves_its_rows_unread_and_the_others_read(monkeypatch):
    good = MemoryAdapter("good", {"g1": 7, "g2": 7})
    broken = MemoryAdapter("bad", broken=KeyError("a bug in the adapter"))
    monkeypatch.setitem(adapters.FACTORIES, "test-good", lambda net, **_: good)
    monkeypatch.setitem(adapters.FACTORIES, "test-bad", lambda net, **_: broken)
    ep = Endpoint("ep", "http://127.0.0.1:9")
    networks = {"good": Network("good", "test-good", None, "G", 0, (ep,)),
                "bad": Network("bad", "test-bad", None, "B", 0, (ep,))}
    coins = {"GOOD": CoinTarget("GOOD", "good", "GOOD", None, 0), "BAD": CoinTarget("BAD", "bad", "BAD", None, 0)}
    rows = [_row(1, "GOOD", "g1", "7"), _row(2, "BAD", "b1", "5"), _row(3, "GOOD", "g2", "8")]
    checks, summaries = asyncio.run(check_balances(rows, coins, networks))
    by_line = {c.line: c for c in checks}
    assert by_line[1].status == "match" and by_line[1].onchain_base_units == 7
    assert by_line[3].status == "mismatch"
    bad = by_line[2]
    assert bad.status == "unread" and bad.onchain_base_units is None
    assert "adapter error (KeyError)" in bad.reason
    assert summaries["bad"].unread == 1 and summaries["bad"].onchain_total == {}
    assert summaries["good"].requests == good.requests == 1 and good.closed and broken.closed


def test_json_log_lines(capsys):
    import json
    import logging

    from scanner.logs import setup

    setup("INFO", "json")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("porscan.test").exception("read failed on %s", "ethereum", extra={"network": "ethereum"})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        rec = json.loads(line)
        assert rec["level"] == "error" and rec["logger"] == "porscan.test"
        assert rec["msg"] == "read failed on ethereum" and rec["network"] == "ethereum"
        assert "ValueError: boom" in rec["exc"] and rec["ts"].endswith("Z")
    finally:
        setup("WARNING", "text")
