"""FAKE rippled JSON-RPC server (tests and bench only): no rippled node can run here.

Ledger state is kept as the XRP Ledger's own binary objects: every ``AccountRoot``, ``RippleState``
(trust line) and ``FeeSettings`` entry is serialized with xrpl-py's binary codec and answers decode it
back, so field names, amount formats and canonical IOU values are the codec's, not hand-written. Keys
are real (xrpl-py wallets), entry indexes the real SHA-512Half keylets, ledger hashes SHA-512Half of the
ledger header with the ``LWR`` prefix (the state hash is a plain hash of the sorted entries, NOT a
SHAMap root). Requests are checked with xrpl-py's request models.

Served methods (rippled API v2 shapes): ``ledger``, ``ledger_entry`` (by index), ``account_info``,
``account_lines`` (``peer``, ``limit``, ``marker``). Documented error shapes: ``lgrNotFound`` for a ledger
below ``oldest`` (online deletion) or not yet closed, ``actNotFound`` with ``validated`` and
``ledger_index``, ``actMalformed``. Ledgers above ``validated_up_to`` answer ``validated: false``.
Its endpoint label is ``FAKE-rippled``; faults come from tests/support/faultproxy.py in front of it.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web
from xrpl.core.addresscodec import decode_classic_address, is_valid_classic_address
from xrpl.core.binarycodec import decode, encode
from xrpl.models.requests import AccountInfo, AccountLines, Ledger, LedgerEntry
from xrpl.wallet import Wallet

from scanner.devnet.loopthread import ServedApp

LABEL = "FAKE-rippled"
FEE_SETTINGS_INDEX = "4BC50C9B0D8515D3EAAE1E74B29A95804346C491EE1A95BF25E4AAB854A6A651"
ACCOUNT_ZERO = "rrrrrrrrrrrrrrrrrrrrBZbvji"
RLUSD_ISSUER = "rMxCKbEDwqr76QuheSUMdEGf4B9xJ8m5De"  # Ripple's RLUSD issuer (docs.ripple.com token addresses)
RLUSD_HEX = b"RLUSD".hex().upper().ljust(40, "0")
GENESIS = 80_000_000  # first ledger index of the fake chain (mainnet-like numbers)


def sha512half(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()[:32]


def account_root_index(address: str) -> str:
    return sha512half(b"\x00\x61" + decode_classic_address(address)).hex().upper()


def ripple_state_index(a: str, b: str, currency_hex: str) -> str:
    lo, hi = sorted((decode_classic_address(a), decode_classic_address(b)))
    code = bytes(12) + currency_hex.encode() + bytes(5) if len(currency_hex) == 3 else bytes.fromhex(currency_hex)
    return sha512half(b"\x00\x72" + lo + hi + code).hex().upper()


def wallet(name: str) -> Wallet:
    """A real XRP Ledger key pair derived from a name (ed25519 from a hashed 16-byte entropy seed)."""
    from xrpl.core.addresscodec import encode_seed
    from xrpl.constants import CryptoAlgorithm

    entropy = hashlib.sha256(f"porscan-fake-xrpl/{name}".encode()).digest()[:16]
    return Wallet.from_seed(encode_seed(entropy, CryptoAlgorithm.ED25519))


@dataclass
class LedgerVersion:
    index: int
    hash: str
    close_time: int
    entries: dict[str, str]  # index -> binary-codec hex blob
    holders: dict[str, set[str]] = field(default_factory=dict)  # address -> indexes of its RippleState entries


@dataclass
class FakeRippled:
    """The chain: ledgers by index, each a full state of binary entries."""

    oldest: int = GENESIS  # ledgers below this are pruned (lgrNotFound)
    validated_up_to: int | None = None  # None: every ledger is validated
    ledgers: dict[int, LedgerVersion] = field(default_factory=dict)
    served: int = 0
    calls: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ building the chain

    @property
    def head(self) -> LedgerVersion:
        return self.ledgers[max(self.ledgers)]

    def close(self, accounts: dict[str, tuple[int, int]] | None = None,
              lines: dict[tuple[str, str, str], str] | None = None, fees: dict | None = None,
              delete: tuple[str, ...] = ()) -> LedgerVersion:
        """A new ledger from the last one: ``accounts`` address -> (drops, owner count); ``lines``
        (holder, issuer, currency hex) -> the holder's balance as a decimal string; ``fees`` the
        FeeSettings fields; ``delete`` accounts removed (AccountDelete)."""
        prev = self.head if self.ledgers else None
        entries = dict(prev.entries) if prev else {}
        holders = {a: set(v) for a, v in prev.holders.items()} if prev else {}
        index = prev.index + 1 if prev else GENESIS
        if fees is not None or prev is None:
            fees = fees or {"ReserveBase": 10_000_000, "ReserveIncrement": 2_000_000, "BaseFee": "000000000000000A",
                            "ReferenceFeeUnits": 10}
            entries[FEE_SETTINGS_INDEX] = encode({"LedgerEntryType": "FeeSettings", "Flags": 0, **fees})
        for address, (drops, owners) in (accounts or {}).items():
            entries[account_root_index(address)] = encode({
                "LedgerEntryType": "AccountRoot", "Account": address, "Balance": str(drops), "Flags": 0,
                "OwnerCount": owners, "Sequence": index, "PreviousTxnID": hashlib.sha256(f"{address}{index}".encode())
                .hexdigest().upper(), "PreviousTxnLgrSeq": index})
        for address in delete:
            entries.pop(account_root_index(address), None)
        for (holder, issuer, currency), value in (lines or {}).items():
            low_is_holder = decode_classic_address(holder) < decode_classic_address(issuer)
            low, high = (holder, issuer) if low_is_holder else (issuer, holder)
            balance = value if low_is_holder else str(-Decimal(value))
            key = ripple_state_index(holder, issuer, currency)
            holders.setdefault(holder, set()).add(key)
            holders.setdefault(issuer, set()).add(key)
            entries[key] = encode({
                "LedgerEntryType": "RippleState", "Flags": 0x00020000 if low_is_holder else 0x00010000,
                "Balance": {"currency": currency, "issuer": ACCOUNT_ZERO, "value": balance},
                "LowLimit": {"currency": currency, "issuer": low, "value": "1000000000" if low_is_holder else "0"},
                "HighLimit": {"currency": currency, "issuer": high, "value": "0" if low_is_holder else "1000000000"},
                "LowNode": "0", "HighNode": "0", "PreviousTxnID": "00" * 32, "PreviousTxnLgrSeq": index})
        close_time = 800_000_000 + 4 * (index - GENESIS)
        state = sha512half(b"".join(bytes.fromhex(k) + bytes.fromhex(v) for k, v in sorted(entries.items())))
        parent = bytes.fromhex(prev.hash) if prev else b"\x00" * 32
        header = (b"LWR\x00" + index.to_bytes(4, "big") + (99_987_000_000 * 10**6).to_bytes(8, "big") + parent
                  + b"\x00" * 32 + state + (close_time - 4).to_bytes(4, "big") + close_time.to_bytes(4, "big")
                  + bytes([10, 0]))
        led = LedgerVersion(index, sha512half(header).hex().upper(), close_time, entries, holders)
        self.ledgers[index] = led
        return led

    # ------------------------------------------------------------------ answering

    def _validated(self, index: int) -> bool:
        return self.validated_up_to is None or index <= self.validated_up_to

    def _find(self, spec) -> LedgerVersion | None:
        if spec in (None, "validated"):
            ok = [i for i in self.ledgers if self._validated(i)]
            return self.ledgers[max(ok)] if ok else None
        if spec in ("current", "closed"):
            return self.head
        if isinstance(spec, str) and spec.isdigit():
            spec = int(spec)
        if not isinstance(spec, int) or spec < self.oldest:
            return None
        return self.ledgers.get(spec)

    @staticmethod
    def _error(error: str, code: int, message: str, request: dict, **extra) -> dict:
        return {"error": error, "error_code": code, "error_message": message, "request": request, "status": "error",
                **extra}

    def answer(self, method: str, p: dict) -> dict:
        self.calls[method] = self.calls.get(method, 0) + 1
        request = {"command": method, **p}
        led = self._find(p.get("ledger_index", "validated"))
        if led is None:
            return self._error("lgrNotFound", 21, "ledgerNotFound", request)
        where = {"ledger_hash": led.hash, "ledger_index": led.index, "validated": self._validated(led.index)}
        if method == "ledger":
            Ledger(ledger_index=p.get("ledger_index", "validated"))
            return {"ledger": {"ledger_index": led.index, "ledger_hash": led.hash, "close_time": led.close_time,
                               "closed": True, "total_coins": str(99_987_000_000 * 10**6)}, **where, "status": "success"}
        if method == "ledger_entry":
            LedgerEntry(index=p["index"], ledger_index=p.get("ledger_index", "validated"))
            blob = led.entries.get(str(p["index"]).upper())
            if blob is None:
                return self._error("entryNotFound", 21, "Entry not found.", request, **where)
            return {"index": p["index"], "node": decode(blob), **where, "status": "success"}
        account = p.get("account")
        if not isinstance(account, str) or not is_valid_classic_address(account):
            return self._error("actMalformed", 35, "Account malformed.", request, **where)
        root = led.entries.get(account_root_index(account))
        if root is None:
            return self._error("actNotFound", 19, "Account not found.", request, account=account, **where)
        if method == "account_info":
            AccountInfo(account=account, ledger_index=led.index, strict=bool(p.get("strict", False)))
            return {"account_data": {**decode(root), "index": account_root_index(account)}, **where,
                    "status": "success"}
        if method == "account_lines":
            AccountLines(account=account, ledger_index=led.index, peer=p.get("peer"), limit=p.get("limit"))
            return {**self._lines(led, account, p), **where, "status": "success"}
        return self._error("unknownCmd", 32, "Unknown method.", request)

    def _lines(self, led: LedgerVersion, account: str, p: dict) -> dict:
        out = []
        for key in sorted(led.holders.get(account, ())):
            node = decode(led.entries[key])
            low, high = node["LowLimit"]["issuer"], node["HighLimit"]["issuer"]
            if account not in (low, high):
                continue
            peer = high if account == low else low
            if p.get("peer") and p["peer"] != peer:
                continue
            value = node["Balance"]["value"]
            mine, theirs = (node["LowLimit"], node["HighLimit"]) if account == low else (node["HighLimit"], node["LowLimit"])
            out.append({"account": peer, "balance": value if account == low else str(-Decimal(value)),
                        "currency": node["Balance"]["currency"], "limit": mine["value"], "limit_peer": theirs["value"],
                        "quality_in": 0, "quality_out": 0})
        start = int(p["marker"]) if isinstance(p.get("marker"), str) and p["marker"].isdigit() else 0
        limit = max(10, min(400, int(p.get("limit") or 200)))
        page = out[start:start + limit]
        reply = {"account": account, "lines": page}
        if start + limit < len(out):
            reply["marker"] = str(start + limit)
        return reply

    async def _handle(self, request: web.Request) -> web.Response:
        self.served += 1
        try:
            body = json.loads(await request.read())
            method, params = body["method"], (body.get("params") or [{}])[0]
        except (ValueError, KeyError, IndexError, TypeError):
            return web.json_response({"result": {"error": "invalidParams", "status": "error"}}, status=400)
        return web.json_response({"result": self.answer(method, params)})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/", self._handle)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


# ------------------------------------------------------------------ a world for tests and the bench

def xrpl_world(fake: FakeRippled, n: int = 12, seed: str = "w") -> dict:
    """Accounts with XRP and RLUSD across ledgers: ``snapshot`` (a validated ledger), ``at`` the balances
    there (drops; RLUSD in units of 10**-decimals), ``later`` what changed after it."""
    rng = random.Random(seed)
    addrs = [wallet(f"{seed}/{i}").classic_address for i in range(n)]
    fake.close(accounts={RLUSD_ISSUER: (50 * 10**6, 0)})
    accounts = {a: (rng.randrange(20, 10**10) * 10**6 + rng.randrange(10**6), rng.randrange(0, 5)) for a in addrs}
    lines = {(a, RLUSD_ISSUER, RLUSD_HEX): f"{rng.randrange(1, 10**9)}.{rng.randrange(10**6):06d}"
             for a in addrs[: n // 2]}
    fake.close(accounts=accounts, lines=lines)
    snap = fake.close(fees={"ReserveBaseDrops": "1000000", "ReserveIncrementDrops": "200000", "BaseFeeDrops": "10"})
    changed = addrs[0]
    late = wallet(f"{seed}/late").classic_address  # created after the snapshot
    fake.close(accounts={changed: (accounts[changed][0] + 777_000_000, accounts[changed][1]), late: (25 * 10**6, 0)},
               lines={(changed, RLUSD_ISSUER, RLUSD_HEX): "1.5"})
    fake.close()
    return {"addresses": addrs, "snapshot": snap.index, "snapshot_hash": snap.hash, "late": late, "changed": changed,
            "xrp": {a: d for a, (d, _) in accounts.items()}, "owners": {a: o for a, (_, o) in accounts.items()},
            "rlusd": {a: int(Decimal(lines[(a, RLUSD_ISSUER, RLUSD_HEX)]) * 10**18) if (a, RLUSD_ISSUER, RLUSD_HEX) in lines
                      else 0 for a in addrs},
            "reserve": (1_000_000, 200_000)}


def bench_world(fake: FakeRippled, n: int) -> dict[str, int]:
    """``n`` funded accounts at one ledger (fast: no wallet derivation), expected drops per address."""
    from chains.xrp import encode_account

    rng = random.Random(n)
    accounts = {encode_account(hashlib.sha256(f"bench/{i}".encode()).digest()[:20]): (rng.randrange(10**6, 10**15), 0)
                for i in range(n)}
    fake.close(accounts=accounts)
    fake.close()
    return {a: d for a, (d, _) in accounts.items()}


def main() -> None:  # python tests/support/fake_xrpl.py --accounts N: serve, print the URL, run until killed
    import argparse
    import time

    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=1000)
    args = p.parse_args()
    fake = FakeRippled()
    expected = bench_world(fake, args.accounts)
    with fake.serve() as srv:
        print(json.dumps({"url": srv.url, "ledger": fake.head.index - 1, "expected": expected}), flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
