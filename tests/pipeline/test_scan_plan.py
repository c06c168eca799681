"""The scan's balance plan is made from the file (parsed, not verified) so the balance reads need not
wait for verification: it must be the very plan the stored, verified rows give (same groups, rows,
published amounts, unsupported rows and height notes), or a resumed run would read other slices."""

from __future__ import annotations

import asyncio

from scanner.pipeline.plan import BalancePlanner
from scanner.pipeline.scan import ScanOptions, _load_context, plan_balances
from scanner.pipeline.verify import UNCHECKED_REASON
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
