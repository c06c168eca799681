"""TON balances (Toncoin and jettons such as USDT) through the TON HTTP API v2 (toncenter's ``ton-http-api``).

What the API answers, and what porscan does with it:

* **Masterchain seqno.** The snapshot "height" of a TON row is a masterchain block seqno. ton-http-api v2
  (toncenter/ton-http-api ``pyTON/main.py``) takes an optional ``seqno`` on ``getAddressInformation``,
  ``getAddressBalance`` and ``runGetMethod``: "Seqno of masterchain block at which moment the address
  information should be loaded". Every read here passes it, and every answer's ``block_id`` (a
  ``ton.blockIdExt``) says which masterchain block was actually read: that block (seqno and root hash) is the
  row's :class:`BlockRef`. An answer for another block than the one asked (an API or proxy that ignores
  ``seqno``) is labelled ``at_snapshot=False`` with the seqno and time read, never passed off as the
  snapshot. Endpoints declared ``seqno_param = false`` are asked without ``seqno`` and labelled the same way.
  Liteservers that no longer hold the state of an old block answer an error: the row is unread (and the
  next endpoint, e.g. an archival one, tries), never a zero.
* **Without a height** the current masterchain seqno (``getMasterchainInfo``) is read first and passed to
  every call, so the whole batch is one block's view (labelled latest).
* **Toncoin**: ``getAddressInformation`` (not ``getAddressBalance``, whose bare number does not say which
  block it came from); ``balance`` in nanotons (9 decimals), a decimal string. An uninitialized account is a
  well-formed answer with its balance (often 0).
* **Jettons** (``contract`` = the jetton master, e.g. USDT): ``runGetMethod(master, "get_wallet_address",
  [owner as a slice])`` gives the owner's jetton wallet; ``runGetMethod(wallet, "get_wallet_data")`` gives
  ``(balance, owner, master, wallet_code)``. The owner and master it returns must be the ones asked (an
  answer for another wallet is an error). A wallet whose get-method fails (exit code -13 and the like) is
  0 only when ``getAddressInformation`` of that wallet at the same block says the account is
  ``uninitialized`` (never deployed, so it holds no jettons); any other state is an error. Two or three
  requests per owner; ``requests`` counts them.
* **Stacks** are TVM values as ton-http-api renders them: ``["num", "0x.."]`` and ``["cell", {"bytes":
  <base64 BOC>}]``; the owner's address goes in as ``["tvm.Slice", <base64 BOC>]``. The BOC reader and
  writer below handle the one-cell address slices involved.

Addresses: raw ``0:<64 hex>`` / ``-1:<64 hex>`` or user-friendly (48 base64 characters, bounceable ``EQ``
or non-bounceable ``UQ``, CRC16 checked) via :func:`signatures.ton.parse_ton_address`; a test-only
(testnet-flagged) address is not a mainnet address. Requests go through ``/jsonRPC`` (the endpoint URL
is the API's jsonRPC URL); API keys in ``headers`` (``X-API-Key = "${TONCENTER_API_KEY}"``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from signatures.encoding import EncodingError
from signatures.ton import format_ton_address, parse_ton_address, read_boc

from .failover import OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import _RATE_LIMIT_WORDS, Endpoint, TransportError
from .protocol import Asset, BalanceBatch, BlockRef
from .results import Value, assemble, parse_inputs

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "at snapshot"

MASTERCHAIN = -1
ADDRESS_BITS = 267  # addr_std$10 anycast:(Maybe Anycast)=0 workchain_id:int8 address:bits256
SUCCESS_EXIT_CODES = (0, 1)  # TVM: 0 and 1 both mean a normal termination
RETRY_CODES = (429, 502, 503, 504)  # rate limit and liteserver timeouts in the reply body


@dataclass(frozen=True, slots=True)
class TonAccount:
    """An account id: workchain and 32-byte hash (the form every address spelling decodes to)."""

    workchain: int
    hash_part: bytes

    @property
    def raw(self) -> str:
        return f"{self.workchain}:{self.hash_part.hex()}"

    @property
    def friendly(self) -> str:
        return format_ton_address(self.workchain, self.hash_part, bounceable=True)


@dataclass(frozen=True, slots=True)
class Read:
    """One account's read: the amount or why not, and the masterchain block it was read at."""

    amount: int | None
    error: str | None
    seqno: int | None = None
    root_hash: str | None = None
    utime: int | None = None


class TonApiError(Exception):
    """The API answered ``ok: false`` (a per-address problem: bad address, no state at that block, ...)."""


def ton_address(text: str) -> TonAccount | None:
    """Any mainnet spelling of a TON address -> the account, None when it is not one (bad characters,
    CRC16, tag, workchain other than 0/-1, or a testnet-only address)."""
    try:
        addr = parse_ton_address(text.strip())
    except (EncodingError, ValueError):
        return None
    if addr.testnet:
        return None
    return TonAccount(addr.workchain, addr.hash_part)


# ------------------------------------------------------------------ BOC (one-cell address slices)


def address_slice_boc(account: TonAccount) -> bytes:
    """A one-cell ``serialized_boc`` holding the address as ``addr_std`` (267 bits), no index, no CRC."""
    value = (0b100 << 264) | ((account.workchain & 0xFF) << 256) | int.from_bytes(account.hash_part, "big")
    pad = 8 - ADDRESS_BITS % 8
    data = ((value << pad) | (1 << (pad - 1))).to_bytes((ADDRESS_BITS + 7) // 8, "big")  # completion tag
    d2 = (ADDRESS_BITS + 7) // 8 + ADDRESS_BITS // 8
    cell = bytes((0, d2)) + data
    # magic, flags (size 1 byte), offset size 1, 1 cell, 1 root, 0 absent, cell bytes, root index 0
    return bytes.fromhex("b5ee9c72") + bytes((0x01, 0x01, 1, 1, 0, len(cell), 0)) + cell


def boc_root_bits(boc: bytes) -> tuple[int, int]:
    """``(bit length, bits as an integer)`` of the root cell of a ``serialized_boc`` (its refs are ignored)."""
    bag = read_boc(boc)  # EncodingError is a ValueError
    cell = bag.cells[bag.roots[0]]
    if cell.exotic:
        raise ValueError("exotic cell where an address was expected")
    return cell.bits, cell.value


def parse_address_cell(boc: bytes) -> TonAccount:
    """A one-cell slice holding ``addr_std`` (no anycast) -> the account."""
    bits, value = boc_root_bits(boc)
    if bits != ADDRESS_BITS:
        raise ValueError(f"address cell of {bits} bits, expected {ADDRESS_BITS}")
    if value >> 264 != 0b100:
        raise ValueError("not an addr_std without anycast")
    workchain = (value >> 256) & 0xFF
    return TonAccount(workchain - 256 if workchain >= 128 else workchain, (value & ((1 << 256) - 1)).to_bytes(32, "big"))


# ------------------------------------------------------------------ replies


def _block(result: Mapping[str, Any]) -> tuple[int, str | None]:
    """``block_id`` of an answer -> (masterchain seqno, root hash)."""
    bid = result.get("block_id")
    if not isinstance(bid, dict):
        raise ValueError("no block_id in the reply: cannot tell which block was read")
    seqno, workchain = bid.get("seqno"), bid.get("workchain")
    if type(seqno) is not int or seqno < 0:
        raise ValueError(f"block_id.seqno is not a block number: {seqno!r}")
    if workchain is not None and workchain != MASTERCHAIN:
        raise ValueError(f"block_id is a workchain {workchain} block, not a masterchain one")
    root = bid.get("root_hash")
    return seqno, root if isinstance(root, str) else None


def _uint_text(value: Any, what: str) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    raise ValueError(f"{what} is not a non-negative integer: {str(value)[:40]!r}")


def parse_account_info(result: Any) -> Read:
    """A ``getAddressInformation`` result -> nanotons at its block."""
    try:
        if not isinstance(result, dict):
            raise ValueError("the result is not an object")
        seqno, root = _block(result)
        balance = _uint_text(result.get("balance"), "balance")
    except ValueError as exc:
        return Read(None, f"getAddressInformation: {exc}")
    utime = result.get("sync_utime")
    return Read(amount=balance, error=None, seqno=seqno, root_hash=root, utime=utime if type(utime) is int else None)


def account_state(result: Any) -> str | None:
    """``state`` of a ``getAddressInformation`` result (``active``, ``uninitialized``, ``frozen``)."""
    state = result.get("state") if isinstance(result, dict) else None
    return state if isinstance(state, str) else None


def _stack_cell(entry: Any) -> bytes:
    if not isinstance(entry, list) or len(entry) != 2 or entry[0] not in ("cell", "slice", "tvm.Cell", "tvm.Slice"):
        raise ValueError(f"stack entry is not a cell: {str(entry)[:60]}")
    payload = entry[1]
    text = payload.get("bytes") if isinstance(payload, dict) else payload
    if not isinstance(text, str):
        raise ValueError("cell without bytes")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("cell bytes are not base64") from None


def _stack_num(entry: Any) -> int:
    if not isinstance(entry, list) or len(entry) != 2 or entry[0] not in ("num", "number", "int"):
        raise ValueError(f"stack entry is not a number: {str(entry)[:60]}")
    value = entry[1]
    if type(value) is int:
        return value
    if not isinstance(value, str):
        raise ValueError(f"number {value!r}")
    try:
        return int(value, 0)
    except ValueError:
        raise ValueError(f"number {value[:40]!r}") from None


def run_result(result: Any) -> tuple[list[Any], int, str | None]:
    """A ``runGetMethod`` result -> (stack, seqno, root hash); raises GetMethodFailed on a non-zero exit."""
    if not isinstance(result, dict):
        raise ValueError("the result is not an object")
    seqno, root = _block(result)
    code = result.get("exit_code")
    if type(code) is not int:
        raise ValueError(f"exit_code {code!r}")
    if code not in SUCCESS_EXIT_CODES:
        raise GetMethodFailed(code, seqno, root)
    stack = result.get("stack")
    if not isinstance(stack, list):
        raise ValueError("stack is not a list")
    return stack, seqno, root


class GetMethodFailed(ValueError):
    def __init__(self, exit_code: int, seqno: int, root: str | None):
        super().__init__(f"get-method exit code {exit_code}")
        self.exit_code = exit_code
        self.seqno = seqno
        self.root = root


def parse_wallet_address(result: Any) -> tuple[TonAccount, int, str | None]:
    stack, seqno, root = run_result(result)
    if len(stack) != 1:
        raise ValueError(f"get_wallet_address returned {len(stack)} stack entries, expected 1")
    return parse_address_cell(_stack_cell(stack[0])), seqno, root


def parse_wallet_data(result: Any, owner: TonAccount, master: TonAccount) -> tuple[int, int, str | None]:
    """``get_wallet_data`` -> (balance, seqno, root hash); the wallet must belong to ``owner`` and ``master``."""
    stack, seqno, root = run_result(result)
    if len(stack) < 3:
        raise ValueError(f"get_wallet_data returned {len(stack)} stack entries, expected 4")
    balance = _stack_num(stack[0])
    if balance < 0:
        raise ValueError(f"negative jetton balance {balance}")
    got_owner, got_master = parse_address_cell(_stack_cell(stack[1])), parse_address_cell(_stack_cell(stack[2]))
    if got_owner != owner:
        raise ValueError(f"the jetton wallet belongs to {got_owner.raw}, not {owner.raw}")
    if got_master != master:
        raise ValueError(f"the jetton wallet is of master {got_master.raw}, not {master.raw}")
    return balance, seqno, root


# ------------------------------------------------------------------ transport


class TonHttpClient(HttpApiClient):
    """``POST <jsonRPC url>`` with one JSON-RPC request; ``ok: false`` answers that mean "slow down" or a
    liteserver timeout are retried like transport failures, other ``ok: false`` answers are returned."""

    def _checked(self, reply: Any) -> Any:
        if isinstance(reply, dict) and reply.get("ok") is not True:
            err = reply.get("error")
            code = reply.get("code")
            if isinstance(err, dict):  # a JSON-RPC error object (proxies, gateways)
                code, err = err.get("code", code), err.get("message")
            text = str(err or "")
            if code in RETRY_CODES or code in (-32005, -32090) or any(w in text.lower() for w in _RATE_LIMIT_WORDS):
                self._count("api-rate-limit" if code == 429 or code in (-32005, -32090) else f"api-{code}")
                raise TransportError(f"{code}: {self.redact(text)[:120]}")
        return reply

    async def rpc(self, method: str, params: Mapping[str, Any]) -> Any:
        """The ``result`` of one call; TonApiError for ``ok: false``, TransportError when no answer came."""
        reply = await self.post("", {"jsonrpc": "2.0", "id": 1, "method": method, "params": dict(params)})
        if not isinstance(reply, dict):
            raise TransportError("the reply is not a JSON object")
        if reply.get("ok") is True and "result" in reply:
            return reply["result"]
        if "ok" not in reply and "result" in reply:  # plain JSON-RPC 2.0 (gateways that drop "ok")
            return reply["result"]
        err = reply.get("error")
        if isinstance(err, dict):
            err = err.get("message")
        if err is None and "result" not in reply:
            self._count("malformed-json")
            raise TransportError("reply without result or error")
        raise TonApiError(self.redact(str(err))[:200])


# ------------------------------------------------------------------ adapter


class TonAdapter(OneEndpoint):
    """Toncoin and jetton balances from one TON HTTP API v2 endpoint (see the module docstring).

    ``options`` are the endpoint's TOML keys: ``headers`` (API key), ``seqno_param`` (false: the endpoint
    cannot read at a block; everything is read at its latest state and labelled so)."""

    def __init__(self, network: str, endpoint: Endpoint, options: Mapping[str, Any] | None = None, *,
                 attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0):
        self.network = network
        opts = options or {}
        self.client: TonHttpClient = TonHttpClient(endpoint, opts.get("headers"), attempts=attempts,
                                                   backoff_min=backoff_min, backoff_max=backoff_max)
        self.seqno_param = bool(opts.get("seqno_param", True))

    def _at(self, params: dict[str, Any], seqno: int | None) -> dict[str, Any]:
        if seqno is not None and self.seqno_param:
            params["seqno"] = seqno
        return params

    async def _head(self) -> tuple[int, str | None]:
        try:
            info = await self.client.rpc("getMasterchainInfo", {})
        except TonApiError as exc:
            raise TransportError(f"getMasterchainInfo: {exc}") from None
        last = info.get("last") if isinstance(info, dict) else None
        seqno = last.get("seqno") if isinstance(last, dict) else None
        if type(seqno) is not int:
            raise TransportError("getMasterchainInfo without last.seqno")
        root = last.get("root_hash") if isinstance(last, dict) else None
        return seqno, root if isinstance(root, str) else None

    async def _info(self, account: TonAccount, seqno: int | None) -> Any:
        return await self.client.rpc("getAddressInformation", self._at({"address": account.raw}, seqno))

    async def _native(self, account: TonAccount, seqno: int | None) -> Read:
        try:
            return parse_account_info(await self._info(account, seqno))
        except TonApiError as exc:
            return Read(None, f"getAddressInformation: {exc}")
        except TransportError as exc:
            return Read(None, str(exc))

    async def _run(self, account: TonAccount, method: str, stack: list[Any], seqno: int | None) -> Any:
        return await self.client.rpc("runGetMethod", self._at({"address": account.raw, "method": method,
                                                               "stack": stack}, seqno))

    async def _jetton(self, master: TonAccount, owner: TonAccount, seqno: int | None) -> Read:
        slice_b64 = base64.b64encode(address_slice_boc(owner)).decode()
        try:
            wallet, s1, root1 = parse_wallet_address(await self._run(master, "get_wallet_address",
                                                                     [["tvm.Slice", slice_b64]], seqno))
        except TonApiError as exc:
            return Read(None, f"get_wallet_address: {exc}")
        except TransportError as exc:
            return Read(None, str(exc))
        except ValueError as exc:
            return Read(None, f"get_wallet_address on the jetton master: {exc}")
        at = seqno if seqno is not None else s1  # the wallet's data at the block its address was read at
        try:
            balance, s2, root2 = parse_wallet_data(await self._run(wallet, "get_wallet_data", [], at), owner, master)
        except GetMethodFailed as exc:
            return await self._undeployed(wallet, at, exc)
        except TonApiError as exc:
            return Read(None, f"get_wallet_data of {wallet.friendly}: {exc}")
        except TransportError as exc:
            return Read(None, str(exc))
        except ValueError as exc:
            return Read(None, f"get_wallet_data of {wallet.friendly}: {exc}")
        if s1 != s2 and self.seqno_param:  # both were asked at one block: a different one is a wrong answer
            return Read(None, f"jetton wallet address read at block {s1}, its data at block {s2}")
        return Read(amount=balance, error=None, seqno=s2, root_hash=root2 if s1 != s2 else root2 or root1)

    async def _undeployed(self, wallet: TonAccount, seqno: int, failed: GetMethodFailed) -> Read:
        """0 only when the wallet account is proven uninitialized at that block (never deployed)."""
        why = f"get_wallet_data of {wallet.friendly}: exit code {failed.exit_code}"
        try:
            info = await self._info(wallet, seqno)
        except (TonApiError, TransportError) as exc:
            return Read(None, f"{why}; account state unknown: {exc}")
        state = account_state(info)
        try:
            if not isinstance(info, dict):
                raise ValueError("getAddressInformation result is not an object")
            at, root = _block(info)
        except ValueError as exc:
            return Read(None, f"{why}; {exc}")
        if state == "uninitialized" and at == failed.seqno:
            return Read(amount=0, error=None, seqno=at, root_hash=root or failed.root)  # never deployed: holds no jettons
        return Read(None, f"{why}; account state {state!r} at block {at}")

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        keys, todo, master = parse_inputs(self.network, asset, addresses, ton_address, "jetton master")
        values: dict[TonAccount, Value] = {}
        notes: list[str] = []
        requests_before = self.requests
        label = self.label
        seqno = height
        try:
            if height is None:
                seqno, _ = await self._head()  # one block's view for the whole batch
        except TransportError as exc:
            why = f"{label}: {exc}"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
            return assemble(asset, height, addresses, keys, values, "not a TON address", [],
                            self.requests - requests_before, notes)
        if master is None:
            reads = await bounded_map(todo, lambda a: self._native(a, seqno), self.client.endpoint.concurrency)
            strategy = f"{label}:getAddressInformation"
        else:
            reads = await bounded_map(todo, lambda a: self._jetton(master, a, seqno), self.client.endpoint.concurrency)
            strategy = f"{label}:runGetMethod(get_wallet_address,get_wallet_data)"
        other: dict[int, int] = {}  # seqno read (not the one asked) -> rows
        times: dict[int, int] = {}
        for key, r in zip(todo, reads):
            block = None
            if r.amount is not None and r.seqno is not None:
                honoured = height is not None and r.seqno == height
                if height is not None and r.seqno < height:
                    values[key] = (None, f"answered for masterchain block {r.seqno}, before the block asked ({height})",
                                   label, None)
                    continue
                block = BlockRef(r.seqno, r.root_hash, at_snapshot=honoured)
                if not honoured:
                    other[r.seqno] = other.get(r.seqno, 0) + 1
                    if r.utime is not None:
                        times.setdefault(r.seqno, r.utime)
            values[key] = (r.amount, r.error, label, block)
        for s, n in sorted(other.items()):
            when = f", time {times[s]}" if s in times else ""
            if height is None:
                notes.append(f"{label}: {n} row(s) read at the latest state (masterchain seqno {s}{when})")
            else:
                notes.append(f"{label}: {n} row(s) read at latest (masterchain seqno {s}{when}), not at the snapshot "
                             f"seqno {height}" + ("" if self.seqno_param else " (endpoint declared without seqno)"))
        if height is not None and not other and any(v[0] is not None for v in values.values()):
            notes.append(f"{label}: read at masterchain seqno {height}")
        return assemble(asset, height, addresses, keys, values, "not a TON address", [strategy],
                        self.requests - requests_before, notes)


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any],
                           **retries: Any) -> TonAdapter:
    """kind "ton" (scanner/config/networks.toml): one adapter per endpoint, composed by the failover."""
    return TonAdapter(network_id, endpoint, endpoint_options, **retries)
