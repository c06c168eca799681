"""Sui balances (SUI and coin types such as USDC) through a full node's JSON-RPC, at the LATEST checkpoint.

* **What is read**: ``suix_getBalance(owner, coinType)`` per address, sent in JSON-RPC batches
  (``max_batch`` calls per HTTP request); ``totalBalance`` is a decimal string (u128), taken exactly, and
  the answer's ``coinType`` must be the type asked. SUI is ``0x2::sui::SUI`` (9 decimals); a token is its
  coin type in ``contract`` (``0x<package>::<module>::<Name>``), decimals checked once per endpoint with
  ``suix_getCoinMetadata``.
* **No snapshot**: Sui's JSON-RPC has no balance-at-checkpoint query (MystenLabs/sui#18058: "With
  JSON-RPC this is not possible"). The checkpoint is read before (``sui_getLatestCheckpointSequenceNumber``,
  with its digest and time from ``sui_getCheckpoint``) and after the balances; every figure carries
  ``BlockRef(<checkpoint before>, <its digest>, at_snapshot=False)`` unless both equal the requested height,
  and the notes say which checkpoints and time were read. Sui's GraphQL service can scope a query to a
  checkpoint (``checkpoint(sequenceNumber) { query { address { balance } } }``, within its retention
  window); porscan does not use it yet.
* **Unread is never zero**: an error object, a transport failure or an answer for another coin type is
  an error for that address. An address that never held the coin gets ``totalBalance "0"`` from the node:
  that is a zero.

Addresses are 32 bytes in hex (``0x`` + 64 digits; like Sui's ``normalizeSuiAddress``, shorter hex is
left-padded with zeros and ``0x`` may be omitted); anything else is "not a Sui address".
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from . import move
from .failover import EndpointAdapter, OneEndpoint
from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import Asset, BalanceBatch, BlockRef
from .results import Value, assemble, none_read

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "latest"

SUI_COIN = "0x2::sui::SUI"


def sui_address(text: str) -> str | None:
    """``0x`` + 64 lower-case hex digits, or None when ``text`` is not a Sui address."""
    return move.account(text, ("0x", "0X"))


def sui_coin_type(text: str) -> str | None:
    """A coin type with its package address in full (``0x`` + 64 digits), for comparing, or None."""
    return move.coin_type(text, short=False, need_0x=False)


def parse_balance(result: Any, coin: str) -> tuple[int | None, str | None]:
    """A ``suix_getBalance`` result -> (base units, error)."""
    if not isinstance(result, dict):
        return None, "suix_getBalance: the result is not an object"
    got = result.get("coinType")
    if not isinstance(got, str) or sui_coin_type(got) != coin:
        return None, f"suix_getBalance: answer for coin type {str(got)[:100]}, not the one asked"
    total = result.get("totalBalance")
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total, None
    if isinstance(total, str) and total.isascii() and total.isdigit():
        return int(total), None
    return None, f"suix_getBalance: totalBalance is not a non-negative integer: {total!r}"


def _checkpoint(value: Any) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise TransportError(f"checkpoint sequence number {str(value)[:40]!r} is not an unsigned integer")


def _utc(ms: Any) -> str:
    try:
        return datetime.fromtimestamp(_checkpoint(ms) / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except TransportError:
        return "time unknown"


class SuiAdapter(OneEndpoint):
    """SUI and coin balances on Sui from one endpoint, at the latest checkpoint (see the module docstring)."""

    def __init__(self, network: str, endpoint: Endpoint, *, attempts: int = 6, backoff_min: float = 0.05,
                 backoff_max: float = 8.0):
        self.network = network
        self.client = JsonRpcClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self._decimals: dict[str, str | None] = {}

    async def _latest(self) -> int:
        return _checkpoint(await self.client.call("sui_getLatestCheckpointSequenceNumber", []))

    async def _check_decimals(self, coin: str, asset: Asset) -> str | None:
        if coin not in self._decimals:  # a TransportError propagates: not cached, the next endpoint tries
            try:
                meta = await self.client.call("suix_getCoinMetadata", [coin])
            except RpcError as exc:
                self._decimals[coin] = f"{coin}: suix_getCoinMetadata failed: {exc.message}"
            else:
                decimals = meta.get("decimals") if isinstance(meta, dict) else None
                self._decimals[coin] = (f"{coin}: no coin metadata on chain" if decimals is None else None
                                        if decimals == asset.decimals else
                                        f"{coin} has {decimals} decimals on chain, config says {asset.decimals}")
        return self._decimals[coin]

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        keys = [sui_address(a) for a in addresses]
        todo = list(dict.fromkeys(k for k in keys if k is not None))
        coin = sui_coin_type(asset.contract or SUI_COIN)
        values: dict[str, Value] = {}
        notes: list[str] = []
        strategies: list[str] = []
        before = self.requests
        label = self.label
        if coin is None:
            why = f"{asset.symbol} on {self.network}: {asset.contract!r} is not a Sui coin type"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
        elif todo:
            try:
                start = await self._latest()
                checkpoint = await self.client.call("sui_getCheckpoint", [str(start)])
                problem = await self._check_decimals(coin, asset)
            except (RpcError, TransportError) as exc:  # this endpoint reads nothing: every address says why
                none_read(values, todo, f"{label}: {exc}", label, notes)
            else:
                if problem:
                    notes.append(problem)
                    values.update((k, (None, problem, label, None)) for k in todo)
                else:
                    strategies.append(f"{label}:suix_getBalance@latest")
                    values.update(await self._read(todo, coin, height, start, checkpoint, asset, notes))
        return assemble(asset, height, addresses, keys, values, "not a Sui address", strategies,
                        self.requests - before, notes)

    async def _read(self, owners: list[str], coin: str, height: int | None, start: int, checkpoint: Any,
                    asset: Asset, notes: list[str]) -> dict[str, Value]:
        label = self.label
        results = await self.client.batch([("suix_getBalance", [owner, coin]) for owner in owners])
        try:
            end: int | None = await self._latest()
        except (RpcError, TransportError) as exc:
            end = None
            notes.append(f"{label}: checkpoint after reading unknown ({exc})")
        info: Mapping[str, Any] = checkpoint if isinstance(checkpoint, dict) else {}
        digest = info.get("digest") if isinstance(info.get("digest"), str) else None
        at_snapshot = height is not None and end == start == height
        block = BlockRef(start, digest, at_snapshot=at_snapshot)
        span = f"checkpoint {start}" if end == start else f"checkpoints {start}..{end if end is not None else '?'}"
        when = f"{span}, {_utc(info.get('timestampMs'))}"
        if height is None:
            notes.append(f"{label}: {asset.symbol} read at latest ({when})")
        elif not at_snapshot:
            notes.append(f"{label}: {asset.symbol} read at latest ({when}), NOT at snapshot checkpoint {height}: "
                         "Sui JSON-RPC has no balance-at-checkpoint query")
        out: dict[str, Value] = {}
        for owner, res in zip(owners, results):
            if isinstance(res, Exception):
                out[owner] = (None, res.message if isinstance(res, RpcError) else str(res), label, None)
                continue
            amount, err = parse_balance(res, coin)
            out[owner] = (amount, err, label, block if amount is not None else None)
        return out


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> EndpointAdapter:
    """The kind "sui" for scanner/pipeline/adapters.py (a JSON-RPC endpoint; no endpoint keys)."""
    return SuiAdapter(network_id, endpoint, **retries)
