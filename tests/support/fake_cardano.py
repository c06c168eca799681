"""FAKE Cardano APIs (Koios and Blockfrost shapes) for tests and the bench: no Cardano node or db-sync can
run here. Addresses are real (pycardano keys and ``Address``), every reply's address fields are built by
pycardano (canonical bech32/base58 re-encoding, the stake address, the script flag), and balances live per
block so a test can move the chain past the snapshot. Documented shapes reproduced: Koios ``/tip`` and
``/address_info`` (addresses never seen are left out of the reply; a malformed address makes PostgREST
answer HTTP 400 for the whole request), Blockfrost ``/blocks/latest`` and ``/addresses/{a}`` (404 object
for an unseen address, 400 for a malformed one, 403 without a valid ``project_id``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

from aiohttp import web
from pycardano import (Address, Network, PaymentSigningKey, PaymentVerificationKey, StakeSigningKey,
                       StakeVerificationKey)

from scanner.devnet.loopthread import ServedApp
from support.httpfaults import HttpFaults, fault_middleware

BYRON = "DdzFFzCqrhsrcTVhLygT24QwTnNqQqQ8mZrq5jykUzMveU26sxaH529kMpo7VhPrt5pwW3dXeB2k3EEvKcNBRmzCfcQ7dTkyGzTs658C"
GENESIS_TIME = 1_506_203_091


def new_address(rng: random.Random, stake: bool = True, network: Network = Network.MAINNET) -> str:
    """A payment address on fresh keys (seeded, so the bench and its checker agree)."""
    pay = PaymentVerificationKey.from_signing_key(PaymentSigningKey.from_primitive(rng.randbytes(32)))
    st = StakeVerificationKey.from_signing_key(StakeSigningKey.from_primitive(rng.randbytes(32))) if stake else None
    return str(Address(pay.hash(), st.hash() if st else None, network))


class FakeCardano:
    """FAKE: balances per address as (from block, lovelace) steps; the tip moves with :meth:`mine`."""

    def __init__(self, *, height: int = 10_000_000, project_id: str | None = None, network: Network = Network.MAINNET):
        self.height = height
        self.network = network
        self.project_id = project_id
        self.steps: dict[str, list[tuple[int, int]]] = {}
        self.faults = HttpFaults()
        self.calls: Counter[str] = Counter()

    def set_balance(self, address: str, lovelace: int, at: int | None = None) -> None:
        self.steps.setdefault(str(Address.from_primitive(address)), []).append((self.height if at is None else at, lovelace))

    def mine(self, n: int = 1) -> None:
        self.height += n

    def balance(self, address: str, height: int | None = None) -> int | None:
        h = self.height if height is None else height
        steps = [v for b, v in self.steps.get(address, []) if b <= h]
        return steps[-1] if steps else None

    def _block(self) -> dict:
        slot = 4_492_800 + (self.height - 4_490_510) * 20
        return {"hash": hashlib.blake2b(self.height.to_bytes(8, "big"), digest_size=32).hexdigest(), "height": self.height,
                "slot": slot, "time": GENESIS_TIME + slot}

    @staticmethod
    def _parse(text: object) -> Address | None:
        try:
            return Address.from_primitive(text)  # type: ignore[arg-type]
        except Exception:  # pycardano raises several kinds for a malformed address
            return None

    def _info(self, addr: Address) -> dict:
        staking = addr.staking_part
        stake = str(Address(staking_part=staking, network=self.network)) if staking is not None and hasattr(staking, "payload") else None
        return {"address": str(addr), "stake_address": stake, "script_address": type(addr.payment_part).__name__ == "ScriptHash"}

    # ------------------------------------------------------------------ Koios
    async def koios_tip(self, request: web.Request) -> web.Response:
        self.calls["tip"] += 1
        b = self._block()
        return web.json_response([{"hash": b["hash"], "epoch_no": 500, "abs_slot": b["slot"], "epoch_slot": b["slot"] % 432000,
                                   "block_height": b["height"], "block_time": b["time"]}])

    async def koios_address_info(self, request: web.Request) -> web.Response:
        self.calls["address_info"] += 1
        body = await request.json()
        rows = []
        for text in body.get("_addresses", []):
            addr = self._parse(text)
            if addr is None:
                return web.json_response({"code": "P0001", "details": None, "hint": None,
                                          "message": f"Invalid address: {str(text)[:60]}"}, status=400)
            value = self.balance(str(addr))
            if value is not None:
                rows.append({**self._info(addr), "balance": str(value), "utxo_set": []})
        return web.json_response(rows)

    # ------------------------------------------------------------------ Blockfrost
    def _forbidden(self, request: web.Request) -> web.Response | None:
        if self.project_id is not None and request.headers.get("project_id") != self.project_id:
            return web.json_response({"status_code": 403, "error": "Forbidden", "message": "Invalid project token."},
                                     status=403)
        return None

    async def bf_latest(self, request: web.Request) -> web.Response:
        self.calls["blocks/latest"] += 1
        return self._forbidden(request) or web.json_response({**self._block(), "epoch": 500, "confirmations": 0})

    async def bf_address(self, request: web.Request) -> web.Response:
        self.calls["addresses"] += 1
        if (refused := self._forbidden(request)) is not None:
            return refused
        addr = self._parse(request.match_info["address"])
        if addr is None:
            return web.json_response({"status_code": 400, "error": "Bad Request",
                                      "message": "Invalid address for this network or malformed address format."}, status=400)
        value = self.balance(str(addr))
        if value is None:
            return web.json_response({"status_code": 404, "error": "Not Found",
                                      "message": "The requested component has not been found."}, status=404)
        info = self._info(addr)
        amount = [{"unit": "lovelace", "quantity": str(value)}] if value else []
        return web.json_response({"address": info["address"], "amount": amount, "stake_address": info["stake_address"],
                                  "type": "byron" if str(addr).startswith(("Ae2", "Ddz")) else "shelley",
                                  "script": info["script_address"]})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[fault_middleware(lambda: self.faults)])
        app.router.add_get("/tip", self.koios_tip)
        app.router.add_post("/address_info", self.koios_address_info)
        app.router.add_get("/blocks/latest", self.bf_latest)
        app.router.add_get("/addresses/{address}", self.bf_address)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


def cardano_world(fake: FakeCardano, n: int, seed: str = "ada") -> dict:
    """``n`` addresses with balances at the snapshot (the current tip), then a block that changes a third of
    them: {"snapshot", "at_snapshot", "latest", "unseen"}."""
    rng = random.Random(seed)
    addrs = [new_address(rng, stake=i % 3 != 0) for i in range(n)]
    at_snapshot = {}
    for i, a in enumerate(addrs):
        at_snapshot[a] = rng.randrange(0, 10**13) if i % 7 else 0
        fake.set_balance(a, at_snapshot[a])
    snapshot = fake.height
    fake.mine(3)
    latest = dict(at_snapshot)
    for a in addrs[::3]:
        latest[a] = at_snapshot[a] + rng.randrange(1, 10**9)
        fake.set_balance(a, latest[a])
    unseen = new_address(rng)
    return {"snapshot": snapshot, "at_snapshot": at_snapshot, "latest": latest, "unseen": unseen}


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({"byron": BYRON}))
