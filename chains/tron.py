"""TRON balances (TRX and TRC-20) through the TRON HTTP API of java-tron / TronGrid.

What a TRON node can answer, and what porscan does with it:

* **TRX at the snapshot block**: ``POST /wallet/getaccountbalance`` with ``account_identifier`` and a
  ``block_identifier`` (hash *and* number, from ``/wallet/getblockbynum``). Only nodes started with
  ``storage.balance.history.lookup = true`` keep that history; every other node answers
  ``{"balance": 0}`` with the block echoed, *not an error*. porscan therefore uses it only on endpoints
  declared ``balance_history = true`` in scanner/config/networks.toml, and only after a probe: an account that
  holds TRX now (``/wallet/getaccount``) must get the same non-zero balance from ``getaccountbalance``
  at the current head. An endpoint that answers 0 there is marked "no balance history" and read at the
  latest block instead; a probe that finds no non-zero account cannot prove anything and is treated
  the same way (never trust a zero that the node would also give without history).
* **TRX at the latest block**: ``/wallet/getaccount`` per address (the HTTP API has no batch call),
  ``concurrency`` in flight and ``requests_per_second`` per endpoint. The head is read with
  ``/wallet/getnowblock`` before and after; every figure carries ``BlockRef(<head before>,
  at_snapshot=False)`` and the batch notes give the block range actually read.
* **TRC-20** (USDT, USDC): ``/wallet/triggerconstantcontract`` ``balanceOf(address)``. java-tron runs
  constant calls on the current state only (TRON's JSON-RPC ``eth_call``/``eth_getBalance`` accept only
  ``"latest"`` too), so token balances are always read at the latest block and labelled so. Token
  ``decimals()`` is checked against the configuration once per endpoint.
* **TRC-20 in batches**: the HTTP API takes one address per request. An endpoint that also declares
  ``jsonrpc_url`` (java-tron's JSON-RPC service, ``node.jsonrpc``: the same TVM constant call as
  ``eth_call balanceOf`` at ``"latest"``) has its TRC-20 balances read there in JSON-RPC batches of
  ``max_batch`` calls (default 100, java-tron's default ``node.jsonrpc.maxBatchSize``), under the same
  rate limit and headers as the endpoint. The answer must be exactly one 32-byte word; any other answer,
  and every call the batch could not read, is read again through ``triggerconstantcontract`` (with a
  note), so a node whose JSON-RPC is off or stricter still reads everything.

**Absent accounts.** ``getaccount`` answers ``{}`` for an address that was never activated. An account
is activated by its first incoming TRX (or TRC-10) transfer, so a well-formed ``{}`` (HTTP 200, valid
JSON, no ``Error`` key) means "no TRX": the balance is 0. Every other answer that is not an account
object for the address asked (an ``Error`` key, another address, a non-integer balance) is an error,
never a zero.

Addresses may be base58check (``T...``) or hex (``41...``); requests use the hex form
(``visible`` false). One adapter reads from one endpoint; several endpoints are composed by
:class:`chains.failover.FailoverAdapter` (history-capable ones first when TRX is asked at a height, see
``preference``); what one could not read goes to the next.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Sequence

from signatures.encoding import EncodingError, b58check_encode
from signatures.tron import parse_tron_address

from .httpapi import HttpApiClient, bounded_map
from .failover import OneEndpoint
from .jsonrpc import Endpoint, TransportError
from .protocol import Asset, BalanceBatch, BlockRef
from .results import Value, assemble, none_read, parse_inputs

PATH_ACCOUNT = "/wallet/getaccount"
PATH_ACCOUNT_BALANCE = "/wallet/getaccountbalance"
PATH_NOW_BLOCK = "/wallet/getnowblock"
PATH_BLOCK_BY_NUM = "/wallet/getblockbynum"
PATH_CONSTANT = "/wallet/triggerconstantcontract"
PROBE_CANDIDATES = 8  # addresses of the batch tried as witnesses for the history probe
JSONRPC_BATCH = 100  # java-tron's default node.jsonrpc.maxBatchSize: a larger batch is refused whole
BALANCE_OF = "0x70a08231"  # keccak("balanceOf(address)")[:4]
_WORD = re.compile(r"0x[0-9a-fA-F]{64}")

Read = tuple[int | None, str | None]  # (amount, error)


def tron_address(text: str) -> bytes | None:
    """``T...`` or ``41...`` -> the 21-byte address (0x41 prefix), None when it is not one."""
    try:
        return b"\x41" + parse_tron_address(text)
    except (EncodingError, ValueError):
        return None


def to_base58(raw: bytes) -> str:
    return b58check_encode(raw)


def _uint(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_account(reply: Any, address: bytes) -> Read:
    """A ``/wallet/getaccount`` answer -> TRX balance in sun (see the module note on ``{}``)."""
    if not isinstance(reply, dict):
        return None, "getaccount: the reply is not a JSON object"
    if "Error" in reply:
        return None, f"getaccount: {str(reply['Error'])[:200]}"
    if not reply:
        return 0, None  # never activated: holds no TRX
    addr = reply.get("address")
    if not isinstance(addr, str) or tron_address(addr) != address:
        return None, f"getaccount: answer for another address ({str(addr)[:44]})"
    balance = _uint(reply.get("balance", 0))  # protobuf JSON omits a zero balance
    if balance is None:
        return None, f"getaccount: balance is not a non-negative integer: {reply.get('balance')!r}"
    return balance, None


def parse_account_balance(reply: Any, block: BlockRef) -> Read:
    """A ``/wallet/getaccountbalance`` answer at ``block`` -> sun."""
    if not isinstance(reply, dict):
        return None, "getaccountbalance: the reply is not a JSON object"
    if "Error" in reply:
        return None, f"getaccountbalance: {str(reply['Error'])[:200]}"
    ident = reply.get("block_identifier")
    number = _uint(ident.get("number")) if isinstance(ident, dict) else None
    if number is None:
        return None, "getaccountbalance: no block_identifier in the reply"
    if number > block.number:
        return None, f"getaccountbalance: answered for block {number}, after the block asked ({block.number})"
    balance = _uint(reply.get("balance", 0))
    if balance is None:
        return None, f"getaccountbalance: balance is not a non-negative integer: {reply.get('balance')!r}"
    return balance, None


def parse_block(reply: Any) -> BlockRef | None:
    """``getnowblock`` / ``getblockbynum`` -> BlockRef (``{}`` = no such block -> None)."""
    if not isinstance(reply, dict) or "Error" in reply:
        raise TransportError(f"block query failed: {str(reply)[:200]}")
    if not reply:
        return None
    try:
        number = reply["block_header"]["raw_data"]["number"]
        block_id = reply["blockID"]
    except (KeyError, TypeError):
        raise TransportError("block reply without blockID / block_header.raw_data.number") from None
    if _uint(number) is None or not isinstance(block_id, str):
        raise TransportError("block reply with a malformed number or blockID")
    return BlockRef(number, block_id, at_snapshot=False)


def _hex_text(message: Any) -> str:
    if not isinstance(message, str):
        return ""
    try:
        return bytes.fromhex(message).decode("utf-8", "replace")
    except ValueError:
        return message


def parse_constant_result(reply: Any) -> Read:
    """A ``/wallet/triggerconstantcontract`` answer -> the first 32-byte word as an integer."""
    if not isinstance(reply, dict):
        return None, "triggerconstantcontract: the reply is not a JSON object"
    if "Error" in reply:
        return None, f"triggerconstantcontract: {str(reply['Error'])[:200]}"
    result = reply.get("result")
    if not isinstance(result, dict) or result.get("result") is not True or result.get("code"):
        code = result.get("code", "no result") if isinstance(result, dict) else "no result"
        message = _hex_text(result.get("message")) if isinstance(result, dict) else ""
        return None, f"triggerconstantcontract: {code} {message}".strip()
    tx = reply.get("transaction")
    for ret in (tx.get("ret") or []) if isinstance(tx, dict) else []:
        outcome = ret.get("contractRet") or ret.get("ret") if isinstance(ret, dict) else None
        if outcome and outcome != "SUCCESS":
            return None, f"call did not succeed: {outcome}"
    words = reply.get("constant_result")
    if not isinstance(words, list) or not words or not isinstance(words[0], str) or len(words[0]) < 64:
        return None, "call returned no data (not a TRC-20 contract?)"
    try:
        return int(words[0][:64], 16), None
    except ValueError:
        return None, "call returned non-hex data"


def parse_call_word(result: Any) -> Read:
    """One ``eth_call balanceOf`` answer of a JSON-RPC batch -> the balance. Only exactly one 32-byte word
    is a balance: ``"0x"`` (no contract there) or a longer answer is an error, never a zero."""
    if isinstance(result, Exception):
        return None, f"eth_call: {result}"
    if isinstance(result, str) and _WORD.fullmatch(result):
        return int(result, 16), None
    return None, f"eth_call balanceOf returned {str(result)[:80]!r}, not one 32-byte word (not a TRC-20 contract?)"


class TronAdapter(OneEndpoint):
    """TRX and TRC-20 balances on TRON from one endpoint (see the module docstring for what is read where).

    ``options`` are the endpoint's TOML keys (``balance_history``, ``headers``, ``jsonrpc_url``,
    ``max_batch``); a header whose variable is unset raises ConfigError (the endpoint is left out)."""

    def __init__(self, network: str, endpoint: Endpoint, options: Mapping[str, Any] | None = None, *,
                 probe_addresses: Sequence[str] = (), attempts: int = 6, backoff_min: float = 0.05,
                 backoff_max: float = 8.0):
        self.network = network
        opts = options or {}
        self.client: HttpApiClient = HttpApiClient(endpoint, opts.get("headers"), attempts=attempts,
                                                   backoff_min=backoff_min, backoff_max=backoff_max)
        self.history = bool(opts.get("balance_history", False))  # declared balance_history = true
        self.history_problem: str | None = None  # set once the probe proved history unusable
        self.history_verified = False
        self._probe = [a for a in (tron_address(p) for p in probe_addresses) if a is not None]
        self._decimals: dict[bytes, str | None] = {}
        self.rpc: HttpApiClient | None = None  # TRC-20 balances in JSON-RPC batches (jsonrpc_url)
        if opts.get("jsonrpc_url"):
            # the same provider under the same label, limits and headers: one key's quota covers both
            rpc_endpoint = dataclasses.replace(endpoint, url=str(opts["jsonrpc_url"]),
                                               max_batch=int(opts.get("max_batch", JSONRPC_BATCH)))
            self.rpc = HttpApiClient(rpc_endpoint, opts.get("headers"), attempts=attempts, backoff_min=backoff_min,
                                     backoff_max=backoff_max, limiter=self.client.limiter)

    @property
    def requests(self) -> int:
        return self.client.requests + (self.rpc.requests if self.rpc else 0)

    def provider_errors(self) -> dict[str, dict[str, int]]:
        errors = dict(self.client.errors)
        for kind, n in (self.rpc.errors if self.rpc else {}).items():
            errors[f"jsonrpc-{kind}"] = errors.get(f"jsonrpc-{kind}", 0) + n
        return {self.label: errors}

    async def close(self) -> None:
        await self.client.close()
        if self.rpc is not None:
            await self.rpc.close()

    def preference(self, asset: Asset, height: int | None) -> int:
        """A node with declared balance history goes first for TRX at a height."""
        return 0 if self.history and asset.contract is None and height is not None else 1

    # ------------------------------------------------------------------ single calls

    async def _head(self) -> BlockRef:
        block = parse_block(await self.client.post(PATH_NOW_BLOCK, {}))
        if block is None:
            raise TransportError("getnowblock returned no block")
        return block

    async def _account(self, address: bytes) -> Read:
        try:
            return parse_account(await self.client.post(PATH_ACCOUNT, {"address": address.hex()}), address)
        except TransportError as exc:
            return None, str(exc)

    async def _account_at(self, address: bytes, block: BlockRef) -> Read:
        body = {"account_identifier": {"address": address.hex()},
                "block_identifier": {"hash": block.hash, "number": block.number}}
        try:
            return parse_account_balance(await self.client.post(PATH_ACCOUNT_BALANCE, body), block)
        except TransportError as exc:
            return None, str(exc)

    async def _constant(self, token: bytes, selector: str, parameter: str, owner: bytes) -> Read:
        """A constant call; raises TransportError when no answer came."""
        body = {"owner_address": owner.hex(), "contract_address": token.hex(), "function_selector": selector,
                "parameter": parameter}
        return parse_constant_result(await self.client.post(PATH_CONSTANT, body))

    async def _token_balance(self, token: bytes, holder: bytes) -> Read:
        try:
            return await self._constant(token, "balanceOf(address)", "0" * 24 + holder[1:].hex(), holder)
        except TransportError as exc:
            return None, str(exc)

    async def _token_balances(self, token: bytes, holders: list[bytes], notes: list[str]) -> list[Read]:
        """``balanceOf`` for every holder: in JSON-RPC batches where the endpoint has them, and what they
        did not answer (or answered with anything but one word) through the HTTP API, one by one."""
        concurrency = self.client.endpoint.concurrency
        if self.rpc is None:
            return await bounded_map(holders, lambda a: self._token_balance(token, a), concurrency)
        to = "0x" + token[1:].hex()
        calls = [("eth_call", [{"to": to, "data": BALANCE_OF + "0" * 24 + a[1:].hex()}, "latest"]) for a in holders]
        reads = [parse_call_word(r) for r in await self.rpc.batch(calls)]
        again = [i for i, (_, err) in enumerate(reads) if err is not None]
        if again:
            notes.append(f"{self.label}: {len(again)} of {len(holders)} TRC-20 balances not read by JSON-RPC "
                         f"eth_call ({reads[again[0]][1]}); read again with triggerconstantcontract")
            retried = await bounded_map([holders[i] for i in again], lambda a: self._token_balance(token, a),
                                        concurrency)
            for i, read in zip(again, retried):
                reads[i] = read
        return reads

    async def _check_decimals(self, token: bytes, asset: Asset) -> str | None:
        key = token
        if key not in self._decimals:  # a TransportError propagates: not cached, the next endpoint tries
            value, err = await self._constant(token, "decimals()", "", token)
            self._decimals[key] = (f"token {to_base58(token)}: decimals() failed: {err}" if err else
                                   f"token {to_base58(token)} has {value} decimals on chain, config says {asset.decimals}"
                                   if value != asset.decimals else None)
        return self._decimals[key]

    # ------------------------------------------------------------------ balance history probe

    async def _history_problem(self, addrs: list[bytes]) -> str | None:
        """None when this endpoint is proven to answer getaccountbalance from history."""
        if self.history_problem or self.history_verified:
            return self.history_problem
        head = await self._head()
        for address in self._probe + addrs[:PROBE_CANDIDATES]:
            now, err = await self._account(address)
            if err or not now:
                continue
            past, err = await self._account_at(address, head)
            if err:
                self.history_problem = f"getaccountbalance fails: {err}"
                return self.history_problem
            if past == now:
                self.history_verified = True
                return None
            if past == 0:
                again, _ = await self._account(address)
                if again == now:
                    self.history_problem = (f"getaccountbalance answers 0 for {to_base58(address)}, which holds {now} sun "
                                          f"at block {head.number}: the node keeps no balance history")
                    return self.history_problem
        return "balance history could not be verified (no probe account with a non-zero TRX balance)"

    # ------------------------------------------------------------------ reading

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        parsed, todo, token = parse_inputs(self.network, asset, addresses, tron_address, "TRC-20 contract")
        values: dict[bytes, Value] = {}
        notes: list[str] = []
        strategy = ""
        requests_before = self.requests
        label = self.label
        try:
            if token is None and height is not None and self.history:
                problem = await self._history_problem(todo)
                if problem is None:
                    got = await self._read_history(todo, height, notes)
                    if got is not None:
                        strategy = f"{label}:getaccountbalance"
                        values.update(got)
                        todo = []
                else:
                    notes.append(f"{label}: not used for block {height}: {problem}; reading at the latest block")
            if todo:
                values.update(await self._read_latest(todo, height, token, asset, notes))
                call = ("getaccount" if token is None else "triggerconstantcontract" if self.rpc is None else
                        "eth_call")
                strategy = f"{label}:{call}@latest"
        except TransportError as exc:  # this endpoint reads nothing: every address says why
            none_read(values, todo, f"{label}: {exc}", label, notes)
            strategy = ""
        return assemble(asset, height, addresses, parsed, values, "not a TRON address", [strategy] if strategy else [],
                        self.requests - requests_before, notes)

    async def _read_history(self, addrs: list[bytes], height: int, notes: list[str]) -> dict[bytes, Value] | None:
        label = self.label
        block = parse_block(await self.client.post(PATH_BLOCK_BY_NUM, {"num": height}))
        if block is None or block.number != height:
            notes.append(f"{label}: block {height} not known; reading at the latest block")
            return None
        block = BlockRef(height, block.hash, at_snapshot=True)
        reads = await bounded_map(addrs, lambda a: self._account_at(a, block), self.client.endpoint.concurrency)
        notes.append(f"{label}: TRX read at snapshot block {height} ({block.hash}) with getaccountbalance "
                     f"(balance history verified on this endpoint)")
        return {a: (v, e, label, block) for a, (v, e) in zip(addrs, reads)}

    async def _read_latest(self, addrs: list[bytes], height: int | None, token: bytes | None,
                           asset: Asset, notes: list[str]) -> dict[bytes, Value]:
        label = self.client.label
        before = await self._head()
        if token is not None:
            problem = await self._check_decimals(token, asset)
            if problem:
                notes.append(problem)
                return {a: (None, problem, label, None) for a in addrs}
            reads = await self._token_balances(token, addrs, notes)
        else:
            reads = await bounded_map(addrs, lambda a: self._account(a), self.client.endpoint.concurrency)
        try:
            after = await self._head()
        except TransportError as exc:
            after = None
            notes.append(f"{label}: head after reading unknown ({exc})")
        at_snapshot = height is not None and after is not None and before.number == after.number == height
        block = BlockRef(before.number, before.hash, at_snapshot=at_snapshot)
        what = f"TRC-20 {asset.symbol}" if token is not None else "TRX"
        span = f"{before.number}..{after.number}" if after is not None else f"{before.number}.."
        why = ("TRC-20 balances exist only at the latest block" if token is not None else
               "no usable balance history on this endpoint")
        if height is None:
            notes.append(f"{label}: {what} read at the latest state, blocks {span}")
        elif not at_snapshot:
            notes.append(f"{label}: {what} read at the latest state, blocks {span}, NOT at snapshot block {height} ({why})")
        return {a: (v, e, label, block) for a, (v, e) in zip(addrs, reads)}
