"""Local Bitcoin-family regtest nodes (Bitcoin Knots in the Debian sid chroot built by
scripts/bitcoin-tools.sh, litecoind from bookworm), for porscan's local demo, benchmarks and tests.

Every node binds 127.0.0.1 on a free port and is stopped by its own ``stop`` RPC, then by PID.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import TypeVar
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .localnodes import end_process, free_port

ROOT = Path(__file__).resolve().parents[2]  # the repository
BTC_CACHE = Path(os.environ.get("PORSCAN_BTC_CACHE") or ROOT / ".cache" / "bitcoin")


def tool_missing(tool: str, path: str | Path) -> str | None:
    """Why a tool is unusable (for pytest.skip), or None."""
    if os.path.exists(path) and os.access(path, os.X_OK):
        if tool == "knots" and os.geteuid() != 0:
            return "the Knots chroot needs root to run (chroot)"
        return None
    status = BTC_CACHE / f"status-{tool}"
    why = status.read_text().strip() if status.exists() else "not installed"
    return f"{tool}: {why} ({path}); run `. scripts/bitcoin-tools.sh` (log in {BTC_CACHE}/install.log)"


def knots_root() -> Path:
    return Path(os.environ.get("KNOTS_ROOT") or BTC_CACHE / "sidroot")


def litecoind_bin() -> str:
    return os.environ.get("LITECOIND_BIN") or shutil.which("litecoind") or "/usr/bin/litecoind"


def electrumx_bin() -> str:
    return os.environ.get("ELECTRUMX_BIN") or str(BTC_CACHE / "venv-electrumx" / "bin" / "electrumx_server")


class RpcFailure(RuntimeError):
    def __init__(self, method: str, error: dict):
        super().__init__(f"{method}: {error}")
        self.error = error


def rpc(url: str, method: str, *params, wallet: str | None = None, timeout: float = 120.0):
    """One JSON-RPC call to a Core-style node (basic auth from the URL); amounts as Decimal."""
    scheme, rest = url.split("://", 1)
    userinfo, host = rest.split("@", 1)
    path = f"/wallet/{wallet}" if wallet else "/"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, default=str).encode()
    req = urllib.request.Request(f"{scheme}://{host.rstrip('/')}{path}", body, {
        "content-type": "application/json", "authorization": "Basic " + base64.b64encode(userinfo.encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read(), parse_float=Decimal)
    except urllib.error.HTTPError as exc:  # Core (JSON-RPC 1.0 style) answers errors with HTTP 500
        reply = json.loads(exc.read() or b"{}", parse_float=Decimal)
    if reply.get("error"):
        raise RpcFailure(method, reply["error"])
    return reply["result"]


def sats(btc: Decimal | str | int) -> int:
    v = Decimal(btc) * 100_000_000
    assert v == v.to_integral_value()
    return int(v)


def btc(s: int) -> Decimal:
    return Decimal(s) / 100_000_000


# ------------------------------------------------------------------------------------------ nodes


_CONF = """regtest=1
server=1
txindex=1
fallbackfee=0.0002
{extra}
[regtest]
rpcuser=u
rpcpassword=p
rpcport={rpc}
rpcbind=127.0.0.1
rpcallowip=127.0.0.1
port={p2p}
listen=0
"""


N = TypeVar("N", bound="CoreNode")


@dataclass
class CoreNode:
    """A Core-style regtest node (Knots in the chroot, or litecoind)."""

    process: subprocess.Popen
    port: int
    datadir: Path  # as seen from here
    datadir_node: str  # as the node sees it (inside the chroot for Knots)
    name: str

    @property
    def url(self) -> str:
        return f"http://u:p@127.0.0.1:{self.port}/"

    def rpc(self, method: str, *params, wallet: str | None = None, timeout: float = 120.0):
        return rpc(self.url, method, *params, wallet=wallet, timeout=timeout)

    @classmethod
    def _start(cls: type[N], argv: list[str], port: int, datadir: Path, datadir_node: str, name: str) -> N:
        log = open(datadir / "porscan-stdout.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        node = cls(proc, port, datadir, datadir_node, name)
        deadline = time.monotonic() + 30
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                       f"{(datadir / 'porscan-stdout.log').read_text()[-500:]}")
                try:
                    node.rpc("getblockcount", timeout=2)
                    return node
                except (OSError, RpcFailure):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} did not answer within 30 s") from None
                    time.sleep(0.05)
        except BaseException:  # a failed start or Ctrl-C while waiting: no node nor data directory left behind
            node.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.rpc("stop", timeout=10)
                self.process.wait(30)
            except BaseException as exc:  # noqa: BLE001 - fall back to the PID (also on Ctrl-C, then re-raised)
                end_process(self.process, 10)
                if not isinstance(exc, Exception):
                    raise


class Knots(CoreNode):
    @classmethod
    def start(cls, session_dir: str | None = None) -> "Knots":
        root = knots_root()
        name = session_dir or f"porscan-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
        inside = f"/run/{name}"
        datadir = root / inside.lstrip("/")
        datadir.mkdir(parents=True, exist_ok=False)
        (datadir / "dumps").mkdir()
        port, p2p = free_port(), free_port()
        (datadir / "bitcoin.conf").write_text(_CONF.format(rpc=port, p2p=p2p, extra=""))
        return cls._start(["chroot", str(root), "/usr/bin/bitcoind", f"-datadir={inside}", "-printtoconsole=0"],
                          port, datadir, inside, "bitcoind (Knots)")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)

    @property
    def dump_dir(self) -> str:
        return f"{self.datadir_node}/dumps"

    @property
    def dump_dir_local(self) -> str:
        return str(self.datadir / "dumps")


class Litecoind(CoreNode):
    @classmethod
    def start(cls, extra: str = "") -> "Litecoind":
        """``extra``: more litecoin.conf lines (e.g. ``keypool=1``: Litecoin Core 0.21's legacy wallet
        otherwise fills a 1000-key pool in ``createwallet``, about a second)."""
        datadir = Path(tempfile.mkdtemp(prefix="porscan-ltc."))
        port, p2p = free_port(), free_port()
        (datadir / "litecoin.conf").write_text(_CONF.format(rpc=port, p2p=p2p, extra=extra))
        return cls._start([litecoind_bin(), f"-datadir={datadir}", "-printtoconsole=0"], port, datadir,
                          str(datadir), "litecoind")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)


def funded_wallet(node: CoreNode, wallet: str, need_sats: int, max_blocks: int = 2000) -> str:
    """Create ``wallet`` on a regtest node and mine to it until it can spend ``need_sats``
    (coinbases mature after 100 blocks; regtest halves the reward every 150). Returns the mining
    address, for later blocks."""
    node.rpc("createwallet", wallet)
    miner = node.rpc("getnewaddress", "", "bech32", wallet=wallet)
    node.rpc("generatetoaddress", 101, miner)
    mined = 101
    while Decimal(node.rpc("getbalance", wallet=wallet)) < btc(need_sats):
        if mined >= max_blocks:
            raise RuntimeError(f"regtest wallet cannot fund {btc(need_sats)} BTC within {max_blocks} blocks")
        node.rpc("generatetoaddress", 50, miner)
        mined += 50
    return miner
