"""FAKE Aptos node REST API (a stand-in, NOT a node): no Aptos node can run here.

It serves the four calls porscan's Aptos adapter makes, in the shapes the Aptos Node API documents
(aptos-core api/doc/spec.yaml): ``GET /v1`` (ledger info), ``GET /v1/blocks/by_height/{h}``,
``GET /v1/accounts/{addr}/resource/{struct tag}?ledger_version=V`` and ``POST /v1/view?ledger_version=V``
(``primary_fungible_store::balance``, ``coin::paired_metadata``, ``coin::decimals``,
``fungible_asset::decimals``). Errors are Aptos error objects ``{"message", "error_code",
"vm_error_code"}`` with ``X-Aptos-*`` headers: 404 ``resource_not_found`` for an absent CoinStore,
410 ``version_pruned`` / ``block_pruned`` below the pruning windows, 400 ``invalid_input``.

Built with the Aptos SDK from PyPI (``aptos-sdk``): addresses are parsed and printed with
``AccountAddress`` (relaxed parsing on the way in, AIP-40 strings on the way out), struct tags with
``StructTag``, paired-metadata addresses derived with ``AccountAddress.for_named_object``, and the state
is kept as BCS bytes (``CoinStore<T>`` and ``FungibleStore`` layouts, written with ``Serializer`` and read
back with ``Deserializer`` per answer), versioned per ledger version like the node's state store.

Faults (``rate``, ``kinds``): HTTP 429 / 500, a reply later than the client's timeout, malformed JSON,
and ``bare404`` (a 404 page that is not an Aptos error: never an absent store).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from aptos_sdk import ed25519
from aptos_sdk.account_address import AccountAddress
from aptos_sdk.bcs import Deserializer, Serializer
from aptos_sdk.type_tag import StructTag

from scanner.devnet.loopthread import ServedApp
from support.faultproxy import http_fault_reply

APT = "0x1::aptos_coin::AptosCoin"
FA_ROOT = AccountAddress.from_str("0xa")  # @aptos_fungible_asset: APT's metadata, creator of paired ones
USDT_METADATA = "0x357b0b74bc833e95a115ad22604854d6b0fca151cecd94111770e5d6ffc9dc2b"  # mainnet USDt, served FAKE
FAULTS = ("http429", "http500", "timeout", "malformed")
CHAIN_ID = 1


def canonical_type(text: str) -> str:
    return str(StructTag.from_str(text))


def seeded_address(seed: str) -> AccountAddress:
    """The account of a deterministic Ed25519 key (single-key auth: sha3-256(pubkey || 0x00))."""
    key = ed25519.PrivateKey.from_hex(hashlib.sha256(seed.encode()).hexdigest(), strict=False)
    return AccountAddress.from_key(key.public_key())


def coin_store_bcs(owner: AccountAddress, value: int) -> bytes:
    """``0x1::coin::CoinStore<T>``: coin {value}, frozen, deposit_events, withdraw_events (EventHandle =
    counter + GUID {creation_num, addr})."""
    s = Serializer()
    s.u64(value)
    s.bool(False)
    for creation_num in (2, 3):
        s.u64(0)
        s.u64(creation_num)
        owner.serialize(s)
    return s.output()


def coin_store_json(data: bytes, coin: str) -> dict:
    d = Deserializer(data)
    value, frozen = d.u64(), d.bool()
    handles = []
    for _ in range(2):
        counter, creation_num, addr = d.u64(), d.u64(), AccountAddress.deserialize(d)
        handles.append({"counter": str(counter), "guid": {"id": {"addr": str(addr), "creation_num": str(creation_num)}}})
    return {"type": f"0x1::coin::CoinStore<{coin}>",
            "data": {"coin": {"value": str(value)}, "deposit_events": handles[0], "frozen": frozen,
                     "withdraw_events": handles[1]}}


def fungible_store_bcs(metadata: AccountAddress, balance: int) -> bytes:
    """``0x1::fungible_asset::FungibleStore``: metadata (Object = address), balance, frozen."""
    s = Serializer()
    metadata.serialize(s)
    s.u64(balance)
    s.bool(False)
    return s.output()


def fungible_store_balance(data: bytes) -> int:
    d = Deserializer(data)
    AccountAddress.deserialize(d)
    return d.u64()


@dataclass
class Block:
    height: int
    first: int
    last: int
    hash: str
    usec: int


@dataclass
class FakeAptos:
    """The ledger: blocks of versions, and per (owner, store) the BCS value from each version on
    (``None``: the resource deleted, as a CoinStore is when its coins migrate to the FA store)."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULTS
    seed: int = 1
    timeout_sleep: float = 2.0
    state_oldest_version: int = 0  # state pruner window: reads below -> 410 version_pruned
    oldest_block: int = 0  # ledger pruner: blocks below -> 410 block_pruned
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.version = 0  # the next version to write
        self.blocks: list[Block] = []
        self.block_lasts: list[int] = []
        self.state: dict[tuple[str, str, str], tuple[list[int], list[bytes | None]]] = {}
        self.coins: dict[str, int] = {canonical_type(APT): 8}  # coin type -> decimals
        self.paired: dict[str, str] = {canonical_type(APT): str(FA_ROOT)}
        self.metadata: dict[str, int] = {str(FA_ROOT): 8}  # FA metadata address -> decimals
        self.requests: Counter = Counter()
        self.end_block()  # genesis

    # ------------------------------------------------------------------ building the ledger

    def add_coin(self, coin: str, decimals: int, paired: bool) -> str | None:
        tag = canonical_type(coin)
        self.coins[tag] = decimals
        if not paired:
            return None
        meta = str(AccountAddress.for_named_object(FA_ROOT, tag.encode()))
        self.paired[tag], self.metadata[meta] = meta, decimals
        return meta

    def add_metadata(self, address: str, decimals: int) -> None:
        self.metadata[str(AccountAddress.from_str_relaxed(address))] = decimals

    def _put(self, key: tuple[str, str, str], value: bytes | None) -> None:
        versions, values = self.state.setdefault(key, ([], []))
        versions.append(self.version)
        values.append(value)
        self.version += 1

    def set_coin(self, owner: AccountAddress, coin: str, value: int | None) -> None:
        """The CoinStore's value from the next version on (None: the store is deleted)."""
        self._put((str(owner), "coin", canonical_type(coin)), None if value is None else coin_store_bcs(owner, value))

    def set_fa(self, owner: AccountAddress, metadata: str, value: int) -> None:
        meta = AccountAddress.from_str_relaxed(metadata)
        self._put((str(owner), "fa", str(meta)), fungible_store_bcs(meta, value))

    def end_block(self) -> int:
        """Close a block over the versions written since the last one (a block metadata transaction
        first, as on chain); its height."""
        first = self.version
        self.version += 1
        height = len(self.blocks)
        digest = hashlib.sha3_256(f"block {height} {first}".encode()).hexdigest()
        self.blocks.append(Block(height, first, self.version - 1, "0x" + digest, 1_700_000_000_000_000 + height * 250_000))
        self.block_lasts.append(self.version - 1)
        return height

    def _at(self, key: tuple[str, str, str], version: int) -> bytes | None:
        versions, values = self.state.get(key, ([], []))
        i = bisect.bisect_right(versions, version)
        return values[i - 1] if i else None

    # ------------------------------------------------------------------ serving

    @property
    def ledger_version(self) -> int:
        return self.blocks[-1].last

    def _headers(self) -> dict[str, str]:
        head = self.blocks[-1]
        return {"X-Aptos-Chain-Id": str(CHAIN_ID), "X-Aptos-Ledger-Version": str(head.last),
                "X-Aptos-Ledger-Oldest-Version": str(self.state_oldest_version),
                "X-Aptos-Block-Height": str(head.height), "X-Aptos-Oldest-Block-Height": str(self.oldest_block),
                "X-Aptos-Epoch": "1", "X-Aptos-Ledger-TimestampUsec": str(head.usec)}

    def _json(self, body: object, status: int = 200) -> web.Response:
        return web.Response(status=status, text=json.dumps(body, separators=(",", ":")),
                            content_type="application/json", headers=self._headers())

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return self._json({"message": message, "error_code": code, "vm_error_code": None}, status)

    def _version(self, request: web.Request) -> int | web.Response:
        text = request.query.get("ledger_version")
        if text is None:
            return self.ledger_version
        if not text.isdigit():
            return self._error(400, "invalid_input", f"Failed to parse ledger_version {text!r}")
        v = int(text)
        if v > self.ledger_version:
            return self._error(404, "version_not_found",
                               f"Ledger version({v}) is greater than the latest ledger version({self.ledger_version})")
        if v < self.state_oldest_version:
            return self._error(410, "version_pruned",
                               f"Ledger version({v}) has been pruned, oldest available: {self.state_oldest_version}")
        return v

    async def _faulty(self, request: web.Request, handler) -> web.StreamResponse:
        self.requests[request.path.split("/")[2] if request.path.count("/") > 1 else "info"] += 1
        kind = self.rng.choice(self.kinds) if self.rate and self.rng.random() < self.rate else None
        if kind:
            self.injected[kind] += 1
        canned = await http_fault_reply(kind, self.timeout_sleep, "Internal Server Error")
        if canned is not None:
            return canned
        if kind == "bare404":
            return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
        resp = await handler(request)
        if kind == "malformed" and isinstance(resp, web.Response) and resp.body is not None:
            body = bytes(resp.body)
            return web.Response(status=resp.status, body=body[: max(1, len(body) // 2)], content_type="application/json")
        return resp

    async def ledger_info(self, request: web.Request) -> web.Response:
        head = self.blocks[-1]
        return self._json({"chain_id": CHAIN_ID, "epoch": "1", "ledger_version": str(head.last),
                           "oldest_ledger_version": str(self.state_oldest_version), "ledger_timestamp": str(head.usec),
                           "node_role": "full_node", "oldest_block_height": str(self.oldest_block),
                           "block_height": str(head.height), "git_hash": "FAKE"})

    async def block_by_height(self, request: web.Request) -> web.Response:
        text = request.match_info["height"]
        if not text.isdigit():
            return self._error(400, "invalid_input", f"Failed to parse path height {text!r}")
        h = int(text)
        if h >= len(self.blocks):
            return self._error(404, "block_not_found", f"Block height {h} not found, latest {len(self.blocks) - 1}")
        if h < self.oldest_block:
            return self._error(410, "block_pruned", f"Block({h}) has been pruned, oldest {self.oldest_block}")
        b = self.blocks[h]
        return self._json({"block_height": str(b.height), "block_hash": b.hash, "block_timestamp": str(b.usec),
                           "first_version": str(b.first), "last_version": str(b.last), "transactions": None})

    async def resource(self, request: web.Request) -> web.Response:
        try:
            owner = AccountAddress.from_str_relaxed(request.match_info["address"])
            tag = StructTag.from_str(request.match_info["tag"])
        except Exception as exc:  # the SDK's parsers raise plain exceptions on bad input
            return self._error(400, "invalid_input", f"invalid input: {exc}")
        version = self._version(request)
        if isinstance(version, web.Response):
            return version
        outer = str(tag)
        if not outer.startswith("0x1::coin::CoinStore<"):
            return self._error(404, "resource_not_found", f"Resource not found by Address({owner}), Struct tag({outer})")
        coin = outer[len("0x1::coin::CoinStore<"):-1]
        data = self._at((str(owner), "coin", coin), version)
        if data is None:
            return self._error(404, "resource_not_found",
                               f"Resource not found by Address({owner}), Struct tag({outer}) and Ledger version({version})")
        return self._json(coin_store_json(data, coin))

    async def view(self, request: web.Request) -> web.Response:
        version = self._version(request)
        if isinstance(version, web.Response):
            return version
        try:
            req = json.loads(await request.read())
            fn, types, args = req["function"], req["type_arguments"], req["arguments"]
        except (ValueError, KeyError, TypeError):
            return self._error(400, "invalid_input", "Failed to parse the view request")
        try:
            if fn == "0x1::primary_fungible_store::balance":
                owner, meta = AccountAddress.from_str_relaxed(args[0]), AccountAddress.from_str_relaxed(args[1])
                if str(meta) not in self.metadata:  # the Object<Metadata> argument must exist
                    return self._error(400, "invalid_input", f"Object {meta} does not exist")
                data = self._at((str(owner), "fa", str(meta)), version)
                return self._json([str(fungible_store_balance(data) if data is not None else 0)])
            if fn == "0x1::coin::paired_metadata":
                meta = self.paired.get(canonical_type(types[0]))
                return self._json([{"vec": [{"inner": meta}] if meta else []}])
            if fn == "0x1::coin::decimals":
                coin = canonical_type(types[0])
                if coin not in self.coins:
                    return self._error(400, "invalid_input", f"coin {coin} is not initialized")
                return self._json([self.coins[coin]])
            if fn == "0x1::fungible_asset::decimals":
                meta = str(AccountAddress.from_str_relaxed(args[0]))
                if meta not in self.metadata:
                    return self._error(400, "invalid_input", f"Object {meta} does not exist")
                return self._json([self.metadata[meta]])
        except (IndexError, TypeError, ValueError) as exc:
            return self._error(400, "invalid_input", f"bad arguments: {exc}")
        return self._error(400, "invalid_input", f"function {fn} not found")

    def app(self) -> web.Application:
        app = web.Application()

        def wrap(handler):
            async def faulty(request: web.Request) -> web.StreamResponse:
                return await self._faulty(request, handler)

            return faulty

        app.router.add_get("/v1", wrap(self.ledger_info))
        app.router.add_get("/v1/blocks/by_height/{height}", wrap(self.block_by_height))
        app.router.add_get("/v1/accounts/{address}/resource/{tag}", wrap(self.resource))
        app.router.add_post("/v1/view", wrap(self.view))
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


def aptos_world(fake: FakeAptos, n: int = 24, prefix: str = "w") -> dict:
    """Accounts around a snapshot block on real Ed25519 keys: APT in coin stores, in FA stores and in both
    (mid-migration), USDt in FA stores, a coin with a paired FA and one without; every balance changes
    after the snapshot (some stores migrate coin -> FA afterwards).

    Returns {"snapshot": height, "apt", "usdt", "coin", "lonely" (address -> value at the snapshot),
    "apt_latest", "split" (address -> (coin store, FA store) of APT at the snapshot), "coin_type",
    "lonely_type", "never_funded"}."""
    rng = random.Random(prefix)
    fake.add_metadata(USDT_METADATA, 6)
    coin = "0xc0ffee::moon::MOON"
    lonely = "0xbeef::old::OLD"
    fake.add_coin(coin, 6, paired=True)
    fake.add_coin(lonely, 4, paired=False)
    coin_meta = fake.paired[canonical_type(coin)]
    owners = [seeded_address(f"aptos/{prefix}/{i}") for i in range(n)]
    apt: dict[str, int] = {}
    split: dict[str, tuple[int, int]] = {}
    usdt: dict[str, int] = {}
    mine: dict[str, int] = {}
    old: dict[str, int] = {}
    for i, o in enumerate(owners):
        c = rng.randrange(1, 10**12) if i % 3 != 1 else 0
        f = rng.randrange(1, 10**12) if i % 3 != 0 else 0
        if c:
            fake.set_coin(o, APT, c)
        if f:
            fake.set_fa(o, str(FA_ROOT), f)
        split[str(o)], apt[str(o)] = (c, f), c + f
        usdt[str(o)] = rng.randrange(0, 10**10)
        fake.set_fa(o, USDT_METADATA, usdt[str(o)])
        mine[str(o)] = 0
        if i % 2:
            a, b = rng.randrange(1, 10**8), rng.randrange(1, 10**8)
            fake.set_coin(o, coin, a)
            fake.set_fa(o, coin_meta, b)
            mine[str(o)] = a + b
        old[str(o)] = rng.randrange(1, 10**6) if i % 4 == 0 else 0
        if old[str(o)]:
            fake.set_coin(o, lonely, old[str(o)])
        if i % 5 == 0:
            fake.end_block()
    snapshot = fake.end_block()
    for _ in range(3):  # later blocks: every balance moves, some coin stores migrate to FA
        for i, o in enumerate(owners):
            c, f = split[str(o)]
            if i % 4 == 0 and c:
                fake.set_coin(o, APT, None)
                fake.set_fa(o, str(FA_ROOT), c + f + 7)
            else:
                fake.set_fa(o, str(FA_ROOT), f + rng.randrange(1, 1000))
            fake.set_fa(o, USDT_METADATA, usdt[str(o)] + 1)
            fake.set_coin(o, coin, rng.randrange(1, 10**8))
        fake.end_block()
    latest = {}
    for o in owners:
        c = fake._at((str(o), "coin", canonical_type(APT)), fake.ledger_version)
        f = fake._at((str(o), "fa", str(FA_ROOT)), fake.ledger_version)
        latest[str(o)] = (Deserializer(c).u64() if c else 0) + (fungible_store_balance(f) if f else 0)
    return {"snapshot": snapshot, "apt": apt, "split": split, "usdt": usdt, "coin": mine, "lonely": old,
            "apt_latest": latest, "coin_type": coin, "lonely_type": lonely,
            "never_funded": str(seeded_address(f"aptos/{prefix}/never"))}


def bench_world(fake: FakeAptos, n: int, seed: str) -> int:
    """``n`` accounts for the bench: APT in coin store and FA store (value from :func:`expected_bench`),
    changed after the snapshot; returns the snapshot height."""
    for i in range(n):
        o = seeded_address(f"{seed}/{i}")
        c, f = expected_bench(i)
        fake.set_coin(o, APT, c)
        fake.set_fa(o, str(FA_ROOT), f)
    snapshot = fake.end_block()
    for i in range(n):
        fake.set_fa(seeded_address(f"{seed}/{i}"), str(FA_ROOT), 1)
    fake.end_block()
    return snapshot


def expected_bench(i: int) -> tuple[int, int]:
    return (i * 7919) % 10**9 + 1, (i * 104729) % 10**9
