"""A real Substrate node for the Substrate adapter's tests and bench: chopsticks, offline.

chopsticks (npm ``@acala-network/chopsticks``, installed by scripts/node-tools.sh) runs a chain's own
WASM runtime. It usually forks a live chain, which needs the network; here it starts from a chain
spec instead (``--genesis``): the Rococo Asset Hub spec in npm ``@substrate/connect-known-chains`` is
the one shipped spec that carries its whole genesis state, runtime included (the Polkadot, Kusama
and their Asset Hub specs there are light-client specs with only a state root). So the node is a
real Asset Hub runtime (spec "statemine" 900, Assets pallet, the older ``misc_frozen``/``fee_frozen``
account layout), building blocks on ``dev_newBlock`` and keeping every block's state.

Balances are written with ``dev_setStorage`` in chopsticks' JSON form, which the node encodes with the
runtime's own metadata, so the adapter's decoder is checked against the runtime's encoding. This
runtime has no Staking pallet: staking entries are written as raw key/value pairs whose values are
SCALE-encoded with PyPI ``scalecodec`` (the node stores and serves them like any storage).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chains.substrate import bonded_key, ledger_key
from scanner.devnet.localnodes import end_process, free_port
from signatures.ed25519 import ss58_encode

ROOT = Path(__file__).resolve().parents[2]
NPM = ROOT / ".cache" / "npm" / "node_modules"
SPEC_MODULE = NPM / "@substrate" / "connect-known-chains" / "dist" / "esm" / "specs" / "rococo_v2_2_asset_hub.js"
USDT_ID = 1984


def chopsticks_binary() -> str | None:
    for c in (os.environ.get("CHOPSTICKS_BIN"), str(NPM / ".bin" / "chopsticks")):
        if c and os.path.exists(c) and SPEC_MODULE.exists():
            return c
    return None


def rpc(url: str, method: str, params: list | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        reply = json.loads(r.read())
    if reply.get("error"):
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def account(i: int, tag: str = "w") -> bytes:
    import hashlib

    return hashlib.blake2b(f"porscan-substrate-world/{tag}/{i}".encode(), digest_size=32).digest()


def address(acct: bytes, ss58_prefix: int = 2) -> str:
    return ss58_encode(acct, ss58_prefix)


@dataclass
class Chopsticks:
    url: str
    proc: subprocess.Popen
    workdir: tempfile.TemporaryDirectory

    @classmethod
    def start(cls, timeout: float = 90.0) -> "Chopsticks":
        binary = chopsticks_binary()
        if binary is None:
            raise RuntimeError("chopsticks is not installed: run `. scripts/node-tools.sh`")
        work = tempfile.TemporaryDirectory(prefix="porscan-chopsticks.")
        spec = Path(work.name) / "asset-hub-rococo.json"
        js = ("import(process.argv[1]).then(m => process.stdout.write(m.chainSpec))")
        spec.write_text(subprocess.run(["node", "-e", js, str(SPEC_MODULE)], check=True, capture_output=True,
                                       text=True).stdout)
        port = free_port()
        log = open(Path(work.name) / "chopsticks.log", "wb")
        proc = subprocess.Popen([binary, "--genesis", str(spec), "--host", "127.0.0.1", "--port", str(port),
                                 "--build-block-mode", "Manual"], stdout=log, stderr=subprocess.STDOUT,
                                cwd=work.name)
        node = cls(f"http://127.0.0.1:{port}", proc, work)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chopsticks exited: {(Path(work.name) / 'chopsticks.log').read_text()[-2000:]}")
            try:
                rpc(node.url, "chain_getHeader")
                return node
            except OSError:
                if time.monotonic() > deadline:
                    node.stop()
                    raise RuntimeError("chopsticks did not answer in time") from None
                time.sleep(0.1)

    def stop(self) -> None:
        end_process(self.proc, 5)
        self.workdir.cleanup()

    def call(self, method: str, params: list | None = None) -> Any:
        return rpc(self.url, method, params)

    def head(self) -> int:
        return int(self.call("chain_getHeader")["number"], 16)

    def new_block(self) -> int:
        self.call("dev_newBlock")
        return self.head()

    def set_native(self, balances: dict[bytes, tuple[int, int]]) -> None:
        """account -> (free, reserved), through the runtime's metadata (chopsticks' JSON form)."""
        items = [[[address(a, 42)], {"providers": 1, "data": {"free": str(f), "reserved": str(r)}}]
                 for a, (f, r) in balances.items()]
        for i in range(0, len(items), 2000):
            self.call("dev_setStorage", [{"System": {"Account": items[i:i + 2000]}}])

    def set_asset(self, asset_id: int, balances: dict[bytes, int], decimals: int = 6) -> None:
        self.call("dev_setStorage", [{"Assets": {
            "Asset": [[[asset_id], {"owner": address(account(0, "owner"), 42), "supply": str(sum(balances.values())),
                                    "minBalance": "1", "accounts": len(balances)}]],
            "Metadata": [[[asset_id], {"name": "Tether USD", "symbol": "USDT", "decimals": decimals}]],
            "Account": [[[asset_id, address(a, 42)], {"balance": str(v)}] for a, v in balances.items()],
        }}])

    def set_staking(self, stash: bytes, active: int, unlocking: list[tuple[int, int]],
                    controller: bytes | None = None) -> None:
        """Staking.Bonded and Staking.Ledger as raw storage, values SCALE-encoded by scalecodec."""
        ctrl = controller or stash
        self.call("dev_setStorage", [[[bonded_key(stash), "0x" + ctrl.hex()],
                                      [ledger_key(ctrl), encode_ledger(stash, active, unlocking)]]])


def encode_ledger(stash: bytes, active: int, unlocking: list[tuple[int, int]]) -> str:
    """A current StakingLedger (stash, total, active, unlocking, legacy_claimed_rewards) by scalecodec."""
    from scalecodec.base import RuntimeConfiguration
    from scalecodec.type_registry import load_type_registry_preset

    rc = RuntimeConfiguration()
    rc.update_type_registry(load_type_registry_preset("legacy"))
    rc.update_type_registry({"types": {
        "PorscanUnlockChunk": {"type": "struct", "type_mapping": [["value", "Compact<Balance>"],
                                                                  ["era", "Compact<EraIndex>"]]},
        "PorscanLedger": {"type": "struct", "type_mapping": [
            ["stash", "AccountId"], ["total", "Compact<Balance>"], ["active", "Compact<Balance>"],
            ["unlocking", "Vec<PorscanUnlockChunk>"], ["legacy_claimed_rewards", "Vec<EraIndex>"]]}}})
    obj = rc.create_scale_object("PorscanLedger")
    total = active + sum(v for v, _ in unlocking)
    data = obj.encode({"stash": "0x" + stash.hex(), "total": total, "active": active,
                       "unlocking": [{"value": v, "era": e} for v, e in unlocking],
                       "legacy_claimed_rewards": [1, 2, 3]})
    return data.to_hex()
