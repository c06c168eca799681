"""Esplora REST (blockstream.info, mempool.space, self-hosted electrs-esplora): balances at height H.

The delta method, per address: the confirmed balance now (``GET /address/:a`` ->
``chain_stats.funded_txo_sum - spent_txo_sum``) minus the effect of every confirmed transaction
above H, paging ``/address/:a/txs/chain[/:last_txid]`` (newest first, 25 per page) only until
the first transaction at or below H. ``chain_stats`` is read again afterwards: if it changed (a
new block touched the address meanwhile) the address is read again. Mempool transactions are
not in ``chain_stats`` nor in ``txs/chain``. The block hash at H (``/block-height/:h``) is read
before and after, so a reorganisation is detected.

Requests go through :class:`chains.jsonrpc.JsonRpcClient`'s transport (rate limit, in-flight
limit, error taxonomy, secrets redacted); 429, 5xx, timeouts and malformed JSON are retried with
backoff, other 4xx are not. An address whose reads still fail gets an error, never a zero.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any, Callable, Sequence

from .jsonrpc import Endpoint, JsonRpcClient, TransportError
from .failover import OneEndpoint
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef
from .utxo import require_native, chain_params, script_pubkey

PAGE = 25  # Esplora's page size for /txs/chain
_HASH = re.compile(r"[0-9a-f]{64}")


class _Permanent(Exception):
    """A 4xx answer other than 429: retrying will not help."""


class EsploraClient(JsonRpcClient):
    """GET requests on a REST API, with JsonRpcClient's transport and counters."""

    def __init__(self, endpoint: Endpoint, *, attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        super().__init__(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self._url = self._url.rstrip("/")

    async def get(self, path: str, parse: Callable[[bytes], Any] | None = None) -> Any:
        """GET ``path``: the JSON reply, or ``parse(body)`` for plain-text replies (a ValueError
        from ``parse`` counts as a malformed reply and is retried)."""
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.retries += 1
                await asyncio.sleep(random.uniform(0, min(self.backoff_max, self.backoff_min * 2 ** attempt)))
            try:
                body = await self._post(None, path=path, method="GET", raw=parse is not None)
                return body if parse is None else parse(body)
            except ValueError as exc:
                self._count("malformed-reply")
                last = f"malformed reply: {exc}"
            except TransportError as exc:
                last = str(exc)
                if last.startswith("HTTP 4") and not last.startswith("HTTP 429"):
                    raise _Permanent(last) from None
        raise TransportError(f"{last} (after {self.attempts} attempts)")


def _height(body: bytes) -> int:
    return int(body.decode().strip())


def _block_hash(body: bytes) -> str:
    text = body.decode().strip().lower()
    if not _HASH.fullmatch(text):
        raise ValueError(f"not a block hash: {text[:70]!r}")
    return text


def tx_effect(tx: dict[str, Any], spk_hex: str) -> int:
    """Satoshis a confirmed Esplora transaction adds to (outputs) or takes from (spent prevouts) a script."""
    gain = sum(int(o["value"]) for o in tx.get("vout", []) if o.get("scriptpubkey") == spk_hex)
    loss = 0
    for i in tx.get("vin", []):
        prev = i.get("prevout")
        if prev and prev.get("scriptpubkey") == spk_hex:
            loss += int(prev["value"])
    return gain - loss


class EsploraAdapter(OneEndpoint):
    """Balances at a height from one Esplora REST endpoint."""

    client: EsploraClient

    def __init__(self, network: str, endpoint: Endpoint, options: dict[str, Any] | None = None, *, coin: str = "BTC",
                 chain: str = "main", attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0,
                 max_pages: int = 2000):
        self.network = network
        self.params = chain_params(coin, chain)
        self.client = EsploraClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self.max_pages = int((options or {}).get("max_pages", max_pages))

    async def _block(self, height: int | None) -> BlockRef:
        tip = await self.client.get("/blocks/tip/height", _height)
        h = tip if height is None else height
        if h > tip:
            raise AdapterError(f"{self.label}: server is at height {tip}, behind the snapshot height {h}")
        block_hash = await self.client.get(f"/block-height/{h}", _block_hash)
        return BlockRef(h, block_hash, height is not None)

    async def _stats(self, address: str) -> tuple[int, int, int]:
        info = await self.client.get(f"/address/{address}")
        cs = info["chain_stats"]
        return int(cs["funded_txo_sum"]), int(cs["spent_txo_sum"]), int(cs["tx_count"])

    async def _one(self, address: str, H: int) -> int:
        spk = script_pubkey(address, self.params).hex()
        for _ in range(3):
            stats = await self._stats(address)
            balance: int = stats[0] - stats[1]
            path = f"/address/{address}/txs/chain"
            for _page in range(self.max_pages):
                txs = await self.client.get(path)
                if not isinstance(txs, list):
                    raise ValueError("txs/chain reply is not a list")
                done = len(txs) < PAGE
                for tx in txs:
                    st = tx.get("status") or {}
                    if not st.get("confirmed"):
                        continue
                    if int(st["block_height"]) <= H:
                        done = True
                        break
                    balance -= tx_effect(tx, spk)
                if done or not txs:
                    break
                path = f"/address/{address}/txs/chain/{txs[-1]['txid']}"
            else:
                raise ValueError(f"more than {self.max_pages} pages of transactions after the snapshot")
            if await self._stats(address) == stats:
                if balance < 0:
                    raise ValueError(f"negative balance {balance}: inconsistent server data")
                return balance
        raise ValueError("the address kept changing while it was read")

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        require_native(asset, self.network)
        before = self.requests
        label = self.label
        try:
            block = await self._block(height)
        except (TransportError, _Permanent, ValueError) as exc:
            raise AdapterError(f"{label}: cannot read the block at {height}: {exc}") from None
        sem = asyncio.Semaphore(max(1, self.client.endpoint.concurrency))
        unique = list(dict.fromkeys(addresses))

        async def read(a: str) -> tuple[int | None, str | None]:
            async with sem:
                try:
                    return await self._one(a, block.number), None
                except ValueError as exc:  # includes bad addresses (EncodingError)
                    return None, str(exc)
                except (TransportError, _Permanent) as exc:
                    return None, str(exc)
                except (KeyError, TypeError) as exc:
                    return None, f"malformed reply: {exc!r}"

        got = dict(zip(unique, await asyncio.gather(*(read(a) for a in unique))))
        notes = []
        try:
            after = await self._block(block.number)
            if after.hash != block.hash:
                raise AdapterError(f"{label}: block {block.number} changed from {block.hash} to {after.hash} during the read")
        except (TransportError, _Permanent) as exc:
            notes.append(f"{label}: block {block.number} not re-checked after the read: {exc}")
        results = tuple(BalanceResult(a, got[a][0], block, got[a][1], label) for a in addresses)
        notes.append(f"{label}: read at block {block.number} {block.hash} (delta from the current balance)")
        return BalanceBatch(asset, height, results, f"{label}:esplora-delta", self.requests - before, tuple(notes))
