"""Bitcoin balances at the snapshot height on a real Bitcoin Knots regtest node, through every
adapter: Core/Knots JSON-RPC (UTXO dump at H, scan at the tip, invalidateblock rollback),
ElectrumX on top of the same node, and Esplora (a FAKE server fed with that node's blocks).

The fixture (tests/support/btc_world.py) has every address type, funds moving after H, addresses funded
only after H, addresses with no history and an unconfirmed payment; its expected balances come
from its own bookkeeping, cross-checked with the wallet. Fault injection: 20 % faults through
tests/support/faultproxy.py (Core) and the FAKE Esplora's own faults: totals stay exact, and when retries
run out the results are errors (completeness < 100 %), never zeros.
"""

from __future__ import annotations

import asyncio
import functools
import os

import pytest

from support.common import ROOT, balances_then_close, run
from support.btc_world import BtcWorld, Knots
from chains.bitcoin_core import BitcoinCoreAdapter
from chains.electrum import ElectrumAdapter
from chains.esplora import EsploraAdapter
from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import AdapterError, Asset
from chains.utxo import chain_params, decode_tx, script_pubkey
from support.fake_esplora import LABEL, FakeEsplora, chain_data_from_node
from support.faultproxy import FaultProxy

BTC = Asset("btc-regtest", "BTC", 8)


@pytest.fixture(scope="module")
def world(btc_regtest_world) -> BtcWorld:
    return btc_regtest_world


@pytest.fixture(scope="module")
def esplora_data(knots, world):
    return chain_data_from_node(knots)


def _valid(a: str) -> bool:
    try:
        script_pubkey(a, chain_params("BTC", "regtest"))
        return True
    except ValueError:
        return False


@pytest.fixture(scope="module")
def esplora(esplora_data):
    fake = FakeEsplora(esplora_data, valid_address=_valid).start()
    yield fake
    fake.stop()


read = functools.partial(balances_then_close, BTC)  # read(adapter, addresses, height), adapter closed after


def core(node: Knots, url: str | None = None, **opts) -> BitcoinCoreAdapter:
    kw = {k: opts.pop(k) for k in ("attempts", "backoff_min", "backoff_max") if k in opts}
    return BitcoinCoreAdapter("btc-regtest", Endpoint("knots", url or node.url, timeout=opts.pop("timeout", 60)),
                              opts, coin="BTC", chain="regtest", **kw)


def dump_opts(node: Knots) -> dict:
    return {"dump_dir": node.dump_dir, "dump_dir_local": node.dump_dir_local}


def amounts(batch) -> dict[str, int | None]:
    return {r.address: r.amount_base_units for r in batch.results}


def assert_exact(batch, world: BtcWorld) -> None:
    assert batch.complete, [(r.address, r.error) for r in batch.results if not r.ok]
    assert amounts(batch) == world.expected
    assert all(r.block.number == world.snapshot and r.block.hash == world.snapshot_hash and r.block.at_snapshot
               for r in batch.results)


# ------------------------------------------------------------------------------------------ Core / Knots


def test_fixture_has_every_kind_and_moves_after_the_snapshot(world):
    assert set(world.by_kind) == {"p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr", "multisig-p2sh", "multisig-p2sh-p2wsh",
                                  "multisig-p2wsh"}
    assert all(world.expected[a] > 0 for a in world.by_kind.values())
    assert world.tip > world.snapshot and world.moved_after and world.funded_after_only and world.empty


def test_core_dump_at_snapshot(knots, world):
    batch = run(read(core(knots, **dump_opts(knots)), world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert batch.strategy == "knots:dumptxoutset-rollback"
    assert knots.rpc("getblockcount") == world.tip  # the node is back at its tip
    assert not os.listdir(knots.dump_dir_local)  # the dump file was removed


def test_core_binary_snapshot_at_snapshot(knots, world):
    """Bitcoin Core's compact snapshot format (no CSV): the same exact balances."""
    batch = run(read(core(knots, dump_format="binary", **dump_opts(knots)), world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert batch.strategy == "knots:dumptxoutset-rollback"


def test_core_requests_do_not_grow_with_addresses(knots, world):
    small = run(read(core(knots, **dump_opts(knots)), world.addresses[:2], world.snapshot))
    big = run(read(core(knots, **dump_opts(knots)), world.addresses * 50, world.snapshot))
    assert small.complete and big.complete and small.requests == big.requests <= 4


def test_core_scan_at_tip_agrees_with_dump_at_tip(knots, world):
    scan = run(read(core(knots, mode="scan"), world.addresses, world.tip))
    dump = run(read(core(knots, mode="dump", **dump_opts(knots)), world.addresses, world.tip))
    assert scan.complete and dump.complete and scan.strategy.endswith("scantxoutset")
    assert amounts(scan) == amounts(dump)
    assert amounts(scan) != world.expected  # the tip differs from the snapshot: the test can fail
    assert {r.block.hash for r in scan.results} == {knots.rpc("getblockhash", world.tip)}


def test_core_latest_is_marked_not_at_snapshot(knots, world):
    batch = run(read(core(knots, mode="scan"), world.addresses[:3], None))
    assert batch.complete and all(r.block.number == world.tip and not r.block.at_snapshot for r in batch.results)


def test_core_without_a_way_to_reach_the_snapshot_reads_nothing(knots, world):
    batch = run(read(core(knots), world.addresses, world.snapshot))
    assert batch.read == 0 and not batch.complete
    assert all(r.amount_base_units is None and "invalidateblock" in r.error for r in batch.results)


def test_core_invalidateblock_rollback(knots, world):
    tip_hash = knots.rpc("getbestblockhash")
    batch = run(read(core(knots, mode="rollback", allow_rollback=True), world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert batch.strategy.endswith("invalidateblock-rollback")
    assert knots.rpc("getbestblockhash") == tip_hash and knots.rpc("getnetworkinfo")["networkactive"]


def test_core_height_beyond_tip_and_wrong_chain(knots, world):
    batch = run(read(core(knots, mode="scan"), world.addresses[:2], world.tip + 5))
    assert batch.read == 0 and "behind the snapshot" in batch.results[0].error
    main = BitcoinCoreAdapter("btc", Endpoint("knots", knots.url), {"mode": "scan"}, coin="BTC", chain="main")
    batch = run(read(main, ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"], world.tip))
    assert batch.read == 0 and "regtest" in batch.results[0].error


def test_invalid_addresses_are_errors_not_zeros(knots, world):
    bad = ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bcrt1qnotanaddress", "hello"]  # mainnet, garbage, garbage
    batch = run(read(core(knots, **dump_opts(knots)), world.addresses[:2] + bad, world.snapshot))
    assert batch.read == 2
    assert all(r.amount_base_units is None and "not a BTC regtest address" in r.error for r in batch.results[2:])


def test_core_through_faults_is_exact_or_unread(knots, world):
    """20 % faults on every request: each read is exact, or an error; never a wrong number."""
    with FaultProxy(knots.url, 0.2, seed=7, timeout_sleep=1.5) as proxy:  # the proxy adds the node's auth
        url = proxy.url + "/"
        outcomes = []
        for i in range(6):
            opts = dump_opts(knots) if i % 2 == 0 else {"mode": "rollback", "allow_rollback": True}
            batch = run(read(core(knots, url, timeout=1, backoff_max=0.2, **opts), world.addresses, world.snapshot))
            for r in batch.results:
                assert r.amount_base_units is None or r.amount_base_units == world.expected[r.address]
                assert r.amount_base_units is not None or r.error
            outcomes.append(batch.complete)
        assert sum(proxy.injected.values()) > 0
        assert any(outcomes)
    assert knots.rpc("getblockcount") == world.tip


def test_core_retries_run_out(knots, world):
    with FaultProxy(knots.url, 1.0, seed=3, faults=("http500", "http429")) as proxy:
        url = proxy.url + "/"
        batch = run(read(core(knots, url, attempts=2, backoff_max=0.01, **dump_opts(knots)), world.addresses,
                         world.snapshot))
    assert batch.read == 0 and batch.expected == len(world.addresses) and not batch.complete
    assert all(r.amount_base_units is None and "HTTP" in r.error for r in batch.results)


# ------------------------------------------------------------------------------------------ Electrum


def test_electrum_at_snapshot_agrees_with_core(knots, world, electrumx):
    e = run(read(ElectrumAdapter("btc-regtest", Endpoint("electrumx", electrumx.url, max_batch=5, concurrency=2),
                                 coin="BTC", chain="regtest"), world.addresses, world.snapshot))
    assert_exact(e, world)
    c = run(read(core(knots, **dump_opts(knots)), world.addresses, world.snapshot))
    assert amounts(e) == amounts(c)
    assert {r.block for r in e.results} == {r.block for r in c.results}


def test_electrum_skips_mempool_and_later_blocks(world, electrumx):
    at_tip = run(read(ElectrumAdapter("b", Endpoint("ex", electrumx.url), coin="BTC", chain="regtest"),
                      world.unconfirmed + world.funded_after_only, world.tip))
    assert at_tip.complete
    at_h = run(read(ElectrumAdapter("b", Endpoint("ex", electrumx.url), coin="BTC", chain="regtest"),
                    world.funded_after_only, world.snapshot))
    assert [r.amount_base_units for r in at_h.results] == [0, 0]
    assert all(r.amount_base_units > 0 for r in at_tip.results[len(world.unconfirmed):])


def test_electrum_server_gone_is_unread(world):
    from scanner.devnet.localnodes import free_port

    ad = ElectrumAdapter("b", Endpoint("nowhere", f"tcp://127.0.0.1:{free_port()}", timeout=2), coin="BTC",
                         chain="regtest", attempts=2, backoff_max=0.01)
    with pytest.raises(AdapterError, match="cannot"):
        run(read(ad, world.addresses, world.snapshot))


def test_raw_transactions_decode_like_the_node(knots, world):
    """The pure decoder against the node's own decoding, on segwit, taproot and multisig spends."""
    block = knots.rpc("getblock", world.snapshot_hash, 2)
    for h in range(world.snapshot - 3, world.tip + 1):
        for txid in knots.rpc("getblock", knots.rpc("getblockhash", h))["tx"]:
            raw = knots.rpc("getrawtransaction", txid)
            node_tx = knots.rpc("decoderawtransaction", raw)
            tx = decode_tx(bytes.fromhex(raw), txid)
            assert [o.script.hex() for o in tx.outputs] == [o["scriptPubKey"]["hex"] for o in node_tx["vout"]]
            assert [o.value for o in tx.outputs] == [int(o["value"] * 100_000_000) for o in node_tx["vout"]]
            assert list(tx.inputs) == [(i["txid"], i["vout"]) for i in node_tx["vin"] if "txid" in i]
    with pytest.raises(ValueError):
        decode_tx(bytes.fromhex(knots.rpc("getrawtransaction", block["tx"][0]["txid"])), "00" * 32)


# ------------------------------------------------------------------------------------------ Esplora (FAKE)


def esplora_adapter(url: str, **kw) -> EsploraAdapter:
    return EsploraAdapter("btc-regtest", Endpoint(LABEL, url, concurrency=8, timeout=kw.pop("timeout", 30)),
                          coin="BTC", chain="regtest", **kw)


def test_esplora_at_snapshot(world, esplora):
    batch = run(read(esplora_adapter(esplora.url), world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert all(r.endpoint == LABEL for r in batch.results)
    busy = world.by_kind["p2sh-p2wpkh"]  # 30+ transactions after H: the delta spans two pages
    assert len(esplora.data.by_address[busy]) > 25


def test_esplora_with_faults_is_exact(world, esplora_data):
    with_faults = FakeEsplora(esplora_data, fault_rate=0.2, seed=11, timeout_sleep=1.5, valid_address=_valid).start()
    try:
        batch = run(read(esplora_adapter(with_faults.url, timeout=1, backoff_max=0.05, attempts=8), world.addresses,
                         world.snapshot))
        assert sum(with_faults.injected.values()) > 5
    finally:
        with_faults.stop()
    assert_exact(batch, world)


def test_esplora_retries_run_out(world, esplora_data):
    failing = FakeEsplora(esplora_data, fault_rate=1.0, valid_address=_valid, fault_prefix="/address").start()
    try:
        batch = run(read(esplora_adapter(failing.url, attempts=2, backoff_max=0.01, timeout=1), world.addresses,
                         world.snapshot))
    finally:
        failing.stop()
    assert batch.read == 0 and not batch.complete
    assert all(r.amount_base_units is None and r.error for r in batch.results)


# ------------------------------------------------------------------------------------------ failover


def test_failover_core_then_electrum(knots, world, electrumx):
    dead = core(knots, "http://u:p@127.0.0.1:9/", attempts=1, **dump_opts(knots))
    e = ElectrumAdapter("btc-regtest", Endpoint("electrumx", electrumx.url), coin="BTC", chain="regtest")
    batch = run(read(FailoverAdapter("btc-regtest", [dead, e]), world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert batch.strategy == "electrumx:electrum-history" and any("knots" in n for n in batch.notes)


# ------------------------------------------------------------------------------------------ porscan balances


def test_porscan_balances_on_btc_rows(knots, world, electrumx, tmp_path):
    import json

    from scanner.amounts import fmt, from_base_units
    from scanner.cli.main import main
    from scanner.devnet.samplegen import OKX11_HEADER

    (tmp_path / "networks.toml").write_text(f'''
[networks.btc-regtest]
kind = "bitcoin"
coin = "BTC"
chain = "regtest"
native_symbol = "BTC"
native_decimals = 8
[[networks.btc-regtest.endpoints]]
label = "local-knots"
url = "{knots.url}"
protocol = "core"
dump_dir = "{knots.dump_dir}"
dump_dir_local = "{knots.dump_dir_local}"
''')
    (tmp_path / "coins.toml").write_text('[BTC]\nnetwork = "btc-regtest"\nasset = "BTC"\ndecimals = 8\n')
    lines = [f"BTC,BTC,{world.snapshot},{a},{fmt(from_base_units(v, 8))},msg,sig,," for a, v in world.expected.items()]
    first = next(iter(world.expected))
    lines.append(f"BTC,BTC,{world.snapshot},{first},21000000,msg,sig,,")  # published amount is wrong
    lines.append(f"BTC,BTC,{world.snapshot},bc1qnotmine,1,msg,sig,,")  # not a regtest address: unread
    f = tmp_path / "reserves.csv"
    f.write_text(OKX11_HEADER + "\n" + "\n".join(lines) + "\n")
    base = ["balances", str(f), "--config", str(tmp_path / "networks.toml"), "--coins", str(tmp_path / "coins.toml"),
            "-q"]
    assert main(base + ["--json", str(tmp_path / "a.json")]) == 1
    rep = json.loads((tmp_path / "a.json").read_text())
    assert rep["summary"]["by_status"] == {"match": len(world.expected), "mismatch": 1, "unread": 1}
    (net,) = rep["networks"]
    assert net["blocks"] == [{"number": world.snapshot, "hash": world.snapshot_hash, "at_snapshot": True}]
    assert net["strategies"] == ["local-knots:dumptxoutset-rollback"] and net["requests"] <= 4
    btc = net["coins"][0]
    # the address listed twice is counted once, as scan counts it
    assert int(btc["onchain_total_base_units"]) == sum(world.expected.values()) and net["duplicates"] == 1
    unread = next(r for r in rep["rows"] if r["status"] == "unread")
    assert unread["onchain_base_units"] is None and "not a BTC regtest address" in unread["reason"]
    # the same file through ElectrumX, chosen by the URL scheme of --rpc
    assert main(base + ["--rpc", f"btc-regtest={electrumx.url}", "--json", str(tmp_path / "b.json")]) == 1
    rep2 = json.loads((tmp_path / "b.json").read_text())
    assert rep2["summary"]["by_status"] == rep["summary"]["by_status"]
    assert rep2["networks"][0]["strategies"] == ["btc-regtest-cli:electrum-history"]
    assert [r["onchain_base_units"] for r in rep2["rows"]] == [r["onchain_base_units"] for r in rep["rows"]]


def test_electrum_through_faults_is_exact(world, electrumx):
    """20 % faults on the Electrum connection (drops, garbage, stalls, missing items, busy errors)."""
    from support.tcpfaults import TcpFaultProxy

    with TcpFaultProxy(electrumx.port, 0.2, seed=5, stall=1.5) as proxy:
        ad = ElectrumAdapter("btc-regtest", Endpoint("electrumx-faulty", proxy.url, max_batch=4, concurrency=2,
                                                     timeout=1), coin="BTC", chain="regtest", attempts=8,
                             backoff_max=0.05)
        batch = run(read(ad, world.addresses, world.snapshot))
        assert sum(proxy.injected.values()) >= 3
    assert_exact(batch, world)
    assert sum(ad.client.errors.values()) >= 3


def test_electrum_retries_run_out(world, electrumx):
    from support.tcpfaults import TcpFaultProxy

    # every history request answered "busy" for one item: those addresses stay unread, the others are exact
    with TcpFaultProxy(electrumx.port, 1.0, seed=2, faults=("busy",), match=b"get_history") as proxy:
        ad = ElectrumAdapter("btc-regtest", Endpoint("electrumx-busy", proxy.url, max_batch=3, timeout=2),
                             coin="BTC", chain="regtest", attempts=2, backoff_max=0.01)
        batch = run(read(ad, world.addresses, world.snapshot))
    assert batch.expected == len(world.addresses) and 0 < batch.read < batch.expected and not batch.complete
    assert all("busy" in r.error for r in batch.results if not r.ok)
    assert all(r.amount_base_units == world.expected[r.address] for r in batch.results if r.ok)


# ------------------------------------------------------------------------------------------ hardening


def test_rollback_cleanup_failure_keeps_the_first_error_and_the_network_on(knots, world, monkeypatch):
    """The scan is cancelled and reconsiderblock fails: the network comes back on, CancelledError is raised."""
    from chains.jsonrpc import TransportError

    ad = core(knots, mode="rollback", allow_rollback=True)
    nxt = knots.rpc("getblockhash", world.snapshot + 1)
    tip_hash = knots.rpc("getbestblockhash")
    real_call = ad.slow.call

    async def slow_call(method, params):
        if method == "reconsiderblock":
            raise TransportError("injected: connection lost")
        return await real_call(method, params)

    async def cancelled_scan(wanted, block):
        raise asyncio.CancelledError()

    monkeypatch.setattr(ad.slow, "call", slow_call)
    monkeypatch.setattr(ad, "_scan", cancelled_scan)
    try:
        with pytest.raises(asyncio.CancelledError) as info:
            run(read(ad, world.addresses[:2], world.snapshot))
        assert any("reconsiderblock" in n for n in getattr(info.value, "__notes__", []))
        assert knots.rpc("getnetworkinfo")["networkactive"]
    finally:
        knots.rpc("reconsiderblock", nxt)
        knots.rpc("setnetworkactive", True)
    assert knots.rpc("getbestblockhash") == tip_hash


def test_a_rollback_left_by_a_killed_run_is_undone_before_the_next_read(knots, world):
    """A scan SIGKILLed during an invalidateblock rollback left the node at the snapshot, its next block
    invalid and its network off. The next run found the tip at the snapshot, read it there and left the
    node so (on mainnet: off the network, on a fork it would never leave). Now the adapter of an
    endpoint that allows rollbacks undoes such a rollback of porscan's first, then reads as usual."""
    tip_hash = knots.rpc("getbestblockhash")
    nxt = knots.rpc("getblockhash", world.snapshot + 1)
    knots.rpc("setnetworkactive", False)  # what _rollback_scan does before its scan, the kill came then
    knots.rpc("invalidateblock", nxt)
    try:
        assert knots.rpc("getblockcount") == world.snapshot
        batch = run(read(core(knots, allow_rollback=True), world.addresses, world.snapshot))
        assert_exact(batch, world)
        assert knots.rpc("getbestblockhash") == tip_hash and knots.rpc("getnetworkinfo")["networkactive"]
        assert any("undone" in n for n in batch.notes), batch.notes
    finally:
        knots.rpc("reconsiderblock", nxt)
        knots.rpc("setnetworkactive", True)


def test_dump_timeout_starts_no_second_dump(knots, world, monkeypatch):
    from chains.jsonrpc import TransportError

    ad = core(knots, mode="dump", **dump_opts(knots))
    sent = []

    async def timed_out(method, params):
        sent.append(params[0])
        raise TransportError("timeout (after 1 attempts)")

    monkeypatch.setattr(ad.dumper, "call", timed_out)

    async def twice():
        try:
            return await ad.balances(BTC, world.addresses[:2], world.snapshot), \
                await ad.balances(BTC, world.addresses[:2], world.snapshot)
        finally:
            await ad.close()

    first, second = run(twice())
    assert len(sent) == 1  # neither retried at once under a new name nor started again by the next read
    assert first.read == 0 and "may still be writing" in first.results[0].error
    assert second.read == 0 and "may still be running" in second.results[0].error


_KILLED_DUMPER = """
import asyncio, sys, time
import chains.bitcoin_core as bc
from chains.jsonrpc import Endpoint
from chains.protocol import Asset
url, dump_dir, dump_local, height, *addresses = sys.argv[1:]
bc.parse_dump = lambda *a: time.sleep(600)  # SIGKILLed while it reads the dump
ad = bc.BitcoinCoreAdapter("btc-regtest", Endpoint("knots", url, timeout=60),
                           {"mode": "dump", "dump_dir": dump_dir, "dump_dir_local": dump_local}, coin="BTC", chain="regtest")
asyncio.run(ad.balances(Asset("btc-regtest", "BTC", 8), addresses, int(height)))
"""


def test_a_killed_runs_dump_is_removed_by_the_next_run(knots, world, caplog):
    """SIGKILL while the dump is read leaves the file (GBs on mainnet); the next run removes it."""
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", _KILLED_DUMPER, knots.url, knots.dump_dir, knots.dump_dir_local,
                              str(world.snapshot), *world.addresses[:3]], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        left: list[str] = []
        while time.monotonic() < deadline and not left and child.poll() is None:
            left = [n for n in os.listdir(knots.dump_dir_local) if n.startswith("porscan-") and not n.endswith(".incomplete")]
            time.sleep(0.05)
        assert left, f"no dump appeared (child exit {child.poll()})"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert left[0] in os.listdir(knots.dump_dir_local)  # the killed run could not clean up
    caplog.set_level("WARNING", logger="porscan.bitcoin")
    batch = run(read(core(knots, **dump_opts(knots)), world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert not os.listdir(knots.dump_dir_local)
    assert any("removed stale UTXO dump" in r.getMessage() and left[0] in r.getMessage() for r in caplog.records)


def test_stale_dumps_are_only_those_no_running_porscan_reads(tmp_path):
    import time

    from chains.bitcoin_core import _host_token, stale_dumps

    host = _host_token()
    other_host = "0" * 8 if host != "0" * 8 else "1" * 8
    dead = subprocess_dead_pid()
    names = {
        "mine-alive": f"porscan-bitcoin-10-h{host}p{os.getpid()}-{'a' * 12}.csv",
        "mine-dead": f"porscan-bitcoin-10-h{host}p{dead}-{'b' * 12}.csv",
        "dead-incomplete": f"porscan-btc-x-10-h{host}p{dead}-{'c' * 12}.dat.incomplete",
        "other-host-recent": f"porscan-bitcoin-10-h{other_host}p1-{'d' * 12}.csv",
        "other-host-old": f"porscan-bitcoin-10-h{other_host}p1-{'e' * 12}.csv",
        "legacy-old": f"porscan-bitcoin-10-{'f' * 12}.csv",
        "legacy-recent": f"porscan-bitcoin-11-{'f' * 12}.csv",
        "not-ours": "utxo-10.csv",
    }
    for key, name in names.items():
        (tmp_path / name).write_text("x")
        if key.endswith("-old"):
            os.utime(tmp_path / name, (time.time() - 7200, time.time() - 7200))
    stale = {p.name for p in stale_dumps(tmp_path, max_age=3600)}
    assert stale == {names[k] for k in ("mine-dead", "dead-incomplete", "other-host-old", "legacy-old")}


def subprocess_dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


class _TipRewriter:
    """A line proxy in front of the real ElectrumX that replaces the result of blockchain.headers.subscribe."""

    def __init__(self, upstream_port: int, tip):
        from scanner.devnet.loopthread import LoopThread

        self.upstream_port, self.tip, self.port = upstream_port, tip, None
        self._lt = LoopThread()

    async def _client(self, reader, writer):
        import json

        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port, limit=2**24)
        try:
            while line := await reader.readline():
                up_w.write(line)
                await up_w.drain()
                reply = await up_r.readline()
                if b"headers.subscribe" in line:
                    msg = json.loads(reply)
                    for item in msg if isinstance(msg, list) else [msg]:
                        item["result"] = self.tip
                    reply = json.dumps(msg).encode() + b"\n"
                writer.write(reply)
                await writer.drain()
        except OSError:
            pass
        finally:
            up_w.close()
            writer.close()

    def __enter__(self):
        async def boot():
            self._server = await asyncio.start_server(self._client, "127.0.0.1", 0, limit=2**24)
            self.port = self._server.sockets[0].getsockname()[1]

        self._lt.start(boot)
        return self

    def __exit__(self, *exc):
        async def shutdown():
            self._server.close()

        self._lt.stop(shutdown)


@pytest.mark.parametrize("tip", [{"height": "tip"}, {"hex": "00"}, None, [1]])
def test_electrum_garbled_tip_is_an_adapter_error_and_failover_goes_on(world, electrumx, tip):
    def electrum(port, label):
        return ElectrumAdapter("btc-regtest", Endpoint(label, f"tcp://127.0.0.1:{port}", timeout=10), coin="BTC",
                               chain="regtest", attempts=1)

    with _TipRewriter(electrumx.port, tip) as px:
        with pytest.raises(AdapterError, match="unreadable tip"):
            run(read(electrum(px.port, "garbled"), world.addresses[:2], world.snapshot))
        fo = FailoverAdapter("btc-regtest", [electrum(px.port, "garbled"), electrum(electrumx.port, "electrumx")])
        batch = run(read(fo, world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert any("garbled" in n and "unreadable tip" in n for n in batch.notes)


def test_electrum_close_closes_connections_in_use(world, electrumx):
    """close() while a request waits on a stalled server ends that request at once (nothing left open)."""
    import time

    from support.tcpfaults import TcpFaultProxy

    with TcpFaultProxy(electrumx.port, 1.0, faults=("stall",), stall=4, match=b"get_history") as proxy:
        ad = ElectrumAdapter("btc-regtest", Endpoint("stalled", proxy.url, timeout=60), coin="BTC", chain="regtest",
                             attempts=1)

        async def go():
            task = asyncio.ensure_future(ad.balances(BTC, world.addresses[:2], world.snapshot))
            while not proxy.injected["stall"]:
                await asyncio.sleep(0.05)
            t0 = time.monotonic()
            await ad.close()
            try:
                batch = await asyncio.wait_for(task, 20)
            finally:
                await ad.close()
            return batch, time.monotonic() - t0

        batch, waited = run(go())
        time.sleep(max(0.0, 4.5 - waited))  # let the proxy's stalled handler end before the proxy stops
    assert waited < 2.5 and batch.read == 0  # not the 4 s stall: the connection was closed under it


@pytest.mark.parametrize("adapter", [BitcoinCoreAdapter, ElectrumAdapter, EsploraAdapter])
def test_utxo_adapters_refuse_a_token_asset_before_any_read(adapter):
    """A token configured on a UTXO network is a configuration error, not an empty read."""
    url = "tcp://127.0.0.1:9" if adapter is ElectrumAdapter else "http://127.0.0.1:9/"
    ad = adapter("btc", Endpoint("nowhere", url), coin="BTC", chain="regtest")

    with pytest.raises(AdapterError, match="USDT on btc: only the native coin has UTXO balances here"):
        run(balances_then_close(Asset("btc", "USDT", 6, "0xdead"), ad, ["bcrt1qnothing"], 100))
    assert ad.requests == 0
