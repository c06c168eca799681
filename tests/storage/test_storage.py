"""Run storage on both backends: SQLite (a temp file) and PostgreSQL (a private cluster, tests/support/pg.py).

Every test runs once per backend against a fresh database. Amounts must come back exactly (huge
base units, 27-decimal coin amounts), a checkpointed chunk must count once however often it is
saved (also concurrently), and a resumed run finds its chunks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from scanner.devnet.localnodes import free_port
from scanner.storage import (AssetTotal, BalanceRecord, LiabilityRecord, RatioRecord, RowRecord, RunSpec, StoreError,
                             open_store, redact_url)
from scanner.storage import migrations
from scanner.storage.base import utc_now
from support.common import ROOT, run

BIG = 2**256 - 1  # the largest uint256: 78 digits
FINE = Decimal("123456789012345678901234567890.123456789012345678901234567")
TINY = Decimal("0.000000000000000000000000001")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store/porscan.db"
    return request.getfixturevalue("postgres_db")


def spec(exchange="okx", sha="a" * 64, liab_sha=None, params=None, snapshot_date="2024-05-01") -> RunSpec:
    return RunSpec(exchange=exchange, input_path="/data/okx.csv", input_sha256=sha, liabilities_path=None,
                   liabilities_sha256=liab_sha, params={"coins": [], "config": "c1"} if params is None else params,
                   tool_version="0.1.0", snapshot_date=snapshot_date)


def row(line: int, status="verified", address=None, units: int | None = None) -> RowRecord:
    return RowRecord(line, "ETH", "ETH", address or f"0x{line:040x}", 19_000_000, f"{line}.5",
                     units if units is not None else line * 10**18 + 5 * 10**17, status, "eip191", "" if
                     status == "verified" else "bad signature")


def balance(line: int, asset="ETH", status="match", onchain: int | None = None) -> BalanceRecord:
    return BalanceRecord(line, "ETH", "ETH", asset, f"0x{line:040x}", 19_000_000, line * 10**18,
                         line * 10**18 if onchain is None else onchain, 18, 19_000_000, "0x" + "ab" * 32, True,
                         status, "", "anvil")


def total(asset="ETH", network="*", published=FINE) -> AssetTotal:
    return AssetTotal(asset, network, 3, 3, 2, published, Decimal("1.5"), TINY, Decimal(0), Decimal("0.25"),
                      Decimal("7"), Decimal("0.000000000000000001"),
                      [{"number": 19_000_000, "hash": "0x" + "cd" * 32, "at_snapshot": True}])


def ratio(asset="ETH", proven=Decimal("1.05")) -> RatioRecord:
    return RatioRecord(asset, Decimal("1000.123456789012345678"), Decimal("1050"), Decimal("1100"), proven,
                       Decimal("1.1"), "zk-proven", Decimal("0.999"))


async def all_rows(store, run_id, batch=50_000) -> list[RowRecord]:
    return [r async for b in store.iter_rows(run_id, batch) for r in b]


async def all_balances(store, run_id, batch=50_000) -> list[BalanceRecord]:
    return [r async for b in store.iter_balances(run_id, batch) for r in b]


# ---------------------------------------------------------------------------------------- runs

def test_run_lifecycle(url):
    async def body():
        async with await open_store(url) as s:
            r = await s.start_run(spec())
            assert (r.status, r.finished_at, r.summary, r.snapshot_date) == ("running", None, None, "2024-05-01")
            assert r.params == {"coins": [], "config": "c1"} and r.started_at.endswith("Z")
            assert await s.get_run(r.id) == r
            await s.finish_run(r.id, "done", {"assets": {"ETH": {"ratio": "1.05"}}, "rows": 3})
            d = await s.get_run(r.id)
            assert d.status == "done" and d.finished_at >= d.started_at
            assert d.summary == {"assets": {"ETH": {"ratio": "1.05"}}, "rows": 3}
            with pytest.raises(StoreError, match="already done"):
                await s.resume_run(r.id)
            with pytest.raises(StoreError, match="no run 999"):
                await s.get_run(999)
            with pytest.raises(StoreError, match="no run 999"):
                await s.finish_run(999, "done", {})
            with pytest.raises(StoreError, match="'done' or 'failed'"):
                await s.finish_run(r.id, "ok", {})
            with pytest.raises(StoreError, match="YYYY-MM-DD"):
                await s.start_run(spec(snapshot_date="1 May 2024"))
            with pytest.raises(StoreError, match="JSON"):
                await s.start_run(spec(params={"x": object()}))
            r2 = await s.start_run(spec(snapshot_date=None))
            assert r2.id > r.id and r2.snapshot_date is None
            await s.set_snapshot_date(r2.id, "2024-05-02")
            assert (await s.get_run(r2.id)).snapshot_date == "2024-05-02"
    run(body())


def test_resume_lookup(url):
    async def body():
        async with await open_store(url) as s:
            a = await s.start_run(spec())
            b = await s.start_run(spec(params={"coins": ["BTC"], "config": "c1"}))
            c = await s.start_run(spec(liab_sha="f" * 64))
            assert (await s.find_resumable(spec())).id == a.id
            assert (await s.find_resumable(spec(params={"config": "c1", "coins": ["BTC"]}))).id == b.id  # key order
            assert (await s.find_resumable(spec(liab_sha="f" * 64))).id == c.id
            assert await s.find_resumable(spec(sha="b" * 64)) is None
            assert await s.find_resumable(spec(exchange="htx")) is None
            assert await s.find_resumable(spec(liab_sha="e" * 64)) is None
            a2 = await s.start_run(spec())  # the newest unfinished one wins
            assert (await s.find_resumable(spec())).id == a2.id
            await s.finish_run(a2.id, "failed", {"error": "killed"})
            failed = await s.find_resumable(spec())
            assert failed.id == a2.id and failed.status == "failed"  # a failed run resumes too
            resumed = await s.resume_run(a2.id)
            assert resumed.status == "running" and resumed.finished_at is None
            await s.finish_run(a2.id, "done", {})
            assert (await s.find_resumable(spec())).id == a.id
    run(body())


def test_list_runs_pagination(url):
    async def body():
        async with await open_store(url) as s:
            ids = [(await s.start_run(spec(exchange="okx" if i % 3 else "htx"))).id for i in range(7)]
            await s.finish_run(ids[1], "done", {})
            assert [r.id for r in await s.list_runs()] == ids[::-1]
            assert [r.id for r in await s.list_runs(limit=3)] == ids[::-1][:3]
            assert [r.id for r in await s.list_runs(limit=3, offset=3)] == ids[::-1][3:6]
            assert [r.id for r in await s.list_runs(limit=3, offset=6)] == ids[:1]
            assert await s.list_runs(offset=7) == []
            assert [r.id for r in await s.list_runs("htx")] == [ids[6], ids[3], ids[0]]
            assert [r.id for r in await s.list_runs("okx", limit=2, offset=1)] == [ids[4], ids[2]]
            assert [r.id for r in await s.list_runs(status="done")] == [ids[1]]
            assert (await s.count_runs(), await s.count_runs("htx"), await s.count_runs("bnb")) == (7, 3, 0)
            with pytest.raises(StoreError, match="non-negative"):
                await s.list_runs(limit=-1)
    run(body())


# --------------------------------------------------------------------------- chunks, checkpoints

def test_checkpoint_idempotence(url):
    async def body():
        async with await open_store(url) as s:
            r = await s.start_run(spec())
            first = [row(i) for i in range(1, 11)]
            await s.save_rows(r.id, "1", first)
            await s.save_rows(r.id, "1", first)  # the same chunk again: nothing happens
            await s.save_rows(r.id, "1", [row(i, "failed") for i in range(1, 11)])  # even with other content
            assert await s.count_rows(r.id) == {"verified": 10}
            assert await s.done_chunks(r.id, "verify") == {"1"}
            assert await s.done_chunks(r.id, "balances") == set()
            with pytest.raises(StoreError, match="repeats a line"):  # another chunk holding line 10
                await s.save_rows(r.id, "10", [row(10), row(11)])
            assert await s.done_chunks(r.id, "verify") == {"1"}  # nothing of the bad chunk stayed
            assert len(await all_rows(s, r.id)) == 10
            await s.save_rows(r.id, "11", [row(11, "failed"), row(12, "invalid_row")])
            assert await s.count_rows(r.id) == {"verified": 10, "failed": 1, "invalid_row": 1}
            await s.save_rows(r.id, "empty", [])
            assert await s.done_chunks(r.id, "verify") == {"1", "11", "empty"}

            bal = [balance(i) for i in range(1, 6)] + [balance(5, asset="USDT")]
            await s.save_balances(r.id, "b1", bal)
            await s.save_balances(r.id, "b1", bal)
            assert await s.count_balances(r.id) == {"match": 6}
            assert await s.done_chunks(r.id, "balances") == {"b1"}
            with pytest.raises(StoreError, match="repeats a line"):
                await s.save_balances(r.id, "b2", [balance(6), balance(5, asset="USDT")])
            assert await s.count_balances(r.id) == {"match": 6}

            await s.finish_run(r.id, "done", {})
            with pytest.raises(StoreError, match="is done"):
                await s.save_rows(r.id, "20", [row(20)])
            await s.save_rows(r.id, "1", first)  # an already saved chunk stays a no-op
            with pytest.raises(StoreError, match="no run 999"):
                await s.save_rows(999, "1", first)
            assert await s.count_rows(r.id) == {"verified": 10, "failed": 1, "invalid_row": 1}
    run(body())


def test_exact_amounts_round_trip(url):
    rows = [row(1, units=BIG), row(2, units=0), RowRecord(3, "BTC", "BTC", "bc1q", None, "", None, "invalid_row", "",
                                                          "no amount"), row(4, units=10**77 + 1)]
    bals = [balance(1, onchain=BIG), balance(2, onchain=0),
            BalanceRecord(3, "BTC", "BTC", "BTC", "bc1q", None, None, None, None, None, None, None, "unread",
                          "timeout", ""),
            BalanceRecord(4, "USDT-TRC20", "TRON", "USDT", "T9yD", 1, 5, 6, 6, 7, "0x01", False, "mismatch", "moved",
                          "fake")]
    totals = [total(), total("ETH", "ETH", Decimal("1E+30")), total("USDT", "*", TINY),
              total("BTC", "BTC", Decimal("0"))]
    liabilities = [LiabilityRecord("ETH", FINE, "zk-proven", "okx-v2", "sum_proof_data.json", "total equity"),
                   LiabilityRecord("USDT", Decimal("0.1") + TINY, "self-reported", "csv", "liab.csv", "")]
    # a ratio is read with its asset's all-network rows read / expected (BTC has no such total)
    ratios = [dataclasses.replace(ratio(), rows_read=2, rows_expected=3),
              RatioRecord("BTC", None, Decimal(0), Decimal("0.5"), None, None, "none", None)]

    async def body():
        async with await open_store(url) as s:
            r = await s.start_run(spec())
            await s.save_rows(r.id, "0", rows)
            await s.save_balances(r.id, "0", bals)
            await s.save_results(r.id, totals, liabilities, ratios)
            assert await all_rows(s, r.id) == rows
            assert await all_balances(s, r.id) == bals
            got = await s.load_results(r.id)
            assert got == (totals, liabilities, ratios)
            assert got[0][0].published == FINE and got[1][1].amount == Decimal("0.100000000000000000000000001")
            assert all(type(b.onchain_base_units) is int for b in await all_balances(s, r.id) if b.onchain_base_units)
            assert all(isinstance(x.amount, Decimal) for x in got[1])
            with pytest.raises(StoreError, match="never a float"):
                await s.save_results(r.id, [total(published=1.5)], [], [])
            with pytest.raises(StoreError, match="must be an int"):
                await s.save_rows(r.id, "9", [row(9, units=1.5)])
            with pytest.raises(StoreError, match="must be an int"):  # never rounded by the column
                await s.save_balances(r.id, "9", [balance(9), balance(10, onchain=Decimal("1.5"))])
            assert "9" not in await s.done_chunks(r.id, "verify") | await s.done_chunks(r.id, "balances")
            assert await s.load_results(r.id) == (totals, liabilities, ratios)  # the failed save changed nothing
            await s.save_results(r.id, totals[:1], [], ratios[1:])  # replaces
            assert await s.load_results(r.id) == (totals[:1], [], ratios[1:])
            await s.save_results(r.id, totals, liabilities, ratios)
            assert await s.load_totals(r.id, network="*") == [totals[0], totals[2]]
            assert await s.load_totals(r.id, asset="ETH", network="ETH") == [totals[1]]
    run(body())
    if url.startswith("sqlite"):  # never REAL: the integer / decimal string as written
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        assert db.execute("SELECT typeof(amount_base_units), amount_base_units FROM verifications WHERE line = 1"
                          ).fetchone() == ("text", str(BIG))
        assert {t for (t,) in db.execute("SELECT DISTINCT typeof(published) FROM asset_totals")} == {"text"}
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()


def test_ordering_by_line(url):
    async def body():
        async with await open_store(url) as s:
            r = await s.start_run(spec())
            for start in (50, 0, 100, 25, 75):  # chunks arrive out of order (parallel workers)
                await s.save_rows(r.id, str(start), [row(i) for i in range(start + 24, start - 1, -1)])
                await s.save_balances(r.id, str(start), [balance(i, a) for i in range(start, start + 25)
                                                         for a in ("USDT", "ETH")])
            batches = [b async for b in s.iter_rows(r.id, batch=7)]
            assert [len(b) for b in batches] == [7] * 17 + [6]
            assert [x.line for b in batches for x in b] == list(range(0, 125))
            bals = await all_balances(s, r.id, batch=9)
            assert [(b.line, b.asset) for b in bals] == [(i, a) for i in range(0, 125) for a in ("ETH", "USDT")]
            assert [b async for b in s.iter_rows(r.id + 1)] == []
    run(body())


def test_concurrent_writes(url):
    chunks = {str(k): [row(i) for i in range(k, k + 500)] for k in range(0, 20_000, 500)}

    async def body():
        async with await open_store(url, max_connections=6) as s:
            r = await s.start_run(spec())
            # every chunk saved three times at once, all interleaved
            jobs = [s.save_rows(r.id, k, v) for _ in range(3) for k, v in chunks.items()]
            jobs += [s.save_balances(r.id, k, [balance(x.line) for x in v]) for _ in range(2) for k, v in chunks.items()]
            await asyncio.gather(*jobs)
            assert await s.count_rows(r.id) == {"verified": 20_000}
            assert await s.count_balances(r.id) == {"match": 20_000}
            assert await s.done_chunks(r.id, "verify") == set(chunks)
            return r.id

    run_id = run(body())

    async def two_stores():  # two connections / processes on the same database
        a, b = await open_store(url), await open_store(url)
        try:
            r = await a.start_run(spec())
            await asyncio.gather(*(st.save_rows(r.id, k, v) for k, v in chunks.items() for st in (a, b)))
            assert await a.count_rows(r.id) == await b.count_rows(r.id) == {"verified": 20_000}
            assert await b.count_rows(run_id) == {"verified": 20_000}
        finally:
            await a.close()
            await b.close()

    run(two_stores())


def test_bulk_100k(url):
    n = 100_000

    async def body():
        async with await open_store(url) as s:
            r = await s.start_run(spec())
            for k in range(0, n, 25_000):
                await s.save_rows(r.id, str(k), [row(i, "verified" if i % 10 else "failed") for i in range(k, k + 25_000)])
                await s.save_balances(r.id, str(k), [balance(i) for i in range(k, k + 25_000)])
            assert await s.count_rows(r.id) == {"verified": 90_000, "failed": 10_000}
            assert await s.count_balances(r.id) == {"match": n}
            seen = 0
            async for batch in s.iter_rows(r.id):
                assert batch[0].line == seen and batch[-1] == row(seen + len(batch) - 1, "verified")
                seen += len(batch)
            assert seen == n
            assert sum(b.onchain_base_units for b in await all_balances(s, r.id)) == sum(range(n)) * 10**18
            assert len(await s.done_chunks(r.id, "verify")) == 4
    run(body())


# ----------------------------------------------------------------------------------- migrations

def test_migrations_reopen_is_a_no_op(url):
    async def body():
        s = await open_store(url)
        assert await s.schema_version() == migrations.LATEST
        r = await s.start_run(spec())
        await s.save_rows(r.id, "0", [row(1)])
        applied = await s._fetch("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        await s.close()
        s = await open_store(url)
        try:
            again = await s._fetch("SELECT version, applied_at FROM schema_migrations ORDER BY version")
            assert [tuple(x) for x in again] == [tuple(x) for x in applied]
            assert [v for v, _ in again] == list(range(1, migrations.LATEST + 1))
            assert await all_rows(s, r.id) == [row(1)]
        finally:
            await s.close()
    run(body())


def test_old_database_upgrades(url):
    async def body():
        s = await open_store(url, upto_version=1)  # a store as the first release left it
        assert await s.schema_version() == 1
        r = await s.start_run(spec())
        # rows as the first release wrote them: its columns (no custodian yet)
        first_release = migrations.VERIFICATION_COLUMNS[:11]
        for rec in (row(1), row(2, "failed")):
            values = s._encode_chunk(r.id, "verify", [rec])[0][:11]
            await s._fetch(f"INSERT INTO verifications ({', '.join(first_release)}) VALUES "
                           f"({', '.join('?' * len(first_release))})", *values)
        with pytest.raises(StoreError):  # no results tables yet
            await s.save_results(r.id, [total()], [], [])
        await s.close()
        s = await open_store(url)
        try:
            assert await s.schema_version() == migrations.LATEST
            assert await all_rows(s, r.id) == [row(1), row(2, "failed")]
            await s.save_results(r.id, [total()], [], [ratio()])
            assert await s.load_results(r.id) == ([total()], [], [dataclasses.replace(ratio(), rows_read=2,
                                                                                       rows_expected=3)])
            assert [f.line for f in await s.failures(r.id)] == [2]
            await s._fetch("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', ?)",
                           migrations.LATEST + 1, s._in_ts(utc_now()))
        finally:
            await s.close()
        with pytest.raises(StoreError, match="newer than this porscan"):
            await open_store(url)
    run(body())


# ------------------------------------------------------------------------------------- the feed

def test_feed_queries(url):
    async def body():
        async with await open_store(url) as s:
            series = []
            for day, ratio_value in (("2024-05-01", "1.01"), ("2024-05-02", "0.97"), ("2024-05-02", "0.98"),
                                     ("2024-05-03", "1.03")):
                r = await s.start_run(spec(snapshot_date=day))
                await s.save_rows(r.id, "0", [row(1, address="0xwallet"), row(2, "failed"), row(3, "invalid_row")])
                await s.save_balances(r.id, "0", [balance(1, onchain=7 if day == "2024-05-03" else 5),
                                                  balance(2, status="unread"), balance(4, status="mismatch")])
                await s.save_results(r.id, [total(), total(network="ETH")], [],
                                     [ratio(proven=Decimal(ratio_value)), ratio("BTC")])
                await s.finish_run(r.id, "done", {})
                series.append(r)
            unfinished = await s.start_run(spec(snapshot_date="2024-05-04"))
            other = await s.start_run(spec(exchange="htx", snapshot_date="2024-04-30"))
            await s.finish_run(other.id, "failed", {})

            ex = await s.exchanges()
            assert [(e.exchange, e.runs, e.done_runs, e.latest_run_id, e.latest_done_run_id, e.latest_snapshot_date)
                    for e in ex] == [("htx", 1, 0, other.id, None, None),
                                     ("okx", 5, 4, unfinished.id, series[3].id, "2024-05-03")]
            latest_run, latest = await s.latest_ratios("okx")
            assert latest_run.id == series[3].id and [q.asset for q in latest] == ["ETH", "BTC"]
            assert latest[0].proven_ratio == Decimal("1.03")
            assert await s.latest_ratios("htx") is None
            pts = await s.ratio_series("okx", "ETH")
            assert [(p.snapshot_date, p.ratio.proven_ratio, p.run_id) for p in pts] == [
                ("2024-05-01", Decimal("1.01"), series[0].id), ("2024-05-02", Decimal("0.98"), series[2].id),
                ("2024-05-03", Decimal("1.03"), series[3].id)]
            assert [p.snapshot_date for p in await s.ratio_series("okx", "ETH", since="2024-05-02",
                                                                  until="2024-05-02")] == ["2024-05-02"]
            assert await s.ratio_series("okx", "DOGE") == []
            assert [t.network for t in await s.load_totals(series[0].id, asset="ETH")] == ["*", "ETH"]

            hist = await s.address_history("0xwallet")
            assert [(h.run_id, h.row_status, h.onchain_base_units, h.block_hash) for h in hist] == [
                (series[3].id, "verified", 7, "0x" + "ab" * 32)] + [
                (x.id, "verified", 5, "0x" + "ab" * 32) for x in series[2::-1]]
            assert hist[0].snapshot_date == "2024-05-03" and hist[0].at_snapshot is True
            assert [h.run_id for h in await s.address_history("0xwallet", limit=2, offset=1)] == [series[2].id,
                                                                                                  series[1].id]
            assert await s.address_history("0xwallet", exchange="htx") == []
            assert await s.address_history("0xnobody") == []

            fails = await s.failures(series[0].id)
            assert [(f.stage, f.line, f.status) for f in fails] == [
                ("verify", 2, "failed"), ("balances", 2, "unread"), ("verify", 3, "invalid_row"),
                ("balances", 4, "mismatch")]
            assert [f.line for f in await s.failures(series[0].id, limit=2, offset=1)] == [2, 3]
            assert await s.count_failures(series[0].id) == {"verify": 2, "balances": 2}
            assert fails[0].reason == "bad signature"

            await s.delete_run(series[0].id)
            with pytest.raises(StoreError):
                await s.get_run(series[0].id)
            assert await s.count_rows(series[0].id) == {} and await s.load_results(series[0].id) == ([], [], [])
            assert len(await s.address_history("0xwallet")) == 3
    run(body())


def test_address_lookup_after_the_index_changes(url):
    """Rows stored before the address index became a hash index (PostgreSQL) are found after the
    upgrade, through the index, by exact address only."""
    async def body():
        s = await open_store(url, upto_version=7)
        r = await s.start_run(spec())
        await s.save_rows(r.id, "0", [row(1, address="0xwallet"), row(2, address="0xwallet")])
        await s.close()
        async with await open_store(url) as s:
            await s.save_rows(r.id, "3", [row(3, address="0xother")])
            assert [h.line for h in await s.address_history("0xwallet")] == [1, 2]
            assert [h.line for h in await s.address_history("0xother")] == [3]
            assert await s.address_history("0xWALLET") == []
            if url.startswith("postgresql"):
                (indexdef,) = (await s._fetch("SELECT indexdef FROM pg_indexes WHERE indexname = 'verifications_address'"))[0]
                assert "USING hash (address)" in indexdef
                async with s._acquire() as c:  # one connection: the setting holds for the EXPLAIN
                    await c.execute("SET enable_seqscan = off")  # a tiny table: show the index the planner can use
                    plan = "\n".join(r[0] for r in await c.fetch(
                        "EXPLAIN SELECT line FROM verifications WHERE address = $1", "0xother"))
                assert "verifications_address" in plan
    run(body())


def test_alerts_once_per_condition(url):
    async def body():
        async with await open_store(url) as s:
            r1, r2 = await s.start_run(spec()), await s.start_run(spec())
            a, new = await s.raise_alert("okx", "proven_ratio_below:USDT:1", "USDT ratio 0.97 < 1", {"ratio": "0.97"},
                                         r1.id)
            assert new and a.first_run_id == a.last_run_id == r1.id and a.resolved_at is None
            b, new = await s.raise_alert("okx", "proven_ratio_below:USDT:1", "USDT ratio 0.96 < 1", {"ratio": "0.96"},
                                         r2.id)
            assert not new and b.id == a.id and (b.first_run_id, b.last_run_id) == (r1.id, r2.id)
            assert b.detail == {"ratio": "0.96"} and b.last_seen_at >= a.last_seen_at
            _, new = await s.raise_alert("htx", "proven_ratio_below:USDT:1", "other exchange")
            assert new
            await s.mark_alert_notified(a.id)
            assert [x.id for x in await s.list_alerts("okx", open_only=True)] == [a.id]
            assert (await s.list_alerts("okx"))[0].notified_at is not None
            assert await s.resolve_alert("okx", "proven_ratio_below:USDT:1")
            assert not await s.resolve_alert("okx", "proven_ratio_below:USDT:1")
            assert await s.list_alerts("okx", open_only=True) == []
            c, new = await s.raise_alert("okx", "proven_ratio_below:USDT:1", "again", run_id=r2.id)
            assert new and c.id != a.id
            assert [x.id for x in await s.list_alerts()] == [c.id, c.id - 1, a.id]
            assert [x.id for x in await s.list_alerts(limit=1, offset=2)] == [a.id]
    run(body())


# ------------------------------------------------------------------------------- URLs and errors

def test_undelivered_alert_events_opened_then_resolved(url):
    """Each alert event is recorded delivered on its own: a resolution the webhook missed is still
    undelivered after the alert closed (it was not recorded at all, so never sent again)."""
    async def body():
        async with await open_store(url) as s:
            a, _ = await s.raise_alert("okx", "job_failed", "failed")
            assert [x.id for x in await s.undelivered_alerts("okx")] == [a.id]
            await s.mark_alert_notified(a.id)
            assert await s.undelivered_alerts("okx") == []
            assert await s.resolve_alert("okx", "job_failed")
            (x,) = await s.undelivered_alerts("okx")
            assert x.id == a.id and x.notified_at and x.resolved_at and x.resolved_notified_at is None
            await s.mark_alert_notified(a.id, "resolved")
            assert await s.undelivered_alerts("okx") == []
            with pytest.raises(StoreError, match="'opened' or 'resolved'"):
                await s.mark_alert_notified(a.id, "closed")
    run(body())


def test_a_hold_is_exclusive_across_stores_and_released(url):
    """``hold``: one holder per name among every store on the database; another name is free."""
    async def body():
        async with await open_store(url) as a, await open_store(url) as b:
            async with a.hold("schedule exchange: OKX") as first:
                assert first
                async with b.hold("schedule exchange: OKX") as second, b.hold("schedule exchange: HTX") as other:
                    assert not second and other
            async with b.hold("schedule exchange: OKX") as again:
                assert again
    run(body())


def test_redact_url():
    assert redact_url("postgresql://scan:s3cret@db.example:5432/por") == "postgresql://scan:***@db.example:5432/por"
    assert redact_url("postgresql://scan@db/por") == "postgresql://scan@db/por"
    assert redact_url("postgresql://u:p%40ss@h/d?sslmode=require") == "postgresql://u:***@h/d?sslmode=require"
    assert "hunter2" not in redact_url("postgresql://u:hunter2@[::1:5432/x")  # unparsable still redacted


def test_bad_urls_give_clear_errors(tmp_path):
    with pytest.raises(StoreError, match=r"unsupported database URL 'mysql://root:\*\*\*@h/db'") as e:
        run(open_store("mysql://root:topsecret@h/db"))
    assert "topsecret" not in str(e.value)
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError, match=rf"cannot connect .*postgresql://scan:\*\*\*@127.0.0.1:{port}/x") as e:
        run(open_store(f"postgresql://scan:topsecret@127.0.0.1:{port}/x"))
    assert "topsecret" not in str(e.value) and "topsecret" not in repr(e.value.__cause__)
    with pytest.raises(StoreError, match="sqlite:////absolute"):
        run(open_store("sqlite://relative.db"))
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create the folder"):
        run(open_store(tmp_path / "file" / "sub" / "x.db"))
    (tmp_path / "junk.db").write_text("this is not a database" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        run(open_store(str(tmp_path / "junk.db")))


def test_postgres_errors_name_the_database(postgres_server):
    dsn = postgres_server.dsn_for("no_such_db").replace("postgres@", "postgres:pw123456@")
    with pytest.raises(StoreError, match=r"postgres:\*\*\*@127.0.0.1.*no_such_db.*does not exist") as e:
        run(open_store(dsn))
    assert "pw123456" not in str(e.value)


def test_a_connection_broken_mid_operation_is_a_store_error(postgres_db, monkeypatch):
    """PostgreSQL restarted (or pg_terminate_backend) mid-scan: asyncpg may report the broken connection
    as an InternalClientError ("cannot switch to state 15; another operation is in progress"), which
    escaped as a traceback with exit code 1 (a failed check). It is a StoreError naming the database."""
    import asyncpg

    from scanner.storage import open_store

    async def broken(self, *args, **kwargs):
        raise asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation (2) is in progress")

    async def go():
        async with await open_store(postgres_db) as store:
            info = await store.start_run(spec())
            monkeypatch.setattr(asyncpg.connection.Connection, "fetchval", broken)
            monkeypatch.setattr(asyncpg.connection.Connection, "fetch", broken)
            with pytest.raises(StoreError, match="another operation"):
                await store.save_rows(info.id, "1", [row(1)])
            with pytest.raises(StoreError, match="another operation"):
                await store.get_run(info.id)
            monkeypatch.undo()

    run(go())


_HOLD_RUN = r"""
import asyncio, sys
from scanner.storage import open_store

async def main(url, run_id):
    store = await open_store(url)
    print(await store.claim_run(run_id), flush=True)
    sys.stdin.readline()  # held until told to go, then the process ends without closing anything

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_a_run_is_held_by_one_live_process(url):
    """Two `porscan scan` of the same inputs at once: the second resumed the run the first was still
    scanning, both wrote into it and read the same nodes (a Knots dump each: rows left unread). A run
    is now held by the process scanning it, released when that process ends, even by SIGKILL."""
    from scanner.storage import open_store

    async def start():
        async with await open_store(url) as store:
            return (await store.start_run(spec())).id

    run_id = run(start())
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_RUN, url, str(run_id)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"

        async def claim(run_id: int) -> bool:
            async with await open_store(url) as store:
                return await store.claim_run(run_id)

        assert run(claim(run_id)) is False  # another process scans it now
        assert run(claim(run_id + 1)) is True  # another run is free
    finally:
        holder.kill()  # no clean-up: what a SIGKILL leaves
        holder.wait()
    assert run(claim(run_id)) is True  # the holder is gone: its run can be resumed


def test_default_and_bare_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("PORSCAN_DB", str(tmp_path / "home" / "porscan.db"))

    async def body():
        async with await open_store(None) as s:
            assert s.backend == "sqlite"
            await s.start_run(spec())
        async with await open_store(str(tmp_path / "home" / "porscan.db")) as s:  # bare path: the same file
            assert len(await s.list_runs()) == 1
        async with await open_store("sqlite:///:memory:") as s:
            assert await s.list_runs() == []
    run(body())
    assert (tmp_path / "home" / "porscan.db").exists()


# ------------------------------------------------------------------------------ SIGKILL and resume

KILL_WRITER = """
import asyncio, sys
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/tests", sys.argv[2] + "/tests/storage"]
from test_storage import row, spec
from scanner.storage import open_store

async def main(url):
    s = await open_store(url)
    r = await s.find_resumable(spec()) or await s.start_run(spec())
    print(r.id, flush=True)
    for k in range(0, 60_000, 6_000):  # the parent kills us somewhere in here
        await s.save_rows(r.id, str(k), [row(i) for i in range(k, k + 6_000)])
        print(k, flush=True)
    await asyncio.sleep(60)

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.parametrize("after_chunks, delay", [(1, 0.0), (3, 0.01), (6, 0.03)])
def test_sigkill_mid_write_then_resume(url, after_chunks, delay, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(KILL_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), url, str(ROOT)],
                            stdout=subprocess.PIPE, text=True)
    run_id = int(proc.stdout.readline())
    for _ in range(after_chunks):
        proc.stdout.readline()
    time.sleep(delay)  # the next chunk's transaction is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    async def body():
        async with await open_store(url) as s:
            done = await s.done_chunks(run_id, "verify")
            rows = await all_rows(s, run_id)
            assert after_chunks <= len(done) < 10
            assert len(rows) == 6_000 * len(done)  # whole chunks only: each with its checkpoint
            assert {str(r.line - r.line % 6_000) for r in rows} == done
            r = await s.find_resumable(spec())
            assert r.id == run_id
            await s.resume_run(run_id)
            for k in range(0, 60_000, 6_000):
                if str(k) not in done:
                    await s.save_rows(run_id, str(k), [row(i) for i in range(k, k + 6_000)])
            assert await all_rows(s, run_id) == [row(i) for i in range(60_000)]
    run(body())


def test_staked_and_unbonding_parts_round_trip_and_older_rows_are_unknown(url):
    """Migration 5: a balance's staked / unbonding parts come back exactly (None = split unknown); a balance
    stored before them reads as unknown, never as all liquid; totals stored before them have no split."""
    from dataclasses import replace

    parted = [balance(1, onchain=BIG)._replace(staked=BIG - 7, unbonding=5),
              balance(2)._replace(staked=None, unbonding=None),
              balance(3)]  # a chain without staking: 0 and 0
    split_total = replace(total(), staked=Decimal("0.5"), unbonding=TINY, split_unknown=Decimal(2),
                          split_unknown_rows=3)

    async def body():
        s = await open_store(url, upto_version=4)  # as the release before the split left it
        r = await s.start_run(spec())
        before = migrations.BALANCE_COLUMNS[:16]
        values = s._encode_chunk(r.id, "balances", [balance(9)])[0][:16]
        await s._fetch(f"INSERT INTO balances ({', '.join(before)}) VALUES ({', '.join('?' * 16)})", *values)
        await s._fetch("INSERT INTO asset_totals (run_id, seq, asset, network, rows_total, rows_expected, rows_read, "
                       "published, onchain, proven, owner_only, key_only, unverified, unread_published, blocks) "
                       "VALUES (?, 0, 'ETH', '*', 1, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?)", r.id,
                       *(s._in_dec(Decimal(x)) for x in ("1", "1", "1", "0", "0", "0", "0")), s._in_json([]))
        await s.close()
        s = await open_store(url)
        try:
            (old,) = await all_balances(s, r.id)
            assert (old.staked, old.unbonding, old.split_known) == (None, None, False)
            (old_total,) = (await s.load_results(r.id))[0]
            assert (old_total.staked, old_total.unbonding, old_total.split_unknown_rows) == (0, 0, 0)
            await s.save_balances(r.id, "1", parted)
            got = [b for b in await all_balances(s, r.id) if b.line < 9]
            assert got == parted and type(got[0].staked) is int
            await s.save_results(r.id, [split_total], [], [])
            assert (await s.load_results(r.id))[0] == [split_total]
        finally:
            await s.close()
    run(body())


def test_a_damaged_stored_summary_is_one_line_naming_the_run(tmp_path, capsys):
    """`porscan runs` and `porscan report` died with a JSONDecodeError traceback (exit 1)."""
    from scanner.cli.main import main

    db = tmp_path / "runs.db"

    async def one_run():
        async with await open_store(str(db)) as s:
            r = await s.start_run(spec())
            await s.finish_run(r.id, "done", {"rows": 1})
            return r.id

    run_id = run(one_run())
    good = run(one_run())
    with sqlite3.connect(db) as c:
        c.execute("UPDATE runs SET summary = '{not json' WHERE id = ?", (run_id,))
    assert main(["report", str(run_id), "--db", str(db)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"porscan report: run {run_id} in sqlite:///{db}: its stored summary is not JSON"), line
    # the list goes on: one damaged row must not hide every other run
    assert main(["runs", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "damaged row" in out and f"{good} " in out


def test_a_run_whose_stored_options_are_damaged_is_not_resumed(tmp_path, capsys):
    """Its options cannot be read back, so a resume has nothing to be checked against: it stops,
    naming the run, instead of reporting every option as changed (or mixing two runs)."""
    from scanner.cli.main import main
    from scanner.devnet import samplegen as g

    db = tmp_path / "runs.db"
    addr, sig = g.evm_sign_okx_fast(g.seeded_key(1, "damaged"))
    reserves = tmp_path / "r.csv"
    reserves.write_text(f"{g.OKX11_HEADER}\nETH,ETH,100,{addr},1,I am an OKX address,{sig},,\n")

    async def one_run():
        async with await open_store(str(db)) as s:
            return (await s.start_run(spec())).id

    run_id = run(one_run())
    with sqlite3.connect(db) as c:
        c.execute("UPDATE runs SET params = '{not json' WHERE id = ?", (run_id,))
    assert main(["scan", str(reserves), "--resume", str(run_id), "--db", str(db), "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"porscan scan: run {run_id} in sqlite:///{db}: its stored params is not JSON"), line
    assert line.endswith("start anew with --fresh")
