"""The aggregation's read of a stored run (``Store.iter_tally``, ``Store.repeated_wallet_lines``) on both
backends: the join of each row with its balance read gives exactly what ``iter_rows`` and
``iter_balances`` give merged by line (the first balance by asset of a line with several), whatever the
batch size; amounts stay exact; every row that can repeat a wallet is named."""

from __future__ import annotations

import asyncio

import pytest

from scanner.pipeline.aggregate import canonical_address
from scanner.records import TallyRow
from scanner.storage import BalanceRecord, RowRecord, open_store
from test_storage import BIG, all_balances, all_rows, spec

ADDR = "0x" + "ab" * 20


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store/porscan.db"
    return request.getfixturevalue("postgres_db")


def _row(line: int, address: str, units: int | None, status: str = "verified", custodian: str = "") -> RowRecord:
    return RowRecord(line=line, coin="ETH", network="ETH", address=address, snapshot_height=100 + line % 2,
                     amount_text="" if units is None else str(units), amount_base_units=units, status=status,
                     scheme="eip191", reason="", custodian=custodian)


def _bal(line: int, address: str, onchain: int | None, asset: str = "ETH", staked: int | None = 0,
         at_snapshot: bool | None = True) -> BalanceRecord:
    return BalanceRecord(line=line, coin="ETH@BEACON" if asset == "ETH" and line == 3 else "ETH", network="ethereum",
                         asset=asset, address=address, snapshot_height=100, published_base_units=onchain,
                         onchain_base_units=onchain, decimals=18, block_number=None if onchain is None else 100 + line,
                         block_hash=None if onchain is None else f"0x{line:064x}", at_snapshot=at_snapshot,
                         status="unread" if onchain is None else "match", reason="", endpoint="anvil",
                         staked=staked, unbonding=None if staked is None else 0)


ROWS = [_row(1, ADDR, BIG), _row(2, "0x" + "02" * 20, 5, custodian="Ceffu"), _row(3, "0x" + "03" * 48, 32 * 10**18),
        _row(4, "0x" + "04" * 20, None, status="failed"), _row(5, "0x" + "05" * 20, 7),
        _row(6, ADDR.upper().replace("0X", "0x"), 1), _row(7, ADDR, 2), _row(8, "0x" + "08" * 20, 3, "invalid_row"),
        _row(9, "bc1qcase", 4), _row(10, "BC1QCASE", 4), _row(11, "0x\u212a" + "0b" * 19, 5), _row(12, "0xk" + "0b" * 19, 6),
        _row(13, "0x\u00c4" + "0d" * 19, 7), _row(14, "0x\u00e4" + "0d" * 19, 8)]
BALANCES = [_bal(1, ADDR, BIG), _bal(2, "0x" + "02" * 20, 0, at_snapshot=False), _bal(3, "0x" + "03" * 48, 32 * 10**18),
            # line 4: no balance record; line 5: two assets (the first by asset, ARB, is the one summed)
            _bal(5, "0x" + "05" * 20, 9, asset="ETH"), _bal(5, "0x" + "05" * 20, 8, asset="ARB", staked=None),
            _bal(6, ADDR.upper().replace("0X", "0x"), 1), _bal(7, ADDR, None), _bal(9, "bc1qcase", 4),
            _bal(10, "BC1QCASE", 4), _bal(11, "0x\u212a" + "0b" * 19, 5), _bal(12, "0xk" + "0b" * 19, 6),
            _bal(13, "0x\u00c4" + "0d" * 19, 7), _bal(14, "0x\u00e4" + "0d" * 19, 8)]


def _expected(rows: list[RowRecord], balances: list[BalanceRecord]) -> list[TallyRow]:
    first: dict[int, BalanceRecord] = {}
    for b in balances:  # iter_balances order: line, asset
        first.setdefault(b.line, b)
    return [TallyRow.of(r, first.get(r.line)) for r in rows]


async def _stored(s, sha: str = "a" * 64, upto: int | None = None) -> int:
    run = await s.start_run(spec(sha=sha))
    await s.save_rows(run.id, "1", ROWS[:upto])
    await s.save_balances(run.id, "1", BALANCES[:upto])
    return run.id


def test_tally_is_rows_joined_with_their_first_balance(url):
    async def body():
        async with await open_store(url) as s:
            run_id = await _stored(s)
            want = _expected(await all_rows(s, run_id), await all_balances(s, run_id))
            assert want[4].asset == "ARB" and want[4].staked is None and want[3].balance_status is None
            for batch in (1, 2, 3, 4, 50_000):  # batch ends inside line 5's two balances, too
                got = [t async for b in s.iter_tally(run_id, batch) for t in b]
                assert got == want, batch
            assert got[0].onchain_base_units == BIG and type(got[0].onchain_base_units) is int
            assert got[1].at_snapshot is False and got[1].custodian == "Ceffu" and got[2].read_coin == "ETH@BEACON"
            # in line ranges (after, upto], one go after another: the same rows, each once
            for cuts in ((3,), (1, 5, 6), (4, 4, 9), (0, 10)):
                got, after = [], None
                for upto in (*cuts, None):
                    got += [t async for b in s.iter_tally(run_id, 2, after=after, upto=upto) for t in b]
                    after = upto if upto is not None else after
                assert got == want, cuts
            assert [t.line async for b in s.iter_tally(run_id, after=2, upto=5) for t in b] == [3, 4, 5]
            # a run with no rows, and a stop after the first batch, leave nothing pending
            assert [b async for b in s.iter_tally(run_id + 1)] == []
            async for _ in s.iter_tally(run_id, 2):
                break
    asyncio.run(body())


def test_repeated_wallet_lines_name_every_line_that_can_repeat_a_wallet(url):
    async def body():
        async with await open_store(url) as s:
            run_id = await _stored(s)
            other = await _stored(s, "b" * 64, 3)  # another run's reads of the same addresses do not count
            lines = await s.repeated_wallet_lines(run_id)
            # 1 and 6: one address in two cases; 9 and 10: one bech32 address in two cases; 5: read twice (two
            # assets). 7 repeats the address but was not read; 2 and 3 are listed once in this run. 11-14:
            # case is folded for ASCII letters only, as canonical_address folds it: the Kelvin sign is not
            # 12's "k" (Python's lower() would make it one), nor is A with diaeresis a with diaeresis
            assert lines == {1, 5, 6, 9, 10}
            assert {canonical_address(a) for a in ("0x\u212a0b", "0xk0b")} == {"0x\u212a0b", "0xk0b"}
            assert canonical_address("0X\u00c4AB") == "0x\u00c4ab" and canonical_address("BC1Q\u00c4") == "bc1q\u00c4"
            assert await s.repeated_wallet_lines(other) == set()
    asyncio.run(body())


def test_held_rows_give_what_the_store_reads_back(url):
    """What a fresh scan keeps of the records it stores (pipeline/held.py) gives its aggregation exactly
    the rows, balance reads and repeating lines the store would read back, in every cut of line ranges;
    where it could not (a line read for two assets, too many records, chunks out of order), it turns
    itself off and the aggregation reads the store."""
    from scanner.pipeline.held import HeldRows

    # one balance per line, each of its fields told apart from the others
    single = [b._replace(staked=None if b.staked is None else 3 * b.line, unbonding=None if b.staked is None else 7 * b.line,
                         decimals=b.line + 30) for b in BALANCES if b.asset != "ARB"]

    async def body():
        async with await open_store(url) as s:
            run = await s.start_run(spec())
            await s.save_rows(run.id, "1", ROWS[:6])
            await s.save_rows(run.id, "2", ROWS[6:])
            await s.save_balances(run.id, "1", single)
            stored = [t async for b in s.iter_tally(run.id) for t in b]
            for cuts in ((), (3,), (1, 5, 6), (4, 4, 9), (0, 10), (14,), (20,)):
                held = HeldRows()
                held.add_rows(ROWS[:6])
                held.add_balances(single[:7])
                held.add_rows(ROWS[6:])
                held.add_balances(single[7:])
                assert held.repeated_wallet_lines() == await s.repeated_wallet_lines(run.id) == {1, 6, 9, 10}
                got, after = [], -(2**62)
                for upto in (*cuts, None):
                    for batch in held.tallies(after, upto, batch=2):
                        assert 0 < len(batch) <= 2
                        got += batch
                    after = upto if upto is not None else after
                assert got == stored and held.usable, cuts
                assert list(held.tallies(-(2**62), None)) == []  # each row is given once
            assert got[0].onchain_base_units == BIG and got[1].at_snapshot is False and got[3].balance_status is None

    asyncio.run(body())

    held = HeldRows()
    held.add_rows(ROWS)
    held.add_balances(BALANCES)  # line 5 is read for two assets: which the store gives first is its collation's
    assert not held.usable and held.why == "a line read for more than one asset" and list(held.tallies(0, None)) == []
    small = HeldRows(limit=10)
    small.add_rows(ROWS[:6])
    small.add_balances(single[:4])
    assert small.usable
    small.add_balances(single[4:])
    assert not small.usable and "more than 10" in small.why
    unordered = HeldRows()
    unordered.add_rows(ROWS[6:])
    unordered.add_rows(ROWS[:6])
    assert not unordered.usable and "order" in unordered.why
    assert not HeldRows(limit=0).usable


def test_a_file_far_larger_than_the_limit_is_not_held(tmp_path):
    from scanner.pipeline.held import HeldRows, estimated_rows

    f = tmp_path / "rows.csv"
    head = b"a,b,c\n"
    f.write_bytes(head + b"".join(b"ETH,%d,0x%040x\n" % (i, i) for i in range(30_000)))
    size = f.stat().st_size
    assert estimated_rows(str(f), len(head), size, sample=1 << 22) == 30_000  # all in the sample: counted
    guess = estimated_rows(str(f), len(head), size, sample=4096)  # scaled from the first 4 KiB
    assert 27_000 < guess < 33_000
    assert estimated_rows(str(f), size, size) == 0
    assert HeldRows(limit=30_000, expected=30_000).usable
    off = HeldRows(limit=29_999, expected=30_000)
    assert not off.usable and off.why == "about 30,000 rows, more than 29,999"
