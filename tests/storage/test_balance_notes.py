"""Balance notes per (run, network): what a network's reads said, saved by the worker that read it and
read back by the coordinator of a distributed run; saving again replaces, never adds."""

from __future__ import annotations

import asyncio

import pytest

from scanner.storage import RunSpec, open_store


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_notes_are_replaced_per_network_and_deleted_with_the_run(backend, tmp_path, request):
    url = str(tmp_path / "notes.db") if backend == "sqlite" else request.getfixturevalue("postgres_db")

    async def go() -> None:
        store = await open_store(url)
        try:
            spec = RunSpec(exchange="X", input_path="x.csv", input_sha256="ab" * 32, liabilities_path=None,
                           liabilities_sha256=None, params={}, tool_version="t")
            run, other = await store.start_run(spec), await store.start_run(spec)
            assert await store.balance_notes(run.id) == {}
            await store.save_balance_notes(run.id, "tron", ["b said", "a said"])
            await store.save_balance_notes(run.id, "bitcoin", ["read at block 7"])
            await store.save_balance_notes(other.id, "tron", ["another run's"])
            # a job delivered again saves what its reads said this time, in place of the first
            await store.save_balance_notes(run.id, "tron", ["b said", "c said"])
            assert await store.balance_notes(run.id) == {"bitcoin": ["read at block 7"], "tron": ["b said", "c said"]}
            assert list(await store.balance_notes(run.id)) == ["bitcoin", "tron"]
            await store.save_balance_notes(run.id, "bitcoin", [])
            assert await store.balance_notes(run.id) == {"tron": ["b said", "c said"]}
            await store.delete_run(run.id)
            assert await store.balance_notes(run.id) == {}
            assert await store.balance_notes(other.id) == {"tron": ["another run's"]}
        finally:
            await store.close()

    asyncio.run(go())
