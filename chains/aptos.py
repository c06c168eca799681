"""Aptos balances (APT, coins and fungible assets) at a ledger version, through a node's REST API (``/v1``).

Aptos keeps two kinds of balance side by side, and an asset may sit in either or both while it migrates
from the coin standard to the fungible-asset (FA) standard:

* the **coin store**: the resource ``0x1::coin::CoinStore<T>`` of the account
  (``GET /accounts/{addr}/resource/0x1::coin::CoinStore<T>?ledger_version=V``, ``data.coin.value``);
  an answer 404 with ``error_code`` ``resource_not_found`` or ``account_not_found`` (a well-formed
  Aptos error for that very resource) means no coin store: 0 there. Any other 404 is an error;
* the **primary fungible store**: the view function ``0x1::primary_fungible_store::balance(owner,
  metadata)`` (``POST /view?ledger_version=V``), which answers 0 when the store does not exist.

A row's amount is the SUM of both (never one silently for the other); the batch notes say how much was
found in each and for how many addresses. What is read for an asset:

* APT (``contract`` absent): ``CoinStore<0x1::aptos_coin::AptosCoin>`` + the FA store of metadata ``0xa``
  (the framework's paired APT metadata address);
* a coin type (``contract = "0x...::module::Name"``): its CoinStore + the FA store of its paired
  metadata, asked from ``0x1::coin::paired_metadata<T>()`` at the same version (none: the FA part is 0);
* an FA metadata address (``contract = "0x..."``, e.g. USDt): the primary FA store only.

**Snapshot.** A block height ``h`` becomes a ledger version through ``GET /blocks/by_height/{h}``: every
read is at that block's ``last_version`` and carries ``BlockRef(h, block_hash)``. At "latest" the node's
current block (``GET /`` then its ``last_version``) is pinned the same way and labelled not at the snapshot.
Nodes prune state history: HTTP 410 (``version_pruned`` / ``block_pruned``) makes the rows unread with that
reason (with the oldest version the node still has), so the failover can ask an archive endpoint; once
one read got 410 the rest of the batch is not asked again. Decimals are checked on chain once per endpoint
(``coin::decimals<T>`` / ``fungible_asset::decimals``).

Addresses: 32 bytes in hex, ``0x`` optional, leading zeros may be omitted (AIP-40's relaxed form, the one
published reserve files use); anything else is "not an Aptos address".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence
from urllib.parse import quote


from . import move
from .failover import EndpointAdapter, OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import _RATE_LIMIT_WORDS, Endpoint, RefusedError, TransportError
from .protocol import Asset, BalanceBatch, BlockRef
from .results import Value, assemble, none_read

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "at snapshot"

APT_COIN = "0x1::aptos_coin::AptosCoin"
APT_METADATA = "0x" + "0" * 63 + "a"
FA_METADATA_TYPE = "0x1::fungible_asset::Metadata"
NO_STORE = frozenset({"resource_not_found", "account_not_found"})  # 404 codes that mean "nothing here"
PRUNED = frozenset({"version_pruned", "block_pruned"})
_HEADERS = ("x-aptos-ledger-version", "x-aptos-ledger-oldest-version", "x-aptos-block-height",
            "x-aptos-oldest-block-height", "x-aptos-ledger-timestampusec")


def aptos_address(text: str) -> str | None:
    """``0x`` + 64 lower-case hex digits for an account address (1..64 digits, ``0x`` optional), else None."""
    return move.account(text)


def coin_type(text: str) -> str | None:
    """A coin type ``0x<addr>::<module>::<name>`` with its address in the short form the API prints."""
    return move.coin_type(text, short=True)


@dataclass(frozen=True, slots=True)
class Holding:
    """What an asset is on Aptos: a coin type (CoinStore, maybe with a paired FA) and/or an FA metadata address."""

    coin: str | None
    metadata: str | None  # None with a coin: its paired metadata is asked on chain


def holding(asset: Asset) -> Holding | None:
    if asset.contract is None:
        return Holding(APT_COIN, APT_METADATA)
    coin = coin_type(asset.contract)
    if coin is not None:
        return Holding(coin, APT_METADATA if coin == APT_COIN else None)
    meta = aptos_address(asset.contract)
    return Holding(None, meta) if meta is not None and asset.contract.strip()[:2] == "0x" else None


@dataclass(frozen=True, slots=True)
class Reply:
    """An Aptos API answer: HTTP status, parsed JSON body, the ``X-Aptos-*`` headers (lower-case names)."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def error_code(self) -> str:
        code = self.body.get("error_code") if isinstance(self.body, dict) else None
        return code if isinstance(code, str) else ""

    def why(self) -> str:
        message = self.body.get("message", "") if isinstance(self.body, dict) else ""
        oldest = self.headers.get("x-aptos-ledger-oldest-version")
        return (f"HTTP {self.status} {self.error_code}: {str(message)[:160]}"
                + (f" (oldest version kept: {oldest})" if oldest and self.error_code in PRUNED else ""))


class AptosClient(HttpApiClient):
    """GET and POST on the Aptos REST API with :class:`HttpApiClient`'s retries, limits, counters and redaction.
    An Aptos error answer (4xx with an ``error_code``) comes back as a :class:`Reply` for the caller to
    judge; 429, 5xx, timeouts and bodies that are not JSON are retried, then raise TransportError."""

    async def fetch(self, path: str) -> Reply:
        """``GET path``, retried as every HttpApiClient request is."""
        reply: Reply = await self._request(path, None, "GET")
        return reply

    async def view(self, function: str, type_arguments: Sequence[str], arguments: Sequence[Any],
                   version: int) -> Reply:
        """A view function at ``version``."""
        payload = json.dumps({"function": function, "type_arguments": list(type_arguments),
                              "arguments": list(arguments)}, separators=(",", ":")).encode()
        reply: Reply = await self._request(f"/view?ledger_version={version}", payload, "POST")
        return reply

    async def _post(self, payload: bytes | None, *, path: str = "", method: str = "POST", raw: bool = False) -> Any:
        return await self._exchange(method, path, payload)

    async def _exchange(self, method: str, path: str, payload: bytes | None) -> Reply:
        status, found, raw = await self._exchange_raw(method, path, payload, _HEADERS)
        if status == 429 or status >= 500:
            self._count(f"http-{status}")
            raise TransportError(f"HTTP {status}")
        try:
            body = json.loads(raw)
        except ValueError:
            if raw.lstrip()[:1] in (b"{", b"["):  # JSON cut short (any status): ask again
                self._count("malformed-json")
                raise TransportError("malformed JSON in reply") from None
            body = None
        reply = Reply(status, body, found)
        if status >= 400:
            if reply.error_code in NO_STORE:
                return reply  # an ordinary answer: the account holds no such resource
            self._count(f"http-{status}")
            text = self.redact(raw[:200].decode(errors="replace"))
            if status == 408 or any(w in text.lower() for w in _RATE_LIMIT_WORDS):
                raise TransportError(f"HTTP {status}: {text}")
            if not reply.error_code:  # not an Aptos API error: a proxy page, a wrong URL
                raise RefusedError(f"HTTP {status}: {text}")
            return reply
        if body is None:
            self._count("malformed-json")
            raise TransportError("malformed JSON in reply")
        return reply


def _u64(value: Any) -> int | None:
    """A Move u64 as the API writes it (a decimal string), or None."""
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    return None


def parse_coin_store(reply: Reply) -> tuple[int | None, str | None]:
    """A CoinStore resource answer -> (value, error); no such resource -> 0."""
    if reply.status == 404 and reply.error_code in NO_STORE:
        return 0, None
    if reply.status != 200:
        return None, f"CoinStore: {reply.why()}"
    data = reply.body.get("data") if isinstance(reply.body, dict) else None
    coin = data.get("coin") if isinstance(data, dict) else None
    value = _u64(coin.get("value")) if isinstance(coin, dict) else None
    if value is None:
        return None, "CoinStore: no data.coin.value (a u64 string) in the answer"
    return value, None


def parse_view_u64(reply: Reply, what: str) -> tuple[int | None, str | None]:
    """A view function answer ``["<u64>"]`` (or ``[<u8>]``) -> (value, error)."""
    if reply.status != 200:
        return None, f"{what}: {reply.why()}"
    body = reply.body
    if isinstance(body, list) and len(body) == 1:
        value = body[0] if isinstance(body[0], int) and not isinstance(body[0], bool) else _u64(body[0])
        if value is not None and value >= 0:
            return value, None
    return None, f"{what}: answer is not one unsigned integer: {str(body)[:80]}"


def parse_paired_metadata(reply: Reply) -> str | None:
    """``coin::paired_metadata<T>()`` -> the metadata address, or None when the coin has no FA pair."""
    if reply.status != 200:
        raise TransportError(f"coin::paired_metadata: {reply.why()}")
    try:
        vec = reply.body[0]["vec"]
        inner = vec[0]["inner"] if vec else None
    except (KeyError, IndexError, TypeError):
        raise TransportError(f"coin::paired_metadata: unexpected answer {str(reply.body)[:80]}") from None
    if inner is None:
        return None
    address = aptos_address(str(inner))
    if address is None:
        raise TransportError(f"coin::paired_metadata: not an address: {str(inner)[:80]}")
    return address


def _utc(usec: Any) -> str:
    micro = _u64(usec)
    if micro is None:
        return "time unknown"
    return datetime.fromtimestamp(micro / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Pinned:
    """The block a batch is read at and its last ledger version."""

    block: BlockRef
    version: int
    time: str


Read = tuple[int | None, str | None, int, int]  # (sum, error, coin store part, FA part)


class AptosAdapter(OneEndpoint):
    """Balances on Aptos from one endpoint (see the module docstring)."""

    def __init__(self, network: str, endpoint: Endpoint, options: Mapping[str, Any] | None = None, *,
                 attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        self.network = network
        self.client: AptosClient = AptosClient(endpoint, (options or {}).get("headers"), attempts=attempts,
                                               backoff_min=backoff_min, backoff_max=backoff_max)
        self._decimals: dict[Holding, str | None] = {}

    async def _pin(self, height: int | None) -> Pinned:
        """The block to read at (the snapshot, or the current one); TransportError when it cannot be had."""
        number = height
        if number is None:
            info = await self.client.fetch("")
            number = _u64(info.body.get("block_height")) if isinstance(info.body, dict) else None
            if info.status != 200 or number is None:
                raise TransportError(f"ledger info: {info.why() if info.status != 200 else 'no block_height'}")
        reply = await self.client.fetch(f"/blocks/by_height/{number}?with_transactions=false")
        if reply.status != 200:
            raise TransportError(f"block {number}: {reply.why()}")
        body = reply.body if isinstance(reply.body, dict) else {}
        last, got = _u64(body.get("last_version")), _u64(body.get("block_height"))
        block_hash = body.get("block_hash")
        if last is None or got != number or not isinstance(block_hash, str):
            raise TransportError(f"block {number}: answer without block_height {number} / last_version / block_hash")
        return Pinned(BlockRef(number, block_hash, at_snapshot=height is not None), last,
                      _utc(body.get("block_timestamp")))

    async def _check_decimals(self, what: Holding, asset: Asset, version: int) -> str | None:
        if what not in self._decimals:  # a TransportError propagates: not cached, the next endpoint tries
            if what.coin is not None:
                reply = await self.client.view("0x1::coin::decimals", [what.coin], [], version)
            else:
                reply = await self.client.view("0x1::fungible_asset::decimals", [FA_METADATA_TYPE],
                                               [what.metadata], version)
            value, err = parse_view_u64(reply, "decimals")
            name = what.coin or what.metadata
            self._decimals[what] = (f"{name}: {err}" if err else None if value == asset.decimals else
                                    f"{name} has {value} decimals on chain, config says {asset.decimals}")
        return self._decimals[what]

    async def _read_one(self, owner: str, what: Holding, metadata: str | None, version: int,
                        pruned: list[str]) -> Read:
        coin_part = fa_part = 0
        if pruned:
            return None, pruned[0], 0, 0
        if what.coin is not None:
            tag = quote(f"0x1::coin::CoinStore<{what.coin}>", safe="")
            try:
                reply = await self.client.fetch(f"/accounts/{owner}/resource/{tag}?ledger_version={version}")
            except TransportError as exc:
                return None, f"CoinStore: {exc}", 0, 0
            value, err = parse_coin_store(reply)
            if err is not None:
                return self._unread(reply, err, pruned)
            coin_part = value or 0
        if metadata is not None:
            try:
                reply = await self.client.view("0x1::primary_fungible_store::balance", [FA_METADATA_TYPE],
                                               [owner, metadata], version)
            except TransportError as exc:
                return None, f"primary fungible store: {exc}", 0, 0
            value, err = parse_view_u64(reply, "primary fungible store")
            if err is not None:
                return self._unread(reply, err, pruned)
            fa_part = value or 0
        return coin_part + fa_part, None, coin_part, fa_part

    def _unread(self, reply: Reply, err: str, pruned: list[str]) -> Read:
        if reply.error_code in PRUNED:
            self.client._count("pruned")
            if not pruned:
                pruned.append(f"state pruned on this endpoint: {err}")
            return None, pruned[0], 0, 0
        return None, err, 0, 0

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        keys = [aptos_address(a) for a in addresses]
        todo = list(dict.fromkeys(k for k in keys if k is not None))
        what = holding(asset)
        values: dict[str, Value] = {}
        notes: list[str] = []
        before = self.requests
        label = self.label
        strategy = ""
        if what is None:
            why = f"{asset.symbol} on {self.network}: {asset.contract!r} is neither a coin type nor an FA metadata address"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
        elif todo:
            try:
                pin = await self._pin(height)
                metadata = what.metadata
                if what.coin is not None and metadata is None:
                    metadata = parse_paired_metadata(
                        await self.client.view("0x1::coin::paired_metadata", [what.coin], [], pin.version))
                problem = await self._check_decimals(what, asset, pin.version)
            except TransportError as exc:  # this endpoint reads nothing: every address says why
                none_read(values, todo, f"{label}: {exc}", label, notes)
            else:
                if problem:
                    notes.append(problem)
                    values.update((k, (None, problem, label, None)) for k in todo)
                else:
                    strategy = self._read_note(what, metadata, asset, pin, height, notes)
                    pruned: list[str] = []
                    reads = await bounded_map(todo, lambda o: self._read_one(o, what, metadata, pin.version, pruned),
                                              self.client.endpoint.concurrency)
                    values.update((k, (amount, err, label, pin.block if amount is not None else None))
                                  for k, (amount, err, _, _) in zip(todo, reads))
                    notes.extend(self._split_notes(asset, reads, pruned))
        return assemble(asset, height, addresses, keys, values, "not an Aptos address", [strategy] if strategy else [],
                        self.requests - before, notes)

    def _read_note(self, what: Holding, metadata: str | None, asset: Asset, pin: Pinned, height: int | None,
                   notes: list[str]) -> str:
        parts = ([f"CoinStore<{what.coin}>"] if what.coin else []) + (
            [f"primary fungible store of {metadata}"] if metadata else [])
        if what.coin is not None and metadata is None:
            notes.append(f"{self.label}: {what.coin} has no paired fungible asset at version {pin.version}: "
                         "coin store only")
        where = f"ledger version {pin.version} (block {pin.block.number} {pin.block.hash}, {pin.time})"
        if height is None:
            notes.append(f"{self.label}: {asset.symbol} read at latest ({where}), not at a snapshot")
        else:
            notes.append(f"{self.label}: {asset.symbol} read at snapshot {where}")
        notes.append(f"{self.label}: {asset.symbol} = " + " + ".join(parts))
        return f"{self.label}:" + "+".join("coin-store" if p.startswith("CoinStore") else "fa-store" for p in parts)

    def _split_notes(self, asset: Asset, reads: list[Read], pruned: list[str]) -> list[str]:
        """Which store held what: totals and holder counts per store (assets part-way through migration)."""
        ok = [r for r in reads if r[0] is not None]
        coin_total, fa_total = sum(r[2] for r in ok), sum(r[3] for r in ok)
        coin_n, fa_n = sum(1 for r in ok if r[2]), sum(1 for r in ok if r[3])
        both = sum(1 for r in ok if r[2] and r[3])
        out = [f"{self.label}: {asset.symbol} held in coin stores: {coin_total} base units ({coin_n} addresses); "
               f"in primary fungible stores: {fa_total} ({fa_n} addresses); {both} address(es) hold both (summed)"]
        if pruned:
            out.append(f"{self.label}: {pruned[0]}")
        return out


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> EndpointAdapter:
    """The kind "aptos" for scanner/pipeline/adapters.py; endpoint key ``headers`` (e.g. an API key
    ``Authorization = "Bearer ${APTOS_API_KEY}"``); the endpoint URL is the API base, ending in ``/v1``."""
    return AptosAdapter(network_id, endpoint, endpoint_options, **retries)
