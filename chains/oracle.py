"""Prices read over the network at the snapshot: on-chain oracle answers and historical price APIs.

Two small readers, both over the one transport of :mod:`chains.jsonrpc` (rate limit, retries,
TLS on, secrets redacted, endpoints shown by label):

* :class:`EvmOracleReader`: a Chainlink-style aggregator's ``latestRoundData()`` and ``decimals()``
  by ``eth_call`` at the snapshot block *number* (the answer as of that block, not today's), after
  checking that the endpoint serves the network's chain id; the block's hash is read before and
  re-checked after, so a reorg between the two cannot pass a different block's answer. It returns
  what the contract said (:class:`OracleAnswer`); judging it (stale, not positive) is the caller's.
* :class:`PriceApiClient`: one GET of a URL template (``${VAR}`` secrets from the environment,
  ``{asset_id}`` and ``{timestamp}`` filled per request), parsed with exact decimals.

Failures are :class:`OracleError` (an ``AdapterError``) with a reason that names the endpoint label,
never its URL.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

from signatures.hashing import keccak256

from .evm import decode_uint, parse_address
from .jsonrpc import Endpoint, JsonRpcClient, RefusedError, RpcError, TransportError
from .protocol import AdapterError, BlockRef

SEL_LATEST_ROUND_DATA = "0x" + keccak256(b"latestRoundData()")[:4].hex()
SEL_DECIMALS = "0x" + keccak256(b"decimals()")[:4].hex()
_WORD = 32


class OracleError(AdapterError):
    """No usable answer from a price source (the message says which endpoint and why)."""


@dataclass(frozen=True, slots=True)
class OracleAnswer:
    """``latestRoundData()`` of one feed as of one block, with the block's own time."""

    network: str
    feed: str  # the aggregator (proxy) address as configured
    round_id: int
    answer: int  # signed, in units of 10^-decimals USD
    started_at: int  # unix seconds, as the contract says
    updated_at: int  # unix seconds: the time of the price
    answered_in_round: int
    decimals: int  # decimals() at the same block
    block: BlockRef
    block_timestamp: int  # unix seconds of the block read at
    endpoint: str  # label, never the URL


class OracleReader(Protocol):
    """Anything that reads an aggregator's latest round as of a block on one network."""

    network: str

    async def latest_round(self, feed: str, height: int) -> OracleAnswer: ...

    async def block_time(self, height: int) -> int: ...

    async def close(self) -> None: ...


def _int256(word: bytes) -> int:
    return int.from_bytes(word, "big", signed=True)


def decode_round(result: Any) -> tuple[int, int, int, int, int]:
    """(roundId, answer, startedAt, updatedAt, answeredInRound) from ``latestRoundData()``'s return data."""
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError(f"not hex return data: {str(result)[:40]!r}")
    try:
        raw = bytes.fromhex(result[2:])
    except ValueError:
        raise ValueError(f"not hex return data: {result[:40]!r}") from None
    if len(raw) < 5 * _WORD:
        raise ValueError(f"{len(raw)} bytes returned, 160 expected (not an aggregator?)")
    words = [raw[i * _WORD:(i + 1) * _WORD] for i in range(5)]
    round_id, started, updated, in_round = (int.from_bytes(words[i], "big") for i in (0, 2, 3, 4))
    if round_id >= 2**80 or in_round >= 2**80:
        raise ValueError("round id wider than uint80 (not an aggregator's answer)")
    return round_id, _int256(words[1]), started, updated, in_round


class EvmOracleReader:
    """Aggregator answers on one EVM network from one endpoint, each read at a given block."""

    def __init__(self, network: str, endpoint: Endpoint, *, chain_id: int | None, attempts: int = 4,
                 backoff_min: float = 0.05, backoff_max: float = 4.0):
        self.network = network
        self.chain_id = chain_id  # None: not checked (only for networks whose config has none)
        self.client = JsonRpcClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self._chain_checked = False
        self._blocks: dict[int, tuple[str | None, int]] = {}  # height -> (hash, timestamp)

    @property
    def label(self) -> str:
        return self.client.label

    async def close(self) -> None:
        await self.client.close()

    async def _check_chain(self) -> None:
        """A local node or a testnet answering for mainnet would give a real-looking price of nothing."""
        if self.chain_id is None or self._chain_checked:
            return
        try:
            got = decode_uint(await self.client.call("eth_chainId", []))
        except (RpcError, TransportError, ValueError) as exc:
            raise OracleError(f"{self.label}: eth_chainId unreadable: {exc}") from exc
        if got != self.chain_id:
            raise OracleError(f"{self.label}: serves chain id {got}, not {self.network}'s {self.chain_id}: "
                              "another chain, no price read from it")
        self._chain_checked = True

    async def _block(self, height: int) -> tuple[str | None, int]:
        try:
            blk = await self.client.call("eth_getBlockByNumber", [hex(height), False])
        except (RpcError, TransportError) as exc:
            raise OracleError(f"{self.label}: block {height}: {exc}") from exc
        if not isinstance(blk, dict):
            raise OracleError(f"{self.label}: block {height} not known (beyond the head?)")
        try:
            number, stamp = decode_uint(blk["number"]), decode_uint(blk["timestamp"])
        except (KeyError, ValueError) as exc:
            raise OracleError(f"{self.label}: block {height} unreadable: {exc!r}"[:300]) from exc
        if number != height:
            raise OracleError(f"{self.label}: asked for block {height}, the node returned block {number}")
        h = blk.get("hash")
        return (h if isinstance(h, str) else None), stamp

    async def block_time(self, height: int) -> int:
        """Unix time of block ``height`` on this network (the snapshot's time for a historical API)."""
        await self._check_chain()
        if height not in self._blocks:
            self._blocks[height] = await self._block(height)
        return self._blocks[height][1]

    async def latest_round(self, feed: str, height: int) -> OracleAnswer:
        """``latestRoundData()`` and ``decimals()`` of ``feed`` as of block ``height``."""
        if parse_address(feed) is None:
            raise OracleError(f"{self.network}: feed {feed!r} is not an EVM address (0x + 40 hex digits, EIP-55)")
        stamp = await self.block_time(height)
        block_hash = self._blocks[height][0]
        tag = hex(height)
        results = await self.client.batch([("eth_call", [{"to": feed, "data": SEL_LATEST_ROUND_DATA}, tag]),
                                           ("eth_call", [{"to": feed, "data": SEL_DECIMALS}, tag])])
        for what, r in zip(("latestRoundData()", "decimals()"), results):
            if isinstance(r, Exception):
                raise OracleError(f"{self.label}: {feed} {what} at block {height} failed: {r}")
        try:
            round_id, answer, started, updated, in_round = decode_round(results[0])
            decimals = decode_uint(results[1])
        except ValueError as exc:
            raise OracleError(f"{self.label}: {feed} at block {height}: {exc}") from exc
        if decimals > 77:
            raise OracleError(f"{self.label}: {feed} says {decimals} decimals (not an aggregator?)")
        now_hash, _ = await self._block(height)  # read by number: the block at that height must not have changed
        if block_hash and now_hash != block_hash:
            raise OracleError(f"{self.label}: block {height} changed during the read (reorg?): "
                              f"{block_hash} then {now_hash}")
        return OracleAnswer(network=self.network, feed=feed, round_id=round_id, answer=answer, started_at=started,
                            updated_at=updated, answered_in_round=in_round, decimals=decimals,
                            block=BlockRef(height, block_hash, at_snapshot=True), block_timestamp=stamp,
                            endpoint=self.label)


# ---------------------------------------------------------------------------------------------- HTTP


class PriceApiClient(JsonRpcClient):
    """GET ``<url template>`` with ``{asset_id}`` and ``{timestamp}`` filled (URL-quoted) per request.

    The template's ``${VAR}`` references are secrets: expanded from the environment once, redacted
    from every message, never shown (the label is). Numbers in the reply are parsed as Decimal."""

    def __init__(self, endpoint: Endpoint, *, attempts: int = 4, backoff_min: float = 0.05, backoff_max: float = 4.0):
        super().__init__(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max,
                         json_loads=functools.partial(json.loads, parse_float=Decimal))
        self._template, self._url = self._url, ""  # _post prefixes _url to the path: the whole URL goes as the path

    def url_for(self, asset_id: str, timestamp: str) -> str:
        return (self._template.replace("{asset_id}", quote(asset_id, safe=""))
                .replace("{timestamp}", quote(timestamp, safe="")))

    async def get(self, asset_id: str, timestamp: str) -> Any:
        """The parsed JSON reply; transport failures (429, 5xx, timeouts) retried; TransportError after the last."""
        url = self.url_for(asset_id, timestamp)
        try:
            return await self._retried(lambda: self._post(None, path=url, method="GET"))
        except RefusedError:
            raise
        except TransportError as exc:
            if self.attempts <= 1:
                raise
            raise TransportError(f"{exc} (after {self.attempts} attempts)") from None
