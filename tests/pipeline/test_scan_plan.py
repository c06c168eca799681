"""The scan's balance plan is made from the file (parsed, not verified) so the balance reads need not
wait for verification: it must be the very plan the stored, verified rows give (same groups, rows,
published amounts, unsupported rows and height notes), or a resumed run would read other slices."""

from __future__ import annotations

import asyncio

from scanner.pipeline.plan import BalancePlanner
from scanner.pipeline.scan import ScanOptions, _load_context, plan_balances
from scanner.pipeline.verify import UNCHECKED_REASON
from scanner.records import RowRecord
from scanner.storage import open_store
from scanner.cli.main import main
from support.common import need_anvil


def test_plan_from_the_file_is_the_plan_of_the_stored_rows(tmp_path):
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    # bad rows on purpose (unreadable lines, rows without a height), and filtered rows below
    w = build_local_exchange(tmp_path / "w", seed=3, litecoin=False, tron_solana=False)
    try:
        db = str(tmp_path / "p.db")
        for extra in ((), ("--coin", "ETH", "--coin", "USDT-ERC20")):
            code = main(["scan", str(w.reserves), "--config", str(w.networks), "--coins", str(w.coins), "--db", db,
                         "--fresh", "--no-progress", "--chunk-bytes", "2000", "--workers", "2", *extra])
            assert code in (0, 1)
            opts = ScanOptions(file=str(w.reserves), networks_path=str(w.networks), coins_path=str(w.coins), db=db,
                               coins=frozenset(x for x in extra if x != "--coin"), chunk_bytes=2000, workers=2)
            ctx = _load_context(opts)

            async def stored_and_file_plans():
                store = await open_store(db)
                try:
                    run = (await store.list_runs(limit=1))[0]
                    planner = BalancePlanner(ctx)
                    rows = 0
                    async for batch in store.iter_rows(run.id):
                        rows += len(batch)
                        assert not any(r.reason == UNCHECKED_REASON for r in batch)  # never stored
                        for r in batch:
                            planner.add(r)
                    return rows, planner.finish(), await plan_balances(ctx)
                finally:
                    await store.close()

            rows, stored, from_file = asyncio.run(stored_and_file_plans())
            assert rows and stored.rows and stored.rows <= rows
            assert {k: list(v) for k, v in from_file.groups.items()} == {k: list(v) for k, v in stored.groups.items()}
            assert from_file.unsupported == stored.unsupported
            assert from_file.height_notes == stored.height_notes
            if extra:  # the filter leaves rows out of both alike
                assert {coin for coin, _ in stored.groups} == {"ETH", "USDT-ERC20"}
    finally:
        w.stop()


def _record(line: int, coin: str, address: str, *, network: str = "", height: int | None = 100,
            amount: str = "1.5", units: int | None = 15, status: str = "unsupported") -> tuple:
    return tuple(RowRecord(line=line, coin=coin, network=network, address=address, snapshot_height=height,
                           amount_text=amount, amount_base_units=units, status=status, scheme="",
                           reason=UNCHECKED_REASON, custodian=""))


def test_rows_planned_in_the_workers_make_the_plan_of_rows_planned_here():
    from scanner.config.networks import load_coins, load_networks
    from scanner.pipeline.plan import FileContext, WorkerPlan
    from scanner.pipeline.spool import SpoolBudget

    account, validator = "0x" + "ab" * 20, "0x" + "cd" * 48
    chunks = [
        # straight rows of two keys and heights, one without a published amount, one that does not fit
        [_record(1, "ETH", account), _record(2, "USDT-ERC20", account, height=7), _record(3, "ETH", "0x" + "01" * 20),
         _record(4, "ETH", account, amount="", units=None), _record(5, "USDT-ERC20", account, amount="1.1234567", units=None)],
        # with rows the workers leave here: no adapter, keyed by network (USDT on BSC), a beacon coin at an
        # account (routed to the execution network, where it has no token), not read at all
        [_record(6, "ETH", account), _record(7, "FOO", account), _record(8, "USDT", account, network="BSC"),
         _record(9, "BETH", account), _record(10, "ETH", account, status="invalid_row"),
         _record(11, "ETH", account, status="skipped"), _record(12, "ETH", account, height=None)],
        # a straight coin at a validator key's length: the whole chunk is planned here, in file order
        [_record(13, "ETH", account), _record(14, "ETH", validator), _record(15, "USDT-ERC20", account, height=7)],
        [_record(16, "ETH", account), _record(17, "USDT-ERC20", account, height=7)],
    ]
    coins, networks = load_coins(), load_networks()

    def planner(limit: int) -> BalancePlanner:
        return BalancePlanner(FileContext(coins, networks), budget=SpoolBudget(limit))

    for limit in (1_000_000, 2):  # in memory, and spilled to disk as rows come
        here, there = planner(limit), planner(limit)
        rule = there.worker_plan(keyed_by_network=False)
        assert isinstance(rule, WorkerPlan)
        splits = [rule.split(c) for c in chunks]
        assert splits[2] is None and all(s is not None for i, s in enumerate(splits) if i != 2)
        assert [r[0] for r in splits[1][1]] == [7, 8, 9]  # type: ignore[index]
        for chunk, split in zip(chunks, splits):
            for r in chunk:
                here.add(RowRecord._make(r))
            if split is None:
                for r in chunk:
                    there.add(RowRecord._make(r))
            else:
                there.add_planned(split[0])
                for r in split[1]:
                    there.add(RowRecord._make(r))
        a, b = here.finish(), there.finish()
        assert {k: list(v) for k, v in b.groups.items()} == {k: list(v) for k, v in a.groups.items()}
        assert b.unsupported == a.unsupported and b.height_notes == a.height_notes
        lines = {k: [j.line for j in v] for k, v in b.groups.items()}
        # 12: no height, and two on its network (ETH's 100, USDT-ERC20's 7): the latest block. 14: a validator
        assert lines[("ETH", 100)] == [1, 3, 4, 6, 13, 16] and lines[("ETH", None)] == [12]
        # 9: BETH has no token on ethereum; 14: the beacon network has no endpoint unless one is configured
        assert lines[("USDT@BSC", 100)] == [8] and [(r.line, r.coin) for r in b.unsupported] == [
            (7, "FOO"), (9, "BETH"), (14, "ETH@BEACON")]
        assert [j.why for j in b.groups[("USDT-ERC20", 100)]] == [
            "published amount 1.1234567 does not fit the coin's decimals"] and list(b.groups[("ETH", 100)])[2].why == (
            "no published amount")
        assert (limit == 2) == any(s.on_disk for s in there.groups.values())
        b.close(), a.close()
    # a planner whose keys are not the coin map's, or that keeps no rows, plans everything here
    assert BalancePlanner(FileContext({}, networks)).worker_plan(False) is None
    assert BalancePlanner(FileContext(coins, networks), keep_rows=False).worker_plan(False) is None
