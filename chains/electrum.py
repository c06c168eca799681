"""Electrum protocol (ElectrumX, Fulcrum, electrs): balances at height H from address histories.

For each address: ``blockchain.scripthash.get_history`` gives every confirmed transaction touching
its script with the block height; the transactions with ``0 < height <= H`` are fetched
(``blockchain.transaction.get``, raw, decoded here and checked against their txid) and the balance
at H is the script's outputs among them that none of them spends. Mempool entries (height 0 or
-1) and later blocks are after the snapshot by definition and are left out. The block hash at H
comes from ``blockchain.block.header`` (sha256d of the header), read before and after the
addresses so a reorganisation during the read is detected.

Transport: newline-delimited JSON-RPC over TCP (``tcp://host:port``) or TLS (``ssl://host:port``,
certificate verification on); ``server.version`` first on every connection; batches are JSON
arrays, ``max_batch`` calls each, on ``concurrency`` connections. Lost connections, timeouts,
malformed lines, missing batch items and "busy" errors are retried with backoff on a fresh
connection; what still fails is an error result for the addresses concerned, never a zero.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from typing import Any, Sequence
from urllib.parse import urlsplit

from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .failover import OneEndpoint
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef
from .utxo import require_native, Tx, TxDecodeError, balance_from_history, block_hash_from_header, chain_params, decode_tx, \
    electrum_scripthash, script_pubkey

CLIENT_NAME = "porscan"
PROTOCOL = ["1.4", "1.4.2"]


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, registry: set | None = None):
        self.reader = reader
        self.writer = writer
        self._registry = registry  # the client's open connections (close() reaches those in use too)
        if registry is not None:
            registry.add(self)

    def close(self) -> None:
        if self._registry is not None:
            self._registry.discard(self)
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken socket
            pass


class ElectrumClient(JsonRpcClient):
    """Batched Electrum JSON-RPC over a small pool of TCP/TLS connections.

    A :class:`JsonRpcClient` whose transport is one newline-terminated JSON line per batch instead
    of an HTTP POST: batching, retries, per-item errors and counters are the same code."""

    def __init__(self, endpoint: Endpoint, *, attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        super().__init__(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        url = urlsplit(self._url)
        if url.scheme not in ("tcp", "ssl", "tls") or not url.hostname or not url.port:
            raise AdapterError(f"endpoint {endpoint.label}: Electrum URL must be tcp://host:port or ssl://host:port")
        self.host, self.port = url.hostname, url.port
        self.tls = ssl.create_default_context() if url.scheme in ("ssl", "tls") else None  # verification on
        self._pool: asyncio.Queue[_Conn | None] | None = None
        self._open: set[_Conn] = set()  # every open connection, idle or in use
        self.server_version: Any = None

    def _get_pool(self) -> asyncio.Queue:
        if self._pool is None:
            self._pool = asyncio.Queue()
            for _ in range(max(1, self.endpoint.concurrency)):
                self._pool.put_nowait(None)  # connected lazily
        return self._pool

    async def close(self) -> None:
        """Close every connection, the idle ones and those a request still uses (that request then
        fails as a lost connection; it returns its connection to a pool that is no longer used)."""
        for c in list(self._open):
            c.close()
        self._open.clear()
        self._pool = None

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.tls, limit=2**24), self.endpoint.timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            self._count("connect")
            raise TransportError(f"cannot connect: {type(exc).__name__}") from None
        conn = _Conn(reader, writer, self._open)
        try:
            reply = await self._exchange(conn, json.dumps({"jsonrpc": "2.0", "id": 0, "method": "server.version",
                                                           "params": [CLIENT_NAME, PROTOCOL]}).encode())
        except TransportError:
            conn.close()
            raise
        if not isinstance(reply, dict) or "result" not in reply:
            conn.close()
            self._count("server-version")
            raise TransportError(f"server.version refused: {str(reply)[:120]}")
        self.server_version = reply["result"]
        return conn

    async def _exchange(self, conn: _Conn, payload: bytes) -> Any:
        """Write one line, read lines until the reply to it (subscription notifications are skipped)."""
        self.requests += 1
        try:
            conn.writer.write(payload + b"\n")
            await conn.writer.drain()
            while True:
                line = await asyncio.wait_for(conn.reader.readline(), self.endpoint.timeout)
                if not line:
                    self._count("connection-closed")
                    raise TransportError("connection closed by the server")
                try:
                    msg = json.loads(line)
                except ValueError:
                    self._count("malformed-json")
                    raise TransportError("malformed JSON line") from None
                if isinstance(msg, dict) and "method" in msg and msg.get("id") is None:
                    continue
                return msg
        except asyncio.TimeoutError:
            self._count("timeout")
            raise TransportError("timeout") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self._count(type(exc).__name__)
            raise TransportError(type(exc).__name__) from None

    async def _post(self, payload: bytes | None, **_: Any) -> Any:  # type: ignore[override]
        pool = self._get_pool()
        await self._limiter.acquire()
        conn = await pool.get()
        try:
            if conn is None:
                conn = await self._connect()
            return await self._exchange(conn, payload or b"")
        except BaseException:
            if conn is not None:
                conn.close()  # a failed line leaves the stream in an unknown state: reconnect
            conn = None
            raise
        finally:
            pool.put_nowait(conn)


_TXID = re.compile(r"[0-9a-fA-F]{64}")


def _txid(value: Any) -> str:
    """A history item's ``tx_hash``: 64 hex digits, or ValueError (the history is malformed)."""
    if not isinstance(value, str) or not _TXID.fullmatch(value):
        raise ValueError(f"tx_hash {str(value)[:80]!r}")
    return value


class ElectrumAdapter(OneEndpoint):
    """Balances at a height from one Electrum-protocol server."""

    def __init__(self, network: str, endpoint: Endpoint, options: dict | None = None, *, coin: str = "BTC",
                 chain: str = "main", attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        self.network = network
        self.params = chain_params(coin, chain)
        self.client = ElectrumClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)

    async def _block(self, height: int | None) -> BlockRef:
        """The block at ``height`` (the tip when None). A garbled tip or header is an AdapterError (the
        endpoint cannot be used; failover tries the next one), never a crash."""
        tip = await self.client.call("blockchain.headers.subscribe", [])
        try:
            tip_height = tip["height"]
            if type(tip_height) is not int or tip_height < 0:
                raise ValueError(f"height {tip_height!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterError(f"{self.label}: unreadable tip from blockchain.headers.subscribe: {exc!r}"[:300]) from None
        h = tip_height if height is None else height
        if h > tip_height:
            raise AdapterError(f"{self.label}: server is at height {tip_height}, behind the snapshot height {h}")
        header = await self.client.call("blockchain.block.header", [h])
        try:
            raw = bytes.fromhex(header)
            if self.params.header_hash == "sha256d" and len(raw) < 80:
                raise ValueError(f"{len(raw)} bytes")
        except (TypeError, ValueError) as exc:
            raise AdapterError(f"{self.label}: unreadable header of block {h}: {exc!r}"[:300]) from None
        return BlockRef(h, block_hash_from_header(raw, self.params), height is not None)

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        require_native(asset, self.network)
        before = self.requests
        label = self.label
        notes: list[str] = []
        try:
            block = await self._block(height)
        except (RpcError, TransportError) as exc:
            raise AdapterError(f"{label}: cannot read the block at {height}: {exc}") from None
        H = block.number
        spks: dict[int, bytes] = {}
        errors: dict[int, str] = {}
        for i, a in enumerate(addresses):
            try:
                spks[i] = script_pubkey(a, self.params)
            except ValueError as exc:
                errors[i] = f"not a {self.params.coin} {self.params.chain} address: {exc}"
        unique = list(dict.fromkeys(spks.values()))
        hist = await self.client.batch([("blockchain.scripthash.get_history", [electrum_scripthash(s)]) for s in unique])
        history: dict[bytes, list[str] | str] = {}
        cache: dict[str, Tx] = {}
        wanted_tx: dict[str, None] = {}
        for spk, h in zip(unique, hist):
            if isinstance(h, Exception):
                history[spk] = f"history not read: {h}"
                continue
            try:
                txs = [_txid(item["tx_hash"]) for item in h if 0 < int(item["height"]) <= H]
            except (TypeError, KeyError, ValueError):
                history[spk] = f"malformed history reply: {str(h)[:80]}"
                continue
            history[spk] = txs
            wanted_tx.update(dict.fromkeys(txs))
        tx_err = await self._fetch_txs(list(wanted_tx), cache)
        totals: dict[bytes, int | str] = {}
        for spk, txs in history.items():
            if isinstance(txs, str):
                totals[spk] = txs
                continue
            missing = [t for t in txs if t not in cache]
            if missing:
                totals[spk] = f"{len(missing)} transaction(s) not read: {tx_err.get(missing[0], '?')}"
                continue
            totals[spk] = balance_from_history(spk, (cache[t] for t in txs))
        # the block at H must still be the same one (no reorganisation while reading)
        try:
            after = await self._block(H)
        except (AdapterError, RpcError, TransportError) as exc:
            notes.append(f"{label}: block {H} not re-checked after the read: {exc}")
        else:
            if after.hash != block.hash:
                raise AdapterError(f"{label}: block {H} changed from {block.hash} to {after.hash} during the read")
        if block.hash is None:
            notes.append(f"{label}: block hash at {H} not derivable from the header for {self.params.coin}")
        results = []
        for i, a in enumerate(addresses):
            if i in errors:
                results.append(BalanceResult(a, None, None, errors[i], label))
                continue
            v = totals[spks[i]]
            results.append(BalanceResult(a, v, block, None, label) if isinstance(v, int)
                           else BalanceResult(a, None, block, v, label))
        n_tx = len(wanted_tx)
        notes.append(f"{label}: {len(unique)} histories, {n_tx} transactions fetched, block {H} {block.hash}")
        return BalanceBatch(asset, height, tuple(results), f"{label}:electrum-history", self.requests - before,
                            tuple(notes))

    async def _fetch_txs(self, txids: list[str], cache: dict[str, Tx]) -> dict[str, str]:
        """Fetch and decode transactions into the cache; returns the reason per txid not read."""
        if not txids:
            return {}
        errs: dict[str, str] = {}
        raws = await self.client.batch([("blockchain.transaction.get", [t]) for t in txids])
        for t, raw in zip(txids, raws):
            if isinstance(raw, Exception):
                errs[t] = str(raw)
                continue
            try:
                cache[t] = decode_tx(bytes.fromhex(raw), t)
            except (TxDecodeError, ValueError, TypeError) as exc:
                errs[t] = f"transaction {t}: {exc}"
        return errs
