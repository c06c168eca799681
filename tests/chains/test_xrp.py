"""XRP Ledger adapter against the FAKE rippled JSON-RPC (tests/support/fake_xrpl.py; no rippled can run here).

State is xrpl-py binary-codec ledger objects on real xrpl-py keys. Covers XRP and RLUSD at a snapshot
ledger while balances change after it, the reserve reported and not subtracted (both FeeSettings
layouts), actNotFound as a zero only at a validated ledger, lgrNotFound on a pruned server with failover
to a full-history one, unvalidated ledgers, bad addresses and issued-currency specs, the config kind,
and faults at 20 % through tests/support/faultproxy.py.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import AdapterError, Asset
from chains.xrp import XrpAdapter, build_endpoint_adapter, currency_code, encode_account, parse_issued, xrp_account
from support.common import balances_then_close
from support.fake_xrpl import RLUSD_HEX, RLUSD_ISSUER, FakeRippled, wallet, xrpl_world
from support.faultproxy import FaultProxy

XRP = Asset("xrp", "XRP", 6)
RLUSD = Asset("xrp", "RLUSD", 18, f"{RLUSD_ISSUER}.RLUSD")


@pytest.fixture(scope="module")
def chain():
    fake = FakeRippled()
    world = xrpl_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url


def read(endpoints, asset, addresses, height, **kw):
    eps = endpoints if isinstance(endpoints, list) else [Endpoint("FAKE-rippled", endpoints, concurrency=4)]

    async def go():
        ads = [XrpAdapter("xrp", e, **kw) for e in eps]
        ad = FailoverAdapter("xrp", ads) if len(ads) > 1 else ads[0]
        return await balances_then_close(asset, ad, addresses, height), ad

    return asyncio.run(go())


def amounts(batch):
    return {r.address: r.amount_base_units for r in batch.results}


def test_addresses_follow_xrpl_base58check():
    from xrpl.core.addresscodec import decode_classic_address, is_valid_classic_address

    w = wallet("addr").classic_address
    assert xrp_account(w) == w and is_valid_classic_address(w)
    assert encode_account(decode_classic_address(w)) == w
    flipped = w[:-1] + ("p" if w[-1] != "p" else "s")
    assert xrp_account(flipped) is None and not is_valid_classic_address(flipped)
    assert xrp_account("0x" + "11" * 20) is None and xrp_account("X7AcgcsBL6XDcUb289X4mJ8djcdyKaB5hJDWMArnXr61cqZ") is None
    assert parse_issued(f"{RLUSD_ISSUER}.RLUSD").currency == RLUSD_HEX  # the 40-hex code rippled answers
    assert currency_code("USD") == "USD" and currency_code("XRP") is None


def test_xrp_at_snapshot_even_after_balances_changed(chain):
    fake, world, url = chain
    addrs = world["addresses"] + [world["late"]]
    batch, ad = read(url, XRP, addrs, world["snapshot"])
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    want = dict(world["xrp"], **{world["late"]: 0})  # created after the snapshot: no account there
    assert amounts(batch) == want
    # the chain head holds other values for these two: the adapter did not read the head
    head = asyncio.run(_head_values(url, [world["changed"], world["late"]]))
    assert head[world["changed"]] != world["xrp"][world["changed"]] and head[world["late"]] > 0
    assert {r.block.number for r in batch.results} == {world["snapshot"]}
    assert all(r.block.at_snapshot and r.block.hash == world["snapshot_hash"] for r in batch.results)
    assert any(f"read at snapshot ledger {world['snapshot']}" in n for n in batch.notes)


async def _head_values(url, addrs):
    ad = XrpAdapter("xrp", Endpoint("FAKE-rippled", url))
    try:
        b = await ad.balances(XRP, addrs, None)
    finally:
        await ad.close()
    assert all(not r.block.at_snapshot for r in b.results)
    assert any("read at latest" in n for n in b.notes)
    return amounts(b)


def test_reserve_is_reported_not_subtracted(chain):
    _, world, url = chain
    addrs = world["addresses"]
    batch, ad = read(url, XRP, addrs, world["snapshot"])
    base, inc = world["reserve"]  # the snapshot ledger carries the post-XRPFees FeeSettings fields
    assert batch.total_base_units == sum(world["xrp"].values())
    assert ad.reserves == {a: (world["owners"][a], base + inc * world["owners"][a]) for a in addrs}
    locked = sum(base + inc * world["owners"][a] for a in addrs)
    assert any("NOT subtracted" in n and f"lock {locked} drops" in n for n in batch.notes)
    # an older ledger has the pre-amendment layout (ReserveBase / ReserveIncrement): 10 XRP + 2 XRP
    older, ad2 = read(url, XRP, addrs[:1], world["snapshot"] - 1)
    assert ad2.reserves[addrs[0]][1] == 10_000_000 + 2_000_000 * world["owners"][addrs[0]]


def test_rlusd_trust_lines_at_snapshot(chain):
    _, world, url = chain
    batch, _ = read(url, RLUSD, world["addresses"], world["snapshot"])
    assert batch.complete and amounts(batch) == world["rlusd"]
    assert world["rlusd"][world["changed"]] > 0 and amounts(batch)[world["changed"]] != 15 * 10**17  # not the later "1.5"
    later, _ = read(url, RLUSD, [world["changed"]], world["snapshot"] + 1)
    assert amounts(later)[world["changed"]] == int(Decimal("1.5") * 10**18)


def test_trust_line_pages_are_followed(chain):
    fake, world, url = chain
    holder = wallet("many-lines").classic_address
    issuers = [wallet(f"iss/{i}").classic_address for i in range(30)]
    fake.close(accounts={holder: (30 * 10**6, 31), **{i: (10**7, 0) for i in issuers}},
               lines={**{(holder, i, "USD"): "5" for i in issuers}, (holder, RLUSD_ISSUER, RLUSD_HEX): "42.25"})
    at = fake.close().index
    batch, ad = read(url, RLUSD, [holder], at)
    assert amounts(batch) == {holder: int(Decimal("42.25") * 10**18)}
    usd = Asset("xrp", "USD", 6, f"{issuers[7]}.USD")
    b2, _ = read(url, usd, [holder], at)
    assert amounts(b2) == {holder: 5 * 10**6}


def test_act_not_found_is_zero_only_at_a_validated_ledger(chain):
    fake, world, url = chain
    nobody = wallet("never-funded").classic_address
    batch, _ = read(url, XRP, [nobody], world["snapshot"])
    assert amounts(batch) == {nobody: 0}
    fake.validated_up_to = world["snapshot"]
    try:
        b2, _ = read(url, XRP, [nobody], world["snapshot"] + 1)
    finally:
        fake.validated_up_to = None
    (r,) = b2.results
    assert r.amount_base_units is None and "not validated" in r.error


def test_pruned_history_is_unread_then_a_full_history_server_reads_it(chain):
    _, world, url = chain
    pruned = FakeRippled()
    xrpl_world(pruned)  # the same chain...
    pruned.oldest = world["snapshot"] + 1  # ...with the snapshot deleted online
    with pruned.serve() as srv:
        alone, _ = read(srv.url, XRP, world["addresses"], world["snapshot"])
        both, _ = read([Endpoint("FAKE-pruned", srv.url), Endpoint("FAKE-full", url)], XRP, world["addresses"],
                       world["snapshot"])
    assert alone.read == 0 and all("lgrNotFound" in r.error and "pruned" in r.error for r in alone.results)
    assert both.complete and amounts(both) == world["xrp"] and {r.endpoint for r in both.results} == {"FAKE-full"}


def test_bad_addresses_are_row_errors_and_bad_tokens_refused(chain):
    _, world, url = chain
    good = world["addresses"][1]
    batch, _ = read(url, XRP, ["rNOTanADDRESS", good, "", good], world["snapshot"])
    assert [r.error for r in batch.results][0] == "not an XRP Ledger address"
    assert batch.results[1].amount_base_units == batch.results[3].amount_base_units == world["xrp"][good]
    with pytest.raises(AdapterError, match="ISSUER.CURRENCY"):
        read(url, Asset("xrp", "RLUSD", 18, "RLUSD"), [good], world["snapshot"])


def test_issued_amount_finer_than_decimals_is_unread_not_rounded(chain):
    fake, world, url = chain
    holder = wallet("dust").classic_address
    fake.close(accounts={holder: (30 * 10**6, 1)}, lines={(holder, RLUSD_ISSUER, RLUSD_HEX): "0.0000001"})
    at = fake.close().index
    batch, _ = read(url, Asset("xrp", "RLUSD", 6, f"{RLUSD_ISSUER}.RLUSD"), [holder], at)
    (r,) = batch.results
    assert r.amount_base_units is None and "more than 6 decimal places" in r.error


@pytest.mark.parametrize("asset", [XRP, RLUSD], ids=["xrp", "rlusd"])
def test_faults_at_20_percent_keep_totals_exact(chain, asset):
    fake, world, url = chain
    rng = random.Random(asset.symbol)
    many = [encode_account(rng.randbytes(20)) for _ in range(150)]
    drops = {a: rng.randrange(10**6, 10**16) for a in many}
    held = {a: f"{rng.randrange(10**9)}.{rng.randrange(10**6):06d}" for a in many[::2]}
    fake.close(accounts={a: (d, 1 if a in held else 0) for a, d in drops.items()},
               lines={(a, RLUSD_ISSUER, RLUSD_HEX): v for a, v in held.items()})
    at = fake.close().index
    truth = drops if asset is XRP else {a: int(Decimal(held[a]) * 10**18) if a in held else 0 for a in many}
    addrs = many * 2
    with FaultProxy(url, rate=0.2, seed=17, timeout_sleep=0.8) as px:
        ep = Endpoint("FAKE-rippled-faulty", px.url, timeout=0.5, concurrency=4)
        batch, ad = read([ep], asset, addrs, at, attempts=14, backoff_min=0.005, backoff_max=0.03)
        injected = dict(px.injected)
    assert sum(injected.values()) >= 3 and len(injected) >= 2, injected
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert amounts(batch) == truth and batch.total_base_units == 2 * sum(truth.values())
    assert sum(ad.provider_errors()["FAKE-rippled-faulty"].values()) > 0


def test_retries_exhausted_give_unread_never_zero(chain):
    _, world, url = chain
    with FaultProxy(url, rate=1.0, seed=5, faults=("http429", "http500", "malformed", "rpc-rate-limit")) as px:
        batch, _ = read([Endpoint("FAKE-proxy", px.url, timeout=1.0)], XRP, world["addresses"], world["snapshot"],
                        attempts=3, backoff_min=0.001, backoff_max=0.005)
    assert batch.read == 0 and batch.total_base_units == 0
    assert all(r.amount_base_units is None and r.error for r in batch.results)


def test_kind_builds_from_config(tmp_path, chain):
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    _, world, url = chain
    p = tmp_path / "n.toml"
    p.write_text(f'[networks.xrp]\nkind = "xrp"\nnative_symbol = "XRP"\nnative_decimals = 6\n'
                 f'[[networks.xrp.endpoints]]\nlabel = "FAKE-rippled"\nurl = "{url}"\n')
    net = load_networks(p)["xrp"]
    ad = make_adapter(net)
    batch = asyncio.run(balances_then_close(XRP, ad, world["addresses"][:3], world["snapshot"]))
    assert batch.complete and amounts(batch) == {a: world["xrp"][a] for a in world["addresses"][:3]}
    assert isinstance(build_endpoint_adapter("xrp", Endpoint("x", url), {}, {}), XrpAdapter)
