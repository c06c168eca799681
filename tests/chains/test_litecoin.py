"""Litecoin balances on a real litecoind 0.21 regtest node.

Litecoin Core 0.21 cannot dump its UTXO set at a past height, so the Core adapter reads with
``scantxoutset`` when the tip is the snapshot height. Once funds move past the snapshot it must
refuse (an error per address, never a number) unless rollback is allowed, in which case
``invalidateblock``/``reconsiderblock`` give the exact snapshot balances and the tip comes back.
"""

from __future__ import annotations

import functools
import os

import pytest

from support.common import balances_then_close, run
from support.btc_world import ElectrumX, Litecoind, btc, electrumx_bin, litecoind_bin, sats, tool_missing
from chains.bitcoin_core import BitcoinCoreAdapter
from chains.electrum import ElectrumAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import Asset

LTC = Asset("ltc-regtest", "LTC", 8)


@pytest.fixture(scope="module")
def ltc():
    why = tool_missing("litecoind", litecoind_bin())
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    node = Litecoind.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def funded(ltc):
    """Addresses funded up to the snapshot; returns (H, hash, expected, the node's view at H)."""
    ltc.rpc("createwallet", "w")
    miner = ltc.rpc("getnewaddress", "", "bech32", wallet="w")
    ltc.rpc("generatetoaddress", 110, miner)
    addrs = [ltc.rpc("getnewaddress", "", t, wallet="w") for t in ("legacy", "p2sh-segwit", "bech32") for _ in range(2)]
    expected = {a: 1_000_000 * (i + 1) + 17 * i + 1 for i, a in enumerate(addrs)}
    ltc.rpc("sendmany", "", {a: btc(v) for a, v in expected.items()}, wallet="w")
    ltc.rpc("generatetoaddress", 1, miner)
    empty = ltc.rpc("getnewaddress", "", "bech32", wallet="w")
    expected[empty] = 0
    h = ltc.rpc("getblockcount")
    # the node's own view at H, independent of porscan
    view = {a: 0 for a in expected}
    for u in ltc.rpc("listunspent", 1, 9_999_999, list(expected), wallet="w"):
        view[u["address"]] += sats(u["amount"])
    return h, ltc.rpc("getblockhash", h), expected, view, miner


read = functools.partial(balances_then_close, LTC)  # read(adapter, addresses, height), adapter closed after


def adapter(node, **opts) -> BitcoinCoreAdapter:
    return BitcoinCoreAdapter("ltc-regtest", Endpoint("litecoind", node.url), opts, coin="LTC", chain="regtest")


def test_scan_at_tip_is_exact(ltc, funded):
    h, block_hash, expected, view, _ = funded
    assert expected == view
    batch = run(read(adapter(ltc), list(expected), h))
    assert batch.complete and batch.strategy == "litecoind:scantxoutset"
    assert {r.address: r.amount_base_units for r in batch.results} == expected
    assert all(r.block.number == h and r.block.hash == block_hash for r in batch.results)


def test_after_funds_move_the_height_is_not_honoured_silently(ltc, funded):
    h, block_hash, expected, _, miner = funded
    if ltc.rpc("getblockcount") == h:  # move funds after the snapshot
        moved = list(expected)[:2]
        ltc.rpc("sendmany", "", {moved[0]: btc(5_000_000), moved[1]: btc(700_000)}, wallet="w")
        ltc.rpc("generatetoaddress", 2, miner)
    batch = run(read(adapter(ltc), list(expected), h))
    assert batch.read == 0 and not batch.complete
    assert all(r.amount_base_units is None and f"not the snapshot height {h}" in r.error for r in batch.results)
    # what a scan at the tip says now differs: a number read there would have been wrong
    tip = run(read(adapter(ltc), list(expected), None))
    assert tip.complete and {r.address: r.amount_base_units for r in tip.results} != expected
    assert all(not r.block.at_snapshot for r in tip.results)


def test_rollback_gives_the_snapshot_and_restores_the_tip(ltc, funded):
    h, block_hash, expected, _, miner = funded
    if ltc.rpc("getblockcount") == h:
        ltc.rpc("sendmany", "", {list(expected)[0]: btc(3_000_000)}, wallet="w")
        ltc.rpc("generatetoaddress", 1, miner)
    tip_hash = ltc.rpc("getbestblockhash")
    batch = run(read(adapter(ltc, allow_rollback=True), list(expected), h))
    assert batch.complete and batch.strategy == "litecoind:invalidateblock-rollback"
    assert {r.address: r.amount_base_units for r in batch.results} == expected
    assert all(r.block.hash == block_hash for r in batch.results)
    assert ltc.rpc("getbestblockhash") == tip_hash


def test_electrumx_on_litecoind(ltc, funded):
    h, block_hash, expected, _, _ = funded
    why = tool_missing("electrumx", electrumx_bin())
    if why:
        pytest.skip(why)
    ex = ElectrumX.start(ltc.url, coin="Litecoin")
    try:
        ex.wait_synced(ltc.rpc("getblockcount"))
        batch = run(read(ElectrumAdapter("ltc-regtest", Endpoint("electrumx-ltc", ex.url), coin="LTC", chain="regtest"),
                         list(expected), h))
    finally:
        ex.stop()
    assert batch.complete, [r.error for r in batch.results]
    assert {r.address: r.amount_base_units for r in batch.results} == expected
    assert all(r.block.hash == block_hash for r in batch.results)  # Litecoin block hashes are sha256d
