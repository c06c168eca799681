"""FAKE Antelope (EOS/Vaulta) chain API plus a Hyperion v2 history API, for tests and the bench: no nodeos or
Hyperion can run here. Names and assets go through antelopy's serializers (the chain's own binary
forms): an account name is valid only if it survives ``serialize_name``/``deserialize_name`` (nodeos'
"name not properly normalized"), token rows are kept as serialized ``asset`` bytes (int64 amount, precision,
symbol) and rendered back to ``"1.2345 EOS"``. Documented shapes reproduced: ``get_info``,
``get_currency_balance`` (``[]`` for no row), ``get_block``, nodeos' HTTP 500 error object, Hyperion's
``get_actions`` (``sort``, ``skip``, ``limit``, ``filter=code:action,...``, ``total``, ``lib``) and
``/v2/health`` (``last_indexed_block``; ``index_lag`` keeps the index behind the head like a real indexer).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter

from aiohttp import web
from antelopy.serializers.assets import serialize_asset
from antelopy.serializers.names import deserialize_name, serialize_name

from scanner.devnet.loopthread import ServedApp
from support.httpfaults import HttpFaults, fault_middleware


def name_ok(text: object) -> bool:
    return isinstance(text, str) and 0 < len(text) <= 12 and deserialize_name(serialize_name(text)) == text


def render(asset: bytes) -> str:
    amount, precision, symbol = int.from_bytes(asset[:8], "little", signed=True), asset[8], asset[9:16].rstrip(b"\0").decode()
    whole, frac = divmod(amount, 10**precision)
    return f"{whole}.{frac:0{precision}d} {symbol}" if precision else f"{whole} {symbol}"


def quantity(amount: int, symbol: str, precision: int) -> str:
    """An asset string built and checked through the chain's serialized form."""
    whole, frac = divmod(amount, 10**precision)
    text = f"{whole}.{frac:0{precision}d} {symbol}" if precision else f"{whole} {symbol}"
    assert render(serialize_asset(text)) == text
    return text


class FakeAntelope:
    def __init__(self, *, head: int = 400_000_000, index_lag: int = 0):
        self.head = head
        self.index_lag = index_lag
        self.rows: dict[tuple[str, str, str], list[tuple[int, bytes]]] = {}  # (code, account, symbol) -> steps
        self.actions: list[dict] = []
        self.sequence = 90_000_000_000
        self.faults = HttpFaults()
        self.calls: Counter[str] = Counter()

    def block_id(self, n: int) -> str:
        return n.to_bytes(4, "big").hex() + hashlib.sha256(b"FAKE eos block" + n.to_bytes(8, "big")).hexdigest()[8:]

    def mine(self, n: int = 1) -> None:
        self.head += n

    def amount(self, code: str, account: str, symbol: str, at: int | None = None) -> int | None:
        steps = [v for b, v in self.rows.get((code, account, symbol), []) if b <= (self.head if at is None else at)]
        return int.from_bytes(steps[-1][:8], "little", signed=True) if steps else None

    def _set(self, code: str, account: str, symbol: str, precision: int, amount: int) -> None:
        self.rows.setdefault((code, account, symbol), []).append((self.head, serialize_asset(quantity(amount, symbol, precision))))

    def fund(self, code: str, account: str, symbol: str, precision: int, amount: int) -> None:
        assert name_ok(account) and name_ok(code)
        self._set(code, account, symbol, precision, amount)

    def _record(self, code: str, name: str, actor: str, data: dict) -> None:
        self.sequence += 1
        self.actions.append({"@timestamp": "2026-01-01T00:00:00.000", "timestamp": "2026-01-01T00:00:00.000",
                             "block_num": self.head, "global_sequence": self.sequence, "trx_id": f"{self.sequence:064x}",
                             "producer": "eosnationftw", "act": {"account": code, "name": name,
                                                               "authorization": [{"actor": actor, "permission": "active"}],
                                                               "data": data}})

    def transfer(self, code: str, frm: str, to: str, symbol: str, precision: int, amount: int) -> None:
        """One transfer in a new block (balances and the action both at that block)."""
        self.mine()
        for who, sign in ((frm, -1), (to, 1)):
            self._set(code, who, symbol, precision, (self.amount(code, who, symbol) or 0) + sign * amount)
        q = quantity(amount, symbol, precision)
        self._record(code, "transfer", frm, {"from": frm, "to": to, "quantity": q, "memo": "FAKE",
                                             "amount": amount / 10**precision, "symbol": symbol})

    def issue(self, code: str, issuer: str, symbol: str, precision: int, amount: int) -> None:
        self.mine()
        self._set(code, issuer, symbol, precision, (self.amount(code, issuer, symbol) or 0) + amount)
        self._record(code, "issue", issuer, {"to": issuer, "quantity": quantity(amount, symbol, precision), "memo": ""})

    @staticmethod
    def _nodeos_error(code: int, name: str, what: str, message: str) -> web.Response:
        return web.json_response({"code": 500, "message": "Internal Service Error",
                                  "error": {"code": code, "name": name, "what": what,
                                            "details": [{"message": message, "file": "name.cpp", "line_number": 19,
                                                         "method": "set"}]}}, status=500)

    async def get_info(self, request: web.Request) -> web.Response:
        self.calls["get_info"] += 1
        return web.json_response({"server_version": "FAKE", "chain_id": "aca376f2" + "0" * 56, "head_block_num": self.head,
                                  "last_irreversible_block_num": self.head - 325, "head_block_id": self.block_id(self.head),
                                  "head_block_time": f"2026-01-01T00:{self.head % 60:02d}:00.000",
                                  "head_block_producer": "eosnationftw"})

    async def get_currency_balance(self, request: web.Request) -> web.Response:
        self.calls["get_currency_balance"] += 1
        body = await request.json()
        code, account, symbol = body.get("code"), body.get("account"), body.get("symbol")
        for value in (code, account):
            if not name_ok(value):
                return self._nodeos_error(3010001, "name_type_exception", "Invalid name",
                                          f"Name not properly normalized (name: {value})")
        if not any(k[0] == code for k in self.rows):
            return self._nodeos_error(0, "exception", "unspecified", f"unknown key (eosio::chain::name): {code}")
        steps = [v for b, v in self.rows.get((code, account, symbol), []) if b <= self.head]
        return web.json_response([render(steps[-1])] if steps else [])

    async def get_block(self, request: web.Request) -> web.Response:
        self.calls["get_block"] += 1
        n = (await request.json()).get("block_num_or_id")
        if not isinstance(n, int) or not 0 < n <= self.head:
            return self._nodeos_error(3100002, "unknown_block_exception", "Unknown block", f"Could not find block: {n}")
        return web.json_response({"id": self.block_id(n), "block_num": n, "timestamp": "2026-01-01T00:00:00.000",
                                  "producer": "eosnationftw", "transactions": []})

    async def health(self, request: web.Request) -> web.Response:
        self.calls["health"] += 1
        return web.json_response({"version": "FAKE", "health": [
            {"service": "NodeosRPC", "status": "OK", "service_data": {"head_block_num": self.head}},
            {"service": "Elasticsearch", "status": "OK",
             "service_data": {"last_indexed_block": self.head - self.index_lag, "total_indexed_blocks": self.head}}]})

    async def get_actions(self, request: web.Request) -> web.Response:
        self.calls["get_actions"] += 1
        q = request.query
        account = q.get("account", "")
        wanted = {tuple(f.split(":", 1)) for f in q.get("filter", "").split(",") if ":" in f}
        indexed = self.head - self.index_lag

        def involves(a: dict) -> bool:
            data, auth = a["act"]["data"], a["act"]["authorization"]
            return account in (data.get("from"), data.get("to")) or any(x["actor"] == account for x in auth)

        found = [a for a in self.actions if a["block_num"] <= indexed and involves(a)
                 and (not wanted or (a["act"]["account"], a["act"]["name"]) in wanted)]
        found.sort(key=lambda a: a["global_sequence"], reverse=q.get("sort", "desc") in ("desc", "-1"))
        skip, limit = int(q.get("skip", 0)), min(int(q.get("limit", 10)), 1000)
        return web.json_response({"query_time_ms": 1.0, "cached": False, "lib": self.head - 325,
                                  "total": {"value": len(found), "relation": "eq"}, "actions": found[skip:skip + limit]})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[fault_middleware(lambda: self.faults)])
        app.router.add_post("/v1/chain/get_info", self.get_info)
        app.router.add_post("/v1/chain/get_currency_balance", self.get_currency_balance)
        app.router.add_post("/v1/chain/get_block", self.get_block)
        app.router.add_get("/v2/health", self.health)
        app.router.add_get("/v2/history/get_actions", self.get_actions)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


def account_name(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz12345") for _ in range(12))


def antelope_world(fake: FakeAntelope, n: int, seed: str = "eos", moves: int = 40) -> dict:
    """``n`` accounts holding EOS (eosio.token) and USDT (tethertether) at the snapshot, then ``moves``
    transfers (in, out, between two of them, to self) and an issue after it."""
    rng = random.Random(seed)
    accounts = [account_name(rng) for _ in range(n)]
    outsider = "outsider1111"
    fake.fund("eosio.token", outsider, "EOS", 4, 10**14)
    fake.fund("tethertether", "tethertether", "USDT", 4, 10**14)
    fake.fund("tethertether", outsider, "USDT", 4, 10**14)
    for i, a in enumerate(accounts):
        if i % 6:
            fake.fund("eosio.token", a, "EOS", 4, rng.randrange(1, 10**12))
        fake.fund("tethertether", a, "USDT", 4, rng.randrange(0, 10**11))
    fake.mine(2)
    # a few transfers before the snapshot too, so history below it exists and must be left alone
    fake.transfer("eosio.token", outsider, accounts[1], "EOS", 4, 12345)
    snapshot = fake.head
    eos = {a: fake.amount("eosio.token", a, "EOS") or 0 for a in accounts}
    usdt = {a: fake.amount("tethertether", a, "USDT") or 0 for a in accounts}
    for k in range(moves):
        rich = [x for x in accounts[1:] if (fake.amount("eosio.token", x, "EOS") or 0) >= 2]
        a = rng.choice(rich)
        b = rng.choice([x for x in accounts if x != a])
        kind = k % 4
        if kind == 0:
            fake.transfer("eosio.token", outsider, a, "EOS", 4, rng.randrange(1, 10**8))
        elif kind == 1:
            fake.transfer("eosio.token", a, outsider, "EOS", 4, rng.randrange(1, fake.amount("eosio.token", a, "EOS") or 2))
        elif kind == 2:
            fake.transfer("eosio.token", a, b, "EOS", 4, rng.randrange(1, fake.amount("eosio.token", a, "EOS") or 2))
        else:
            fake.transfer("tethertether", outsider, a, "USDT", 4, rng.randrange(1, 10**8))
    fake.transfer("eosio.token", accounts[2], accounts[2], "EOS", 4, 1)
    fake.issue("tethertether", "tethertether", "USDT", 4, 5 * 10**9)
    latest = {a: fake.amount("eosio.token", a, "EOS") or 0 for a in accounts}
    return {"snapshot": snapshot, "accounts": accounts, "eos": eos, "usdt": usdt, "eos_latest": latest}
