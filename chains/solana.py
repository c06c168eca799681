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
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any, Sequence

from signatures.encoding import EncodingError, b58decode, b58encode

from .failover import OneEndpoint
from .jsonrpc import Endpoint, JsonRpcClient, RpcError, TransportError
from .protocol import Asset, BalanceBatch, BlockRef
from .results import Value, assemble, parse_inputs

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
MAX_ACCOUNTS_PER_CALL = 100
MIN_CONTEXT_SLOT_NOT_REACHED = -32016
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


class SolanaAdapter(OneEndpoint):
    """SOL and SPL token balances on Solana from one endpoint, at the latest slot (labelled; see the
    module docstring). Several endpoints are composed by :class:`chains.failover.FailoverAdapter`."""

    def __init__(self, network: str, endpoint: Endpoint, *, commitment: str = "finalized",
                 attempts: int = 6, backoff_min: float = 0.05, backoff_max: float = 8.0, slot_retries: int = 4,
                 slot_retry_wait: float = 0.4):
        self.network = network
        self.commitment = commitment
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
        if mint is None:
            reads = await self._read_native(client, todo, start)
            strategies.append(f"{label}:getMultipleAccounts")
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
        for parts, n in sorted(mixed.items()):
            notes.append(f"{label}: {n} owner(s) summed from Token at slot {parts[0]} and Token-2022 at slot "
                         f"{parts[1]} (labelled with slot {max(parts)}, not at snapshot)")
        if slots:
            lo, hi = min(slots), max(slots)
            span = f"slot {lo}" if lo == hi else f"slots {lo}..{hi}"
            honoured = height is not None and lo == hi == height
            notes.append(f"{label}: read at {span} ({self.commitment}; block height {block_height} at the start)"
                         + ("" if height is None or honoured else
                            f"; NOT at snapshot {height}: Solana has no balance-at-slot query"))
        return assemble(asset, height, addresses, keys, values, "not a Solana address", strategies,
                        self.requests - requests_before, notes)

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
