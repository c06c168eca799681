"""FAKE TRON HTTP API and FAKE Solana JSON-RPC servers: stand-ins, not nodes.

No TRON node (java-tron) and no Solana validator can run on the project machine (docs: test
infrastructure §8-9), so the TRON and Solana adapters are tested, benchmarked and demonstrated
(``porscan demo``, scanner/devnet/localworld.py) against these small aiohttp servers. They answer in the
shapes of the official APIs (TRON: developers.tron.network / tronprotocol.github.io HTTP and
JSON-RPC pages; Solana: solana.com/docs/rpc) over state the caller builds from real keys (tronpy
secp256k1 keys and base58check addresses; solders Ed25519 keypairs, program-derived associated
token accounts). Every endpoint label used with them starts with ``FAKE`` and they bind 127.0.0.1
on a free port only: they are never a default endpoint.

They reproduce the traps of the real services:

* TRON ``/wallet/getaccountbalance`` on a node without ``storage.balance.history.lookup`` answers
  ``{"balance": 0}`` with the block echoed (no error); with history it answers the balance of the
  latest change at or below the block, whose ``block_identifier`` may be older than the one asked.
* TRON ``/wallet/getaccount`` answers ``{}`` for an address never activated and omits a zero balance.
* TRON ``/jsonrpc`` ``eth_getBalance``/``eth_call`` accept only ``"latest"`` (the documented -32602
  messages otherwise); ``triggerconstantcontract`` runs on the current state only (no historical
  TRC-20), answers ``CONTRACT_VALIDATE_ERROR`` with a hex message for a missing contract and a
  ``REVERT`` for a reverting one. ``/jsonrpc`` takes batches of at most ``jsonrpc_max_batch`` calls
  (java-tron's ``node.jsonrpc.maxBatchSize``, default 100; a larger batch is refused whole with one
  -32005 error object, an empty one with -32600); ``eth_call`` answers ``balanceOf``/``decimals`` as
  ABI-encoded words (eth_abi), ``"0x"`` for an address without a contract, and an error for a revert.
* Solana has no balance at a slot: only ``minContextSlot`` (error -32016 while a lagging node is
  behind); ``getMultipleAccounts`` takes at most 100 keys; ``uiAmount`` is a float (wrong for big
  amounts: the adapter must use ``amount``); token accounts the node cannot parse come as base64.
  ``getProgramAccounts`` applies ``dataSize``/``memcmp`` filters and ``withContext`` over program
  accounts the caller adds; stake accounts come from the real Stake program (scanner/devnet/solana_stake.py).
  ``failing_methods`` makes the node refuse a method (as public RPCs refuse some program queries).
* Faults (TRON in-process; Solana through tests/support/faultproxy.py, which forwards only ``POST /``):
  HTTP 429, HTTP 500, timeouts, malformed JSON, TronGrid-style ``{"Error": "... frequency limit ..."}``
  rate-limit answers and plain error replies.

Serving needs only aiohttp and base58; building worlds with keys needs tronpy (TRON) and solders
(Solana keypairs and token accounts, the ``[test]`` extra), imported where they are used.

Run as a program (for bench/tron): ``python -m scanner.devnet.fake_tron_solana tron --accounts N --seed S``
prints ``FAKE-TRON listening on <url>`` and serves until killed.

Why one file: the two FAKE servers share the fault injection, the key helpers and the program used
by bench/tron; both are test infrastructure, not product code."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from .loopthread import ServedApp, start_local_site

TRON_FAULTS = ("http429", "http500", "timeout", "malformed", "rate-limit-reply")
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"


def seeded(label: str) -> bytes:
    """32 deterministic bytes for a private key or seed."""
    return hashlib.sha256(b"porscan-fake/" + label.encode()).digest()


# =========================================================================================== serving


@dataclass
class Faults:
    """Fault injection for the TRON fake: at ``rate``, one of ``kinds`` instead of the answer."""

    rate: float = 0.0
    kinds: tuple[str, ...] = TRON_FAULTS
    seed: int = 1
    timeout_sleep: float = 2.0
    paths: tuple[str, ...] = ()  # only these paths (empty: all)
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def pick(self, path: str) -> str | None:
        if self.rate <= 0 or (self.paths and path not in self.paths) or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.kinds)
        self.injected[kind] += 1
        return kind


_CANNED = {  # fault -> (HTTP status, body) answered instead of the real one
    "http429": (429, '{"Error":"Too Many Requests"}'),
    "http500": (500, "Internal Server Error"),
    "timeout": (504, "late"),  # after sleeping past the client's timeout
    "rate-limit-reply": (200, '{"Error":"The key exceeds the frequency limit(15), and the query server is suspended for 30s"}'),
    "error-reply": (200, '{"Error":"class java.lang.NullPointerException : null"}'),
}


async def _faulty(faults: Faults, path: str, answer: Callable[[], Any]) -> web.Response:
    kind = faults.pick(path)
    if kind == "timeout":
        await asyncio.sleep(faults.timeout_sleep)
    if kind in _CANNED:
        status, text = _CANNED[kind]
        return web.Response(status=status, text=text, content_type="application/json")
    body = json.dumps(answer(), separators=(",", ":"))
    if kind == "malformed":
        body = body[: max(1, len(body) // 2)]
    return web.Response(text=body, content_type="application/json")


# =========================================================================================== TRON


def tron_key(label: str):
    from tronpy.keys import PrivateKey

    return PrivateKey(seeded("tron/" + label))


def tron_address_of(label: str) -> tuple[str, bytes]:
    """(base58check T-address, 21-byte address) of a real secp256k1 key derived from ``label``."""
    pub = tron_key(label).public_key
    return pub.to_base58check_address(), bytes.fromhex(pub.to_hex_address())


def _b58(raw: bytes) -> str:
    import base58

    return base58.b58encode_check(raw).decode()


def _parse_addr(text: Any) -> bytes | None:
    import base58

    if not isinstance(text, str):
        return None
    try:
        raw = bytes.fromhex(text) if len(text) == 42 else base58.b58decode_check(text)
    except ValueError:
        return None
    return raw if len(raw) == 21 and raw[0] == 0x41 else None


def _from_evm(text: Any) -> bytes | None:
    """A JSON-RPC address (0x + 20 bytes, as TRON's /jsonrpc takes them) as the 21-byte TRON address."""
    return _parse_addr("41" + str(text or "").removeprefix("0x")[-40:])


def tron_addr(text: str) -> bytes:
    """A TRON address the caller wrote itself, as the 21 bytes the state is keyed by."""
    raw = _parse_addr(text)
    if raw is None:
        raise ValueError(f"not a TRON address: {text!r}")
    return raw


@dataclass
class TronToken:
    decimals: int
    balances: dict[bytes, list[tuple[int, int]]] = field(default_factory=dict)  # holder -> [(block, amount)]
    reverts: bool = False


class FakeTron:
    """FAKE TRON full node HTTP API (``/wallet/*``) and JSON-RPC (``/jsonrpc``) over in-memory state."""

    label = "FAKE-TRON"

    def __init__(self, *, history_lookup: bool = True, start_block: int = 60_000_000, seed: str = "t",
                 faults: Faults | None = None, mine_every: int = 0, jsonrpc_max_batch: int = 100):
        self.history_lookup = history_lookup
        self.jsonrpc_max_batch = jsonrpc_max_batch  # <= 0: no limit
        self.seed = seed
        self.first = start_block
        self.head = start_block
        self.accounts: dict[bytes, list[tuple[int, int]]] = {}  # address -> [(block, balance)], from activation
        self.tokens: dict[bytes, TronToken] = {}
        self.faults = faults or Faults()
        self.mine_every = mine_every  # > 0: a new block every N requests (the chain moves while we read)
        self.calls: Counter[str] = Counter()
        self.api_keys: Counter[str] = Counter()  # TRON-PRO-API-KEY header values received

    # ---- state
    def block_id(self, number: int) -> str:
        return number.to_bytes(8, "big").hex() + hashlib.sha256(f"{self.seed}/{number}".encode()).hexdigest()[16:]

    def mine(self, n: int = 1) -> int:
        self.head += n
        return self.head

    def set_trx(self, address: bytes, sun: int, block: int | None = None) -> None:
        hist = self.accounts.setdefault(address, [])
        at = self.head if block is None else block
        assert not hist or hist[-1][0] <= at, "history must be written in block order"
        hist.append((at, sun))

    def add_token(self, contract: bytes, decimals: int, reverts: bool = False) -> TronToken:
        return self.tokens.setdefault(contract, TronToken(decimals, reverts=reverts))

    def set_token(self, contract: bytes, holder: bytes, amount: int, block: int | None = None) -> None:
        self.tokens[contract].balances.setdefault(holder, []).append((self.head if block is None else block, amount))

    @staticmethod
    def _at(hist: list[tuple[int, int]] | None, block: int) -> tuple[int, int] | None:
        last = None
        for b, v in hist or ():
            if b > block:
                break
            last = (b, v)
        return last

    # ---- API
    def _block_json(self, number: int) -> dict:
        if not self.first <= number <= self.head:
            return {}
        return {"blockID": self.block_id(number),
                "block_header": {"raw_data": {"number": number, "timestamp": 1_700_000_000_000 + 3000 * number,
                                              "parentHash": self.block_id(number - 1), "version": 31,
                                              "witness_address": "41" + "11" * 20},
                                 "witness_signature": "00" * 65}}

    def getnowblock(self, body: dict) -> dict:
        return self._block_json(self.head)

    def getblockbynum(self, body: dict) -> dict:
        num = body.get("num")
        return self._block_json(num) if isinstance(num, int) else {"Error": "class java.lang.NullPointerException : null"}

    def getaccount(self, body: dict) -> dict:
        addr = _parse_addr(body.get("address"))
        if addr is None:
            return {"Error": "class java.lang.IllegalArgumentException : Invalid address"}
        entry = self._at(self.accounts.get(addr), self.head)
        if entry is None:
            return {}  # never activated
        out: dict[str, Any] = {"address": _b58(addr) if body.get("visible") else addr.hex(),
                               "create_time": 1_600_000_000_000, "latest_opration_time": 1_700_000_000_000,
                               "account_resource": {}, "owner_permission": {"permission_name": "owner", "threshold": 1}}
        if entry[1]:
            out["balance"] = entry[1]  # protobuf JSON leaves out zero values
        return out

    def getaccountbalance(self, body: dict) -> dict:
        try:
            addr = _parse_addr(body["account_identifier"]["address"])
            number = body["block_identifier"]["number"]
            block_hash = body["block_identifier"]["hash"]
        except (KeyError, TypeError):
            return {"Error": "class java.lang.NullPointerException : null"}
        if addr is None:
            return {"Error": "class java.lang.IllegalArgumentException : Invalid address"}
        if not isinstance(number, int) or not self.first <= number <= self.head or block_hash != self.block_id(number):
            return {"Error": "class org.tron.core.exception.ItemNotFoundException : number or hash is not matched"}
        if not self.history_lookup:  # the trap: no error, a zero, the block echoed
            return {"balance": 0, "block_identifier": {"hash": block_hash, "number": number}}
        entry = self._at(self.accounts.get(addr), number)
        if entry is None:
            return {"block_identifier": {"hash": block_hash, "number": number}}
        out: dict[str, Any] = {"block_identifier": {"hash": self.block_id(entry[0]), "number": entry[0]}}
        if entry[1]:
            out["balance"] = entry[1]
        return out

    def triggerconstantcontract(self, body: dict) -> dict:
        contract = _parse_addr(body.get("contract_address"))
        token = self.tokens.get(contract) if contract else None
        if token is None:
            return {"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": b"Smart contract is not exist.".hex()}}
        tx = {"ret": [{}], "visible": False, "txID": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
              "raw_data": {"contract": [{"parameter": {"value": body, "type_url": "type.googleapis.com/protocol.TriggerSmartContract"},
                                         "type": "TriggerSmartContract"}]}}
        if token.reverts:
            tx["ret"] = [{"ret": "FAILED", "contractRet": "REVERT"}]
            return {"result": {"result": True, "message": ""}, "energy_used": 160, "constant_result": [""], "transaction": tx}
        selector, param = body.get("function_selector"), body.get("parameter") or ""
        if selector == "decimals()":
            word = token.decimals
        elif selector == "balanceOf(address)" and len(param) == 64:
            entry = self._at(token.balances.get(b"\x41" + bytes.fromhex(param[24:])), self.head)  # latest only
            word = entry[1] if entry else 0
        else:
            tx["ret"] = [{"ret": "FAILED", "contractRet": "REVERT"}]
            return {"result": {"result": True}, "energy_used": 120, "constant_result": [""], "transaction": tx}
        return {"result": {"result": True}, "energy_used": 903, "constant_result": [f"{word:064x}"], "transaction": tx}

    def jsonrpc(self, body: Any) -> dict | list:
        """TRON's JSON-RPC, one call or a batch (see the module note on its limits)."""
        if not isinstance(body, list):
            return self._jsonrpc_one(body)
        if not body:
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "empty batch"}}
        if 0 < self.jsonrpc_max_batch < len(body):
            return {"jsonrpc": "2.0", "id": None, "error": {
                "code": -32005, "message": f"batch size {len(body)} exceeds the limit {self.jsonrpc_max_batch}"}}
        return [self._jsonrpc_one(item) for item in body]

    def _eth_call(self, call: Any) -> tuple[str | None, str | None]:
        """(result, revert message) of a constant call on the latest state."""
        from eth_abi import encode

        call = call if isinstance(call, dict) else {}
        to = _from_evm(call.get("to"))
        token = self.tokens.get(to) if to else None
        if token is None:
            return "0x", None  # no contract at that address: empty return data
        data = str(call.get("data") or call.get("input") or "").removeprefix("0x")
        if token.reverts:
            return None, "REVERT opcode executed"
        if data[:8] == "313ce567":
            word = token.decimals
        elif data[:8] == "70a08231" and len(data) == 72:
            entry = self._at(token.balances.get(b"\x41" + bytes.fromhex(data[32:])), self.head)
            word = entry[1] if entry else 0
        else:
            return None, "REVERT opcode executed"
        return "0x" + encode(["uint256"], [word]).hex(), None

    def _jsonrpc_one(self, body: Any) -> dict:
        """State only at "latest" (messages from the official eth_getBalance page)."""
        rid = body.get("id") if isinstance(body, dict) else None
        method, params = (body.get("method"), body.get("params") or []) if isinstance(body, dict) else (None, [])

        def err(code: int, msg: str) -> dict:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": msg, "data": "{}"}}

        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": rid, "result": hex(self.head)}
        if method in ("eth_getBalance", "eth_call"):
            tag = params[1] if len(params) > 1 else None
            if tag in ("earliest", "pending", "finalized"):
                return err(-32602, "TAG [earliest | pending | finalized] not supported")
            if isinstance(tag, str) and tag.startswith("0x"):
                return err(-32602, "QUANTITY not supported, just support TAG as latest")
            if tag != "latest":
                return err(-32602, "invalid block number")
            if method == "eth_getBalance":
                addr = _from_evm(params[0])
                entry = self._at(self.accounts.get(addr), self.head) if addr else None
                return {"jsonrpc": "2.0", "id": rid, "result": hex(entry[1] if entry else 0)}
            result, revert = self._eth_call(params[0] if params else None)
            return err(-32000, revert) if revert else {"jsonrpc": "2.0", "id": rid, "result": result}
        return err(-32601, f"the method {method} does not exist/is not available")

    def app(self) -> web.Application:
        app = web.Application()
        routes = {"/wallet/getnowblock": self.getnowblock, "/wallet/getblockbynum": self.getblockbynum,
                  "/wallet/getaccount": self.getaccount, "/wallet/getaccountbalance": self.getaccountbalance,
                  "/wallet/triggerconstantcontract": self.triggerconstantcontract, "/jsonrpc": self.jsonrpc}

        def route(path: str, fn: Callable[[Any], Any]):
            async def handle(request: web.Request) -> web.Response:
                self.calls[path] += 1
                if "TRON-PRO-API-KEY" in request.headers:
                    self.api_keys[request.headers["TRON-PRO-API-KEY"]] += 1
                if self.mine_every and sum(self.calls.values()) % self.mine_every == 0:
                    self.mine()
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return web.json_response({"Error": "class com.google.gson.JsonSyntaxException"})
                batch_ok = path == "/jsonrpc" and isinstance(body, list)
                return await _faulty(self.faults, path, lambda: fn(body if isinstance(body, dict) or batch_ok else {}))

            return handle

        for path, fn in routes.items():
            app.router.add_post(path, route(path, fn))
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())  # start() or use as a context manager


def tron_world(fake: FakeTron, n: int = 24, prefix: str = "w") -> dict:
    """Accounts and USDT/USDC holders with history around a snapshot block, on real TRON keys.

    Returns {"snapshot", "trx": {T-address: sun at snapshot}, "trx_latest", "usdt": {...} (latest),
    "usdt_contract", "usdc_contract", "reverting", "missing", "never_activated", "probe"}.
    """
    rng = random.Random(prefix)
    usdt_contract = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # mainnet USDT address, served by the FAKE
    usdc_contract = "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8"
    usdt, usdc = tron_addr(usdt_contract), tron_addr(usdc_contract)
    fake.add_token(usdt, 6)
    fake.add_token(usdc, 6)
    reverting_contract, reverting = tron_address_of(prefix + "/reverting-token")
    fake.add_token(reverting, 6, reverts=True)
    missing_contract, _ = tron_address_of(prefix + "/no-such-contract")
    addrs = [tron_address_of(f"{prefix}/{i}") for i in range(n)]
    trx: dict[str, int] = {}
    usdt_at: dict[str, int] = {}
    usdc_at: dict[str, int] = {}
    first = fake.head
    for i, (text, raw) in enumerate(addrs):
        if i % 6 == 5:
            continue  # never activated
        fake.set_trx(raw, rng.randrange(1, 10**6) * 10**6 + rng.randrange(10**6), first)
    fake.mine(5)
    for i, (text, raw) in enumerate(addrs):  # changes before the snapshot
        if i % 6 == 5:
            continue
        if i % 3 == 0:
            fake.set_trx(raw, 2**62 + 12_345 if i == 0 else rng.randrange(0, 10**14))  # not a float
        if i % 4 != 3:
            fake.set_token(usdt, raw, rng.randrange(0, 10**15) + (2**70 if i == 1 else 0))
        if i % 5 == 0:
            fake.set_token(usdc, raw, rng.randrange(1, 10**12))
    fake.mine(3)
    snapshot = fake.head
    for text, raw in addrs:
        hist = fake.accounts.get(raw)
        trx[text] = (fake._at(hist, snapshot) or (0, 0))[1]
    fake.mine(2)
    moved = []
    for i, (text, raw) in enumerate(addrs):  # changes after the snapshot: latest != snapshot
        if i % 4 == 0 and i % 6 != 5:
            fake.set_trx(raw, trx[text] + 1_000_000 + i)
            fake.set_token(usdt, raw, 7 + i)
            moved.append(text)
    fake.mine(1)
    trx_latest = {t: (fake._at(fake.accounts.get(r), fake.head) or (0, 0))[1] for t, r in addrs}
    usdt_at = {t: (fake._at(fake.tokens[usdt].balances.get(r), fake.head) or (0, 0))[1] for t, r in addrs}
    usdc_at = {t: (fake._at(fake.tokens[usdc].balances.get(r), fake.head) or (0, 0))[1] for t, r in addrs}
    return {"snapshot": snapshot, "trx": trx, "trx_latest": trx_latest, "usdt": usdt_at, "usdc": usdc_at,
            "usdt_contract": usdt_contract, "usdc_contract": usdc_contract, "reverting": reverting_contract,
            "missing": missing_contract, "moved": moved,
            "never_activated": [t for i, (t, _) in enumerate(addrs) if i % 6 == 5],
            "hex": {t: r.hex() for t, r in addrs}}


def tron_generated(fake: FakeTron, n: int, seed: str = "bench") -> list[str]:
    """``n`` activated accounts (real keys) with TRX and USDT at the head; returns their T-addresses."""
    usdt = tron_addr("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
    fake.add_token(usdt, 6)
    out = []
    for i in range(n):
        text, raw = tron_address_of(f"{seed}/{i}")
        fake.set_trx(raw, expected_generated(i))
        fake.set_token(usdt, raw, expected_generated(i) // 7)
        out.append(text)
    return out


def expected_generated(i: int) -> int:
    return 10**6 * (i % 1000) + i  # a few zeros-in-sun-fraction and exact small parts


# =========================================================================================== Solana


def sol_keypair(label: str):
    from solders.keypair import Keypair

    return Keypair.from_seed(seeded("sol/" + label))


def associated_token_account(owner: str, mint: str, program: str) -> str:
    from solders.pubkey import Pubkey

    pda, _ = Pubkey.find_program_address([bytes(Pubkey.from_string(owner)), bytes(Pubkey.from_string(program)),
                                          bytes(Pubkey.from_string(mint))], Pubkey.from_string(ATA_PROGRAM))
    return str(pda)


@dataclass
class SplAccount:
    mint: str
    owner: str
    amount: int
    program: str
    unparsed: bool = False  # served as base64 (a node that cannot parse it)


class FakeSolana:
    """FAKE Solana JSON-RPC (single and batched requests) over in-memory accounts."""

    label = "FAKE-SOLANA"

    def __init__(self, *, slot: int = 310_000_000, slot_step: int = 1, lagging: int = 0):
        self.slot = slot
        self.slot_step = slot_step  # slots the chain advances per HTTP request
        self.lagging = lagging  # the next N calls with minContextSlot answer -32016 (a node behind)
        self.lamports: dict[str, int] = {}
        self.mints: dict[str, tuple[int, str]] = {}  # mint -> (decimals, program)
        self.token_accounts: dict[str, SplAccount] = {}
        self.program_accounts: dict[str, tuple[str, int, bytes]] = {}  # address -> (owner program, lamports, data)
        self.failing_methods: set[str] = set()  # methods answered with an RPC error (a node that refuses them)
        self._memcmp_index: tuple[int, int, dict[bytes, list[str]]] | None = None
        self.calls: Counter[str] = Counter()

    def add_mint(self, mint: str, decimals: int, program: str = TOKEN_PROGRAM) -> None:
        self.mints[mint] = (decimals, program)

    def add_token_account(self, owner: str, mint: str, amount: int, *, address: str | None = None,
                          unparsed: bool = False) -> str:
        program = self.mints[mint][1]
        addr = address or associated_token_account(owner, mint, program)
        self.token_accounts[addr] = SplAccount(mint=mint, owner=owner, amount=amount, program=program, unparsed=unparsed)
        return addr

    def add_program_account(self, address: str, program: str, lamports: int, data: bytes) -> None:
        self.program_accounts[address] = (program, lamports, data)
        self._memcmp_index = None

    def index_program_accounts(self, offset: int, length: int) -> None:
        """Benchmarks: answer memcmp filters at exactly (offset, length) from an index, as a node with a
        secondary index does, instead of scanning every account per call (rebuilt after any add)."""
        index: dict[bytes, list[str]] = {}
        for addr, (_, _, data) in self.program_accounts.items():
            index.setdefault(data[offset:offset + length], []).append(addr)
        self._memcmp_index = (offset, length, index)

    # ---- methods
    def _ctx(self, value: Any) -> dict:
        return {"context": {"apiVersion": "2.1.21", "slot": self.slot}, "value": value}

    def getSlot(self, params):
        return self.slot

    def getBlockHeight(self, params):
        return self.slot - 21_000_000  # block height < slot (skipped slots)

    def getBalance(self, params):
        return self._ctx(self.lamports.get(params[0], 0))

    def getMultipleAccounts(self, params):
        keys = params[0]
        if len(keys) > 100:
            raise _RpcFail(-32602, "Too many inputs provided; max 100")
        out = []
        for k in keys:
            if k in self.lamports:
                out.append({"data": ["", "base64"], "executable": False, "lamports": self.lamports[k],
                            "owner": "11111111111111111111111111111111", "rentEpoch": 18446744073709551615, "space": 0})
            elif k in self.program_accounts:
                program, lamports, data = self.program_accounts[k]
                out.append({"data": ["", "base64"], "executable": False, "lamports": lamports, "owner": program,
                            "rentEpoch": 18446744073709551615, "space": len(data)})
            elif k in self.token_accounts:
                out.append({"data": ["", "base64"], "executable": False, "lamports": 2039280,
                            "owner": self.token_accounts[k].program, "rentEpoch": 18446744073709551615, "space": 165})
            else:
                out.append(None)
        return self._ctx(out)

    def getEpochSchedule(self, params):
        from solders.epoch_schedule import EpochSchedule

        es = EpochSchedule.default()  # mainnet's: 432,000 slots, warmup epochs first
        return {"firstNormalEpoch": es.first_normal_epoch, "firstNormalSlot": es.first_normal_slot,
                "leaderScheduleSlotOffset": es.leader_schedule_slot_offset, "slotsPerEpoch": es.slots_per_epoch,
                "warmup": es.warmup}

    def epoch(self) -> int:
        from solders.epoch_schedule import EpochSchedule

        return EpochSchedule.default().get_epoch(self.slot)

    def getProgramAccounts(self, params):
        """Accounts of a program with the RPC's filters (dataSize, memcmp with base58 or base64 bytes);
        ``encoding`` base64 (``dataSlice`` honoured) and ``withContext`` as the node answers them."""
        program, config = params[0], params[1] if len(params) > 1 else {}
        if config.get("encoding", "binary") not in ("base64", "base64+zstd"):
            raise _RpcFail(-32602, "Invalid params: FAKE node answers base64 only")
        filters = config.get("filters") or []
        if len(filters) > 4:
            raise _RpcFail(-32602, "Too many filters provided; max 4")
        wants = []
        for f in filters:
            if "dataSize" in f:
                wants.append(lambda d, n=int(f["dataSize"]): len(d) == n)
            elif "memcmp" in f:
                mc = f["memcmp"]
                raw = (base64.b64decode(mc["bytes"]) if mc.get("encoding") == "base64"
                       else b58decode_fake(mc["bytes"]))
                wants.append(lambda d, o=int(mc["offset"]), b=raw: d[o:o + len(b)] == b)
            else:
                raise _RpcFail(-32602, f"Invalid params: unknown filter {f!r}")
        ds = config.get("dataSlice")
        value = []
        candidates: Any = self.program_accounts
        if self._memcmp_index is not None:
            offset, length, index = self._memcmp_index
            for f in filters:
                mc = f.get("memcmp") or {}
                if mc.get("offset") == offset and mc.get("encoding", "base58") == "base58":
                    key = b58decode_fake(mc["bytes"]) if length == 32 else None
                    if key is not None:
                        candidates = index.get(key, [])
                        break
        for addr in candidates:
            owner, lamports, data = self.program_accounts[addr]
            if owner != program or not all(w(data) for w in wants):
                continue
            shown = data[ds["offset"]:ds["offset"] + ds["length"]] if ds else data
            value.append({"pubkey": addr, "account": {"data": [base64.b64encode(shown).decode(), "base64"],
                                                      "executable": False, "lamports": lamports, "owner": owner,
                                                      "rentEpoch": 18446744073709551615, "space": len(data)}})
        return self._ctx(value) if config.get("withContext") else value

    def getTokenAccountsByOwner(self, params):
        owner, filt = params[0], params[1]
        if "programId" in filt:
            program = filt["programId"]
            if program not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
                raise _RpcFail(-32602, "Invalid param: unrecognized Token program id")
            match = lambda a: a.program == program  # noqa: E731
        elif "mint" in filt:
            if filt["mint"] not in self.mints:
                raise _RpcFail(-32602, "Invalid param: could not find mint")
            match = lambda a: a.mint == filt["mint"]  # noqa: E731
        else:
            raise _RpcFail(-32602, "Invalid params")
        value = [{"pubkey": addr, "account": self._token_account_json(a)}
                 for addr, a in self.token_accounts.items() if a.owner == owner and match(a)]
        return self._ctx(value)

    def _token_account_json(self, a: SplAccount) -> dict:
        if a.unparsed:
            from solders.pubkey import Pubkey

            raw = (bytes(Pubkey.from_string(a.mint)) + bytes(Pubkey.from_string(a.owner)) + a.amount.to_bytes(8, "little")
                   + bytes(36) + b"\x01" + bytes(12) + bytes(8) + bytes(36))
            data: Any = [base64.b64encode(raw).decode(), "base64"]
        else:
            decimals = self.mints[a.mint][0]
            info = {"isNative": False, "mint": a.mint, "owner": a.owner, "state": "initialized",
                    "tokenAmount": {"amount": str(a.amount), "decimals": decimals, "uiAmount": a.amount / 10**decimals,
                                    "uiAmountString": _ui(a.amount, decimals)}}
            if a.program == TOKEN_2022_PROGRAM:
                info["extensions"] = [{"extension": "immutableOwner"}]
            data = {"parsed": {"info": info, "type": "account"},
                    "program": "spl-token-2022" if a.program == TOKEN_2022_PROGRAM else "spl-token",
                    "space": 170 if a.program == TOKEN_2022_PROGRAM else 165}
        return {"data": data, "executable": False, "lamports": 2039280, "owner": a.program,
                "rentEpoch": 18446744073709551615, "space": 165}

    def _call(self, req: Any) -> dict:
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or "method" not in req:
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid request"}}
        rid, method, params = req.get("id"), req["method"], req.get("params") or []
        self.calls[method] += 1
        fn = getattr(self, method, None) if method[:3] == "get" else None
        if fn is None:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "Method not found"}}
        config = params[-1] if params and isinstance(params[-1], dict) else {}
        try:
            if method in self.failing_methods:
                raise _RpcFail(-32010, f"{method} is not available on this node")
            min_slot = config.get("minContextSlot")
            if isinstance(min_slot, int) and (min_slot > self.slot or self.lagging > 0):
                if self.lagging > 0:
                    self.lagging -= 1
                raise _RpcFail(-32016, "Minimum context slot has not been reached", {"contextSlot": self.slot - 40})
            return {"jsonrpc": "2.0", "id": rid, "result": fn(params)}
        except _RpcFail as exc:
            error = {"code": exc.code, "message": exc.message}
            if exc.data is not None:
                error["data"] = exc.data
            return {"jsonrpc": "2.0", "id": rid, "error": error}
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": f"Invalid params: {exc}"}}

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.slot += self.slot_step
            try:
                body = json.loads(await request.read())
            except ValueError:
                return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
            reply = [self._call(r) for r in body] if isinstance(body, list) else self._call(body)
            return web.json_response(reply)

        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/", handle)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())  # start() or use as a context manager


class _RpcFail(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def b58decode_fake(text: str) -> bytes:
    from solders.pubkey import Pubkey

    return bytes(Pubkey.from_string(text))


def _ui(amount: int, decimals: int) -> str:
    text = str(amount).rjust(decimals + 1, "0")
    whole, frac = text[:-decimals] if decimals else text, text[-decimals:] if decimals else ""
    frac = frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


USDT_SPL_MINT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
USDC_SPL_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def solana_world(fake: FakeSolana, n: int = 20, prefix: str = "w") -> dict:
    """Wallets (real Ed25519 keypairs) with SOL, USDT (Token program) and a Token-2022 stable coin."""
    rng = random.Random(prefix)
    fake.add_mint(USDT_SPL_MINT, 6)
    fake.add_mint(USDC_SPL_MINT, 6)
    t22 = str(sol_keypair(prefix + "/token-2022-mint").pubkey())
    fake.add_mint(t22, 6, TOKEN_2022_PROGRAM)
    owners = [str(sol_keypair(f"{prefix}/{i}").pubkey()) for i in range(n)]
    sol, usdt, t22_bal, usdc = {}, {}, {}, {}
    for i, o in enumerate(owners):
        if i % 7 != 6:  # the rest have no account at all: 0 lamports, a real zero
            fake.lamports[o] = rng.randrange(890_880, 10**15) + (2**62 if i == 0 else 0)
        sol[o] = fake.lamports.get(o, 0)
        usdt[o] = t22_bal[o] = usdc[o] = 0
        if i % 3 != 2:
            amount = rng.randrange(0, 10**13) + (2**60 + 1 if i == 1 else 0)  # uiAmount (float) is wrong for this one
            fake.add_token_account(o, USDT_SPL_MINT, amount, unparsed=(i == 4))
            usdt[o] += amount
        if i % 4 == 1:  # a second, non-associated USDT account: balances are summed per owner
            extra = rng.randrange(1, 10**9)
            fake.add_token_account(o, USDT_SPL_MINT, extra, address=str(sol_keypair(f"{prefix}/extra/{i}").pubkey()))
            usdt[o] += extra
        if i % 2 == 0:
            amount = rng.randrange(1, 10**12)
            fake.add_token_account(o, t22, amount)
            t22_bal[o] = amount
        if i % 5 == 0:
            amount = rng.randrange(1, 10**10)
            fake.add_token_account(o, USDC_SPL_MINT, amount)
            usdc[o] = amount
    return {"owners": owners, "sol": sol, "usdt": usdt, "usdc": usdc, "t22": t22_bal, "t22_mint": t22}


# =========================================================================================== program


def main() -> None:
    p = argparse.ArgumentParser(description="FAKE TRON HTTP API for benchmarks (not a node)")
    p.add_argument("kind", choices=["tron"])
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--seed", default="bench")
    p.add_argument("--mine-every", type=int, default=0)
    p.add_argument("--no-history", action="store_true", help="no balance history (getaccountbalance answers 0)")
    p.add_argument("--fault-rate", type=float, default=0.0)
    args = p.parse_args()
    fake = FakeTron(mine_every=args.mine_every, history_lookup=not args.no_history,
                    faults=Faults(args.fault_rate, timeout_sleep=2.0))
    tron_generated(fake, args.accounts, args.seed)
    fake.mine()  # the balances were written at the block before the head

    async def run() -> None:
        _, port = await start_local_site(fake.app())
        print(f"FAKE-TRON listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
