"""Staked and locked reserves as their own component: liquid / staked / unbonding per asset.

Aggregation (units), the report's JSON form (keys only where there is a split; a stored report without them
still loads and reads the same), the routing of validator-key rows by address shape (OKX's "Native ETH
Staking" rows and HTX's BETH rows, on the real config and the shared vectors file), and ``porscan scan`` end
to end on the FAKE Beacon API (tests/support/fake_beacon.py): the terminal, JSON, CSV and HTML reports show
the columns, with the balances of the snapshot slot, not the ones changed after it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from decimal import Decimal

import pytest

from scanner.amounts import from_base_units
from scanner.config.networks import CoinTarget, Network, load_coins, load_networks
from scanner.pipeline.aggregate import Aggregation, CoinPlace
from scanner.pipeline.plan import BalancePlanner, FileContext, address_shape, route_by_shape, routed_target
from scanner.records import NO_FIGURES, BalanceRecord, RowRecord
from scanner.report_model import ScanReport
from support.common import ROOT
from support.fake_beacon import GWEI, FakeBeacon, validator_key
from support.reports import scan_report

ETH = CoinPlace("ETH", "ethereum", 18)
VAL = validator_key("split/0")
ACCOUNT = "0x" + "0c" * 20


def _row(line: int, coin: str, address: str, units: int | None, status: str = "verified") -> RowRecord:
    return RowRecord(line, coin, "ETH", address, 100, str(from_base_units(units or 0, 18)), units, status, "s", "")


def _bal(line: int, coin: str, network: str, address: str, units: int | None, staked: int | None = 0,
         unbonding: int | None = 0) -> BalanceRecord:
    return BalanceRecord(line, coin, network, "ETH", address, 100, units, units, 18, 100 if units is not None else None,
                         "0xh", True if units is not None else None, "match" if units is not None else "unread", "",
                         "ep", staked=staked, unbonding=unbonding)


# ------------------------------------------------------------------------------------------ aggregation

def test_liquid_staked_unbonding_and_unknown_split_sum_per_asset_and_network():
    beacon = CoinPlace("ETH", "beacon", 18)
    agg = Aggregation(lambda coin: {"ETH": ETH, "ETH@BEACON": beacon}.get(coin, CoinPlace(coin, "x", None)))
    e = 10**18
    keys = [validator_key(f"split/{i}") for i in range(4)]
    agg.add(_row(1, "ETH", ACCOUNT, 5 * e), _bal(1, "ETH", "ethereum", ACCOUNT, 5 * e))  # liquid
    agg.add(_row(2, "ETH", keys[0], 32 * e), _bal(2, "ETH@BEACON", "beacon", keys[0], 32 * e, 32 * e, 0))
    agg.add(_row(3, "ETH", keys[1], 31 * e, status="failed"),
            _bal(3, "ETH@BEACON", "beacon", keys[1], 31 * e, 0, 31 * e))
    agg.add(_row(4, "ETH", keys[2], 7 * e), _bal(4, "ETH@BEACON", "beacon", keys[2], 7 * e, None, None))  # unknown
    agg.add(_row(5, "ETH", keys[3], 0), _bal(5, "ETH@BEACON", "beacon", keys[3], 0, None, None))  # 0: nothing to split
    agg.add(_row(6, "ETH", keys[0], 32 * e), _bal(6, "ETH@BEACON", "beacon", keys[0], 32 * e, 32 * e, 0))  # listed again
    agg.add(_row(7, "ETH", keys[1], 1), _bal(7, "ETH@BEACON", "beacon", keys[1], None, None, None))  # unread
    totals = {(t.asset, t.network): t for t in agg.totals()}
    star, on_beacon, on_eth = totals[("ETH", "*")], totals[("ETH", "beacon")], totals[("ETH", "ethereum")]
    assert agg.duplicates == 1 and agg.coins_in("ETH", "beacon") == ["ETH@BEACON"]
    assert (on_beacon.staked, on_beacon.unbonding, on_beacon.split_unknown, on_beacon.split_unknown_rows) == (
        Decimal(32), Decimal(31), Decimal(7), 1)
    assert on_beacon.onchain == Decimal(70) and on_beacon.unverified == Decimal(31)
    f = star.figures()
    assert (f.onchain, f.staked, f.unbonding, f.split_unknown, f.split_unknown_rows) == (75, 32, 31, 7, 1)
    assert f.liquid == Decimal(5)  # the unknown row is in none of the three
    assert on_eth.figures().liquid == Decimal(5) and not on_eth.figures().has_split
    assert f.to_json()["liquid"] == "5" and f.to_json()["split_unknown_rows"] == 1
    assert "liquid" not in on_eth.figures().to_json()  # no split: no keys (older readers see the same document)


def test_published_summary_keeps_the_rows_own_coin_when_routed():
    agg = Aggregation(lambda coin: ETH)
    agg.add(_row(1, "ETH", VAL, 32 * 10**18), _bal(1, "ETH@BEACON", "beacon", VAL, 32 * 10**18, 32 * 10**18, 0))
    agg.add(_row(2, "ETH", ACCOUNT, 10**18), _bal(2, "ETH", "ethereum", ACCOUNT, 10**18))
    assert agg.coin_sums["ETH"] == (Decimal(33), 2)  # the file's summary line for ETH counts both rows
    assert set(agg.coins) == {"ETH", "ETH@BEACON"}
    assert {(t.asset, t.network) for t in agg.totals()} == {("ETH", "*"), ("ETH", "beacon"), ("ETH", "ethereum")}


# ------------------------------------------------------------------------------------------ report model

def _asset(**figures) -> dict:
    base = {"asset": "ETH", "published": "10", "onchain": "10", "proven": "10", "owner_only": "0", "key_only": "0",
            "unverified": "0", "unread_published": "0", "difference": "0", "rows": 2, "rows_expected": 2,
            "rows_read": 2, "coverage": "1", "complete": True}
    return {**base, **figures}


def test_a_stored_report_without_the_split_loads_and_writes_back_the_same():
    path = ROOT / "tests" / "data" / "scan_report_okx.json"
    doc = json.loads(path.read_text())
    report = ScanReport.from_json(doc)
    assert all(not a.figures.has_split and a.figures.staked == 0 for a in report.assets)
    assert report.to_json() == ScanReport.from_json(report.to_json()).to_json()
    assert not any("liquid" in a or "staked" in a for a in report.to_json()["assets"])
    old = scan_report({"assets": [_asset(networks=[{"network": "ethereum", "coins": ["ETH"], **_asset(),
                                                     "blocks": []}])]})
    assert old.assets[0].figures.liquid == Decimal(10) and not old.assets[0].networks[0].figures.has_split


def test_a_report_with_the_split_round_trips_and_derives_liquid():
    doc = _asset(onchain="10", liquid="999", staked="6", unbonding="1.5", split_unknown="0.5", split_unknown_rows=1)
    report = scan_report({"assets": [{**doc, "networks": []}]})
    f = report.assets[0].figures
    assert (f.staked, f.unbonding, f.split_unknown, f.split_unknown_rows) == (6, Decimal("1.5"), Decimal("0.5"), 1)
    assert f.liquid == Decimal(2)  # derived from the parts, never read from the document
    again = report.to_json()["assets"][0]
    assert (again["liquid"], again["staked"], again["unbonding"], again["split_unknown"]) == ("2", "6", "1.5", "0.5")
    assert ScanReport.from_json(report.to_json()).to_json() == report.to_json()
    assert NO_FIGURES.liquid == 0 and replace(NO_FIGURES, onchain=None).liquid is None


# ------------------------------------------------------------------------------------------ routing

def _networks(monkeypatch) -> dict[str, Network]:
    monkeypatch.setenv("BEACON_API_HOST", "beacon.invalid")  # the config's own-node endpoint, made usable
    return load_networks()


def test_address_shape():
    assert address_shape(VAL) == "validator" and address_shape(VAL.upper().replace("0X", "0x")) == "validator"
    assert address_shape(ACCOUNT) == "account"
    for other in ("", "0x", VAL[:-2], ACCOUNT + "0", "0x" + "zz" * 20, "bc1qxyz", "T" + "1" * 33):
        assert address_shape(other) == ""


def test_validator_keys_go_to_the_beacon_network_and_accounts_to_ethereum_by_shape(monkeypatch):
    nets, coins = _networks(monkeypatch), load_coins()
    r = route_by_shape("ETH", "ETH", VAL, coins, nets)
    assert (r.key, r.target, r.why) == ("ETH@BEACON", CoinTarget("ETH@BEACON", "beacon", "ETH", None, 18), "")
    assert route_by_shape("ETH", "ETH", ACCOUNT, coins, nets).key == "ETH"  # an account stays on ethereum
    assert route_by_shape("BETH", "BETH", VAL, coins, nets).key == "BETH"  # already keyed on the beacon network
    beth = route_by_shape("BETH", "BETH", ACCOUNT, coins, nets)  # HTX's BETH rows: an Ethereum account
    assert beth.target is None and beth.network == "ethereum"
    assert "not a validator key" in beth.why and "no BETH token contract on ethereum" in beth.why
    usdt = route_by_shape("USDT-ERC20", "USDT-ERC20", VAL, coins, nets)  # no beacon network carries USDT
    assert usdt.key == "USDT-ERC20" and usdt.target is None
    # a process that did not plan the file (a worker) rebuilds the routed key's target from the config alone
    assert routed_target("ETH@BEACON", coins, nets) == r.target
    for other in ("ETH", "BETH@ETHEREUM", "ETH@NOWHERE", "@BEACON", "USDT-ERC20@BEACON"):
        assert routed_target(other, coins, nets) is None, other


def test_okx_staking_file_and_htx_beth_rows_are_planned_where_they_can_be_read(monkeypatch, tmp_path):
    from scanner.pipeline.ingest import iter_rows

    vectors = ROOT.parent / "shared" / "vectors"
    okx, htx = vectors / "okx" / "okx_por_staking_example.csv", vectors / "htx" / "2023-05-11_huobi_por_20230501_09ea869.csv"
    if not okx.exists() or not htx.exists():
        pytest.skip("../shared/vectors is absent")
    nets, coins = _networks(monkeypatch), load_coins()
    planner = BalancePlanner(FileContext(coins, nets))
    for row in iter_rows(okx):
        planner.add_file_row(row)
    plan = planner.finish()
    by_network = {coins[k].network: [j.address for j in jobs] for (k, _), jobs in plan.groups.items()}
    staking = [r for r in iter_rows(okx) if address_shape(r.address) == "validator"]
    assert len(staking) == 2 and sorted(by_network["beacon"]) == sorted(r.address for r in staking)
    assert by_network["ethereum"] == ["0x0cdcdb19a857c2ac24818ca4fdfe38cce071483e"]
    assert {k for k, _ in plan.groups} == {"ETH", "ETH@BEACON"} and not plan.unsupported
    # the validator keys in the file are not BLS points (0xabab...): the beacon adapter says so per row
    from chains.beacon import parse_pubkey

    assert all(parse_pubkey(r.address) is None for r in staking)

    planner = BalancePlanner(FileContext(coins, nets))
    beth = [r for r in iter_rows(htx) if r.coin.strip().upper() == "BETH"]
    assert beth and all(address_shape(r.address) == "account" for r in beth)
    for row in beth:
        planner.add_file_row(row)
    plan = planner.finish()
    assert not plan.groups and len(plan.unsupported) == len(beth)
    assert all(u.network == "ethereum" and "no BETH token contract" in u.reason for u in plan.unsupported)


# ------------------------------------------------------------------------------------------ scan end to end

HEADER = "coin,Type,Network,Snapshot Height,address,amount,message,signature1,signature2,redeem script/public key,EOA1,EOA2"


@pytest.fixture(scope="module")
def beacon_scan(tmp_path_factory):
    """A scan of an OKX staking-layout file whose validator rows are read from the FAKE Beacon API."""
    from scanner.cli.main import main

    tmp = tmp_path_factory.mktemp("staking")
    fake = FakeBeacon()
    snap = fake.block_number(fake.head_slot - 1) - 300
    slot = fake.slot_of_block(snap)
    active, leaving, exited = (validator_key(f"scan/{i}") for i in range(3))
    fake.add_validator(active, slot - 900, 32 * GWEI + 123_456)
    fake.add_validator(active, slot + 2, 33 * GWEI)  # rewards after the snapshot: not counted
    fake.add_validator(leaving, slot - 900, 32 * GWEI)
    fake.add_validator(leaving, slot - 10, 32 * GWEI + 5, "active_exiting")
    fake.add_validator(leaving, slot + 1, 0, "withdrawal_done", 0)  # paid out after the snapshot
    fake.add_validator(exited, slot - 900, 31 * GWEI, "exited_unslashed")
    want = {active: (32 * GWEI + 123_456) * GWEI, leaving: (32 * GWEI + 5) * GWEI, exited: 31 * GWEI * GWEI}
    sig = "0x" + "11" * 65
    total = from_base_units(sum(want.values()) + 10**18, 18)
    lines = ["coin,snapshot height,amount", f"ETH,-,{total}", "", HEADER]
    lines += [f"ETH,Native ETH Staking,ETH,{snap},{k},{from_base_units(v, 18)},I am an OKX address,{sig},,,,"
              for k, v in want.items()]
    lines.append(f"ETH,Non Staking,ETH,{snap},{ACCOUNT},1,I am an OKX address,{sig},,,,")
    reserves = tmp / "okx.csv"
    reserves.write_text("\n".join(lines) + "\n")
    coins = tmp / "coins.toml"
    coins.write_text('[ETH]\nnetwork = "ethereum"\nasset = "ETH"\ndecimals = 18\n')
    with fake.serve() as srv:
        networks = tmp / "networks.toml"
        networks.write_text(
            '[networks.ethereum]\nkind = "evm"\nchain_id = 1\nnative_symbol = "ETH"\nnative_decimals = 18\n\n'
            '[networks.beacon]\nkind = "beacon"\nnative_symbol = "ETH"\nnative_decimals = 18\n'
            f'genesis_validators_root = "{fake.genesis_root}"\n\n'
            f'[[networks.beacon.endpoints]]\nlabel = "FAKE-beacon"\nurl = "{srv.url}"\nmax_batch = 2\n')
        out = {k: tmp / f"r.{k}" for k in ("json", "csv", "html")}
        import io
        from contextlib import redirect_stdout

        text = io.StringIO()
        with redirect_stdout(text):
            code = main(["scan", str(reserves), "--config", str(networks), "--coins", str(coins), "--db",
                         str(tmp / "p.db"), "--exchange", "OKX", "--no-progress", "--json", str(out["json"]),
                         "--csv", str(out["csv"]), "--html", str(out["html"])])
        yield {"code": code, "want": want, "keys": (active, leaving, exited), "out": out, "text": text.getvalue(),
               "db": tmp / "p.db", "tmp": tmp, "networks": networks, "coins": coins}  # the FAKE node still serves


def test_scan_reports_liquid_staked_unbonding_of_the_snapshot(beacon_scan):
    s = beacon_scan
    report = json.loads(s["out"]["json"].read_text())
    eth = next(a for a in report["assets"] if a["asset"] == "ETH")
    active, leaving, exited = s["keys"]
    staked = from_base_units(s["want"][active], 18)
    unbonding = from_base_units(s["want"][leaving] + s["want"][exited], 18)
    assert (Decimal(eth["staked"]), Decimal(eth["unbonding"])) == (staked, unbonding)
    assert Decimal(eth["onchain"]) == staked + unbonding and Decimal(eth["liquid"]) == 0
    beacon = next(n for n in eth["networks"] if n["network"] == "beacon")
    assert beacon["coins"] == ["ETH@BEACON"] and beacon["rows_read"] == 3 and Decimal(beacon["staked"]) == staked
    assert all(b["at_snapshot"] for b in beacon["blocks"])
    assert "split_unknown_rows" not in eth  # every read row's split is known
    # the 20-byte row is an ethereum account, and ethereum has no endpoint here: not read, not a zero
    assert eth["rows_expected"] == 4 and eth["rows_read"] == 3
    assert report["summary_block"].get("mismatches", []) == []  # the file's ETH total still counts every row
    assert "Staked and locked" in s["text"] and "unbonding" in s["text"]
    rows = list(csv.reader(s["out"]["csv"].open()))
    head = rows[0]
    assert head[-5:] == ["liquid", "staked", "unbonding", "split_unknown", "split_unknown_rows"]
    line = next(r for r in rows if r[:2] == ["ETH", "beacon"])
    assert (Decimal(line[head.index("staked")]), Decimal(line[head.index("unbonding")])) == (staked, unbonding)
    html = s["out"]["html"].read_text()
    table = html[html.index('id="staking"'):]
    assert f'data-label="Staked" class="num" data-v="{staked.normalize()}"' in table
    assert f'data-label="Unbonding" class="num" data-v="{unbonding.normalize()}"' in table
    assert 'data-label="Liquid" class="num" data-v="0"' in table


def test_a_scan_without_staking_has_no_split_columns(tmp_path):
    report = scan_report({"assets": [{**_asset(), "networks": []}]})
    from scanner.pipeline.scan import CSV_COLUMNS, csv_rows

    assert csv_rows(report)[0] == list(CSV_COLUMNS)
    from scanner.report.html import _staking

    assert _staking([report.assets[0].to_json()]) == ""



def test_the_stored_run_keeps_the_split_and_its_bundle_verifies(beacon_scan, capsys):
    """The stored balances carry each validator's part, the stored report reads back with the same split,
    and an evidence bundle of the run (report, rows, balances) verifies with the routed rows in place."""
    from scanner.cli.main import main
    from scanner.storage import open_store
    from support.common import run

    s = beacon_scan
    db = f"sqlite:///{s['db']}"

    async def stored():
        async with await open_store(db) as store:
            runs = await store.list_runs()
            return [b for batch in [x async for x in store.iter_balances(runs[0].id)] for b in batch], runs[0].id

    balances, run_id = run(stored())
    active, leaving, exited = s["keys"]
    parts = {b.address: (b.coin, b.network, b.staked, b.unbonding) for b in balances}
    assert parts[active] == ("ETH@BEACON", "beacon", s["want"][active], 0)
    assert parts[leaving] == ("ETH@BEACON", "beacon", 0, s["want"][leaving])
    assert parts[exited] == ("ETH@BEACON", "beacon", 0, s["want"][exited])
    capsys.readouterr()
    assert main(["report", str(run_id), "--db", db, "--json", str(s["tmp"] / "again.json")]) in (0, 1, 3)
    again = json.loads((s["tmp"] / "again.json").read_text())
    first = json.loads(s["out"]["json"].read_text())
    assert [(a["asset"], a.get("staked"), a.get("unbonding"), a.get("liquid")) for a in again["assets"]] == \
        [(a["asset"], a.get("staked"), a.get("unbonding"), a.get("liquid")) for a in first["assets"]]
    zipped = s["tmp"] / "run.zip"
    assert main(["bundle", str(run_id), str(zipped), "--db", db]) == 0
    capsys.readouterr()
    code = main(["bundle", "verify", str(zipped), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result


def test_a_forged_staked_figure_in_a_bundle_is_caught(beacon_scan, capsys):
    """Moving reserves from unbonding to staked in a bundle's report (its hash updated, as a forger would) is
    recomputed from the bundled balances and named."""
    import hashlib
    import zipfile

    from scanner.cli.main import main

    s = beacon_scan
    src = s["tmp"] / "forge-from.zip"
    assert main(["bundle", "1", str(src), "--db", f"sqlite:///{s['db']}"]) == 0  # the fixture's one run
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    report = json.loads(members["report.json"])
    eth = next(a for a in report["assets"] if a["asset"] == "ETH")
    eth["staked"], eth["unbonding"] = str(Decimal(eth["staked"]) + 1), str(Decimal(eth["unbonding"]) - 1)
    members["report.json"] = json.dumps(report).encode()
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["report.json"] = hashlib.sha256(members["report.json"]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    forged = s["tmp"] / "forged.zip"
    with zipfile.ZipFile(forged, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    capsys.readouterr()
    assert main(["bundle", "verify", str(forged)]) == 1
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("mismatch: ")]
    assert any("assets[ETH].staked" in ln for ln in lines) and any("assets[ETH].unbonding" in ln for ln in lines)


def test_the_window_reads_validator_rows_where_the_scan_read_them(beacon_scan, capsys):
    """A stored run's validator rows were read under their routed key (ETH@BEACON): the window reads them on
    the beacon network too, at H -/+ w, never on the execution network nor as "not configured"."""
    from scanner.cli.main import main

    s = beacon_scan
    run_id = json.loads(s["out"]["json"].read_text())["run"]["id"]
    capsys.readouterr()
    code = main(["window", str(run_id), "--window", "5", "--db", str(s["db"]), "--config", str(s["networks"]),
                 "--coins", str(s["coins"]), "--json", "--no-store"])
    got = json.loads(capsys.readouterr().out)
    active, leaving, exited = s["keys"]
    eth = next(a for a in got["assets"] if a["asset"] == "ETH")
    beacon = next(n for n in eth["networks"] if n["network"] == "beacon")
    assert beacon["addresses"] == 3 and beacon["addresses_read"] == 3, got
    assert not any("not in this coin" in c["reason"] for c in got["not_readable"])
    # the exiting validator is paid out one slot after the snapshot: all of it left within w after H
    assert Decimal(eth["left"]) == from_base_units(s["want"][leaving], 18)
    assert Decimal(eth["dressed"]) == 0 and code in (0, 3)
