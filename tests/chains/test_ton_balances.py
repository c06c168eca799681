"""TON adapter (chains/ton.py) against the FAKE toncenter (tests/support/fake_ton.py; no liteserver runs here).

Cells, BOCs and addresses on the server side are pytoniq-core's. Covers Toncoin and USDT (jetton) at a
masterchain seqno including balances that changed after it, jetton wallets never deployed or deployed after
the snapshot, amounts beyond float precision, raw / bounceable / non-bounceable spellings and bad ones, an API
that ignores ``seqno`` (labelled latest), pruned state (unread, then an archival endpoint reads it), a wallet
answering for another owner, and faults at 20 % through tests/support/faultproxy.py.
"""

from __future__ import annotations

import base64
import random

import pytest
from pytoniq_core import Address, Cell, begin_cell

from support.common import balances_then_close, run
from support.fake_ton import FakeToncenter, seeded_address, ton_world
from support.faultproxy import FaultProxy
from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from chains.ton import TonAccount, TonAdapter, address_slice_boc, parse_address_cell, ton_address

TON = Asset("ton", "TON", 9)


@pytest.fixture(scope="module")
def node():
    fake = FakeToncenter()
    world = ton_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url + "/api/v2/jsonRPC"


def usdt(world) -> Asset:
    return Asset("ton", "USDT", 6, world["master"])


def read(urls, asset, addresses, height, **kw):
    eps = [Endpoint(f"FAKE-TON-{i}", u, concurrency=6, timeout=2) if isinstance(u, str) else u
           for i, u in enumerate(urls if isinstance(urls, list) else [urls])]
    opts = kw.pop("options", [{}] * len(eps))
    ad = FailoverAdapter("ton", [TonAdapter("ton", e, o, **kw) for e, o in zip(eps, opts)])
    return run(balances_then_close(asset, ad, addresses, height)), ad


def amounts(batch):
    return {r.address: r.amount_base_units for r in batch.results}


# ------------------------------------------------------------------ addresses and cells


def test_addresses_in_every_spelling_match_the_sdk():
    rng = random.Random(5)
    for _ in range(200):
        wc = rng.choice((0, -1))
        addr = Address((wc, rng.randbytes(32)))
        want = TonAccount(wc, addr.hash_part)
        for text in (addr.to_str(is_bounceable=True), addr.to_str(is_bounceable=False),
                     addr.to_str(is_bounceable=True, is_url_safe=False), addr.to_str(is_user_friendly=False)):
            assert ton_address(text) == want, text
        assert ton_address(addr.to_str(is_test_only=True)) is None  # testnet-only: not a mainnet address
        assert Address(want.friendly).to_str(is_user_friendly=False) == want.raw


def test_bad_addresses_are_refused():
    good = seeded_address("x").to_str(is_bounceable=True)
    flipped = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]  # CRC16 no longer matches
    for text in (flipped, good[:-1], "0:" + "ab" * 31, "2:" + "ab" * 32, "", "EQ" + "A" * 46,
                 "0x" + "ab" * 20, "f1abc"):
        assert ton_address(text) is None, text


def test_address_slice_boc_is_the_sdks_and_parses_back():
    rng = random.Random(9)
    for _ in range(50):
        addr = Address((rng.choice((0, -1)), rng.randbytes(32)))
        acct = ton_address(addr.to_str(is_user_friendly=False))
        assert acct is not None
        sdk = begin_cell().store_address(addr).end_cell()
        assert address_slice_boc(acct) == sdk.to_boc()
        assert Cell.one_from_boc(address_slice_boc(acct)).begin_parse().load_address() == addr
        assert parse_address_cell(sdk.to_boc(has_idx=True, hash_crc32=True)) == acct
    with pytest.raises(ValueError):
        parse_address_cell(begin_cell().store_uint(5, 32).end_cell().to_boc())


# ------------------------------------------------------------------ Toncoin


def test_ton_at_the_snapshot_seqno_including_balances_changed_after_it(node):
    fake, world, url = node
    snap = world["snapshot"]
    batch, _ = read(url, TON, world["owners"], snap)
    assert batch.complete and amounts(batch) == world["ton_at"]
    assert world["ton_at"] != world["ton_now"]  # some moved after the snapshot: the old values came back
    assert max(world["ton_at"].values()) > 2**62 and 0 in world["ton_at"].values()
    assert {r.block for r in batch.results} == {r.block for r in batch.results[:1]}
    block = batch.results[0].block
    assert block.number == snap and block.at_snapshot and block.hash == fake.block_id(snap)["root_hash"]
    assert batch.strategy == "FAKE-TON-0:getAddressInformation"
    assert batch.requests == len(world["owners"])


def test_ton_latest_is_one_block_and_labelled(node):
    fake, world, url = node
    batch, _ = read(url, TON, world["owners"], None)
    assert amounts(batch) == world["ton_now"]
    assert {(r.block.number, r.block.at_snapshot) for r in batch.results} == {(fake.seqno, False)}
    assert any(f"latest state (masterchain seqno {fake.seqno}" in n for n in batch.notes)


def test_an_api_that_ignores_seqno_is_labelled_latest_never_the_snapshot():
    fake = FakeToncenter(ignore_seqno=True)
    world = ton_world(fake, 6)
    with fake.serve() as srv:
        batch, _ = read(srv.url + "/api/v2/jsonRPC", TON, world["owners"], world["snapshot"])
    assert amounts(batch) == world["ton_now"]
    assert all(not r.block.at_snapshot and r.block.number == fake.seqno for r in batch.results)
    assert "not the snapshot" in batch.results[0].block.label
    assert any(f"read at latest (masterchain seqno {fake.seqno}, time {fake.utime0 + fake.seqno}), not at the "
               f"snapshot seqno {world['snapshot']}" in n for n in batch.notes)


def test_pruned_state_is_unread_then_an_archival_endpoint_reads_it():
    pruned = FakeToncenter(pruned_below=49_999_990)
    archive = FakeToncenter()
    world = ton_world(pruned, 5)
    ton_world(archive, 5)
    with pruned.serve() as a, archive.serve() as b:
        alone, _ = read(a.url + "/api/v2/jsonRPC", TON, world["owners"], world["snapshot"], attempts=2,
                        backoff_min=0.01, backoff_max=0.02)
        both, _ = read([a.url + "/api/v2/jsonRPC", b.url + "/api/v2/jsonRPC"], TON, world["owners"],
                       world["snapshot"], attempts=2, backoff_min=0.01, backoff_max=0.02)
    assert alone.read == 0 and all(r.amount_base_units is None and "HTTP 500" in r.error for r in alone.results)
    assert both.complete and amounts(both) == world["ton_at"]
    assert {r.endpoint for r in both.results} == {"FAKE-TON-1"} and both.results[0].block.at_snapshot


def test_bad_rows_are_row_errors_and_the_rest_is_read(node):
    fake, world, url = node
    testnet = Address(world["owners"][0]).to_str(is_test_only=True)
    rows = [world["owners"][1], "EQ-not-an-address", testnet, world["owners"][1]]
    batch, _ = read(url, TON, rows, world["snapshot"])
    assert [r.error for r in batch.results] == [None, "not a TON address", "not a TON address", None]
    assert batch.results[0].amount_base_units == batch.results[3].amount_base_units == world["ton_at"][rows[0]]


# ------------------------------------------------------------------ jettons


def test_usdt_at_the_snapshot_through_the_owners_jetton_wallets(node):
    fake, world, url = node
    before = fake.calls.copy()
    batch, _ = read(url, usdt(world), world["owners"], world["snapshot"])
    assert batch.complete and amounts(batch) == world["usdt_at"]
    assert world["usdt_at"] != world["usdt_now"] and max(world["usdt_at"].values()) > 2**70
    assert all(r.block.number == world["snapshot"] and r.block.at_snapshot for r in batch.results)
    calls = fake.calls - before
    # two get-methods per owner, plus one state look-up for each wallet that is not deployed at the snapshot
    assert calls["runGetMethod"] == 2 * len(world["owners"]) and calls["getAddressInformation"] == 2
    assert batch.requests == sum(calls.values())


def test_usdt_latest(node):
    fake, world, url = node
    batch, _ = read(url, usdt(world), world["owners"], None)
    assert amounts(batch) == world["usdt_now"]
    assert all(r.block.number == fake.seqno and not r.block.at_snapshot for r in batch.results)


def test_a_jetton_wallet_answering_for_another_owner_is_an_error_not_a_balance():
    fake = FakeToncenter()
    world = ton_world(fake, 4)
    owner = world["owners"][1]
    from support.fake_ton import jetton_wallet_address

    fake.lie_owner.add(jetton_wallet_address(Address(owner), Address(world["master"])).to_str(is_user_friendly=False))
    with fake.serve() as srv:
        batch, _ = read(srv.url + "/api/v2/jsonRPC", usdt(world), world["owners"], world["snapshot"])
    bad = next(r for r in batch.results if r.address == owner)
    assert bad.amount_base_units is None and "belongs to" in bad.error
    assert batch.read == len(world["owners"]) - 1


def test_uninitialized_wallet_is_zero_only_when_the_state_says_so(node):
    """exit code -13 on a wallet whose account state cannot be read is unread, not 0."""
    fake, world, url = node
    ghost = Address((0, bytes(32)))  # no jetton wallet, no state: the master still derives an address
    original = fake.address_information

    def failing(params):
        raise LookupError("LITE_SERVER_UNKNOWN: timeout")

    fake.address_information = failing
    try:
        batch, _ = read(url, usdt(world), [ghost.to_str()], world["snapshot"], attempts=1)
    finally:
        fake.address_information = original
    r = batch.results[0]
    assert r.amount_base_units is None and "exit code -13" in r.error and "state unknown" in r.error


# ------------------------------------------------------------------ faults and configuration


@pytest.mark.parametrize("which", ["ton", "usdt"])
def test_faults_at_20_percent_never_give_a_silent_zero(which):
    fake = FakeToncenter()
    world = ton_world(fake, 40, seed="faults")
    asset = TON if which == "ton" else usdt(world)
    truth = world["ton_at"] if which == "ton" else world["usdt_at"]
    owners = world["owners"]
    with fake.serve() as srv, FaultProxy(srv.url + "/api/v2/jsonRPC", 0.2, seed=11, timeout_sleep=1.0) as proxy:
        ep = Endpoint("FAKE-TON-faulty", proxy.url, concurrency=6, timeout=0.5)
        batch, ad = read([ep], asset, owners, world["snapshot"], attempts=8, backoff_min=0.01, backoff_max=0.05)
    assert sum(proxy.injected.values()) >= 5 and len(proxy.injected) >= 3
    for r in batch.results:
        assert r.amount_base_units is None or r.amount_base_units == truth[r.address]
        assert r.amount_base_units is not None or r.error
    assert batch.read >= len(owners) - 2
    errors = ad.provider_errors()["FAKE-TON-faulty"]
    assert sum(errors.values()) >= 3  # the faults are counted, not hidden


def test_rate_limit_reply_is_retried(node):
    fake, world, url = node
    fake.rate_limit_next = 2
    batch, ad = read(url, TON, world["owners"][:1], world["snapshot"], backoff_min=0.01, backoff_max=0.02)
    assert batch.complete and ad.provider_errors()["FAKE-TON-0"].get("http-429") == 2


def test_kind_ton_in_networks_toml_builds_this_adapter():
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    net = load_networks()["ton"]
    assert net.kind == "ton" and net.native_decimals == 9
    ad = make_adapter(net)
    inner = getattr(ad, "adapters", [ad])
    assert all(isinstance(a, TonAdapter) for a in inner)
    run(ad.close())


def test_stack_cells_from_the_sdk_decode(node):
    _, world, _ = node
    cell = begin_cell().store_address(Address(world["master"])).end_cell()
    acct = parse_address_cell(base64.b64decode(base64.b64encode(cell.to_boc())))
    assert acct.friendly == world["master"]
