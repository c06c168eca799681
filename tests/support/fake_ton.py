"""FAKE toncenter (TON HTTP API v2 ``/jsonRPC``) for tests and bench: no TON node or liteserver can run here.

A stand-in, not a node: it keeps balance histories per masterchain seqno and answers the calls porscan
makes (``getMasterchainInfo``, ``getAddressInformation``, ``runGetMethod`` with ``get_wallet_address`` and
``get_wallet_data``) in ton-http-api's shapes: ``{"ok": true, "result": ...}``, ``block_id`` as a
``ton.blockIdExt`` of the masterchain block read, stacks as ``["num", "0x.."]`` / ``["cell", {"bytes": ...}]``,
HTTP 416 ``Incorrect address``, HTTP 500 for a tonlib error (a block whose state is pruned), HTTP 429
``Ratelimit exceed``, and exit code -13 for a get-method on an uninitialized account.

Cells, BOCs and addresses are built and read with pytoniq-core (the TON SDK), not porscan's code: jetton
wallet addresses are the hash of a real ``StateInit`` (wallet code + ``balance, owner, master, code`` data), the
owner slice porscan sends is parsed with the SDK, and user-friendly addresses come from ``Address.to_str``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from pytoniq_core import Address, Cell, begin_cell
from pytoniq_core.tlb.account import StateInit

from scanner.devnet.loopthread import ServedApp

SHARD = "-9223372036854775808"
WALLET_CODE = begin_cell().store_uint(0xFEED_CAFE, 32).store_string("FAKE jetton wallet code").end_cell()


def seeded_address(label: str, workchain: int = 0) -> Address:
    return Address((workchain, hashlib.sha256(f"ton/{label}".encode()).digest()))


def jetton_wallet_address(owner: Address, master: Address) -> Address:
    """The wallet address a standard jetton master derives: hash of StateInit(code, data)."""
    data = (begin_cell().store_coins(0).store_address(owner).store_address(master).store_ref(WALLET_CODE)
            .end_cell())
    return Address((0, StateInit(code=WALLET_CODE, data=data).serialize().hash))


def _raw(addr: Address) -> str:
    return addr.to_str(is_user_friendly=False)


def _cell_entry(cell: Cell) -> list:
    return ["cell", {"bytes": base64.b64encode(cell.to_boc()).decode(), "object": {"data": {"len": len(cell.bits)}}}]


@dataclass
class History:
    """Value per masterchain seqno: the last change at or before it (absent before the first change)."""

    changes: list[tuple[int, int]] = field(default_factory=list)

    def set(self, seqno: int, value: int) -> None:
        self.changes.append((seqno, value))
        self.changes.sort()

    def at(self, seqno: int) -> int | None:
        value = None
        for s, v in self.changes:
            if s > seqno:
                break
            value = v
        return value


class FakeToncenter:
    """FAKE ton-http-api v2. ``seqno`` is the head; ``pruned_below`` the oldest seqno with state;
    ``ignore_seqno`` answers every call at the head (an API that cannot read at a block)."""

    def __init__(self, head: int = 50_000_000, pruned_below: int = 0, ignore_seqno: bool = False,
                 utime0: int = 1_760_000_000):
        self.seqno = head
        self.pruned_below = pruned_below
        self.ignore_seqno = ignore_seqno
        self.utime0 = utime0
        self.ton: dict[str, History] = {}
        self.masters: dict[str, Address] = {}
        self.jetton: dict[str, History] = {}  # wallet raw -> balance history (deployed from the first change)
        self.wallet_owner: dict[str, tuple[Address, Address]] = {}
        self.calls: Counter[str] = Counter()
        self.lie_owner: set[str] = set()  # wallet raw addresses whose get_wallet_data names another owner
        self.rate_limit_next = 0

    # ---------------------------------------------------------------- world

    def set_ton(self, addr: Address, seqno: int, nanotons: int) -> None:
        self.ton.setdefault(_raw(addr), History()).set(seqno, nanotons)

    def add_master(self, master: Address) -> None:
        self.masters[_raw(master)] = master

    def set_jetton(self, owner: Address, master: Address, seqno: int, amount: int) -> Address:
        wallet = jetton_wallet_address(owner, master)
        self.wallet_owner[_raw(wallet)] = (owner, master)
        self.jetton.setdefault(_raw(wallet), History()).set(seqno, amount)
        self.set_ton(wallet, seqno, 50_000_000)  # a deployed wallet keeps some TON for storage
        return wallet

    # ---------------------------------------------------------------- replies

    def block_id(self, seqno: int) -> dict:
        root = hashlib.sha256(f"mc/{seqno}".encode()).digest()
        return {"@type": "ton.blockIdExt", "workchain": -1, "shard": SHARD, "seqno": seqno,
                "root_hash": base64.b64encode(root).decode(),
                "file_hash": base64.b64encode(hashlib.sha256(root).digest()).decode()}

    def _seqno(self, params: dict) -> int:
        asked = params.get("seqno")
        if asked is None or self.ignore_seqno:
            return self.seqno
        if not isinstance(asked, int) or asked > self.seqno:
            raise LookupError("LITE_SERVER_NOTREADY: block is not applied")
        if asked < self.pruned_below:
            raise LookupError(f"LITE_SERVER_UNKNOWN: cannot load state for block {asked}: state already gc'd")
        return asked

    @staticmethod
    def _address(text: object) -> Address:
        try:
            return Address(str(text))
        except Exception:
            raise ValueError("Incorrect address") from None

    def address_information(self, params: dict) -> dict:
        addr = self._address(params.get("address"))
        s = self._seqno(params)
        raw = _raw(addr)
        balance = self.ton[raw].at(s) if raw in self.ton else None
        deployed = raw in self.jetton and self.jetton[raw].at(s) is not None
        state = "active" if deployed or (raw in self.masters) else "uninitialized"
        return {"@type": "raw.fullAccountState", "balance": str(balance or 0),
                "code": base64.b64encode(WALLET_CODE.to_boc()).decode() if state == "active" else "",
                "data": "", "last_transaction_id": {"@type": "internal.transactionId", "lt": "0",
                                                    "hash": "A" * 43 + "="},
                "block_id": self.block_id(s), "frozen_hash": "", "sync_utime": self.utime0 + s, "state": state,
                "@extra": "fake"}

    def run_get_method(self, params: dict) -> dict:
        addr = self._address(params.get("address"))
        s = self._seqno(params)
        raw = _raw(addr)
        method, stack = params.get("method"), params.get("stack") or []
        out = {"@type": "smc.runResult", "gas_used": 1000, "exit_code": 0, "block_id": self.block_id(s),
               "last_transaction_id": {"@type": "internal.transactionId", "lt": "0", "hash": "A" * 43 + "="},
               "@extra": "fake"}
        if raw in self.masters and method == "get_wallet_address":
            kind, payload = stack[0]
            if kind != "tvm.Slice":
                raise TypeError(f"unexpected stack entry {kind}")
            owner = Cell.one_from_boc(base64.b64decode(payload)).begin_parse().load_address()
            return out | {"stack": [_cell_entry(begin_cell().store_address(
                jetton_wallet_address(owner, self.masters[raw])).end_cell())]}
        if raw in self.jetton and method == "get_wallet_data":
            amount = self.jetton[raw].at(s)
            if amount is None:
                return out | {"exit_code": -13, "stack": []}
            owner, master = self.wallet_owner[raw]
            if raw in self.lie_owner:
                owner = seeded_address("someone else")
            return out | {"stack": [["num", hex(amount)], _cell_entry(begin_cell().store_address(owner).end_cell()),
                                    _cell_entry(begin_cell().store_address(master).end_cell()),
                                    _cell_entry(WALLET_CODE)]}
        return out | {"exit_code": -13, "stack": []}  # not deployed (TVM cannot run an empty account)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"ok": False, "error": "Validation error", "code": 422}, status=422)
        method, params, rid = body.get("method"), body.get("params") or {}, body.get("id")
        self.calls[str(method)] += 1
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return web.json_response({"ok": False, "error": "Ratelimit exceed", "code": 429}, status=429)
        try:
            if method == "getMasterchainInfo":
                result: dict = {"@type": "blocks.masterchainInfo", "last": self.block_id(self.seqno)}
            elif method == "getAddressInformation":
                result = self.address_information(params)
            elif method == "runGetMethod":
                result = self.run_get_method(params)
            else:
                return web.json_response({"ok": False, "error": "Unknown method", "id": rid}, status=422)
        except ValueError as exc:
            return web.json_response({"ok": False, "error": str(exc), "code": 416}, status=416)
        except LookupError as exc:  # tonlib errors go out as HTTP 500 (ton-http-api's TonlibException handler)
            return web.json_response({"ok": False, "error": str(exc), "code": 500}, status=500)
        return web.json_response({"ok": True, "result": result, "jsonrpc": "2.0", "id": rid})

    def serve(self) -> ServedApp:
        app = web.Application()
        app.router.add_post("/api/v2/jsonRPC", self.handle)
        return ServedApp(app)


USDT_MASTER = "EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs"


def ton_world(fake: FakeToncenter, n: int = 12, *, snapshot: int | None = None, seed: str = "w") -> dict:
    """``n`` owners with TON and USDT histories: balances set before ``snapshot``, some changed after it,
    one USDT wallet never deployed, one deployed only after the snapshot. Returns the truth at the snapshot
    and at the head, and the owners in mixed spellings (bounceable, non-bounceable, raw)."""
    snap = snapshot if snapshot is not None else fake.seqno - 100
    master = Address(USDT_MASTER)
    fake.add_master(master)
    owners, ton_at, ton_now, usdt_at, usdt_now = [], {}, {}, {}, {}
    for i in range(n):
        addr = seeded_address(f"{seed}/{i}", workchain=-1 if i == 5 else 0)
        text = (addr.to_str(is_bounceable=True) if i % 3 == 0 else addr.to_str(is_bounceable=False) if i % 3 == 1
                else addr.to_str(is_user_friendly=False))
        owners.append(text)
        before = 0 if i == 2 else (i + 1) * 1_234_567_891 + (2**62 if i == 3 else 0)
        fake.set_ton(addr, snap - 1000, before)
        after = before
        if i % 4 == 1:  # moved after the snapshot
            after = before + 777_000_000_001
            fake.set_ton(addr, snap + 10, after)
        ton_at[text], ton_now[text] = before, after
        if i == 4:  # no USDT wallet at all
            usdt_at[text] = usdt_now[text] = 0
            continue
        if i == 6:  # wallet deployed only after the snapshot
            fake.set_jetton(addr, master, snap + 5, 5_000_000)
            usdt_at[text], usdt_now[text] = 0, 5_000_000
            continue
        amount = (i + 1) * 1_000_000_123 + (2**70 if i == 7 else 0)
        fake.set_jetton(addr, master, snap - 500, amount)
        later = amount
        if i % 4 == 1:
            later = amount - 999_999
            fake.set_jetton(addr, master, snap + 20, later)
        usdt_at[text], usdt_now[text] = amount, later
    return {"owners": owners, "snapshot": snap, "ton_at": ton_at, "ton_now": ton_now, "usdt_at": usdt_at,
            "usdt_now": usdt_now, "master": USDT_MASTER}
