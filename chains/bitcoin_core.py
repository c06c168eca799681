"""Bitcoin Core / Knots (and Litecoin Core, Dogecoin Core, ...) JSON-RPC: balances at height H in
one pass over the UTXO set, however many addresses a batch has.

A node only keeps the UTXO set at its tip. Three ways to get it as of the snapshot height H, tried
in this order (per endpoint; ``mode`` in the endpoint options restricts them):

1. ``dumptxoutset``: Bitcoin Knots writes the UTXO set *as of H* as CSV (``rollback`` with
   ``format``/``show_header``/``separator``) and returns to its tip by itself. The file is written
   on the node's machine (``dump_dir``) and read by porscan from ``dump_dir_local`` (the same folder
   as mounted here, e.g. over NFS or a chroot path); values are satoshis, the header carries the
   block hash of H, and the number of coins read must equal ``coins_written``. With
   ``dump_format = "binary"`` the same call without ``format`` works on Bitcoin Core >= 28, whose
   compact snapshot format (compressed amounts and scripts) is parsed here.
2. ``scantxoutset`` with ``raw(<scriptPubKey>)`` descriptors when the node's tip *is* H (the result
   says at which height and block it scanned; anything else is refused).
3. ``invalidateblock`` rollback, only when the endpoint sets ``allow_rollback = true`` (it changes
   the node's chain for the duration): invalidate the block at H+1, scan, ``reconsiderblock``.
   This is the documented manual procedure (README, "Bitcoin family balances") done for you.

Otherwise the adapter raises :class:`AdapterError` saying what to do. Every result carries the
block number and hash actually read; a read at the tip when no height was asked is marked
``at_snapshot=False``. Amounts are exact: the CSV holds satoshis, JSON amounts are parsed as
``Decimal``.

Why one file: the three ways share the node checks (chain, tip, pruning) and the choice between
them, and the rollback's undo of a killed run's rollback must read the same node state the rollback
leaves; split, the state one half leaves would be described only in the other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import logging
import mmap
import os
import re
import socket
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BalanceResult, BlockRef
from .utxo import require_native, CORE_CHAIN_NAMES, ChainParams, btc_to_sats, chain_params, read_compact_size, script_pubkey

_loads = functools.partial(json.loads, parse_float=Decimal)
log = logging.getLogger("porscan.bitcoin")
MODES = ("auto", "dump", "scan", "rollback")

ROLLBACK_HELP = ("the node's tip is {tip}, not the snapshot height {h}. Use a node that can dump the UTXO set "
                 "at a past height (Bitcoin Knots: set dump_dir/dump_dir_local on the endpoint), or roll the "
                 "node back to {h} (setnetworkactive false; invalidateblock <hash of block {h1}>; read; "
                 "reconsiderblock <same hash>; setnetworkactive true), or set allow_rollback = true on the "
                 "endpoint to let porscan do exactly that, or use an Electrum/Esplora endpoint")


def _addresses_to_scripts(addresses: Sequence[str], params: ChainParams) -> tuple[list[str | None], dict[int, str]]:
    """scriptPubKey hex per address (None when invalid) and the reason per invalid index."""
    spks: list[str | None] = []
    bad: dict[int, str] = {}
    for i, a in enumerate(addresses):
        try:
            spks.append(script_pubkey(a, params).hex())
        except ValueError as exc:
            spks.append(None)
            bad[i] = f"not a {params.coin} {params.chain} address: {exc}"
    return spks, bad


def results_from_totals(addresses: Sequence[str], spks: Sequence[str | None], bad: dict[int, str],
                        totals: dict[str, int] | None, block: BlockRef | None, error: str | None,
                        label: str) -> tuple[BalanceResult, ...]:
    """One result per address: the total of its script (a full UTXO-set pass: absent = a real 0)."""
    out = []
    for i, (a, s) in enumerate(zip(addresses, spks)):
        if s is None:
            out.append(BalanceResult(a, None, None, bad[i], label))
        elif totals is None:
            out.append(BalanceResult(a, None, block, error or "not read", label))
        else:
            out.append(BalanceResult(a, totals.get(s, 0), block, None, label))
    return tuple(out)


def parse_dump_csv(path: Path, wanted: set[str]) -> tuple[str, int, dict[str, int]]:
    """Stream a Knots ``scriptPubKey,value`` CSV dump: (block hash from the header, coins, totals)."""
    want = {w.encode() for w in wanted}
    totals: dict[bytes, int] = {}
    coins = 0
    with open(path, "rb", buffering=1 << 20) as fh:
        header = fh.readline()
        if not header.startswith(b"#(blockhash "):
            raise AdapterError(f"dump {path.name}: unexpected header {header[:80]!r}")
        block_hash = header.split()[1].decode()
        cols = header.rsplit(b")", 1)[1].strip().split(b",")
        if cols != [b"scriptPubKey", b"value"]:
            raise AdapterError(f"dump {path.name}: unexpected columns {cols!r}")
        for line in fh:
            coins += 1
            spk, _, value = line.partition(b",")
            if spk in want:
                totals[spk] = totals.get(spk, 0) + int(value)
    return block_hash, coins, {k.decode(): v for k, v in totals.items()}


SNAPSHOT_MAGIC = b"utxo\xff"


def _varint(buf: bytes | bytearray | memoryview | mmap.mmap, i: int) -> tuple[int, int]:
    """Bitcoin Core's VARINT (base-128, MSB first, +1 per continuation): (value, next index)."""
    n = 0
    while True:
        ch = buf[i]
        i += 1
        n = (n << 7) | (ch & 0x7F)
        if ch & 0x80:
            n += 1
        else:
            return n, i


def decompress_amount(x: int) -> int:
    """Core's CTxOutCompressor::DecompressAmount."""
    if x == 0:
        return 0
    x -= 1
    e = x % 10
    x //= 10
    if e < 9:
        d = x % 9 + 1
        x //= 9
        n = x * 10 + d
    else:
        n = x + 1
    amount: int = n * 10 ** e
    return amount


def parse_dump_binary(path: Path, wanted: set[str]) -> tuple[str, int, dict[str, int]]:
    """Bitcoin Core's UTXO snapshot (``dumptxoutset`` without ``format``; version 2, Core >= 28):
    (block hash, coins, satoshis per wanted scriptPubKey hex). P2PK outputs (compressed script
    types 2-5) stand for no address and are skipped."""

    want = {bytes.fromhex(w) for w in wanted}
    totals: dict[bytes, int] = {}
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:5] != SNAPSHOT_MAGIC:
            raise AdapterError(f"dump {path.name}: not a UTXO snapshot (magic {buf[:5]!r})")
        version = int.from_bytes(buf[5:7], "little")
        if version != 2:
            raise AdapterError(f"dump {path.name}: snapshot version {version} is not supported (2 is)")
        block_hash = buf[11:43][::-1].hex()
        coins = int.from_bytes(buf[43:51], "little")
        i, seen, end = 51, 0, len(buf)
        while seen < coins:
            if i + 32 > end:
                raise AdapterError(f"dump {path.name}: truncated after {seen} of {coins} coins")
            i += 32  # txid
            n, i = read_compact_size(buf, i)
            for _ in range(n):
                _, i = read_compact_size(buf, i)  # vout
                _, i = _varint(buf, i)  # height * 2 + coinbase
                amount, i = _varint(buf, i)
                kind, i = _varint(buf, i)
                if kind == 0:
                    script = b"\x76\xa9\x14" + buf[i:i + 20] + b"\x88\xac"
                    i += 20
                elif kind == 1:
                    script = b"\xa9\x14" + buf[i:i + 20] + b"\x87"
                    i += 20
                elif kind < 6:
                    i += 32
                    continue
                else:
                    script = buf[i:i + kind - 6]
                    i += kind - 6
                if script in want:
                    totals[script] = totals.get(script, 0) + decompress_amount(amount)
            seen += n
        if i != end:
            raise AdapterError(f"dump {path.name}: {end - i} bytes after the last of {coins} coins")
    return block_hash, seen, {k.hex(): v for k, v in totals.items()}


def parse_dump(path: Path, wanted: set[str]) -> tuple[str, int, dict[str, int]]:
    """A Knots CSV dump or a Core binary snapshot, by its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(5)
    return (parse_dump_binary if head == SNAPSHOT_MAGIC else parse_dump_csv)(path, wanted)


def _host_token() -> str:
    """A short stable token of this machine, in dump names: a dump left by a dead porscan process on
    this machine can be told from one another machine's run is still writing into a shared folder."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


# porscan-<network>-<height>-h<host>p<pid>-<12 hex>.<csv|dat>[.incomplete]; older runs wrote no owner
_DUMP_NAME = re.compile(r"porscan-.+-\d+-(?:h(?P<host>[0-9a-f]{8})p(?P<pid>\d+)-)?[0-9a-f]{12}\.(?:csv|dat)(?:\.incomplete)?")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True


def stale_dumps(folder: Path, max_age: float, now: float | None = None) -> list[Path]:
    """porscan's own UTXO dumps in ``folder`` that no running porscan will read: left by a process of
    this machine that is gone (SIGKILL, power loss), or by anyone longer ago than a dump may take."""
    now = time.time() if now is None else now
    host, me = _host_token(), os.getpid()
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for e in entries:
        m = _DUMP_NAME.fullmatch(e.name)
        if not m or not e.is_file(follow_symlinks=False):
            continue
        if m["host"] == host:  # this machine's: stale exactly when its process is gone
            pid = int(m["pid"])
            if pid != me and not _pid_alive(pid):
                out.append(Path(e.path))
            continue
        try:
            if now - e.stat(follow_symlinks=False).st_mtime > max_age:
                out.append(Path(e.path))
        except OSError:
            pass
    return out


class BitcoinCoreAdapter:
    """Balances at a height from one Core/Knots-compatible JSON-RPC endpoint."""

    def __init__(self, network: str, endpoint: Endpoint, options: dict[str, Any] | None = None, *, coin: str = "BTC",
                 chain: str = "main", attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        opts = dict(options or {})
        self.network = network
        self.params = chain_params(coin, chain)
        # the chain the node itself runs: the addresses' chain, except in porscan's local demo and
        # benchmarks, which replay mainnet-address scripts on a regtest node (node_chain = "regtest")
        self.node_chain = str(opts.get("node_chain", chain))
        if self.node_chain not in CORE_CHAIN_NAMES:
            raise AdapterError(f"{endpoint.label}: node_chain {self.node_chain!r} is not one of "
                               f"{', '.join(CORE_CHAIN_NAMES)}")
        self.mode = str(opts.get("mode", "auto"))
        if self.mode not in MODES:
            raise AdapterError(f"{endpoint.label}: mode {self.mode!r} is not one of {', '.join(MODES)}")
        self.dump_dir = opts.get("dump_dir")
        self.dump_dir_local = Path(opts.get("dump_dir_local") or self.dump_dir) if self.dump_dir else None
        self.allow_rollback = bool(opts.get("allow_rollback", False))
        self.keep_dump = bool(opts.get("keep_dump", False))
        self.dump_format = str(opts.get("dump_format", "csv"))  # csv (Knots) | binary (Bitcoin Core >= 28)
        if self.dump_format not in ("csv", "binary"):
            raise AdapterError(f"{endpoint.label}: dump_format {self.dump_format!r} is not csv or binary")
        self.attempts = attempts
        self.client = JsonRpcClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max,
                                    json_loads=_loads)
        # long UTXO-set calls get a long timeout; a dump is never re-sent as is (its path must not exist yet)
        slow = dataclasses.replace(endpoint, timeout=float(opts.get("dump_timeout", 4 * 3600)), max_batch=1)
        self.slow = JsonRpcClient(slow, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max,
                                  json_loads=_loads)
        self.dumper = JsonRpcClient(slow, attempts=1, json_loads=_loads)
        self._clients = (self.client, self.slow, self.dumper)
        self._dump_in_flight: tuple[Path, float] | None = None  # a dump that timed out: its path and deadline
        self._swept = False  # stale dumps of earlier runs removed (once per adapter)

    @property
    def label(self) -> str:
        return self.client.label

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self._clients)

    def provider_errors(self) -> dict[str, dict[str, int]]:
        errs: dict[str, int] = {}
        for c in self._clients:
            for k, v in c.errors.items():
                errs[k] = errs.get(k, 0) + v
        return {self.label: errs}

    async def close(self) -> None:
        for c in self._clients:
            await c.close()

    # ------------------------------------------------------------------------------------------

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        require_native(asset, self.network)
        before = self.requests
        spks, bad = _addresses_to_scripts(addresses, self.params)
        wanted = {s for s in spks if s is not None}
        notes: list[str] = []
        try:
            block, totals, strategy = await self._read(wanted, height, notes)
        except (AdapterError, RpcError, TransportError) as exc:
            err = f"{self.label}: {exc}"
            return BalanceBatch(asset, height, results_from_totals(addresses, spks, bad, None, None, err, self.label),
                                f"{self.label}:none", self.requests - before, tuple(notes + [err]))
        notes.append(f"{self.label}: UTXO set read at block {block.number} {block.hash} via {strategy}")
        return BalanceBatch(asset, height, results_from_totals(addresses, spks, bad, totals, block, None, self.label),
                            f"{self.label}:{strategy}", self.requests - before, tuple(notes))

    async def _read(self, wanted: set[str], height: int | None, notes: list[str]) -> tuple[BlockRef, dict[str, int], str]:
        info = await self.client.call("getblockchaininfo", [])
        chain = info.get("chain")
        if chain not in CORE_CHAIN_NAMES[self.node_chain]:
            raise AdapterError(f"node is on chain {chain!r}, network {self.network} expects {self.node_chain}")
        if self.allow_rollback and self.mode in ("auto", "rollback") and await self._undo_left_rollback(notes):
            info = await self.client.call("getblockchaininfo", [])
        tip = int(info["blocks"])
        at_snapshot = height is not None
        h = tip if height is None else height
        if h > tip:
            raise AdapterError(f"node is at height {tip}, behind the snapshot height {h}")
        block_hash = await self.client.call("getblockhash", [h])
        block = BlockRef(h, block_hash, at_snapshot)
        tried: list[str] = []
        if self.dump_dir and self.mode in ("auto", "dump"):
            try:
                return block, await self._dump(wanted, block), "dumptxoutset-rollback"
            except RpcError as exc:  # e.g. plain Bitcoin Core: no CSV format
                tried.append(f"dumptxoutset: {exc.message}")
                if self.mode == "dump":
                    raise AdapterError("; ".join(tried)) from None
        if self.mode in ("auto", "scan") and tip == h:
            return block, await self._scan(wanted, block), "scantxoutset"
        if self.allow_rollback and self.mode in ("auto", "rollback") and tip > h:
            return block, await self._rollback_scan(wanted, block, tip), "invalidateblock-rollback"
        if tried:
            notes.extend(tried)
        raise AdapterError(ROLLBACK_HELP.format(tip=tip, h=h, h1=h + 1))

    async def _dump(self, wanted: set[str], block: BlockRef) -> dict[str, int]:
        """The UTXO set at ``block`` through ``dumptxoutset ... rollback``.

        A dump refused before it ran (connection refused, HTTP 429/5xx) is tried again under a new name.
        A dump that timed out may still be running on the node (it rolls the chain back, writes
        ``<path>.incomplete``, renames it and rolls forward): porscan does not start a second one beside
        it, neither now nor on a later read until the first one's file appears or its time is up (the
        endpoint's ``dump_timeout``), and leaves that path alone (deleting it now would do nothing, the
        node renames its file into place at the end; the error names it for removal)."""
        assert self.dump_dir and self.dump_dir_local
        if not self._swept and not self.keep_dump:
            self._swept = True
            self._sweep(self.dump_dir_local)
        if self._dump_in_flight is not None:
            path, deadline = self._dump_in_flight
            if path.exists() or time.monotonic() >= deadline:
                self._dump_in_flight = None
            else:
                raise AdapterError(f"an earlier dumptxoutset ({path.name}) timed out and may still be running on the "
                                   "node: not starting another one until it is written or its time is up")
        last: Exception | None = None
        for _ in range(max(1, self.attempts)):
            in_flight = False
            ext = "csv" if self.dump_format == "csv" else "dat"
            name = f"porscan-{self.network}-{block.number}-h{_host_token()}p{os.getpid()}-{uuid.uuid4().hex[:12]}.{ext}"
            remote = f"{self.dump_dir.rstrip('/')}/{name}"
            local = self.dump_dir_local / name
            try:
                options: dict[str, Any] = {"rollback": block.number}
                if self.dump_format == "csv":
                    options.update(format=["scriptPubKey", "value"], show_header=True, separator=",")
                res = await self.dumper.call("dumptxoutset", [remote, "rollback", options])
                if res.get("base_height") != block.number or res.get("base_hash") != block.hash:
                    raise AdapterError(f"dump is of block {res.get('base_height')} {res.get('base_hash')}, "
                                       f"expected {block.number} {block.hash}")
                if not local.exists():
                    raise AdapterError(f"dump written on the node as {remote} but not found at {local}: "
                                       "check dump_dir_local")
                try:
                    file_hash, coins, totals = await asyncio.to_thread(parse_dump, local, wanted)
                except (ValueError, IndexError, OSError) as exc:  # truncated or malformed file
                    raise AdapterError(f"dump {local.name} unreadable: {exc!r}") from None
                if file_hash != block.hash:
                    raise AdapterError(f"dump header says block {file_hash}, expected {block.hash}")
                if coins != int(res.get("coins_written", -1)):
                    raise AdapterError(f"dump has {coins} coins, the node wrote {res.get('coins_written')}")
                return totals
            except TransportError as exc:
                if "timeout" in str(exc).lower():  # sent, no answer: the node may still be writing it
                    in_flight = True
                    self._dump_in_flight = (local, time.monotonic() + self.dumper.endpoint.timeout)
                    raise AdapterError(f"dumptxoutset {remote} got no answer ({exc}); the node may still be "
                                       f"writing it: no second dump started (remove {remote} if it appears "
                                       "and is not wanted)") from None
                last = exc  # refused before it ran: try again under a new name
                await asyncio.sleep(0.2)
            finally:
                if not self.keep_dump and not in_flight:
                    try:
                        os.unlink(local)
                    except OSError:
                        pass
        raise AdapterError(f"dumptxoutset failed: {last}")

    def _sweep(self, folder: Path) -> None:
        """A killed run leaves its dump (GBs on mainnet) behind; the next run on the folder removes it."""
        for path in stale_dumps(folder, self.dumper.endpoint.timeout):
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError as exc:
                log.warning("%s: stale UTXO dump %s of an earlier run not removed: %s", self.label, path, exc)
                continue
            log.warning("%s: removed stale UTXO dump %s (%d bytes) left by an earlier run", self.label, path, size)

    async def _scan(self, wanted: set[str], block: BlockRef) -> dict[str, int]:
        if not wanted:
            return {}
        last: Exception | None = None
        for attempt in range(max(1, self.attempts)):
            try:
                res = await self.slow.call("scantxoutset", ["start", [f"raw({s})" for s in sorted(wanted)]])
                break
            except RpcError as exc:
                if "in progress" not in exc.message.lower():
                    raise
                last = exc
            await asyncio.sleep(min(5.0, 0.2 * 2 ** attempt))
        else:
            raise AdapterError(f"scantxoutset failed: {last}")
        if not res or not res.get("success", False):
            raise AdapterError(f"scantxoutset did not complete: {str(res)[:200]}")
        if int(res.get("height", -1)) != block.number or res.get("bestblock") != block.hash:
            raise AdapterError(f"scan ran at block {res.get('height')} {res.get('bestblock')}, not at "
                               f"{block.number} {block.hash} (the tip moved)")
        totals: dict[str, int] = {}
        for u in res.get("unspents", []):
            spk = u["scriptPubKey"]
            totals[spk] = totals.get(spk, 0) + btc_to_sats(u["amount"])
        if sum(totals.values()) != btc_to_sats(res.get("total_amount", 0)):
            raise AdapterError("scantxoutset total does not equal the sum of its unspents")
        return totals

    async def _undo_left_rollback(self, notes: list[str]) -> bool:
        """Undo a rollback of porscan's that a killed run left: the network off and the block after the
        active tip invalid, as _rollback_scan leaves the node between its invalidateblock and its
        reconsiderblock. Left alone, the next read found the tip at the snapshot, read it there and left
        the node off the network, on a fork it would never leave. True when it undid one."""
        net = await self.client.call("getnetworkinfo", [])
        if net.get("networkactive", True):
            return False  # _rollback_scan turns the network off first: with it on, no rollback of ours is left
        tips = await self.client.call("getchaintips", [])
        active = next((t for t in tips if t.get("status") == "active"), None)
        if active is None:
            return False
        for t in tips:
            branch = int(t.get("branchlen", 0))
            if t.get("status") != "invalid" or branch < 1:
                continue
            first = t["hash"]  # the branch's first block: walk back from its tip to the block after the fork
            for _ in range(branch - 1):
                first = (await self.client.call("getblockheader", [first]))["previousblockhash"]
            if (await self.client.call("getblockheader", [first])).get("previousblockhash") != active["hash"]:
                continue  # invalid blocks forking below the tip: not what a rollback of ours leaves
            await self.slow.call("reconsiderblock", [first])
            await self.client.call("setnetworkactive", [True])
            log.warning("%s: undid a rollback an earlier run left (reconsiderblock %s; setnetworkactive true)",
                        self.label, first)
            notes.append(f"{self.label}: a rollback left by an earlier run (network off, block {first} invalid) "
                         "undone before reading")
            return True
        return False

    async def _rollback_scan(self, wanted: set[str], block: BlockRef, tip: int) -> dict[str, int]:
        nxt = await self.client.call("getblockhash", [block.number + 1])
        tip_hash = await self.client.call("getblockhash", [tip])
        await self.client.call("setnetworkactive", [False])
        # The node must get its chain and its network back whatever happens here (each clean-up step runs
        # even when the one before it failed), and the caller sees the first exception (a failed scan, a
        # cancellation), never one from the clean-up that would replace it.
        original: BaseException | None = None
        totals: dict[str, int] = {}
        try:
            await self.slow.call("invalidateblock", [nxt])
            totals = await self._scan(wanted, block)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the clean-up
            original = exc
        cleanup: BaseException | None = None
        try:
            await self.slow.call("reconsiderblock", [nxt])
        except BaseException as exc:  # noqa: BLE001 - the network is re-enabled first
            cleanup = exc
        finally:
            try:
                await self.client.call("setnetworkactive", [True])
            except BaseException as exc:  # noqa: BLE001
                cleanup = cleanup or exc
        if cleanup is not None:
            msg = (f"rollback clean-up failed ({type(cleanup).__name__}: {cleanup}): check the node "
                   f"(reconsiderblock {nxt}; setnetworkactive true)")
            if original is not None:
                original.add_note(msg)
            elif isinstance(cleanup, Exception):
                raise AdapterError(msg) from cleanup
            else:
                raise cleanup
        if original is not None:
            raise original
        now = await self.client.call("getbestblockhash", [])
        if now != tip_hash:
            raise AdapterError(f"after reconsiderblock the tip is {now}, was {tip_hash}: check the node")
        return totals
