"""Substrate chains (Polkadot, Kusama, their Asset Hubs): balances read from storage at the snapshot block.

Raw JSON-RPC over aiohttp, no SDK: ``chain_getBlockHash(height)`` gives the snapshot's hash, then
``state_queryStorageAt(keys, hash)`` (many keys per call, several calls per HTTP request) reads, at
that hash, the storage a balance lives in:

* **native coin** (DOT, KSM): ``System.Account(account)`` -> ``AccountInfo``. The balance is
  ``free + reserved`` (what the account owns; reserved and held funds included, frozen funds too). The
  parts are never folded away silently: each account's free / reserved / frozen is kept in
  :attr:`SubstrateAdapter.accounts` and every account with anything reserved, frozen, staked or
  unbonding gets a note.
* **staking** (network option ``staking = true``): ``Staking.Bonded(stash) -> controller`` and
  ``Staking.Ledger(controller)`` at the same block. Bonded funds are locked inside ``free`` (relay
  chains, locks) or held inside ``reserved`` (staking on holds), so they are already part of the
  balance: ``staked`` (the ledger's ``active``) and ``unbonding`` (its ``unlocking`` chunks) are
  reported as components of it, and ``liquid = balance - staked - unbonding``. A staking read that
  fails leaves the balance read and says the split is unknown; it never turns into a zero. Each
  result carries the split as ``parts`` (("staked", active), ("unbonding", sum of the unlocking
  chunks), zeros left out); ``parts_known`` is False when the split could not be read, or when the
  ledger claims more than the account holds (then which part is liquid is not known). Without
  ``staking`` (a network declared to have none) and for Assets-pallet tokens a balance has no parts.
* **Asset Hub assets** (``contract`` = the asset id, e.g. "1984" USDT, "1337" USDC):
  ``Assets.Account(asset_id, account)`` -> ``AssetAccount``; its ``balance`` is the amount. The asset's
  ``Assets.Metadata`` decimals must equal the configured decimals.

A storage entry that does not exist (``null``) is an account that does not exist: 0, a definite
answer from the chain; transport failures, error objects and keys missing from an answer are unread
rows with the reason, never zeros. Before reading, the endpoint's genesis hash is compared with the
network's ``genesis_hash`` (another chain's node would answer ``null`` for every account).

Storage keys are ``twox128(pallet) ++ twox128(item) ++ hasher(key)``: ``blake2_128concat`` for
``System.Account``, ``Assets.Account`` (both keys) and ``Staking.Ledger``, ``twox64concat`` for
``Staking.Bonded``. Addresses are SS58 with the network's prefix (0 Polkadot, 2 Kusama) and a
valid checksum; anything else is a per-row "not a <network> address".

Why one file: the storage keys, the SCALE layouts and the reads that use them change together with a
runtime upgrade; split, a layout change would have to be made in step across modules.

Without a snapshot height the read is at the endpoint's latest *finalized* block, labelled
``at_snapshot=False`` with a note saying which block that was. A node that no longer has the state
of the snapshot block (a pruned, non-archive node) raises :class:`NotArchiveError`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from signatures.encoding import EncodingError, b58decode

from .failover import OneEndpoint
from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BlockRef, NotArchiveError
from .results import Value, assemble

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "at snapshot"

KEYS_PER_CALL = 200  # storage keys per state_queryStorageAt call (replies stay well under 1 MB)
MAX_NOTED_ACCOUNTS = 200  # per-account breakdown notes per read; the totals line always follows
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
# what nodes and chopsticks answer for a block whose state they no longer have (pruned)
_NOT_ARCHIVE = ("state already discarded", "unknown block", "header was not found", "not found",
                "pruned", "state not available", "missing trie node")


# ---------------------------------------------------------------------------------------------------
# hashing and keys (pure)
# ---------------------------------------------------------------------------------------------------

_P1, _P2, _P3, _P4, _P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                           0x27D4EB2F165667C5)
_M64 = 2**64 - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M64, 31) * _P1) & _M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 (used only for the few constant pallet/item prefixes and twox64concat keys)."""
    n = len(data)
    i = 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M64, (seed + _P2) & _M64, seed, (seed - _P1) & _M64]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little"))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for lane in v:
            h = ((h ^ _round(0, lane)) * _P1 + _P4) & _M64
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, int.from_bytes(data[i:i + 8], "little")), 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (int.from_bytes(data[i:i + 4], "little") * _P1 & _M64), 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h = (_rotl(h ^ (data[i] * _P5 & _M64), 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = h * _P2 & _M64
    h ^= h >> 29
    h = h * _P3 & _M64
    return h ^ (h >> 32)


def twox128(data: bytes) -> bytes:
    return xxh64(data, 0).to_bytes(8, "little") + xxh64(data, 1).to_bytes(8, "little")


def twox64concat(data: bytes) -> bytes:
    return xxh64(data, 0).to_bytes(8, "little") + data


def blake2_128concat(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest() + data


def prefix(pallet: str, item: str) -> bytes:
    return twox128(pallet.encode()) + twox128(item.encode())


SYSTEM_ACCOUNT = prefix("System", "Account")
ASSETS_ACCOUNT = prefix("Assets", "Account")
ASSETS_METADATA = prefix("Assets", "Metadata")
STAKING_BONDED = prefix("Staking", "Bonded")
STAKING_LEDGER = prefix("Staking", "Ledger")


def system_account_key(account: bytes) -> str:
    return "0x" + (SYSTEM_ACCOUNT + blake2_128concat(account)).hex()


def asset_account_key(asset_id: int, account: bytes) -> str:
    return "0x" + (ASSETS_ACCOUNT + blake2_128concat(asset_id.to_bytes(4, "little")) + blake2_128concat(account)).hex()


def asset_metadata_key(asset_id: int) -> str:
    return "0x" + (ASSETS_METADATA + blake2_128concat(asset_id.to_bytes(4, "little"))).hex()


def bonded_key(stash: bytes) -> str:
    return "0x" + (STAKING_BONDED + twox64concat(stash)).hex()


def ledger_key(controller: bytes) -> str:
    return "0x" + (STAKING_LEDGER + blake2_128concat(controller)).hex()


# ---------------------------------------------------------------------------------------------------
# SS58 addresses (pure)
# ---------------------------------------------------------------------------------------------------

def ss58_decode(text: str) -> tuple[int, bytes] | None:
    """(network prefix, 32-byte account id) of an SS58 address with a valid checksum, else None."""
    try:
        raw = b58decode(text.strip())
    except (EncodingError, ValueError):
        return None
    if len(raw) < 3:
        return None
    if raw[0] < 64:
        ident, plen = raw[0], 1
    elif raw[0] < 128 and len(raw) > 1:
        # two-byte form: 14 bits spread over both bytes (see ss58_encode in signatures/ed25519.py)
        ident, plen = ((raw[0] & 0x3F) << 2) | (raw[1] >> 6) | ((raw[1] & 0x3F) << 8), 2
    else:
        return None
    if len(raw) != plen + 32 + 2:  # account ids only (no 1/2/4/8-byte account indices)
        return None
    body, check = raw[:plen + 32], raw[plen + 32:]
    if hashlib.blake2b(b"SS58PRE" + body, digest_size=64).digest()[:2] != check:
        return None
    return ident, body[plen:]


def ss58_account(text: str, network_prefix: int) -> bytes | None:
    """The account id of an SS58 address of this network (its prefix, a valid checksum), else None."""
    got = ss58_decode(text)
    if got is None or got[0] != network_prefix:
        return None
    return got[1]


# ---------------------------------------------------------------------------------------------------
# SCALE decoding of the few values read (pure)
# ---------------------------------------------------------------------------------------------------

def hex_bytes(value: Any) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise ValueError(f"storage value is not 0x-hex: {str(value)[:40]!r}")
    return bytes.fromhex(value[2:])


def _u128(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at:at + 16], "little")


def compact(raw: bytes, at: int) -> tuple[int, int]:
    """A SCALE compact integer at ``at``: (value, offset after it)."""
    if at >= len(raw):
        raise ValueError("compact integer past the end")
    mode = raw[at] & 3
    if mode == 0:
        return raw[at] >> 2, at + 1
    if mode == 1:
        return int.from_bytes(raw[at:at + 2], "little") >> 2, at + 2
    if mode == 2:
        return int.from_bytes(raw[at:at + 4], "little") >> 2, at + 4
    n = (raw[at] >> 2) + 4
    if at + 1 + n > len(raw):
        raise ValueError("compact integer past the end")
    return int.from_bytes(raw[at + 1:at + 1 + n], "little"), at + 1 + n


@dataclass(frozen=True, slots=True)
class AccountData:
    """``System.Account``'s balances. ``frozen``: the current layout's ``frozen``, or on older runtimes
    the larger of ``misc_frozen`` and ``fee_frozen``."""

    free: int
    reserved: int
    frozen: int

    @property
    def total(self) -> int:
        return self.free + self.reserved


_NEW_LOGIC = 1 << 127  # ExtraFlags' top bit: set on every account of the free/reserved/frozen layout


def decode_account_info(raw: bytes) -> AccountData:
    """``AccountInfo`` of any runtime since 2020: its ``AccountData`` is the last 64 bytes (four u128)
    after nonce and reference counts (80 bytes now; 76, 72 and 69 in older layouts)."""
    if len(raw) not in (69, 72, 76, 80):
        raise ValueError(f"AccountInfo of {len(raw)} bytes")
    data = raw[-64:]
    free, reserved, third, fourth = (_u128(data, 16 * k) for k in range(4))
    frozen = third if fourth & _NEW_LOGIC else max(third, fourth)
    return AccountData(free, reserved, frozen)


@dataclass(frozen=True, slots=True)
class AssetBalance:
    balance: int
    status: str  # "liquid", "frozen" or "blocked"


def decode_asset_account(raw: bytes) -> AssetBalance:
    """``AssetAccount``: ``balance`` (u128) first, then ``status`` (Liquid / Frozen / Blocked; older
    runtimes: ``is_frozen`` bool, the same bytes 0 / 1)."""
    if len(raw) < 18:
        raise ValueError(f"AssetAccount of {len(raw)} bytes")
    status = {0: "liquid", 1: "frozen", 2: "blocked"}.get(raw[16])
    if status is None:
        raise ValueError(f"AssetAccount status byte {raw[16]}")
    return AssetBalance(_u128(raw, 0), status)


def decode_asset_decimals(raw: bytes) -> int:
    """``AssetMetadata``: deposit u128, name Vec<u8>, symbol Vec<u8>, decimals u8, is_frozen bool."""
    at = 16
    for _ in range(2):
        n, at = compact(raw, at)
        at += n
    if at >= len(raw):
        raise ValueError("AssetMetadata too short")
    return raw[at]


@dataclass(frozen=True, slots=True)
class Ledger:
    stash: bytes
    total: int
    active: int
    unlocking: tuple[tuple[int, int], ...]  # (value, era)

    @property
    def unbonding(self) -> int:
        return sum(v for v, _ in self.unlocking)


def decode_ledger(raw: bytes) -> Ledger:
    """``StakingLedger``: stash (32 bytes), total and active (compact u128), unlocking
    (Vec<{value: compact, era: compact}>); what follows (claimed rewards) is not needed."""
    if len(raw) < 34:
        raise ValueError(f"StakingLedger of {len(raw)} bytes")
    stash = raw[:32]
    total, at = compact(raw, 32)
    active, at = compact(raw, at)
    count, at = compact(raw, at)
    if count > 1024:
        raise ValueError(f"{count} unlocking chunks")
    chunks = []
    for _ in range(count):
        value, at = compact(raw, at)
        era, at = compact(raw, at)
        chunks.append((value, era))
    if active > total:
        raise ValueError(f"ledger active {active} > total {total}")
    return Ledger(stash, total, active, tuple(chunks))


@dataclass(frozen=True, slots=True)
class SubstrateAccount:
    """One account's native balance and its parts at one block (base units). ``staked`` / ``unbonding``
    are None when staking was not read (not asked, or the read failed: see ``staking_error``)."""

    free: int
    reserved: int
    frozen: int
    staked: int | None = None
    unbonding: int | None = None
    staking_error: str | None = None

    @property
    def total(self) -> int:
        return self.free + self.reserved

    @property
    def liquid(self) -> int | None:
        """The balance less what is bonded or unbonding (None when the staking split is unknown)."""
        if self.staked is None or self.unbonding is None:
            return None
        return self.total - self.staked - self.unbonding


def _asset_id(asset: Asset, network: str) -> int | None:
    if asset.contract is None:
        return None
    text = asset.contract.strip()
    if not text.isdigit() or int(text) >= 2**32:
        raise AdapterError(f"{asset.symbol} on {network}: asset id {asset.contract!r} is not a u32 (Assets pallet id)")
    return int(text)


def _not_archive(exc: RpcError) -> bool:
    text = exc.message.lower()
    return any(w in text for w in _NOT_ARCHIVE)


class SubstrateAdapter(OneEndpoint):
    """Native (System.Account, optional staking) and Assets-pallet balances from one Substrate endpoint."""

    def __init__(self, network: str, endpoint: Endpoint, *, ss58_prefix: int, genesis_hash: str | None = None,
                 staking: bool = False, keys_per_call: int = KEYS_PER_CALL, attempts: int = 6,
                 backoff_min: float = 0.05, backoff_max: float = 8.0):
        self.network = network
        self.ss58_prefix = ss58_prefix
        self.genesis_hash = genesis_hash.lower() if genesis_hash else None
        self.staking = staking
        self.keys_per_call = max(1, keys_per_call)
        self.client = JsonRpcClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self._genesis_checked = False
        self.accounts: dict[str, SubstrateAccount] = {}  # address -> parts of its last native read

    def parse(self, text: str) -> bytes | None:
        return ss58_account(text, self.ss58_prefix)

    async def _check_genesis(self) -> None:
        if self.genesis_hash is None or self._genesis_checked:
            return
        got = await self.client.call("chain_getBlockHash", [0])
        if not isinstance(got, str) or got.lower() != self.genesis_hash:
            raise AdapterError(f"{self.label}: genesis {got!r} is not {self.network}'s {self.genesis_hash}: "
                               "another chain, nothing read from it")
        self._genesis_checked = True

    async def _block(self, height: int | None, notes: list[str]) -> BlockRef:
        c = self.client
        if height is None:
            head = await c.call("chain_getFinalizedHead", [])
            header = await c.call("chain_getHeader", [head])
            if not isinstance(head, str) or not _HASH.fullmatch(head) or not isinstance(header, dict):
                raise TransportError(f"unreadable finalized head {str(head)[:80]!r}")
            number = int(header["number"], 16)
            notes.append(f"{self.label}: read at latest (finalized block {number}, {head}), not at the snapshot")
            return BlockRef(number, head, at_snapshot=False)
        got = await c.call("chain_getBlockHash", [height])
        if got is None:
            head = await c.call("chain_getHeader", [])
            top = int(head["number"], 16) if isinstance(head, dict) else "?"
            raise AdapterError(f"{self.label}: no block {height} (its head is {top})")
        if not isinstance(got, str) or not _HASH.fullmatch(got):
            raise TransportError(f"chain_getBlockHash({height}) answered {str(got)[:80]!r}")
        return BlockRef(height, got, at_snapshot=True)

    async def _storage(self, keys: list[str], block: BlockRef) -> dict[str, Any]:
        """key -> hex value, None (no entry) or an Exception, for every key, at ``block``."""
        uniq = list(dict.fromkeys(keys))
        chunks = [uniq[i:i + self.keys_per_call] for i in range(0, len(uniq), self.keys_per_call)]
        replies = await self.client.batch([("state_queryStorageAt", [chunk, block.hash]) for chunk in chunks])
        out: dict[str, Any] = {}
        for chunk, reply in zip(chunks, replies):
            if isinstance(reply, RpcError) and _not_archive(reply):
                raise NotArchiveError(f"{self.label}: no state for block {block.number}: {reply.message}")
            if isinstance(reply, Exception):
                out.update((k, reply) for k in chunk)
                continue
            try:
                changes = _changes(reply, block.hash)
            except (KeyError, TypeError, ValueError) as exc:
                bad = ValueError(f"unreadable state_queryStorageAt reply: {exc}")
                out.update((k, bad) for k in chunk)
                continue
            for k in chunk:
                out[k] = changes[k.lower()] if k.lower() in changes else ValueError("key missing from the reply")
        return out

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        asset_id = _asset_id(asset, self.network)
        keys = [self.parse(a) for a in addresses]
        todo = list(dict.fromkeys(k for k in keys if k is not None))
        values: dict[bytes, Value] = {}
        notes: list[str] = []
        before = self.requests
        label = self.label
        not_ours = f"not a {self.network} address (SS58 with prefix {self.ss58_prefix} and a valid checksum)"
        strategy = f"{label}:state_queryStorageAt({'Assets.Account' if asset_id is not None else 'System.Account'}" \
                   + (",Staking" if self.staking and asset_id is None else "") + ")"
        try:
            await self._check_genesis()
            block = await self._block(height, notes)
            if asset_id is not None:
                await self._check_asset(asset, asset_id, block)
        except (RpcError, TransportError, KeyError, TypeError, ValueError) as exc:  # nothing read: every row says why
            why = f"{label}: {exc}"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
            return assemble(asset, height, addresses, keys, values, not_ours, [], self.requests - before, notes)
        if asset_id is None:
            parts = await self._read_native(todo, block)
            for k, (amount, err, _acct) in parts.items():
                values[k] = (amount, err, label, block if amount is not None else None)
            self._note_parts(addresses, keys, parts, asset, notes)
            if self.staking:
                batch = assemble(asset, height, addresses, keys, values, not_ours, [strategy],
                                 self.requests - before, notes)
                return with_split(batch, keys, {k: p[2] for k, p in parts.items() if p[2] is not None})
        else:
            reads = await self._read_asset(todo, asset_id, block)
            frozen = 0
            for k, (amount, err, status) in reads.items():
                values[k] = (amount, err, label, block if amount is not None else None)
                frozen += status not in (None, "liquid")
            if frozen:
                notes.append(f"{label}: {frozen} {asset.symbol} account(s) frozen or blocked at block {block.number} "
                             "(counted in the balance; not transferable)")
        return assemble(asset, height, addresses, keys, values, not_ours, [strategy], self.requests - before, notes)

    async def _check_asset(self, asset: Asset, asset_id: int, block: BlockRef) -> None:
        got = (await self._storage([asset_metadata_key(asset_id)], block))[asset_metadata_key(asset_id)]
        if isinstance(got, (RpcError, TransportError)):
            raise got
        if isinstance(got, Exception):
            raise TransportError(str(got))
        if got is None:
            raise AdapterError(f"{self.label}: {self.network} has no asset {asset_id} ({asset.symbol}) metadata "
                               f"at block {block.number}")
        try:
            decimals = decode_asset_decimals(hex_bytes(got))
        except ValueError as exc:
            raise AdapterError(f"{self.label}: asset {asset_id} metadata unreadable: {exc}") from None
        if decimals != asset.decimals:
            raise AdapterError(f"{self.label}: asset {asset_id} has {decimals} decimals on chain, config says "
                               f"{asset.decimals} for {asset.symbol}")

    async def _read_asset(self, accounts: list[bytes], asset_id: int, block: BlockRef
                          ) -> dict[bytes, tuple[int | None, str | None, str | None]]:
        keyed = {a: asset_account_key(asset_id, a) for a in accounts}
        got = await self._storage(list(keyed.values()), block)
        out: dict[bytes, tuple[int | None, str | None, str | None]] = {}
        for a, key in keyed.items():
            v = got[key]
            if isinstance(v, Exception):
                out[a] = (None, _why(v), None)
            elif v is None:
                out[a] = (0, None, None)  # no asset account: holds none
            else:
                try:
                    bal = decode_asset_account(hex_bytes(v))
                except ValueError as exc:
                    out[a] = (None, f"unreadable AssetAccount: {exc}", None)
                else:
                    out[a] = (bal.balance, None, bal.status)
        return out

    async def _read_native(self, accounts: list[bytes], block: BlockRef
                           ) -> dict[bytes, tuple[int | None, str | None, SubstrateAccount | None]]:
        sys_keys = {a: system_account_key(a) for a in accounts}
        keys = list(sys_keys.values())
        if self.staking:  # controller = stash for nearly every ledger since controllers were deprecated
            keys += [bonded_key(a) for a in accounts] + [ledger_key(a) for a in accounts]
        got = await self._storage(keys, block)
        controllers: dict[bytes, bytes] = {}
        staking: dict[bytes, tuple[int, int] | str | None] = {}
        if self.staking:
            for a in accounts:
                staking[a] = self._bonded(a, got.get(bonded_key(a)), controllers)
            other = sorted({c for a, c in controllers.items() if c != a})
            if other:
                got.update(await self._storage([ledger_key(c) for c in other], block))
            for a, ctrl in controllers.items():
                staking[a] = _ledger_parts(a, got.get(ledger_key(ctrl)))
        out: dict[bytes, tuple[int | None, str | None, SubstrateAccount | None]] = {}
        for a in accounts:
            v = got[sys_keys[a]]
            if isinstance(v, Exception):
                out[a] = (None, _why(v), None)
                continue
            try:
                data = AccountData(0, 0, 0) if v is None else decode_account_info(hex_bytes(v))
            except ValueError as exc:
                out[a] = (None, f"unreadable AccountInfo: {exc}", None)
                continue
            st = staking.get(a)
            if isinstance(st, tuple):
                acct = SubstrateAccount(free=data.free, reserved=data.reserved, frozen=data.frozen, staked=st[0],
                                        unbonding=st[1])
            elif isinstance(st, str):
                acct = SubstrateAccount(data.free, data.reserved, data.frozen, staking_error=st)
            elif self.staking:
                acct = SubstrateAccount(free=data.free, reserved=data.reserved, frozen=data.frozen, staked=0,
                                        unbonding=0)  # not bonded
            else:
                acct = SubstrateAccount(data.free, data.reserved, data.frozen)
            out[a] = (data.total, None, acct)
        return out

    @staticmethod
    def _bonded(stash: bytes, v: Any, controllers: dict[bytes, bytes]) -> tuple[int, int] | str | None:
        if isinstance(v, Exception):
            return f"Staking.Bonded unread: {_why(v)}"
        if v is None:
            return None  # not a stash
        try:
            raw = hex_bytes(v)
        except ValueError as exc:
            return f"Staking.Bonded unreadable: {exc}"
        if len(raw) != 32:
            return f"Staking.Bonded of {len(raw)} bytes"
        controllers[stash] = raw
        return "Staking.Ledger not read"  # replaced once the ledger is read

    def _note_parts(self, addresses: Sequence[str], keys: Sequence[bytes | None],
                    parts: Mapping[bytes, tuple[int | None, str | None, SubstrateAccount | None]], asset: Asset,
                    notes: list[str]) -> None:
        label, sym = self.label, asset.symbol
        seen: set[bytes] = set()
        noted = 0
        totals = {"free": 0, "reserved": 0, "frozen": 0, "staked": 0, "unbonding": 0}
        unknown = 0
        for text, key in zip(addresses, keys):
            if key is None or key in seen:
                continue
            seen.add(key)
            acct = parts.get(key, (None, None, None))[2]
            if acct is None:
                continue
            self.accounts[text] = acct
            for name in ("free", "reserved", "frozen"):
                totals[name] += getattr(acct, name)
            if acct.staked is not None and acct.unbonding is not None:
                totals["staked"] += acct.staked
                totals["unbonding"] += acct.unbonding
            elif self.staking:
                unknown += 1
            if not (acct.reserved or acct.frozen or acct.staked or acct.unbonding or acct.staking_error):
                continue
            if noted < MAX_NOTED_ACCOUNTS:
                notes.append(f"{label}: {text}: {sym} balance {acct.total} = free {acct.free} + reserved "
                             f"{acct.reserved}; frozen {acct.frozen}" + _staking_text(acct))
            noted += 1
        if noted > MAX_NOTED_ACCOUNTS:
            notes.append(f"{label}: {noted - MAX_NOTED_ACCOUNTS} more account(s) with reserved, frozen or staked "
                         f"{sym} (see the totals)")
        if seen:
            line = (f"{label}: {sym} balances are free + reserved over {len(seen)} account(s): free {totals['free']}, "
                    f"reserved {totals['reserved']}, frozen {totals['frozen']} (frozen and reserved are included)")
            if self.staking:
                line += (f"; of the balance, staked {totals['staked']} and unbonding {totals['unbonding']}"
                         + (f" ({unknown} account(s) with the staking split unknown)" if unknown else ""))
            notes.append(line)


def split_parts(acct: SubstrateAccount) -> tuple[tuple[tuple[str, int], ...], bool]:
    """(parts, parts_known) of a BalanceResult for one account's native read (see the module docstring)."""
    if acct.staked is None or acct.unbonding is None or acct.staked + acct.unbonding > acct.total:
        return (), False
    return tuple((name, v) for name, v in (("staked", acct.staked), ("unbonding", acct.unbonding)) if v), True


def with_split(batch: BalanceBatch, keys: Sequence[bytes | None], accounts: Mapping[bytes, SubstrateAccount]
               ) -> BalanceBatch:
    out = []
    for r, k in zip(batch.results, keys):
        acct = accounts.get(k) if k is not None else None
        if acct is not None and r.amount_base_units is not None:
            parts, known = split_parts(acct)
            r = r._replace(parts=parts, parts_known=known)
        out.append(r)
    return replace(batch, results=tuple(out))


def _staking_text(acct: SubstrateAccount) -> str:
    if acct.staking_error:
        return f"; staking split unknown ({acct.staking_error})"
    if acct.staked is None:
        return ""
    if acct.unbonding is not None and acct.staked + acct.unbonding > acct.total:
        return (f"; staking split unknown: the ledger's staked {acct.staked} + unbonding {acct.unbonding} exceed "
                f"the balance {acct.total}")
    return f"; staked {acct.staked}, unbonding {acct.unbonding}, liquid {acct.liquid}"


def _ledger_parts(stash: bytes, v: Any) -> tuple[int, int] | str:
    if isinstance(v, Exception):
        return f"Staking.Ledger unread: {_why(v)}"
    if v is None:
        return "bonded but no Staking.Ledger entry"
    try:
        ledger = decode_ledger(hex_bytes(v))
    except ValueError as exc:
        return f"Staking.Ledger unreadable: {exc}"
    if ledger.stash != stash:
        return "Staking.Ledger belongs to another stash"
    return ledger.active, ledger.unbonding


def _why(exc: Exception) -> str:
    return exc.message if isinstance(exc, RpcError) else str(exc)


def _changes(reply: Any, block_hash: str | None) -> dict[str, Any]:
    """``state_queryStorageAt``'s ``[{block, changes: [[key, value|null], ...]}]`` -> {key: value}."""
    if not isinstance(reply, list) or len(reply) != 1 or not isinstance(reply[0], dict):
        raise ValueError("not one change set")
    cs = reply[0]
    if block_hash is not None and str(cs.get("block", "")).lower() != block_hash.lower():
        raise ValueError(f"answered for block {cs.get('block')!r}, not {block_hash}")
    out: dict[str, Any] = {}
    for item in cs["changes"]:
        key, value = item
        if value is not None and not isinstance(value, str):
            raise ValueError(f"value {str(value)[:40]!r}")
        out[str(key).lower()] = value
    return out


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any],
                           **retries: Any) -> SubstrateAdapter:
    """Network keys: ``ss58_prefix`` (0 Polkadot, 2 Kusama), ``genesis_hash`` (checked on every
    endpoint), ``staking`` (read Staking.Bonded/Ledger for the native coin); endpoint key
    ``keys_per_call``."""
    prefix_ = network_options.get("ss58_prefix")
    if not isinstance(prefix_, int) or isinstance(prefix_, bool) or not 0 <= prefix_ < 16384:
        raise AdapterError(f"network {network_id}: ss58_prefix {prefix_!r} is not an SS58 network prefix (0..16383)")
    genesis = network_options.get("genesis_hash")
    if genesis is not None and (not isinstance(genesis, str) or not _HASH.fullmatch(genesis)):
        raise AdapterError(f"network {network_id}: genesis_hash {genesis!r} is not a 0x-hex block hash")
    per_call = endpoint_options.get("keys_per_call", KEYS_PER_CALL)
    return SubstrateAdapter(network_id, endpoint, ss58_prefix=prefix_, genesis_hash=genesis,
                            staking=bool(network_options.get("staking", False)),
                            keys_per_call=int(per_call), **retries)
