"""Bitcoin-family test nodes and fixture worlds on real regtest chains.

* :class:`Knots`: Bitcoin Knots regtest inside the Debian sid chroot built by
  scripts/bitcoin-tools.sh (data dir inside the chroot under a per-session folder).
* :class:`Litecoind`: litecoind 0.21 regtest from bookworm.
* :class:`ElectrumX`: ElectrumX 1.x on top of a node.

Every server binds 127.0.0.1 on a free port and is stopped by its own ``stop`` RPC / by PID.

:func:`build_world` makes the fixture: P2PKH, P2SH-P2WPKH, P2WPKH, P2TR, 2-of-3 P2SH, P2SH-P2WSH
and P2WSH multisig addresses (all in one "holder" wallet, which can spend from them) funded up to
the snapshot height H, funds moving after H (spent from and paid to; plus an unconfirmed payment),
addresses that only get money after H and addresses with no history. The expected balances are
counted by the fixture itself (amounts it sent and spent) and cross-checked against the holder
wallet's own ``listunspent`` at H, never computed by porscan code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scanner.devnet.localbtc import (BTC_CACHE, ROOT, CoreNode, Knots, Litecoind, RpcFailure, btc, electrumx_bin,  # noqa: F401
                              knots_root, litecoind_bin, rpc, sats, tool_missing)
from scanner.devnet.localnodes import end_process, free_port


@dataclass
class ElectrumX:
    process: subprocess.Popen
    port: int
    dbdir: Path

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, daemon_url: str, coin: str = "Bitcoin") -> "ElectrumX":
        dbdir = Path(tempfile.mkdtemp(prefix="porscan-ex."))
        port, rpc_port = free_port(), free_port()
        env = dict(os.environ, COIN=coin, NET="regtest", DAEMON_URL=daemon_url, DB_DIRECTORY=str(dbdir),
                   DB_ENGINE="leveldb", SERVICES=f"tcp://127.0.0.1:{port},rpc://127.0.0.1:{rpc_port}",
                   ALLOW_ROOT="1", COST_SOFT_LIMIT="0", COST_HARD_LIMIT="0", MAX_SEND=str(2**24),
                   LOG_LEVEL="info", PEER_DISCOVERY="off", PEER_ANNOUNCE="")
        log_path = dbdir / "electrumx.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen([electrumx_bin()], env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ex = cls(proc, port, dbdir)
        deadline = time.monotonic() + 60
        while "TCP server listening" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log_path.read_text(errors="replace")[-800:]
                ex.stop()
                raise RuntimeError(f"ElectrumX did not start: {text}")
            time.sleep(0.05)
        return ex

    def wait_synced(self, height: int, timeout: float = 60) -> None:
        """Until the server's tip is ``height`` (asks it over the Electrum protocol)."""
        import socket

        deadline = time.monotonic() + timeout
        while True:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                f = s.makefile("rwb")
                f.write(b'[{"id":1,"method":"server.version","params":["t","1.4"]},'
                        b'{"id":2,"method":"blockchain.headers.subscribe","params":[]}]\n')
                f.flush()
                reply = json.loads(f.readline())
            tip = next(r["result"]["height"] for r in reply if r["id"] == 2)
            if tip >= height:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"ElectrumX at {tip}, wanted {height}")
            time.sleep(0.1)

    def stop(self) -> None:
        end_process(self.process, 20)
        shutil.rmtree(self.dbdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------ keys


def _wif(secret: bytes, testnet_prefix: int = 0xEF) -> str:
    from signatures.encoding import b58check_encode

    return b58check_encode(bytes([testnet_prefix]) + secret + b"\x01")


def multisig_address(node: CoreNode, wallet: str, kind: str, tag: str) -> str:
    """A 2-of-3 multisig address whose three private keys are imported into ``wallet`` (spendable)."""
    keys = [_wif(hashlib.sha256(f"porscan-btc-world/{tag}/{i}".encode()).digest()) for i in range(3)]
    inner = f"multi(2,{','.join(keys)})"
    desc = {"p2sh": f"sh({inner})", "p2sh-p2wsh": f"sh(wsh({inner}))", "p2wsh": f"wsh({inner})"}[kind]
    info = node.rpc("getdescriptorinfo", desc)
    full = f"{desc}#{info['checksum']}"
    res = node.rpc("importdescriptors", [{"desc": full, "timestamp": "now"}], wallet=wallet)
    assert all(r["success"] for r in res), res
    (addr,) = node.rpc("deriveaddresses", full)
    return addr


# ------------------------------------------------------------------------------------------ the world


@dataclass
class BtcWorld:
    snapshot: int = 0
    snapshot_hash: str = ""
    expected: dict[str, int] = field(default_factory=dict)  # address -> satoshis at the snapshot
    by_kind: dict[str, str] = field(default_factory=dict)  # kind -> address
    moved_after: list[str] = field(default_factory=list)  # balance changes after the snapshot
    funded_after_only: list[str] = field(default_factory=list)  # history only after H: 0 at H
    empty: list[str] = field(default_factory=list)  # no history at all
    unconfirmed: list[str] = field(default_factory=list)  # a mempool payment at the end
    tip: int = 0

    @property
    def addresses(self) -> list[str]:
        return list(self.expected)


def build_world(node: CoreNode) -> BtcWorld:
    w = BtcWorld()
    node.rpc("createwallet", "funder")
    node.rpc("createwallet", "holder")
    miner = node.rpc("getnewaddress", "", "bech32", wallet="funder")
    node.rpc("generatetoaddress", 110, miner)
    kinds = {"p2pkh": "legacy", "p2sh-p2wpkh": "p2sh-segwit", "p2wpkh": "bech32", "p2tr": "bech32m"}
    for k, t in kinds.items():
        w.by_kind[k] = node.rpc("getnewaddress", "", t, wallet="holder")
    for k in ("p2sh", "p2sh-p2wsh", "p2wsh"):
        w.by_kind[f"multisig-{k}"] = multisig_address(node, "holder", k, k)
    book: dict[str, dict[tuple[str, int], int]] = {a: {} for a in w.by_kind.values()}  # address -> outpoint -> sats

    def pay(wallet: str, outputs: dict[str, int]) -> str:
        txid = node.rpc("sendmany", "", {a: btc(v) for a, v in outputs.items()}, wallet=wallet)
        tx = node.rpc("decoderawtransaction", node.rpc("gettransaction", txid, wallet=wallet)["hex"])
        for o in tx["vout"]:
            a = o["scriptPubKey"].get("address")
            if a in book:
                book[a][(txid, o["n"])] = sats(o["value"])
        return txid

    def spend(outpoint: tuple[str, int], owner: str, to: str, amount: int) -> None:
        change = node.rpc("getrawchangeaddress", "bech32", wallet="holder")
        res = node.rpc("send", [{to: btc(amount)}], None, "unset", None,
                       {"inputs": [{"txid": outpoint[0], "vout": outpoint[1]}], "add_inputs": False,
                        "change_address": change}, wallet="holder")
        del book[owner][outpoint]
        tx = node.rpc("decoderawtransaction", node.rpc("gettransaction", res["txid"], wallet="holder")["hex"])
        for o in tx["vout"]:
            a = o["scriptPubKey"].get("address")
            if a in book:
                book[a][(res["txid"], o["n"])] = sats(o["value"])

    addrs = list(w.by_kind.values())
    # two funding rounds: every address gets two coins with satoshi-exact, distinct amounts
    pay("funder", {a: 10_000_000 + 1_234_567 * i + 89 for i, a in enumerate(addrs)})
    node.rpc("generatetoaddress", 1, miner)
    pay("funder", {a: 2_000_000 + 7_654_321 * i + 3 for i, a in enumerate(addrs)})
    node.rpc("generatetoaddress", 1, miner)
    # spends before the snapshot, between fixture addresses (history with inputs at <= H)
    p2wpkh, p2pkh, p2tr = w.by_kind["p2wpkh"], w.by_kind["p2pkh"], w.by_kind["p2tr"]
    spend(next(iter(book[p2wpkh])), p2wpkh, p2pkh, 3_000_001)
    spend(next(iter(book[w.by_kind["multisig-p2wsh"]])), w.by_kind["multisig-p2wsh"], p2tr, 1_500_007)
    node.rpc("generatetoaddress", 1, miner)
    # addresses that get money only after the snapshot, and ones that never do
    late = [node.rpc("getnewaddress", "", t, wallet="holder") for t in ("bech32", "legacy")]
    w.empty = [node.rpc("getnewaddress", "", t, wallet="holder") for t in ("legacy", "p2sh-segwit", "bech32", "bech32m")]
    for a in late:
        book[a] = {}
    w.snapshot = node.rpc("getblockcount")
    w.snapshot_hash = node.rpc("getblockhash", w.snapshot)
    w.expected = {a: sum(book[a].values()) for a in addrs}
    w.expected.update({a: 0 for a in late + w.empty})
    w.funded_after_only = late
    # cross-check the fixture's own book against the holder wallet at H (tip == H, confirmed only);
    # the wallet learns of new blocks asynchronously: wait until it has caught up with the tip
    node.rpc("syncwithvalidationinterfacequeue")
    seen: dict[str, int] = {}
    for u in node.rpc("listunspent", 1, 9_999_999, list(w.expected), wallet="holder"):
        seen[u["address"]] = seen.get(u["address"], 0) + sats(u["amount"])
    assert {a: v for a, v in w.expected.items() if v} == seen, (w.expected, seen)
    # after the snapshot: spent from, paid to, first payments, then an unconfirmed payment
    node.rpc("generatetoaddress", 1, miner)
    spend(next(iter(book[p2pkh])), p2pkh, miner, 1_000_000)
    spend(next(iter(book[p2tr])), p2tr, late[0], 2_500_000)
    spend(next(iter(book[w.by_kind["multisig-p2sh"]])), w.by_kind["multisig-p2sh"], miner, 999_999)
    pay("funder", {w.by_kind["p2sh-p2wpkh"]: 4_444_444, w.by_kind["multisig-p2wsh"]: 5_555_555, late[1]: 777})
    for i in range(30):  # more than one Esplora page (25) of history after H
        pay("funder", {w.by_kind["p2sh-p2wpkh"]: 1_000 + i})
    node.rpc("generatetoaddress", 2, miner)
    pay("funder", {w.by_kind["p2wpkh"]: 123_456, w.by_kind["multisig-p2sh-p2wsh"]: 654_321})  # stays in the mempool
    w.unconfirmed = [w.by_kind["p2wpkh"], w.by_kind["multisig-p2sh-p2wsh"]]
    w.moved_after = [p2pkh, p2tr, w.by_kind["multisig-p2sh"], w.by_kind["p2sh-p2wpkh"], w.by_kind["multisig-p2wsh"]]
    w.tip = node.rpc("getblockcount")
    current = {a: sum(v.values()) for a, v in book.items()}
    assert all(current[a] != w.expected[a] for a in w.moved_after + late), "fixture: moves after H must change balances"
    return w


# ------------------------------------------------------------------------------ shared fixtures
# (imported by conftest.py: one Knots node, fixture world and ElectrumX per test module that asks)

def need_tool(tool: str, path) -> None:
    """Skip (fail under CI) when a node binary the test needs is not installed."""
    why = tool_missing(tool, path)
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def knots():
    need_tool("knots", knots_root() / "usr" / "bin" / "bitcoind")
    node = Knots.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def btc_regtest_world(knots) -> "BtcWorld":
    return build_world(knots)


@pytest.fixture(scope="module")
def electrumx(knots, btc_regtest_world):
    need_tool("electrumx", electrumx_bin())
    ex = ElectrumX.start(knots.url)
    ex.wait_synced(btc_regtest_world.tip)
    yield ex
    ex.stop()
