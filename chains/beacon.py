"""Ethereum validator balances (BETH / "Native ETH Staking" rows) from a standard Beacon Node API.

The rows' address is a validator's BLS public key (0x + 48 bytes, a compressed BLS12-381 G1 point) and their
snapshot height is an EXECUTION block number (OKX's staking file: ``ETH,Native ETH Staking,ETH,20914735,0xabab...``).

* **Height -> slot.** The beacon block whose ``execution_payload.block_number`` is the snapshot height, found
  with ``GET /eth/v2/beacon/blocks/{slot}`` only (no execution endpoint is needed): from the head
  (``blocks/head``: slot S, block number N) the guess S - (N - height) is an upper bound of the slot (a slot holds
  at most one block), and each step down by (found - height) stays one; an empty slot (404) steps down by one.
  Missed slots are ~1 %, so a year back takes a handful of blocks. The block found must carry exactly the
  height, and its payload ``timestamp`` must be ``genesis_time + slot * seconds_per_slot`` (genesis from
  ``/eth/v1/beacon/genesis``): both are checked, else the rows are unread. A height before the Merge has no
  beacon block carrying it: unread, said so.
* **Balances.** ``POST /eth/v1/beacon/states/{slot}/validators`` with ``{"ids": [...]}`` (``max_batch`` keys a
  request; the GET form with ``id=`` query keys, at most 64, where the node answers 405 to POST). The state at
  that slot is the post-state of the snapshot's block. ``balance`` is in Gwei; the amount returned is in the
  asset's base units: ``balance * 10**(decimals - 9)`` (coin BETH is configured with 18 decimals, i.e. wei,
  like the ETH it stands for, so 32 ETH = 32 * 10**18; an asset with 9 decimals gets Gwei).
  Per validator the status and effective balance go to the batch notes (a summary per status, one line per
  validator that is not ``active_ongoing``: exited or withdrawn validators legitimately hold 0).
* **Staked / unbonding.** A validator's balance is never liquid (it is in the beacon state, not in an
  execution account), so every read validator's amount is one part (``BalanceResult.parts``) by its
  status at the slot (beacon-APIs ``ValidatorStatus``): ``staked`` while the stake is deposited or
  validating and not leaving (``pending_initialized``, ``pending_queued``, ``active_ongoing``);
  ``unbonding`` from the moment it leaves the set until the sweep has paid it out (``active_exiting``,
  ``active_slashed``: an exit is forced; ``exited_*``; ``withdrawal_possible``; ``withdrawal_done`` with
  a remainder). A key that is not a validator reads 0 with no parts.
* **Unknown keys.** The list endpoint silently omits keys it does not know. Such a key is asked again with
  ``GET /eth/v1/beacon/states/{slot}/validators/{pubkey}``: only that endpoint's documented
  ``404 {"message": "Validator not found"}`` at a state that exists makes it 0 ("not a validator at slot S");
  ``State not found`` (a pruned / non-archive node), or anything else, leaves the row unread with the reason.
* **Network.** ``genesis_validators_root`` from ``/eth/v1/beacon/genesis`` must equal the network's configured
  value, else the endpoint is refused (AdapterError): a Holesky node never answers for mainnet.
* **Latest** (no height): the head block's slot and execution block, labelled latest with both and its time.

Every row's :class:`BlockRef` is the execution block (number and ``block_hash`` of the payload), so the
failover's block agreement compares it with the other beacon endpoints; the slot and state root are in notes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from py_arkworks_bls12381 import G1Point

from .failover import OneEndpoint
from .httpapi import HttpApiClient, bounded_map
from .jsonrpc import Endpoint, RefusedError, TransportError
from .protocol import AdapterError, Asset, BalanceBatch, BlockRef
from .results import Value, assemble
from .secrets import ConfigError

# what --dry says this kind can honour (scanner/pipeline/adapters.py reads_at)
SNAPSHOT_READS = "at snapshot"

GWEI_DECIMALS = 9
PUBKEY_BYTES = 48
GET_MAX_IDS = 64  # the GET form's documented maxItems
MAX_SEARCH_STEPS = 200
STATUSES = frozenset({"pending_initialized", "pending_queued", "active_ongoing", "active_exiting", "active_slashed",
                      "exited_unslashed", "exited_slashed", "withdrawal_possible", "withdrawal_done"})
NOT_A_KEY = "not a beacon validator public key (0x + 48-byte compressed BLS12-381 G1 point)"
STAKED = "staked"
UNBONDING = "unbonding"
# which part of the stake a validator's balance is, by its status (see the module docstring)
PART_OF_STATUS = {"pending_initialized": STAKED, "pending_queued": STAKED, "active_ongoing": STAKED,
                  "active_exiting": UNBONDING, "active_slashed": UNBONDING, "exited_unslashed": UNBONDING,
                  "exited_slashed": UNBONDING, "withdrawal_possible": UNBONDING, "withdrawal_done": UNBONDING}
assert set(PART_OF_STATUS) == STATUSES
_G1_INFINITY = G1Point.identity()


def parse_pubkey(text: str) -> str | None:
    """``0x`` + 96 hex digits encoding a G1 subgroup point (not infinity), lower-cased; else None.

    A key that is not a point can never be a validator's (deposits are processed only with a valid
    proof-of-possession), so it is a row error rather than a read."""
    s = text.strip()
    if s[:2] not in ("0x", "0X") or len(s) != 2 + 2 * PUBKEY_BYTES:
        return None
    try:
        raw = bytes.fromhex(s[2:])
        point = G1Point.from_compressed_bytes(raw)
    except ValueError:
        return None
    if point.to_compressed_bytes() != raw or point == _G1_INFINITY:
        return None
    return "0x" + raw.hex()


def _uint(value: Any, what: str) -> int:
    if not isinstance(value, str) or not value.isdigit() or not value.isascii():
        raise ValueError(f"{what} is not a decimal string: {str(value)[:40]!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Genesis:
    time: int
    validators_root: str


@dataclass(frozen=True, slots=True)
class SlotBlock:
    """A beacon block and the execution block in its payload."""

    slot: int
    state_root: str
    block_number: int
    block_hash: str
    timestamp: int
    finalized: bool | None
    optimistic: bool | None


@dataclass(frozen=True, slots=True)
class Validator:
    pubkey: str
    index: int
    balance_gwei: int
    effective_gwei: int
    status: str


def parse_genesis(reply: Any) -> Genesis:
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, dict):
        raise ValueError("genesis reply without data")
    root = data.get("genesis_validators_root")
    if not isinstance(root, str) or len(root) != 66 or not root.startswith("0x"):
        raise ValueError(f"genesis_validators_root {str(root)[:70]!r}")
    return Genesis(_uint(data.get("genesis_time"), "genesis_time"), root.lower())


def parse_block(reply: Any) -> SlotBlock | None:
    """A ``/eth/v2/beacon/blocks`` reply -> the slot and its execution payload; None before the Merge
    (no payload, or Bellatrix's empty payload with a zero block hash)."""
    data = reply.get("data") if isinstance(reply, dict) else None
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("body"), dict):
        raise ValueError("block reply without data.message.body")
    slot = _uint(message.get("slot"), "slot")
    payload = message["body"].get("execution_payload")
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise ValueError("execution_payload is not an object")
    block_hash = payload.get("block_hash")
    if not isinstance(block_hash, str) or len(block_hash) != 66:
        raise ValueError(f"execution_payload.block_hash {str(block_hash)[:70]!r}")
    if int(block_hash, 16) == 0:
        return None
    state_root = message.get("state_root")
    return SlotBlock(slot=slot, state_root=state_root if isinstance(state_root, str) else "",
                     block_number=_uint(payload.get("block_number"), "block_number"), block_hash=block_hash.lower(),
                     timestamp=_uint(payload.get("timestamp"), "timestamp"),
                     finalized=reply.get("finalized") if isinstance(reply.get("finalized"), bool) else None,
                     optimistic=(reply.get("execution_optimistic")
                                 if isinstance(reply.get("execution_optimistic"), bool) else None))


def parse_validator(item: Any) -> Validator:
    """One ValidatorResponse ``{index, balance, status, validator: {pubkey, effective_balance, ...}}``."""
    if not isinstance(item, dict) or not isinstance(item.get("validator"), dict):
        raise ValueError("validator entry without validator object")
    pubkey = item["validator"].get("pubkey")
    if not isinstance(pubkey, str) or len(pubkey) != 98:
        raise ValueError(f"validator pubkey {str(pubkey)[:100]!r}")
    status = item.get("status")
    if status not in STATUSES:
        raise ValueError(f"unknown validator status {str(status)[:40]!r}")
    return Validator(pubkey=pubkey.lower(), index=_uint(item.get("index"), "index"),
                     balance_gwei=_uint(item.get("balance"), "balance"),
                     effective_gwei=_uint(item["validator"].get("effective_balance"), "effective_balance"),
                     status=str(status))


def _error_message(exc: RefusedError) -> tuple[int | None, str]:
    """(HTTP status, the API's ErrorMessage.message) of a refusal ("HTTP 404: {json}")."""
    text = str(exc)
    head, _, body = text.partition(": ")
    status = int(head[5:]) if head.startswith("HTTP ") and head[5:].isdigit() else None
    try:
        parsed = json.loads(body)
    except ValueError:
        return status, body
    message = parsed.get("message") if isinstance(parsed, dict) else None
    return status, message if isinstance(message, str) else body


def _short(pubkey: str) -> str:
    return f"{pubkey[:10]}..{pubkey[-6:]}"


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class BeaconAdapter(OneEndpoint):
    """Validator balances from one Beacon Node API endpoint; see the module docstring."""

    def __init__(self, network: str, endpoint: Endpoint, *, genesis_validators_root: str,
                 seconds_per_slot: int = 12, headers: Mapping[str, str] | None = None, attempts: int = 6,
                 backoff_min: float = 0.05, backoff_max: float = 8.0):
        root = genesis_validators_root.strip().lower()
        if len(root) != 66 or not root.startswith("0x"):
            raise ConfigError(f"network {network}: genesis_validators_root must be 0x + 32 bytes hex")
        self.network = network
        self.expected_root = root
        self.seconds_per_slot = seconds_per_slot
        self.client: HttpApiClient = HttpApiClient(endpoint, headers, attempts=attempts, backoff_min=backoff_min,
                                    backoff_max=backoff_max)
        self.max_ids = max(1, endpoint.max_batch)
        self.use_get = False  # set when the node refuses the POST form (405)
        self._genesis: Genesis | None = None
        self._slots: dict[int, SlotBlock] = {}  # execution block number -> its beacon block

    # ------------------------------------------------------------------ chain position

    async def genesis(self) -> Genesis:
        if self._genesis is None:
            try:
                genesis = parse_genesis(await self.client.get("/eth/v1/beacon/genesis"))
            except ValueError as exc:
                raise TransportError(f"unreadable genesis: {exc}") from None
            if genesis.validators_root != self.expected_root:
                raise AdapterError(f"{self.label}: wrong network: genesis_validators_root {genesis.validators_root} "
                                   f"is not {self.network}'s {self.expected_root}; endpoint refused")
            self._genesis = genesis
        return self._genesis

    async def _block(self, block_id: str) -> SlotBlock | None | str:
        """The block at ``block_id``; "empty" for a 404 (no block in that slot); None before the Merge."""
        try:
            reply = await self.client.get(f"/eth/v2/beacon/blocks/{block_id}")
        except RefusedError as exc:
            status, _ = _error_message(exc)
            if status == 404:
                return "empty"
            raise
        try:
            return parse_block(reply)
        except ValueError as exc:
            raise TransportError(f"unreadable block {block_id}: {exc}") from None

    async def head(self) -> SlotBlock:
        head = await self._block("head")
        if not isinstance(head, SlotBlock):
            raise TransportError("the head block has no execution payload")
        return head

    async def slot_of(self, height: int) -> SlotBlock:
        """The beacon block carrying execution block ``height`` (see the module docstring); TransportError
        (unread, with the reason) when there is none or the node cannot say."""
        if height in self._slots:
            return self._slots[height]
        genesis = await self.genesis()
        head = await self.head()
        if height > head.block_number:
            raise TransportError(f"execution block {height} is after the head (block {head.block_number}, "
                                 f"slot {head.slot})")
        found: SlotBlock | None = head
        guess = head.slot
        for _ in range(MAX_SEARCH_STEPS):
            if isinstance(found, SlotBlock):
                if found.block_number == height:
                    break
                if found.block_number < height:
                    raise TransportError(f"no beacon block carries execution block {height} (slot {found.slot} has "
                                         f"{found.block_number}, the next has more)")
                guess = found.slot - (found.block_number - height)
            else:
                guess -= 1
            if guess < 0:
                raise TransportError(f"no beacon block carries execution block {height}")
            got = await self._block(str(guess))
            if got is None:
                raise TransportError(f"execution block {height} is before the Merge (slot {guess} has no execution "
                                     f"payload): no beacon state is tied to it")
            found = got if isinstance(got, SlotBlock) else None
        else:
            raise TransportError(f"slot of execution block {height} not found in {MAX_SEARCH_STEPS} steps")
        assert isinstance(found, SlotBlock)
        expected_ts = genesis.time + found.slot * self.seconds_per_slot
        if found.timestamp != expected_ts:
            raise TransportError(f"slot {found.slot}: payload timestamp {found.timestamp} is not genesis_time + "
                                 f"slot * {self.seconds_per_slot} = {expected_ts}")
        self._slots[height] = found
        return found

    # ------------------------------------------------------------------ validators

    async def _list(self, slot: int, ids: list[str]) -> list[Any]:
        path = f"/eth/v1/beacon/states/{slot}/validators"
        if not self.use_get:
            try:
                reply = await self.client.post(path, {"ids": ids})
            except RefusedError as exc:
                if _error_message(exc)[0] != 405:
                    raise
                self.use_get = True
            else:
                return self._data_list(reply)
        out: list[Any] = []
        for i in range(0, len(ids), GET_MAX_IDS):
            query = "&".join(f"id={quote(k)}" for k in ids[i:i + GET_MAX_IDS])
            out += self._data_list(await self.client.get(f"{path}?{query}"))
        return out

    @staticmethod
    def _data_list(reply: Any) -> list[Any]:
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list):
            raise TransportError("validators reply without a data list")
        return data

    async def _chunk(self, slot: int, ids: list[str]) -> dict[str, Validator | str]:
        """Pubkey -> its validator, or the reason it is unread; keys the list omitted are left out."""
        try:
            items = await self._list(slot, ids)
        except RefusedError as exc:
            status, message = _error_message(exc)
            why = (f"state at slot {slot} not available on this endpoint (pruned or not an archive node): {message}"
                   if status == 404 else f"validators at slot {slot}: {exc}")
            return dict.fromkeys(ids, why)
        except TransportError as exc:
            return dict.fromkeys(ids, f"validators at slot {slot}: {exc}")
        asked = set(ids)
        out: dict[str, Validator | str] = {}
        for item in items:
            try:
                v = parse_validator(item)
            except ValueError as exc:
                return dict.fromkeys(ids, f"validators at slot {slot}: {exc}")
            if v.pubkey not in asked:
                return dict.fromkeys(ids, f"validators at slot {slot}: the reply names a key not asked for")
            out[v.pubkey] = v
        return out

    async def _one(self, slot: int, pubkey: str) -> Validator | None | str:
        """A key the list omitted: its validator, None for the documented "Validator not found" 404, else why."""
        try:
            reply = await self.client.get(f"/eth/v1/beacon/states/{slot}/validators/{pubkey}")
        except RefusedError as exc:
            status, message = _error_message(exc)
            if status == 404 and message.strip().lower() == "validator not found":
                return None
            if status == 404:
                return f"state at slot {slot} not available on this endpoint: {message}"
            return f"validator at slot {slot}: {exc}"
        except TransportError as exc:
            return f"validator at slot {slot}: {exc}"
        try:
            v = parse_validator(reply.get("data") if isinstance(reply, dict) else None)
        except ValueError as exc:
            return f"validator at slot {slot}: {exc}"
        return v if v.pubkey == pubkey else f"validator at slot {slot}: the reply names another key"

    # ------------------------------------------------------------------ the read

    async def balances(self, asset: Asset, addresses: Sequence[str], height: int | None) -> BalanceBatch:
        if asset.contract is not None:
            raise AdapterError(f"{asset.symbol} on {self.network}: validator balances have no token contract")
        if asset.decimals < GWEI_DECIMALS:
            raise AdapterError(f"{asset.symbol} on {self.network}: {asset.decimals} decimals cannot hold Gwei")
        scale = 10 ** (asset.decimals - GWEI_DECIMALS)
        keys = [parse_pubkey(a) for a in addresses]
        todo = list(dict.fromkeys(k for k in keys if k is not None))
        values: dict[str, Value] = {}
        notes: list[str] = []
        label = self.label
        before = self.requests
        if not todo:
            return assemble(asset, height, addresses, keys, values, NOT_A_KEY, [], 0, notes)
        try:
            genesis = await self.genesis()
            block = await (self.head() if height is None else self.slot_of(height))
        except TransportError as exc:
            why = f"{label}: {exc}"
            notes.append(why)
            values.update((k, (None, why, label, None)) for k in todo)
            return assemble(asset, height, addresses, keys, values, NOT_A_KEY, [], self.requests - before, notes)
        ref = BlockRef(block.block_number, block.block_hash, at_snapshot=height is not None)
        when = _utc(genesis.time + block.slot * self.seconds_per_slot)
        if height is None:
            notes.append(f"{label}: read at latest (slot {block.slot}, execution block {block.block_number}, time "
                         f"{when}), not at the snapshot")
        else:
            notes.append(f"{label}: execution block {height} is in beacon slot {block.slot} ({when}, state root "
                         f"{block.state_root}); validators read at state {block.slot}")
        if block.optimistic:
            notes.append(f"{label}: the node marks slot {block.slot} execution_optimistic (payload not yet verified)")
        if block.finalized is False:
            notes.append(f"{label}: slot {block.slot} is not finalized on this node")
        chunks = [todo[i:i + self.max_ids] for i in range(0, len(todo), self.max_ids)]
        found: dict[str, Validator | str] = {}
        for part in await bounded_map(chunks, lambda c: self._chunk(block.slot, c), self.client.endpoint.concurrency):
            found.update(part)
        missing = [k for k in todo if k not in found]
        singles = await bounded_map(missing, lambda k: self._one(block.slot, k), self.client.endpoint.concurrency)
        absent = 0
        for k, got in zip(missing, singles):
            if got is None:
                absent += 1
                values[k] = (0, None, label, ref)
            else:
                found[k] = got
        statuses: Counter[str] = Counter()
        effective: Counter[str] = Counter()
        odd: list[str] = []
        part_of: dict[str, str] = {}
        by_part: Counter[str] = Counter()
        for k in todo:
            if k in values:
                continue
            got = found[k]
            if isinstance(got, str):
                values[k] = (None, got, label, None)
                continue
            values[k] = (got.balance_gwei * scale, None, label, ref)
            part_of[k] = PART_OF_STATUS[got.status]
            by_part[part_of[k]] += got.balance_gwei
            statuses[got.status] += 1
            effective[got.status] += got.effective_gwei
            if got.status != "active_ongoing":
                odd.append(f"{_short(k)} (index {got.index}): {got.status}, balance {got.balance_gwei} Gwei, "
                           f"effective balance {got.effective_gwei} Gwei")
        if statuses:
            notes.append(f"{label}: validators at slot {block.slot} by status: " + ", ".join(
                f"{s} {n} (effective {effective[s]} Gwei)" for s, n in sorted(statuses.items())))
        notes += [f"{label}: {line}" for line in odd[:100]]
        if len(odd) > 100:
            notes.append(f"{label}: ... and {len(odd) - 100} more validators not active_ongoing")
        if absent:
            notes.append(f"{label}: {absent} key(s) were not validators at slot {block.slot} (the node's 404 "
                         f"'Validator not found' for each): 0")
        if by_part:
            notes.append(f"{label}: validator balances at slot {block.slot}: staked {by_part[STAKED]} Gwei, "
                         f"unbonding {by_part[UNBONDING]} Gwei (none of it liquid)")
        strategy = f"{label}:{'GET' if self.use_get else 'POST'} states/{{slot}}/validators"
        batch = assemble(asset, height, addresses, keys, values, NOT_A_KEY, [strategy], self.requests - before, notes)
        return with_parts(batch, keys, part_of)


def with_parts(batch: BalanceBatch, keys: Sequence[str | None], part_of: Mapping[str, str]) -> BalanceBatch:
    """Each read validator's whole amount as its one part (staked or unbonding); 0 has none."""
    results = tuple(r._replace(parts=((part_of[k], r.amount_base_units),))
                    if k is not None and k in part_of and r.amount_base_units else r
                    for r, k in zip(batch.results, keys))
    return replace(batch, results=results)


def build_endpoint_adapter(network_id: str, endpoint: Endpoint, endpoint_options: dict[str, Any],
                           network_options: dict[str, Any], **retries: Any) -> BeaconAdapter:
    """kind "beacon" (scanner/config/networks.toml): one adapter per endpoint, composed by the failover."""
    root = network_options.get("genesis_validators_root")
    if not isinstance(root, str):
        raise ConfigError(f"network {network_id}: genesis_validators_root is required (the network's check)")
    return BeaconAdapter(network_id, endpoint, genesis_validators_root=root,
                         seconds_per_slot=int(network_options.get("seconds_per_slot", 12)),
                         headers=endpoint_options.get("headers"), **retries)
