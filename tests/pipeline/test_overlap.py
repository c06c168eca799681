"""``porscan overlap`` and ``overlap_notes``: addresses claimed by two exchanges' stored runs (and by an
imported list), and the amount counted twice, exact. Runs are written through the Store's own API
with chosen balances, so every expected figure is computed here from what was stored."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from scanner.amounts import from_base_units
from scanner.cli.main import main
from scanner.pipeline.overlap import overlap_notes
from scanner.records import BalanceRecord
from scanner.storage import RunSpec, open_store
from support.common import run

DEC = {"ETH": 18, "USDT": 6, "BTC": 8}
X1 = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"  # A spells it mixed-case, B lower-case
X2 = "0x" + "22" * 20
X3 = "0x" + "33" * 20
Y = "0x" + "44" * 20
BTC_ADDR = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"

# exchange -> (snapshot date, [(network, address, asset, on-chain base units or None = unread)])
RUNS = {
    "A": ("2025-06-30", [("ethereum", X1, "ETH", 1_500_000_000_000_000_000), ("ethereum", X1, "USDT", 100_000_000),
                         ("ethereum", X2, "ETH", 2 * 10**18), ("ethereum", X3, "USDT", 7_250_000),
                         ("ethereum", Y, "USDT", 5_000_000), ("bitcoin", BTC_ADDR, "BTC", 50_000_000)]),
    "B": ("2025-07-03", [("ethereum", X1.lower(), "ETH", 1_500_000_000_000_000_000),
                         ("ethereum", X1.lower(), "USDT", 90_000_001),  # read at another block: differs
                         ("arbitrum", X2, "ETH", 3 * 10**18),  # same hex, other chain: not the same coins
                         ("ethereum", Y, "USDT", None),  # unread: never a zero
                         ("bitcoin", BTC_ADDR.upper(), "BTC", 50_000_000)]),
    "C": ("2025-06-01", [("ethereum", X2, "ETH", 2 * 10**18)]),  # 29 days before A: not the same time at 7
}


async def _write(store, exchange: str, day: str, entries) -> int:
    digest = hashlib.sha256(f"{exchange}/{day}".encode()).hexdigest()
    r = await store.start_run(RunSpec(exchange=exchange, input_path=f"{exchange}.csv", input_sha256=digest,
                                      liabilities_path=None, liabilities_sha256=None, params={}, tool_version="t",
                                      snapshot_date=day))
    balances = [BalanceRecord(line=i + 2, coin=asset, network=net, asset=asset, address=addr, snapshot_height=100,
                              published_base_units=units, onchain_base_units=units, decimals=DEC[asset],
                              block_number=None if units is None else 100, block_hash=None,
                              at_snapshot=None if units is None else True,
                              status="unread" if units is None else "match", reason="", endpoint="e")
                for i, (net, addr, asset, units) in enumerate(entries)]
    await store.save_balances(r.id, "0", balances)
    await store.finish_run(r.id, "done", {})
    return r.id


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("overlap") / "o.db")

    async def fill():
        store = await open_store(path)
        try:
            return {name: await _write(store, name, day, entries) for name, (day, entries) in RUNS.items()}
        finally:
            await store.close()

    return path, run(fill())


def _units(exchange: str, network: str, address: str, asset: str) -> int | None:
    return next(u for n, a, s, u in RUNS[exchange][1] if n == network and a.lower() == address.lower() and s == asset)


def _coins(exchange, network, address, asset) -> Decimal:
    units = _units(exchange, network, address, asset)
    assert units is not None
    return from_base_units(units, DEC[asset])


def test_overlap_and_double_count_are_exact(db, tmp_path):
    path, ids = db
    out = tmp_path / "o.json"
    code = main(["overlap", "--db", path, "--json", str(out)])
    assert code == 1  # something is claimed twice
    data = json.loads(out.read_text())
    assert data["schema"] == "porscan.overlap/1"
    found = {(a["network"], a["address"]) for a in data["addresses"]}
    # X1 and the bech32 address in either case; Y (claimed by both even if B could not read it); not X2
    # (other chain for B, C too far in time), not X3 (only A)
    assert found == {("ethereum", X1.lower()), ("ethereum", Y), ("bitcoin", BTC_ADDR)}
    x1 = next(a for a in data["addresses"] if a["address"] == X1.lower())
    assert x1["entities"] == ["A", "B"]
    by = {(c["entity"], c["asset"]): c for c in x1["claims"]}
    assert by[("A", "USDT")]["onchain_base_units"] == str(_units("A", "ethereum", X1, "USDT"))
    assert by[("B", "USDT")]["run_id"] == ids["B"]
    totals = {(t["a"]["entity"], t["b"]["entity"], t["asset"]): t for t in data["totals"]}
    assert set(totals) == {("A", "B", "ETH"), ("A", "B", "USDT"), ("A", "B", "BTC")}
    eth = totals[("A", "B", "ETH")]
    assert Decimal(eth["counted_twice"]) == _coins("A", "ethereum", X1, "ETH") == _coins("B", "ethereum", X1, "ETH")
    assert eth["differing_amounts"] == 0
    usdt = totals[("A", "B", "USDT")]
    a_usdt, b_usdt = _coins("A", "ethereum", X1, "USDT"), _coins("B", "ethereum", X1, "USDT")
    assert a_usdt != b_usdt and Decimal(usdt["counted_twice"]) == min(a_usdt, b_usdt)
    assert (Decimal(usdt["a_counted"]), Decimal(usdt["b_counted"])) == (a_usdt, b_usdt)
    assert usdt["differing_amounts"] == 1 and usdt["unknown_amounts"] == 1 and usdt["addresses"] == 2
    btc = totals[("A", "B", "BTC")]
    assert Decimal(btc["counted_twice"]) == _coins("A", "bitcoin", BTC_ADDR, "BTC")


def test_within_days_brings_in_an_older_run(db, tmp_path):
    path, ids = db
    out = tmp_path / "o.json"
    assert main(["overlap", "--db", path, "--exchange", "A", "--exchange", "C", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["addresses"] == []
    assert main(["overlap", "--db", path, "--run", str(ids["A"]), "--run", str(ids["C"]), "--within", "29",
                 "--json", str(out)]) == 1
    (total,) = json.loads(out.read_text())["totals"]
    assert (total["a"]["run_id"], total["b"]["run_id"], total["asset"]) == (ids["A"], ids["C"], "ETH")
    assert Decimal(total["counted_twice"]) == _coins("C", "ethereum", X2, "ETH")


def test_imported_list_claims_the_whole_address(db, tmp_path):
    path, ids = db
    listed = tmp_path / "issuer.csv"
    listed.write_text(f"entity,network,address,asset\nIssuer,Ethereum,{X3.upper().replace('0X', '0x')},USDT\n"
                      f"Issuer,ethereum,{'0x' + '55' * 20},\n")
    out = tmp_path / "o.json"
    assert main(["overlap", "--db", path, "--exchange", "A", "--list", str(listed), "--json", str(out)]) == 1
    (total,) = json.loads(out.read_text())["totals"]
    assert (total["a"]["entity"], total["b"]["entity"], total["asset"]) == ("A", "Issuer", "USDT")
    assert Decimal(total["counted_twice"]) == _coins("A", "ethereum", X3, "USDT")


def test_bad_list_is_one_line_exit_2(db, tmp_path, capsys):
    path, _ = db
    bad = tmp_path / "bad.csv"
    bad.write_text("entity,network,address\nIssuer,ethereum\n")
    assert main(["overlap", "--db", path, "--list", str(bad)]) == 2
    assert "bad.csv:2: row" in capsys.readouterr().err


def test_overlap_notes_for_a_run(db):
    path, ids = db

    async def notes(run_id):
        store = await open_store(path, create=False)
        try:
            return await overlap_notes(store, run_id)
        finally:
            await store.close()

    a_notes = run(notes(ids["A"]))
    assert len(a_notes) == 3 and all("B (run" in n for n in a_notes)
    usdt = next(n for n in a_notes if "USDT counted twice" in n)
    assert str(min(_coins("A", "ethereum", X1, "USDT"), _coins("B", "ethereum", X1, "USDT"))) in usdt
    assert run(notes(ids["C"])) == []  # nobody else within 7 days of C's snapshot


# ---- two real scans on the local sample world: exchange A scans the file, B a variant of it ----------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from support.common import need_anvil

    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    w = build_local_exchange(tmp_path_factory.mktemp("world"), seed=11, litecoin=False, tron_solana=False)
    yield w
    w.stop()


def test_two_real_scans_sharing_addresses(world, tmp_path):
    lines = world.reserves.read_text().splitlines(keepends=True)
    # B publishes every other data row of A's file: they share exactly those addresses
    variant = tmp_path / "variant.csv"
    variant.write_text("".join(ln for i, ln in enumerate(lines) if i < 2 or i % 2 == 0))
    db_path = str(tmp_path / "s.db")
    base = ["--liabilities", str(world.liabilities), "--config", str(world.networks), "--coins", str(world.coins),
            "--db", db_path, "--no-progress", "--quiet", "--snapshot-date", "2025-06-30"]
    main(["scan", str(world.reserves), "--exchange", "A", *base])
    main(["scan", str(variant), "--exchange", "B", *base])
    out = tmp_path / "o.json"
    assert main(["overlap", "--db", db_path, "--json", str(out)]) == 1
    data = json.loads(out.read_text())

    async def read_back():
        from scanner.pipeline.aggregate import canonical_address

        store = await open_store(db_path, create=False)
        try:
            got = {}
            for r in [await store.latest_run(n) for n in ("A", "B")]:
                assert r is not None
                keys: dict = {}
                async for batch in store.iter_balances(r.id):
                    for x in batch:
                        if x.onchain_base_units is not None:
                            k = (x.network, canonical_address(x.address), x.asset)
                            keys[k] = (keys.get(k, (0, x.decimals))[0] + x.onchain_base_units, x.decimals)
                got[r.exchange] = keys
            return got
        finally:
            await store.close()

    got = run(read_back())
    shared = set(got["A"]) & set(got["B"])
    assert shared and len(shared) < len(got["A"])  # a real subset: the overlap is not "everything"
    assert {(n, a) for n, a, _ in shared} <= {(x["network"], x["address"]) for x in data["addresses"]}
    expected: dict[str, Decimal] = {}
    for k in shared:
        (ua, dec), (ub, _) = got["A"][k], got["B"][k]
        expected[k[2]] = expected.get(k[2], Decimal(0)) + from_base_units(min(ua, ub), dec)
    totals = {t["asset"]: Decimal(t["counted_twice"]) for t in data["totals"]}
    # assets read by neither run (no TRON/Solana/LTC here) are claimed twice with nothing known counted
    assert set(expected) <= set(totals) and totals == {a: expected.get(a, Decimal(0)) for a in totals}
    assert expected["ETH"] > 0 and expected["BTC"] > 0
    # the variant as an imported published file (porscan's own ingest) claims the same addresses of A's run
    assert main(["overlap", "--db", db_path, "--exchange", "A", "--list", f"Listed={variant}", "--json", str(out)]) == 1
    listed = {t["asset"]: Decimal(t["counted_twice"]) for t in json.loads(out.read_text())["totals"]}
    assert listed == {a: sum((from_base_units(*got["A"][k]) for k in shared if k[2] == a), Decimal(0)) for a in listed}
    assert set(expected) <= set(listed)
