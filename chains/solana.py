"""Solana balances (SOL and SPL tokens, both token programs) over raw JSON-RPC batches.

* **SOL**: ``getMultipleAccounts`` with up to 100 public keys per call (the RPC's limit), several
  calls per HTTP request (``max_batch``), ``encoding: base64`` with an empty ``dataSlice`` so only
  ``lamports`` travel. A ``null`` entry is an account that does not exist: 0 lamports (a well-formed
  answer listing the account as absent; transport failures and error objects are never zeros).
* **SPL tokens** (USDT, USDC, ...): ``getTokenAccountsByOwner(owner, {programId})`` for the classic
  Token program *and* Token-2022, ``encoding: jsonParsed``; the owner's balance is the sum of
  ``tokenAmount.amount`` (a decimal string, exact) over every token account of the mint, not only the
  associated one. ``uiAmount`` is a float and is never used. Both program queries must succeed or the
  owner is unread. An account the node could not parse (``data`` as ``[base64, "base64"]``) is decoded
  from the SPL account layout (mint 0..32, owner 32..64, amount u64 LE 64..72). ``decimals`` in the
  answer must equal the configured decimals.
* **Slots**: Solana has no balance-at-slot query (only ``minContextSlot``, a lower bound). porscan reads
  ``getSlot`` first and passes it as ``minContextSlot`` to every call, records ``context.slot`` of each
  answer, and labels every figure ``at_snapshot=False`` with that slot, unless the slot equals the
  requested height. ``getBlockHeight`` is noted too (files may give block heights, which are not slots).
  "Minimum context slot not reached" (-32016) is retried a few times (load-balanced nodes lag).
* **Stake accounts** (network option ``stake_accounts = true``): SOL a reserve address holds through
  stake accounts it can withdraw from. ``getProgramAccounts`` on the Stake program, ``dataSize`` 200
  and a ``memcmp`` on the withdrawer authority (offset 44 of the bincode ``StakeStateV2``: u32 tag 0..4,
  rent-exempt reserve 4..12, staker 12..44, withdrawer 44..76, lockup 76..124, then for tag 2 the
  delegation: voter 124..156, stake 156..164, activation epoch 164..172, deactivation epoch 172..180).
  Each account's lamports join the owner's amount; by the epoch of the answer's slot (from
  ``getEpochSchedule``) a delegated account is ``staked`` (also while activating: it cannot be
  withdrawn), ``unbonding`` in its deactivation epoch, and liquid once inactive (or initialized, never
  delegated). Cooldown beyond one epoch (the network-wide rate limit, which needs the StakeHistory
  sysvar) is counted liquid. A failed stake query leaves the owner's own lamports with
  ``parts_known=False`` and a note: never a liquid figure that silently lacks the stake.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass
from typing import Any, Sequence

from signatures.encoding import EncodingError, b58decode, b58encode

from .failover import OneEndpoint
from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import Asset, BalanceBatch, BalanceResult, BlockRef
from .results import Value, assemble, parse_inputs

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
MAX_ACCOUNTS_PER_CALL = 100
MIN_CONTEXT_SLOT_NOT_REACHED = -32016
STAKE_PROGRAM = "Stake11111111111111111111111111111111111111"
STAKE_ACCOUNT_SIZE = 200
WITHDRAWER_OFFSET = 44  # StakeStateV2: tag u32, rent_exempt_reserve u64, staker 32 bytes, withdrawer 32 bytes
_U64_MAX = 2**64 - 1
STAKED, UNBONDING = "staked", "unbonding"
_DIGITS = re.compile(r"\d+")

# (amount, error, slots): the context slot of every answer the amount comes from (SPL: Token, Token-2022)
Read = tuple[int | None, str | None, tuple[int, ...] | None]


def solana_pubkey(text: str) -> str | None:
    """Canonical base58 of a 32-byte public key, or None."""
    try:
        raw = b58decode(text.strip())
    except EncodingError:
        return None
    return b58encode(raw) if len(raw) == 32 else None


def _slot(result: Any) -> int:
    slot = result["context"]["slot"]
    if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
        raise ValueError(f"bad context.slot {slot!r}")
    return slot


def parse_multiple_accounts(result: Any, count: int) -> tuple[int, list[tuple[int | None, str | None]]]:
    """``getMultipleAccounts`` result -> (slot, [(lamports, error)] per key)."""
    slot = _slot(result)
    value = result["value"]
    if not isinstance(value, list) or len(value) != count:
        raise ValueError(f"{len(value) if isinstance(value, list) else 'no'} accounts returned for {count} keys")
    out: list[tuple[int | None, str | None]] = []
    for acct in value:
        if acct is None:
            out.append((0, None))  # the account does not exist
            continue
        lamports = acct.get("lamports") if isinstance(acct, dict) else None
        if isinstance(lamports, int) and not isinstance(lamports, bool) and lamports >= 0:
            out.append((lamports, None))
        else:
            out.append((None, f"unreadable account entry: lamports {lamports!r}"))
    return slot, out


def token_account_fields(entry: Any) -> tuple[str, str, int, int | None]:
    """One ``getTokenAccountsByOwner`` entry -> (mint, owner, amount, decimals or None)."""
    data = entry["account"]["data"]
    if isinstance(data, dict):
        info = data["parsed"]["info"]
        amount_text = info["tokenAmount"]["amount"]
        if not isinstance(amount_text, str) or not _DIGITS.fullmatch(amount_text):
            raise ValueError(f"tokenAmount.amount is not a decimal string: {amount_text!r}")
        decimals = info["tokenAmount"].get("decimals")
        return str(info["mint"]), str(info["owner"]), int(amount_text), decimals if isinstance(decimals, int) else None
    if isinstance(data, list) and len(data) == 2 and data[1] == "base64":
        raw = base64.b64decode(data[0], validate=True)
        if len(raw) < 72:
            raise ValueError(f"token account data of {len(raw)} bytes")
        return b58encode(raw[:32]), b58encode(raw[32:64]), int.from_bytes(raw[64:72], "little"), None
    raise ValueError("token account data neither jsonParsed nor base64")


def sum_token_accounts(result: Any, owner: str, mint: str, decimals: int) -> tuple[int, int]:
    """(slot, sum of the owner's ``mint`` balances) from a ``getTokenAccountsByOwner`` result."""
    slot = _slot(result)
    entries = result["value"]
    if not isinstance(entries, list):
        raise ValueError("value is not a list")
    total = 0
    for entry in entries:
        m, o, amount, dec = token_account_fields(entry)
        if m != mint:
            continue
        if o != owner:
            raise ValueError(f"token account {entry.get('pubkey')} belongs to {o}, not {owner}")
        if dec is not None and dec != decimals:
            raise ValueError(f"mint {mint} has {dec} decimals on chain, config says {decimals}")
        total += amount
    return slot, total


@dataclass(frozen=True, slots=True)
class EpochSchedule:
    """``getEpochSchedule``: which epoch a slot is in (warmup epochs double from 32 slots)."""

    slots_per_epoch: int
    first_normal_epoch: int
    first_normal_slot: int

    def epoch_of(self, slot: int) -> int:
        if slot >= self.first_normal_slot:
            return self.first_normal_epoch + (slot - self.first_normal_slot) // self.slots_per_epoch
        # warmup: epoch e has 32 * 2**e slots, so slot s is in epoch log2(next_pow2(s + 33)) - 6
        return max((slot + 33 - 1).bit_length() - 6, 0)


def parse_epoch_schedule(result: Any) -> EpochSchedule:
    values: list[int] = []
    for k in ("slotsPerEpoch", "firstNormalEpoch", "firstNormalSlot"):
        v = result.get(k) if isinstance(result, dict) else None
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"bad getEpochSchedule reply {result!r}")
        values.append(v)
    per, first_epoch, first_slot = values
    if per == 0:
        raise ValueError(f"bad getEpochSchedule reply {result!r}")
    return EpochSchedule(slots_per_epoch=per, first_normal_epoch=first_epoch, first_normal_slot=first_slot)


@dataclass(frozen=True, slots=True)
class StakeAccount:
    """One stake account as its withdrawer's reserve sees it."""

    address: str
    lamports: int
    withdrawer: str
    delegated: bool  # StakeStateV2::Stake; False: Initialized (never delegated)
    activation_epoch: int = 0
    deactivation_epoch: int = _U64_MAX

    def part(self, epoch: int) -> str | None:
        """"staked", "unbonding" or None (liquid) in ``epoch``."""
        if not self.delegated or self.activation_epoch == self.deactivation_epoch:
            return None  # never delegated, or deactivated in the epoch it was activated: never effective
        if self.deactivation_epoch == _U64_MAX:
            return STAKED
        return UNBONDING if self.deactivation_epoch >= epoch else None


def stake_account_fields(address: str, lamports: Any, data: bytes) -> StakeAccount:
    """A Stake-program account's bytes (bincode ``StakeStateV2``) -> :class:`StakeAccount`."""
    if not isinstance(lamports, int) or isinstance(lamports, bool) or lamports < 0:
        raise ValueError(f"stake account {address}: lamports {lamports!r}")
    if len(data) != STAKE_ACCOUNT_SIZE:
        raise ValueError(f"stake account {address}: {len(data)} bytes, not {STAKE_ACCOUNT_SIZE}")
    tag = int.from_bytes(data[:4], "little")
    withdrawer = b58encode(data[WITHDRAWER_OFFSET:WITHDRAWER_OFFSET + 32])
    if tag == 1:
        return StakeAccount(address, lamports, withdrawer, delegated=False)
    if tag == 2:
        return StakeAccount(address, lamports, withdrawer, delegated=True,
                            activation_epoch=int.from_bytes(data[164:172], "little"),
                            deactivation_epoch=int.from_bytes(data[172:180], "little"))
    raise ValueError(f"stake account {address}: state {tag} is neither initialized nor delegated")


def parse_stake_accounts(result: Any, withdrawer: str) -> tuple[int, list[StakeAccount]]:
    """``getProgramAccounts`` (withContext, base64) -> (slot, the withdrawer's stake accounts)."""
    slot = _slot(result)
    entries = result["value"]
    if not isinstance(entries, list):
        raise ValueError("value is not a list")
    out = []
    for entry in entries:
        acct = entry["account"]
        data = acct["data"]
        if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
            raise ValueError("stake account data is not base64")
        if acct.get("owner") != STAKE_PROGRAM:
            raise ValueError(f"account {entry.get('pubkey')} is owned by {acct.get('owner')!r}, not the Stake program")
        stake = stake_account_fields(str(entry["pubkey"]), acct.get("lamports"),
                                     base64.b64decode(data[0], validate=True))
        if stake.withdrawer != withdrawer:  # the node ignored the filter: never count another owner's stake
            raise ValueError(f"stake account {stake.address} is withdrawable by {stake.withdrawer}, not {withdrawer}")
        out.append(stake)
    return slot, out


def stake_parts(accounts: Sequence[StakeAccount], epoch: int) -> tuple[int, tuple[tuple[str, int], ...]]:
    """(lamports over all accounts, non-liquid parts by name, zeros left out)."""
    sums = {STAKED: 0, UNBONDING: 0}
    for a in accounts:
        part = a.part(epoch)
        if part is not None:
            sums[part] += a.lamports
    return sum(a.lamports for a in accounts), tuple((k, v) for k, v in sums.items() if v)


def _with_parts(result: BalanceResult, parts: tuple[tuple[str, int], ...] | None) -> BalanceResult:
    return result._replace(parts=(), parts_known=False) if parts is None else result._replace(parts=parts)


class SolanaAdapter(OneEndpoint):
    """SOL and SPL token balances on Solana from one endpoint, at the latest slot (labelled; see the
    module docstring). Several endpoints are composed by :class:`chains.failover.FailoverAdapter`."""

    def __init__(self, network: str, endpoint: Endpoint, *, commitment: str = "finalized",
                 attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0, slot_retries: int = 4,
                 slot_retry_wait: float = 0.4, stake_accounts: bool = False):
        self.network = network
        self.commitment = commitment
        self.stake_accounts = stake_accounts  # SOL rows add the stake accounts each address can withdraw
        self._schedule: EpochSchedule | None = None  # fixed per cluster: asked once
        self.client = JsonRpcClient(endpoint, attempts=attempts, backoff_min=backoff_min, backoff_max=backoff_max)
        self.slot_retries = slot_retries
        self.slot_retry_wait = slot_retry_wait

    async def _batch(self, client: JsonRpcClient, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """A batch, re-sending the calls a lagging node refused with "minimum context slot not reached"."""
        results = await client.batch(calls)
        for attempt in range(self.slot_retries):
            redo = [i for i, r in enumerate(results) if isinstance(r, RpcError) and r.code == MIN_CONTEXT_SLOT_NOT_REACHED]
            if not redo:
                break
            await asyncio.sleep(self.slot_retry_wait * (attempt + 1))
            for i, r in zip(redo, await client.batch([calls[i] for i in redo])):
                results[i] = r
        return results

    def _config(self, min_slot: int, **extra: Any) -> dict[str, Any]:
        return {"commitment": self.commitment, "minContextSlot": min_slot, **extra}

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        keys, todo, mint = parse_inputs(self.network, asset, addresses, solana_pubkey, "SPL mint")
        values: dict[str, Value] = {}
        notes: list[str] = []
        strategies: list[str] = []
        requests_before = self.requests
        client = self.client
        label = self.label
        try:
            start = await client.call("getSlot", [{"commitment": self.commitment}])
            if not isinstance(start, int):
                raise TransportError(f"getSlot answered {start!r}")
        except (RpcError, TransportError) as exc:  # this endpoint reads nothing: every address says why
            why = f"{label}: {exc}"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
            return assemble(asset, height, addresses, keys, values, "not a Solana address", strategies,
                            self.requests - requests_before, notes)
        try:
            block_height = await client.call("getBlockHeight", [{"commitment": self.commitment}])
        except (RpcError, TransportError):
            block_height = None
        split: dict[str, tuple[tuple[str, int], ...] | None] = {}  # owner -> parts, None = unknown
        if mint is None:
            reads = await self._read_native(client, todo, start)
            strategies.append(f"{label}:getMultipleAccounts")
            if self.stake_accounts:
                await self._add_stake(client, reads, split, start, notes)
                strategies.append(f"{label}:getProgramAccounts(Stake,withdrawer)")
        else:
            reads = await self._read_token(client, todo, start, mint, asset.decimals)
            strategies.append(f"{label}:getTokenAccountsByOwner(Token,Token-2022)")
        slots = [s for _, _, parts in reads.values() if parts for s in parts]
        mixed: dict[tuple[int, ...], int] = {}
        for key, (amount, err, parts) in reads.items():
            block = None
            if parts:
                # an amount summed from answers at different slots is at none of them: never "at snapshot"
                block = BlockRef(max(parts), None, at_snapshot=height is not None and all(s == height for s in parts))
                if len(set(parts)) > 1:
                    mixed[parts] = mixed.get(parts, 0) + 1
            values[key] = (amount, err, label, block)
        first, second = ("Token", "Token-2022") if mint else ("their own account", "stake accounts")
        for parts, n in sorted(mixed.items()):
            notes.append(f"{label}: {n} owner(s) summed from {first} at slot {parts[0]} and {second} at slot "
                         f"{parts[1]} (labelled with slot {max(parts)}, not at snapshot)")
        if slots:
            lo, hi = min(slots), max(slots)
            span = f"slot {lo}" if lo == hi else f"slots {lo}..{hi}"
            honoured = height is not None and lo == hi == height
            notes.append(f"{label}: read at {span} ({self.commitment}; block height {block_height} at the start)"
                         + ("" if height is None or honoured else
                            f"; NOT at snapshot {height}: Solana has no balance-at-slot query"))
        batch = assemble(asset, height, addresses, keys, values, "not a Solana address", strategies,
                         self.requests - requests_before, notes)
        if not split:
            return batch
        results = tuple(_with_parts(r, split.get(k, ())) if r.ok and k is not None else r
                        for r, k in zip(batch.results, keys))
        return BalanceBatch(batch.asset, batch.height_requested, results, batch.strategy, batch.requests, batch.notes)

    async def _schedule_of(self, client: JsonRpcClient) -> EpochSchedule:
        if self._schedule is None:
            self._schedule = parse_epoch_schedule(await client.call("getEpochSchedule", []))
        return self._schedule

    async def _add_stake(self, client: JsonRpcClient, reads: dict[str, Read],
                         split: dict[str, tuple[tuple[str, int], ...] | None], start: int, notes: list[str]) -> None:
        """Adds to each read owner the lamports of the stake accounts it is the withdrawer of, and records
        their parts in ``split``. An owner whose stake query failed keeps its own lamports, split unknown."""
        owners = [k for k, (amount, _, _) in reads.items() if amount is not None]
        if not owners:
            return
        failed: dict[str, int] = {}
        try:
            schedule = await self._schedule_of(client)
        except (RpcError, TransportError, ValueError) as exc:
            why = f"getEpochSchedule: {exc}"
            failed[why] = len(owners)
            split.update((k, None) for k in owners)
            owners = []
        calls = [("getProgramAccounts", [STAKE_PROGRAM, self._config(
            start, encoding="base64", withContext=True,
            filters=[{"dataSize": STAKE_ACCOUNT_SIZE}, {"memcmp": {"offset": WITHDRAWER_OFFSET, "bytes": owner}}])])
            for owner in owners]
        results = await self._batch(client, calls) if calls else []
        staked = unbonding = accounts = 0
        for owner, res in zip(owners, results):
            try:
                if isinstance(res, Exception):
                    raise ValueError(res.message if isinstance(res, RpcError) else str(res))
                slot, found = parse_stake_accounts(res, owner)
            except (KeyError, TypeError, ValueError) as exc:
                why = f"getProgramAccounts(Stake): {exc}"
                failed[why] = failed.get(why, 0) + 1
                split[owner] = None
                continue
            total, parts = stake_parts(found, schedule.epoch_of(slot))
            amount, _, slots = reads[owner]
            reads[owner] = ((amount or 0) + total, None, (*(slots or ()), slot))
            split[owner] = parts
            accounts += len(found)
            staked += dict(parts).get(STAKED, 0)
            unbonding += dict(parts).get(UNBONDING, 0)
        label = self.label
        read = sum(1 for k in owners if split.get(k) is not None)
        if read:
            notes.append(f"{label}: stake accounts by withdrawer: {accounts} account(s) of {read} owner(s) "
                         f"added ({staked} lamports staked, {unbonding} unbonding, the rest liquid)")
        for why, n in sorted(failed.items()):
            notes.append(f"{label}: stake accounts of {n} owner(s) NOT read ({why}): their own lamports only, "
                         f"staked/unbonding unknown")

    async def _read_native(self, client: JsonRpcClient, keys: list[str], start: int) -> dict[str, Read]:
        chunks = [keys[i:i + MAX_ACCOUNTS_PER_CALL] for i in range(0, len(keys), MAX_ACCOUNTS_PER_CALL)]
        config = self._config(start, encoding="base64", dataSlice={"offset": 0, "length": 0})
        results = await self._batch(client, [("getMultipleAccounts", [chunk, config]) for chunk in chunks])
        out: dict[str, Read] = {}
        for chunk, res in zip(chunks, results):
            if isinstance(res, Exception):
                err = res.message if isinstance(res, RpcError) else str(res)
                out.update((k, (None, err, None)) for k in chunk)
                continue
            try:
                slot, reads = parse_multiple_accounts(res, len(chunk))
            except (KeyError, TypeError, ValueError) as exc:
                out.update((k, (None, f"unreadable getMultipleAccounts reply: {exc}", None)) for k in chunk)
                continue
            out.update((k, (amount, err, (slot,))) for k, (amount, err) in zip(chunk, reads))
        return out

    async def _read_token(self, client: JsonRpcClient, owners: list[str], start: int, mint: str,
                          decimals: int) -> dict[str, Read]:
        config = self._config(start, encoding="jsonParsed")
        calls = [("getTokenAccountsByOwner", [owner, {"programId": program}, config])
                 for owner in owners for program in TOKEN_PROGRAMS]
        results = await self._batch(client, calls)
        out: dict[str, Read] = {}
        for n, owner in enumerate(owners):
            total, err = 0, None
            parts: list[int] = []
            for program, res in zip(TOKEN_PROGRAMS, results[2 * n:2 * n + 2]):
                name = "Token-2022" if program == TOKEN_2022_PROGRAM else "Token"
                if isinstance(res, Exception):
                    err = f"{name}: {res.message if isinstance(res, RpcError) else res}"
                    break
                try:
                    s, amount = sum_token_accounts(res, owner, mint, decimals)
                except (KeyError, TypeError, ValueError) as exc:
                    err = f"{name}: unreadable getTokenAccountsByOwner reply: {exc}"
                    break
                total += amount
                parts.append(s)
            out[owner] = (None, err, None) if err else (total, None, tuple(parts))
        return out
