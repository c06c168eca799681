"""Electrum protocol (ElectrumX, Fulcrum, electrs): balances at height H from address histories.

For each address: ``blockchain.scripthash.get_history`` gives every confirmed transaction touching
its script with the block height; the transactions with ``0 < height <= H`` are fetched
(``blockchain.transaction.get``, raw, decoded here and checked against their txid) and the balance
at H is the script's outputs among them that none of them spends. Mempool entries (height 0 or
-1) and later blocks are after the snapshot by definition and are left out. The block hash at H
comes from ``blockchain.block.header`` (sha256d of the header), read before and after the
addresses so a reorganisation during the read is detected.

Two checks make a server's answers trustworthy enough to sum:

* **Genesis**: once per adapter, before anything is read, the server's block 0 header is hashed
  and compared with the genesis of the chain the server must run (``node_chain``, by default the
  addresses' ``chain``); a server on another chain is an :class:`AdapterError` (nothing is read
  from it; failover goes on to the next endpoint). Dash headers cannot be hashed here (X11), so
  ``server.features``' ``genesis_hash`` is compared instead, or a note says it was not checked.
* **Status hash**: every history comes with ``blockchain.scripthash.subscribe`` in the same
  batches, and must hash to that status (sha256 of ``"tx_hash:height:"`` per entry, in order;
  null for no history). A history that disagrees is read once more (the mempool may have moved
  between the two calls); if it still disagrees the address is unread, never a zero. The
  subscriptions are dropped again on the same connection (``blockchain.scripthash.unsubscribe``,
  protocol 1.4.2, pipelined: no extra round trip; its replies are skipped).

Transport: newline-delimited JSON-RPC over TCP (``tcp://host:port``) or TLS (``ssl://host:port``,
certificate verification on); ``server.version`` first on every connection; batches are JSON
arrays, ``max_batch`` calls each, on ``concurrency`` connections. Lost connections, timeouts,
malformed lines, missing batch items and "busy" errors are retried with backoff on a fresh
connection; what still fails is an error result for the addresses concerned, never a zero.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import ssl
from typing import Any, Sequence
from urllib.parse import urlsplit

from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .limits import request_slot
from .failover import OneEndpoint
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef
from .utxo import require_native, CORE_CHAIN_NAMES, GENESIS_HASHES, Tx, TxDecodeError, balance_from_history, \
    block_hash_from_header, chain_params, decode_tx, electrum_scripthash, script_pubkey

CLIENT_NAME = "porscan"
PROTOCOL = ["1.4", "1.4.2"]
SUBSCRIBE = "blockchain.scripthash.subscribe"
UNSUBSCRIBE = "blockchain.scripthash.unsubscribe"  # protocol 1.4.2
STATUS_MISMATCH = "history does not match the server's status hash (an entry dropped or added?)"


def electrum_status(history: Sequence[tuple[str, int]]) -> str | None:
    """The Electrum protocol status of a script hash from its history ``[(tx_hash, height), ...]`` in
    the server's order (confirmed by height and position in the block, then mempool entries with
    height 0 or -1): hex sha256 of the concatenated ``"tx_hash:height:"``, or None for no history."""
    if not history:
        return None
    return hashlib.sha256("".join(f"{t}:{h:d}:" for t, h in history).encode()).hexdigest()


def status_matches(status: Any, history: Sequence[tuple[str, int]]) -> bool:
    """Whether ``history`` is the one the server's ``status`` stands for. The mempool part is also
    tried in the protocol's canonical order (``(-height, tx_hash)``), in case a server lists it in
    another order in ``get_history`` than when hashing: the entries must still be exactly the same."""
    if status is not None and not isinstance(status, str):
        return False
    want = status.lower() if isinstance(status, str) else None
    if want == electrum_status(history):
        return True
    mempool = [e for e in history if e[1] <= 0]
    if len(mempool) < 2:
        return False
    canonical = [e for e in history if e[1] > 0] + sorted(mempool, key=lambda e: (-e[1], e[0]))
    return want == electrum_status(canonical)


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, registry: "set[_Conn] | None" = None):
        self.reader = reader
        self.writer = writer
        self._registry = registry  # the client's open connections (close() reaches those in use too)
        self.discard: set[int] = set()  # ids of pipelined calls whose replies nobody waits for
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
        self.unsubscribe = True  # drop subscriptions again after each batch (servers speaking 1.4.2)

    def _get_pool(self) -> "asyncio.Queue[_Conn | None]":
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

    def _can_unsubscribe(self) -> bool:
        v = self.server_version
        if not self.unsubscribe or not isinstance(v, list) or len(v) < 2 or not isinstance(v[1], str):
            return False
        try:
            return tuple(int(x) for x in v[1].split(".")) >= (1, 4, 2)
        except ValueError:
            return False

    def _unsubscribe_after(self, conn: _Conn, payload: bytes) -> None:
        """After a batch with subscriptions was answered on ``conn``: unsubscribe them on the same
        connection (subscriptions belong to it), written without waiting; the replies are skipped
        by :meth:`_exchange`. The server then keeps no per-address state from porscan's reads."""
        try:
            calls = json.loads(payload)
        except ValueError:
            return
        hashes = [c["params"][0] for c in (calls if isinstance(calls, list) else [calls])
                  if isinstance(c, dict) and c.get("method") == SUBSCRIBE and c.get("params")]
        if not hashes:
            return
        line = []
        for sh in hashes:
            rid = next(self._ids)
            conn.discard.add(rid)
            line.append({"jsonrpc": "2.0", "id": rid, "method": UNSUBSCRIBE, "params": [sh]})
        self.requests += 1
        conn.writer.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")  # drained by the next write

    @staticmethod
    def _discarded(conn: _Conn, msg: Any) -> bool:
        """Whether ``msg`` answers only pipelined calls nobody waits for (then its ids are forgotten)."""
        if not conn.discard:
            return False
        items = msg if isinstance(msg, list) else [msg]
        ids = [m.get("id") if isinstance(m, dict) else None for m in items]
        if not ids or not all(type(i) is int and i in conn.discard for i in ids):
            return False
        conn.discard.difference_update(ids)
        return True

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
                if self._discarded(conn, msg):
                    continue
                return msg
        except asyncio.TimeoutError:
            self._count("timeout")
            raise TransportError("timeout") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self._count(type(exc).__name__)
            raise TransportError(type(exc).__name__) from None

    async def _post(self, payload: bytes | None, **_: Any) -> Any:
        pool = self._get_pool()
        async with request_slot(self._limiter):  # the rate and, across a fleet, the concurrency
            conn = await pool.get()
            try:
                if conn is None:
                    conn = await self._connect()
                reply = await self._exchange(conn, payload or b"")
                if payload and SUBSCRIBE.encode() in payload and self._can_unsubscribe():
                    self._unsubscribe_after(conn, payload)
                return reply
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


def _height(value: Any) -> int:
    """A history item's ``height``: an integer (0 or -1 for mempool entries), or ValueError."""
    if type(value) is not int:
        raise ValueError(f"height {str(value)[:40]!r}")
    return value


class ElectrumAdapter(OneEndpoint):
    """Balances at a height from one Electrum-protocol server."""

    def __init__(self, network: str, endpoint: Endpoint, options: dict[str, Any] | None = None, *, coin: str = "BTC",
                 chain: str = "main", attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        opts = dict(options or {})
        self.network = network
        self.params = chain_params(coin, chain)
        # the chain the server runs: the addresses' chain, except in porscan's local demo and benchmarks,
        # which replay mainnet-address scripts on a regtest node (node_chain = "regtest")
        self.node_chain = str(opts.get("node_chain", chain))
        if self.node_chain not in CORE_CHAIN_NAMES:
            raise AdapterError(f"{endpoint.label}: node_chain {self.node_chain!r} is not one of "
                               f"{', '.join(CORE_CHAIN_NAMES)}")
        self.node_params = chain_params(coin, self.node_chain)
        self.client = ElectrumClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self._genesis_checked = False
        self._genesis_note: str | None = None  # why the genesis could not be checked, once checked

    async def _check_genesis(self) -> str | None:
        """Once per adapter: the server must serve ``node_chain``'s genesis block. Raises AdapterError
        when it serves another chain; returns a note when the genesis could not be checked."""
        if self._genesis_checked:
            return self._genesis_note
        p = self.node_params
        known = GENESIS_HASHES.get((p.coin, p.chain), ())
        label = self.label
        try:
            if p.header_hash == "sha256d":
                header = await self.client.call("blockchain.block.header", [0])
                try:
                    raw = bytes.fromhex(header)
                    if len(raw) < 80:
                        raise ValueError(f"{len(raw)} bytes")
                except (TypeError, ValueError) as exc:
                    raise AdapterError(f"{label}: unreadable genesis header: {exc!r}"[:300]) from None
                got = block_hash_from_header(raw, p)
            else:  # Dash (X11): only the server's own word
                try:
                    features = await self.client.call("server.features", [])
                except RpcError:
                    features = None
                got = features.get("genesis_hash") if isinstance(features, dict) else None
                if not isinstance(got, str):
                    got = None
        except (RpcError, TransportError) as exc:
            raise AdapterError(f"{label}: cannot read the genesis block: {exc}") from None
        note = None
        if got is None:
            note = (f"{label}: genesis not checked: {p.coin} block hashes are not derivable from headers here "
                    "and server.features gives no genesis_hash")
        elif not known:
            note = f"{label}: genesis {got} not checked: no known genesis for {p.key}"
        elif got.lower() not in known:
            raise AdapterError(f"{label}: serves genesis {got}, not {p.key}'s {' or '.join(known)}: another chain, "
                               "nothing read from it")
        elif p.header_hash != "sha256d":
            note = f"{label}: genesis {got} as server.features says (the header cannot be hashed here)"
        self._genesis_checked, self._genesis_note = True, note
        return note

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
        genesis_note = await self._check_genesis()
        if genesis_note:
            notes.append(genesis_note)
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
        full = await self._histories(unique)
        history: dict[bytes, list[str] | str] = {}
        cache: dict[str, Tx] = {}
        wanted_tx: dict[str, None] = {}
        for spk, entries in full.items():
            if isinstance(entries, str):
                history[spk] = entries
                continue
            txs = [t for t, h in entries if 0 < h <= H]
            history[spk] = txs
            wanted_tx.update(dict.fromkeys(txs))
        tx_err = await self._fetch_txs(list(wanted_tx), cache)
        totals: dict[bytes, int | str] = {}
        for spk, read in history.items():
            if isinstance(read, str):
                totals[spk] = read
                continue
            txs = read
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

    async def _histories(self, spks: list[bytes]) -> dict[bytes, list[tuple[str, int]] | str]:
        """Every script's full history ``[(tx_hash, height), ...]`` checked against the server's status
        hash (both read in the same batches), or the reason it was not read. A history that disagrees
        with its status is read once more; a second disagreement leaves it unread."""
        out: dict[bytes, list[tuple[str, int]] | str] = {}
        todo = spks
        for _ in range(2):
            if not todo:
                break
            calls: list[tuple[str, list[Any]]] = []
            for spk in todo:
                sh = electrum_scripthash(spk)
                calls += [(SUBSCRIBE, [sh]), ("blockchain.scripthash.get_history", [sh])]
            replies = await self.client.batch(calls)
            again = []
            for k, spk in enumerate(todo):
                status, h = replies[2 * k], replies[2 * k + 1]
                if isinstance(h, Exception):
                    out[spk] = f"history not read: {h}"
                    continue
                try:
                    entries = [(_txid(item["tx_hash"]), _height(item["height"])) for item in h]
                except (TypeError, KeyError, ValueError):
                    out[spk] = f"malformed history reply: {str(h)[:80]}"
                    continue
                if isinstance(status, Exception):
                    out[spk] = f"status not read (the history cannot be checked): {status}"
                elif status_matches(status, entries):
                    out[spk] = entries
                else:
                    out[spk] = STATUS_MISMATCH
                    again.append(spk)
            todo = again
        return out

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
