"""Filecoin adapter (chains/filecoin.py) against the FAKE Lotus JSON-RPC (tests/support/fake_lotus.py).

Addresses on the server side come from the ``filecoin-address`` package. Covers FIL at a height including
balances changed after it (parent-state semantics), null rounds (the previous non-null tipset, said so),
latest reads labelled, actors never funded (0 from "actor not found"), pruned state (unread, then an archival
endpoint), f0/f1/f2/f3 codecs against the package, f410 rows sent to the EVM network, bad rows, and faults at
20 % through tests/support/faultproxy.py.
"""

from __future__ import annotations

import random

import filecoin_address as fa
import pytest

from support.common import balances_then_close, run
from support.fake_lotus import FakeLotus, filecoin_world, secp_address
from support.faultproxy import FaultProxy
from chains.failover import FailoverAdapter
from chains.filecoin import FilecoinAdapter, format_filecoin_address, parse_filecoin_address
from chains.jsonrpc import Endpoint
from chains.protocol import AdapterError, Asset

FIL = Asset("filecoin", "FIL", 18)


@pytest.fixture(scope="module")
def node():
    fake = FakeLotus()
    world = filecoin_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url + "/rpc/v1"


def read(urls, addresses, height, asset=FIL, **kw):
    eps = [u if isinstance(u, Endpoint) else Endpoint(f"FAKE-LOTUS-{i}", u, max_batch=5, concurrency=4, timeout=2)
           for i, u in enumerate(urls if isinstance(urls, list) else [urls])]
    ad = FailoverAdapter("filecoin", [FilecoinAdapter("filecoin", e, **kw) for e in eps])
    return run(balances_then_close(asset, ad, addresses, height)), ad


def amounts(batch):
    return {r.address: r.amount_base_units for r in batch.results}


# ------------------------------------------------------------------ addresses


def test_address_codec_agrees_with_the_filecoin_address_package():
    rng = random.Random(3)
    made = []
    for _ in range(100):
        made += [fa.encode("f", fa.Address(bytes((1,)) + rng.randbytes(20))),
                 fa.encode("f", fa.Address(bytes((2,)) + rng.randbytes(20))),
                 fa.encode("f", fa.Address(bytes((3,)) + rng.randbytes(48))),
                 f"f0{rng.randrange(2**63)}",
                 fa.delegated_from_eth_address("0x" + rng.randbytes(20).hex())]
    for text in made:
        ours = parse_filecoin_address(text)
        theirs = fa.decode(text)
        assert ours.protocol == theirs.protocol().value, text
        assert format_filecoin_address(ours.protocol, ours.payload) == text
        if ours.protocol == 4:
            assert ours.delegated_eth == fa.eth_address_from_delegated(text).lower()
        elif ours.protocol:
            assert ours.payload == theirs.payload(), text


def test_bad_filecoin_addresses_are_refused():
    good = secp_address("x")
    flipped = good[:6] + ("a" if good[6] != "a" else "b") + good[7:]
    for text in (flipped, good[:-1], good.upper(), "t" + good[1:], "f5abc", "f0", "f0012", "f0-1",
                 f"f0{2**64}", "f1", "0x" + "ab" * 20, "EQabc", "f3" + good[2:]):
        with pytest.raises(ValueError):
            parse_filecoin_address(text)
    assert parse_filecoin_address("t" + good[1:], prefix="t").protocol == 1


# ------------------------------------------------------------------ reading


def test_fil_at_a_height_is_the_parent_state_including_balances_changed_after_it(node):
    fake, world, url = node
    snap = world["snapshot"]
    batch, _ = read(url, world["holders"], snap)
    assert batch.complete and amounts(batch) == world["at"]
    assert world["at"] != world["now"] and max(world["at"].values()) > 2**80 and 0 in world["at"].values()
    key = ",".join(c["/"] for c in fake.tipset(snap)["Cids"])
    assert {(r.block.number, r.block.hash, r.block.at_snapshot) for r in batch.results} == {(snap, key, True)}
    assert batch.strategy == "FAKE-LOTUS-0:StateGetActor"
    assert batch.requests == 1 + -(-len(world["holders"]) // 5)  # the tipset, then batches of 5


def test_fil_latest_is_labelled(node):
    fake, world, url = node
    batch, _ = read(url, world["holders"], None)
    assert amounts(batch) == world["now"]
    assert all(r.block.number == fake.head and not r.block.at_snapshot for r in batch.results)
    assert any("read at latest (tipset" in n for n in batch.notes)


def test_a_null_round_reads_the_previous_non_null_tipset_and_says_so():
    fake = FakeLotus(null_rounds=frozenset({4_999_900, 4_999_899}))
    world = filecoin_world(fake, 6, snapshot=4_999_900)
    with fake.serve() as srv:
        batch, _ = read(srv.url + "/rpc/v1", world["holders"], 4_999_900)
    assert {r.block.number for r in batch.results} == {4_999_898}
    assert all(r.block.at_snapshot for r in batch.results)
    assert any("4999899..4999900 are null rounds" in n and "epoch 4999898" in n for n in batch.notes)
    assert amounts(batch) == world["at"]  # nothing changed between the balances' epoch and the snapshot


def test_pruned_state_is_unread_then_an_archival_endpoint_reads_it():
    pruned, archive = FakeLotus(pruned_below=4_999_950), FakeLotus()
    world = filecoin_world(pruned, 8)
    filecoin_world(archive, 8)
    with pruned.serve() as a, archive.serve() as b:
        alone, _ = read(a.url + "/rpc/v1", world["holders"], world["snapshot"])
        both, _ = read([a.url + "/rpc/v1", b.url + "/rpc/v1"], world["holders"], world["snapshot"])
    assert alone.read == 0 and all("could not find" in r.error for r in alone.results)
    assert both.complete and amounts(both) == world["at"] and {r.endpoint for r in both.results} == {"FAKE-LOTUS-1"}


def test_f410_and_bad_rows_are_row_errors_never_zeros(node):
    fake, world, url = node
    eth = "0x" + "ab" * 20
    f410 = fa.delegated_from_eth_address(eth)
    rows = [world["holders"][0], f410, "f1notanaddress", world["holders"][0]]
    batch, _ = read(url, rows, world["snapshot"])
    r0, r410, bad, dup = batch.results
    assert r0.amount_base_units == dup.amount_base_units == world["at"][rows[0]]
    assert r410.amount_base_units is None and eth in r410.error and "filecoin-evm" in r410.error and "314" in r410.error
    assert bad.amount_base_units is None and bad.error == "not a Filecoin address"


def test_a_height_above_the_head_is_unread(node):
    fake, world, url = node
    batch, _ = read(url, world["holders"][:3], fake.head + 10)
    assert batch.read == 0 and all("greater than start point" in r.error for r in batch.results)


def test_token_assets_are_refused(node):
    _, world, url = node
    ad = FilecoinAdapter("filecoin", Endpoint("FAKE-LOTUS", url))
    with pytest.raises(AdapterError, match="filecoin-evm"):
        run(balances_then_close(Asset("filecoin", "USDC", 6, "f410fabc"), ad, world["holders"][:1], None))


@pytest.mark.parametrize("seed", [5, 6])
def test_faults_at_20_percent_never_give_a_silent_zero(seed):
    fake = FakeLotus()
    world = filecoin_world(fake, 120, seed="faults")
    with fake.serve() as srv, FaultProxy(srv.url + "/rpc/v1", 0.2, seed=seed, timeout_sleep=1.0) as proxy:
        ep = Endpoint("FAKE-LOTUS-faulty", proxy.url, max_batch=2, concurrency=4, timeout=0.5)
        batch, ad = read([ep], world["holders"], world["snapshot"], attempts=8, backoff_min=0.01, backoff_max=0.05)
    assert sum(proxy.injected.values()) >= 5 and len(proxy.injected) >= 3
    for r in batch.results:
        assert r.amount_base_units is None or r.amount_base_units == world["at"][r.address]
        assert r.amount_base_units is not None or r.error
    assert batch.read >= len(world["holders"]) - 4
    assert sum(ad.provider_errors()["FAKE-LOTUS-faulty"].values()) >= 2


def test_kind_filecoin_and_fevm_in_networks_toml():
    from scanner.config.networks import load_coins, load_networks
    from scanner.pipeline.adapters import make_adapter

    nets = load_networks()
    assert nets["filecoin"].kind == "filecoin" and nets["filecoin"].native_decimals == 18
    assert nets["filecoin-evm"].kind == "evm" and nets["filecoin-evm"].chain_id == 314
    assert load_coins()["FIL"].network == "filecoin" and load_coins()["FIL-EVM"].network == "filecoin-evm"
    ad = make_adapter(nets["filecoin"])
    assert all(isinstance(a, FilecoinAdapter) for a in getattr(ad, "adapters", [ad]))
    run(ad.close())
