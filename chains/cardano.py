"""Cardano ADA balances from a Koios or Blockfrost endpoint: the current UTxO set only, labelled with the tip.

Neither public API answers "the balance of this address at block H": Koios ``address_info`` and
Blockfrost ``/addresses/{address}`` sum the address's unspent outputs *now* (db-sync's view of the
tip). porscan reads the tip before and after the balances (Koios ``GET /tip``, Blockfrost
``GET /blocks/latest``) and labels every figure ``BlockRef(<tip before>, at_snapshot=False)`` with a
note "read at latest (block N, slot S, time T), not at the snapshot"; only a read whose tip was the
snapshot block both before and after counts as at the snapshot.

* **Koios** (``api = "koios"``, the default): ``POST /address_info`` with ``{"_addresses": [...]}``,
  up to ``max_batch`` addresses a request. ``balance`` is a decimal string of lovelace. An address the
  reply does not list has never appeared on chain (db-sync has no row for it): it holds 0 lovelace; the
  reply itself must be a well-formed list, anything else is an error for the whole request. A request
  the server refuses (HTTP 4xx) is split in halves until the refused address is alone, so one bad
  address never costs its neighbours their reads.
* **Blockfrost** (``api = "blockfrost"``): ``GET /addresses/{address}`` per address (no batch call),
  the ``lovelace`` entry of ``amount``; the key travels in the ``project_id`` header, written
  ``headers = { project_id = "${BLOCKFROST_PROJECT_ID}" }`` (resolved from the environment, never
  logged: redacted like a URL secret). Blockfrost's documented 404 object
  (``{"status_code": 404, "error": "Not Found", ...}``) for an address never seen means 0 lovelace.

Addresses: Shelley bech32 (``addr1...`` on mainnet, ``addr_test1...`` on the test networks: header
type 0-7 with the network id matching the hrp and the length matching the type) and Byron base58
(CBOR ``[tag 24(payload), crc32(payload)]``, the CRC checked). Stake (reward) addresses hold rewards,
not UTxOs, and are refused as "not a Cardano address". Only ADA is read (native tokens are not).
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from signatures.encoding import EncodingError, b58decode, bech32_decode_bytes

from .failover import EndpointAdapter, OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import Endpoint, RefusedError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BlockRef
from .results import Value, assemble, none_read, parse_inputs

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "latest"

KOIOS_MAX_ADDRESSES = 1000  # Koios' documented cap on list inputs
_SHELLEY_LENGTHS = {0: 57, 1: 57, 2: 57, 3: 57, 6: 29, 7: 29}  # header + payment (+ stake) credentials
NETWORK_IDS = {"mainnet": ("addr", 1), "preprod": ("addr_test", 0), "preview": ("addr_test", 0),
               "testnet": ("addr_test", 0)}

Read = tuple[int | None, str | None]


def _byron_ok(raw: bytes) -> bool:
    """``raw`` is CBOR ``[24(h'<payload>'), crc32(payload)]`` with a payload that is an address record."""
    if raw[:3] != b"\x82\xd8\x18":
        return False
    i = 3
    head = raw[i] if len(raw) > i else -1
    if 0x40 <= head <= 0x57:
        size, i = head - 0x40, i + 1
    elif head == 0x58 and len(raw) > i + 1:
        size, i = raw[i + 1], i + 2
    elif head == 0x59 and len(raw) > i + 2:
        size, i = int.from_bytes(raw[i + 1:i + 3], "big"), i + 3
    else:
        return False
    payload, rest = raw[i:i + size], raw[i + size:]
    if len(payload) != size or payload[:3] != b"\x83\x58\x1c":  # [root (28-byte hash), attributes, type]
        return False
    widths = {0x1a: 4, 0x19: 2, 0x18: 1}
    if not rest:
        return False
    if rest[0] <= 0x17:
        crc, tail = rest[0], rest[1:]
    elif rest[0] in widths:
        n = widths[rest[0]]
        crc, tail = int.from_bytes(rest[1:1 + n], "big"), rest[1 + n:]
        if len(rest) < 1 + n:
            return False
    else:
        return False
    return not tail and crc == zlib.crc32(payload)


def cardano_address(text: str, network: str = "mainnet") -> str | None:
    """The address as the APIs expect it (bech32 lower-case, Byron as written), or None when ``text`` is
    not a payment address of ``network`` (see the module docstring)."""
    hrp_want, net_want = NETWORK_IDS.get(network, NETWORK_IDS["testnet"])
    text = text.strip()
    if text[:4].lower() == "addr":
        try:
            hrp, raw = bech32_decode_bytes(text, max_length=1023)
        except EncodingError:
            return None
        if hrp != hrp_want or not raw:
            return None
        kind, net = raw[0] >> 4, raw[0] & 0x0F
        if net != net_want or kind > 7:
            return None
        want = _SHELLEY_LENGTHS.get(kind)
        if (want is not None and len(raw) != want) or (want is None and len(raw) < 32):  # 4, 5: pointers
            return None
        return text.lower()
    if network != "mainnet":  # Byron test-network addresses carry a protocol magic: not read here
        return None
    try:
        raw = b58decode(text)
    except EncodingError:
        return None
    return text if _byron_ok(raw) else None


def _lovelace(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class Tip:
    block: int
    hash: str | None
    slot: int | None
    time: int | None  # POSIX seconds

    @property
    def said(self) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)) if self.time is not None else "time unknown"
        return f"block {self.block}, slot {self.slot}, {when}"


def parse_koios_tip(reply: Any) -> Tip:
    row = reply[0] if isinstance(reply, list) and reply else None
    if not isinstance(row, dict):
        raise TransportError(f"tip: not a one-row list: {str(reply)[:120]}")
    block = _lovelace(row.get("block_height", row.get("block_no")))
    if block is None:
        raise TransportError(f"tip: no block number in {str(row)[:120]}")
    return Tip(block=block, hash=row.get("hash") if isinstance(row.get("hash"), str) else None,
               slot=_lovelace(row.get("abs_slot")), time=_lovelace(row.get("block_time")))


def parse_blockfrost_tip(reply: Any) -> Tip:
    block = _lovelace(reply.get("height")) if isinstance(reply, dict) else None
    if block is None or not isinstance(reply, dict):
        raise TransportError(f"blocks/latest: no height in {str(reply)[:120]}")
    return Tip(block=block, hash=reply.get("hash") if isinstance(reply.get("hash"), str) else None,
               slot=_lovelace(reply.get("slot")), time=_lovelace(reply.get("time")))


def parse_address_info(reply: Any, asked: Sequence[str]) -> dict[str, Read]:
    """Koios ``address_info`` rows -> lovelace per address asked (absent = never on chain = 0)."""
    if not isinstance(reply, list):
        raise TransportError(f"address_info: the reply is not a list: {str(reply)[:120]}")
    out: dict[str, Read] = {a: (0, None) for a in asked}
    for row in reply:
        addr = row.get("address") if isinstance(row, dict) else None
        if addr not in out:
            continue  # an address nobody asked for says nothing about the ones asked
        balance = _lovelace(row.get("balance")) if isinstance(row, dict) else None
        out[addr] = (balance, None) if balance is not None else (
            None, f"address_info: balance is not a whole number of lovelace: {row.get('balance')!r}")
    return out


def parse_blockfrost_address(reply: Any, address: str) -> Read:
    if not isinstance(reply, dict) or reply.get("address") != address:
        return None, f"addresses: answer for another address or no object: {str(reply)[:100]}"
    amounts = reply.get("amount")
    if not isinstance(amounts, list):
        return None, "addresses: no amount list"
    lovelace = [a for a in amounts if isinstance(a, dict) and a.get("unit") == "lovelace"]
    if not lovelace:
        return 0, None  # Blockfrost lists only the units held
    value = _lovelace(lovelace[0].get("quantity"))
    return (value, None) if value is not None and len(lovelace) == 1 else (
        None, f"addresses: unreadable lovelace quantity {lovelace[0].get('quantity')!r}")


def _blockfrost_not_found(exc: RefusedError) -> bool:
    """Blockfrost's documented 404 object for an address it has never seen (not any 404: a wrong base URL
    answers 404 too, with another body)."""
    text = str(exc)
    if not text.startswith("HTTP 404: "):
        return False
    try:
        body = json.loads(text[len("HTTP 404: "):])
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status_code") == 404 and body.get("error") == "Not Found"


class CardanoAdapter(OneEndpoint):
    """ADA balances from one Koios or Blockfrost endpoint, at the tip (labelled; see the module docstring)."""

    def __init__(self, network: str, endpoint: Endpoint, options: Mapping[str, Any] | None = None, *,
                 chain: str = "mainnet", attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        opts = dict(options or {})
        self.network = network
        self.api = str(opts.get("api", "koios"))
        if self.api not in ("koios", "blockfrost"):
            raise AdapterError(f"network {network}, endpoint {endpoint.label}: api {self.api!r} is not koios or blockfrost")
        self.chain = chain
        self.client: HttpApiClient = HttpApiClient(endpoint, opts.get("headers"), attempts=attempts, backoff_min=backoff_min,
                                    backoff_max=backoff_max)

    async def _tip(self) -> Tip:
        if self.api == "koios":
            return parse_koios_tip(await self.client.get("/tip"))
        return parse_blockfrost_tip(await self.client.get("/blocks/latest"))

    async def _koios_chunk(self, chunk: list[str]) -> dict[str, Read]:
        try:
            return parse_address_info(await self.client.post("/address_info", {"_addresses": chunk}), chunk)
        except RefusedError as exc:
            if len(chunk) == 1:
                return {chunk[0]: (None, f"address_info refused: {exc}")}
            half = len(chunk) // 2
            return {**await self._koios_chunk(chunk[:half]), **await self._koios_chunk(chunk[half:])}
        except TransportError as exc:
            return {a: (None, f"address_info: {exc}") for a in chunk}

    async def _blockfrost_one(self, address: str) -> Read:
        try:
            return parse_blockfrost_address(await self.client.get(f"/addresses/{quote(address, safe='')}"), address)
        except RefusedError as exc:
            if _blockfrost_not_found(exc):
                return 0, None
            return None, f"addresses: {exc}"
        except TransportError as exc:
            return None, f"addresses: {exc}"

    async def _read(self, addrs: list[str]) -> dict[str, Read]:
        endpoint = self.client.endpoint
        if self.api == "blockfrost":
            reads = await bounded_map(addrs, self._blockfrost_one, endpoint.concurrency)
            return dict(zip(addrs, reads))
        size = max(1, min(endpoint.max_batch, KOIOS_MAX_ADDRESSES))
        chunks = [addrs[i:i + size] for i in range(0, len(addrs), size)]
        out: dict[str, Read] = {}
        for part in await bounded_map(chunks, self._koios_chunk, endpoint.concurrency):
            out.update(part)
        return out

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        if asset.contract is not None:
            raise AdapterError(f"{asset.symbol} on {self.network}: only ADA is read (no native tokens)")
        keys, todo, _ = parse_inputs(self.network, asset, addresses, lambda a: cardano_address(a, self.chain), "")
        values: dict[str, Value] = {}
        notes: list[str] = []
        before_requests = self.requests
        label = self.label
        strategy = f"{label}:{'address_info' if self.api == 'koios' else 'addresses'}@latest"
        try:
            before = await self._tip()
        except TransportError as exc:  # this endpoint reads nothing: every address says why
            none_read(values, todo, f"{label}: {exc}", label, notes)
            return assemble(asset, height, addresses, keys, values, "not a Cardano address", [],
                            self.requests - before_requests, notes)
        reads = await self._read(todo) if todo else {}
        try:
            after: Tip | None = await self._tip()
        except TransportError as exc:
            after = None
            notes.append(f"{label}: tip after reading unknown ({exc})")
        at_snapshot = height is not None and after is not None and before.block == after.block == height
        block = BlockRef(before.block, before.hash, at_snapshot=at_snapshot)
        span = f"{before.said}" + (f"; tip after: block {after.block}" if after is not None else "")
        if not at_snapshot:
            notes.append(f"{label}: ADA read at latest ({span})"
                         + (f", not at the snapshot (block {height}): {self.api} serves only the current UTxO set"
                            if height is not None else ""))
        values.update((a, (v, e, label, block if v is not None else None)) for a, (v, e) in reads.items())
        return assemble(asset, height, addresses, keys, values, "not a Cardano address", [strategy],
                        self.requests - before_requests, notes)


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> EndpointAdapter:
    """``kind = "cardano"``: endpoint keys ``api`` (koios | blockfrost) and ``headers``; network key ``chain``
    (mainnet | preprod | preview)."""
    return CardanoAdapter(network_id, endpoint, endpoint_options, chain=str(network_options.get("chain", "mainnet")),
                          **retries)
