"""aelf (ELF, MultiToken symbols) through a node's Web API, against the FAKE node of tests/support/fake_aelf.py
(no aelf node runs here; it parses and answers with aelf-sdk's protobuf types and checks each view's
signature as a node does): exact balances, labelled latest when the chain moved past the snapshot, address
forms and checksums, faults at 20 % without a silent zero, node errors per row, the kind from config."""

from __future__ import annotations

import asyncio

import base58
import pytest

from chains.aelf import AelfAdapter, aelf_address
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
from support.fake_aelf import FakeAelf, aelf_world
from support.httpfaults import HttpFaults

ELF = Asset("aelf", "ELF", 8)
USDT = Asset("aelf", "USDT", 6, "USDT")


def read(url, asset, addrs, height, opts=None, **kw):
    async def go():
        ad = AelfAdapter("aelf", Endpoint("FAKE-AELF", url, timeout=kw.pop("timeout", 5.0), concurrency=4), opts or {},
                         **kw)
        try:
            return await ad.balances(asset, addrs, height), ad
        finally:
            await ad.close()

    return asyncio.run(go())


@pytest.fixture
def world():
    fake = FakeAelf()
    w = aelf_world(fake, 20)
    with fake.serve() as srv:
        yield fake, w, srv.url


def test_balances_exact_and_labelled_latest_when_the_chain_moved(world):
    fake, w, url = world
    batch, _ = read(url, ELF, list(w["elf"]), w["snapshot"])
    got = {r.address: r.amount_base_units for r in batch.results}
    assert batch.complete and got == w["elf_latest"] and got != w["elf"]
    assert all(r.block.number == fake.height and r.block.hash == fake.block_hash(fake.height)
               and not r.block.at_snapshot for r in batch.results)
    (note,) = batch.notes
    assert f"read at latest (block {fake.height}" in note and f"not at the snapshot (block {w['snapshot']})" in note
    assert fake.calls["executeTransaction"] == len(w["elf"]) + 1  # one GetBalance each, one genesis lookup


def test_other_symbols_and_the_snapshot_tip(world):
    fake, w, url = world
    batch, _ = read(url, USDT, list(w["usdt"]), fake.height)
    assert {r.address: r.amount_base_units for r in batch.results} == w["usdt"]
    assert all(r.block.at_snapshot for r in batch.results) and not batch.notes


def test_address_forms_and_checksums(world):
    fake, w, url = world
    a = next(iter(w["elf"]))
    raw = base58.b58decode_check(a)
    wrong_sum = base58.b58encode(raw + b"\0\0\0\0").decode()
    short = base58.b58encode_check(raw[:20]).decode()
    rows = [a, f"ELF_{a}_AELF", f"ELF_{a}_tDVV", f"USDT_{a}_AELF", wrong_sum, short, "0x" + raw.hex(), ""]
    batch, _ = read(url, ELF, rows, None)
    assert [r.amount_base_units for r in batch.results[:2]] == [w["elf_latest"][a]] * 2
    assert [r.error for r in batch.results[2:]] == ["not an aelf address"] * 6
    assert aelf_address(f"ELF_{a}_tDVV", "tDVV") == raw


def test_a_node_error_is_a_row_error_not_a_zero(world):
    fake, w, url = world
    batch, _ = read(url, ELF, list(w["elf"])[:3], None, {"token_contract": base58.b58encode_check(fake.genesis).decode()})
    assert batch.read == 0 and all("20011" in r.error and "method not found" in r.error for r in batch.results)


def test_faults_at_20_percent_keep_totals_exact():
    fake = FakeAelf()
    w = aelf_world(fake, 40, seed="faults")
    with fake.serve() as srv:
        fake.faults = HttpFaults(0.2, seed=3, timeout_sleep=0.6)
        batch, ad = read(srv.url, ELF, list(w["elf_latest"]) * 2, None, attempts=12, backoff_min=0.005,
                         backoff_max=0.03, timeout=0.4)
    assert sum(fake.faults.injected.values()) > 5 and len(fake.faults.injected) >= 3
    assert batch.complete, [r.error for r in batch.results if not r.ok][:3]
    assert batch.total_base_units == 2 * sum(w["elf_latest"].values())
    assert sum(ad.provider_errors()["FAKE-AELF"].values()) >= sum(fake.faults.injected.values()) - 2


def test_an_endpoint_that_always_fails_gives_errors_not_zeros():
    fake = FakeAelf()
    w = aelf_world(fake, 5)
    fake.faults = HttpFaults(1.0, kinds=("http500", "malformed"))
    with fake.serve() as srv:
        batch, _ = read(srv.url, ELF, list(w["elf"]), None, attempts=2, backoff_min=0.001, backoff_max=0.002)
    assert batch.read == 0 and all(r.amount_base_units is None and r.error for r in batch.results)


def test_a_node_of_another_chain_is_not_read(world):
    fake, w, url = world
    fake.chain = "tDVV"
    batch, _ = read(url, ELF, list(w["elf"])[:2], None)
    assert batch.read == 0 and all("chain 'tDVV', not AELF" in r.error for r in batch.results)


def test_kind_aelf_from_config(tmp_path, world):
    from scanner.config.networks import load_networks
    from scanner.pipeline.adapters import make_adapter

    fake, w, url = world
    (tmp_path / "n.toml").write_text(f'''
[networks.aelf-test]
kind = "aelf"
native_symbol = "ELF"
native_decimals = 8
chain = "AELF"
[[networks.aelf-test.endpoints]]
label = "FAKE-aelf"
url = "{url}"
''')
    net = load_networks(tmp_path / "n.toml")["aelf-test"]

    async def go():
        ad = make_adapter(net)
        try:
            return await ad.balances(Asset("aelf-test", "ELF", 8), list(w["elf"]), None)
        finally:
            await ad.close()

    batch = asyncio.run(go())
    assert {r.address: r.amount_base_units for r in batch.results} == w["elf_latest"]
