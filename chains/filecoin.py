"""Filecoin balances (FIL, attoFIL: 18 decimals) over Lotus JSON-RPC.

* **At a height**: ``Filecoin.ChainGetTipSetByHeight(height, null)`` gives the tipset of that epoch, then
  ``Filecoin.StateGetActor(address, tipsetKey)`` per address (JSON-RPC batches, ``max_batch`` calls per
  HTTP request); ``Balance`` is a decimal string of attoFIL. Lotus reads "the parent state of the tipset"
  (filecoin-docs ``reference/json-rpc/state.md``): the state the chain had when that tipset was mined.
  Every row's :class:`BlockRef` is the tipset's height and key (its block CIDs, joined).
* **Null rounds**: an epoch may have no blocks. Lotus then answers the tipset of an earlier epoch
  ("If there are no blocks at the specified epoch, a tipset at an earlier epoch will be returned"): that is
  the previous non-null epoch, whose state is the chain's state at the requested one. porscan reads it and
  says so in the batch notes (the rows carry the tipset's own height).
* **Without a height**: ``Filecoin.ChainHead``; every row is labelled latest with the head's height.
* **Absent actors**: ``StateGetActor`` answers the error "actor not found" (``resolution lookup failed
  (f1...): resolve address f1...: actor not found``) for an address that never received FIL: that
  well-formed answer is 0. Every other error (state pruned at that height: public endpoints keep about 2000
  epochs, a lookup failure, a malformed actor) leaves the row unread, never 0.

Addresses (:func:`parse_filecoin_address`): ``f0`` ID (decimal actor id), ``f1`` secp256k1 and ``f2``
actor (20-byte BLAKE2b-160 payload), ``f3`` BLS (48-byte public key), each ``f1``-``f3`` with its base32
(RFC 4648, lower case, no padding) payload and 4-byte BLAKE2b checksum over protocol byte + payload.
``f4`` delegated addresses (``f410f...``, EVM namespace 10) are FEVM accounts: porscan reads them on the
EVM network of Filecoin (``filecoin-evm``, chain id 314) with their 0x form, and says so on the row.
The network key ``address_prefix`` is ``f`` (mainnet, default) or ``t`` (testnets).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

from .failover import OneEndpoint
from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BlockRef
from .results import Value, assemble

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "at snapshot"

FEVM_NETWORK = "filecoin-evm"
FEVM_CHAIN_ID = 314
EAM_NAMESPACE = 10  # the Ethereum Address Manager: f410 addresses are EVM accounts
CHECKSUM_BYTES = 4
PAYLOAD_BYTES = {1: 20, 2: 20, 3: 48}
MAX_ACTOR_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class FilAddress:
    """A decoded Filecoin address: protocol (0..4) and payload (ID: the unsigned LEB128 of the id)."""

    protocol: int
    payload: bytes
    text: str  # canonical form, prefix included

    @property
    def delegated_eth(self) -> str | None:
        """The 0x address of an ``f410`` (EVM namespace) address, else None."""
        if self.protocol != 4:
            return None
        namespace, n = _leb128(self.payload)
        sub = self.payload[n:]
        return "0x" + sub.hex() if namespace == EAM_NAMESPACE and len(sub) == 20 else None


def _leb128(data: bytes) -> tuple[int, int]:
    """(value, bytes used) of an unsigned LEB128 prefix of ``data``."""
    value = shift = 0
    for i, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    raise ValueError("bad LEB128")


def _leb128_encode(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _b32decode(text: str) -> bytes:
    if not text or text != text.lower() or "=" in text:
        raise ValueError("not lower-case unpadded base32")
    padded = text.upper() + "=" * (-len(text) % 8)
    raw = base64.b32decode(padded)
    if base64.b32encode(raw).decode().rstrip("=").lower() != text:  # non-canonical trailing bits
        raise ValueError("non-canonical base32")
    return raw


def _b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def checksum(protocol: int, payload: bytes) -> bytes:
    return hashlib.blake2b(bytes((protocol,)) + payload, digest_size=CHECKSUM_BYTES).digest()


def parse_filecoin_address(text: str, prefix: str = "f") -> FilAddress:
    """Decode and verify a Filecoin address string; ValueError saying why when it is not one."""
    s = text.strip()
    if len(s) < 3 or s[0] != prefix:
        raise ValueError(f"does not start with {prefix!r}")
    if not s[1].isdigit():
        raise ValueError("no protocol digit")
    protocol, body = int(s[1]), s[2:]
    if protocol == 0:
        if not body.isdigit() or not body.isascii() or (len(body) > 1 and body[0] == "0") or int(body) > MAX_ACTOR_ID:
            raise ValueError("bad actor id")
        return FilAddress(0, _leb128_encode(int(body)), f"{prefix}0{int(body)}")
    if protocol in PAYLOAD_BYTES:
        raw = _b32decode(body)
        payload, check = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
        if len(payload) != PAYLOAD_BYTES[protocol]:
            raise ValueError(f"payload of {len(payload)} bytes, expected {PAYLOAD_BYTES[protocol]}")
        if checksum(protocol, payload) != check:
            raise ValueError("checksum mismatch")
        return FilAddress(protocol, payload, s)
    if protocol == 4:
        ns_text, sep, rest = body.partition("f")
        if not sep or not ns_text.isdigit() or not ns_text.isascii() or (len(ns_text) > 1 and ns_text[0] == "0"):
            raise ValueError("bad delegated namespace")
        namespace = int(ns_text)
        if namespace > MAX_ACTOR_ID:
            raise ValueError("bad delegated namespace")
        raw = _b32decode(rest)
        sub, check = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
        if not 1 <= len(sub) <= 54:
            raise ValueError("bad delegated sub-address length")
        payload = _leb128_encode(namespace) + sub
        if checksum(4, payload) != check:
            raise ValueError("checksum mismatch")
        return FilAddress(4, payload, s)
    raise ValueError(f"unknown protocol {protocol}")


def format_filecoin_address(protocol: int, payload: bytes, prefix: str = "f") -> str:
    """The string form of protocol + payload (the inverse of :func:`parse_filecoin_address`)."""
    if protocol == 0:
        return f"{prefix}0{_leb128(payload)[0]}"
    if protocol == 4:
        namespace, n = _leb128(payload)
        return f"{prefix}4{namespace}f{_b32encode(payload[n:] + checksum(4, payload))}"
    return f"{prefix}{protocol}{_b32encode(payload + checksum(protocol, payload))}"


def parse_tipset(result: Any) -> tuple[int, list[Any], str]:
    """A TipSet object -> (height, key as the CID objects Lotus takes back, key as one string)."""
    if not isinstance(result, dict):
        raise ValueError("the tipset is not an object")
    height, cids = result.get("Height"), result.get("Cids")
    if type(height) is not int or height < 0:
        raise ValueError(f"tipset Height {height!r}")
    if not isinstance(cids, list) or not cids or not all(isinstance(c, dict) and isinstance(c.get("/"), str) for c in cids):
        raise ValueError("tipset without Cids")
    return height, cids, ",".join(c["/"] for c in cids)


def parse_actor(result: Any) -> int:
    """A StateGetActor result -> attoFIL."""
    balance = result.get("Balance") if isinstance(result, dict) else None
    if not isinstance(balance, str) or not balance.isdigit() or not balance.isascii():
        raise ValueError(f"actor Balance is not a decimal string: {str(balance)[:40]!r}")
    return int(balance)


def actor_not_found(err: RpcError) -> bool:
    """Lotus's "actor not found" (types.ErrActorNotFound), as a message or a registered error code."""
    return err.message.rstrip().endswith("actor not found")


class FilecoinAdapter(OneEndpoint):
    """FIL balances from one Lotus (or Lotus-compatible) JSON-RPC endpoint; see the module docstring."""

    def __init__(self, network: str, endpoint: Endpoint, *, prefix: str = "f", attempts: int = 6,
                 backoff_min: float = 0.05, backoff_max: float = 8.0):
        self.network = network
        self.prefix = prefix
        self.client = JsonRpcClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)

    def _parse(self, text: str) -> FilAddress | None:
        try:
            return parse_filecoin_address(text, self.prefix)
        except ValueError:
            return None

    async def _tipset(self, height: int | None) -> tuple[int, list[Any], str]:
        try:
            if height is None:
                result = await self.client.call("Filecoin.ChainHead", [])
            else:
                result = await self.client.call("Filecoin.ChainGetTipSetByHeight", [height, None])
            return parse_tipset(result)
        except RpcError as exc:
            raise TransportError(f"{'ChainHead' if height is None else 'ChainGetTipSetByHeight'}: {exc.message}") from None
        except ValueError as exc:
            raise TransportError(f"unreadable tipset: {exc}") from None

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        if asset.contract is not None:
            raise AdapterError(f"{asset.symbol} on {self.network}: Filecoin has no token contracts here; FEVM tokens "
                               f"are read on {FEVM_NETWORK} (kind evm)")
        keys = [self._parse(a) for a in addresses]
        values: dict[FilAddress, Value] = {}
        notes: list[str] = []
        label = self.label
        before = self.requests
        todo: list[FilAddress] = []
        for k in dict.fromkeys(k for k in keys if k is not None):
            eth = k.delegated_eth
            if k.protocol == 4:
                why = (f"f410 (delegated EVM) address: read it as {eth} on network {FEVM_NETWORK} (FEVM, chain id "
                       f"{FEVM_CHAIN_ID}) through the EVM adapter" if eth else
                       "delegated (f4) address outside the EVM namespace: not read")
                values[k] = (None, why, label, None)
            else:
                todo.append(k)
        if todo:
            try:
                tip_height, tsk, key = await self._tipset(height)
            except TransportError as exc:
                why = f"{label}: {exc}"
                notes.append(why)
                values.update((k, (None, why, label, None)) for k in todo)
                return assemble(asset, height, addresses, keys, values, "not a Filecoin address", [],
                                self.requests - before, notes)
            if height is not None and tip_height > height:
                why = f"{label}: ChainGetTipSetByHeight({height}) answered a tipset at {tip_height}, after the height asked"
                notes.append(why)
                values.update((k, (None, why, label, None)) for k in todo)
                return assemble(asset, height, addresses, keys, values, "not a Filecoin address", [],
                                self.requests - before, notes)
            block = BlockRef(tip_height, key, at_snapshot=height is not None)
            if height is None:
                notes.append(f"{label}: read at latest (tipset {tip_height}), not at a snapshot height")
            elif tip_height < height:
                notes.append(f"{label}: epochs {tip_height + 1}..{height} are null rounds (no blocks); read at the tipset "
                             f"of epoch {tip_height}, the previous non-null epoch, whose state is the chain's state at "
                             f"{height}")
            results = await self.client.batch([("Filecoin.StateGetActor", [k.text, tsk]) for k in todo])
            for k, res in zip(todo, results):
                if isinstance(res, RpcError):
                    values[k] = ((0, None, label, block) if actor_not_found(res) else
                                 (None, f"StateGetActor: {res.message[:200]}", label, None))
                elif isinstance(res, Exception):
                    values[k] = (None, str(res), label, None)
                else:
                    try:
                        values[k] = (parse_actor(res), None, label, block)
                    except ValueError as exc:
                        values[k] = (None, f"StateGetActor: {exc}", label, None)
        return assemble(asset, height, addresses, keys, values, "not a Filecoin address",
                        [f"{label}:StateGetActor"] if todo else [], self.requests - before, notes)


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> FilecoinAdapter:
    """kind "filecoin" (scanner/config/networks.toml): one adapter per endpoint, composed by the failover."""
    return FilecoinAdapter(network_id, endpoint, prefix=str(network_options.get("address_prefix", "f")), **retries)
