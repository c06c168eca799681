"""Substrate adapter (chains/substrate.py) against a real node: chopsticks running the Rococo Asset Hub
runtime offline from its shipped chain spec (tests/support/substrate_world.py).

Balances are written through the runtime's own metadata at a snapshot block, changed on later blocks,
and read back at the snapshot's hash (old values) and at latest (new values, labelled not at the
snapshot). Asset Hub USDT (asset 1984) the same way; staking ledgers (raw storage, values encoded by
scalecodec) give the staked / unbonding split; faults at 20 % through the fault proxy leave totals
exact and nothing unread a zero. Pure parts (SS58, hashing, SCALE layouts) are checked against
scalecodec.
"""

from __future__ import annotations

import asyncio

import pytest
from scalecodec.base import RuntimeConfiguration
from scalecodec.type_registry import load_type_registry_preset
from scalecodec.utils.ss58 import ss58_encode as sc_ss58_encode

from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import AdapterError, Asset
from chains.substrate import (SubstrateAdapter, build_endpoint_adapter, decode_account_info, decode_ledger,
                              hex_bytes, ledger_key, ss58_account, ss58_decode, twox128, xxh64)
from support.common import balances_then_close
from support.faultproxy import FaultProxy
from support.substrate_world import USDT_ID, Chopsticks, account, address, chopsticks_binary, encode_ledger

NET = "kusama-asset-hub-test"
KSM = Asset(NET, "KSM", 12)
USDT = Asset(NET, "USDT", 6, str(USDT_ID))


def run(coro):
    return asyncio.run(coro)


def adapter(url: str, label: str = "chopsticks", staking: bool = True, **kw) -> SubstrateAdapter:
    return SubstrateAdapter(NET, Endpoint(label, url, **{k: kw.pop(k) for k in ("timeout", "max_batch")
                                                        if k in kw}), ss58_prefix=2, staking=staking, **kw)


# ---------------------------------------------------------------------------------------------------
# pure parts
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [0, 2, 42, 63, 64, 2135, 16383])
def test_ss58_decodes_what_scalecodec_encodes(prefix):
    acct = bytes(range(32))
    text = sc_ss58_encode("0x" + acct.hex(), prefix)
    assert ss58_decode(text) == (prefix, acct)
    assert ss58_account(text, prefix) == acct
    assert ss58_account(text, (prefix + 1) % 16384) is None  # another network's address


def test_ss58_checksum_and_shape_are_checked():
    good = sc_ss58_encode("0x" + "ab" * 32, 0)
    assert ss58_account(good, 0) == bytes.fromhex("ab" * 32)
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    for i in (5, len(good) - 1):  # one character changed: the checksum no longer matches
        c = alphabet[(alphabet.index(good[i]) + 1) % 58]
        assert ss58_account(good[:i] + c + good[i + 1:], 0) is None
    for bad in ("", "0x" + "ab" * 32, "not an address", good + "1", good[:-1], "1" * 48):
        assert ss58_account(bad, 0) is None


def test_twox_hashes_give_the_well_known_storage_prefixes():
    # XXH64 reference values (xxhash's test vectors for the empty input and "a")
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999
    assert twox128(b"System").hex() == "26aa394eea5630e07c48ae0c9558cef7"
    assert twox128(b"Account").hex() == "b99d880ec681799c0cf30e8886371da9"
    assert twox128(b"Balances").hex() == "c2261276cc9d1f8598ea4b6a74b15c2f"


def _registry() -> RuntimeConfiguration:
    rc = RuntimeConfiguration()
    rc.update_type_registry(load_type_registry_preset("legacy"))
    rc.update_type_registry({"types": {
        "PorscanAccountData": {"type": "struct", "type_mapping": [
            ["free", "u128"], ["reserved", "u128"], ["frozen", "u128"], ["flags", "u128"]]},
        "PorscanAccountInfo": {"type": "struct", "type_mapping": [
            ["nonce", "u32"], ["consumers", "u32"], ["providers", "u32"], ["sufficients", "u32"],
            ["data", "PorscanAccountData"]]}}})
    return rc


def test_account_info_layouts_encoded_by_scalecodec():
    rc = _registry()
    new = rc.create_scale_object("PorscanAccountInfo").encode({
        "nonce": 3, "consumers": 1, "providers": 1, "sufficients": 0,
        "data": {"free": 10**20 + 1, "reserved": 5, "frozen": 7 * 10**18, "flags": 1 << 127}})
    d = decode_account_info(hex_bytes(new.to_hex()))
    assert (d.free, d.reserved, d.frozen, d.total) == (10**20 + 1, 5, 7 * 10**18, 10**20 + 6)
    # the older layout (misc_frozen, fee_frozen; no flag bit): frozen is the larger of the two
    old = rc.create_scale_object("AccountInfo").encode({
        "nonce": 1, "consumers": 0, "providers": 1, "sufficients": 0,
        "data": {"free": 900, "reserved": 100, "misc_frozen": 30, "fee_frozen": 40}})
    d = decode_account_info(hex_bytes(old.to_hex()))
    assert (d.free, d.reserved, d.frozen) == (900, 100, 40)
    with pytest.raises(ValueError):
        decode_account_info(hex_bytes(new.to_hex())[:-1])


def test_staking_ledger_encoded_by_scalecodec():
    stash = bytes([9]) * 32
    ledger = decode_ledger(hex_bytes(encode_ledger(stash, 2**100 + 3, [(5, 1000), (2**70, 1001)])))
    assert ledger.stash == stash and ledger.active == 2**100 + 3
    assert ledger.unlocking == ((5, 1000), (2**70, 1001)) and ledger.unbonding == 5 + 2**70
    assert ledger.total == ledger.active + ledger.unbonding


def test_config_refuses_a_bad_prefix_or_genesis():
    ep = Endpoint("x", "http://127.0.0.1:9")
    with pytest.raises(AdapterError, match="ss58_prefix"):
        build_endpoint_adapter("polkadot", ep, {}, {})
    with pytest.raises(AdapterError, match="genesis_hash"):
        build_endpoint_adapter("polkadot", ep, {}, {"ss58_prefix": 0, "genesis_hash": "0x12"})
    ad = build_endpoint_adapter("polkadot", ep, {"keys_per_call": 5}, {"ss58_prefix": 0, "staking": True})
    assert ad.staking and ad.keys_per_call == 5 and ad.label == "x"


def test_a_bad_asset_id_is_refused():
    ad = adapter("http://127.0.0.1:9")
    with pytest.raises(AdapterError, match="asset id"):
        run(balances_then_close(Asset(NET, "USDT", 6, "0x1984"), ad, [], 1))


# ---------------------------------------------------------------------------------------------------
# against the node
# ---------------------------------------------------------------------------------------------------

class World:
    def __init__(self, node: Chopsticks):
        self.node = node
        self.accounts = [account(i) for i in range(60)]
        self.native = {a: (10**12 * (i + 1) + i, 1000 * i) for i, a in enumerate(self.accounts)}
        self.usdt = {a: 1_000_000 * (i + 1) + 3 for i, a in enumerate(self.accounts[:25])}
        self.staker, self.other_stash, self.controller = self.accounts[3], self.accounts[4], account(0, "ctrl")
        node.set_native(self.native)
        node.set_asset(USDT_ID, self.usdt)
        node.set_staking(self.staker, 10**12, [(7, 500), (11, 501)])
        node.set_staking(self.other_stash, 2 * 10**12, [], controller=self.controller)
        self.snapshot = node.new_block()
        self.snapshot_hash = node.call("chain_getBlockHash", [self.snapshot])
        # after the snapshot: money moves, on later blocks. dev_setStorage rewrites the head block's own
        # state, so a block is built on top of the snapshot first (the snapshot's state stays as it is)
        node.new_block()
        self.moved = self.accounts[:10]
        node.set_native({a: (1, 0) for a in self.moved})
        node.set_asset(USDT_ID, {a: 42 for a in self.accounts[:5]})
        node.new_block()
        node.set_native({self.accounts[10]: (5, 5)})
        self.latest = node.new_block()
        self.addresses = [address(a) for a in self.accounts]


@pytest.fixture(scope="module")
def world():
    if chopsticks_binary() is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("chopsticks is not installed (scripts/node-tools.sh should have installed it)")
        pytest.skip("chopsticks not installed: run `. scripts/node-tools.sh`")
    node = Chopsticks.start()
    try:
        yield World(node)
    finally:
        node.stop()


def test_native_balances_at_the_snapshot_are_the_old_ones(world):
    ad = adapter(world.node.url)
    batch = run(balances_then_close(KSM, ad, world.addresses, world.snapshot))
    assert batch.complete
    want = {address(a): f + r for a, (f, r) in world.native.items()}
    assert {r.address: r.amount_base_units for r in batch.results} == want
    assert all(r.block.number == world.snapshot and r.block.hash == world.snapshot_hash and r.block.at_snapshot
               for r in batch.results)
    assert batch.requests <= 3  # chain_getBlockHash + one batch (+ the other controller's ledger)


def test_latest_is_labelled_and_has_the_new_values(world):
    ad = adapter(world.node.url, staking=False)
    batch = run(balances_then_close(KSM, ad, world.addresses, None))
    got = {r.address: r.amount_base_units for r in batch.results}
    assert got[address(world.moved[0])] == 1 and got[address(world.accounts[10])] == 10
    assert got[address(world.accounts[20])] == sum(world.native[world.accounts[20]])
    assert all(not r.block.at_snapshot and r.block.number == world.latest for r in batch.results)
    assert any("not at the snapshot" in n and f"block {world.latest}" in n for n in batch.notes)


def test_usdt_on_asset_hub_at_the_snapshot_and_zero_for_no_asset_account(world):
    ad = adapter(world.node.url)
    batch = run(balances_then_close(USDT, ad, world.addresses, world.snapshot))
    assert batch.complete
    got = {r.address: r.amount_base_units for r in batch.results}
    for a in world.accounts:
        assert got[address(a)] == world.usdt.get(a, 0)  # accounts[25:] never held USDT: a real zero
    later = run(balances_then_close(USDT, adapter(world.node.url), world.addresses[:5], None))
    assert [r.amount_base_units for r in later.results] == [42] * 5


def test_asset_decimals_are_checked_on_chain(world):
    with pytest.raises(AdapterError, match="decimals"):
        run(balances_then_close(Asset(NET, "USDT", 18, str(USDT_ID)), adapter(world.node.url), world.addresses[:2],
                                world.snapshot))
    with pytest.raises(AdapterError, match="no asset 77"):
        run(balances_then_close(Asset(NET, "X", 6, "77"), adapter(world.node.url), world.addresses[:2],
                                world.snapshot))


def test_staked_and_unbonding_are_components_not_mixed_into_liquid(world):
    ad = adapter(world.node.url)
    addrs = [address(world.staker), address(world.other_stash), address(world.accounts[5])]
    batch = run(balances_then_close(KSM, ad, addrs, world.snapshot))
    staker = ad.accounts[addrs[0]]
    assert staker.total == sum(world.native[world.staker]) == batch.results[0].amount_base_units
    assert (staker.staked, staker.unbonding) == (10**12, 18)
    assert staker.liquid == staker.total - 10**12 - 18
    other = ad.accounts[addrs[1]]  # bonded through a separate controller account
    assert (other.staked, other.unbonding) == (2 * 10**12, 0)
    plain = ad.accounts[addrs[2]]
    assert (plain.staked, plain.unbonding, plain.liquid) == (0, 0, plain.total)
    assert any(addrs[0] in n and "staked 1000000000000, unbonding 18" in n for n in batch.notes)
    assert any("staked 3000000000000 and unbonding 18" in n for n in batch.notes)


def test_a_ledger_of_another_stash_leaves_the_split_unknown_not_the_balance(world):
    node = world.node
    victim, stranger = account(1, "victim"), account(2, "stranger")
    node.new_block()  # the head's state is rewritten below, not the world's snapshot
    node.set_native({victim: (10**12, 0)})
    node.set_staking(victim, 5, [])
    node.call("dev_setStorage", [[[ledger_key(victim), encode_ledger(stranger, 5, [])]]])
    height = node.new_block()
    ad = adapter(node.url)
    batch = run(balances_then_close(KSM, ad, [address(victim)], height))
    assert batch.results[0].amount_base_units == 10**12
    acct = ad.accounts[address(victim)]
    assert acct.liquid is None and "another stash" in (acct.staking_error or "")
    assert any("staking split unknown" in n for n in batch.notes)


def test_addresses_of_other_networks_and_garbage_are_row_errors(world):
    polkadot = sc_ss58_encode("0x" + world.accounts[0].hex(), 0)
    rows = [address(world.accounts[0]), polkadot, "hello", "", address(world.accounts[0])[:-1] + "x"]
    batch = run(balances_then_close(KSM, adapter(world.node.url), rows, world.snapshot))
    assert batch.results[0].ok
    assert [r.amount_base_units for r in batch.results[1:]] == [None] * 4
    assert all("not a kusama-asset-hub-test address" in r.error for r in batch.results[1:])


def test_a_block_the_node_does_not_have_is_an_error(world):
    with pytest.raises(AdapterError, match=f"no block {world.latest + 50}"):
        run(balances_then_close(KSM, adapter(world.node.url), world.addresses[:3], world.latest + 50))


def test_another_chain_is_refused_by_its_genesis_hash(world):
    ad = SubstrateAdapter(NET, Endpoint("wrong", world.node.url), ss58_prefix=2,
                          genesis_hash="0x48239ef607d7928874027a43a67689209727dfb3d3dc5e5b03a39bdc2eda771a")
    with pytest.raises(AdapterError, match="another chain"):
        run(balances_then_close(KSM, ad, world.addresses[:3], world.snapshot))
    genesis = world.node.call("chain_getBlockHash", [0])
    ok = SubstrateAdapter(NET, Endpoint("right", world.node.url), ss58_prefix=2, genesis_hash=genesis)
    assert run(balances_then_close(KSM, ok, world.addresses[:3], world.snapshot)).complete


def test_faults_at_20_percent_give_exact_totals_and_no_silent_zero(world):
    want = {address(a): f + r for a, (f, r) in world.native.items()}
    with FaultProxy(world.node.url, rate=0.2, seed=7, timeout_sleep=1.0) as px:
        ad = adapter(px.url, label="proxy", timeout=0.6, max_batch=2, keys_per_call=7, attempts=14,
                     backoff_min=0.01, backoff_max=0.05)
        batch = run(balances_then_close(KSM, ad, world.addresses, world.snapshot))
        usdt = run(balances_then_close(USDT, adapter(px.url, label="proxy", timeout=0.6, max_batch=2,
                                                     keys_per_call=5, attempts=14, backoff_min=0.01,
                                                     backoff_max=0.05), world.addresses, world.snapshot))
        injected = sum(px.injected.values())
    assert injected > 0
    assert batch.complete and {r.address: r.amount_base_units for r in batch.results} == want
    # a staking read lost to a fault leaves the split unknown, never a wrong or an all-liquid one
    split = {address(world.staker): (("staked", 10**12), ("unbonding", 18)),
             address(world.other_stash): (("staked", 2 * 10**12),)}
    for r in batch.results:
        assert (r.parts, r.parts_known) in (((), False), (split.get(r.address, ()), True)), r
    assert usdt.complete and usdt.total_base_units == sum(world.usdt.values())
    assert ad.provider_errors()["proxy"]


def test_faults_that_never_clear_leave_rows_unread_never_zero(world):
    with FaultProxy(world.node.url, rate=1.0, seed=3, faults=("missing-items",), min_items=2) as px:
        ad = adapter(px.url, label="proxy", max_batch=4, keys_per_call=9, attempts=1, staking=False)
        batch = run(balances_then_close(KSM, ad, world.addresses, world.snapshot))
    assert 0 < batch.read < batch.expected
    want = {address(a): f + r for a, (f, r) in world.native.items()}
    for r in batch.results:
        if r.ok:
            assert r.amount_base_units == want[r.address]
        else:
            assert r.amount_base_units is None and r.error and r.block is None


def test_failover_and_block_agreement_over_two_endpoints(world):
    with FaultProxy(world.node.url, rate=1.0, seed=1, faults=("http500",)) as px:
        dead = adapter(px.url, label="dead", attempts=2, backoff_min=0.001, backoff_max=0.01)
        fo = FailoverAdapter(NET, [dead, adapter(world.node.url, label="good")], cross_check=5, seed=1)
        batch = run(balances_then_close(KSM, fo, world.addresses, world.snapshot))
    assert batch.complete and {r.endpoint for r in batch.results} == {"good"}


def test_kind_substrate_in_networks_toml_builds_this_adapter(world, tmp_path):
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    p = tmp_path / "networks.toml"
    p.write_text(f'''
[networks.{NET}]
kind = "substrate"
native_symbol = "KSM"
native_decimals = 12
ss58_prefix = 2
staking = true
genesis_hash = "{world.node.call("chain_getBlockHash", [0])}"
[[networks.{NET}.endpoints]]
label = "chopsticks"
url = "{world.node.url}"
keys_per_call = 50
''')
    ad = make_adapter(load_networks(p)[NET])
    batch = run(balances_then_close(KSM, ad, world.addresses, world.snapshot))
    assert batch.complete and batch.total_base_units == sum(f + r for f, r in world.native.values())


def test_bonded_account_parts_are_those_of_the_snapshot_block_and_liquid_is_the_rest(world):
    """Each result carries (staked, unbonding) as read from Staking.Ledger at the block read: at the snapshot
    the old split, after an unbond on a later block the new one; a split that cannot be read (the ledger is
    another stash's, or claims more than the account holds) is unknown, never liquid."""
    node = world.node
    stash, odd, greedy = account(1, "bonded"), account(2, "bonded"), account(3, "bonded")
    node.new_block()  # the head's state is rewritten below, not an earlier test's snapshot
    node.set_native({stash: (5 * 10**12 + 77, 10**9), odd: (10**12, 0), greedy: (10**12, 0)})
    node.set_staking(stash, 3 * 10**12, [(4 * 10**11, 900)])
    node.set_staking(odd, 5, [])
    node.call("dev_setStorage", [[[ledger_key(odd), encode_ledger(account(9, "bonded"), 5, [])]]])
    node.set_staking(greedy, 2 * 10**12, [])  # more than the account's 10**12
    snap = node.new_block()
    node.new_block()  # dev_setStorage rewrites the head's state: the snapshot's stays as it is
    node.set_staking(stash, 2 * 10**12, [(4 * 10**11, 900), (10**12, 905)])  # unbonds 10**12 after the snapshot
    later = node.new_block()
    addrs = [address(stash), address(odd), address(greedy), address(world.accounts[7])]
    total = 5 * 10**12 + 77 + 10**9

    def results(height):
        return {r.address: r for r in run(balances_then_close(KSM, adapter(node.url), addrs, height)).results}

    at = results(snap)
    assert at[addrs[0]].amount_base_units == total
    assert at[addrs[0]].parts == (("staked", 3 * 10**12), ("unbonding", 4 * 10**11)) and at[addrs[0]].parts_known
    liquid = total - sum(v for _, v in at[addrs[0]].parts)
    assert liquid == 5 * 10**12 + 77 + 10**9 - 3 * 10**12 - 4 * 10**11
    assert (at[addrs[1]].amount_base_units, at[addrs[1]].parts_known) == (10**12, False)
    assert (at[addrs[2]].amount_base_units, at[addrs[2]].parts_known) == (10**12, False)
    assert (at[addrs[3]].parts, at[addrs[3]].parts_known) == ((), True)  # never bonded: all liquid
    after = results(later)
    assert after[addrs[0]].parts == (("staked", 2 * 10**12), ("unbonding", 14 * 10**11))
    assert after[addrs[0]].block.number == later and at[addrs[0]].block.number == snap
    latest = results(None)[addrs[0]]
    assert latest.parts == after[addrs[0]].parts and not latest.block.at_snapshot
    # a network declared without staking reads no parts (and no ledger)
    plain = run(balances_then_close(KSM, adapter(node.url, staking=False), addrs[:1], snap)).results[0]
    assert plain.amount_base_units == total and (plain.parts, plain.parts_known) == ((), True)
