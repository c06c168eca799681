"""aelf balances (ELF and other MultiToken symbols) through a node's Web API: latest state only, labelled.

An aelf node answers contract *views* with ``POST /api/blockChain/executeTransaction``
(``{"RawTransaction": "<hex>"}``): a protobuf ``Transaction`` calling the MultiToken contract's
``GetBalance(GetBalanceInput{symbol, owner})``, signed, which the node executes on its best chain
state without broadcasting. The reply is the hex of ``GetBalanceOutput{symbol, owner, balance}``;
porscan checks that ``symbol`` and ``owner`` are the ones asked (an answer about something else is an
error, never a balance) and reads ``balance`` (int64, base units: ELF has 8 decimals). A protobuf
zero is an omitted field, so ``{symbol, owner}`` with no balance is a real 0.

* The view is signed with a fixed throw-away key derived here (it holds nothing and signs nothing
  but views; nodes check the signature of every transaction they execute, views included).
* The MultiToken contract's address comes from the endpoint/network key ``token_contract`` or, when
  absent, from the genesis contract (``GetContractAddressByName(sha256("AElf.ContractNames.Token"))``),
  once per endpoint.
* There is no view at a past height: ``GET /api/blockChain/chainStatus`` is read before and after,
  and every figure carries ``BlockRef(<BestChainHeight before>, at_snapshot=False)`` with a note
  "read at latest (block N, hash H), not at the snapshot", unless the best chain stood at the
  snapshot height both times.

Addresses: base58check of a 32-byte hash, plain or in the displayed form ``ELF_<address>_<chain id>``
(the chain id must be the network's ``chain`` key, "AELF" for the main chain, "tDVV" for the dAppChain).
A node's error object (``{"Error": {"Code", "Message"}}``, HTTP 4xx) is a per-address error.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

import coincurve

from signatures.encoding import EncodingError, b58check_decode, b58check_encode

from .failover import EndpointAdapter, OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import Endpoint, RefusedError, TransportError
from .protocol import Asset, BalanceBatch, BlockRef
from .results import Value, assemble, none_read, parse_inputs
from .secrets import ConfigError

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "latest"

PATH_STATUS = "/api/blockChain/chainStatus"
PATH_EXECUTE = "/api/blockChain/executeTransaction"
TOKEN_CONTRACT_NAME = "AElf.ContractNames.Token"
# a view-only signer: anyone can derive it, it owns nothing, it never sends a transaction
_READER = coincurve.PrivateKey(hashlib.sha256(b"porscan aelf read-only views").digest())

Read = tuple[int | None, str | None]


def aelf_address(text: str, chain: str = "AELF") -> bytes | None:
    """``ELF_<b58check>_<chain>`` or ``<b58check>`` -> the 32-byte address, None when it is not one."""
    text = text.strip()
    parts = text.split("_")
    if len(parts) == 3:
        prefix, text, suffix = parts
        if prefix != "ELF" or suffix != chain:
            return None
    elif len(parts) != 1:
        return None
    try:
        raw = b58check_decode(text)
    except EncodingError:
        return None
    return raw if len(raw) == 32 else None


def address_of_public_key(public_key: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(public_key).digest()).digest()


# ---------------------------------------------------------------------- protobuf, the few shapes needed

def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # int64 as protobuf writes it (two's complement in 10 bytes)
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value if value else b""


def _field_int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _address_msg(raw: bytes) -> bytes:
    return _field_bytes(1, raw)


def encode_transaction(*, sender: bytes, to: bytes, ref_block_number: int, ref_block_prefix: bytes, method: str,
                       params: bytes) -> bytes:
    """``aelf.Transaction`` without its signature (fields 1..6), as the node serialises it."""
    return (_field_bytes(1, _address_msg(sender)) + _field_bytes(2, _address_msg(to)) +
            _field_int(3, ref_block_number) + _field_bytes(4, ref_block_prefix) +
            _field_bytes(5, method.encode()) + _field_bytes(6, params))


def signed_view(to: bytes, method: str, params: bytes, ref_block_number: int, ref_block_hash: str) -> str:
    """The hex ``RawTransaction`` of a view call, signed by the read-only key."""
    body = encode_transaction(sender=address_of_public_key(_READER.public_key.format(compressed=False)), to=to,
                              ref_block_number=ref_block_number, ref_block_prefix=bytes.fromhex(ref_block_hash)[:4],
                              method=method, params=params)
    return (body + _field_bytes(10000, _READER.sign_recoverable(body))).hex()


def get_balance_input(symbol: str, owner: bytes) -> bytes:
    return _field_bytes(1, symbol.encode()) + _field_bytes(2, _address_msg(owner))


def decode_fields(data: bytes) -> dict[int, list[int | bytes]]:
    """A protobuf message's fields (varint and length-delimited only) by number; ValueError if malformed."""
    out: dict[int, list[int | bytes]] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            if i >= len(data) or shift > 63:
                raise ValueError("truncated varint")
            b = data[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.setdefault(number, []).append(varint())
        elif wire == 2:
            size = varint()
            if i + size > len(data):
                raise ValueError("truncated field")
            out.setdefault(number, []).append(data[i:i + size])
            i += size
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return out


def _one(fields: dict[int, list[int | bytes]], number: int, kind: type) -> Any:
    values = fields.get(number, [])
    if len(values) > 1 or (values and not isinstance(values[0], kind)):
        raise ValueError(f"field {number} malformed")
    return values[0] if values else kind()


def parse_get_balance_output(hex_text: Any, symbol: str, owner: bytes) -> Read:
    """``GetBalanceOutput`` hex -> balance, checked to answer ``symbol`` of ``owner``."""
    if not isinstance(hex_text, str):
        return None, f"GetBalance: the reply is not hex text: {str(hex_text)[:120]}"
    try:
        fields = decode_fields(bytes.fromhex(hex_text))
        got_symbol = _one(fields, 1, bytes).decode()
        got_owner = _one(decode_fields(_one(fields, 2, bytes)), 1, bytes)
        balance = _one(fields, 3, int)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"GetBalance: unreadable output ({exc})"
    if got_symbol != symbol or got_owner != owner:
        return None, f"GetBalance: answer for {got_symbol or '?'} of {b58check_encode(got_owner) if got_owner else '?'}"
    if balance >= 1 << 63:
        return None, "GetBalance: negative balance"
    return balance, None


def _text_or_json(body: bytes) -> Any:
    """executeTransaction answers its hex as plain text (a JSON string from some gateways); status is JSON."""
    text = body.decode("utf-8", "replace").strip()
    if text[:1] in ("{", "[", '"'):
        return json.loads(text)
    if all(c in "0123456789abcdefABCDEF" for c in text):
        return text
    raise ValueError("neither JSON nor hex")


def _node_error(exc: TransportError) -> str:
    """An ABP error envelope's code and message, else the transport's words."""
    text = str(exc)
    _, _, body = text.partition(": ")
    try:
        err = json.loads(body).get("Error")
        return f"{err.get('Code')} {err.get('Message')}".strip()
    except (ValueError, AttributeError):
        return text


class AelfAdapter(OneEndpoint):
    """MultiToken balances on one aelf chain from one node, at its best chain (see the module docstring)."""

    def __init__(self, network: str, endpoint: Endpoint, options: Mapping[str, Any] | None = None, *,
                 chain: str = "AELF", token_contract: str | None = None, attempts: int = 6,
                 backoff_min: float = 0.05, backoff_max: float = 8.0):
        opts = options or {}
        self.network = network
        self.chain = chain
        self.client: HttpApiClient = HttpApiClient(endpoint, opts.get("headers"), attempts=attempts, backoff_min=backoff_min,
                                    backoff_max=backoff_max)
        self.client._loads = _text_or_json
        configured = opts.get("token_contract", token_contract)
        self._token: bytes | None = aelf_address(str(configured), chain) if configured else None
        if configured and self._token is None:
            raise ConfigError(f"token_contract {configured!r} is not an aelf address")

    async def _status(self) -> tuple[BlockRef, str]:
        reply = await self.client.get(PATH_STATUS)
        if not isinstance(reply, dict):
            raise TransportError(f"chainStatus: not an object: {str(reply)[:120]}")
        height, best, chain_id = reply.get("BestChainHeight"), reply.get("BestChainHash"), reply.get("ChainId")
        if not isinstance(height, int) or isinstance(height, bool) or not isinstance(best, str) or len(best) != 64:
            raise TransportError("chainStatus without BestChainHeight / BestChainHash")
        if chain_id != self.chain:
            raise TransportError(f"chainStatus: chain {chain_id!r}, not {self.chain}")
        genesis = reply.get("GenesisContractAddress")
        return BlockRef(height, best, at_snapshot=False), genesis if isinstance(genesis, str) else ""

    async def _token_contract(self, head: BlockRef, genesis: str) -> bytes:
        if self._token is None:
            to = aelf_address(genesis, self.chain)
            if to is None or head.hash is None:
                raise TransportError("chainStatus has no genesis contract address")
            name = _field_bytes(1, hashlib.sha256(TOKEN_CONTRACT_NAME.encode()).digest())  # aelf.Hash
            reply = await self.client.post(PATH_EXECUTE, {"RawTransaction": signed_view(
                to, "GetContractAddressByName", name, head.number, head.hash)})
            try:
                raw = _one(decode_fields(bytes.fromhex(reply)), 1, bytes) if isinstance(reply, str) else b""
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise TransportError(f"GetContractAddressByName: no address in {str(reply)[:80]}")
            self._token = raw
        return self._token

    async def _balance(self, token: bytes, symbol: str, owner: bytes, head: BlockRef) -> Read:
        assert head.hash is not None
        raw = signed_view(token, "GetBalance", get_balance_input(symbol, owner), head.number, head.hash)
        try:
            return parse_get_balance_output(await self.client.post(PATH_EXECUTE, {"RawTransaction": raw}),
                                            symbol, owner)
        except TransportError as exc:
            return None, f"GetBalance: {_node_error(exc) if isinstance(exc, RefusedError) else exc}"

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        symbol = asset.contract or asset.symbol  # MultiToken symbols name tokens; no per-token contract
        keys, todo, _ = parse_inputs(self.network, Asset(asset.network, asset.symbol, asset.decimals), addresses,
                                     lambda a: aelf_address(a, self.chain), "")
        values: dict[bytes, Value] = {}
        notes: list[str] = []
        before_requests = self.requests
        label = self.label
        try:
            head, genesis = await self._status()
            token = await self._token_contract(head, genesis)
        except TransportError as exc:  # this endpoint reads nothing: every address says why
            none_read(values, todo, f"{label}: {_node_error(exc)}", label, notes)
            return assemble(asset, height, addresses, keys, values, "not an aelf address", [],
                            self.requests - before_requests, notes)
        reads = await bounded_map(todo, lambda a: self._balance(token, symbol, a, head), self.client.endpoint.concurrency)
        try:
            after: BlockRef | None = (await self._status())[0]
        except TransportError as exc:
            after = None
            notes.append(f"{label}: best chain after reading unknown ({exc})")
        at_snapshot = height is not None and after is not None and head.number == after.number == height
        block = BlockRef(head.number, head.hash, at_snapshot=at_snapshot)
        if not at_snapshot:
            span = f"block {head.number} ({head.hash})" + (f", best chain {after.number} after" if after else "")
            notes.append(f"{label}: {symbol} read at latest ({span})" +
                         (f", not at the snapshot (block {height}): aelf views run on the best chain state only"
                          if height is not None else ""))
        values.update((a, (v, e, label, block if v is not None else None)) for a, (v, e) in zip(todo, reads))
        return assemble(asset, height, addresses, keys, values, "not an aelf address", [f"{label}:GetBalance@latest"],
                        self.requests - before_requests, notes)


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> EndpointAdapter:
    """``kind = "aelf"``: network keys ``chain`` (chain id, "AELF") and ``token_contract`` (optional; else asked
    of the genesis contract); endpoint keys ``headers`` and ``token_contract``."""
    opts = {**endpoint_options}
    return AelfAdapter(network_id, endpoint, opts, chain=str(network_options.get("chain", "AELF")),
                       token_contract=network_options.get("token_contract"), **retries)
