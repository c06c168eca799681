"""Stellar balances (XLM and credit assets such as USDC) through Horizon's ``/accounts/{id}``.

Horizon serves the **current** state only: ``/accounts/{id}`` has no ledger parameter. Every answer
carries a ``Latest-Ledger`` header, the ledger the whole answer is consistent with (Horizon's
"Consistency" guarantee), and that is the ledger a figure is labelled with. What porscan does with it:

* **Unchanged since the snapshot**: a ledger entry's ``last_modified_ledger`` is the last ledger that
  changed it. Any balance change, fee or sequence bump rewrites the account entry, and adding or removing
  a trust line changes the account's sub-entry count, so when the account entry (and, for a credit asset,
  the trust line too) was last modified at or before the snapshot ledger and the answer is for a ledger at
  or after it, the balance at the snapshot is the balance read: the figure counts **at the snapshot**
  (``BlockRef(snapshot, its hash)``) with a note saying so.
* **Changed since**: otherwise the figure is the latest one, ``BlockRef(<Latest-Ledger>, at_snapshot=False)``
  and the note "read at latest (ledger N, time T), not at the snapshot". porscan does not rebuild the
  snapshot balance from ``/accounts/{id}/effects``: transaction fees are not effects, so native balances
  cannot be rebuilt from them exactly.
* **Absent accounts**: a Horizon ``404`` problem of type ``not_found`` for ``/accounts/{id}`` means the
  account does not exist now: 0 at the latest ledger (labelled latest: it may have been merged after the
  snapshot). Any other 4xx, a 404 without Horizon's problem body, 429/5xx after the retries, or an answer
  for another account is unread, never a zero.
* **Amounts** are decimal strings with exactly seven decimals (Stellar amounts are int64 stroops):
  converted exactly, a string with more decimals is an error. A credit asset is ``CODE:ISSUER`` in the
  asset's ``contract`` (Horizon's canonical form); a missing trust line is 0 like a missing account.

Addresses are ``G...`` StrKeys (base32, version byte 6 << 3, CRC16-XModem checksum); muxed ``M...``
addresses and anything else are per-row errors.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .failover import OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import Endpoint, RefusedError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BlockRef
from .results import Value, assemble

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at): Horizon serves the latest
# state; only balances unchanged since the snapshot count at it
SNAPSHOT_READS = "latest (at snapshot where unchanged since)"

ACCOUNT_VERSION = 6 << 3  # "G"
STROOP_DECIMALS = 7
STROOPS_PER_UNIT = 10_000_000
PUBLIC_PASSPHRASE = "Public Global Stellar Network ; September 2015"
_AMOUNT = re.compile(r"(\d+)(?:\.(\d{1,7}))?")
_ASSET_CODE = re.compile(r"[A-Za-z0-9]{1,12}")
NOT_FOUND_TYPE = "horizon-errors/not_found"


# ------------------------------------------------------------------ StrKey and amounts (pure)

def crc16_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def stellar_account(text: str) -> str | None:
    """A ``G...`` account StrKey -> itself, None when it is not one (alphabet, length, version, checksum)."""
    if not isinstance(text, str):
        return None
    s = text.strip()
    if len(s) != 56 or not s.startswith("G"):
        return None
    try:
        raw = base64.b32decode(s, casefold=False)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 35 or raw[0] != ACCOUNT_VERSION:
        return None
    if crc16_xmodem(raw[:33]).to_bytes(2, "little") != raw[33:]:
        return None
    return s


def encode_account(public_key: bytes) -> str:
    """32-byte ed25519 public key -> ``G...`` StrKey."""
    body = bytes([ACCOUNT_VERSION]) + public_key
    return base64.b32encode(body + crc16_xmodem(body).to_bytes(2, "little")).decode()


def stroops(amount: Any) -> int | None:
    """Horizon's ``"123.4567890"`` -> 1234567890 (exact), None when it is not such a string."""
    if not isinstance(amount, str):
        return None
    m = _AMOUNT.fullmatch(amount)
    if m is None:
        return None
    whole, fraction = str(m.group(1)), str(m.group(2) or "")
    return int(whole) * STROOPS_PER_UNIT + int(fraction.ljust(STROOP_DECIMALS, "0"))


@dataclass(frozen=True, slots=True)
class CreditAsset:
    code: str
    issuer: str


def parse_credit_asset(contract: str) -> CreditAsset | None:
    """``CODE:ISSUER`` (Horizon's canonical asset string) -> CreditAsset, None when it is not one."""
    parts = contract.strip().split(":")
    if len(parts) != 2 or not _ASSET_CODE.fullmatch(parts[0]) or stellar_account(parts[1]) is None:
        return None
    return CreditAsset(parts[0], parts[1])


def _uint(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class AccountRead:
    amount: int | None
    error: str | None
    modified: int | None  # last ledger that changed what the amount depends on; None = unknown / absent


def parse_account(reply: Any, account: str, asset: CreditAsset | None) -> AccountRead:
    """A ``/accounts/{id}`` record -> the balance in stroops and the last ledger it could have changed in."""
    if not isinstance(reply, dict):
        return AccountRead(None, "account: the reply is not a JSON object", None)
    if reply.get("account_id") != account:
        return AccountRead(None, f"account: answer for another account ({str(reply.get('account_id'))[:60]})", None)
    modified = _uint(reply.get("last_modified_ledger"))
    balances = reply.get("balances")
    if modified is None or not isinstance(balances, list):
        return AccountRead(None, "account: no last_modified_ledger or balances in the reply", None)
    found: list[Mapping[str, Any]] = []
    for b in balances:
        if not isinstance(b, dict):
            continue
        if asset is None and b.get("asset_type") == "native":
            found.append(b)
        elif (asset is not None and b.get("asset_type") in ("credit_alphanum4", "credit_alphanum12")
              and b.get("asset_code") == asset.code and b.get("asset_issuer") == asset.issuer):
            found.append(b)
    if len(found) > 1:
        return AccountRead(None, "account: the asset is listed twice", None)
    if not found:
        if asset is None:
            return AccountRead(None, "account: no native balance in the reply", None)
        return AccountRead(0, None, modified)  # no trust line: holds none (the account entry dates it)
    amount = stroops(found[0].get("balance"))
    if amount is None:
        return AccountRead(None, f"account: balance is not a 7-decimal amount: {found[0].get('balance')!r}", None)
    line_modified = _uint(found[0].get("last_modified_ledger")) if asset is not None else modified
    if asset is not None and line_modified is None:
        return AccountRead(amount, None, None)
    return AccountRead(amount, None, max(modified, line_modified or 0))


def is_not_found(status: int, body: Any) -> bool:
    """Horizon's own 404 problem (``type`` ends in ``not_found``), not a proxy's or a wrong path's 404."""
    return (status == 404 and isinstance(body, dict) and str(body.get("type", "")).endswith(NOT_FOUND_TYPE)
            and body.get("status") == 404)


# ------------------------------------------------------------------ the adapter (I/O)

@dataclass(frozen=True, slots=True)
class HorizonReply:
    status: int
    body: Any
    latest_ledger: int | None  # the Latest-Ledger header


class HorizonClient(HttpApiClient):
    """GETs against Horizon keeping the status (a 404 problem is an answer) and ``Latest-Ledger``."""

    async def _get_once(self, path: str) -> HorizonReply:
        status, found, raw = await self._exchange_raw("GET", path, None, ("Latest-Ledger",))
        latest = found.get("Latest-Ledger", "")
        if status == 429 or status >= 500:
            self._count(f"http-{status}")
            raise TransportError(f"HTTP {status}")
        try:
            body = self._loads(raw)
        except ValueError:
            self._count("malformed-json")
            raise TransportError(f"malformed JSON in reply (HTTP {status})") from None
        if status >= 400 and not is_not_found(status, body):
            self._count(f"http-{status}")
            raise RefusedError(f"HTTP {status}: {self.redact(str(body)[:200])}")
        return HorizonReply(status, body, int(latest) if latest.isdigit() else None)

    async def get(self, path: str) -> HorizonReply:
        """One GET with retries on transport failures (429, 5xx, timeouts, malformed JSON)."""
        return await self._retried(lambda: self._get_once(path))


@dataclass(frozen=True, slots=True)
class Root:
    latest: int
    closed_at: str
    elder: int | None


class StellarAdapter(OneEndpoint):
    """XLM and credit-asset balances on Stellar from one Horizon endpoint (see the module docstring)."""

    def __init__(self, network: str, endpoint: Endpoint, *, passphrase: str | None = PUBLIC_PASSPHRASE,
                 headers: Mapping[str, str] | None = None, attempts: int = 6, backoff_min: float = 0.05,
                 backoff_max: float = 8.0):
        self.network = network
        self.passphrase = passphrase  # checked against Horizon's root document (None: not checked)
        self.client: HorizonClient = HorizonClient(endpoint, headers, attempts=attempts, backoff_min=backoff_min,
                                                   backoff_max=backoff_max)

    async def _root(self) -> Root:
        reply = await self.client.get("/")
        body = reply.body
        if reply.status != 200 or not isinstance(body, dict):
            raise TransportError("Horizon root document missing")
        if self.passphrase is not None and body.get("network_passphrase") != self.passphrase:
            raise AdapterError(f"{self.label}: serves network {str(body.get('network_passphrase'))[:60]!r}, "
                               f"not {self.passphrase!r}")
        latest = _uint(body.get("history_latest_ledger"))
        if latest is None:
            raise TransportError("Horizon root without history_latest_ledger")
        return Root(latest, str(body.get("history_latest_ledger_closed_at", "?")),
                    _uint(body.get("history_elder_ledger")))

    async def _ledger_hash(self, seq: int) -> str | None:
        try:
            reply = await self.client.get(f"/ledgers/{seq}")
        except TransportError:
            return None
        body = reply.body
        if reply.status == 200 and isinstance(body, dict) and body.get("sequence") == seq:
            h = body.get("hash")
            return h if isinstance(h, str) else None
        return None

    async def _account(self, account: str, asset: CreditAsset | None) -> tuple[AccountRead, int | None]:
        try:
            reply = await self.client.get(f"/accounts/{account}")
        except TransportError as exc:
            return AccountRead(None, str(exc), None), None
        if reply.status == 404:
            return AccountRead(0, None, None), reply.latest_ledger  # no such account now (see module note)
        return parse_account(reply.body, account, asset), reply.latest_ledger

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        credit: CreditAsset | None = None
        if asset.contract:
            credit = parse_credit_asset(asset.contract)
            if credit is None:
                raise AdapterError(f"{asset.symbol} on {self.network}: bad credit asset {asset.contract!r} "
                                   "(expected CODE:ISSUER)")
            if asset.decimals != STROOP_DECIMALS:
                raise AdapterError(f"{asset.symbol} on {self.network}: Stellar amounts have 7 decimals, "
                                   f"config says {asset.decimals}")
        keys = [stellar_account(a) for a in addresses]
        todo = list(dict.fromkeys(k for k in keys if k is not None))
        values: dict[str, Value] = {}
        notes: list[str] = []
        before = self.requests
        label = self.label
        try:
            root = await self._root()
        except (TransportError, AdapterError) as exc:  # this endpoint reads nothing: every address says why
            why = f"{label}: {exc}"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
            return assemble(asset, height, addresses, keys, values, "not a Stellar address", [],
                            self.requests - before, notes)
        snap_hash = await self._ledger_hash(height) if height is not None and height <= root.latest else None
        reads = await bounded_map(todo, lambda a: self._account(a, credit), self.client.endpoint.concurrency)
        at_snap = 0
        latest_seen: list[int] = []
        for k, (r, latest) in zip(todo, reads):
            if r.amount is None:
                values[k] = (None, r.error, label, None)
                continue
            read_at = latest if latest is not None else root.latest
            if height is not None and r.modified is not None and r.modified <= height <= read_at:
                values[k] = (r.amount, None, label, BlockRef(height, snap_hash, at_snapshot=True))
                at_snap += 1
            else:
                values[k] = (r.amount, None, label, BlockRef(read_at, None, at_snapshot=False))
                latest_seen.append(read_at)
        what = f"{asset.symbol} ({asset.contract})" if credit else asset.symbol
        if latest_seen:
            lo, hi = min(latest_seen), max(latest_seen)
            span = f"ledger {lo}" if lo == hi else f"ledgers {lo}..{hi}"
            notes.append(f"{label}: {len(latest_seen)} {what} balance(s) read at latest ({span}, time "
                         f"{root.closed_at} at the start)" + ("" if height is None else
                         f", not at the snapshot {height}: Horizon serves current state only and they changed "
                         f"after it (or the account does not exist now)"))
        if at_snap:
            notes.append(f"{label}: {at_snap} {what} balance(s) counted at snapshot ledger {height}"
                         f"{' ' + snap_hash[:16] + '...' if snap_hash else ' (hash not served)'}: read at the latest "
                         f"ledger, unchanged since a ledger <= the snapshot (last_modified_ledger)")
        if height is not None and height > root.latest:
            notes.append(f"{label}: snapshot ledger {height} is after this Horizon's latest ledger {root.latest}")
        return assemble(asset, height, addresses, keys, values, "not a Stellar address",
                        [f"{label}:horizon-accounts@latest"], self.requests - before, notes)


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> StellarAdapter:
    """kind = "stellar" in scanner/config/networks.toml; network key ``network_passphrase`` (default: the
    public network's), endpoint key ``headers`` (``${VAR}`` API keys)."""
    passphrase = network_options.get("network_passphrase", PUBLIC_PASSPHRASE)
    return StellarAdapter(network_id, endpoint, passphrase=str(passphrase), headers=endpoint_options.get("headers"),
                          **retries)
