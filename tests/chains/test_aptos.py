"""Aptos adapter against the FAKE Aptos node REST API (tests/support/fake_aptos.py; no Aptos node can run here).

The stand-in's state is BCS (aptos-sdk) on real Ed25519 keys, versioned per ledger version. Covers: APT
summed over coin store and primary FA store at the snapshot block although every balance changed (and some
stores migrated) afterwards; "latest" labelled; USDt as an FA metadata address (no coin-store reads); a
coin with a paired FA and one without; pruned state and pruned blocks (unread with the reason, an archive
endpoint next); decimals checked; bad addresses; faults at 20 % (exact or unread, never a zero); the kind
built from config.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from aptos_sdk.account_address import AccountAddress

from chains.aptos import AptosAdapter, aptos_address, build_endpoint_adapter, coin_type
from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from support.common import balances_then_close
from support.fake_aptos import APT, FAULTS, USDT_METADATA, FakeAptos, aptos_world

APT_ASSET = Asset("aptos", "APT", 8)
USDT = Asset("aptos", "USDT", 6, USDT_METADATA)


@pytest.fixture(scope="module")
def node():
    fake = FakeAptos()
    world = aptos_world(fake)
    with fake.serve() as srv:
        yield fake, world, srv.url + "/v1"


def read(urls, asset, addresses, height, **kw):
    urls = urls if isinstance(urls, list) else [urls]
    adapters = [AptosAdapter("aptos", Endpoint(f"FAKE-APTOS-{i}", u, concurrency=8, timeout=kw.pop("timeout", 5)),
                             attempts=kw.get("attempts", 6), backoff_min=0.01, backoff_max=0.1)
                for i, u in enumerate(urls)]
    ad = adapters[0] if len(adapters) == 1 else FailoverAdapter("aptos", adapters)
    return asyncio.run(balances_then_close(asset, ad, addresses, height)), ad


def amounts(batch):
    return {r.address: r.amount_base_units for r in batch.results}


def test_address_parsing_agrees_with_the_aptos_sdk():
    rng = random.Random(7)
    texts = ["0x1", "0xa", "1", "0x00AbC", "0x" + "f" * 64, "f" * 64, " 0x2 "]
    for _ in range(300):
        raw = bytes(rng.randrange(256) if i >= rng.randrange(33) else 0 for i in range(32))
        h = raw.hex()
        texts += ["0x" + h, h.lstrip("0") or "0", "0x" + (h.lstrip("0") or "0"), "0x" + h.upper()]
    for t in texts:
        assert aptos_address(t) == "0x" + AccountAddress.from_str_relaxed(t.strip()).address.hex(), t
    for bad in ["", "0x", "0x" + "1" * 65, "0xg1", "hello", "0X1", "T" + "1" * 33]:
        assert aptos_address(bad) is None, bad
        with pytest.raises(Exception):
            AccountAddress.from_str_relaxed(bad)
    assert aptos_address("0x 1") is None
    assert coin_type("0x0001::aptos_coin::AptosCoin") == APT
    assert coin_type("0x1::coin::CoinStore<0x1::aptos_coin::AptosCoin>") is None


def test_apt_at_the_snapshot_sums_coin_store_and_fa_store(node):
    fake, world, url = node
    addrs = list(world["apt"])
    assert world["apt"] != world["apt_latest"]  # every balance moved after the snapshot
    batch, _ = read(url, APT_ASSET, addrs, world["snapshot"])
    assert batch.complete and amounts(batch) == world["apt"]
    block = fake.blocks[world["snapshot"]]
    assert {(r.block.number, r.block.hash, r.block.at_snapshot) for r in batch.results} == {
        (block.height, block.hash, True)}
    coin_total = sum(c for c, _ in world["split"].values())
    fa_total = sum(f for _, f in world["split"].values())
    both = sum(1 for c, f in world["split"].values() if c and f)
    text = " ".join(batch.notes)
    assert f"coin stores: {coin_total} base units" in text and f"primary fungible stores: {fa_total} " in text
    assert f"{both} address(es) hold both" in text and f"ledger version {block.last} " in text
    assert "coin-store+fa-store" in batch.strategy


def test_latest_is_labelled_as_latest(node):
    fake, world, url = node
    batch, _ = read(url, APT_ASSET, list(world["apt"]), None)
    assert batch.complete and amounts(batch) == world["apt_latest"]
    assert all(not r.block.at_snapshot and r.block.number == len(fake.blocks) - 1 for r in batch.results)
    assert any("read at latest (ledger version" in n for n in batch.notes)


def test_usdt_is_read_from_the_fa_store_only(node):
    fake, world, url = node
    before = fake.requests["accounts"]
    batch, _ = read(url, USDT, list(world["usdt"]), world["snapshot"])
    assert batch.complete and amounts(batch) == world["usdt"]
    assert fake.requests["accounts"] == before  # no CoinStore read for a pure fungible asset
    assert batch.strategy.endswith(":fa-store")


def test_coin_with_a_paired_fa_and_one_without(node):
    _, world, url = node
    paired = Asset("aptos", "MOON", 6, world["coin_type"])
    batch, _ = read(url, paired, list(world["coin"]), world["snapshot"])
    assert batch.complete and amounts(batch) == world["coin"]
    lonely = Asset("aptos", "OLD", 4, world["lonely_type"])
    batch, _ = read(url, lonely, list(world["lonely"]), world["snapshot"])
    assert batch.complete and amounts(batch) == world["lonely"]
    assert any("no paired fungible asset" in n for n in batch.notes)


def test_never_funded_account_is_zero_and_bad_rows_are_errors(node):
    _, world, url = node
    good = next(iter(world["apt"]))
    batch, _ = read(url, APT_ASSET, [world["never_funded"], "0xnothex", "", good, good.replace("0x", "")],
                    world["snapshot"])
    rows = batch.results
    assert rows[0].amount_base_units == 0 and rows[0].error is None
    assert rows[1].error == rows[2].error == "not an Aptos address" and rows[1].amount_base_units is None
    assert rows[3].amount_base_units == rows[4].amount_base_units == world["apt"][good]


def test_wrong_decimals_reads_nothing(node):
    _, world, url = node
    batch, _ = read(url, Asset("aptos", "APT", 6), list(world["apt"])[:3], world["snapshot"])
    assert batch.read == 0 and all("has 8 decimals on chain, config says 6" in r.error for r in batch.results)


def test_unknown_fa_metadata_is_an_error_not_a_zero(node):
    _, world, url = node
    batch, _ = read(url, Asset("aptos", "NOPE", 6, "0x" + "ab" * 32), list(world["apt"])[:3], world["snapshot"])
    assert batch.read == 0 and all(r.error for r in batch.results)


def test_pruned_state_is_unread_with_the_reason_and_an_archive_reads_it():
    pruned, archive = FakeAptos(), FakeAptos()
    w1, w2 = aptos_world(pruned), aptos_world(archive)
    assert w1 == w2
    pruned.state_oldest_version = pruned.blocks[w1["snapshot"]].last + 1
    with pruned.serve() as p, archive.serve() as a:
        batch, _ = read(p.url + "/v1", APT_ASSET, list(w1["apt"]), w1["snapshot"])
        assert batch.read == 0
        assert all("pruned" in r.error and "410 version_pruned" in r.error for r in batch.results)
        assert pruned.requests["accounts"] + pruned.requests["view"] < len(w1["apt"])  # stopped asking
        batch, _ = read([p.url + "/v1", a.url + "/v1"], APT_ASSET, list(w1["apt"]), w1["snapshot"])
        assert batch.complete and amounts(batch) == w1["apt"]


def test_pruned_block_is_unread_with_the_reason():
    fake = FakeAptos()
    world = aptos_world(fake)
    fake.oldest_block = world["snapshot"] + 1
    with fake.serve() as srv:
        batch, _ = read(srv.url + "/v1", APT_ASSET, list(world["apt"]), world["snapshot"])
        future, _ = read(srv.url + "/v1", APT_ASSET, list(world["apt"]), len(fake.blocks) + 5)
    assert batch.read == 0 and all("410 block_pruned" in r.error for r in batch.results)
    assert future.read == 0 and all("block_not_found" in r.error for r in future.results)


@pytest.mark.parametrize("kinds", [FAULTS, ("bare404",)])
def test_faults_at_20_percent_give_exact_values_or_unread_never_a_zero(kinds):
    fake = FakeAptos(rate=0.2, kinds=kinds, seed=3, timeout_sleep=1.5)
    world = aptos_world(fake, n=40, prefix="faults")
    with fake.serve() as srv:
        batch, ad = read(srv.url + "/v1", APT_ASSET, list(world["apt"]), world["snapshot"], timeout=0.5,
                         attempts=8)
    assert sum(fake.injected.values()) > 5
    for r in batch.results:
        assert (r.amount_base_units == world["apt"][r.address]) if r.ok else (r.error and r.amount_base_units is None)
    if kinds == FAULTS:  # retried until answered
        assert batch.complete and batch.total_base_units == sum(world["apt"].values())
        assert ad.provider_errors()["FAKE-APTOS-0"]
    else:  # a 404 that is not an Aptos error is refused, not read as "no store"
        assert not batch.complete and any("HTTP 404" in r.error for r in batch.results if not r.ok)


def test_the_kind_is_built_from_config(node):
    from scanner.config.networks import Network
    from scanner.pipeline.adapters import make_adapter

    _, world, url = node
    net = Network(id="aptos", kind="aptos", chain_id=None, native_symbol="APT", native_decimals=8,
                  endpoints=(Endpoint("FAKE-APTOS", url),), endpoint_options=({"headers": {}},))
    ad = make_adapter(net)
    assert isinstance(ad, AptosAdapter)
    batch = asyncio.run(balances_then_close(APT_ASSET, ad, list(world["apt"])[:5], world["snapshot"]))
    assert batch.complete
    assert isinstance(build_endpoint_adapter("aptos", Endpoint("x", url), {}, {}), AptosAdapter)


def test_porscan_balances_with_the_shipped_aptos_coin_keys(tmp_path):
    """``porscan balances`` on an OKX-style file: APTOS and USDT-APTOS rows (the shipped coin keys, their
    contract as configured) against the FAKE node at the snapshot block; a row stating the post-snapshot
    balance is a mismatch (the old value was read), a bad address is unread."""
    import json
    import tomllib

    from scanner.amounts import fmt, from_base_units
    from scanner.cli.main import main
    from scanner.devnet.samplegen import OKX11_HEADER
    from support.common import ROOT

    shipped = tomllib.loads((ROOT / "scanner/config/coins.toml").read_text())
    fake = FakeAptos()
    world = aptos_world(fake, n=10, prefix="cli")
    with fake.serve() as srv:
        (tmp_path / "networks.toml").write_text(
            f'[networks.aptos]\nkind = "aptos"\nnative_symbol = "APT"\nnative_decimals = 8\n'
            f'[[networks.aptos.endpoints]]\nlabel = "FAKE-APTOS"\nurl = "{srv.url}/v1"\nconcurrency = 4\n')
        coins = ""
        for key in ("APTOS", "USDT-APTOS"):
            spec = shipped[key]
            coins += f'[{json.dumps(key)}]\n' + "".join(f"{k} = {json.dumps(v)}\n" for k, v in spec.items())
        (tmp_path / "coins.toml").write_text(coins)
        assert shipped["USDT-APTOS"]["contract"] == USDT_METADATA  # the FAKE serves mainnet's USDt address
        snap = world["snapshot"]
        lines = [f"APTOS,APTOS,{snap},{a},{fmt(from_base_units(v, 8))},msg,0x00,," for a, v in world["apt"].items()]
        lines += [f"USDT-APTOS,APTOS,{snap},{a},{fmt(from_base_units(v, 6))},msg,0x00,," for a, v in world["usdt"].items()]
        moved = next(iter(world["apt"]))
        lines.append(f"APTOS,APTOS,{snap},{moved},{fmt(from_base_units(world['apt_latest'][moved], 8))},msg,0x00,,")
        lines.append(f"APTOS,APTOS,{snap},0xnot-an-address,1,msg,0x00,,")
        (tmp_path / "reserves.csv").write_text(OKX11_HEADER + "\n" + "\n".join(lines) + "\n")
        out = tmp_path / "b.json"
        code = main(["balances", str(tmp_path / "reserves.csv"), "--config", str(tmp_path / "networks.toml"),
                     "--coins", str(tmp_path / "coins.toml"), "--json", str(out), "--no-progress"])
    assert code == 1
    rep = json.loads(out.read_text())
    assert rep["summary"]["by_status"] == {"match": len(world["apt"]) + len(world["usdt"]), "mismatch": 1, "unread": 1}
    rows = [r for r in rep["rows"] if r["status"] == "match"]
    assert all(r["at_snapshot"] and r["block_number"] == snap and r["block_hash"] for r in rows)
    mismatch = next(r for r in rep["rows"] if r["status"] == "mismatch")
    assert int(mismatch["onchain_base_units"]) == world["apt"][moved] != world["apt_latest"][moved]
    unread = next(r for r in rep["rows"] if r["status"] == "unread")
    assert unread["reason"] == "not an Aptos address" and unread["onchain_base_units"] is None
