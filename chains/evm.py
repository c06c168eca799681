"""EVM balances at a snapshot block: one adapter for every EVM chain.

One adapter reads from one endpoint; several endpoints of a network (failover, ``--cross-check``
disputes settled by a third) are composed by :class:`chains.failover.FailoverAdapter`. Three ways to
read, chosen by a one-time probe of the endpoint, falling back on error:

1. ``state-override-reader``: porscan's own BalanceReader contract (contracts/BalanceReader.sol)
   injected with an ``eth_call`` state override at the snapshot block: thousands of native
   balances or ``balanceOf`` results per call, at any historical block, nothing deployed.
2. ``multicall3``: ``aggregate3`` where Multicall3 has code at that block.
3. ``batched-calls``: plain JSON-RPC batches of ``eth_getBalance`` / ``eth_call balanceOf``.

Every read is pinned to the block *hash* of the snapshot height (EIP-1898) when the endpoint
accepts it, so all results come from one block; an endpoint that refuses EIP-1898 reads by number and
the hash at that height is checked again afterwards (changed: the reads are errors, not amounts).
Batches that are too big (gas, payload, timeout) are split in half and retried, at most
``MAX_SPLIT_DEPTH`` times; what an endpoint that fails or lacks the historical state could not read
is an error result with the reason (never a zero), for the next endpoint to read. Addresses are exactly
0x + 40 hex digits, with a valid EIP-55 checksum when mixed-case.

BNB Chain StakeHub (network option ``stakehub = "0x...2002"``): native rows add the BNB each address
has delegated through StakeHub, at the same snapshot block, as parts of the amount: ``staked``
(``getPooledBNB`` on every validator's StakeCredit contract, rewards included) and ``unbonding``
(``lockedBNBs(delegator, 0)``: every unbond request not yet claimed, claimable ones included). The
validators' credit contracts come from ``StakeHub.getValidators(offset, limit)`` at that block. Read by
porscan's StakeHubReader (contracts/StakeHubReader.sol) in a state override where the endpoint takes
one, else in Multicall3 ``aggregate3`` calls, else by batched ``eth_call`` (the strategy the probe chose). An address whose delegations could not be read keeps its own
balance with ``parts_known=False`` and a note: never a liquid figure silently missing its stake.

Why one file: one adapter; its three read strategies share the probe, the block checks, chunk
splitting and the per-endpoint state."""

from __future__ import annotations

import asyncio
import json
import re
from itertools import repeat
from pathlib import Path
from typing import Any, Sequence

from signatures.hashing import keccak256

from .gcpause import paused_gc
from .failover import OneEndpoint
from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef, NotArchiveError

_ARTIFACT = json.loads((Path(__file__).parent / "data" / "balance_reader.json").read_text())
READER_RUNTIME = _ARTIFACT["contracts"]["BalanceReader"]["runtime"]
READER_ADDRESS = "0x00000000000000000000000000000000b41a4ce5"  # where the override puts it (no real code there)
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
STAKEHUB_READER_RUNTIME = json.loads((Path(__file__).parent / "data" / "stakehub_reader.json").read_text()
                                     )["contracts"]["StakeHubReader"]["runtime"]
STAKEHUB_READER_ADDRESS = "0x0000000000000000000000000000000057a4e400"  # override only, no real code there
SEL_GET_VALIDATORS = keccak256(b"getValidators(uint256,uint256)")[:4]
SEL_STAKES = keccak256(b"stakes(address[],address[])")[:4]
SEL_POOLED_BNB = keccak256(b"getPooledBNB(address)")[:4]
SEL_LOCKED_BNBS = keccak256(b"lockedBNBs(address,uint256)")[:4]
VALIDATORS_PAGE = 100
_STAKE_HOW = {"state-override-reader": "StakeHubReader override", "multicall3": "multicall3 aggregate3"}
UINT256_MAX = 2**256 - 1

SEL_NATIVE = keccak256(b"nativeBalances(address[])")[:4].hex()
SEL_TOKEN = keccak256(b"tokenBalances(address,address[])")[:4].hex()
SEL_BALANCE_OF = "70a08231"
SEL_DECIMALS = "313ce567"
SEL_GET_ETH_BALANCE = keccak256(b"getEthBalance(address)")[:4]
SEL_AGGREGATE3 = keccak256(b"aggregate3((address,bool,bytes)[])")[:4]


class _Abi:
    """eth_abi's codec, imported on first use: only the multicall3 and BNB-staking reads need it,
    and its import (eth_utils, pydantic) took ~0.17 s of every scan's start-up."""

    def __init__(self) -> None:
        from eth_abi.abi import decode, encode
        from eth_abi.exceptions import DecodingError

        self.encode, self.decode, self.DecodingError = encode, decode, DecodingError


_ABI: _Abi | None = None


def _abi() -> _Abi:
    global _ABI
    if _ABI is None:
        _ABI = _Abi()
    return _ABI

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


def _with_stake(addresses: Sequence[str], parsed: Sequence[bytes | None], values: dict[bytes, int],
                errors: dict[bytes, Unread], stakes: dict[bytes, tuple[int, int] | None], block: BlockRef | None,
                label: str) -> list[BalanceResult]:
    """Results whose amounts include StakeHub delegations as parts (unknown where they were not read)."""
    out = []
    for text, p in zip(addresses, parsed):
        if p is None:
            out.append(BalanceResult(text, None, None, address_error(text) or NOT_AN_ADDRESS))
            continue
        v = values.get(p)
        if v is None:
            err = errors[p]
            out.append(BalanceResult(text, None, block, err[1], err[2]))
            continue
        stake = stakes.get(p)
        if stake is None:
            out.append(BalanceResult(text, v, block, None, label, (), False))
            continue
        staked, unbonding = stake
        parts = tuple((k, n) for k, n in (("staked", staked), ("unbonding", unbonding)) if n)
        out.append(BalanceResult(text, v + staked + unbonding, block, None, label, parts))
    return out


class EvmAdapter(OneEndpoint):
    """Balances of native coins and ERC-20 tokens on one EVM network, at a block height, from one endpoint.

    The probe's results (block parameter style, strategy, chunk sizes, chain id, token decimals) are kept
    for the adapter's life: only the first read of a run pays for them. Several endpoints: one adapter
    each, composed by :class:`chains.failover.FailoverAdapter`."""

    def __init__(self, network: str, endpoint: Endpoint, *, force_strategy: str | None = None,
                 reader_batch: int = 10000, token_batch: int = 5000, call_batch: int = 1000,
                 attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0,
                 multicall3: str | None = None, chain_id: int | None = None, stakehub: str | None = None,
                 stake_pairs: int = 1000):
        if force_strategy and force_strategy not in STRATEGIES:
            raise AdapterError(f"unknown strategy {force_strategy!r}; choose from {', '.join(STRATEGIES)}")
        self.network = network
        self.chain_id = chain_id  # the endpoint must serve this chain (eth_chainId); None: not checked
        self.multicall3 = multicall3 or MULTICALL3  # zkSync Era has its own address
        self.client = JsonRpcClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self.force_strategy = force_strategy
        self.initial = {"state-override-reader:native": reader_batch, "state-override-reader:token": token_batch,
                        "multicall3:native": call_batch, "multicall3:token": call_batch,
                        "batched-calls:native": call_batch, "batched-calls:token": call_batch}
        self.strategy: str | None = None  # chosen by the probe
        self.block_param_style: str | None = None  # "hash" (EIP-1898) or "number"
        self.batch: dict[str, int] = {}  # current chunk size per (strategy:native|token)
        self.failed_strategies: set[str] = set()
        self.chain_checked = False  # eth_chainId matched the network's chain_id
        self._decimals_checked: dict[str, str | None] = {}  # token contract -> problem or None
        self.stakehub = parse_address(stakehub) if stakehub else None
        if stakehub and self.stakehub is None:
            raise AdapterError(f"network {network}: stakehub {stakehub!r} is not an EVM address")
        self.stake_pairs = stake_pairs  # (delegator, validator) pairs per StakeHubReader call
        self._credits: dict[str, list[bytes]] = {}  # block hash or number -> StakeCredit contracts

    # ------------------------------------------------------------------ block and probing

    async def _block_hash(self, number: int) -> str | None:
        """The hash of the block at ``number`` on this endpoint; the block must be that number."""
        c = self.client
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

    async def _check_chain(self) -> None:
        """An endpoint of another chain (mainnet config pointed at a local node, a testnet URL) would
        read real-looking balances of the wrong coins: it must answer the network's chain id."""
        if self.chain_id is None or self.chain_checked:
            return
        try:
            got = decode_uint(await self.client.call("eth_chainId", []))
        except ValueError as exc:
            raise AdapterError(f"{self.label}: eth_chainId unreadable: {exc}") from None
        if got != self.chain_id:
            raise AdapterError(f"{self.label}: serves chain id {got}, not {self.network}'s {self.chain_id}: "
                               "another chain, nothing read from it")
        self.chain_checked = True

    async def _block(self, height: int | None) -> BlockRef:
        if height is None:
            try:
                number = decode_uint(await self.client.call("eth_blockNumber", []))
            except ValueError as exc:
                raise AdapterError(f"{self.label}: eth_blockNumber unreadable: {exc}") from None
            return BlockRef(number, await self._block_hash(number), at_snapshot=False)
        return BlockRef(height, await self._block_hash(height), at_snapshot=True)

    async def _recheck(self, block: BlockRef, notes: list[str]) -> str | None:
        """After a read by block *number*: the hash at that height must still be the one reported.

        Returns the error for the values read when it changed, else None; a re-check that cannot be
        done is a note (as on Electrum)."""
        if self.block_param_style == "hash" or not block.hash:
            return None
        try:
            now = await self._block_hash(block.number)
        except (AdapterError, RpcError, TransportError) as exc:
            notes.append(f"{self.label}: block {block.number} not re-checked after the read by number: {exc}")
            return None
        if now != block.hash:
            return f"block changed during the read (reorg?): {block.number} was {block.hash}, now {now}"
        return None

    def _block_param(self, block: BlockRef) -> Any:
        if self.block_param_style == "hash" and block.hash:
            return {"blockHash": block.hash}
        return hex(block.number)

    async def _probe(self, block: BlockRef, asset: Asset) -> None:
        """Pick the block parameter style and the fastest strategy this endpoint supports."""
        c = self.client
        probe_addr = bytes(20)
        if self.block_param_style is None and block.hash:
            # the style is decided only by a definite answer: a transport failure (TransportError, raised
            # from here) leaves it undecided and the probe runs again on the next read
            try:
                res = await c.call("eth_getBalance", ["0x" + probe_addr.hex(), {"blockHash": block.hash}])
                decode_uint(res)
                self.block_param_style = "hash"
            except RpcError as exc:
                if _is(exc, _NOT_ARCHIVE):
                    raise NotArchiveError(f"{c.label}: no state for block {block.number}: {exc.message}") from None
                self.block_param_style = "number"  # EIP-1898 refused: reads go by number, re-checked after
            except ValueError:
                self.block_param_style = "number"
        # archive check: state at the block must be readable
        try:
            await c.call("eth_getBalance", ["0x" + probe_addr.hex(), self._block_param(block)])
        except RpcError as exc:
            if _is(exc, _NOT_ARCHIVE):
                raise NotArchiveError(f"{c.label}: no state for block {block.number}: {exc.message}") from None
            raise
        if self.strategy and self.strategy not in self.failed_strategies:
            return
        candidates = [self.force_strategy] if self.force_strategy else [s for s in STRATEGIES if s not in self.failed_strategies]
        for strategy in candidates:
            if strategy == "state-override-reader":
                try:
                    res = await c.call("eth_call", [{"to": READER_ADDRESS, "data": encode_native_call([probe_addr])},
                                                    self._block_param(block), {READER_ADDRESS: {"code": READER_RUNTIME}}])
                    decode_uint_array(res, 1)
                except (RpcError, ValueError, TypeError):
                    self.failed_strategies.add(strategy)
                    continue
            elif strategy == "multicall3":
                try:
                    code = await c.call("eth_getCode", [self.multicall3, self._block_param(block)])
                except RpcError:
                    code = "0x"
                if not code or code == "0x":
                    self.failed_strategies.add(strategy)
                    continue
            self.strategy = strategy
            return
        raise AdapterError(f"{c.label}: no read strategy works ({', '.join(sorted(self.failed_strategies))} failed)")

    async def _check_decimals(self, asset: Asset, block: BlockRef) -> str | None:
        """Token decimals on chain must equal the configured ones; returns an error text or None."""
        key = asset.contract or ""
        if key in self._decimals_checked:
            return self._decimals_checked[key]
        problem = None
        try:
            res = await self.client.call("eth_call", [{"to": asset.contract, "data": "0x" + SEL_DECIMALS},
                                                    self._block_param(block)])
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
        token = parse_address(asset.contract) if asset.contract else None
        if asset.contract and token is None:
            raise AdapterError(f"{asset.symbol} on {self.network}: bad token contract {asset.contract!r}")
        label = self.label
        notes: list[str] = []
        requests_before = self.requests
        strategy = ""
        block: BlockRef | None = None
        values: dict[bytes, int] = {}  # address -> amount read (plain ints: per-address work stays low)
        stakes: dict[bytes, tuple[int, int] | None] = {}  # address -> (staked, unbonding) or None: unknown
        errors: dict[bytes, Unread] = {}  # address -> (None, error, endpoint label)
        try:
            await self._check_chain()
            block = await self._block(height)
            await self._probe(block, asset)
            problem = await self._check_decimals(asset, block) if token is not None else None
        except (AdapterError, RpcError, TransportError) as exc:  # this endpoint reads nothing: every address says why
            problem = f"{label}: {exc}"
        if problem:
            notes.append(problem)
            errors = dict.fromkeys(todo, (None, problem, label))
        elif block is not None:
            strategy = f"{label}:{self.strategy}"
            values, errors = await self._read_all(block, token, todo)
            if self.stakehub is not None and token is None and values:
                stakes = await self._read_stakehub(block, list(values), notes)
            changed = await self._recheck(block, notes) if values else None
            if changed:  # read by number and the block at that height is another one now: nothing read counts
                notes.append(f"{label}: {changed}")
                errors.update((a, (None, changed, label)) for a in values)
                values = {}
        if stakes and values:
            return BalanceBatch(asset, height, tuple(_with_stake(addresses, parsed, values, errors, stakes, block,
                                                                 label)),
                                strategy, self.requests - requests_before, tuple(notes))
        if not errors and not unparsed and len(values) == len(todo):
            # everything read (the common case): build the tuples without per-field work
            n = len(addresses)
            known: list[bytes] = parsed  # type: ignore[assignment]  # every address parsed (not unparsed)
            # every field, defaults included: tuple.__new__ does not fill them and r.parts would be out of range
            fields = zip(addresses, map(values.__getitem__, known), repeat(block, n), repeat(None, n), repeat(label, n),
                         repeat((), n), repeat(True, n))
            results = list(map(tuple.__new__, repeat(BalanceResult, n), fields))
        else:
            results = []
            append = results.append
            for text, p in zip(addresses, parsed):
                if p is None:
                    append(BalanceResult(text, None, None, address_error(text) or NOT_AN_ADDRESS))
                    continue
                v = values.get(p)
                if v is not None:
                    append(BalanceResult(text, v, block, None, label))
                else:
                    err = errors[p]
                    append(BalanceResult(text, None, block, err[1], err[2]))
        return BalanceBatch(asset, height, tuple(results), strategy, self.requests - requests_before, tuple(notes))

    # ------------------------------------------------------------------ StakeHub delegations

    async def _stakehub_credits(self, block: BlockRef) -> list[bytes]:
        """Every validator's StakeCredit contract at ``block`` (StakeHub.getValidators, page by page)."""
        key = block.hash or str(block.number)
        if key in self._credits:
            return self._credits[key]
        hub = "0x" + (self.stakehub or b"").hex()
        credits: list[bytes] = []
        offset, total = 0, None
        abi = _abi()
        while total is None or offset < total:
            data = "0x" + (SEL_GET_VALIDATORS + abi.encode(["uint256", "uint256"], [offset, VALIDATORS_PAGE])).hex()
            res = await self.client.call("eth_call", [{"to": hub, "data": data}, self._block_param(block)])
            if not isinstance(res, str) or res[:2] != "0x":
                raise ValueError(f"getValidators returned {str(res)[:40]!r}")
            try:
                ops, creds, length = abi.decode(["address[]", "address[]", "uint256"], bytes.fromhex(res[2:]))
            except (abi.DecodingError, ValueError) as exc:
                raise ValueError(f"getValidators reply not decodable: {exc}") from None
            if len(ops) != len(creds) or (total is not None and length != total):
                raise ValueError("getValidators answered inconsistent pages")
            total = length
            if not creds and offset < total:
                raise ValueError(f"getValidators gave no validators at offset {offset} of {total}")
            credits.extend(bytes.fromhex(c[2:]) for c in creds)
            offset += len(creds)
        self._credits = {key: credits}  # one block at a time: a run reads one snapshot
        return credits

    async def _read_stakehub(self, block: BlockRef, addrs: list[bytes], notes: list[str]
                             ) -> dict[bytes, tuple[int, int] | None]:
        """(staked, unbonding) wei per address delegated through StakeHub at ``block``; None = unknown."""
        label = self.label
        out: dict[bytes, tuple[int, int] | None] = {}
        failed: dict[str, int] = {}
        try:
            credits = await self._stakehub_credits(block)
        except (RpcError, TransportError, ValueError) as exc:
            why = f"StakeHub.getValidators at block {block.number}: {exc.message if isinstance(exc, RpcError) else exc}"
            notes.append(f"{label}: StakeHub delegations of {len(addrs)} address(es) NOT read ({why}): their own "
                         "balance only, staked/unbonding unknown")
            return dict.fromkeys(addrs, None)
        how = self.strategy or "batched-calls"
        # aggregate3 and batches carry 2 calls per (delegator, validator) pair: at most 500 calls each
        pairs = self.stake_pairs if how == "state-override-reader" else min(self.stake_pairs, 250)
        size = max(1, pairs // max(1, len(credits)))
        read = {"state-override-reader": self._stakes_reader, "multicall3": self._stakes_multicall}.get(
            how, self._stakes_batched)
        sem = asyncio.Semaphore(max(1, self.client.endpoint.concurrency))

        async def run(chunk: list[bytes], depth: int = 0) -> None:
            try:
                async with sem:
                    got = await read(block, credits, chunk)
            except (RpcError, TransportError, ValueError, TypeError) as exc:
                too_big = _is(exc, _TOO_BIG) if isinstance(exc, RpcError) else _is(exc, ("timeout", "413", "payload"))
                if too_big and len(chunk) > 1 and depth < MAX_SPLIT_DEPTH:
                    half = len(chunk) // 2
                    await asyncio.gather(run(chunk[:half], depth + 1), run(chunk[half:], depth + 1))
                    return
                why = exc.message if isinstance(exc, RpcError) else str(exc) or type(exc).__name__
                failed[why] = failed.get(why, 0) + len(chunk)
                out.update(dict.fromkeys(chunk, None))
                return
            for a, v in zip(chunk, got):
                if isinstance(v, str):
                    failed[v] = failed.get(v, 0) + 1
                    out[a] = None
                else:
                    out[a] = v
        await asyncio.gather(*(run(addrs[i:i + size]) for i in range(0, len(addrs), size)))
        known = [v for v in out.values() if v is not None]
        notes.append(f"{label}: StakeHub delegations at block {block.number} over {len(credits)} validator(s), "
                     f"{_STAKE_HOW.get(how, 'batched eth_call')}: {len(known)} of {len(addrs)} "
                     f"address(es) read ({sum(s for s, _ in known)} wei staked, {sum(u for _, u in known)} unbonding)")
        for why, n in sorted(failed.items()):
            notes.append(f"{label}: StakeHub delegations of {n} address(es) NOT read ({why}): their own balance "
                         "only, staked/unbonding unknown")
        return out

    async def _stakes_reader(self, block: BlockRef, credits: list[bytes], chunk: list[bytes]
                             ) -> list[tuple[int, int] | str]:
        abi = _abi()
        data = "0x" + (SEL_STAKES + abi.encode(["address[]", "address[]"], [credits, chunk])).hex()
        res = await self.client.call("eth_call", [{"to": STAKEHUB_READER_ADDRESS, "data": data}, self._block_param(block),
                                                {STAKEHUB_READER_ADDRESS: {"code": STAKEHUB_READER_RUNTIME}}])
        if not isinstance(res, str) or res[:2] != "0x":
            raise ValueError(f"StakeHubReader returned {str(res)[:40]!r}")
        try:
            staked, unbonding = abi.decode(["uint256[]", "uint256[]"], bytes.fromhex(res[2:]))
        except (abi.DecodingError, ValueError) as exc:
            raise ValueError(f"StakeHubReader reply not decodable: {exc}") from None
        if len(staked) != len(chunk) or len(unbonding) != len(chunk):
            raise ValueError(f"StakeHubReader returned {len(staked)} results for {len(chunk)} addresses")
        return [("a StakeCredit call reverted or returned no data" if s == UINT256_MAX else (s, u))
                for s, u in zip(staked, unbonding)]

    @staticmethod
    def _stake_calls(credits: list[bytes], chunk: list[bytes]) -> list[tuple[str, bytes]]:
        """(credit contract, call data) per delegator and credit: getPooledBNB, then lockedBNBs(d, 0)."""
        calls = []
        for a in chunk:
            for c in credits:
                to = "0x" + c.hex()
                calls.append((to, SEL_POOLED_BNB + bytes(12) + a))
                calls.append((to, SEL_LOCKED_BNBS + bytes(12) + a + bytes(32)))
        return calls

    @staticmethod
    def _sum_stakes(words: Sequence[int | str], n: int, per: int) -> list[tuple[int, int] | str]:
        """Per delegator: (staked, unbonding) summed over its ``per`` words, or the first error among them."""
        out: list[tuple[int, int] | str] = []
        for i in range(n):
            mine = words[i * per:(i + 1) * per]
            why = next((w for w in mine if isinstance(w, str)), "")
            if why:
                out.append(why)
                continue
            out.append((sum(int(w) for w in mine[0::2]), sum(int(w) for w in mine[1::2])))
        return out

    async def _stakes_multicall(self, block: BlockRef, credits: list[bytes], chunk: list[bytes]
                                ) -> list[tuple[int, int] | str]:
        calls = [(to, True, data) for to, data in self._stake_calls(credits, chunk)]
        if not calls:
            return [(0, 0) for _ in chunk]
        decoded = await self._aggregate3(block, calls)
        words: list[int | str] = [int.from_bytes(ret[:32], "big") if ok and len(ret) >= 32
                                  else "a StakeCredit call reverted or returned no data" for ok, ret in decoded]
        return self._sum_stakes(words, len(chunk), 2 * len(credits))

    async def _stakes_batched(self, block: BlockRef, credits: list[bytes], chunk: list[bytes]
                              ) -> list[tuple[int, int] | str]:
        bp = self._block_param(block)
        calls = [("eth_call", [{"to": to, "data": "0x" + data.hex()}, bp]) for to, data in self._stake_calls(credits, chunk)]
        results = await self.client.batch(calls) if calls else []
        words: list[int | str] = []
        for r in results:
            if isinstance(r, Exception):
                words.append(r.message if isinstance(r, RpcError) else str(r) or type(r).__name__)
                continue
            try:
                words.append(decode_uint(r))
            except (ValueError, TypeError) as exc:
                words.append(f"unreadable StakeCredit result: {exc}")
        return self._sum_stakes(words, len(chunk), 2 * len(credits))

    async def _read_all(self, block: BlockRef, token: bytes | None, addrs: list[bytes]
                        ) -> tuple[dict[bytes, int], dict[bytes, Unread]]:
        """(amounts read, errors) for ``addrs`` on one endpoint."""
        kind = "token" if token is not None else "native"
        out: dict[bytes, int] = {}
        failed: dict[bytes, Unread] = {}
        key = f"{self.strategy}:{kind}"
        size = self.batch.get(key) or self.initial[key]
        chunks = [addrs[i:i + size] for i in range(0, len(addrs), size)]
        sem = asyncio.Semaphore(max(1, self.client.endpoint.concurrency))

        async def run(chunk: list[bytes]) -> None:
            async with sem:
                await self._read_chunk(block, token, chunk, out, failed, key)

        await asyncio.gather(*(run(c) for c in chunks))
        return out, failed

    async def _read_chunk(self, block: BlockRef, token: bytes | None, chunk: list[bytes],
                          out: dict[bytes, int], failed: dict[bytes, Unread], key: str, depth: int = 0,
                          gave_up: list[str] | None = None) -> None:
        """Read one chunk; a chunk "too big" for the endpoint is halved, at most ``MAX_SPLIT_DEPTH`` times
        (1/16 of the original). Past that the endpoint gives up on the whole original chunk (``gave_up``
        holds the error; the halves not tried yet fail with it at once) and failover takes over."""
        label = self.label
        if gave_up is None:
            gave_up = []
        if gave_up:
            for a in chunk:
                failed[a] = (None, gave_up[0], label)
            return
        try:
            if self.strategy == "state-override-reader":
                values = await self._read_reader(block, token, chunk)
            elif self.strategy == "multicall3":
                values = await self._read_multicall(block, token, chunk)
            else:
                values = await self._read_batched(block, token, chunk)
        except (RpcError, TransportError) as exc:
            rpc = isinstance(exc, RpcError)
            too_big = _is(exc, _TOO_BIG) if rpc else _is(exc, ("timeout", "413", "payload"))
            why = exc.message if isinstance(exc, RpcError) else str(exc)
            if isinstance(exc, RpcError) and _is(exc, _NOT_ARCHIVE):
                why = f"not an archive node for block {block.number}: {exc.message}"
            if too_big and len(chunk) > 1:
                if depth < MAX_SPLIT_DEPTH:
                    half = len(chunk) // 2
                    self.batch[key] = max(1, min(self.batch.get(key) or half, half))
                    await self._read_chunk(block, token, chunk[:half], out, failed, key, depth + 1, gave_up)
                    await self._read_chunk(block, token, chunk[half:], out, failed, key, depth + 1, gave_up)
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
        size = self.batch.get(key)
        if size and len(chunk) >= size and size < self.initial[key]:  # worked at the reduced size: grow back
            self.batch[key] = min(self.initial[key], size + max(1, size // 8))
        if tuple not in set(map(type, values)):  # values: ints (read) or (None, error, label)
            out.update(zip(chunk, values))  # type: ignore[arg-type]  # no tuple among them: all ints
            return
        for a, v in zip(chunk, values):
            if isinstance(v, int):
                out[a] = v
            else:
                failed[a] = v

    async def _read_reader(self, block: BlockRef, token: bytes | None,
                           chunk: list[bytes]) -> Sequence[int | Unread]:
        data = encode_token_call(token, chunk) if token is not None else encode_native_call(chunk)
        res = await self.client.call("eth_call", [{"to": READER_ADDRESS, "data": data}, self._block_param(block),
                                                {READER_ADDRESS: {"code": READER_RUNTIME}}])
        values = decode_uint_array(res, len(chunk))
        if token is None:
            return values
        label = self.label
        return [(None, "balanceOf reverted or returned no data", label) if v == UINT256_MAX else v for v in values]

    async def _aggregate3(self, block: BlockRef, calls: list[tuple[str, bool, bytes]]) -> list[tuple[bool, bytes]]:
        """Multicall3 ``aggregate3(calls)`` at ``block``: one (success, return data) per call, in order;
        a reply that is not that is a ValueError (the whole chunk unread)."""
        abi = _abi()
        data = "0x" + (SEL_AGGREGATE3 + abi.encode(["(address,bool,bytes)[]"], [calls])).hex()
        res = await self.client.call("eth_call", [{"to": self.multicall3, "data": data}, self._block_param(block)])
        if not isinstance(res, str) or res[:2] != "0x":
            raise ValueError(f"aggregate3 returned {str(res)[:40]!r}")
        try:
            (decoded,) = abi.decode(["(bool,bytes)[]"], bytes.fromhex(res[2:]))
        except abi.DecodingError as exc:
            raise ValueError(f"aggregate3 reply not decodable: {exc}") from None
        if len(decoded) != len(calls):
            raise ValueError(f"multicall returned {len(decoded)} results for {len(calls)} calls")
        return list(decoded)

    async def _read_multicall(self, block: BlockRef, token: bytes | None,
                              chunk: list[bytes]) -> Sequence[int | Unread]:
        calls = []
        for a in chunk:
            if token is None:
                calls.append((self.multicall3, True, SEL_GET_ETH_BALANCE + bytes(12) + a))
            else:
                calls.append(("0x" + token.hex(), True, bytes.fromhex(SEL_BALANCE_OF) + bytes(12) + a))
        decoded = await self._aggregate3(block, calls)
        label = self.label
        out: list[int | Unread] = []
        for ok, ret in decoded:
            if ok and len(ret) >= 32:
                out.append(int.from_bytes(ret[:32], "big"))
            else:
                out.append((None, "balanceOf reverted or returned no data", label))
        return out

    async def _read_batched(self, block: BlockRef, token: bytes | None,
                            chunk: list[bytes]) -> Sequence[int | Unread]:
        bp = self._block_param(block)
        if token is None:
            calls = [("eth_getBalance", ["0x" + a.hex(), bp]) for a in chunk]
        else:
            tok = "0x" + token.hex()
            calls = [("eth_call", [{"to": tok, "data": "0x" + SEL_BALANCE_OF + "0" * 24 + a.hex()}, bp]) for a in chunk]
        results = await self.client.batch(calls)
        label = self.label
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
