"""FAKE aelf node Web API for tests and the bench: no aelf node can run here. Requests and replies go
through aelf-sdk's own protobuf types (``aelf.types_pb2``: Transaction, GetBalanceInput/Output, Address,
Hash): the node's checks are reproduced -- the raw transaction must parse, its recoverable secp256k1
signature over the unsigned transaction must recover to ``from_address`` (aelf verifies every executed
transaction), ``ref_block_number`` must be a block it knows -- and errors come in ABP's
``{"Error": {"Code", "Message", ...}}`` envelope with HTTP 403 as the node answers. ``executeTransaction``
answers the output's hex as plain text. Balances live per block, so a test can move the chain on.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")  # aelf-sdk's generated code is pre-3.20

import base58  # noqa: E402
import coincurve  # noqa: E402
from aelf import AElf  # noqa: E402
from aelf.types_pb2 import Address, GetBalanceInput, GetBalanceOutput, Hash, Transaction  # noqa: E402
from aiohttp import web  # noqa: E402

from scanner.devnet.loopthread import ServedApp  # noqa: E402
from support.httpfaults import HttpFaults, fault_middleware  # noqa: E402

CHAIN = "AELF"


def sdk_address(key: coincurve.PrivateKey) -> str:
    """aelf-sdk's address of a key (base58check of sha256(sha256(uncompressed public key)))."""
    return AElf.get_address_string_from_public_key(key.public_key.format(compressed=False))


def contract_address(name: str) -> bytes:
    return hashlib.sha256(b"FAKE contract " + name.encode()).digest()


class FakeAelf:
    def __init__(self, *, height: int = 250_000_000, chain: str = CHAIN):
        self.height = height
        self.chain = chain
        self.genesis = contract_address("Genesis")
        self.token = contract_address("AElf.ContractNames.Token")
        self.steps: dict[tuple[bytes, str], list[tuple[int, int]]] = {}
        self.faults = HttpFaults()
        self.calls: Counter[str] = Counter()

    def block_hash(self, height: int) -> str:
        return hashlib.sha256(b"FAKE aelf block" + height.to_bytes(8, "big")).hexdigest()

    def set_balance(self, address: str, symbol: str, amount: int, at: int | None = None) -> None:
        self.steps.setdefault((base58.b58decode_check(address), symbol), []).append(
            (self.height if at is None else at, amount))

    def mine(self, n: int = 1) -> None:
        self.height += n

    def balance(self, owner: bytes, symbol: str) -> int:
        steps = [v for b, v in self.steps.get((owner, symbol), []) if b <= self.height]
        return steps[-1] if steps else 0

    @staticmethod
    def _error(code: str, message: str, status: int = 403) -> web.Response:
        return web.json_response({"Error": {"Code": code, "Message": message, "Details": None, "Data": {},
                                            "ValidationErrors": None}}, status=status)

    async def chain_status(self, request: web.Request) -> web.Response:
        self.calls["chainStatus"] += 1
        return web.json_response({"ChainId": self.chain, "Branches": {}, "NotLinkedBlocks": {},
                                  "LongestChainHeight": self.height, "LongestChainHash": self.block_hash(self.height),
                                  "GenesisContractAddress": base58.b58encode_check(self.genesis).decode(),
                                  "LastIrreversibleBlockHash": self.block_hash(self.height - 8),
                                  "LastIrreversibleBlockHeight": self.height - 8,
                                  "BestChainHash": self.block_hash(self.height), "BestChainHeight": self.height})

    async def execute(self, request: web.Request) -> web.Response:
        self.calls["executeTransaction"] += 1
        body = await request.json()
        try:
            tx = Transaction()
            tx.ParseFromString(bytes.fromhex(body["RawTransaction"]))
        except Exception:
            return self._error("20012", "Invalid params", 400)
        signature, unsigned = tx.signature, Transaction()
        unsigned.CopyFrom(tx)
        unsigned.ClearField("signature")
        try:
            public = coincurve.PublicKey.from_signature_and_message(signature, unsigned.SerializeToString())
        except Exception:
            return self._error("20010", "Invalid signature")
        if AElf.get_address_from_public_key(public.format(compressed=False)).value != tx.from_address.value:
            return self._error("20010", "Invalid signature")
        if not 0 < tx.ref_block_number <= self.height or tx.ref_block_prefix != bytes.fromhex(self.block_hash(tx.ref_block_number))[:4]:
            return self._error("20010", "Invalid ref block")  # a view still names a block the node knows
        to, method = tx.to_address.value, tx.method_name
        if to == self.genesis and method == "GetContractAddressByName":
            name = Hash()
            name.ParseFromString(tx.params)
            if name.value != hashlib.sha256(b"AElf.ContractNames.Token").digest():
                return web.Response(text="", content_type="text/plain")
            out = Address(value=self.token)
        elif to == self.token and method == "GetBalance":
            args = GetBalanceInput()
            args.ParseFromString(tx.params)
            out = GetBalanceOutput(symbol=args.symbol, owner=args.owner,
                                   balance=self.balance(args.owner.value, args.symbol))
        else:
            return self._error("20011", "Failed to execute transaction: method not found", 403)
        return web.Response(text=out.SerializeToString().hex(), content_type="text/plain")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[fault_middleware(lambda: self.faults)])
        app.router.add_get("/api/blockChain/chainStatus", self.chain_status)
        app.router.add_post("/api/blockChain/executeTransaction", self.execute)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


def aelf_world(fake: FakeAelf, n: int, seed: str = "elf") -> dict:
    """``n`` addresses on real keys with ELF and USDT at the snapshot, then blocks changing a third of them."""
    rng = random.Random(seed)
    addrs = [sdk_address(coincurve.PrivateKey(rng.randbytes(32))) for _ in range(n)]
    elf = {a: (rng.randrange(0, 10**17) if i % 5 else 0) for i, a in enumerate(addrs)}
    usdt = {a: rng.randrange(0, 10**12) for a in addrs}
    for a in addrs:
        fake.set_balance(a, "ELF", elf[a])
        fake.set_balance(a, "USDT", usdt[a])
    snapshot = fake.height
    fake.mine(5)
    latest = dict(elf)
    for a in addrs[::3]:
        latest[a] = elf[a] + rng.randrange(1, 10**10)
        fake.set_balance(a, "ELF", latest[a])
    return {"snapshot": snapshot, "elf": elf, "elf_latest": latest, "usdt": usdt}
