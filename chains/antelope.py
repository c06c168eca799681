"""EOS (Vaulta) and other Antelope chains: token balances from the chain API, optionally at the snapshot
block reconstructed from a Hyperion history API.

* **Latest** (always possible): ``POST /v1/chain/get_currency_balance`` ``{code, account, symbol}`` per
  account -> ``["1.2345 EOS"]`` (``[]``: the account has no row in the token's table, i.e. holds none of
  it). The amount is read exactly from the asset string, whose precision must equal the configured
  decimals (EOS 4, USDT on EOS 4). ``/v1/chain/get_info`` is read before and after; figures carry
  ``BlockRef(<head before>, at_snapshot=False)`` and a note "read at latest (block N, time T), not at the
  snapshot". Only liquid balances are read: staked CPU/NET and REX are not tokens in the account's row.
* **At the snapshot** (endpoint key ``hyperion = true``: the same base URL serves Hyperion's
  ``/v2/history``): the liquid balance now minus the token's actions after the snapshot block, paging
  ``GET /v2/history/get_actions?account=&filter=<code>:transfer,<code>:issue,<code>:retire&sort=desc``
  until an action at or below the snapshot. ``transfer`` moves ``quantity`` from ``from`` to ``to``;
  ``issue`` credits and ``retire`` debits the authorizing issuer (eosio.token's rules). The head is read
  before (N0) and after (N1) the balances; Hyperion must have indexed N1 (``/v2/health``,
  ``last_indexed_block``), actions above N1 are later than the balance and ignored, and an account with
  an action in (N0, N1] is unread ("moved while read"). Such figures carry ``BlockRef(<snapshot>,
  <block id from get_block>)`` and the note says "reconstructed from Hyperion actions". Whatever cannot be
  reconstructed is read at latest, labelled so.

Assets: the native coin is ``eosio.token``'s ``native_symbol`` (network key ``native_contract`` to change
the contract); a token's ``contract`` is the token account (``tethertether``), or ``account:SYMBOL`` when
the on-chain symbol differs from the asset's. Account names: 1 to 12 characters of ``a-z``, ``1-5`` and
``.``, not ending in ``.``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from .failover import EndpointAdapter, OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import Endpoint, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BlockRef
from .results import Value, assemble, none_read

# said by --dry (scanner/pipeline/adapters.py reads_at): depends on the endpoints, so both cases are named
SNAPSHOT_READS = "at snapshot with a hyperion = true endpoint (reconstructed from Hyperion actions), else latest"
PATH_INFO = "/v1/chain/get_info"
PATH_BALANCE = "/v1/chain/get_currency_balance"
PATH_BLOCK = "/v1/chain/get_block"
PATH_ACTIONS = "/v2/history/get_actions"
PATH_HEALTH = "/v2/health"
_NAME = re.compile(r"[a-z1-5.]{0,11}[a-z1-5]")
_SYMBOL = re.compile(r"[A-Z]{1,7}")
_QUANTITY = re.compile(r"(\d+)(?:\.(\d+))? ([A-Z]{1,7})")

Read = tuple[int | None, str | None]


def antelope_name(text: str) -> str | None:
    """An account name (see the module docstring), or None."""
    text = text.strip()
    return text if _NAME.fullmatch(text) else None


def parse_quantity(text: Any, symbol: str, decimals: int) -> int | None:
    """``"1.2345 EOS"`` -> 12345 when the symbol and precision are the ones expected, else None."""
    m = _QUANTITY.fullmatch(text) if isinstance(text, str) else None
    if m is None or m.group(3) != symbol or len(m.group(2) or "") != decimals:
        return None
    return int(m.group(1) + (m.group(2) or ""))


def parse_currency_balance(reply: Any, symbol: str, decimals: int) -> Read:
    if not isinstance(reply, list):
        return None, f"get_currency_balance: not a list: {str(reply)[:120]}"
    if not reply:
        return 0, None  # no row in the token's table: holds none
    if len(reply) != 1:
        return None, f"get_currency_balance: {len(reply)} rows for one symbol"
    amount = parse_quantity(reply[0], symbol, decimals)
    if amount is None:
        return None, f"get_currency_balance: {str(reply[0])[:40]!r} is not {symbol} with {decimals} decimals"
    return amount, None


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    id: str | None
    time: str


def parse_info(reply: Any) -> Head:
    number = reply.get("head_block_num") if isinstance(reply, dict) else None
    if not isinstance(reply, dict) or not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise TransportError(f"get_info without head_block_num: {str(reply)[:120]}")
    block_id = reply.get("head_block_id")
    return Head(number=number, id=block_id if isinstance(block_id, str) else None,
                time=str(reply.get("head_block_time", "time unknown")))


def action_delta(action: Any, account: str, code: str, symbol: str, decimals: int) -> int:
    """What one Hyperion action did to ``account``'s balance of ``symbol``; ValueError if unreadable."""
    act = action.get("act") if isinstance(action, dict) else None
    if not isinstance(act, dict) or act.get("account") != code:
        return 0
    data = act.get("data")
    if not isinstance(data, dict):
        raise ValueError(f"action {action.get('global_sequence')} without data")
    quantity = data.get("quantity")
    if not isinstance(quantity, str) or not quantity.endswith(f" {symbol}"):
        return 0  # another token of the same contract
    amount = parse_quantity(quantity, symbol, decimals)
    if amount is None:
        raise ValueError(f"action {action.get('global_sequence')}: quantity {quantity!r}")
    name = act.get("name")
    auth = act.get("authorization")
    actor = auth[0].get("actor") if isinstance(auth, list) and auth and isinstance(auth[0], dict) else None
    if name == "transfer":
        return (amount if data.get("to") == account else 0) - (amount if data.get("from") == account else 0)
    if name == "issue":
        return amount if actor == account else 0
    if name == "retire":
        return -amount if actor == account else 0
    return 0


def _block_num(action: Any) -> int:
    n = action.get("block_num") if isinstance(action, dict) else None
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError("action without block_num")
    return n


class AntelopeAdapter(OneEndpoint):
    """Token balances on one Antelope chain from one endpoint (see the module docstring)."""

    def __init__(self, network: str, endpoint: Endpoint, options: Mapping[str, Any] | None = None, *,
                 native_contract: str = "eosio.token", attempts: int = 6, backoff_min: float = 0.05,
                 backoff_max: float = 8.0, page: int = 100, index_waits: int = 3, index_wait: float = 0.5):
        opts = options or {}
        self.network = network
        self.native_contract = native_contract
        self.hyperion = bool(opts.get("hyperion", False))
        self.page = int(opts.get("hyperion_page", page))
        self.index_waits = index_waits
        self.index_wait = index_wait
        self.client: HttpApiClient = HttpApiClient(endpoint, opts.get("headers"), attempts=attempts, backoff_min=backoff_min,
                                    backoff_max=backoff_max)

    def preference(self, asset: Asset, height: int | None) -> int:
        """An endpoint that can reconstruct the snapshot goes first for reads at a height."""
        return 0 if self.hyperion and height is not None else 1

    def _token(self, asset: Asset) -> tuple[str, str]:
        code, _, symbol = (asset.contract or self.native_contract).partition(":")
        symbol = symbol or asset.symbol
        if antelope_name(code) is None or not _SYMBOL.fullmatch(symbol):
            raise AdapterError(f"{asset.symbol} on {self.network}: bad token {asset.contract!r} (account[:SYMBOL])")
        return code, symbol

    async def _info(self) -> Head:
        return parse_info(await self.client.post(PATH_INFO, {}))

    async def _balance(self, code: str, account: str, symbol: str, decimals: int) -> Read:
        try:
            reply = await self.client.post(PATH_BALANCE, {"code": code, "account": account, "symbol": symbol})
        except TransportError as exc:
            return None, f"get_currency_balance: {exc}"
        return parse_currency_balance(reply, symbol, decimals)

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        code, symbol = self._token(asset)
        keys = [antelope_name(a) for a in addresses]
        todo = list(dict.fromkeys(k for k in keys if k is not None))
        values: dict[str, Value] = {}
        notes: list[str] = []
        strategies: list[str] = []
        before_requests = self.requests
        label = self.label
        try:
            start = await self._info()
        except TransportError as exc:  # this endpoint reads nothing: every address says why
            none_read(values, todo, f"{label}: {exc}", label, notes)
            return assemble(asset, height, addresses, keys, values, "not an Antelope account name", [],
                            self.requests - before_requests, notes)
        reads = dict(zip(todo, await bounded_map(todo, lambda a: self._balance(code, a, symbol, asset.decimals),
                                                 self.client.endpoint.concurrency)))
        try:
            end: Head | None = await self._info()
        except TransportError as exc:
            end = None
            notes.append(f"{label}: head after reading unknown ({exc})")
        latest = todo
        if self.hyperion and height is not None and end is not None:
            done = await self._reconstruct(code, symbol, asset.decimals, reads, height, start, end, notes)
            values.update(done)
            latest = [a for a in todo if a not in done]
            if done:
                strategies.append(f"{label}:hyperion-get_actions")
        at_snapshot = height is not None and end is not None and start.number == end.number == height
        block = BlockRef(start.number, start.id, at_snapshot=at_snapshot)
        if latest:
            strategies.append(f"{label}:get_currency_balance@latest")
            if not at_snapshot:
                span = f"block {start.number}, time {start.time}" + (f"; head {end.number} after" if end else "")
                notes.append(f"{label}: {symbol}@{code} read at latest ({span})" +
                             (f", not at the snapshot (block {height})" if height is not None else ""))
        for a in latest:
            v, e = reads[a]
            values[a] = (v, e, label, block if v is not None else None)
        return assemble(asset, height, addresses, keys, values, "not an Antelope account name", strategies,
                        self.requests - before_requests, notes)

    # ------------------------------------------------------------------ Hyperion reconstruction

    async def _indexed(self, head: int) -> int | None:
        """Hyperion's last indexed block once it reaches ``head`` (None if it does not, after a few waits)."""
        last = None
        for attempt in range(self.index_waits + 1):
            if attempt:
                await asyncio.sleep(self.index_wait)
            reply = await self.client.get(PATH_HEALTH)
            services = reply.get("health") if isinstance(reply, dict) else None
            for s in services if isinstance(services, list) else []:
                data = s.get("service_data") if isinstance(s, dict) else None
                n = data.get("last_indexed_block") if isinstance(data, dict) else None
                if isinstance(n, int) and not isinstance(n, bool):
                    last = n
            if last is not None and last >= head:
                return last
        return None

    async def _actions_after(self, account: str, code: str, height: int) -> list[Any]:
        """The account's token actions above ``height``, newest first (ValueError/TransportError if unreadable)."""
        out: list[Any] = []
        seen: set[Any] = set()
        skip = 0
        filt = ",".join(f"{code}:{n}" for n in ("transfer", "issue", "retire"))
        while True:
            query = urlencode({"account": account, "filter": filt, "sort": "desc", "skip": skip, "limit": self.page})
            reply = await self.client.get(f"{PATH_ACTIONS}?{query}")
            actions = reply.get("actions") if isinstance(reply, dict) else None
            if not isinstance(actions, list):
                raise ValueError(f"get_actions: no actions list in {str(reply)[:100]}")
            for action in actions:
                if _block_num(action) <= height:
                    return out
                key = action.get("global_sequence")
                if key not in seen:
                    seen.add(key)
                    out.append(action)
            if len(actions) < self.page:
                return out
            skip += len(actions)

    async def _reconstruct(self, code: str, symbol: str, decimals: int, reads: dict[str, Read], height: int,
                           start: Head, end: Head, notes: list[str]) -> dict[str, Value]:
        label = self.label
        if height > start.number:
            notes.append(f"{label}: snapshot block {height} is above the head ({start.number}): read at latest")
            return {}
        try:
            block = await self.client.post(PATH_BLOCK, {"block_num_or_id": height})
            block_id = block.get("id") if isinstance(block, dict) else None
            if not isinstance(block_id, str) or block.get("block_num") != height:
                raise TransportError(f"get_block {height}: no id for that block")
            if await self._indexed(end.number) is None:
                raise TransportError(f"Hyperion has not indexed up to block {end.number}")
        except TransportError as exc:
            notes.append(f"{label}: snapshot reconstruction not possible ({exc}): read at latest")
            return {}
        at = BlockRef(height, block_id, at_snapshot=True)

        async def one(account: str) -> Read:
            now, err = reads[account]
            if now is None:
                return None, err
            try:
                actions = await self._actions_after(account, code, height)
                if any(start.number < _block_num(a) <= end.number for a in actions):
                    return None, f"moved while read (an action between blocks {start.number} and {end.number})"
                delta = sum(action_delta(a, account, code, symbol, decimals) for a in actions
                            if _block_num(a) <= start.number)
            except (TransportError, ValueError) as exc:
                return None, f"Hyperion get_actions: {exc}"
            if now - delta < 0:
                return None, f"reconstruction gives a negative balance ({now} - {delta}): history incomplete"
            return now - delta, None

        accounts = [a for a, (v, _) in reads.items() if v is not None]
        got = dict(zip(accounts, await bounded_map(accounts, one, self.client.endpoint.concurrency)))
        failed = [(a, e) for a, (v, e) in got.items() if v is None]
        notes.append(f"{label}: {symbol}@{code} at snapshot block {height} reconstructed from Hyperion actions "
                     f"for {len(got) - len(failed)} account(s) (balance at block {start.number} minus the token's "
                     f"actions after block {height})")
        if failed:  # these stay with their latest read, labelled latest by the caller
            notes.append(f"{label}: {len(failed)} account(s) not reconstructed (e.g. {failed[0][0]}: {failed[0][1]})")
        return {a: (v, None, label, at) for a, (v, _) in got.items() if v is not None}


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> EndpointAdapter:
    """``kind = "antelope"``: endpoint keys ``hyperion`` (the URL also serves Hyperion's /v2 API), ``headers``;
    network key ``native_contract`` (default eosio.token)."""
    return AntelopeAdapter(network_id, endpoint, endpoint_options,
                           native_contract=str(network_options.get("native_contract", "eosio.token")), **retries)
