"""EOS (Vaulta) through the Antelope chain API and a Hyperion history API, against the FAKE servers of
tests/support/fake_antelope.py (no nodeos or Hyperion runs here; names and assets go through antelopy's
serializers): exact balances at the snapshot reconstructed from Hyperion actions, the latest labelled as
such without Hyperion or when its index lags, account-name rules, USDT on EOS, faults at 20 % without a
silent zero, the kind from config with the Hyperion endpoint preferred at a height."""

from __future__ import annotations

import asyncio

import pytest

from chains.antelope import AntelopeAdapter, antelope_name, parse_quantity
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from support.fake_antelope import FakeAntelope, antelope_world
from support.httpfaults import HttpFaults

EOS = Asset("eos", "EOS", 4)
USDT = Asset("eos", "USDT", 4, "tethertether")


def read(url, asset, addrs, height, opts=None, **kw):
    async def go():
        ad = AntelopeAdapter("eos", Endpoint("FAKE-EOS", url, timeout=kw.pop("timeout", 5.0), concurrency=4),
                             opts or {}, page=kw.pop("page", 7), index_wait=0.01, **kw)
        try:
            return await ad.balances(asset, addrs, height), ad
        finally:
            await ad.close()

    return asyncio.run(go())


@pytest.fixture
def world():
    fake = FakeAntelope()
    w = antelope_world(fake, 20)
    with fake.serve() as srv:
        yield fake, w, srv.url


def test_snapshot_reconstructed_from_hyperion_actions(world):
    fake, w, url = world
    assert w["eos"] != w["eos_latest"]  # balances did change after the snapshot
    batch, _ = read(url, EOS, w["accounts"], w["snapshot"], {"hyperion": True}, page=2)
    assert batch.complete
    assert {r.address: r.amount_base_units for r in batch.results} == w["eos"]
    assert all(r.block.number == w["snapshot"] and r.block.at_snapshot and r.block.hash == fake.block_id(w["snapshot"])
               for r in batch.results)
    assert any("reconstructed from Hyperion actions" in n for n in batch.notes)
    assert fake.calls["get_actions"] > len(w["accounts"])  # paged (2 a page): more than one page for some


def test_usdt_on_eos_at_the_snapshot_issuer_included(world):
    fake, w, url = world
    batch, _ = read(url, USDT, w["accounts"] + ["tethertether"], w["snapshot"], {"hyperion": True})
    got = {r.address: r.amount_base_units for r in batch.results}
    assert got == {**w["usdt"], "tethertether": fake.amount("tethertether", "tethertether", "USDT", w["snapshot"])}
    assert fake.amount("tethertether", "tethertether", "USDT") != got["tethertether"]  # issued after the snapshot


def test_without_hyperion_the_latest_is_read_and_labelled(world):
    fake, w, url = world
    batch, _ = read(url, EOS, w["accounts"], w["snapshot"])
    assert {r.address: r.amount_base_units for r in batch.results} == w["eos_latest"]
    assert all(r.block.number == fake.head and not r.block.at_snapshot for r in batch.results)
    (note,) = batch.notes
    assert f"read at latest (block {fake.head}" in note and f"not at the snapshot (block {w['snapshot']})" in note


def test_a_lagging_index_falls_back_to_the_latest_labelled(world):
    fake, w, url = world
    fake.index_lag = 5
    batch, _ = read(url, EOS, w["accounts"][:4], w["snapshot"], {"hyperion": True})
    assert all(not r.block.at_snapshot for r in batch.results)
    assert any("not indexed up to block" in n for n in batch.notes)
    assert {r.address: r.amount_base_units for r in batch.results} == {a: w["eos_latest"][a] for a in w["accounts"][:4]}


def test_account_names_are_validated_per_row(world):
    fake, w, url = world
    rows = [w["accounts"][1], "Upper1234567", "toolongname12", "six6six", "ends.", "", "a.b"]
    batch, _ = read(url, EOS, rows, None)
    assert batch.results[0].amount_base_units == w["eos_latest"][w["accounts"][1]]
    assert [r.error for r in batch.results[1:5]] == ["not an Antelope account name"] * 4
    assert batch.results[5].error == "not an Antelope account name"
    assert batch.results[6].amount_base_units == 0  # a valid name with no row holds none
    assert antelope_name("eosio.token") == "eosio.token"


def test_quantities_are_exact_and_precision_checked():
    assert parse_quantity("123456789012.3456 EOS", "EOS", 4) == 1234567890123456
    assert parse_quantity("1.000 EOS", "EOS", 4) is None and parse_quantity("1.0000 USDT", "EOS", 4) is None
    assert parse_quantity("-1.0000 EOS", "EOS", 4) is None


@pytest.mark.parametrize("hyperion", [False, True])
def test_faults_at_20_percent_keep_totals_exact(hyperion):
    fake = FakeAntelope()
    w = antelope_world(fake, 30, seed="faults")
    truth = w["eos"] if hyperion else w["eos_latest"]
    with fake.serve() as srv:
        fake.faults = HttpFaults(0.2, seed=11, timeout_sleep=0.6)
        batch, ad = read(srv.url, EOS, w["accounts"] * 2, w["snapshot"], {"hyperion": hyperion}, attempts=12,
                         backoff_min=0.005, backoff_max=0.03, timeout=0.4)
    assert sum(fake.faults.injected.values()) > 5 and len(fake.faults.injected) >= 3
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert batch.total_base_units == 2 * sum(truth.values())
    assert all(r.block.at_snapshot == hyperion for r in batch.results)
    assert sum(ad.provider_errors()["FAKE-EOS"].values()) >= sum(fake.faults.injected.values()) - 2


def test_an_endpoint_that_always_fails_gives_errors_not_zeros(world):
    fake, w, url = world
    fake.faults = HttpFaults(1.0, kinds=("http500", "malformed"))
    batch, _ = read(url, EOS, w["accounts"][:5], None, attempts=2, backoff_min=0.001, backoff_max=0.002)
    assert batch.read == 0 and all(r.amount_base_units is None and r.error for r in batch.results)


def test_kind_antelope_from_config_prefers_the_hyperion_endpoint(tmp_path, world):
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    fake, w, url = world
    (tmp_path / "n.toml").write_text(f'''
[networks.eos-test]
kind = "antelope"
native_symbol = "EOS"
native_decimals = 4
[[networks.eos-test.endpoints]]
label = "FAKE-chain-only"
url = "{url}"
[[networks.eos-test.endpoints]]
label = "FAKE-hyperion"
url = "{url}"
hyperion = true
''')
    net = load_networks(tmp_path / "n.toml")["eos-test"]

    async def go():
        ad = make_adapter(net)
        try:
            return await ad.balances(Asset("eos-test", "EOS", 4), w["accounts"], w["snapshot"])
        finally:
            await ad.close()

    batch = asyncio.run(go())
    assert {r.address: r.amount_base_units for r in batch.results} == w["eos"]
    assert {r.endpoint for r in batch.results} == {"FAKE-hyperion"}
