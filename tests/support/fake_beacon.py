"""FAKE Beacon Node API (``/eth/v1/beacon/...``, ``/eth/v2/beacon/blocks``) for tests and bench: no consensus
client can run here (no mainnet state, no peers).

A stand-in, not a node. It keeps a slot line with missed slots and the Merge (slots before ``merge_slot`` are
Altair blocks without an execution payload), execution block numbers counted over the non-empty slots, payload
timestamps ``genesis_time + 12 * slot``, and validator histories per slot. Replies follow the
ethereum/beacon-APIs shapes: ``{"data": ...}`` with ``execution_optimistic`` / ``finalized``, every number a
decimal string, errors as ``{"code": 404, "message": "State not found"}`` (a state below ``pruned_below``),
``"Block not found"`` (an empty slot), ``"Validator not found"`` (single-validator endpoint only: the list
endpoints omit unknown keys), 414 for more than 64 ``id=`` in the GET form, 405 for the POST form when
``post_allowed`` is False.

Validator keys are real BLS12-381 G1 points made with py-arkworks-bls12381 (secret scalar * generator).
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter

from aiohttp import web
from py_arkworks_bls12381 import G1Point, Scalar

from scanner.devnet.loopthread import ServedApp
from support.httpfaults import HttpFaults, fault_middleware

MAINNET_GENESIS_ROOT = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
MAINNET_GENESIS_TIME = 1606824023
HOLESKY_GENESIS_ROOT = "0x9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1"
GWEI = 10**9


def validator_key(label: str) -> str:
    """A real validator public key: compressed G1 point of a secret derived from ``label``."""
    secret = int.from_bytes(hashlib.sha256(f"beacon/{label}".encode()).digest(), "big") % (2**250) + 1
    return "0x" + (G1Point() * Scalar(secret)).to_compressed_bytes().hex()


def _h(*parts: object) -> str:
    return "0x" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


class FakeBeacon:
    def __init__(self, *, head_slot: int = 10_000_000, merge_slot: int = 4_700_013, merge_block: int = 15_537_394,
                 missed: frozenset[int] | set[int] = frozenset(), genesis_time: int = MAINNET_GENESIS_TIME,
                 genesis_root: str = MAINNET_GENESIS_ROOT, pruned_below: int = 0, post_allowed: bool = True):
        self.head_slot = head_slot
        self.merge_slot = merge_slot
        self.merge_block = merge_block
        self.missed = sorted(s for s in missed if s > merge_slot)
        self.genesis_time = genesis_time
        self.genesis_root = genesis_root
        self.pruned_below = pruned_below
        self.post_allowed = post_allowed
        self.history: dict[str, list[tuple[int, int, int, str]]] = {}  # pubkey -> [(from slot, gwei, eff, status)]
        self.index: dict[str, int] = {}
        self.faults = HttpFaults()
        self.calls: Counter[str] = Counter()

    # ------------------------------------------------------------------ chain

    def is_missed(self, slot: int) -> bool:
        i = bisect.bisect_left(self.missed, slot)
        return i < len(self.missed) and self.missed[i] == slot

    def block_number(self, slot: int) -> int:
        """Execution block number of the (non-empty, post-Merge) block at ``slot``."""
        return self.merge_block + (slot - self.merge_slot) - bisect.bisect_right(self.missed, slot)

    def slot_of_block(self, number: int) -> int:
        slot = self.merge_slot + (number - self.merge_block)
        while self.block_number(slot) < number or self.is_missed(slot):
            slot += 1
        return slot

    def block_json(self, slot: int) -> dict:
        finalized = slot <= self.head_slot - 64
        body: dict = {"randao_reveal": "0x" + "ab" * 96,
                      "eth1_data": {"deposit_root": _h("dr", slot), "deposit_count": "1000", "block_hash": _h("e1", slot)},
                      "graffiti": "0x" + "00" * 32, "proposer_slashings": [], "attester_slashings": [],
                      "attestations": [], "deposits": [], "voluntary_exits": [],
                      "sync_aggregate": {"sync_committee_bits": "0x" + "ff" * 64,
                                         "sync_committee_signature": "0x" + "cd" * 96}}
        version = "altair"
        if slot >= self.merge_slot:
            version = "deneb"
            n = self.block_number(slot)
            body["execution_payload"] = {
                "parent_hash": _h("exec", n - 1), "fee_recipient": "0x" + "11" * 20, "state_root": _h("es", n),
                "receipts_root": _h("rr", n), "logs_bloom": "0x" + "00" * 256, "prev_randao": _h("rd", slot),
                "block_number": str(n), "gas_limit": "30000000", "gas_used": "12345678",
                "timestamp": str(self.genesis_time + 12 * slot), "extra_data": "0x", "base_fee_per_gas": "7",
                "block_hash": _h("exec", n), "transactions": [], "withdrawals": [], "blob_gas_used": "0",
                "excess_blob_gas": "0"}
            body["bls_to_execution_changes"] = []
            body["blob_kzg_commitments"] = []
        message = {"slot": str(slot), "proposer_index": str(slot % 900_000), "parent_root": _h("root", slot - 1),
                   "state_root": _h("state", slot), "body": body}
        return {"version": version, "execution_optimistic": False, "finalized": finalized,
                "data": {"message": message, "signature": "0x" + "ef" * 96}}

    # ------------------------------------------------------------------ validators

    def add_validator(self, pubkey: str, from_slot: int, gwei: int, status: str = "active_ongoing",
                      effective: int | None = None) -> None:
        self.index.setdefault(pubkey, len(self.index) + 1000)
        eff = effective if effective is not None else min(gwei // GWEI * GWEI, 32 * GWEI)
        self.history.setdefault(pubkey, []).append((from_slot, gwei, eff, status))
        self.history[pubkey].sort()

    def validator_at(self, pubkey: str, slot: int) -> dict | None:
        entry = None
        for step in self.history.get(pubkey.lower(), []):
            if step[0] > slot:
                break
            entry = step
        if entry is None:
            return None
        _, gwei, eff, status = entry
        return {"index": str(self.index[pubkey.lower()]), "balance": str(gwei), "status": status,
                "validator": {"pubkey": pubkey.lower(), "withdrawal_credentials": _h("wc", pubkey),
                              "effective_balance": str(eff), "slashed": status.endswith("slashed"),
                              "activation_eligibility_epoch": "0", "activation_epoch": "0",
                              "exit_epoch": "18446744073709551615", "withdrawable_epoch": "18446744073709551615"}}

    # ------------------------------------------------------------------ HTTP

    @staticmethod
    def _error(code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=code)

    def _state_slot(self, state_id: str) -> int | web.Response:
        if state_id == "head":
            return self.head_slot
        if not state_id.isdigit():
            return self._error(400, f"Invalid state ID: {state_id}")
        slot = int(state_id)
        if slot > self.head_slot or slot < self.pruned_below:
            return self._error(404, "State not found")
        return slot

    def _wrap(self, slot: int, data: object) -> web.Response:
        return web.json_response({"execution_optimistic": False, "finalized": slot <= self.head_slot - 64, "data": data})

    async def genesis(self, request: web.Request) -> web.Response:
        self.calls["genesis"] += 1
        return web.json_response({"data": {"genesis_time": str(self.genesis_time),
                                           "genesis_validators_root": self.genesis_root,
                                           "genesis_fork_version": "0x00000000"}})

    async def block(self, request: web.Request) -> web.Response:
        self.calls["block"] += 1
        block_id = request.match_info["block_id"]
        slot = self.head_slot if block_id == "head" else int(block_id) if block_id.isdigit() else None
        if slot is None:
            return self._error(400, f"Invalid block ID: {block_id}")
        if slot > self.head_slot or self.is_missed(slot):
            return self._error(404, "Block not found")
        return web.json_response(self.block_json(slot), headers={"Eth-Consensus-Version": "deneb"})

    def _list(self, slot: int, ids: list[str]) -> web.Response:
        out = [v for k in dict.fromkeys(i.lower() for i in ids) if (v := self.validator_at(k, slot)) is not None]
        return self._wrap(slot, out)

    async def validators_get(self, request: web.Request) -> web.Response:
        self.calls["validators_get"] += 1
        slot = self._state_slot(request.match_info["state_id"])
        if isinstance(slot, web.Response):
            return slot
        ids = request.query.getall("id", [])
        if len(ids) > 64:
            return self._error(414, "Too many validator IDs in request")
        return self._list(slot, ids)

    async def validators_post(self, request: web.Request) -> web.Response:
        self.calls["validators_post"] += 1
        if not self.post_allowed:
            return self._error(405, "Method Not Allowed")
        slot = self._state_slot(request.match_info["state_id"])
        if isinstance(slot, web.Response):
            return slot
        body = await request.json()
        return self._list(slot, list(body.get("ids") or []))

    async def validator(self, request: web.Request) -> web.Response:
        self.calls["validator"] += 1
        slot = self._state_slot(request.match_info["state_id"])
        if isinstance(slot, web.Response):
            return slot
        v = self.validator_at(request.match_info["validator_id"], slot)
        return self._error(404, "Validator not found") if v is None else self._wrap(slot, v)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[fault_middleware(lambda: self.faults)], client_max_size=64 * 2**20)
        app.router.add_get("/eth/v1/beacon/genesis", self.genesis)
        app.router.add_get("/eth/v2/beacon/blocks/{block_id}", self.block)
        app.router.add_get("/eth/v1/beacon/states/{state_id}/validators", self.validators_get)
        app.router.add_post("/eth/v1/beacon/states/{state_id}/validators", self.validators_post)
        app.router.add_get("/eth/v1/beacon/states/{state_id}/validators/{validator_id}", self.validator)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


def beacon_world(fake: FakeBeacon, n: int = 12, *, snapshot_block: int | None = None, seed: str = "w") -> dict:
    """``n`` validator keys: most active since long before the snapshot, some whose balance changes after it
    (rewards, an exit, a withdrawal), one exited and withdrawn before it (0 at the snapshot), one activated
    after it (no validator at the snapshot: 0). Truth in wei (18 decimals) at the snapshot and at the head."""
    head_block = fake.block_number(fake.head_slot if not fake.is_missed(fake.head_slot) else fake.head_slot - 1)
    snap_block = snapshot_block if snapshot_block is not None else head_block - 1000
    snap_slot = fake.slot_of_block(snap_block)
    keys, at, now = [], {}, {}
    for i in range(n):
        key = validator_key(f"{seed}/{i}")
        keys.append(key)
        if i == 3:  # deposited after the snapshot
            fake.add_validator(key, snap_slot + 5, 32 * GWEI, "pending_queued")
            at[key], now[key] = 0, 32 * GWEI * GWEI
            continue
        gwei = 32 * GWEI + 1_234_567 * (i + 1)
        fake.add_validator(key, snap_slot - 50_000, gwei)
        if i == 5:  # exited and withdrawn before the snapshot
            fake.add_validator(key, snap_slot - 100, 0, "withdrawal_done", 0)
            at[key] = now[key] = 0
            continue
        at[key] = now[key] = gwei * GWEI
        if i % 3 == 1:  # changes after the snapshot
            later = gwei + 7_000_000 if i % 2 else 0
            fake.add_validator(key, snap_slot + 1, later, "active_ongoing" if later else "withdrawal_done",
                               None if later else 0)
            now[key] = later * GWEI
    return {"keys": keys, "snapshot": snap_block, "slot": snap_slot, "at": at, "now": now}
