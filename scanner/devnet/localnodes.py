"""Local chain nodes for tests, benchmarks and the demo: started on a free loopback port, stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def end_process(proc: subprocess.Popen, grace: float) -> None:
    """Stop a local node: SIGTERM, SIGKILL if it has not exited after ``grace`` seconds; reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def anvil_binary() -> str | None:
    """$ANVIL_BIN, the project's npm install under .cache/npm, or anvil on PATH."""
    candidates = [os.environ.get("ANVIL_BIN"),
                  str(ROOT / ".cache" / "npm" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"),
                  shutil.which("anvil")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    return None


def rpc(url: str, method: str, params: list | None = None, timeout: float = 30.0):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def rpc_batch(url: str, calls: list[tuple[str, list]], timeout: float = 300.0) -> list:
    """One JSON-RPC batch; results in the order of ``calls``; any error item raises (set-up code:
    a local node that refuses a call is a broken fixture, not a balance to report)."""
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    out: list = [None] * len(calls)
    for item in reply:
        if "error" in item:
            raise RuntimeError(f"{calls[item['id']][0]}: {item['error']}")
        out[item["id"]] = item["result"]
    return out


TEST_CONTRACTS = ROOT / "chains" / "data" / "test_contracts.json"  # TestToken & co (contracts/TestToken.sol)


def send_transaction(url: str, tx: dict) -> dict:
    """``eth_sendTransaction`` on a local node, then its receipt (polled: anvil mines asynchronously)."""
    h = rpc(url, "eth_sendTransaction", [tx])
    for _ in range(500):
        r = rpc(url, "eth_getTransactionReceipt", [h])
        if r:
            if int(r["status"], 16) != 1:
                raise RuntimeError(f"transaction failed: {tx}")
            return r
        time.sleep(0.02)
    raise TimeoutError("no receipt")


def deploy(url: str, sender: str, name: str, types: list[str] | None = None, args: list | None = None) -> str:
    """Deploy one of porscan's test contracts by a real transaction; its checksummed address."""
    from eth_abi import encode as abi_encode
    from eth_utils import to_checksum_address

    code = json.loads(TEST_CONTRACTS.read_text())["contracts"][name]["bytecode"]
    if types:
        code += abi_encode(types, args or []).hex()
    r = send_transaction(url, {"from": sender, "data": code, "gas": hex(5_000_000)})
    return to_checksum_address(r["contractAddress"])


@dataclass
class Anvil:
    """A real anvil EVM node on 127.0.0.1 (``with Anvil.start() as node: node.url``)."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, gas_limit: int = 1_000_000_000, timeout: float = 15.0, extra: list[str] | None = None) -> "Anvil":
        binary = anvil_binary()
        if binary is None:
            raise FileNotFoundError("anvil not found: run `. scripts/node-tools.sh` (npm install of @foundry-rs/anvil-linux-amd64)")
        port = free_port()
        args = [binary, "--host", "127.0.0.1", "--port", str(port), "--silent", "--gas-limit", str(gas_limit),
                "--code-size-limit", "100000"] + (extra or [])
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        node = cls(proc, port)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"anvil exited with {proc.returncode} before answering")
                try:
                    rpc(node.url, "eth_blockNumber", timeout=1)
                    return node
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"anvil did not answer within {timeout:g} s") from None
                    time.sleep(0.05)
        except BaseException:  # a failed start or Ctrl-C while waiting: no process left behind
            node.stop()
            raise

    def stop(self) -> None:
        end_process(self.process, 5)

    def __enter__(self) -> "Anvil":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def call(self, method: str, *params):
        return rpc(self.url, method, list(params))
