"""Beacon adapter (chains/beacon.py) against the FAKE Beacon Node API (tests/support/fake_beacon.py).

Covers: execution block -> slot (missed slots, the payload's block number and timestamp checked), exact balances
at the snapshot including ones changed after it, latest labelled, unknown keys 0 only on the documented
"Validator not found", pruned state unread then an archive endpoint, wrong network refused, the GET form
where POST is refused, bad keys as row errors, and faults at 20 %.
"""

from __future__ import annotations

import random

import pytest

from support.common import balances_then_close, run
from support.fake_beacon import GWEI, HOLESKY_GENESIS_ROOT, MAINNET_GENESIS_ROOT, FakeBeacon, beacon_world, validator_key
from support.httpfaults import HttpFaults
from chains.beacon import BeaconAdapter, parse_pubkey
from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import AdapterError, Asset

BETH = Asset("beacon", "BETH", 18)


def missed_slots(seed: int, head: int = 10_000_000, n: int = 3000) -> set[int]:
    rng = random.Random(seed)
    return {rng.randrange(head - 2_000_000, head) for _ in range(n)}


@pytest.fixture(scope="module")
def node():
    fake = FakeBeacon(missed=missed_slots(1))
    world = beacon_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url


def read(urls, addresses, height, asset=BETH, root=MAINNET_GENESIS_ROOT, **kw):
    eps = [u if isinstance(u, Endpoint) else Endpoint(f"FAKE-BEACON-{i}", u, max_batch=5, concurrency=4, timeout=2)
           for i, u in enumerate(urls if isinstance(urls, list) else [urls])]
    ad = FailoverAdapter("beacon", [BeaconAdapter("beacon", e, genesis_validators_root=root, **kw) for e in eps])
    return run(balances_then_close(asset, ad, addresses, height)), ad


def amounts(batch):
    return {r.address: r.amount_base_units for r in batch.results}


def test_pubkeys_are_48_byte_g1_points():
    good = validator_key("x")
    assert parse_pubkey(good.upper().replace("0X", "0x")) == good
    for bad in (good[:-2], good + "00", good[2:], "0x" + "ab" * 48, "0x" + "00" * 48, "0x" + "zz" * 48,
                "0xc0" + "00" * 47,  # the point at infinity
                "0x" + "11" * 20):
        assert parse_pubkey(bad) is None, bad


def test_balances_at_the_snapshot_slot_including_ones_changed_after_it(node):
    fake, world, url = node
    snap = world["snapshot"]
    batch, _ = read(url, world["keys"], snap)
    assert batch.complete and amounts(batch) == world["at"]
    assert world["at"] != world["now"] and 0 in world["at"].values()
    slot = fake.slot_of_block(snap)
    assert slot == world["slot"] and slot - (snap - fake.merge_block) > fake.merge_slot  # missed slots in between
    block = fake.block_json(slot)["data"]["message"]["body"]["execution_payload"]
    assert {(r.block.number, r.block.hash, r.block.at_snapshot) for r in batch.results} == {(snap, block["block_hash"], True)}
    assert any(f"execution block {snap} is in beacon slot {slot}" in n for n in batch.notes)
    assert any("withdrawal_done" in n and "effective balance 0 Gwei" in n for n in batch.notes)
    assert any("by status: active_ongoing" in n for n in batch.notes)
    assert any("1 key(s) were not validators" in n for n in batch.notes)


def test_latest_is_labelled_with_slot_block_and_time(node):
    fake, world, url = node
    batch, _ = read(url, world["keys"], None)
    assert amounts(batch) == world["now"]
    head_block = fake.block_number(fake.head_slot)
    assert all(r.block.number == head_block and not r.block.at_snapshot for r in batch.results)
    assert any(f"read at latest (slot {fake.head_slot}, execution block {head_block}, time 20" in n
               for n in batch.notes)


def test_a_key_the_list_omits_is_zero_only_on_validator_not_found(node):
    fake, world, url = node
    fresh = validator_key("never-deposited")
    batch, _ = read(url, [fresh, world["keys"][0]], world["snapshot"])
    assert amounts(batch) == {fresh: 0, world["keys"][0]: world["at"][world["keys"][0]]}
    assert fake.calls["validator"] >= 1


def test_pruned_state_is_unread_then_an_archive_endpoint_reads_it():
    missed = missed_slots(2)
    pruned, archive = FakeBeacon(missed=missed, pruned_below=9_999_500), FakeBeacon(missed=missed)
    world = beacon_world(pruned, 8)
    beacon_world(archive, 8)
    with pruned.serve() as a, archive.serve() as b:
        alone, _ = read(a.url, world["keys"], world["snapshot"])
        both, _ = read([a.url, b.url], world["keys"], world["snapshot"])
    assert alone.read == 0 and all("State not found" in r.error for r in alone.results)
    assert both.complete and amounts(both) == world["at"] and {r.endpoint for r in both.results} == {"FAKE-BEACON-1"}


def test_wrong_network_is_refused():
    fake = FakeBeacon(genesis_root=HOLESKY_GENESIS_ROOT)
    world = beacon_world(fake, 3)
    with fake.serve() as srv:
        batch, _ = read(srv.url, world["keys"], world["snapshot"])
        with pytest.raises(AdapterError, match="wrong network"):
            ad = BeaconAdapter("beacon", Endpoint("FAKE-BEACON", srv.url), genesis_validators_root=MAINNET_GENESIS_ROOT)
            run(balances_then_close(BETH, ad, world["keys"], world["snapshot"]))
    assert batch.read == 0 and any("wrong network" in n for n in batch.notes)
    assert fake.calls["validators_post"] == fake.calls["validators_get"] == 0


def test_get_form_where_post_is_refused_and_before_the_merge():
    fake = FakeBeacon(missed=missed_slots(3), post_allowed=False)
    world = beacon_world(fake, 70)
    with fake.serve() as srv:
        ep = Endpoint("FAKE-BEACON", srv.url, max_batch=200, timeout=5)
        batch, _ = read([ep], world["keys"], world["snapshot"])
        early, _ = read(srv.url, world["keys"][:2], fake.merge_block - 10)
    assert batch.complete and amounts(batch) == world["at"] and "GET" in batch.strategy
    assert fake.calls["validators_get"] == 2  # 70 keys, 64 per GET
    assert early.read == 0 and all("before the Merge" in r.error for r in early.results)


def test_bad_rows_are_row_errors_and_tokens_refused(node):
    _, world, url = node
    rows = [world["keys"][0], "0x" + "ab" * 48, "0x" + "ab" * 20, world["keys"][0]]
    batch, _ = read(url, rows, world["snapshot"])
    good, bad, evm, dup = batch.results
    assert good.amount_base_units == dup.amount_base_units == world["at"][rows[0]]
    assert bad.amount_base_units is None and evm.amount_base_units is None and "not a beacon validator" in bad.error
    ad = BeaconAdapter("beacon", Endpoint("FAKE-BEACON", url), genesis_validators_root=MAINNET_GENESIS_ROOT)
    with pytest.raises(AdapterError, match="token"):
        run(balances_then_close(Asset("beacon", "X", 18, "0xabc"), ad, rows[:1], None))


def test_gwei_asset_gets_gwei(node):
    _, world, url = node
    batch, _ = read(url, world["keys"][:3], world["snapshot"], asset=Asset("beacon", "ETH", 9))
    assert amounts(batch) == {k: world["at"][k] // 10**9 for k in world["keys"][:3]}


@pytest.mark.parametrize("seed", [5, 6])
def test_faults_at_20_percent_never_give_a_silent_zero(seed):
    fake = FakeBeacon(missed=missed_slots(seed))
    world = beacon_world(fake, 120, seed="faults")
    fake.faults = HttpFaults(0.2, seed=seed, timeout_sleep=0.6)
    with fake.serve() as srv:
        ep = Endpoint("FAKE-BEACON-faulty", srv.url, max_batch=4, concurrency=4, timeout=0.4)
        batch, ad = read([ep], world["keys"], world["snapshot"], attempts=8, backoff_min=0.01, backoff_max=0.05)
    assert sum(fake.faults.injected.values()) >= 5 and len(fake.faults.injected) >= 3
    for r in batch.results:
        assert r.amount_base_units is None or r.amount_base_units == world["at"][r.address]
        assert r.amount_base_units is not None or r.error
        # all staked at the snapshot (withdrawn ones hold 0): a read is never liquid, an unread row has no parts
        assert r.parts == ((("staked", r.amount_base_units),) if r.amount_base_units else ())
    assert batch.read >= len(world["keys"]) - 8
    assert sum(ad.provider_errors()["FAKE-BEACON-faulty"].values()) >= 2


def test_kind_beacon_in_networks_toml(monkeypatch):
    from scanner.config.networks import load_coins, load_networks
    from scanner.pipeline.adapters import make_adapter

    monkeypatch.setenv("BEACON_API_HOST", "127.0.0.1:5052")
    nets = load_networks()
    assert nets["beacon"].kind == "beacon" and nets["beacon"].native_decimals == 18
    assert nets["beacon"].options["genesis_validators_root"] == MAINNET_GENESIS_ROOT
    coin = load_coins()["BETH"]
    assert coin.network == "beacon" and coin.asset == "BETH" and coin.decimals == 18
    ad = make_adapter(nets["beacon"])
    inner = getattr(ad, "adapters", [ad])
    assert all(isinstance(a, BeaconAdapter) and a.expected_root == MAINNET_GENESIS_ROOT for a in inner)
    run(ad.close())


def test_every_status_gives_its_part_at_the_snapshot_never_liquid():
    """Each beacon-API status -> staked or unbonding, the whole balance as that part, as of the snapshot slot
    (a validator that starts exiting after the snapshot is still staked there)."""
    from chains.beacon import PART_OF_STATUS

    fake = FakeBeacon(missed=missed_slots(7))
    head_block = fake.block_number(fake.head_slot - 1)
    snap = head_block - 500
    slot = fake.slot_of_block(snap)
    want: dict[str, tuple[int, tuple[tuple[str, int], ...]]] = {}
    for i, status in enumerate(sorted(PART_OF_STATUS)):
        key = validator_key(f"status/{status}")
        gwei = 31 * GWEI + 10_000 * (i + 1)  # withdrawal_done with a remainder still counts
        fake.add_validator(key, slot - 1000, gwei, status)
        want[key] = (gwei * GWEI, ((PART_OF_STATUS[status], gwei * GWEI),))
    leaving = validator_key("status/leaves-after")
    fake.add_validator(leaving, slot - 1000, 32 * GWEI)
    fake.add_validator(leaving, slot + 1, 32 * GWEI, "active_exiting")
    want[leaving] = (32 * GWEI * GWEI, (("staked", 32 * GWEI * GWEI),))
    never = validator_key("status/not-a-validator")
    want[never] = (0, ())
    with fake.serve() as srv:
        batch, _ = read(srv.url, list(want), snap)
    got = {r.address: (r.amount_base_units, r.parts) for r in batch.results}
    assert got == want
    assert all(r.parts_known for r in batch.results)
    assert {"staked", "unbonding"} == {p[0][0] for _, p in want.values() if p}
    staked = sum(v for _, p in want.values() for n, v in p if n == "staked") // GWEI
    unbonding = sum(v for _, p in want.values() for n, v in p if n == "unbonding") // GWEI
    assert any(f"staked {staked} Gwei, unbonding {unbonding} Gwei" in n for n in batch.notes)
