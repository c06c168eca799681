"""What an Electrum server says is checked before it is summed, because every figure a user sees must
be true; against the real ElectrumX on Bitcoin Knots regtest (tests/support/btc_world.py):

* the genesis check: a server on another chain than the one configured reads nothing (an
  AdapterError with the reason, so failover moves on and the reason reaches the notes), however
  plausible its answers; with the right endpoint second, failover reads every address from it;
* the status-hash check: a history that does not hash to the server's own status for that script
  hash (here: a FAKE lying middlebox in front of the real ElectrumX drops one entry) leaves that
  address unread, never a wrong number; a disagreement that goes away on the re-read is no error;
* the subscriptions the check needs are dropped again, on the connection that made them;
* the status computation itself, against the protocol's published example and ElectrumX's values.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import threading

import pytest

from support.btc_world import BtcWorld, ElectrumX, Litecoind, litecoind_bin, need_tool
from chains.electrum import STATUS_MISMATCH, ElectrumAdapter, electrum_status, status_matches
from chains.failover import FailoverAdapter
from chains.jsonrpc import Endpoint
from chains.protocol import AdapterError, Asset
from chains.utxo import GENESIS_HASHES, chain_params, electrum_scripthash, script_pubkey
from support.common import balances_then_close, run

BTC = Asset("btc-regtest", "BTC", 8)
BTC_REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GET_HISTORY = "blockchain.scripthash.get_history"

read = functools.partial(balances_then_close, BTC)  # read(adapter, addresses, height), adapter closed after


@pytest.fixture(scope="module")
def world(btc_regtest_world) -> BtcWorld:
    return btc_regtest_world


def electrum(url: str, label: str = "electrumx", options: dict | None = None, coin: str = "BTC",
             chain: str = "regtest", **endpoint) -> ElectrumAdapter:
    return ElectrumAdapter("btc-regtest", Endpoint(label, url, **endpoint), options, coin=coin, chain=chain,
                           attempts=2, backoff_max=0.05)


def amounts(batch) -> dict[str, int | None]:
    return {r.address: r.amount_base_units for r in batch.results}


def assert_exact(batch, world: BtcWorld) -> None:
    assert batch.complete, [(r.address, r.error) for r in batch.results if not r.ok]
    assert amounts(batch) == world.expected
    assert all(r.block.number == world.snapshot and r.block.hash == world.snapshot_hash for r in batch.results)


def scripthash(address: str) -> str:
    return electrum_scripthash(script_pubkey(address, chain_params("BTC", "regtest")))


def ask(port: int, calls: list[tuple[str, list]]) -> list:
    """Results of ``calls`` as one batch on a fresh connection to an Electrum server (a plain socket)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rwb")
        batch = [{"id": 0, "method": "server.version", "params": ["t", "1.4"]}]
        batch += [{"id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls, 1)]
        f.write(json.dumps(batch).encode() + b"\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if isinstance(reply, list):
                break
    by_id = {r["id"]: r for r in reply}
    return [by_id[i].get("result") for i in range(1, len(calls) + 1)]


class LyingProxy:
    """FAKE middlebox: a TCP proxy in front of the real ElectrumX that forwards every line unchanged,
    records the calls per connection, and drops the first entry of the ``get_history`` reply for the
    script hashes in ``drop_for`` (``lies`` times; None: always). The ``subscribe`` status is passed on
    as the server sent it, so the history no longer hashes to it."""

    def __init__(self, upstream_port: int, drop_for: set[str] = frozenset(), lies: int | None = None):
        self.upstream_port = upstream_port
        self.drop_for = set(drop_for)
        self.lies_left = lies
        self.lied = 0
        self.calls: list[tuple[int, str, list]] = []  # (connection number, method, params)
        self.results: list[tuple[int, str, list, object]] = []  # (connection, method, params, result)
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._conns = 0

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def __enter__(self) -> "LyingProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.close()
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._conns += 1
                n = self._conns
                self._socks += [client, up]
            pending: dict[int, tuple[str, list]] = {}
            threading.Thread(target=self._requests, args=(n, client, up, pending), daemon=True).start()
            threading.Thread(target=self._replies, args=(n, up, client, pending), daemon=True).start()

    def _requests(self, n: int, client: socket.socket, up: socket.socket, pending: dict) -> None:
        try:
            for line in client.makefile("rb"):
                msg = json.loads(line)
                for call in msg if isinstance(msg, list) else [msg]:
                    pending[call.get("id")] = (call["method"], call.get("params", []))
                    with self._lock:
                        self.calls.append((n, call["method"], call.get("params", [])))
                up.sendall(line)
        except (OSError, ValueError):
            pass
        finally:
            _close(up)

    def _replies(self, n: int, up: socket.socket, client: socket.socket, pending: dict) -> None:
        try:
            for line in up.makefile("rb"):
                msg = json.loads(line)
                changed = False
                for item in msg if isinstance(msg, list) else [msg]:
                    method, params = pending.pop(item.get("id"), (None, None))
                    if method is None:
                        continue
                    result = item.get("result")
                    with self._lock:
                        if (method == GET_HISTORY and params[0] in self.drop_for and isinstance(result, list)
                                and len(result) > 1 and self.lies_left != 0):
                            del result[0]
                            changed = True
                            self.lied += 1
                            if self.lies_left is not None:
                                self.lies_left -= 1
                        self.results.append((n, method, params, result))
                client.sendall(json.dumps(msg).encode() + b"\n" if changed else line)
        except (OSError, ValueError):
            pass
        finally:
            _close(client)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ------------------------------------------------------------------------------------------ status hashes


def test_status_of_the_protocol_example():
    """The Electrum protocol's own example (docs/protocol-basics.rst, "Status"): three confirmed
    entries (two in one block, in block order), then mempool entries with height 0 and -1."""
    history = [("a6c9c361bd0bc536d6a22648efbf8f9b200e425ef6c3a7a9669dc444c532a347", 2472),
               ("9c42f84b2fcdaff676ba25d9d4941741cc0d1a01cce0c23fdc4c0b2afa38431c", 2473),
               ("770f2d4371b3fabb902dd9a103e2dd005fcd3971181078fca4a2a1d6ff127b30", 2473),
               ("80b19848aed792565ab7c5a79b7c2a00fbf985741579396ebe0ab6098e607311", 0),
               ("e02a1dadfa83b996b24175df807b271ea5d02937ef5b35c195fac1e1bdc3198f", 0),
               ("bb4c8ab438c13b89ca80d1d5bee25b0b6b7f55673f4d801998ba97db161d9e85", -1)]
    status = "78e96c6562cafa71c115503b9411fdfdc595a45031e2ab76ff75162fe1b0590d"
    assert electrum_status(history) == status
    assert electrum_status([]) is None
    assert status_matches(status, history) and status_matches(status.upper(), history)
    assert status_matches(None, [])
    # the mempool part listed in another order still stands for the same entries
    assert status_matches(status, history[:3] + history[3:][::-1])
    # an entry dropped, added, moved between confirmed blocks or with another height: not this history
    for other in (history[1:], history[:-1], history + [history[0]], history[:1] + history[2:3] + history[1:2] + history[3:],
                  [(history[0][0], 2471)] + history[1:], []):
        assert not status_matches(status, other)
    assert not status_matches(None, history) and not status_matches(12, history) and not status_matches(status, [])


def test_status_agrees_with_electrumx(world, electrumx):
    """ElectrumX's own status for funded addresses (one with an unconfirmed payment, height 0) is the
    hash of its own history as computed here."""
    addresses = world.unconfirmed + world.moved_after + world.empty[:1]
    calls = []
    for a in addresses:
        calls += [("blockchain.scripthash.subscribe", [scripthash(a)]), (GET_HISTORY, [scripthash(a)])]
    res = ask(electrumx.port, calls)
    mempool_seen = False
    for k, a in enumerate(addresses):
        status, history = res[2 * k], res[2 * k + 1]
        entries = [(h["tx_hash"], h["height"]) for h in history]
        mempool_seen |= any(h <= 0 for _, h in entries)
        assert electrum_status(entries) == status, a
    assert mempool_seen and res[-2] is None and res[-1] == []


# ------------------------------------------------------------------------------------------ genesis


def test_right_server_reads_as_before_and_drops_its_subscriptions(world, electrumx):
    def unsubscribed():
        with proxy._lock:
            return {(n, p[0]): r for n, m, p, r in proxy.results if m == "blockchain.scripthash.unsubscribe"}

    async def read_and_wait_for_the_unsubscriptions(ad):
        try:
            batch = await ad.balances(BTC, world.addresses, world.snapshot)
            for _ in range(200):  # pipelined: their replies come while the connections stay open
                if len(unsubscribed()) >= len(world.addresses):
                    break
                await asyncio.sleep(0.025)
            return batch
        finally:
            await ad.close()

    with LyingProxy(electrumx.port) as proxy:  # lies about nothing: records the calls
        ad = electrum(proxy.url, "electrumx", max_batch=5, concurrency=2)
        batch = run(read_and_wait_for_the_unsubscriptions(ad))
    assert_exact(batch, world)
    assert not any("genesis" in n for n in batch.notes)
    methods = [m for _, m, _ in proxy.calls]
    assert methods.count("blockchain.block.header") >= 3  # block 0 once, then H before and after
    assert [p for _, m, p in proxy.calls if m == "blockchain.block.header"][0][0] == 0
    subs = {(n, p[0]) for n, m, p in proxy.calls if m == "blockchain.scripthash.subscribe"}
    histories = {p[0] for _, m, p in proxy.calls if m == GET_HISTORY}
    assert {sh for _, sh in subs} == histories == {scripthash(a) for a in world.addresses}
    # every subscription was dropped on the connection that made it, and the server had it
    dropped = unsubscribed()
    assert set(dropped) == subs and all(r is True for r in dropped.values())


def test_server_of_another_chain_reads_nothing(world, electrumx):
    """The regtest server for an adapter that expects BTC mainnet (node_chain), Litecoin, or Dash (whose
    X11 headers cannot be hashed: server.features' genesis_hash is compared instead)."""
    cases = [({"node_chain": "main"}, "BTC", "BTC/main"), (None, "LTC", "LTC/regtest"),
             (None, "DASH", "DASH/regtest")]
    for options, coin, key in cases:
        with LyingProxy(electrumx.port) as proxy:
            ad = electrum(proxy.url, "wrong-chain", options, coin=coin)
            with pytest.raises(AdapterError) as info:
                run(read(ad, world.addresses if coin == "BTC" else [], world.snapshot))
        msg = str(info.value)
        (want,) = GENESIS_HASHES[tuple(key.split("/"))]
        assert msg == (f"wrong-chain: serves genesis {BTC_REGTEST_GENESIS}, not {key}'s {want}: another chain, "
                       "nothing read from it")
        assert not [m for _, m, _ in proxy.calls if "scripthash" in m or "transaction" in m], key


def test_failover_skips_the_wrong_chain_endpoint(world, electrumx):
    wrong = electrum(electrumx.url, "mainnet-electrum", {"node_chain": "main"})
    right = electrum(electrumx.url, "regtest-electrum")
    batch = run(read(FailoverAdapter("btc-regtest", [wrong, right]), world.addresses, world.snapshot))
    assert_exact(batch, world)
    assert batch.strategy == "regtest-electrum:electrum-history"
    assert any(n.startswith("mainnet-electrum: serves genesis") and "another chain" in n for n in batch.notes)


def test_failover_past_a_litecoin_server_configured_as_bitcoin(world, electrumx):
    """A real server of another coin whose chain is taller than the snapshot height: without the
    genesis check its empty histories for these scripts would read as zeros."""
    need_tool("litecoind", litecoind_bin())
    from signatures.encoding import segwit_encode

    ltc = Litecoind.start()
    try:
        ltc.rpc("generatetoaddress", world.tip + 20, segwit_encode("rltc", 0, bytes(range(20))))
        ex = ElectrumX.start(ltc.url, coin="Litecoin")
        try:
            ex.wait_synced(world.tip + 20)
            wrong = electrum(ex.url, "ltc-electrum")
            right = electrum(electrumx.url, "btc-electrum")
            batch = run(read(FailoverAdapter("btc-regtest", [wrong, right]), world.addresses, world.snapshot))
        finally:
            ex.stop()
    finally:
        ltc.stop()
    assert_exact(batch, world)
    assert batch.strategy == "btc-electrum:electrum-history"
    (ltc_genesis,) = GENESIS_HASHES[("LTC", "regtest")]
    assert f"ltc-electrum: serves genesis {ltc_genesis}, not BTC/regtest's {BTC_REGTEST_GENESIS}" in " ".join(batch.notes)


def test_node_chain_must_be_a_chain():
    with pytest.raises(AdapterError, match="node_chain 'mainnet' is not one of main, test, regtest"):
        electrum("tcp://127.0.0.1:1", options={"node_chain": "mainnet"})


# ------------------------------------------------------------------------------------------ histories


def test_history_with_an_entry_dropped_is_unread(world, electrumx):
    target = world.by_kind["p2pkh"]  # several entries at <= H: dropping one changes its balance
    with LyingProxy(electrumx.port, drop_for={scripthash(target)}) as proxy:
        batch = run(read(electrum(proxy.url, "lying-electrum", max_batch=6, concurrency=2), world.addresses,
                         world.snapshot))
    bad = next(r for r in batch.results if r.address == target)
    assert bad.amount_base_units is None and bad.error == STATUS_MISMATCH, (bad, world.expected[target])
    assert proxy.lied == 2  # the read and the re-read
    assert batch.read == len(world.addresses) - 1 and not batch.complete
    assert {r.address: r.amount_base_units for r in batch.results if r.ok} == \
        {a: v for a, v in world.expected.items() if a != target}


def test_a_disagreement_gone_on_the_re_read_is_no_error(world, electrumx):
    """Only the first history reply is short (as if the mempool had moved between the two calls):
    the re-read agrees with its status and the address is read exactly."""
    target = world.by_kind["multisig-p2wsh"]
    with LyingProxy(electrumx.port, drop_for={scripthash(target)}, lies=1) as proxy:
        batch = run(read(electrum(proxy.url, "flaky-electrum"), world.addresses, world.snapshot))
    assert proxy.lied == 1
    assert_exact(batch, world)
    assert [p[0] for _, m, p in proxy.calls if m == GET_HISTORY].count(scripthash(target)) == 2
