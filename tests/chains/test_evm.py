"""EVM balances at the snapshot height, on a real anvil node (started by the test session).

Covers every read strategy, funds that move after the snapshot, an ERC-20 of our own, a contract
wallet, zero balances, duplicate rows, a token whose balanceOf reverts, a decimals mismatch, a
block the node does not have, endpoint failover, and a fault-injecting proxy at 20 %: totals stay
exact and nothing unread is ever counted.
"""

from __future__ import annotations

import pytest

from support.common import balances_then_close, run
from chains.evm import STRATEGIES, EvmAdapter
from chains.failover import FailoverAdapter
from chains.jsonrpc import ConfigError, Endpoint
from chains.protocol import Asset
from support.evm_world import EvmWorld, build_world
from support.faultproxy import FaultProxy


@pytest.fixture(scope="module")
def world(anvil) -> EvmWorld:
    return build_world(anvil.url)


async def read(url_or_endpoints, asset, addresses, height, cross_check=0, seed=None, **kw):
    eps = url_or_endpoints if isinstance(url_or_endpoints, list) else [Endpoint("anvil", url_or_endpoints)]
    ad = FailoverAdapter("local", [EvmAdapter("local", e, **kw) for e in eps], cross_check=cross_check, seed=seed)
    return await balances_then_close(asset, ad, addresses, height), ad


ETH = Asset("local", "ETH", 18)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_native_balances_at_snapshot(world, strategy):
    addrs = list(world.native) + world.empty
    batch, _ = run(read(world.url, ETH, addrs, world.snapshot, force_strategy=strategy))
    assert batch.complete and batch.read == len(addrs)
    got = {r.address: r.amount_base_units for r in batch.results}
    for a, v in world.native.items():
        assert got[a] == v, a  # including the ones that moved after the snapshot
    assert all(got[a] == 0 for a in world.empty)  # real zeros, read successfully
    assert all(r.block.number == world.snapshot and r.block.hash for r in batch.results)
    assert strategy in batch.strategy


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_token_balances_at_snapshot(world, strategy):
    token = Asset("local", "TUSD", 6, world.token)
    holders = list(world.token_balances) + world.empty
    batch, _ = run(read(world.url, token, holders, world.snapshot, force_strategy=strategy))
    assert batch.complete
    got = {r.address: r.amount_base_units for r in batch.results}
    assert all(got[h] == v for h, v in world.token_balances.items())
    assert all(got[a] == 0 for a in world.empty)
    assert batch.total_base_units == sum(world.token_balances.values())


def test_latest_differs_and_is_labelled(world):
    moved = world.moved_after[0]
    batch, _ = run(read(world.url, ETH, [moved], None))
    (r,) = batch.results
    assert r.amount_base_units == 1 != world.native[moved]
    assert r.block.at_snapshot is False and "latest" in r.block.label


def test_contract_wallet_duplicates_and_bad_addresses(world):
    addrs = [world.contract_wallet, world.contract_wallet, "0x1234", "not an address"]
    batch, _ = run(read(world.url, ETH, addrs, world.snapshot))
    a, b, c, d = batch.results
    assert a.amount_base_units == b.amount_base_units == 123 * 10**18
    assert c.amount_base_units is None and d.amount_base_units is None and c.error == "not an EVM address"
    assert batch.read == 2 and batch.expected == 4 and not batch.complete


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_reverting_token_is_an_error_not_a_zero(world, strategy):
    bad = Asset("local", "BAD", 6, world.reverting_token)
    batch, _ = run(read(world.url, bad, list(world.token_balances)[:5], world.snapshot, force_strategy=strategy))
    assert batch.read == 0 and batch.total_base_units == 0
    assert all(r.amount_base_units is None and r.error for r in batch.results)


def test_decimals_mismatch_is_an_error(world):
    wrong = Asset("local", "TUSD", 18, world.token)
    batch, _ = run(read(world.url, wrong, list(world.token_balances), world.snapshot))
    assert batch.read == 0
    assert all("decimals" in r.error for r in batch.results)


def test_block_beyond_head_reads_nothing(world):
    batch, _ = run(read(world.url, ETH, list(world.native)[:3], world.snapshot + 10_000))
    assert batch.read == 0 and all(r.error for r in batch.results)
    assert any("not known" in n for n in batch.notes)


def test_failover_to_second_endpoint(world):
    dead = Endpoint("dead", "http://127.0.0.1:9", timeout=1.0)
    batch, ad = run(read([dead, Endpoint("anvil", world.url)], ETH, list(world.native), world.snapshot,
                         attempts=2, backoff_max=0.05))
    assert batch.complete
    assert all(r.endpoint == "anvil" for r in batch.results)
    assert "dead" in " ".join(batch.notes)


def test_cross_check_agrees(world):
    eps = [Endpoint("a", world.url), Endpoint("b", world.url)]
    batch, _ = run(read(eps, ETH, list(world.native), world.snapshot, cross_check=10, seed=1))
    assert any(n.startswith("cross-check: 10/10") for n in batch.notes)


def test_api_key_from_environment_never_in_messages(world, monkeypatch):
    monkeypatch.setenv("PORSCAN_TEST_KEY", "s3cr3t-key-123")
    ep = Endpoint("keyed", "http://127.0.0.1:9/v2/${PORSCAN_TEST_KEY}", timeout=0.5)
    batch, _ = run(read([ep], ETH, list(world.native)[:2], world.snapshot, attempts=2, backoff_max=0.01))
    text = repr(batch)
    assert "s3cr3t-key-123" not in text and batch.read == 0
    monkeypatch.delenv("PORSCAN_TEST_KEY")
    with pytest.raises(ConfigError, match="PORSCAN_TEST_KEY"):
        ep.resolved_url()


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("asset_kind", ["native", "token"])
def test_faults_at_20_percent_keep_totals_exact(world, strategy, asset_kind):
    asset = ETH if asset_kind == "native" else Asset("local", "TUSD", 6, world.token)
    truth = world.native if asset_kind == "native" else world.token_balances
    addrs = list(truth) * 3  # duplicates too
    with FaultProxy(world.url, rate=0.2, seed=11, timeout_sleep=1.2) as px:
        ep = Endpoint("proxy", px.url, timeout=0.8, max_batch=7, concurrency=4)
        batch, ad = run(read([ep], asset, addrs, world.snapshot, force_strategy=strategy,
                             reader_batch=5, token_batch=5, call_batch=7, attempts=12, backoff_min=0.01, backoff_max=0.05))
        injected = sum(px.injected.values())
    assert injected > 0
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert {r.address: r.amount_base_units for r in batch.results} == truth
    assert batch.total_base_units == 3 * sum(truth.values())


def test_retries_exhausted_gives_incomplete_never_zero(world):
    with FaultProxy(world.url, rate=1.0, seed=5, faults=("http500", "malformed")) as px:
        ep = Endpoint("proxy", px.url, timeout=1.0)
        batch, _ = run(read([ep], ETH, list(world.native), world.snapshot, attempts=3, backoff_min=0.001, backoff_max=0.01))
    assert batch.read == 0 and batch.expected == len(world.native)
    assert all(r.amount_base_units is None and r.error for r in batch.results)


def test_partial_faults_report_completeness(world):
    """Item-level rate limits that never clear: the hit items are unread, the rest exact."""
    # every multi-call batch loses exactly one item and there is no retry: deterministic
    with FaultProxy(world.url, rate=1.0, seed=9, faults=("missing-items",), min_items=2) as px:
        ep = Endpoint("proxy", px.url, timeout=2.0, max_batch=10)
        batch, _ = run(read([ep], ETH, list(world.native), world.snapshot, force_strategy="batched-calls",
                            call_batch=10, attempts=1))
    n_batches = -(-len(world.native) // 10)
    assert batch.read == batch.expected - n_batches
    for r in batch.results:
        if r.ok:
            assert r.amount_base_units == world.native[r.address]
        else:
            assert r.amount_base_units is None and "missing" in r.error


def test_an_endpoint_of_another_chain_reads_nothing(anvil):
    """A mainnet network (chain id 1) pointed at a local node (31337) read every row without a
    remark. The endpoint's eth_chainId must be the network's chain_id: else it is not used, and
    the reason is in the batch's notes; a second endpoint of the right chain takes over."""
    from chains.evm import EvmAdapter
    from chains.jsonrpc import Endpoint
    from chains.protocol import Asset

    async def read(chain_id, endpoints):
        adapter = FailoverAdapter("ethereum", [EvmAdapter("ethereum", e, chain_id=chain_id, attempts=1) for e in endpoints])
        try:
            return await adapter.balances(Asset("ethereum", "ETH", 18, None), ["0x" + "11" * 20], None)
        finally:
            await adapter.close()

    wrong = Endpoint(label="local-node", url=anvil.url)
    batch = run(read(1, [wrong]))
    assert batch.results[0].amount_base_units is None
    assert any("serves chain id 31337, not ethereum's 1" in n for n in batch.notes), batch.notes
    right = Endpoint(label="right-chain", url=anvil.url)
    batch = run(read(31337, [right]))
    assert batch.results[0].amount_base_units is not None


def test_debug_log_names_each_request_by_label_never_the_url(world, caplog, monkeypatch):
    """--log-level debug shows every request (endpoint label, calls, HTTP status, time); the URL,
    which may carry an API key, never appears."""
    import logging

    monkeypatch.setenv("PORSCAN_TEST_KEY", "s3cr3t-key-in-url")
    host, port = world.url.rsplit(":", 1)
    ep = Endpoint("anvil-keyed", f"{host}:{port}/?key=${{PORSCAN_TEST_KEY}}")
    caplog.set_level(logging.DEBUG, logger="porscan.rpc")
    batch, _ = run(read([ep], ETH, list(world.native)[:3], world.snapshot, force_strategy="batched-calls"))
    assert batch.complete
    lines = [r.getMessage() for r in caplog.records if r.name == "porscan.rpc"]
    assert any(m.startswith("anvil-keyed: batch of 3 calls (eth_getBalance)") for m in lines), lines
    assert any("-> HTTP 200" in m for m in lines)
    assert not any("s3cr3t-key-in-url" in m or "127.0.0.1" in m for m in lines)
