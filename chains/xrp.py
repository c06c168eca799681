"""XRP Ledger balances (XRP and issued tokens such as RLUSD) over rippled's JSON-RPC, at a ledger index.

rippled (and Clio) keep whole ledger states, so a balance is read *at* the snapshot, not estimated:

* **Ledger**: ``ledger`` with ``ledger_index`` = the snapshot gives its hash and close time and says
  whether it is validated. Only a validated ledger is read (an unvalidated one can still change), and
  every answer below must name the same ledger index.
* **XRP**: ``account_info`` at that ledger index -> ``account_data.Balance`` in drops (1 XRP = 10**6
  drops). The figure is the whole balance: the **reserve** (base reserve + owner count x owner reserve,
  from the ledger's ``FeeSettings`` entry read with ``ledger_entry`` at the same ledger) is locked but
  still owned, so it is reported in the notes and in :attr:`XrpAdapter.reserves`, never subtracted.
* **Issued tokens** (RLUSD, ...): the asset's ``contract`` is ``"ISSUER.CURRENCY"`` (a 3-character
  code, a longer ASCII name such as ``RLUSD``, or the 40-hex code). ``account_lines`` at the same ledger
  with ``peer`` = the issuer, every page (``marker``); the trust line's ``balance`` is a decimal string
  (15 significant digits, not base units) converted exactly to ``10**-decimals`` units, or unread when it
  is not a whole number of them. A negative balance (the account owes the issuer) is unread too.
* **actNotFound** at a validated ledger is a real 0, and only then: XRP and trust lines live only in an
  account's ``AccountRoot`` and the objects it owns, so a validated ledger without that root holds
  nothing for the address. The reply must be exactly ``error = "actNotFound"``, ``validated = true`` and
  name the ledger index asked; anything else (not validated, another ledger, another error) is unread.
* **lgrNotFound**: the server does not have that ledger (its history was pruned, online deletion): every
  address is unread with that reason, and the next endpoint (a full-history server) is tried by
  :class:`chains.failover.FailoverAdapter`.
* ``slowDown`` / ``tooBusy`` / ``noNetwork`` / ``noCurrent`` / ``noClosed`` / ``amendmentBlocked`` and
  HTTP 429 / 5xx / malformed answers are retried; ``height=None`` reads the latest validated ledger and
  labels it so.

Addresses are classic ``r...`` addresses (base58check with the XRP Ledger alphabet, version byte 0,
20-byte account id); anything else is a per-row error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

from signatures.encoding import B58_ALPHABET, EncodingError, b58check_decode, b58check_encode

from .failover import OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import Endpoint, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BlockRef
from .results import Value, assemble

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "at snapshot"

XRPL_ALPHABET = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"
_TO_BTC = str.maketrans(XRPL_ALPHABET, B58_ALPHABET)
_TO_XRPL = str.maketrans(B58_ALPHABET, XRPL_ALPHABET)
ACCOUNT_ID_VERSION = b"\x00"
# the one FeeSettings ledger object: SHA-512Half of the space key 0x0065 (xrpl.org "FeeSettings" ID format)
FEE_SETTINGS_INDEX = "4BC50C9B0D8515D3EAAE1E74B29A95804346C491EE1A95BF25E4AAB854A6A651"
RETRY_ERRORS = frozenset({"slowDown", "tooBusy", "noNetwork", "noCurrent", "noClosed", "amendmentBlocked",
                          "failedToForward"})
LINES_PAGE = 400  # account_lines limit per page (rippled's maximum)
MAX_PAGES = 1000
_HEX40 = re.compile(r"[0-9A-F]{40}")
_DIGITS = re.compile(r"\d+")
RIPPLE_EPOCH = 946684800  # 2000-01-01T00:00:00Z in Unix seconds

Read = tuple[int | None, str | None, int | None]  # (amount, error, owner count for XRP reads)


# ------------------------------------------------------------------ addresses and codes (pure)

def xrp_account(text: str) -> str | None:
    """A classic ``r...`` address -> itself (canonical), None when it is not one (checksum, version, size)."""
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s.startswith("r") or not 25 <= len(s) <= 35 or any(c not in XRPL_ALPHABET for c in s):
        return None
    try:
        raw = b58check_decode(s.translate(_TO_BTC))
    except EncodingError:
        return None
    if len(raw) != 21 or raw[:1] != ACCOUNT_ID_VERSION:
        return None
    return s


def encode_account(account_id: bytes) -> str:
    """20-byte account id -> classic address."""
    return b58check_encode(ACCOUNT_ID_VERSION + account_id).translate(_TO_XRPL)


def currency_code(text: str) -> str | None:
    """A currency as rippled answers it: a 3-character code as is, a longer ASCII name (up to 20
    characters, e.g. ``RLUSD``) as its 40-hex form, a 40-hex code upper-cased; None when invalid."""
    t = text.strip()
    if _HEX40.fullmatch(t.upper()):
        return None if t.upper() == "0" * 40 else t.upper()  # all zeros means XRP itself
    if len(t) == 3 and t.upper() != "XRP" and all(c.isalnum() or c in "?!@#$%^&*<>(){}[]|" for c in t):
        return t
    if 3 < len(t) <= 20 and t.isascii() and t.isprintable():
        return t.encode().hex().upper().ljust(40, "0")
    return None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    issuer: str
    currency: str  # as rippled answers it (3 characters or 40 hex)


def parse_issued(contract: str) -> IssuedToken | None:
    """``"ISSUER.CURRENCY"`` (also ``CURRENCY.ISSUER``) -> IssuedToken, None when it is not one."""
    parts = contract.strip().split(".")
    if len(parts) != 2:
        return None
    for issuer, code in (parts, parts[::-1]):
        account = xrp_account(issuer)
        currency = currency_code(code)
        if account and currency:
            return IssuedToken(account, currency)
    return None


def same_currency(answered: Any, wanted: str) -> bool:
    """A trust line's currency equals ``wanted`` (standard codes may come back as their 40-hex form)."""
    if not isinstance(answered, str):
        return False
    if answered == wanted:
        return True
    std = (lambda c: "00" * 12 + c.encode().hex().upper() + "00" * 5) if len(wanted) == 3 else None
    return std is not None and answered.upper() == std(wanted)


def issued_units(value: Any, decimals: int) -> tuple[int | None, str | None]:
    """A trust-line balance (decimal string) -> whole ``10**-decimals`` units, exactly, or why not."""
    if not isinstance(value, str):
        return None, f"trust line balance is not a string: {value!r}"
    try:
        d = Decimal(value)
    except InvalidOperation:
        return None, f"trust line balance is not a number: {value[:40]!r}"
    if not d.is_finite():
        return None, f"trust line balance is not finite: {value[:40]!r}"
    if d < 0:
        return None, f"trust line balance {value} is negative (the account owes the issuer; not a holding)"
    scaled = d.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        return None, f"trust line balance {value} has more than {decimals} decimal places: not a whole number of base units"
    return int(scaled), None


def _uint(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _error_text(result: Mapping[str, Any]) -> str:
    err = str(result.get("error", "error"))[:60]
    msg = str(result.get("error_message") or "")[:160]
    return f"{err}: {msg}" if msg and msg != err else err


# ------------------------------------------------------------------ parsing replies (pure)

@dataclass(frozen=True, slots=True)
class Ledger:
    index: int
    hash: str
    close_time: int | None  # seconds since the Ripple epoch
    validated: bool

    @property
    def when(self) -> str:
        if self.close_time is None:
            return "close time unknown"
        import datetime as _dt

        t = _dt.datetime.fromtimestamp(self.close_time + RIPPLE_EPOCH, _dt.timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Reserve:
    base: int  # drops
    increment: int  # drops per owned object

    def of(self, owner_count: int) -> int:
        return self.base + self.increment * owner_count


def parse_ledger(result: Mapping[str, Any]) -> Ledger | str:
    """A ``ledger`` result -> Ledger, or the reason it is not one."""
    if result.get("status") == "error" or "error" in result:
        return _error_text(result)
    led = result.get("ledger")
    if not isinstance(led, dict):
        return "ledger: no ledger object in the reply"
    index = _uint(led.get("ledger_index", result.get("ledger_index")))
    h = led.get("ledger_hash") or result.get("ledger_hash")
    if index is None or not isinstance(h, str) or not re.fullmatch(r"[0-9A-Fa-f]{64}", h):
        return "ledger: reply without a ledger index and hash"
    validated = result.get("validated") is True
    return Ledger(index, h.upper(), _uint(led.get("close_time")), validated)


def parse_fee_settings(result: Mapping[str, Any]) -> Reserve | str:
    """A ``ledger_entry`` result for FeeSettings -> the reserves in drops (both field sets: before the
    XRPFees amendment ``ReserveBase``/``ReserveIncrement`` as integers, after it ``*Drops`` as strings)."""
    if result.get("status") == "error" or "error" in result:
        return _error_text(result)
    node = result.get("node")
    if not isinstance(node, dict) or node.get("LedgerEntryType") != "FeeSettings":
        return "ledger_entry: no FeeSettings object in the reply"
    base = _uint(node.get("ReserveBaseDrops", node.get("ReserveBase")))
    inc = _uint(node.get("ReserveIncrementDrops", node.get("ReserveIncrement")))
    if base is None or inc is None:
        return "ledger_entry: FeeSettings without reserve fields"
    return Reserve(base, inc)


def _same_ledger(result: Mapping[str, Any], ledger: Ledger) -> str | None:
    """None when ``result`` answers for ``ledger`` (validated, same index, same hash where given)."""
    index = _uint(result.get("ledger_index"))
    if index != ledger.index:
        return f"answered for ledger {result.get('ledger_index', result.get('ledger_current_index'))!r}, not {ledger.index}"
    h = result.get("ledger_hash")
    if isinstance(h, str) and h.upper() != ledger.hash:
        return f"answered for ledger {index} {h[:16]}..., not {ledger.hash[:16]}..."
    if result.get("validated") is not True:
        return f"ledger {index} is not validated on this server"
    return None


def parse_account_info(result: Mapping[str, Any], account: str, ledger: Ledger) -> Read:
    """An ``account_info`` result -> (drops, error, owner count); see the module note on actNotFound."""
    if result.get("error") == "actNotFound":
        wrong = _same_ledger(result, ledger)
        if wrong is None:
            return 0, None, None  # no account: nothing held, no reserve locked
        return None, f"actNotFound not usable as a zero: {wrong}", None
    if result.get("status") == "error" or "error" in result:
        return None, _error_text(result), None
    wrong = _same_ledger(result, ledger)
    if wrong:
        return None, f"account_info: {wrong}", None
    data = result.get("account_data")
    if not isinstance(data, dict) or data.get("Account") != account:
        got = data.get("Account") if isinstance(data, dict) else None
        return None, f"account_info: answer for another account ({str(got)[:40]})", None
    balance = data.get("Balance")
    drops = int(balance) if isinstance(balance, str) and _DIGITS.fullmatch(balance) else None
    if drops is None:
        return None, f"account_info: Balance is not a whole number of drops: {balance!r}", None
    owners = _uint(data.get("OwnerCount", 0))
    return drops, None, owners


def parse_account_lines(result: Mapping[str, Any], account: str, token: IssuedToken, ledger: Ledger,
                        decimals: int) -> tuple[int | None, str | None, Any]:
    """One ``account_lines`` page -> (sum of matching lines in base units or None, error, marker)."""
    if result.get("error") == "actNotFound":
        wrong = _same_ledger(result, ledger)
        return (0, None, None) if wrong is None else (None, f"actNotFound not usable as a zero: {wrong}", None)
    if result.get("status") == "error" or "error" in result:
        return None, _error_text(result), None
    wrong = _same_ledger(result, ledger)
    if wrong:
        return None, f"account_lines: {wrong}", None
    if result.get("account") != account:
        return None, f"account_lines: answer for another account ({str(result.get('account'))[:40]})", None
    lines = result.get("lines")
    if not isinstance(lines, list):
        return None, "account_lines: no lines in the reply", None
    total = 0
    for line in lines:
        if not isinstance(line, dict) or line.get("account") != token.issuer:
            continue
        if not same_currency(line.get("currency"), token.currency):
            continue
        units, err = issued_units(line.get("balance"), decimals)
        if err:
            return None, err, None
        total += units or 0
    return total, None, result.get("marker")


# ------------------------------------------------------------------ the adapter (I/O)

class RippledClient(HttpApiClient):
    """rippled's JSON-RPC (``{"method", "params": [{...}]}`` -> ``{"result": {...}}``) with its
    "slow down" answers retried like HTTP 429."""

    def _checked(self, reply: Any) -> Any:
        if not isinstance(reply, dict) or not isinstance(reply.get("result"), dict):
            self._count("malformed-reply")
            raise TransportError("reply without a result object")
        err = reply["result"].get("error")
        if err in RETRY_ERRORS:
            self._count(f"rippled-{err}")
            raise TransportError(f"server answered {err}")
        return reply["result"]

    async def rpc(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.post("", {"method": method, "params": [dict(params)]})
        return result


class XrpAdapter(OneEndpoint):
    """XRP and issued-token balances on the XRP Ledger from one rippled/Clio endpoint (see the module
    docstring). Several endpoints are composed by :class:`chains.failover.FailoverAdapter`."""

    def __init__(self, network: str, endpoint: Endpoint, *, attempts: int = 6, backoff_min: float = 0.05,
                 backoff_max: float = 8.0, headers: Mapping[str, str] | None = None):
        self.network = network
        self.client: RippledClient = RippledClient(endpoint, headers, attempts=attempts, backoff_min=backoff_min,
                                                   backoff_max=backoff_max)
        # address -> (owner count, reserve in drops) of the last XRP read: detail for reports, never subtracted
        self.reserves: dict[str, tuple[int, int]] = {}

    async def _ledger(self, height: int | None) -> Ledger | str:
        try:
            result = await self.client.rpc("ledger", {"ledger_index": height if height is not None else "validated"})
        except TransportError as exc:
            return str(exc)
        got = parse_ledger(result)
        if isinstance(got, str):
            if result.get("error") == "lgrNotFound":
                return (f"lgrNotFound: ledger {height} is not on this server (history pruned, or not yet closed)"
                        if height is not None else "lgrNotFound: no validated ledger on this server")
            return f"ledger {height if height is not None else 'validated'}: {got}"
        if not got.validated:
            return f"ledger {got.index} is not validated on this server"
        if height is not None and got.index != height:
            return f"asked for ledger {height}, the server answered ledger {got.index}"
        return got

    async def _reserve(self, ledger: Ledger) -> Reserve | str:
        try:
            result = await self.client.rpc("ledger_entry", {"index": FEE_SETTINGS_INDEX, "ledger_index": ledger.index})
        except TransportError as exc:
            return str(exc)
        return parse_fee_settings(result)

    async def _account_info(self, account: str, ledger: Ledger) -> Read:
        try:
            result = await self.client.rpc("account_info", {"account": account, "ledger_index": ledger.index,
                                                            "strict": True})
        except TransportError as exc:
            return None, str(exc), None
        return parse_account_info(result, account, ledger)

    async def _lines(self, account: str, token: IssuedToken, ledger: Ledger, decimals: int) -> Read:
        total = 0
        marker: Any = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"account": account, "ledger_index": ledger.index, "peer": token.issuer,
                                      "limit": LINES_PAGE}
            if marker is not None:
                params["marker"] = marker
            try:
                result = await self.client.rpc("account_lines", params)
            except TransportError as exc:
                return None, str(exc), None
            amount, err, marker = parse_account_lines(result, account, token, ledger, decimals)
            if err or amount is None:
                return None, err or "account_lines: no amount", None
            total += amount
            if marker is None:
                return total, None, None
        return None, f"account_lines: more than {MAX_PAGES} pages", None

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        token: IssuedToken | None = None
        if asset.contract:
            token = parse_issued(asset.contract)
            if token is None:
                raise AdapterError(f"{asset.symbol} on {self.network}: bad issued currency {asset.contract!r} "
                                   "(expected ISSUER.CURRENCY)")
        keys = [xrp_account(a) for a in addresses]
        todo = list(dict.fromkeys(k for k in keys if k is not None))
        values: dict[str, Value] = {}
        notes: list[str] = []
        before = self.requests
        label = self.label
        ledger = await self._ledger(height)
        if isinstance(ledger, str):  # this endpoint reads nothing: every address says why
            why = f"{label}: {ledger}"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
            return assemble(asset, height, addresses, keys, values, "not an XRP Ledger address", [],
                            self.requests - before, notes)
        block = BlockRef(ledger.index, ledger.hash, at_snapshot=height is not None)
        concurrency = self.client.endpoint.concurrency
        if token is None:
            reads = await bounded_map(todo, lambda a: self._account_info(a, ledger), concurrency)
            strategy = f"{label}:account_info@ledger"
        else:
            reads = await bounded_map(todo, lambda a: self._lines(a, token, ledger, asset.decimals), concurrency)
            strategy = f"{label}:account_lines@ledger"
        for k, (amount, err, _) in zip(todo, reads):
            values[k] = (amount, err, label, block)
        when = f"ledger {ledger.index} {ledger.hash[:16]}..., closed {ledger.when}"
        if height is None:
            notes.append(f"{label}: read at latest (validated {when}), not at a snapshot")
        else:
            notes.append(f"{label}: read at snapshot {when} (validated)")
        if token is None:
            await self._reserve_notes(ledger, todo, reads, notes)
        return assemble(asset, height, addresses, keys, values, "not an XRP Ledger address", [strategy],
                        self.requests - before, notes)

    async def _reserve_notes(self, ledger: Ledger, todo: list[str], reads: list[Read], notes: list[str]) -> None:
        """The reserve each read account locks at this ledger: reported, never subtracted."""
        owners = {a: oc for a, (amount, _, oc) in zip(todo, reads) if amount is not None and oc is not None}
        if not owners:
            return
        reserve = await self._reserve(ledger)
        label = self.label
        if isinstance(reserve, str):
            notes.append(f"{label}: reserve at ledger {ledger.index} unknown ({reserve}); balances are totals "
                         "including any reserve")
            return
        existing = owners
        for a, oc in owners.items():
            self.reserves[a] = (oc, reserve.of(oc))
        locked = sum(self.reserves[a][1] for a in owners)
        notes.append(f"{label}: XRP figures are whole balances; the reserve is NOT subtracted: at ledger "
                     f"{ledger.index} base {reserve.base} drops + {reserve.increment} drops per owned object; "
                     f"{len(existing)} account(s) lock {locked} drops in reserves")
        detail = sorted(existing.items(), key=lambda kv: -kv[1])[:20]
        if detail:
            notes.append(f"{label}: owner counts (reserve in drops): " + ", ".join(
                f"{a} {oc} ({reserve.of(oc)})" for a, oc in detail)
                + (f", and {len(existing) - len(detail)} more" if len(existing) > len(detail) else ""))


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> XrpAdapter:
    """kind = "xrp" in scanner/config/networks.toml: one adapter per endpoint (``headers`` may carry an
    API key as ``${VAR}``)."""
    del network_options  # nothing network-wide to set: the ledger index is the snapshot height
    return XrpAdapter(network_id, endpoint, headers=endpoint_options.get("headers"), **retries)
