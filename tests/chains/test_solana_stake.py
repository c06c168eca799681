"""Solana stake accounts (``stake_accounts = true``) against the FAKE Solana JSON-RPC (no validator runs here).

Every stake account the FAKE node serves was written by Solana's own Stake program running in
``solders.litesvm`` (scanner/devnet/solana_stake.py): initialized, delegated, activating, deactivating
and inactive, so the layout porscan reads (withdrawer at offset 44, delegation epochs at 164/172) is
the chain's. Covers exact totals and staked/unbonding parts, the withdrawer filter (an account the
owner only stakes for is not theirs), the latest-slot label, a stake that changes after the snapshot,
a node refusing getProgramAccounts (parts unknown, never a silent liquid figure), and faults at 20 %.
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from chains.solana import (STAKE_PROGRAM, WITHDRAWER_OFFSET, EpochSchedule, SolanaAdapter, parse_stake_accounts,
                           stake_account_fields)
from scanner.devnet.fake_tron_solana import USDT_SPL_MINT, FakeSolana, sol_keypair, solana_world
from scanner.devnet.solana_stake import StakeMaker, stake_world
from support.common import balances_then_close
from support.faultproxy import FaultProxy

SOL = Asset("solana", "SOL", 9)


@pytest.fixture(scope="module")
def node():
    fake = FakeSolana()
    world = solana_world(fake, prefix="stake")
    maker = StakeMaker()
    truth = stake_world(fake, world["owners"], maker)
    with fake.serve() as srv:
        yield fake, world, truth, maker, srv.url


def read(endpoints, asset, addresses, height=None, stake=True, **kw):
    eps = endpoints if isinstance(endpoints, list) else [Endpoint("FAKE-SOLANA", endpoints, max_batch=4)]

    async def go():
        ad = FailoverAdapter("solana", [SolanaAdapter("solana", e, stake_accounts=stake, **kw) for e in eps])
        return await balances_then_close(asset, ad, addresses, height), ad

    return asyncio.run(go())


def expected_parts(t) -> tuple:
    return tuple((k, v) for k, v in (("staked", t.staked), ("unbonding", t.unbonding)) if v)


def test_layout_is_the_stake_programs_own():
    maker = StakeMaker(b"layout")
    owner = str(sol_keypair("layout/owner").pubkey())
    init = maker.make(owner, 5 * 10**9)
    active = maker.make(owner, 6 * 10**9, delegate_at=700)
    down = maker.make(owner, 7 * 10**9, delegate_at=700, deactivate_at=705)
    a, b, c = (stake_account_fields(m.address, m.lamports, m.data) for m in (init, active, down))
    assert len(init.data) == 200 and base64.b64decode(base64.b64encode(init.data)) == init.data
    assert a.withdrawer == b.withdrawer == c.withdrawer == owner and not a.delegated
    assert (b.activation_epoch, b.deactivation_epoch) == (700, 2**64 - 1) and (c.activation_epoch, c.deactivation_epoch) == (700, 705)
    assert (a.part(710), b.part(710), b.part(700), c.part(705), c.part(706)) == (None, "staked", "staked", "unbonding", None)
    # the staker authority (offset 12) is the maker's payer, not the owner: only offset 44 matches the owner
    assert init.data[WITHDRAWER_OFFSET:WITHDRAWER_OFFSET + 32] == bytes(sol_keypair("layout/owner").pubkey())
    assert init.data[12:44] != init.data[44:76]
    with pytest.raises(ValueError, match="200"):
        stake_account_fields("x", 1, init.data[:199])


def test_epoch_of_slot_matches_the_sdk_with_and_without_warmup():
    from solders.epoch_schedule import EpochSchedule as Sdk

    for sdk in (Sdk.default(), Sdk.without_warmup(), Sdk(8192)):
        ours = EpochSchedule(sdk.slots_per_epoch, sdk.first_normal_epoch, sdk.first_normal_slot)
        for slot in (0, 1, 31, 32, 95, 96, 1000, 524_255, 524_256, 524_257, 310_000_000, 2**40):
            assert ours.epoch_of(slot) == sdk.get_epoch(slot), (sdk, slot)


def test_sol_with_stake_accounts_exact_with_parts(node):
    fake, world, truth, _, url = node
    before = fake.calls["getProgramAccounts"]
    batch, _ = read(url, SOL, world["owners"], 250_000_000)
    assert batch.complete
    assert fake.calls["getProgramAccounts"] - before == len(world["owners"])  # one filtered query per owner
    for r in batch.results:
        t = truth[r.address]
        assert r.amount_base_units == world["sol"][r.address] + t.lamports
        assert r.parts == expected_parts(t) and r.parts_known
        assert not r.block.at_snapshot and "not the snapshot" in r.block.label
    # every state occurs, liquid stake (inactive, initialized) is in the amount but in no part
    assert any(t.unbonding for t in truth.values()) and any(t.staked for t in truth.values())
    assert any(t.lamports > t.staked + t.unbonding for t in truth.values())
    assert max(t.lamports for t in truth.values()) > 2**62  # beyond float
    assert "getProgramAccounts(Stake,withdrawer)" in batch.strategy
    assert any("stake accounts by withdrawer" in n for n in batch.notes)
    assert any("NOT at snapshot 250000000" in n for n in batch.notes)


def test_an_account_the_owner_only_stakes_for_is_not_counted(node):
    fake, world, truth, maker, url = node
    owner = world["owners"][4]  # has no stake accounts of its own
    assert truth[owner].lamports == 0
    # the owner is the stake authority (it signed the delegation), another key the withdrawer
    staker_only = maker.make(str(sol_keypair("elsewhere").pubkey()), 9 * 10**9, delegate_at=fake.epoch() - 1,
                             staker_key=sol_keypair("stake/4"))
    assert staker_only.data[12:44] == bytes(sol_keypair("stake/4").pubkey())
    fake.add_program_account(staker_only.address, STAKE_PROGRAM, staker_only.lamports, staker_only.data)
    try:
        batch, _ = read(url, SOL, [owner])
    finally:
        del fake.program_accounts[staker_only.address]
    assert batch.results[0].amount_base_units == world["sol"][owner] and batch.results[0].parts == ()


def test_off_by_default_and_tokens_untouched(node):
    fake, world, _, _, url = node
    before = fake.calls["getProgramAccounts"]
    batch, _ = read(url, SOL, world["owners"], stake=False)
    assert batch.complete and {r.address: r.amount_base_units for r in batch.results} == world["sol"]
    assert all(r.parts == () and r.parts_known for r in batch.results)
    usdt, _ = read(url, Asset("solana", "USDT", 6, USDT_SPL_MINT), world["owners"])
    assert {r.address: r.amount_base_units for r in usdt.results} == world["usdt"]
    assert fake.calls["getProgramAccounts"] == before


def test_refused_stake_query_leaves_the_split_unknown_never_silently_liquid(node):
    fake, world, truth, _, url = node
    fake.failing_methods.add("getProgramAccounts")
    try:
        batch, _ = read(url, SOL, world["owners"])
    finally:
        fake.failing_methods.discard("getProgramAccounts")
    assert batch.complete  # the owners' own lamports were read...
    for r in batch.results:
        assert r.amount_base_units == world["sol"][r.address] and not r.parts_known and r.parts == ()
    # ...and the batch says the stake is missing from them
    assert any("stake accounts of 20 owner(s) NOT read" in n and "not available" in n
               for n in batch.notes)


def test_schedule_refused_leaves_the_split_unknown(node):
    fake, world, _, _, url = node
    fake.failing_methods.add("getEpochSchedule")
    try:
        batch, _ = read(url, SOL, world["owners"][:3])
    finally:
        fake.failing_methods.discard("getEpochSchedule")
    assert batch.complete and all(not r.parts_known for r in batch.results)
    assert any("getEpochSchedule" in n and "NOT read" in n for n in batch.notes)


def test_node_ignoring_the_filter_is_caught():
    owner, other = (str(sol_keypair(x).pubkey()) for x in ("f/owner", "f/other"))
    made = StakeMaker(b"filter").make(other, 3 * 10**9, delegate_at=1)
    reply = {"context": {"slot": 9}, "value": [{"pubkey": made.address, "account": {
        "data": [base64.b64encode(made.data).decode(), "base64"], "lamports": made.lamports, "owner": STAKE_PROGRAM}}]}
    assert parse_stake_accounts(reply, other)[1][0].lamports == made.lamports
    with pytest.raises(ValueError, match="withdrawable by"):
        parse_stake_accounts(reply, owner)
    reply["value"][0]["account"]["owner"] = "11111111111111111111111111111111"
    with pytest.raises(ValueError, match="not the Stake program"):
        parse_stake_accounts(reply, other)


def test_stake_deactivated_after_the_snapshot_reads_latest_labelled():
    """Solana cannot read at a past slot: after a deactivation the read shows it, labelled with the later slot."""
    fake = FakeSolana(slot=320_000_000)
    world = solana_world(fake, n=3, prefix="later")
    maker = StakeMaker(b"later")
    owner = world["owners"][0]
    made = maker.make(owner, 4 * 10**9, delegate_at=fake.epoch() - 3)
    fake.add_program_account(made.address, STAKE_PROGRAM, made.lamports, made.data)
    with fake.serve() as srv:
        snap, _ = read(srv.url, SOL, [owner], fake.slot)
        # the same account (same lamports) deactivated by the Stake program in the current epoch
        down = maker.make(owner, 4 * 10**9, delegate_at=fake.epoch() - 3, deactivate_at=fake.epoch())
        fake.program_accounts[made.address] = (STAKE_PROGRAM, down.lamports, down.data)
        later, _ = read(srv.url, SOL, [owner], snap.results[0].block.number)
    a, b = snap.results[0], later.results[0]
    assert a.amount_base_units == b.amount_base_units == world["sol"][owner] + made.lamports
    assert a.parts == (("staked", made.lamports),) and b.parts == (("unbonding", made.lamports),)
    assert b.block.number > a.block.number and not b.block.at_snapshot and "not the snapshot" in b.block.label


def test_faults_at_20_percent_no_silent_liquid_figure(node):
    fake, world, truth, _, url = node
    addrs = list(world["owners"]) * 3
    with FaultProxy(url, rate=0.2, seed=21, timeout_sleep=0.8) as px:
        ep = Endpoint("FAKE-SOLANA-faulty", px.url, timeout=0.5, max_batch=3, concurrency=4)
        batch, ad = read([ep], SOL, addrs, attempts=14, backoff_min=0.005, backoff_max=0.03)
        injected = dict(px.injected)
    assert sum(injected.values()) >= 3 and len(injected) >= 2, injected
    assert sum(ad.provider_errors()["FAKE-SOLANA-faulty"].values()) > 0
    exact = unknown = 0
    for r in batch.results:
        if not r.ok:
            assert r.amount_base_units is None and r.error
            continue
        t = truth[r.address]
        if r.parts_known:  # a known split is the exact one, on the exact total
            assert r.amount_base_units == world["sol"][r.address] + t.lamports and r.parts == expected_parts(t)
            exact += 1
        else:  # the stake query was lost: own lamports only, and said so
            assert r.amount_base_units == world["sol"][r.address] and r.parts == ()
            unknown += 1
    assert exact >= len(addrs) // 2
    assert unknown == 0 or any("NOT read" in n for n in batch.notes)


def test_missing_batch_items_give_unknown_split_not_liquid(node):
    """Every multi-call batch loses one item and nothing is retried: a lost stake query marks its owner."""
    _, world, truth, _, url = node
    with FaultProxy(url, rate=1.0, seed=3, faults=("missing-items",), min_items=2) as px:
        batch, _ = read([Endpoint("FAKE-proxy", px.url, max_batch=4)], SOL, world["owners"], attempts=1)
    unknown = [r for r in batch.results if r.ok and not r.parts_known]
    assert unknown and all(r.amount_base_units == world["sol"][r.address] for r in unknown)
    for r in batch.results:
        if r.ok and r.parts_known:
            assert r.amount_base_units == world["sol"][r.address] + truth[r.address].lamports


def test_network_option_from_config(tmp_path, node):
    from chains.protocol import AdapterError
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    _, world, truth, _, url = node
    owner = world["owners"][0]
    base = ('[networks.solana]\nkind = "solana"\nnative_symbol = "SOL"\nnative_decimals = 9\n{extra}'
            f'[[networks.solana.endpoints]]\nlabel = "FAKE-SOLANA"\nurl = "{url}"\n')
    got = {}
    for name, extra in (("off", ""), ("on", "stake_accounts = true\n")):
        p = tmp_path / f"{name}.toml"
        p.write_text(base.format(extra=extra))
        batch = asyncio.run(balances_then_close(SOL, make_adapter(load_networks(p)["solana"]), [owner], None))
        got[name] = batch.results[0]
    assert got["off"].amount_base_units == world["sol"][owner] and got["off"].parts == ()
    assert got["on"].amount_base_units == world["sol"][owner] + truth[owner].lamports and got["on"].parts
    p = tmp_path / "bad.toml"
    p.write_text(base.format(extra='stake_accounts = "yes"\n'))
    with pytest.raises(AdapterError, match="stake_accounts must be true or false"):
        make_adapter(load_networks(p)["solana"])


def test_notes_count_only_owners_whose_stake_was_read(node):
    fake, world, _, _, url = node
    fake.failing_methods.add("getEpochSchedule")
    try:
        batch, _ = read(url, SOL, world["owners"][:3])
    finally:
        fake.failing_methods.discard("getEpochSchedule")
    assert not any("stake accounts by withdrawer" in n for n in batch.notes)
    ok, _ = read(url, SOL, world["owners"][:3])
    assert any("of 3 owner(s) added" in n for n in ok.notes)
