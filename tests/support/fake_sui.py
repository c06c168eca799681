"""FAKE Sui full node JSON-RPC (a stand-in, NOT a node): no Sui node can run here.

Serves the calls porscan's Sui adapter makes, with the result shapes of Sui's JSON-RPC reference
(docs.sui.io/sui-api-ref): ``sui_getLatestCheckpointSequenceNumber`` (a decimal string),
``sui_getCheckpoint`` (sequenceNumber, digest, timestampMs as strings), ``suix_getCoinMetadata`` and
``suix_getBalance`` (``{"coinType", "coinObjectCount", "totalBalance": "<u128>", "lockedBalance": {}}``),
batches included. Like the real node it answers only from the latest state: there is no balance at a
past checkpoint. Invalid params are JSON-RPC error -32602.

Plain JSON, no Sui SDK: ``pysui`` (the Python SDK on PyPI) needs ``httpx<0.29`` while porscan's lock has
httpx 0.29.0, plus a native ``pysui-fastcrypto`` wheel and ~20 other packages. Addresses follow the Sui
spec (32 bytes, ``0x`` + 64 hex digits, checked here as the node's SuiAddress parser does) and are
derived from real Ed25519 keys (PyNaCl) as Sui does: BLAKE2b-256 of flag 0x00 || public key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from nacl.signing import SigningKey

from scanner.devnet.loopthread import ServedApp

SUI = "0x0000000000000000000000000000000000000000000000000000000000000002::sui::SUI"
USDC = "0xdba34672e30cb065b1f93e3ab55318768fd6fef66c15942c9f7cb846e2f900e7::usdc::USDC"  # mainnet, served FAKE
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{64}")
_TYPE = re.compile(r"0x([0-9a-fA-F]{1,64})::(\w+)::(\w+)")


def sui_address_of(seed: str) -> str:
    """The Sui address of a deterministic Ed25519 key."""
    key = SigningKey(hashlib.sha256(seed.encode()).digest())
    return "0x" + hashlib.blake2b(b"\x00" + bytes(key.verify_key), digest_size=32).hexdigest()


def full_type(text: str) -> str | None:
    m = _TYPE.fullmatch(text)
    return f"0x{m.group(1).lower().rjust(64, '0')}::{m.group(2)}::{m.group(3)}" if m else None


class _Invalid(Exception):
    pass


@dataclass
class FakeSui:
    checkpoint: int = 1000
    coins: dict[str, int] = field(default_factory=lambda: {SUI: 9, USDC: 6})  # coin type -> decimals
    balances: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # -> (total, coin objects)
    calls: Counter = field(default_factory=Counter)
    advance_every: int = 0  # > 0: a new checkpoint after this many suix_getBalance calls (a live chain)

    def set_balance(self, owner: str, coin: str, total: int, objects: int = 1) -> None:
        self.balances[(owner.lower(), full_type(coin) or coin)] = (total, objects)

    def next_checkpoint(self) -> int:
        self.checkpoint += 1
        return self.checkpoint

    def _call(self, method: str, params: list) -> object:
        self.calls[method] += 1
        if method == "sui_getLatestCheckpointSequenceNumber":
            return str(self.checkpoint)
        if method == "sui_getCheckpoint":
            seq = int(params[0])
            if seq > self.checkpoint:
                raise _Invalid(f"Could not find the referenced checkpoint {seq}")
            digest = hashlib.sha256(f"checkpoint {seq}".encode()).hexdigest()
            return {"epoch": "1", "sequenceNumber": str(seq), "digest": digest,
                    "timestampMs": str(1_760_000_000_000 + seq * 250), "transactions": []}
        if method == "suix_getCoinMetadata":
            coin = full_type(params[0])
            if coin not in self.coins:
                return None
            return {"decimals": self.coins[coin], "name": coin.rsplit("::", 1)[1], "symbol": coin.rsplit("::", 1)[1],
                    "description": "", "iconUrl": None, "id": None}
        if method == "suix_getBalance":
            owner, coin = params[0], full_type(params[1] if len(params) > 1 else SUI)
            if not isinstance(owner, str) or not _ADDRESS.fullmatch(owner) or coin is None:
                raise _Invalid(f"Invalid params: {owner!r}")
            if self.advance_every and self.calls[method] % self.advance_every == 0:
                self.next_checkpoint()
            total, objects = self.balances.get((owner.lower(), coin), (0, 0))
            return {"coinType": coin, "coinObjectCount": objects, "totalBalance": str(total), "lockedBalance": {}}
        raise KeyError(method)

    def _answer(self, item: dict) -> dict:
        rid = item.get("id")
        try:
            return {"jsonrpc": "2.0", "id": rid, "result": self._call(item["method"], list(item.get("params") or []))}
        except KeyError:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "Method not found"}}
        except (_Invalid, ValueError, IndexError, TypeError) as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": str(exc)}}

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
        reply = [self._answer(i) for i in body] if isinstance(body, list) else self._answer(body)
        return web.json_response(reply)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/", self.handle)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


def sui_world(fake: FakeSui, n: int = 24, prefix: str = "w") -> dict:
    """SUI and USDC holders on real keys, set at a snapshot checkpoint, then changed in later checkpoints.
    Returns {"snapshot", "sui" / "usdc" (address -> at the snapshot), "sui_latest" / "usdc_latest"}."""
    owners = [sui_address_of(f"sui/{prefix}/{i}") for i in range(n)]
    sui = {o: (i * 7_919_000_003) % 10**13 for i, o in enumerate(owners)}
    usdc = {o: (i * 104_729) % 10**9 if i % 3 else 0 for i, o in enumerate(owners)}
    for o in owners:
        fake.set_balance(o, SUI, sui[o], 2)
        if usdc[o]:
            fake.set_balance(o, USDC, usdc[o])
    snapshot = fake.next_checkpoint()
    sui_latest = {o: v + 1_000 + i for i, (o, v) in enumerate(sui.items())}
    usdc_latest = {o: v + 5 for o, v in usdc.items()}
    fake.next_checkpoint()
    for o in owners:
        fake.set_balance(o, SUI, sui_latest[o], 2)
        fake.set_balance(o, USDC, usdc_latest[o])
    fake.next_checkpoint()
    return {"snapshot": snapshot, "sui": sui, "usdc": usdc, "sui_latest": sui_latest, "usdc_latest": usdc_latest}
