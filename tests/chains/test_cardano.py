"""Cardano (ADA) through Koios and Blockfrost, against the FAKE APIs of tests/support/fake_cardano.py (no
Cardano node or db-sync runs here; addresses and reply fields come from pycardano): exact lovelace at the
tip, labelled latest when the chain moved past the snapshot, Shelley/Byron validation, the Blockfrost key
header kept out of every message, faults at 20 % without a silent zero, and the kind built from config."""

from __future__ import annotations

import asyncio
import random

import pytest

from chains.cardano import CardanoAdapter, cardano_address
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from support.fake_cardano import BYRON, FakeCardano, cardano_world, new_address
from support.httpfaults import HttpFaults

ADA = Asset("cardano", "ADA", 6)
KEY = "mainnetFAKEprojectid0123456789"


def read(url, addrs, height, opts=None, **kw):
    async def go():
        ad = CardanoAdapter("cardano", Endpoint("FAKE-CARDANO", url, max_batch=kw.pop("max_batch", 7),
                                                timeout=kw.pop("timeout", 5.0), concurrency=4), opts or {}, **kw)
        try:
            return await ad.balances(ADA, addrs, height), ad
        finally:
            await ad.close()

    return asyncio.run(go())


@pytest.fixture(params=["koios", "blockfrost"])
def world(request, monkeypatch):
    monkeypatch.setenv("PORSCAN_TEST_BLOCKFROST", KEY)
    fake = FakeCardano(project_id=KEY)
    w = cardano_world(fake, 25)
    opts = {"api": request.param, "headers": {"project_id": "${PORSCAN_TEST_BLOCKFROST}"}}
    with fake.serve() as srv:
        yield fake, w, srv.url, opts


def test_latest_balances_exact_and_labelled_latest_when_the_chain_moved(world):
    fake, w, url, opts = world
    addrs = list(w["latest"]) + [w["unseen"]]
    batch, _ = read(url, addrs, w["snapshot"], opts)
    assert batch.complete
    got = {r.address: r.amount_base_units for r in batch.results}
    assert got == {**w["latest"], w["unseen"]: 0}
    assert got != {**w["at_snapshot"], w["unseen"]: 0}  # the chain did move: what was read is the latest
    assert all(r.block.number == fake.height and not r.block.at_snapshot for r in batch.results)
    (note,) = batch.notes
    assert f"read at latest (block {fake.height}" in note and f"not at the snapshot (block {w['snapshot']})" in note


def test_a_read_at_the_snapshot_tip_counts_as_at_snapshot(world):
    fake, w, url, opts = world
    batch, _ = read(url, list(w["latest"]), fake.height, opts)
    assert all(r.block.at_snapshot for r in batch.results) and not batch.notes


def test_addresses_are_validated_per_row(world):
    fake, w, url, opts = world
    good = next(iter(w["latest"]))
    fake.set_balance(BYRON, 7_000_000)
    bad_checksum = good[:-1] + ("q" if good[-1] != "q" else "p")
    testnet = new_address(random.Random(1), network=__import__("pycardano").Network.TESTNET)
    stake = "stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw"
    rows = [good, BYRON, bad_checksum, testnet, stake, "addr1", "", BYRON[:-1] + "D"]
    batch, _ = read(url, rows, None, opts)
    assert [r.amount_base_units for r in batch.results[:2]] == [w["latest"][good], 7_000_000]
    assert [r.error for r in batch.results[2:]] == ["not a Cardano address"] * 6
    assert cardano_address(testnet, "preprod") == testnet and cardano_address(good, "preprod") is None


def test_blockfrost_key_travels_in_the_header_and_never_in_messages(monkeypatch):
    fake = FakeCardano(project_id=KEY)
    w = cardano_world(fake, 4)
    monkeypatch.setenv("PORSCAN_TEST_BLOCKFROST", KEY + "-wrong")
    with fake.serve() as srv:
        batch, ad = read(srv.url, list(w["latest"]), None,
                         {"api": "blockfrost", "headers": {"project_id": "${PORSCAN_TEST_BLOCKFROST}"}})
    assert batch.read == 0 and all(r.amount_base_units is None for r in batch.results)
    said = " ".join([*batch.notes, *(r.error or "" for r in batch.results)])
    assert "403" in said and KEY not in said
    assert ad.provider_errors()["FAKE-CARDANO"].get("http-403", 0) >= 1


@pytest.mark.parametrize("api", ["koios", "blockfrost"])
def test_faults_at_20_percent_keep_totals_exact(api):
    fake = FakeCardano()
    w = cardano_world(fake, 40, seed="faults")
    with fake.serve() as srv:
        fake.faults = HttpFaults(0.2, seed=5, timeout_sleep=0.6)
        batch, ad = read(srv.url, list(w["latest"]) * 2, None, {"api": api}, attempts=12, backoff_min=0.005,
                         backoff_max=0.03, timeout=0.4, max_batch=2)
    assert sum(fake.faults.injected.values()) >= 3
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert batch.total_base_units == 2 * sum(w["latest"].values())
    assert sum(ad.provider_errors()["FAKE-CARDANO"].values()) >= sum(fake.faults.injected.values()) - 2


@pytest.mark.parametrize("api", ["koios", "blockfrost"])
def test_an_endpoint_that_always_fails_gives_errors_not_zeros(api):
    fake = FakeCardano()
    w = cardano_world(fake, 6)
    fake.faults = HttpFaults(1.0, kinds=("http500", "malformed"))
    with fake.serve() as srv:
        batch, _ = read(srv.url, list(w["latest"]), None, {"api": api}, attempts=2, backoff_min=0.001, backoff_max=0.002)
    assert batch.read == 0 and all(r.amount_base_units is None and r.error for r in batch.results)


def test_kind_cardano_from_config_builds_with_failover(tmp_path):
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    fake = FakeCardano()
    w = cardano_world(fake, 5)
    with fake.serve() as srv:
        (tmp_path / "n.toml").write_text(f'''
[networks.ada-test]
kind = "cardano"
native_symbol = "ADA"
native_decimals = 6
[[networks.ada-test.endpoints]]
label = "dead"
url = "http://127.0.0.1:9/"
timeout = 0.5
[[networks.ada-test.endpoints]]
label = "FAKE-koios"
url = "{srv.url}"
''')
        net = load_networks(tmp_path / "n.toml")["ada-test"]

        async def go():
            ad = make_adapter(net, attempts=1)
            try:
                return await ad.balances(Asset("ada-test", "ADA", 6), list(w["latest"]), None)
            finally:
                await ad.close()

        batch = asyncio.run(go())
    assert batch.complete and {r.address: r.amount_base_units for r in batch.results} == w["latest"]
    assert {r.endpoint for r in batch.results} == {"FAKE-koios"}
