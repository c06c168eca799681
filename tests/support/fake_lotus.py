"""FAKE Lotus JSON-RPC (``Filecoin.*``) for tests and bench: no Filecoin node can run here (no Go module proxy,
no Lotus package, proofs parameters are gigabytes).

A stand-in, not a node: it keeps balance histories per epoch and answers ``Filecoin.ChainHead``,
``Filecoin.ChainGetTipSetByHeight`` and ``Filecoin.StateGetActor`` in go-jsonrpc's shapes (single requests and
batches; errors as ``{"code": 1, "message": ...}``): null rounds (an epoch without blocks answers the tipset of
the previous non-null epoch), "actor not found" for an address that never received FIL, a state-tree load
failure below ``pruned_below`` (public nodes keep about 2000 epochs), and "parent state" semantics
(``StateGetActor`` at tipset H reads the balances in force before H's messages: the history's value at H-1).

Addresses are made and read with the ``filecoin-address`` package (PyPI), not porscan's codec: f1 from real
secp256k1 public keys (coincurve), f2 actor, f3 BLS, f0 ID, f410 from 0x addresses; a request for an address
that package cannot decode is answered like Lotus's parameter error. Tipset keys are CIDv1 (dag-cbor,
BLAKE2b-256) in base32.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter

import coincurve
import filecoin_address as fa
from aiohttp import web
from filecoin_address.address_creation import new_actor_address, new_bls_address, new_id_address, new_secp256k1_address

from scanner.devnet.loopthread import ServedApp


def block_cid(seed: str) -> str:
    """A CIDv1 (dag-cbor 0x71, blake2b-256 0xb220) in multibase base32 ('b'), like Lotus block CIDs."""
    digest = hashlib.blake2b(seed.encode(), digest_size=32).digest()
    raw = bytes((0x01, 0x71, 0xA0, 0xE4, 0x02, 0x20)) + digest
    return "b" + base64.b32encode(raw).decode().rstrip("=").lower()


def secp_address(label: str) -> str:
    key = coincurve.PrivateKey(hashlib.sha256(f"fil/{label}".encode()).digest())
    return new_secp256k1_address(key.public_key.format(compressed=False)).to_string()


def actor_address(label: str) -> str:
    return new_actor_address(hashlib.sha256(f"actor/{label}".encode()).digest()).to_string()


def bls_address(label: str) -> str:
    return new_bls_address(hashlib.sha512(f"bls/{label}".encode()).digest()[:48]).to_string()


def id_address(n: int) -> str:
    return new_id_address(n).to_string()


class FakeLotus:
    def __init__(self, head: int = 5_000_000, null_rounds: frozenset[int] = frozenset(), pruned_below: int = 0):
        self.head = head
        self.null_rounds = set(null_rounds)
        self.pruned_below = pruned_below
        self.history: dict[str, list[tuple[int, int]]] = {}  # canonical address -> [(epoch, attoFIL)]
        self.calls: Counter[str] = Counter()
        self.http_requests = 0
        self._keys: dict[str, int] = {}  # first block CID of each tipset handed out -> its height

    def set_balance(self, address: str, epoch: int, atto: int) -> None:
        key = fa.decode(address).to_string()
        self.history.setdefault(key, []).append((epoch, atto))
        self.history[key].sort()

    def tipset(self, height: int) -> dict:
        while height in self.null_rounds:
            height -= 1
        cids = [{"/": block_cid(f"{height}/{i}")} for i in range(1 + height % 3)]
        self._keys[cids[0]["/"]] = height
        return {"Cids": cids, "Blocks": [], "Height": height}

    def _height_of(self, tsk) -> int:
        if tsk is None or tsk == []:
            return self.head
        first = tsk[0]["/"] if isinstance(tsk[0], dict) else None
        if first in self._keys:
            return self._keys[first]
        raise LookupError(f"loading tipset {{{first}}}: blockstore: block not found")

    def state_get_actor(self, address: str, tsk) -> dict:
        try:
            key = fa.decode(address).to_string()
        except ValueError as exc:
            raise TypeError(f"unmarshaling params for 'Filecoin.StateGetActor' (param: *address.Address): {exc}") from None
        height = self._height_of(tsk)
        if height < self.pruned_below:
            raise LookupError(f"load state tree: failed to load state tree {block_cid(f'state/{height}')}: "
                              f"failed to load hamt node: ipld: could not find {block_cid(f'hamt/{height}')}")
        value = None
        for epoch, atto in self.history.get(key, []):
            if epoch >= height:  # parent state: messages of this tipset are not applied yet
                break
            value = atto
        if value is None:
            raise LookupError(f"resolution lookup failed ({address}): resolve address {address}: actor not found")
        return {"Code": {"/": block_cid("account-actor")}, "Head": {"/": block_cid(f"head/{key}/{height}")},
                "Nonce": 0, "Balance": str(value)}

    def _one(self, req: dict) -> dict:
        method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
        self.calls[str(method)] += 1
        try:
            if method == "Filecoin.ChainHead":
                result = self.tipset(self.head)
            elif method == "Filecoin.ChainGetTipSetByHeight":
                if len(params) != 2:
                    raise TypeError(f"wrong param count (method '{method}'): {len(params)} != 2")
                h = params[0]
                if h > self.head:
                    raise LookupError("looking for tipset with height greater than start point")
                result = self.tipset(h)
            elif method == "Filecoin.StateGetActor":
                if len(params) != 2:
                    raise TypeError(f"wrong param count (method '{method}'): {len(params)} != 2")
                result = self.state_get_actor(params[0], params[1])
            else:
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"method '{method}' not found"}}
        except TypeError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32700, "message": str(exc)}}
        except LookupError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": 1, "message": str(exc).strip("'\"")}}
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def handle(self, request: web.Request) -> web.Response:
        self.http_requests += 1
        body = json.loads(await request.read())
        if isinstance(body, list):
            return web.json_response([self._one(r) for r in body])
        return web.json_response(self._one(body))

    def serve(self) -> ServedApp:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/rpc/v1", self.handle)
        return ServedApp(app)


def filecoin_world(fake: FakeLotus, n: int = 12, *, snapshot: int | None = None, seed: str = "w") -> dict:
    """``n`` holders of every address kind with balances set before ``snapshot``, some changed after it,
    one never funded; the truth at the snapshot (parent state) and at the head."""
    snap = snapshot if snapshot is not None else fake.head - 100
    makers = (lambda i: secp_address(f"{seed}/{i}"), lambda i: actor_address(f"{seed}/{i}"),
              lambda i: bls_address(f"{seed}/{i}"), lambda i: id_address(100_000 + i))
    holders, at, now = [], {}, {}
    for i in range(n):
        addr = makers[i % 4](i)
        holders.append(addr)
        if i == 3:  # never funded: actor not found -> 0
            at[addr] = now[addr] = 0
            continue
        before = (i + 1) * 10**18 + 123_456_789 + (2**80 if i == 5 else 0)
        fake.set_balance(addr, snap - 1000, before)
        after = before
        if i % 3 == 1:
            after = before - 5 * 10**17
            fake.set_balance(addr, snap + 3, after)
        at[addr], now[addr] = before, after
    return {"holders": holders, "snapshot": snap, "at": at, "now": now}
