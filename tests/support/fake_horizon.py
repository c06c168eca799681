"""FAKE Stellar Horizon server (tests and bench only): no stellar-core / Horizon can run here.

State is kept as Stellar's own XDR, built with stellar-sdk: every account is an ``AccountEntry`` and
every trust line a ``TrustLineEntry`` inside a ``LedgerEntry`` whose ``lastModifiedLedgerSeq`` is the
ledger that last changed it; ledger hashes are SHA-256 of the XDR ``LedgerHeader`` (as on the network;
the bucket-list hash inside is a plain hash of the entries, NOT a bucket list). Keys are real ed25519
key pairs (stellar-sdk ``Keypair``), addresses StrKeys. Answers are decoded back from the XDR into
Horizon's JSON shapes.

Routes: ``/`` (root: ``history_latest_ledger``, ``history_elder_ledger``, ``network_passphrase``),
``/ledgers/{seq}`` (404 below the elder ledger: history not kept), ``/accounts/{id}`` (the latest
state only, like Horizon; ``Latest-Ledger`` header on every answer; a ``not_found`` problem for an
absent account, ``bad_request`` for a malformed id).

Faults at ``fault_rate`` (only on paths starting with ``fault_prefix``): HTTP 429, HTTP 500, a reply
slower than the client's timeout, truncated JSON, and a 404 without Horizon's problem body (a proxy's).
Its endpoint label is ``FAKE-horizon``.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair, StrKey
from stellar_sdk import xdr as x

from support.faultproxy import http_fault_reply
from scanner.devnet.loopthread import ServedApp

LABEL = "FAKE-horizon"
PASSPHRASE = "Public Global Stellar Network ; September 2015"
USDC_ISSUER = "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN"  # Circle (developers.circle.com)
GENESIS = 50_000_000
FAULTS = ("http429", "http500", "timeout", "truncated", "proxy404")


def keypair(name: str) -> Keypair:
    return Keypair.from_raw_ed25519_seed(hashlib.sha256(f"porscan-fake-stellar/{name}".encode()).digest())


def amount_text(stroops: int) -> str:
    return f"{stroops // 10**7}.{stroops % 10**7:07d}"


@dataclass
class LedgerVersion:
    seq: int
    hash: str
    closed_at: str
    accounts: dict[str, str]  # account id -> LedgerEntry XDR (base64)
    lines: dict[tuple[str, str, str], str]  # (account, code, issuer) -> LedgerEntry XDR


@dataclass
class FakeHorizon:
    fault_rate: float = 0.0
    seed: int = 1
    timeout_sleep: float = 1.5
    fault_prefix: str = "/accounts"
    elder: int = GENESIS  # ledgers below are not in this Horizon's history
    ledgers: dict[int, LedgerVersion] = field(default_factory=dict)
    injected: Counter = field(default_factory=Counter)
    served: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def head(self) -> LedgerVersion:
        return self.ledgers[max(self.ledgers)]

    def close(self, accounts: dict[str, int] | None = None, lines: dict[tuple[str, str, str], int] | None = None,
              merge: tuple[str, ...] = ()) -> LedgerVersion:
        """A new ledger: ``accounts`` id -> stroops, ``lines`` (id, code, issuer) -> stroops, ``merge``
        accounts removed. Every entry written gets this ledger as its lastModifiedLedgerSeq."""
        prev = self.head if self.ledgers else None
        seq = prev.seq + 1 if prev else GENESIS
        accts = dict(prev.accounts) if prev else {}
        tl = dict(prev.lines) if prev else {}
        new_lines = {k[0] for k in (lines or {}) if k not in tl}  # a new trust line changes its account's sub-entry count
        for key, value in (lines or {}).items():
            tl[key] = self._line_entry(seq, *key, value)
        touched = set(accounts or {}) | new_lines
        for acct in touched:
            balance = (accounts or {}).get(acct)
            if balance is None:  # rewritten for its new sub-entry count
                balance = self._account_balance(accts[acct])
            subs = sum(1 for k in tl if k[0] == acct)
            accts[acct] = self._account_entry(seq, acct, balance, subs)
        for acct in merge:
            accts.pop(acct, None)
            for k in [k for k in tl if k[0] == acct]:
                del tl[k]
        bucket = hashlib.sha256("".join(sorted(accts.values()) + sorted(tl.values())).encode()).digest()
        close_time = 1_700_000_000 + 5 * (seq - GENESIS)
        header = x.LedgerHeader(
            ledger_version=x.Uint32(22), previous_ledger_hash=x.Hash(bytes.fromhex(prev.hash) if prev else bytes(32)),
            scp_value=x.StellarValue(x.Hash(bytes(32)), x.TimePoint(x.Uint64(close_time)), [],
                                     x.StellarValueExt(x.StellarValueType.STELLAR_VALUE_BASIC)),
            tx_set_result_hash=x.Hash(bytes(32)), bucket_list_hash=x.Hash(bucket), ledger_seq=x.Uint32(seq),
            total_coins=x.Int64(1_054_439_020_873_472_865), fee_pool=x.Int64(0), inflation_seq=x.Uint32(0),
            id_pool=x.Uint64(0), base_fee=x.Uint32(100), base_reserve=x.Uint32(5_000_000),
            max_tx_set_size=x.Uint32(1000), skip_list=[x.Hash(bytes(32))] * 4, ext=x.LedgerHeaderExt(0))
        import datetime as dt

        when = dt.datetime.fromtimestamp(close_time, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        led = LedgerVersion(seq, hashlib.sha256(header.to_xdr_bytes()).hexdigest(), when, accts, tl)
        self.ledgers[seq] = led
        return led

    @staticmethod
    def _account_entry(seq: int, account: str, stroops: int, subs: int) -> str:
        entry = x.AccountEntry(
            account_id=Keypair.from_public_key(account).xdr_account_id(), balance=x.Int64(stroops),
            seq_num=x.SequenceNumber(x.Int64(seq << 32)), num_sub_entries=x.Uint32(subs), inflation_dest=None,
            flags=x.Uint32(0), home_domain=x.String32(b""), thresholds=x.Thresholds(bytes([1, 0, 0, 0])), signers=[],
            ext=x.AccountEntryExt(0))
        return x.LedgerEntry(x.Uint32(seq), x.LedgerEntryData(x.LedgerEntryType.ACCOUNT, account=entry),
                             x.LedgerEntryExt(0)).to_xdr()

    @staticmethod
    def _line_entry(seq: int, account: str, code: str, issuer: str, stroops: int) -> str:
        line = x.TrustLineEntry(
            account_id=Keypair.from_public_key(account).xdr_account_id(),
            asset=SdkAsset(code, issuer).to_trust_line_asset_xdr_object(), balance=x.Int64(stroops),
            limit=x.Int64(2**63 - 1), flags=x.Uint32(1), ext=x.TrustLineEntryExt(0))
        return x.LedgerEntry(x.Uint32(seq), x.LedgerEntryData(x.LedgerEntryType.TRUSTLINE, trust_line=line),
                             x.LedgerEntryExt(0)).to_xdr()

    @staticmethod
    def _account_balance(entry_xdr: str) -> int:
        return x.LedgerEntry.from_xdr(entry_xdr).data.account.balance.int64

    # ------------------------------------------------------------------ Horizon JSON from the XDR

    def account_json(self, led: LedgerVersion, account: str) -> dict | None:
        raw = led.accounts.get(account)
        if raw is None:
            return None
        entry = x.LedgerEntry.from_xdr(raw)
        acct = entry.data.account
        balances = []
        for (holder, code, issuer), line_xdr in sorted(led.lines.items()):
            if holder != account:
                continue
            le = x.LedgerEntry.from_xdr(line_xdr)
            tl = le.data.trust_line
            asset = SdkAsset.from_xdr_object(tl.asset)
            balances.append({"balance": amount_text(tl.balance.int64), "limit": amount_text(tl.limit.int64),
                             "buying_liabilities": "0.0000000", "selling_liabilities": "0.0000000",
                             "last_modified_ledger": le.last_modified_ledger_seq.uint32, "is_authorized": True,
                             "asset_type": asset.type, "asset_code": asset.code, "asset_issuer": asset.issuer})
        balances.append({"balance": amount_text(acct.balance.int64), "buying_liabilities": "0.0000000",
                         "selling_liabilities": "0.0000000", "asset_type": "native"})
        account_id = StrKey.encode_ed25519_public_key(acct.account_id.account_id.ed25519.uint256)
        return {"id": account_id, "account_id": account_id, "sequence": str(acct.seq_num.sequence_number.int64),
                "subentry_count": acct.num_sub_entries.uint32, "last_modified_ledger": entry.last_modified_ledger_seq.uint32,
                "thresholds": {"low_threshold": 0, "med_threshold": 0, "high_threshold": 0},
                "flags": {"auth_required": False}, "balances": balances, "signers": [], "data": {},
                "paging_token": account_id}

    @staticmethod
    def problem(status: int, kind: str, title: str) -> web.Response:
        return web.json_response({"type": f"https://stellar.org/horizon-errors/{kind}", "title": title,
                                  "status": status, "detail": title}, status=status,
                                 content_type="application/problem+json")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.served += 1
        path = request.path
        fault = None
        if path.startswith(self.fault_prefix) and self.rng.random() < self.fault_rate:
            fault = self.rng.choice(FAULTS)
            self.injected[fault] += 1
        canned = await http_fault_reply(fault, self.timeout_sleep, "Horizon exploded")
        if canned is not None:
            return canned
        if fault == "proxy404":
            return web.Response(status=404, text="<html>404 Not Found</html>", content_type="text/html")
        head = self.head
        headers = {"Latest-Ledger": str(head.seq)}
        if path == "/":
            body = {"horizon_version": "FAKE", "core_version": "FAKE", "history_latest_ledger": head.seq,
                    "history_latest_ledger_closed_at": head.closed_at, "history_elder_ledger": self.elder,
                    "core_latest_ledger": head.seq, "network_passphrase": PASSPHRASE}
        elif path.startswith("/ledgers/"):
            tail = path.rsplit("/", 1)[1]
            led = self.ledgers.get(int(tail)) if tail.isdigit() else None
            if led is None or led.seq < self.elder:
                return self.problem(404, "not_found", "Resource Missing")
            body = {"id": led.hash, "hash": led.hash, "sequence": led.seq, "closed_at": led.closed_at}
        elif path.startswith("/accounts/"):
            account = path.rsplit("/", 1)[1]
            if not StrKey.is_valid_ed25519_public_key(account):
                return self.problem(400, "bad_request", "Bad Request")
            body = self.account_json(head, account)
            if body is None:
                return self.problem(404, "not_found", "Resource Missing")
        else:
            return self.problem(404, "not_found", "Resource Missing")
        text = json.dumps(body)
        if fault == "truncated":
            text = text[: len(text) // 2]
        return web.Response(text=text, content_type="application/hal+json", headers=headers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        return app

    def serve(self) -> ServedApp:
        return ServedApp(self.app())


def stellar_world(fake: FakeHorizon, n: int = 10, seed: str = "w") -> dict:
    """Accounts with XLM and USDC; ``snapshot`` a past ledger; some change after it."""
    rng = random.Random(seed)
    addrs = [keypair(f"{seed}/{i}").public_key for i in range(n)]
    xlm = {a: rng.randrange(10**7, 10**16) for a in addrs}
    usdc = {a: rng.randrange(1, 10**15) for a in addrs[: n // 2]}
    fake.close(accounts={USDC_ISSUER: 10**9})
    fake.close(accounts=xlm, lines={(a, "USDC", USDC_ISSUER): v for a, v in usdc.items()})
    snap = fake.close()
    changed, line_changed, merged = addrs[0], addrs[1], addrs[2]
    late = keypair(f"{seed}/late").public_key
    fake.close(accounts={changed: xlm[changed] + 123_4567890, late: 50 * 10**7},
               lines={(line_changed, "USDC", USDC_ISSUER): usdc[line_changed] + 1})
    fake.close(merge=(merged,))
    fake.close()
    return {"addresses": addrs, "snapshot": snap.seq, "snapshot_hash": snap.hash, "xlm": xlm,
            "usdc": {a: usdc.get(a, 0) for a in addrs}, "changed": changed, "line_changed": line_changed,
            "merged": merged, "late": late}


def bench_world(fake: FakeHorizon, n: int) -> dict[str, int]:
    from chains.stellar import encode_account

    rng = random.Random(n)
    accounts = {encode_account(hashlib.sha256(f"bench/{i}".encode()).digest()): rng.randrange(10**7, 10**16)
                for i in range(n)}
    fake.close(accounts=accounts)
    fake.close()
    return accounts


def main() -> None:  # python tests/support/fake_horizon.py --accounts N: serve, print the URL, run until killed
    import argparse
    import time

    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--fault-rate", type=float, default=0.0)
    args = p.parse_args()
    fake = FakeHorizon(fault_rate=args.fault_rate, timeout_sleep=3.0)
    expected = bench_world(fake, args.accounts)
    with fake.serve() as srv:
        print(json.dumps({"url": srv.url, "ledger": fake.head.seq - 1, "expected": expected}), flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
