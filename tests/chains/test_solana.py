"""Solana adapter against the FAKE Solana JSON-RPC (scanner/devnet/fake_tron_solana.py; no validator can run here).

Wallets are real Ed25519 keypairs (solders), token accounts the program-derived associated accounts
plus extra ones. Covers SOL through getMultipleAccounts (100 keys per call, batched), SPL tokens of
the classic Token program and Token-2022 summed per owner, amounts beyond float precision, base64
accounts, the slot labels (no balance-at-slot on Solana), lagging nodes (minContextSlot), decimals
mismatches, bad addresses, and faults at 20 % through tests/support/faultproxy.py.
"""

from __future__ import annotations

import asyncio

import pytest

from support.common import balances_then_close
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from chains.failover import FailoverAdapter
from chains.solana import TOKEN_2022_PROGRAM, SolanaAdapter, solana_pubkey
from scanner.devnet.fake_tron_solana import USDC_SPL_MINT, USDT_SPL_MINT, FakeSolana, seeded, sol_keypair, solana_world
from support.faultproxy import FaultProxy

SOL = Asset("solana", "SOL", 9)
USDT = Asset("solana", "USDT", 6, USDT_SPL_MINT)


@pytest.fixture(scope="module")
def node():
    fake = FakeSolana()
    world = solana_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url


def read(endpoints, asset, addresses, height, **kw):
    eps = endpoints if isinstance(endpoints, list) else [Endpoint("FAKE-SOLANA", endpoints, max_batch=4)]

    async def go():
        ad = FailoverAdapter("solana", [SolanaAdapter("solana", e, **kw) for e in eps])
        return await balances_then_close(asset, ad, addresses, height), ad

    return asyncio.run(go())


def amounts(batch) -> dict[str, int | None]:
    return {r.address: r.amount_base_units for r in batch.results}


def test_fixture_wallets_are_real_ed25519_keys(node):
    from nacl.signing import SigningKey
    from solders.signature import Signature

    _, world, _ = node
    owner = world["owners"][0]
    kp = sol_keypair("w/0")
    assert str(kp.pubkey()) == owner == solana_pubkey(owner)
    sig = kp.sign_message(b"porscan")
    assert bytes(sig) == SigningKey(seeded("sol/w/0")).sign(b"porscan").signature
    assert Signature.from_bytes(bytes(sig)).verify(kp.pubkey(), b"porscan")


def test_sol_balances_exact_with_slot_labels(node):
    fake, world, url = node
    batch, ad = read(url, SOL, world["owners"], 250_000_000)
    assert batch.complete and amounts(batch) == world["sol"]
    assert max(world["sol"].values()) > 2**62 and 0 in world["sol"].values()  # beyond float; absent accounts
    slots = {r.block.number for r in batch.results}
    assert all(not r.block.at_snapshot and r.block.hash is None for r in batch.results)
    assert slots and max(slots) <= fake.slot and "not the snapshot" in batch.results[0].block.label
    assert any("NOT at snapshot 250000000" in n and "FAKE-SOLANA" in n for n in batch.notes)
    assert fake.calls["getMultipleAccounts"] >= 1 and batch.strategy == "FAKE-SOLANA:getMultipleAccounts"


def test_many_accounts_are_chunked_by_100_and_batched(node):
    fake, world, url = node
    extra = [str(sol_keypair(f"many/{i}").pubkey()) for i in range(250)]
    for i, k in enumerate(extra[::2]):
        fake.lamports[k] = 10**9 + i
    truth = {k: fake.lamports.get(k, 0) for k in extra}
    before = dict(fake.calls)
    batch, _ = read(url, SOL, extra, None)
    assert batch.complete and amounts(batch) == truth
    assert fake.calls["getMultipleAccounts"] - before.get("getMultipleAccounts", 0) == 3  # 100 + 100 + 50
    assert batch.requests == 3  # getSlot, getBlockHeight, one HTTP request with 3 calls (max_batch 4)


def test_usdt_summed_over_accounts_exact_and_never_from_ui_amount(node):
    fake, world, url = node
    batch, _ = read(url, USDT, world["owners"], None)
    assert batch.complete and amounts(batch) == world["usdt"]
    big_owner = world["owners"][1]
    assert world["usdt"][big_owner] > 2**60
    # the float uiAmount the node also sends would be wrong for it
    acct = next(a for a in fake.token_accounts.values() if a.owner == big_owner and a.amount > 2**60)
    assert round(acct.amount / 10**6 * 10**6) != acct.amount
    # one owner's account came back base64 (not parsed by the node) and another owner has two accounts
    assert any(a.unparsed for a in fake.token_accounts.values())
    assert any(sum(1 for a in fake.token_accounts.values() if a.owner == o and a.mint == USDT_SPL_MINT) == 2
               for o in world["owners"])
    assert fake.calls["getTokenAccountsByOwner"] >= 2 * len(world["owners"])


def test_token_2022_and_usdc(node):
    fake, world, url = node
    t22 = Asset("solana", "T22", 6, world["t22_mint"])
    assert fake.mints[world["t22_mint"]][1] == TOKEN_2022_PROGRAM
    batch, _ = read(url, t22, world["owners"], None)
    assert batch.complete and amounts(batch) == world["t22"] and sum(world["t22"].values()) > 0
    batch, _ = read(url, Asset("solana", "USDC", 6, USDC_SPL_MINT), world["owners"], None)
    assert batch.complete and amounts(batch) == world["usdc"]


def test_snapshot_honoured_only_when_the_slot_equals_it():
    fake = FakeSolana(slot=123_456, slot_step=0)
    world = solana_world(fake, n=5, prefix="fixed")
    with fake.serve() as srv:
        at, _ = read(srv.url, SOL, world["owners"], 123_456)
        off, _ = read(srv.url, SOL, world["owners"], 123_455)
    assert all(r.block.at_snapshot and r.block.number == 123_456 for r in at.results)
    assert not any("NOT at snapshot" in n for n in at.notes)
    assert all(not r.block.at_snapshot for r in off.results) and any("NOT at snapshot 123455" in n for n in off.notes)


def test_lagging_node_min_context_slot_is_retried():
    fake = FakeSolana(lagging=3)
    world = solana_world(fake, n=6, prefix="lag")
    with fake.serve() as srv:
        batch, _ = read(srv.url, USDT, world["owners"], None, slot_retry_wait=0.01)
    assert fake.lagging == 0 and batch.complete and amounts(batch) == world["usdt"]


def test_node_that_stays_behind_leaves_rows_unread():
    fake = FakeSolana(lagging=10**6)
    world = solana_world(fake, n=4, prefix="behind")
    with fake.serve() as srv:
        batch, _ = read(srv.url, SOL, world["owners"], None, slot_retries=2, slot_retry_wait=0.01)
    assert batch.read == 0 and all("Minimum context slot" in r.error for r in batch.results)


def test_decimals_mismatch_is_an_error(node):
    _, world, url = node
    batch, _ = read(url, Asset("solana", "USDT", 9, USDT_SPL_MINT), world["owners"][:3], None)
    holders = [r for r in batch.results if world["usdt"][r.address]]
    assert holders and all(r.amount_base_units is None and "decimals" in r.error for r in holders)


def test_bad_addresses_and_duplicates(node):
    _, world, url = node
    a = world["owners"][0]
    batch, _ = read(url, SOL, [a, a, "not-base58-0OIl", "1" * 20, "0x" + "ab" * 20], None)
    r = batch.results
    assert r[0].amount_base_units == r[1].amount_base_units == world["sol"][a]
    assert all(x.amount_base_units is None and x.error == "not a Solana address" for x in r[2:])
    assert batch.read == 2


def test_failover_and_unknown_method_errors(node):
    _, world, url = node
    eps = [Endpoint("FAKE-dead", "http://127.0.0.1:9", timeout=0.5), Endpoint("FAKE-SOLANA", url)]
    batch, _ = read(eps, SOL, world["owners"], None, attempts=2, backoff_max=0.01)
    assert batch.complete and {r.endpoint for r in batch.results} == {"FAKE-SOLANA"}
    assert any(n.startswith("FAKE-dead") for n in batch.notes)


@pytest.mark.parametrize("asset", [SOL, USDT], ids=["sol", "usdt"])
def test_faults_at_20_percent_keep_totals_exact(node, asset):
    fake, world, url = node
    truth = dict(world["sol"] if asset is SOL else world["usdt"])
    if asset is SOL:  # enough getMultipleAccounts calls (100 keys each) for faults to land
        for i in range(1500):
            key = str(sol_keypair(f"faults/{i}").pubkey())
            if i % 3:
                fake.lamports[key] = 5 * 10**9 + i
            truth[key] = fake.lamports.get(key, 0)
    addrs = list(truth) * 2
    with FaultProxy(url, rate=0.2, seed=13, timeout_sleep=0.8) as px:
        ep = Endpoint("FAKE-SOLANA-faulty", px.url, timeout=0.5, max_batch=1 if asset is SOL else 3, concurrency=4)
        batch, ad = read([ep], asset, addrs, None, attempts=14, backoff_min=0.005, backoff_max=0.03)
        injected = dict(px.injected)
    assert sum(injected.values()) >= 3 and len(injected) >= 2, injected
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert amounts(batch) == truth and batch.total_base_units == 2 * sum(truth.values())
    assert sum(ad.provider_errors()["FAKE-SOLANA-faulty"].values()) > 0


def test_retries_exhausted_give_incomplete_never_zero(node):
    _, world, url = node
    with FaultProxy(url, rate=1.0, seed=5, faults=("http429", "http500", "malformed")) as px:
        batch, _ = read([Endpoint("FAKE-proxy", px.url, timeout=1.0)], SOL, world["owners"], None,
                        attempts=3, backoff_min=0.001, backoff_max=0.005)
    assert batch.read == 0 and batch.expected == len(world["owners"]) and batch.total_base_units == 0
    assert all(r.amount_base_units is None and r.error for r in batch.results)


def test_partial_faults_report_completeness(node):
    """Every multi-call batch loses one item and nothing is retried: those owners are unread, the rest exact."""
    _, world, url = node
    with FaultProxy(url, rate=1.0, seed=9, faults=("missing-items",), min_items=2) as px:
        batch, _ = read([Endpoint("FAKE-proxy", px.url, max_batch=4)], USDT, world["owners"], None, attempts=1)
    assert 0 < batch.read < batch.expected
    for r in batch.results:
        if r.ok:
            assert r.amount_base_units == world["usdt"][r.address]
        else:
            assert r.amount_base_units is None and "missing" in r.error
