"""EVM balances at a snapshot block: one adapter for every EVM chain.

Three ways to read, chosen per endpoint by a one-time probe, falling back on error:

1. ``state-override-reader``: porscan's own BalanceReader contract (contracts/BalanceReader.sol)
   injected with an ``eth_call`` state override at the snapshot block: thousands of native
   balances or ``balanceOf`` results per call, at any historical block, nothing deployed.
2. ``multicall3``: ``aggregate3`` where Multicall3 has code at that block.
3. ``batched-calls``: plain JSON-RPC batches of ``eth_getBalance`` / ``eth_call balanceOf``.

Every read is pinned to the block *hash* of the snapshot height (EIP-1898) when the endpoint
accepts it, so all results come from one block; an endpoint that refuses EIP-1898 reads by number and
the hash at that height is checked again afterwards (changed: the reads are errors, not amounts).
Batches that are too big (gas, payload, timeout) are split in half and retried, at most
``MAX_SPLIT_DEPTH`` times; an endpoint that fails or lacks the historical state hands over to the next.
An address whose read failed everywhere gets an error result, never a zero. Addresses are exactly
0x + 40 hex digits, with a valid EIP-55 checksum when mixed-case.

Why one file: one adapter; its three read strategies share the probe, the block checks, chunk
splitting and the per-endpoint state."""

from __future__ import annotations

import asyncio
import json
import random
import re
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, Sequence

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from signatures.hashing import keccak256

from .gcpause import paused_gc
from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef, NotArchiveError

_ARTIFACT = json.loads((Path(__file__).parent / "data" / "balance_reader.json").read_text())
READER_RUNTIME = _ARTIFACT["contracts"]["BalanceReader"]["runtime"]
READER_ADDRESS = "0x00000000000000000000000000000000b41a4ce5"  # where the override puts it (no real code there)
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
UINT256_MAX = 2**256 - 1

SEL_NATIVE = keccak(text="nativeBalances(address[])")[:4].hex()
SEL_TOKEN = keccak(text="tokenBalances(address,address[])")[:4].hex()
SEL_BALANCE_OF = "70a08231"
SEL_DECIMALS = "313ce567"
SEL_GET_ETH_BALANCE = keccak(text="getEthBalance(address)")[:4]
SEL_AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]

STRATEGIES = ("state-override-reader", "multicall3", "batched-calls")
MAX_SPLIT_DEPTH = 4  # a "too big" request is halved at most this many times (down to 1/16 of it)

# error texts that mean "this node has no state for that block"
_NOT_ARCHIVE = ("missing trie node", "header not found", "state not available", "pruned", "historical state",
                "state is not available", "unknown block", "state histories haven't been fully indexed",
                "required historical state unavailable", "block not found")
# error texts that mean "the request is too big: split it"
_TOO_BIG = ("out of gas", "gas required exceeds", "gas limit", "exceeds block gas", "too large", "payload",
            "response size", "limit exceeded", "request entity", "timeout", "413")


def _is(err: Exception, words: Sequence[str]) -> bool:
    text = str(err).lower()
    return any(w in text for w in words)


# exactly 0x + 40 hex digits (bytes.fromhex alone would skip whitespace: "0x" + 38 digits + "  " is 42 chars)
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HEX_QUANTITY = re.compile(r"[0-9a-fA-F]{1,64}")
# EIP-55: a letter is upper-case where the keccak of the lower-case hex has a nibble >= 8
_HIGH_NIBBLE = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b"\x20" * 8)
_LETTER = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b"\x20" * 6)
BAD_CHECKSUM = "bad EIP-55 checksum"
NOT_AN_ADDRESS = "not an EVM address"


def eip55_ok(body: str) -> bool:
    """Whether 40 hex digits (no 0x) carry a valid EIP-55 checksum. All-lower / all-upper: no checksum, ok."""
    if body.islower() or body.isupper() or body.isdigit():
        return True
    low = body.lower().encode()
    want = (int.from_bytes(keccak256(low).hex()[:40].encode().translate(_HIGH_NIBBLE), "big")
            & int.from_bytes(low.translate(_LETTER), "big"))
    return int.from_bytes(body.encode(), "big") ^ int.from_bytes(low, "big") == want


def address_error(text: str) -> str | None:
    """Why ``text`` is not usable as an EVM address (None: it is)."""
    t = text.strip()
    if not _ADDRESS.fullmatch(t):
        return NOT_AN_ADDRESS
    return None if eip55_ok(t[2:]) else BAD_CHECKSUM


def parse_address(text: str) -> bytes | None:
    """20 bytes from exactly 0x + 40 hex digits (surrounding whitespace allowed) with a valid EIP-55
    checksum when mixed-case; otherwise None (see :func:`address_error` for why)."""
    t = text.strip()
    if not _ADDRESS.fullmatch(t) or not eip55_ok(t[2:]):
        return None
    return bytes.fromhex(t[2:])


def _parse_all(addresses: Sequence[str]) -> list[bytes | None]:
    """``parse_address`` of every address; a C-speed pass when all are plain 0x + 40 hex digits, with the
    EIP-55 check only for the mixed-case ones."""
    if not all(map(_ADDRESS.fullmatch, addresses)):
        return list(map(parse_address, addresses))
    parsed: list[bytes | None] = [bytes.fromhex(a[2:]) for a in addresses]
    joined = "".join(addresses)
    if joined == joined.lower():  # no upper-case letter anywhere: no checksum to check
        return parsed
    for i, a in enumerate(addresses):
        body = a[2:]
        if not (body.islower() or body.isupper() or body.isdigit()) and not eip55_ok(body):
            parsed[i] = None
    return parsed


def encode_native_call(addrs: Sequence[bytes]) -> str:
    return "0x" + SEL_NATIVE + f"{32:064x}{len(addrs):064x}" + _pad_words(addrs)


def _pad_words(addrs: Sequence[bytes]) -> str:
    """20-byte addresses as 32-byte ABI words, hex, in one pass."""
    return (_ZERO12 + _ZERO12.join(addrs)).hex() if addrs else ""


_ZERO12 = bytes(12)


def encode_token_call(token: bytes, addrs: Sequence[bytes]) -> str:
    return ("0x" + SEL_TOKEN + "0" * 24 + token.hex() + f"{64:064x}{len(addrs):064x}"
            + _pad_words(addrs))


def decode_uint_array(result_hex: str, expected: int) -> list[int]:
    raw = bytes.fromhex(result_hex[2:] if result_hex[:2] == "0x" else result_hex)
    if len(raw) < 64:
        raise ValueError(f"reader returned {len(raw)} bytes")
    off = int.from_bytes(raw[0:32], "big")
    n = int.from_bytes(raw[off:off + 32], "big")
    if n != expected or len(raw) < off + 32 + 32 * n:
        raise ValueError(f"reader returned {n} values for {expected} addresses")
    base = off + 32
    view = memoryview(raw)
    frm = int.from_bytes
    return [frm(view[i:i + 32], "big") for i in range(base, base + 32 * n, 32)]


def decode_uint(result_hex: Any) -> int:
    if not isinstance(result_hex, str) or not result_hex.startswith("0x"):
        raise ValueError(f"not a hex quantity: {str(result_hex)[:40]!r}")
    body = result_hex[2:]
    if body == "":
        raise ValueError("empty return data")
    if not _HEX_QUANTITY.fullmatch(body):  # int(..., 16) would take "-1", "1_0", " 12", "+5"
        raise ValueError(f"not a hex quantity of at most 256 bits: {result_hex[:80]!r}")
    return int(body, 16)


Unread = tuple[None, str, str]  # an address not read: (None, error, endpoint label)


@dataclass(slots=True)
class _EndpointState:
    client: JsonRpcClient
    strategy: str | None = None  # chosen by the probe
    block_param_style: str | None = None  # "hash" (EIP-1898) or "number"
    batch: dict[str, int] = field(default_factory=dict)  # current chunk size per (strategy:native|token)
    failed_strategies: set[str] = field(default_factory=set)
    chain_checked: bool = False  # eth_chainId matched the network's chain_id


class EvmAdapter:
    """Balances of native coins and ERC-20 tokens on one EVM network, at a block height."""

    def __init__(self, network: str, endpoints: Sequence[Endpoint], *, force_strategy: str | None = None,
                 reader_batch: int = 10000, token_batch: int = 5000, call_batch: int = 1000,
                 cross_check: int = 0, attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0,
                 seed: int | None = None, multicall3: str | None = None, chain_id: int | None = None):
        if not endpoints:
            raise AdapterError(f"network {network}: no endpoints configured")
        if force_strategy and force_strategy not in STRATEGIES:
            raise AdapterError(f"unknown strategy {force_strategy!r}; choose from {', '.join(STRATEGIES)}")
        self.network = network
        self.chain_id = chain_id  # every endpoint must serve this chain (eth_chainId); None: not checked
        self.multicall3 = multicall3 or MULTICALL3  # zkSync Era has its own address
        self._states = [_EndpointState(JsonRpcClient(e, attempts=attempts, backoff_min=backoff_min,
                                                     backoff_max=backoff_max)) for e in endpoints]
        self.force_strategy = force_strategy
        self.initial = {"state-override-reader:native": reader_batch, "state-override-reader:token": token_batch,
                        "multicall3:native": call_batch, "multicall3:token": call_batch,
                        "batched-calls:native": call_batch, "batched-calls:token": call_batch}
        self.cross_check = cross_check
        self._rng = random.Random(seed)
        self._decimals_checked: dict[tuple[str, str], str | None] = {}

    @property
    def requests(self) -> int:
        return sum(s.client.requests for s in self._states)

    def provider_errors(self) -> dict[str, dict[str, int]]:
        return {s.client.label: dict(s.client.errors) for s in self._states}

    async def close(self) -> None:
        for s in self._states:
            await s.client.close()

    # ------------------------------------------------------------------ block and probing

    async def _block_hash(self, st: _EndpointState, number: int) -> str | None:
        """The hash of the block at ``number`` on this endpoint; the block must be that number."""
        c = st.client
        blk = await c.call("eth_getBlockByNumber", [hex(number), False])
        if not blk:
            raise AdapterError(f"{c.label}: block {number} not known (beyond the head?)")
        try:
            got = decode_uint(blk["number"])
            h = blk.get("hash")
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise AdapterError(f"{c.label}: unreadable block {number}: {exc!r}"[:300]) from None
        if got != number:
            raise AdapterError(f"{c.label}: asked for block {number}, the node returned block {got}")
        if h is not None and not isinstance(h, str):
            raise AdapterError(f"{c.label}: block {number} has no readable hash: {h!r}"[:300])
        return h

    async def _check_chain(self, st: _EndpointState) -> None:
        """An endpoint of another chain (mainnet config pointed at a local node, a testnet URL) would
        read real-looking balances of the wrong coins: it must answer the network's chain id."""
        if self.chain_id is None or st.chain_checked:
            return
        try:
            got = decode_uint(await st.client.call("eth_chainId", []))
        except ValueError as exc:
            raise AdapterError(f"{st.client.label}: eth_chainId unreadable: {exc}") from None
        if got != self.chain_id:
            raise AdapterError(f"{st.client.label}: serves chain id {got}, not {self.network}'s {self.chain_id}: "
                               "another chain, nothing read from it")
        st.chain_checked = True

    async def _block(self, st: _EndpointState, height: int | None) -> BlockRef:
        if height is None:
            try:
                number = decode_uint(await st.client.call("eth_blockNumber", []))
            except ValueError as exc:
                raise AdapterError(f"{st.client.label}: eth_blockNumber unreadable: {exc}") from None
            return BlockRef(number, await self._block_hash(st, number), at_snapshot=False)
        return BlockRef(height, await self._block_hash(st, height), at_snapshot=True)

    async def _recheck(self, st: _EndpointState, block: BlockRef, notes: list[str]) -> str | None:
        """After a read by block *number*: the hash at that height must still be the one reported.

        Returns the error for the values read when it changed, else None; a re-check that cannot be
        done is a note (as on Electrum)."""
        if st.block_param_style == "hash" or not block.hash:
            return None
        try:
            now = await self._block_hash(st, block.number)
        except (AdapterError, RpcError, TransportError) as exc:
            notes.append(f"{st.client.label}: block {block.number} not re-checked after the read by number: {exc}")
            return None
        if now != block.hash:
            return f"block changed during the read (reorg?): {block.number} was {block.hash}, now {now}"
        return None

    def _block_param(self, st: _EndpointState, block: BlockRef) -> Any:
        if st.block_param_style == "hash" and block.hash:
            return {"blockHash": block.hash}
        return hex(block.number)

    async def _probe(self, st: _EndpointState, block: BlockRef, asset: Asset) -> None:
        """Pick the block parameter style and the fastest strategy this endpoint supports."""
        c = st.client
        probe_addr = bytes(20)
        if st.block_param_style is None and block.hash:
            # the style is decided only by a definite answer: a transport failure (TransportError, raised
            # from here) leaves it undecided and the probe runs again on the next read
            try:
                res = await c.call("eth_getBalance", ["0x" + probe_addr.hex(), {"blockHash": block.hash}])
                decode_uint(res)
                st.block_param_style = "hash"
            except RpcError as exc:
                if _is(exc, _NOT_ARCHIVE):
                    raise NotArchiveError(f"{c.label}: no state for block {block.number}: {exc.message}") from None
                st.block_param_style = "number"  # EIP-1898 refused: reads go by number, re-checked after
            except ValueError:
                st.block_param_style = "number"
        # archive check: state at the block must be readable
        try:
            await c.call("eth_getBalance", ["0x" + probe_addr.hex(), self._block_param(st, block)])
        except RpcError as exc:
            if _is(exc, _NOT_ARCHIVE):
                raise NotArchiveError(f"{c.label}: no state for block {block.number}: {exc.message}") from None
            raise
        if st.strategy and st.strategy not in st.failed_strategies:
            return
        candidates = [self.force_strategy] if self.force_strategy else [s for s in STRATEGIES if s not in st.failed_strategies]
        for strategy in candidates:
            if strategy == "state-override-reader":
                try:
                    res = await c.call("eth_call", [{"to": READER_ADDRESS, "data": encode_native_call([probe_addr])},
                                                    self._block_param(st, block), {READER_ADDRESS: {"code": READER_RUNTIME}}])
                    decode_uint_array(res, 1)
                except (RpcError, ValueError, TypeError):
                    st.failed_strategies.add(strategy)
                    continue
            elif strategy == "multicall3":
                try:
                    code = await c.call("eth_getCode", [self.multicall3, self._block_param(st, block)])
                except RpcError:
                    code = "0x"
                if not code or code == "0x":
                    st.failed_strategies.add(strategy)
                    continue
            st.strategy = strategy
            return
        raise AdapterError(f"{c.label}: no read strategy works ({', '.join(sorted(st.failed_strategies))} failed)")

    async def _check_decimals(self, st: _EndpointState, asset: Asset, block: BlockRef) -> str | None:
        """Token decimals on chain must equal the configured ones; returns an error text or None."""
        key = (asset.contract or "", st.client.label)
        if key in self._decimals_checked:
            return self._decimals_checked[key]
        problem = None
        try:
            res = await st.client.call("eth_call", [{"to": asset.contract, "data": "0x" + SEL_DECIMALS},
                                                    self._block_param(st, block)])
            on_chain = decode_uint(res)
            if on_chain != asset.decimals:
                problem = f"token {asset.contract} has {on_chain} decimals on chain, config says {asset.decimals}"
        except RpcError as exc:
            problem = f"token {asset.contract}: decimals() failed at block {block.number}: {exc.message}"
        except (ValueError, TypeError) as exc:
            problem = f"token {asset.contract}: decimals() unreadable at block {block.number}: {exc}"
        self._decimals_checked[key] = problem
        return problem

    # ------------------------------------------------------------------ reading

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        with paused_gc():
            return await self._balances(asset, addresses, height)

    async def _balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        parsed = _parse_all(addresses)
        unique = list(dict.fromkeys(parsed))
        unparsed = None in unique
        if unparsed:
            unique.remove(None)
        todo: list[bytes] = unique  # type: ignore[assignment]  # None removed just above
        n_unique = len(todo)
        values: dict[bytes, int] = {}  # address -> amount read (plain ints: per-address work stays low)
        errors: dict[bytes, Unread] = {}  # address -> (None, error, endpoint label) of its last try
        read_on: list[tuple[str, list[bytes] | None]] = []  # endpoint label, addresses it read (None: all of the first)
        notes: list[str] = []
        token = parse_address(asset.contract) if asset.contract else None
        if asset.contract and token is None:
            raise AdapterError(f"{asset.symbol} on {self.network}: bad token contract {asset.contract!r}")
        block: BlockRef | None = None
        strategy_used: list[str] = []
        requests_before = self.requests
        for st in self._states:
            if not todo:
                break
            try:
                await self._check_chain(st)
                blk = await self._block(st, height)
                if block is None:
                    block = blk
                elif blk.hash and block.hash and blk.hash != block.hash:
                    notes.append(f"{st.client.label}: block {blk.number} hash {blk.hash} differs from {block.hash}; skipped")
                    continue
                await self._probe(st, block, asset)
                if token is not None:
                    problem = await self._check_decimals(st, asset, block)
                    if problem:
                        for a in todo:
                            errors[a] = (None, problem, st.client.label)
                        todo = []
                        notes.append(problem)
                        break
            except (AdapterError, RpcError, TransportError) as exc:
                notes.append(f"{st.client.label}: {exc}")
                continue
            strategy_used.append(f"{st.client.label}:{st.strategy}")
            got, failed = await self._read_all(st, block, token, todo)
            changed = await self._recheck(st, block, notes) if got else None
            if changed:  # read by number and the block at that height is another one now: nothing read counts
                notes.append(f"{st.client.label}: {changed}")
                failed.update((a, (None, changed, st.client.label)) for a in got)
                got = {}
            values.update(got)
            if read_on:  # a fallback endpoint: it read only what the others could not
                for a in got:
                    errors.pop(a, None)
            read_on.append((st.client.label, None if not read_on else list(got)))
            errors.update(failed)
            todo = list(failed)
        if self.cross_check and block is not None and len(self._states) > 1 and read_on:
            await self._settle_disputes(block, token, values, errors, read_on, notes)
        first = read_on[0][0] if read_on else ""
        label_of = {a: label for label, addrs in read_on[1:] for a in addrs or ()}
        if not errors and not unparsed and not label_of and len(values) == n_unique:
            # everything read on one endpoint (the common case): build the tuples without per-field work
            n = len(addresses)
            known: list[bytes] = parsed  # type: ignore[assignment]  # every address parsed (not unparsed)
            fields = zip(addresses, map(values.__getitem__, known), repeat(block, n), repeat(None, n), repeat(first, n))
            results = list(map(tuple.__new__, repeat(BalanceResult, n), fields))
        else:
            results = []
            append = results.append
            missing = (None, "no endpoint could read it", "")
            for text, p in zip(addresses, parsed):
                if p is None:
                    append(BalanceResult(text, None, None, address_error(text) or NOT_AN_ADDRESS))
                    continue
                v = values.get(p)
                if v is not None:
                    append(BalanceResult(text, v, block, None, label_of.get(p, first) if label_of else first))
                else:
                    err = errors.get(p, missing)
                    append(BalanceResult(text, None, block, err[1], err[2]))
        return BalanceBatch(asset, height, tuple(results), ",".join(strategy_used), self.requests - requests_before,
                            tuple(notes))

    async def _read_all(self, st: _EndpointState, block: BlockRef, token: bytes | None, addrs: list[bytes]
                        ) -> tuple[dict[bytes, int], dict[bytes, Unread]]:
        """(amounts read, errors) for ``addrs`` on one endpoint."""
        kind = "token" if token is not None else "native"
        out: dict[bytes, int] = {}
        failed: dict[bytes, Unread] = {}
        key = f"{st.strategy}:{kind}"
        size = st.batch.get(key) or self.initial[key]
        chunks = [addrs[i:i + size] for i in range(0, len(addrs), size)]
        sem = asyncio.Semaphore(max(1, st.client.endpoint.concurrency))

        async def run(chunk: list[bytes]) -> None:
            async with sem:
                await self._read_chunk(st, block, token, chunk, out, failed, key)

        await asyncio.gather(*(run(c) for c in chunks))
        return out, failed

    async def _read_chunk(self, st: _EndpointState, block: BlockRef, token: bytes | None, chunk: list[bytes],
                          out: dict[bytes, int], failed: dict[bytes, Unread], key: str, depth: int = 0,
                          gave_up: list[str] | None = None) -> None:
        """Read one chunk; a chunk "too big" for the endpoint is halved, at most ``MAX_SPLIT_DEPTH`` times
        (1/16 of the original). Past that the endpoint gives up on the whole original chunk (``gave_up``
        holds the error; the halves not tried yet fail with it at once) and failover takes over."""
        label = st.client.label
        if gave_up is None:
            gave_up = []
        if gave_up:
            for a in chunk:
                failed[a] = (None, gave_up[0], label)
            return
        try:
            if st.strategy == "state-override-reader":
                values = await self._read_reader(st, block, token, chunk)
            elif st.strategy == "multicall3":
                values = await self._read_multicall(st, block, token, chunk)
            else:
                values = await self._read_batched(st, block, token, chunk)
        except (RpcError, TransportError) as exc:
            rpc = isinstance(exc, RpcError)
            too_big = _is(exc, _TOO_BIG) if rpc else _is(exc, ("timeout", "413", "payload"))
            why = exc.message if isinstance(exc, RpcError) else str(exc)
            if isinstance(exc, RpcError) and _is(exc, _NOT_ARCHIVE):
                why = f"not an archive node for block {block.number}: {exc.message}"
            if too_big and len(chunk) > 1:
                if depth < MAX_SPLIT_DEPTH:
                    half = len(chunk) // 2
                    st.batch[key] = max(1, min(st.batch.get(key) or half, half))
                    await self._read_chunk(st, block, token, chunk[:half], out, failed, key, depth + 1, gave_up)
                    await self._read_chunk(st, block, token, chunk[half:], out, failed, key, depth + 1, gave_up)
                    return
                why = f"{why} (still too big after splitting the request {depth} times)"
                gave_up.append(why)
            for a in chunk:
                failed[a] = (None, why, label)
            return
        except (ValueError, TypeError) as exc:  # malformed result (e.g. null, not hex, short)
            for a in chunk:
                failed[a] = (None, f"unreadable result: {exc}", label)
            return
        size = st.batch.get(key)
        if size and len(chunk) >= size and size < self.initial[key]:  # worked at the reduced size: grow back
            st.batch[key] = min(self.initial[key], size + max(1, size // 8))
        if tuple not in set(map(type, values)):  # values: ints (read) or (None, error, label)
            out.update(zip(chunk, values))  # type: ignore[arg-type]  # no tuple among them: all ints
            return
        for a, v in zip(chunk, values):
            if isinstance(v, int):
                out[a] = v
            else:
                failed[a] = v

    async def _read_reader(self, st: _EndpointState, block: BlockRef, token: bytes | None,
                           chunk: list[bytes]) -> Sequence[int | Unread]:
        data = encode_token_call(token, chunk) if token is not None else encode_native_call(chunk)
        res = await st.client.call("eth_call", [{"to": READER_ADDRESS, "data": data}, self._block_param(st, block),
                                                {READER_ADDRESS: {"code": READER_RUNTIME}}])
        values = decode_uint_array(res, len(chunk))
        if token is None:
            return values
        label = st.client.label
        return [(None, "balanceOf reverted or returned no data", label) if v == UINT256_MAX else v for v in values]

    async def _read_multicall(self, st: _EndpointState, block: BlockRef, token: bytes | None,
                              chunk: list[bytes]) -> Sequence[int | Unread]:
        calls = []
        for a in chunk:
            if token is None:
                calls.append((self.multicall3, True, SEL_GET_ETH_BALANCE + bytes(12) + a))
            else:
                calls.append(("0x" + token.hex(), True, bytes.fromhex(SEL_BALANCE_OF) + bytes(12) + a))
        data = "0x" + (SEL_AGGREGATE3 + abi_encode(["(address,bool,bytes)[]"], [calls])).hex()
        res = await st.client.call("eth_call", [{"to": self.multicall3, "data": data}, self._block_param(st, block)])
        if not isinstance(res, str) or res[:2] != "0x":
            raise ValueError(f"aggregate3 returned {str(res)[:40]!r}")
        try:
            (decoded,) = abi_decode(["(bool,bytes)[]"], bytes.fromhex(res[2:]))
        except DecodingError as exc:
            raise ValueError(f"aggregate3 reply not decodable: {exc}") from None
        if len(decoded) != len(chunk):
            raise ValueError(f"multicall returned {len(decoded)} results for {len(chunk)} calls")
        label = st.client.label
        out: list[int | Unread] = []
        for ok, ret in decoded:
            if ok and len(ret) >= 32:
                out.append(int.from_bytes(ret[:32], "big"))
            else:
                out.append((None, "balanceOf reverted or returned no data", label))
        return out

    async def _read_batched(self, st: _EndpointState, block: BlockRef, token: bytes | None,
                            chunk: list[bytes]) -> Sequence[int | Unread]:
        bp = self._block_param(st, block)
        if token is None:
            calls = [("eth_getBalance", ["0x" + a.hex(), bp]) for a in chunk]
        else:
            tok = "0x" + token.hex()
            calls = [("eth_call", [{"to": tok, "data": "0x" + SEL_BALANCE_OF + "0" * 24 + a.hex()}, bp]) for a in chunk]
        results = await st.client.batch(calls)
        label = st.client.label
        out: list[int | Unread] = []
        for r in results:
            if isinstance(r, RpcError):
                out.append((None, r.message, label))
            elif isinstance(r, Exception):
                out.append((None, str(r), label))
            else:
                try:
                    out.append(decode_uint(r))
                except (ValueError, TypeError) as exc:
                    out.append((None, f"unreadable result: {exc}", label))
        return out

    async def _read_elsewhere(self, st: _EndpointState, block: BlockRef, token: bytes | None,
                              addrs: list[bytes]) -> dict[bytes, int] | str:
        """``addrs`` read on another endpoint at the same block, or why that was not possible."""
        try:
            await self._check_chain(st)
            await self._probe(st, block, Asset(self.network, "", 0))
            got, _ = await self._read_all(st, block, token, addrs)
            changed = await self._recheck(st, block, []) if got else None
        except (AdapterError, RpcError, TransportError) as exc:
            return str(exc)
        return changed if changed else got

    async def _settle_disputes(self, block: BlockRef, token: bytes | None, values: dict[bytes, int],
                               errors: dict[bytes, Unread], read_on: list[tuple[str, list[bytes] | None]], notes: list[str]) -> None:
        """Re-read a random sample on a second endpoint. Where the two disagree, neither figure counts:
        the address is unread ("disputed", both values and both labels) unless a third endpoint agrees
        with one of them, and then the value two endpoints agree on is the one kept."""
        primary = read_on[0][0]
        fallback = {a for _, addrs in read_on[1:] for a in addrs or ()}
        read = [a for a in values if a not in fallback]  # what the first endpoint alone says
        if not read:
            return
        sample = self._rng.sample(read, min(self.cross_check, len(read)))
        others = [s for s in self._states if s.client.label != primary]
        second, thirds = others[0], others[1:]
        got = await self._read_elsewhere(second, block, token, sample)
        if isinstance(got, str):
            notes.append(f"cross-check on {second.client.label} not possible: {got}")
            return
        bad = [a for a in sample if a in got and got[a] != values[a]]
        unread = [a for a in sample if a not in got]
        notes.append(f"cross-check: {len(sample) - len(bad) - len(unread)}/{len(sample)} sampled balances agree on "
                     f"{second.client.label}" + (f"; {len(unread)} unread there" if unread else ""))
        if not bad:
            return
        said = {a: [(primary, values[a]), (second.client.label, got[a])] for a in bad}
        open_ = list(bad)
        for third in thirds:
            if not open_:
                break
            third_got = await self._read_elsewhere(third, block, token, open_)
            if isinstance(third_got, str):
                notes.append(f"cross-check: third read on {third.client.label} not possible: {third_got}")
                continue
            for a in list(open_):
                if a not in third_got:
                    continue
                said[a].append((third.client.label, third_got[a]))
                agreeing = [label for label, v in said[a][:-1] if v == third_got[a]]
                if agreeing:
                    open_.remove(a)
                    if agreeing[0] != primary:  # the first endpoint was the odd one out
                        values[a] = third_got[a]
                        read_on.append((agreeing[0], [a]))
                    notes.append(f"cross-check: {to_checksum_address(a)} settled at {third_got[a]} "
                                 f"({' and '.join(agreeing + [third.client.label])} agree)")
        for a in open_:
            del values[a]
            what = ", ".join(f"{label} says {v}" for label, v in said[a])
            errors[a] = (None, f"disputed: {what}; not counted until a third read agrees with one", primary)
        for a in open_[:20]:
            notes.append(f"cross-check DISAGREEMENT {to_checksum_address(a)}: "
                         + ", ".join(f"{label} says {v}" for label, v in said[a]))
        if len(open_) > 20:
            notes.append(f"cross-check: {len(open_) - 20} more disputed addresses (see their rows)")
