"""Stellar adapter against the FAKE Horizon (tests/support/fake_horizon.py; no stellar-core/Horizon runs here).

State is stellar-sdk XDR (AccountEntry / TrustLineEntry in LedgerEntry) on real ed25519 keys. Covers XLM
and USDC: balances unchanged since the snapshot counted at it, balances changed after it labelled latest
with the ledger read (never passed off as the snapshot), absent and merged accounts, the not_found
problem versus a proxy's 404, StrKey checksums, the config kind, and faults at 20 %.
"""

from __future__ import annotations

import asyncio

import pytest

from chains.jsonrpc import Endpoint
from chains.protocol import AdapterError, Asset
from chains.stellar import StellarAdapter, build_endpoint_adapter, encode_account, parse_credit_asset, stellar_account, stroops
from support.common import balances_then_close
from support.fake_horizon import USDC_ISSUER, FakeHorizon, keypair, stellar_world

XLM = Asset("stellar", "XLM", 7)
USDC = Asset("stellar", "USDC", 7, f"USDC:{USDC_ISSUER}")


@pytest.fixture(scope="module")
def horizon():
    fake = FakeHorizon()
    world = stellar_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url


def read(url_or_ep, asset, addresses, height, **kw):
    ep = url_or_ep if isinstance(url_or_ep, Endpoint) else Endpoint("FAKE-horizon", url_or_ep, concurrency=4)

    async def go():
        ad = StellarAdapter("stellar", ep, **kw)
        return await balances_then_close(asset, ad, addresses, height), ad

    return asyncio.run(go())


def by_address(batch):
    return {r.address: r for r in batch.results}


def test_strkeys_match_stellar_sdk():
    from stellar_sdk import StrKey

    kp = keypair("strkey")
    assert stellar_account(kp.public_key) == kp.public_key == encode_account(kp.raw_public_key())
    bad = kp.public_key[:-1] + ("A" if kp.public_key[-1] != "A" else "B")
    assert stellar_account(bad) is None and not StrKey.is_valid_ed25519_public_key(bad)
    muxed = StrKey.encode_med25519_public_key(kp.raw_public_key() + bytes(8))
    assert stellar_account(muxed) is None and stellar_account(kp.secret) is None
    assert stroops("1.5") == 15_000_000 and stroops("0.0000001") == 1 and stroops("1.00000001") is None
    assert parse_credit_asset(f"USDC:{USDC_ISSUER}").issuer == USDC_ISSUER and parse_credit_asset("USDC") is None


def test_xlm_unchanged_since_snapshot_counts_at_it_changed_ones_are_latest(horizon):
    fake, world, url = horizon
    snap = world["snapshot"]
    addrs = world["addresses"] + [world["late"]]
    batch, _ = read(url, XLM, addrs, snap)
    rows = by_address(batch)
    head = fake.head.seq
    assert batch.complete
    for a in world["addresses"]:
        r = rows[a]
        if a in (world["changed"], world["merged"]):
            assert not r.block.at_snapshot and r.block.number == head
        else:
            assert r.block.at_snapshot and r.block.number == snap and r.block.hash == world["snapshot_hash"]
            assert r.amount_base_units == world["xlm"][a]
    # changed after the snapshot: the latest value, labelled latest (never the snapshot's)
    assert rows[world["changed"]].amount_base_units == world["xlm"][world["changed"]] + 123_4567890
    assert rows[world["merged"]].amount_base_units == 0  # merged after the snapshot: 0 now, labelled latest
    assert rows[world["late"]].amount_base_units == 50 * 10**7 and not rows[world["late"]].block.at_snapshot
    assert any(f"read at latest (ledger {head}" in n and f"not at the snapshot {snap}" in n for n in batch.notes)
    assert any(f"counted at snapshot ledger {snap}" in n for n in batch.notes)


def test_usdc_trust_lines(horizon):
    fake, world, url = horizon
    batch, _ = read(url, USDC, world["addresses"], world["snapshot"])
    rows = by_address(batch)
    assert batch.complete
    line_changed = rows[world["line_changed"]]
    assert not line_changed.block.at_snapshot and line_changed.amount_base_units == world["usdc"][world["line_changed"]] + 1
    for a in world["addresses"]:
        if a not in (world["line_changed"], world["merged"], world["changed"]):
            assert rows[a].block.at_snapshot and rows[a].amount_base_units == world["usdc"][a], a
    with pytest.raises(AdapterError, match="7 decimals"):
        read(url, Asset("stellar", "USDC", 6, f"USDC:{USDC_ISSUER}"), world["addresses"][:1], None)


def test_latest_read_without_snapshot(horizon):
    fake, world, url = horizon
    batch, _ = read(url, XLM, world["addresses"][3:5], None)
    assert batch.complete and all(not r.block.at_snapshot and r.block.number == fake.head.seq for r in batch.results)


def test_bad_rows_and_other_networks(horizon):
    _, world, url = horizon
    good = world["addresses"][4]
    batch, _ = read(url, XLM, ["GNOTANADDRESS", good, keypair("x").secret], world["snapshot"])
    errs = [r.error for r in batch.results]
    assert errs[0] == errs[2] == "not a Stellar address" and batch.results[1].amount_base_units == world["xlm"][good]
    other, _ = read(url, XLM, [good], world["snapshot"], passphrase="Test SDF Network ; September 2015")
    assert other.read == 0 and "not 'Test SDF Network" in other.results[0].error


def test_a_proxy_404_is_not_an_absent_account(horizon):
    _, world, url = horizon
    fake = FakeHorizon(fault_rate=1.0, seed=3)
    fake.ledgers = dict(horizon[0].ledgers)
    from support import fake_horizon

    saved = fake_horizon.FAULTS
    fake_horizon.FAULTS = ("proxy404",)
    try:
        with fake.serve() as srv:
            batch, _ = read(srv.url, XLM, world["addresses"][:3], world["snapshot"], attempts=2)
    finally:
        fake_horizon.FAULTS = saved
    assert batch.read == 0 and all("HTTP 404" in r.error for r in batch.results)


def test_faults_at_20_percent_give_no_silent_zero(horizon):
    base, world, _ = horizon
    fake = FakeHorizon(fault_rate=0.2, seed=11, timeout_sleep=0.8)
    fake.ledgers = dict(base.ledgers)
    extra = {keypair(f"f/{i}").public_key: 10**7 + i for i in range(60)}
    fake.close(accounts=extra)
    snap = fake.close().seq
    fake.close()
    with fake.serve() as srv:
        ep = Endpoint("FAKE-horizon-faulty", srv.url, timeout=0.5, concurrency=4)
        batch, ad = read(ep, XLM, list(extra) * 2, snap, attempts=14, backoff_min=0.005, backoff_max=0.03)
    without_proxy_404 = dict(fake.injected)
    assert sum(without_proxy_404.values()) >= 5 and len(without_proxy_404) >= 3, without_proxy_404
    for r in batch.results:  # a proxy's 404 page is retried like any malformed answer; what stays unread says why
        assert (r.amount_base_units == extra[r.address] and r.block.at_snapshot) or (r.amount_base_units is None and r.error)
    assert batch.read >= len(batch.results) - 2 * without_proxy_404.get("proxy404", 0)
    assert sum(ad.provider_errors()["FAKE-horizon-faulty"].values()) > 0


def test_kind_builds_from_config(tmp_path, horizon):
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    _, world, url = horizon
    p = tmp_path / "n.toml"
    p.write_text(f'[networks.stellar]\nkind = "stellar"\nnative_symbol = "XLM"\nnative_decimals = 7\n'
                 f'[[networks.stellar.endpoints]]\nlabel = "FAKE-horizon"\nurl = "{url}"\n')
    ad = make_adapter(load_networks(p)["stellar"])
    batch = asyncio.run(balances_then_close(XLM, ad, world["addresses"][4:6], world["snapshot"]))
    assert batch.complete and all(r.amount_base_units == world["xlm"][r.address] for r in batch.results)
    assert isinstance(build_endpoint_adapter("stellar", Endpoint("x", url), {}, {}), StellarAdapter)
