"""Sui adapter against the FAKE Sui JSON-RPC (tests/support/fake_sui.py; no Sui node can run here).

Sui's JSON-RPC answers balances at the latest checkpoint only, so a balance that changed after the
snapshot comes back as its latest value and EVERY figure is labelled not at the snapshot, with the
checkpoints and time read; read at the snapshot checkpoint itself (nothing moved), it is at the snapshot.
Also: USDC by coin type, decimals checked, a checkpoint moving during the read, bad addresses, JSON-RPC
errors, faults at 20 % through the JSON-RPC fault proxy (exact or unread, never a zero), the kind from config.
"""

from __future__ import annotations

import asyncio

import pytest

from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from chains.sui import SuiAdapter, build_endpoint_adapter, sui_address, sui_coin_type
from support.common import balances_then_close
from support.fake_sui import USDC, FakeSui, sui_address_of, sui_world
from support.faultproxy import FaultProxy

SUI = Asset("sui", "SUI", 9)
USDC_ASSET = Asset("sui", "USDC", 6, USDC)


@pytest.fixture(scope="module")
def node():
    fake = FakeSui()
    world = sui_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url


def read(url, asset, addresses, height, **kw):
    ad = SuiAdapter("sui", Endpoint("FAKE-SUI", url, concurrency=4, max_batch=kw.pop("max_batch", 50),
                                    timeout=kw.pop("timeout", 5)), backoff_min=0.01, backoff_max=0.1, **kw)
    return asyncio.run(balances_then_close(asset, ad, addresses, height)), ad


def amounts(batch):
    return {r.address: r.amount_base_units for r in batch.results}


def test_addresses_and_coin_types():
    a = sui_address_of("x")
    assert sui_address(a) == a and sui_address(a.upper().replace("0X", "0x")) == a and sui_address(a[2:]) == a
    assert sui_address("0x2") == "0x" + "0" * 63 + "2"
    for bad in ["", "0x", "0x" + "1" * 65, "0xzz", a + "0", "T" + "1" * 33]:
        assert sui_address(bad) is None, bad
    assert sui_coin_type("0x2::sui::SUI") == sui_coin_type("0x" + "0" * 63 + "2::sui::SUI")
    assert sui_coin_type("0x2::sui") is None


def test_changed_after_the_snapshot_reads_latest_and_says_so(node):
    fake, world, url = node
    batch, _ = read(url, SUI, list(world["sui"]), world["snapshot"])
    assert batch.complete and amounts(batch) == world["sui_latest"] != world["sui"]
    assert {(r.block.number, r.block.at_snapshot) for r in batch.results} == {(fake.checkpoint, False)}
    (note,) = [n for n in batch.notes if "read at latest" in n]
    assert f"checkpoint {fake.checkpoint}, 20" in note and f"NOT at snapshot checkpoint {world['snapshot']}" in note
    assert batch.results[0].block.hash  # the checkpoint digest


def test_at_the_current_checkpoint_it_is_the_snapshot(node):
    fake, world, url = node
    batch, _ = read(url, USDC_ASSET, list(world["usdc"]), fake.checkpoint)
    assert batch.complete and amounts(batch) == world["usdc_latest"]
    assert all(r.block.at_snapshot and r.block.number == fake.checkpoint for r in batch.results)


def test_requests_are_batched(node):
    _, world, url = node
    batch, _ = read(url, SUI, list(world["sui"]), None, max_batch=10)
    assert batch.complete and batch.requests == 3 + 3 + 1  # checkpoint, digest, metadata; 3 batches; checkpoint


def test_checkpoint_moving_during_the_read_is_not_the_snapshot():
    fake = FakeSui(advance_every=5)
    world = sui_world(fake)
    with fake.serve() as srv:
        batch, _ = read(srv.url, SUI, list(world["sui"]), fake.checkpoint, max_batch=5)
    assert batch.complete and not any(r.block.at_snapshot for r in batch.results)
    assert any("checkpoints" in n and "NOT at snapshot" in n for n in batch.notes)


def test_bad_rows_wrong_decimals_and_unknown_coin(node):
    _, world, url = node
    good = next(iter(world["sui"]))
    batch, _ = read(url, SUI, ["0xnothex", good, sui_address_of("never")], None)
    assert batch.results[0].error == "not a Sui address" and batch.results[0].amount_base_units is None
    assert batch.results[1].amount_base_units == world["sui_latest"][good]
    assert batch.results[2].amount_base_units == 0 and batch.results[2].error is None
    wrong, _ = read(url, Asset("sui", "SUI", 6), [good], None)
    assert wrong.read == 0 and "has 9 decimals on chain, config says 6" in wrong.results[0].error
    unknown, _ = read(url, Asset("sui", "X", 6, "0xabc::x::X"), [good], None)
    assert unknown.read == 0 and "no coin metadata" in unknown.results[0].error


def test_faults_at_20_percent_give_exact_values_or_unread_never_a_zero(node):
    _, world, url = node
    with FaultProxy(url, rate=0.2, seed=5, timeout_sleep=1.0) as proxy:
        batch, ad = read(proxy.url, SUI, list(world["sui"]), None, max_batch=4, timeout=0.5, attempts=8)
    assert sum(proxy.injected.values()) > 2
    for r in batch.results:
        assert (r.amount_base_units == world["sui_latest"][r.address]) if r.ok else (r.error and r.amount_base_units is None)
    assert batch.complete and batch.total_base_units == sum(world["sui_latest"].values())
    assert ad.provider_errors()["FAKE-SUI"]


def test_dead_endpoint_reads_nothing(node):
    batch, _ = read("http://127.0.0.1:9", SUI, [sui_address_of("a")], None, attempts=1)
    assert batch.read == 0 and "FAKE-SUI" in batch.results[0].error


def test_the_kind_is_built_from_config(node):
    from scanner.config.networks import Network
    from scanner.pipeline.adapters import make_adapter

    _, world, url = node
    net = Network(id="sui", kind="sui", chain_id=None, native_symbol="SUI", native_decimals=9,
                  endpoints=(Endpoint("FAKE-SUI", url),))
    ad = make_adapter(net)
    assert isinstance(ad, SuiAdapter)
    assert asyncio.run(balances_then_close(SUI, ad, list(world["sui"])[:3], None)).complete
    assert isinstance(build_endpoint_adapter("sui", Endpoint("x", url), {}, {}), SuiAdapter)
