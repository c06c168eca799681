"""``porscan scan`` end to end: a sample exchange on real local chains (anvil), SQLite and PostgreSQL,
the dry run, stored runs, the report command, and SIGKILL-and-resume equality."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from scanner.amounts import from_base_units
from support.reports import scan_report
from scanner.cli.main import main
from support.common import ROOT, need_anvil, run


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    # no LTC node nor TRON/Solana stand-ins: the rows of those chains stay unread (what these tests check);
    # tests/cli/test_demo_world.py scans the whole world
    w = build_local_exchange(tmp_path_factory.mktemp("world"), seed=11, litecoin=False, tron_solana=False)
    yield w
    w.stop()


def _scan_args(w, db: str, *extra: str) -> list[str]:
    return ["scan", str(w.reserves), "--liabilities", str(w.liabilities), "--config", str(w.networks),
            "--coins", str(w.coins), "--db", db, "--exchange", "Sample", "--no-progress", *extra]


def _asset(report: dict, name: str) -> dict:
    return next(a for a in report["assets"] if a["asset"] == name)


def _expected(w) -> dict:
    return json.loads((w.folder / "expected.json").read_text())


def test_scan_sqlite_end_to_end(world, tmp_path, capsys):
    out = tmp_path / "r.json"
    csv_path = tmp_path / "r.csv"
    code = main(_scan_args(world, str(tmp_path / "p.db"), "--json", str(out), "--csv", str(csv_path)))
    assert code == 1  # the sample has failed rows and a mismatch on purpose
    report = json.loads(out.read_text())
    assert report["schema"] == "porscan.scan/1"
    exp = _expected(world)["coins"]
    eth = _asset(report, "ETH")
    # every EVM row was read at its snapshot block; the on-chain total is the world's snapshot total
    onchain_eth = from_base_units(exp["ETH"]["onchain"] + exp["ETH-ARBITRUM"]["onchain"], 18)
    assert Decimal(eth["onchain"]) == onchain_eth
    assert eth["rows_read"] == eth["rows_expected"]
    assert Decimal(eth["proven"]) + Decimal(eth["owner_only"]) + Decimal(eth["key_only"]) + Decimal(eth["unverified"]) \
        == Decimal(eth["onchain"])
    assert Decimal(eth["owner_only"]) == Decimal("1250.5")  # the contract wallet proven by its owners only
    usdt = _asset(report, "USDT")
    assert Decimal(usdt["onchain"]) == from_base_units(exp["USDT-ERC20"]["onchain"], 6)
    # USDT-TRC20 has no endpoint here: its rows are unread, their published amount shown, not zeroed
    assert usdt["rows_read"] < usdt["rows_expected"]
    assert Decimal(usdt["unread_published"]) > 0
    # liabilities: ETH 90% of reserves, USDT 125% of what the chains hold -> ratios on both sides of 1
    assert Decimal(eth["proven_ratio"]) > 1
    assert Decimal(usdt["proven_ratio"]) < 1
    assert eth["liabilities_provenance"] == "self-reported"
    for n in eth["networks"]:
        assert n["blocks"] and all(b["at_snapshot"] and b["hash"] for b in n["blocks"])
    heights = _expected(world)["heights"]
    assert {b["number"] for n in eth["networks"] for b in n["blocks"]} == {heights["ETH"], heights["ETH-ARBITRUM"]}
    if "BTC" in exp:  # the Knots regtest node ran: BTC read at its snapshot height from a UTXO dump
        btc = _asset(report, "BTC")
        assert Decimal(btc["onchain"]) == from_base_units(exp["BTC"]["onchain"], 8)
        assert btc["rows_read"] == btc["rows_expected"]
        (net,) = btc["networks"]
        assert [b["number"] for b in net["blocks"]] == [heights["BTC"]] and net["blocks"][0]["at_snapshot"]
    elif os.environ.get("CI"):
        pytest.fail("the Knots regtest node did not run in CI")
    assert report["balances"]["by_status"]["mismatch"] >= 1
    assert report["verification"]["by_status"]["failed"] == 2
    assert report["inputs"][0]["sha256"] and report["inputs"][1]["role"] == "liabilities"
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("asset,network,coins,published")
    assert any(r.startswith("ETH,arbitrum,ETH-ARBITRUM,") for r in rows)


def test_min_ratio_exit_code_and_report_command(world, tmp_path, capsys):
    db = str(tmp_path / "m.db")
    assert main(_scan_args(world, db, "--min-ratio", "1")) == 1
    err = capsys.readouterr().err
    assert "below 1 for" in err and "USDT" in err.split("below 1 for", 1)[1]
    assert main(["runs", "--db", db, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["status"] == "done" and runs[0]["exchange"] == "Sample"
    out = tmp_path / "again.json"
    html = tmp_path / "again.html"
    assert main(["report", str(runs[0]["id"]), "--db", db, "--json", str(out), "--html", str(html)]) == 1
    again = json.loads(out.read_text())
    assert _asset(again, "ETH")["onchain"] and "USDT" in html.read_text()
    assert runs[0]["finished_at"] and again["run"]["finished_at"] == runs[0]["finished_at"]  # one instant
    assert main(["report", "999", "--db", db]) == 2


def test_rerun_of_a_finished_run_starts_a_new_one(world, tmp_path, capsys):
    db = str(tmp_path / "r.db")
    main(_scan_args(world, db, "-q"))
    main(_scan_args(world, db, "-q"))
    capsys.readouterr()
    assert main(["runs", "--db", db, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in runs] == ["done", "done"] and runs[0]["id"] != runs[1]["id"]


def test_dry_run_reads_nothing(world, tmp_path, capsys):
    db = tmp_path / "dry.db"
    assert main(_scan_args(world, str(db), "--dry")) == 0
    out = capsys.readouterr().out
    assert "ethereum" in out and "arbitrum" in out and "USDT-TRC20" in out
    assert not db.exists()


def test_dry_plan_is_the_plan_the_run_executes(world, tmp_path):
    """Rows per network and coin, heights and unsupported reasons of --dry are those the run reads."""
    from collections import Counter

    from scanner.pipeline.scan import ScanOptions, plan_scan

    opts = dict(file=str(world.reserves), liabilities=str(world.liabilities), exchange="Sample",
                networks_path=str(world.networks), coins_path=str(world.coins))
    plan = plan_scan(ScanOptions(db=str(tmp_path / "dry.db"), **opts)).to_json()
    out = tmp_path / "r.json"
    main(_scan_args(world, str(tmp_path / "run.db"), "--json", str(out)))
    report = json.loads(out.read_text())
    read_per_network: Counter[str] = Counter()
    heights: dict[str, set] = {}
    for asset in report["assets"]:
        for n in asset["networks"]:
            heights.setdefault(n["network"], set()).update(b["number"] for b in n["blocks"] if b["at_snapshot"])
    by_status = report["balances"]["by_status"]
    planned = {n["network"]: n for n in plan["networks"]}
    for asset in report["assets"]:
        for n in asset["networks"]:
            read_per_network[n["network"]] += n["rows_expected"]
    for network, n in planned.items():
        assert n["rows"] == read_per_network[network], network
        assert {h for h in n["heights"] if h != "latest"} >= heights.get(network, set()), network
    assert sum(u["rows"] for u in plan["unsupported"]) == by_status.get("unsupported", 0)


def test_dry_run_names_every_endpoint_left_out_and_a_missing_archive(world, tmp_path, capsys, monkeypatch):
    import re

    monkeypatch.delenv("PORSCAN_UNSET_KEY", raising=False)
    text = world.networks.read_text()
    eth_url = re.search(r'label = "local-anvil-ethereum", url = "([^"]+)"', text)[1]
    text = text.replace(f'label = "local-anvil-ethereum", url = "{eth_url}"',
                        f'label = "keyed", url = "https://example.invalid/${{PORSCAN_UNSET_KEY}}" }}, '
                        f'{{ label = "local-anvil-ethereum", url = "{eth_url}"')
    text = re.sub(r'(label = "local-anvil-arbitrum", url = "[^"]+")', r'\1, archive = false', text)
    cfg = tmp_path / "networks.toml"
    cfg.write_text(text)
    args = _scan_args(world, str(tmp_path / "dry.db"), "--dry")
    args[args.index("--config") + 1] = str(cfg)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"left out: ethereum endpoint keyed \(.*PORSCAN_UNSET_KEY", out)
    assert re.search(r"warning: arbitrum: no endpoint is marked archive = true", out)
    assert "warning: ethereum" not in out  # its remaining endpoint is archive
    assert main(args + ["--rpc", f"ethereum={eth_url}"]) == 0
    out = capsys.readouterr().out
    assert "left out: ethereum endpoint local-anvil-ethereum (replaced by --rpc" in out


def test_scan_postgres(world, tmp_path, postgres_db):
    out = tmp_path / "pg.json"
    main(_scan_args(world, postgres_db, "--json", str(out)))
    report = json.loads(out.read_text())
    sqlite_out = tmp_path / "sq.json"
    main(_scan_args(world, str(tmp_path / "s.db"), "--json", str(sqlite_out)))
    assert _figures(report) == _figures(json.loads(sqlite_out.read_text()))


def test_bad_inputs_are_usage_errors(world, tmp_path, capsys):
    bad = tmp_path / "liab.csv"
    bad.write_text("asset,amount\nUSDT,1,2\n")
    assert main(["scan", str(world.reserves), "--liabilities", str(bad), "--db", str(tmp_path / "x.db")]) == 2
    assert "liab.csv" in capsys.readouterr().err
    assert main(["scan", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "x.db")]) == 2
    assert main(["scan", str(world.reserves), "--min-ratio", "abc"]) == 2


def test_a_fresh_scan_sums_what_it_stored_as_the_store_would_give_it_back(world, tmp_path, monkeypatch):
    """A fresh scan sums the records it stores from memory (pipeline/held.py), not read back from the
    store: its report is the one the read back gives, figure for figure, note for note."""
    from scanner.pipeline import scan as scan_mod
    from scanner.pipeline.held import HeldRows
    from scanner.storage.base import Store

    reads: list[int] = []
    iter_tally = Store.iter_tally

    def spy(self, run_id, *a, **kw):
        reads.append(run_id)
        return iter_tally(self, run_id, *a, **kw)

    monkeypatch.setattr(Store, "iter_tally", spy)
    held, stored = tmp_path / "held.json", tmp_path / "stored.json"
    args = ("--chunk-bytes", "1024", "--workers", "2", "-q")
    assert main(_scan_args(world, str(tmp_path / "held.db"), "--json", str(held), *args)) == 1
    assert reads == []
    monkeypatch.setattr(scan_mod, "HeldRows", lambda **kw: HeldRows(limit=0, **kw))  # off: the store is read back
    assert main(_scan_args(world, str(tmp_path / "stored.db"), "--json", str(stored), *args)) == 1
    assert reads
    a, b = json.loads(held.read_text()), json.loads(stored.read_text())
    assert _figures(a) == _figures(b) and a["verification"] == b["verification"] and a["balances"] == b["balances"]
    assert a["notes"] == b["notes"] and a["failures"] == b["failures"]
    assert any(n["rows_read"] for x in a["assets"] for n in x["networks"])


# ------------------------------------------------------------------------------ kill and resume

def _figures(report: dict) -> list:
    """Every per-asset and per-network figure of a report (what a resumed run must reproduce)."""
    keys = ("published", "onchain", "proven", "owner_only", "key_only", "unverified", "unread_published",
            "rows", "rows_read", "rows_expected", "liabilities", "proven_ratio", "with_unproven_ratio")
    out = []
    for a in report["assets"]:
        out.append((a["asset"], "*", tuple(a[k] for k in keys)))
        for n in a["networks"]:
            out.append((a["asset"], n["network"], tuple(n.get(k) for k in keys if k in n),
                        tuple((b["number"], b["hash"]) for b in n["blocks"])))
    return sorted(out, key=repr)


def test_aggregation_beside_verification_sums_every_line_once(world, tmp_path, monkeypatch):
    """Once every balance is stored, the aggregation sums the rows verification has stored so far while
    it goes on, in several goes: the report's figures are those of a scan that sums them in one go."""
    from scanner.pipeline import scan as scan_mod

    feeds: list[tuple[int, int | None]] = []
    feed = scan_mod._Tallying.feed

    async def spy(self, upto=None):
        before = self.after
        await feed(self, upto)
        feeds.append((before, upto))

    monkeypatch.setattr(scan_mod._Tallying, "feed", spy)
    args = ("--chunk-bytes", "1024", "--workers", "2", "-q")
    one = tmp_path / "one.json"
    with monkeypatch.context() as m:  # the frontier never moves: everything is summed at the end
        m.setattr(scan_mod._Stored, "advance", lambda self, line: None)
        assert main(_scan_args(world, str(tmp_path / "one.db"), "--json", str(one), *args)) == 1
    assert feeds == [(-(2**62), None)]
    feeds.clear()
    run_verify = scan_mod.run_verify

    def slow_verify(*a, **kw):  # verification (not the plan) stores its chunks slowly: the reads end first
        if kw.get("verify", True) and kw.get("on_chunk"):
            on_chunk = kw["on_chunk"]

            def later(res):
                time.sleep(0.25)
                on_chunk(res)

            kw["on_chunk"] = later
        return run_verify(*a, **kw)

    monkeypatch.setattr(scan_mod, "run_verify", slow_verify)
    split = tmp_path / "split.json"
    assert main(_scan_args(world, str(tmp_path / "split.db"), "--json", str(split), *args)) == 1
    ranges = [upto for _, upto in feeds]
    assert len([u for u in ranges if u is not None]) >= 2, feeds  # summed in several goes beside verification
    assert all(after < upto for after, upto in feeds if upto is not None) and ranges[-1] is None
    assert [after for after, _ in feeds[1:]] == [u for u in ranges[:-1]]  # each go starts where the last ended
    a, b = json.loads(one.read_text()), json.loads(split.read_text())
    assert _figures(a) == _figures(b) and a["verification"] == b["verification"]
    assert b["run"]["stage_seconds"]["aggregate_beside"] > 0


def _running_runs(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
        except sqlite3.OperationalError:  # killed before the schema was made
            return 0


@pytest.fixture(scope="module")
def big_world(tmp_path_factory):
    need_anvil()
    from scanner.devnet.localworld import build_local_exchange

    w = build_local_exchange(tmp_path_factory.mktemp("bigworld"), seed=5, scale=8, litecoin=False, tron_solana=False)
    yield w
    w.stop()


def test_sigkill_and_resume_gives_identical_totals(big_world, tmp_path):
    """Kill the scan with SIGKILL at a random moment, run the same command again: the resumed run's
    per-asset totals equal an uninterrupted run's. Three times in a row."""
    w = big_world
    base = [sys.executable, "-m", "scanner", *_scan_args(w, "DB", "--chunk-bytes", "3000", "--workers", "2")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def argv(db: Path, out: Path) -> list[str]:
        return [str(db) if a == "DB" else a for a in base] + ["--json", str(out), "-q"] + ["--slice-rows", "25"]

    def start(db: Path, out: Path) -> tuple[subprocess.Popen, float]:
        """Starts the scan and returns once its run row is stored (or it has ended), with that moment."""
        proc = subprocess.Popen(argv(db, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        limit = time.perf_counter() + 120
        while proc.poll() is None and not _running_runs(db) and time.perf_counter() < limit:
            time.sleep(0.01)
        return proc, time.perf_counter()

    clean = tmp_path / "clean.json"
    proc, stored = start(tmp_path / "clean.db", clean)
    assert proc.wait(timeout=300) in (0, 1) and clean.exists()
    span = time.perf_counter() - stored  # from the run row to the end
    reference = _figures(json.loads(clean.read_text()))
    rng = random.Random(os.environ.get("PORSCAN_KILL_SEED", "17"))
    killed_midway = attempt = 0
    # A kill lands at a random moment between the run row and the end of the clean run. A run faster
    # than the clean one (warm caches, a quieter machine) may end first: its length narrows the window
    # and the test tries again, a bounded number of times.
    while killed_midway < 3 and attempt < 8:
        db = tmp_path / f"k{attempt}.db"
        out = tmp_path / f"k{attempt}.json"
        attempt += 1
        proc, stored = start(db, out)
        deadline = stored + rng.uniform(0, span * 0.9)
        while proc.poll() is None and time.perf_counter() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the scan and its verification workers, no clean-up
        proc.wait()
        if out.exists() or not _running_runs(db):  # it had finished the run before the kill: not mid-scan
            span = min(span, time.perf_counter() - stored)
        else:
            killed_midway += 1
        done = subprocess.run(argv(db, out), env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode in (0, 1), done.stderr
        resumed = json.loads(out.read_text())
        assert _figures(resumed) == reference, f"attempt {attempt}"
    assert killed_midway == 3, f"only {killed_midway} of {attempt} runs were killed mid-scan: make the world bigger"


def test_html_report_of_a_real_scan_in_chromium(world, tmp_path):
    """The HTML that `porscan scan --html` writes, loaded in headless Chromium, shows the scan's own
    figures: each asset's proven ratio and coverage, the liabilities' provenance and the blocks."""
    from support.browser import chromium_or_skip, dump_dom

    from scanner.report.charts import format_ratio, rows_read_text

    chromium_or_skip()
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    main(_scan_args(world, str(tmp_path / "h.db"), "--json", str(out), "--html", str(html)))
    report = json.loads(out.read_text())
    dom = dump_dom(html).stdout
    for a in report["assets"]:
        assert a["asset"] in dom
        if a["proven_ratio"] is not None:
            assert format_ratio(a["proven_ratio"]) in dom, a["asset"]
        assert rows_read_text(a["rows_read"], a["rows_expected"]) in dom, a["asset"]
    assert "self-reported" in dom
    heights = _expected(world)["heights"]
    assert str(heights["ETH-ARBITRUM"]) in dom and str(heights["ETH"]) in dom


# ------------------------------------------------------------------------------ aggregation, unit level

def _agg(places: dict):
    from scanner.pipeline.aggregate import Aggregation, CoinPlace

    return Aggregation(lambda coin: places.get(coin, CoinPlace(coin, "unconfigured", None)))


def _rec(line, coin, address, text, units, status="verified", height=7):
    from scanner.storage import RowRecord

    return RowRecord(line, coin, coin, address, height, text, units, status, "s", "")


def _bal(line, coin, address, units, height=7):
    from scanner.storage import BalanceRecord

    return BalanceRecord(line, coin, "net", "X", address, height, None, units, None, height, "0xh", True, "match", "", "ep")


def test_sums_are_exact_beyond_28_digits():
    from scanner.pipeline.aggregate import CoinPlace

    agg = _agg({"SHIB": CoinPlace("SHIB", "ethereum", 18, "0xshib")})
    units = 12345678901234123456789012345678  # 12345678901234.123456789012345678 SHIB: 32 significant digits
    agg.add(_rec(1, "SHIB", "0x" + "11" * 20, "12345678901234.123456789012345678", units),
            _bal(1, "SHIB", "0x" + "11" * 20, units + 1))
    (total, star) = agg.totals()
    assert star.published == Decimal("12345678901234.123456789012345678")
    assert star.onchain == Decimal("12345678901234.123456789012345679") == star.proven
    assert star.to_json()["difference"] == "0.000000000000000001"
    assert star.to_place_json()["difference"] == "0.000000000000000001"  # the feed's form: the same rule


def test_aliases_and_spellings_of_one_wallet_count_once():
    from scanner.pipeline.aggregate import CoinPlace

    arb = CoinPlace("ETH", "arbitrum", 18)
    btc = CoinPlace("BTC", "bitcoin", 8)
    agg = _agg({"ETH-ARBITRUM": arb, "ARBITRUM": arb, "BTC": btc})
    a = "0x" + "ab" * 20
    agg.add(_rec(1, "ETH-ARBITRUM", a, "1", 10**18, status="failed"), _bal(1, "ETH-ARBITRUM", a, 10**18))
    agg.add(_rec(2, "ARBITRUM", a.upper().replace("0X", "0x"), "1", 10**18), _bal(2, "ARBITRUM", a.upper(), 10**18))
    seg = "bc1q" + "w508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    agg.add(_rec(3, "BTC", seg, "2", 2 * 10**8), _bal(3, "BTC", seg, 2 * 10**8))
    agg.add(_rec(4, "BTC", seg.upper(), "2", 2 * 10**8), _bal(4, "BTC", seg.upper(), 2 * 10**8))
    totals = {(t.asset, t.network): t for t in agg.totals()}
    eth = totals[("ETH", "*")]
    assert eth.onchain == Decimal(1) and eth.proven == Decimal(1) and eth.unverified == 0  # moved to the better proof
    assert eth.published == Decimal(2)  # published as the file says, both rows
    assert totals[("BTC", "*")].onchain == Decimal(2)
    assert agg.duplicates == 2


def test_more_decimals_than_the_coin_are_summed_exactly_and_noted():
    from scanner.pipeline.aggregate import CoinPlace

    agg = _agg({"ETH": CoinPlace("ETH", "ethereum", 18)})
    agg.add(_rec(1, "ETH", "0x" + "01" * 20, "1000.0000000000000000001", None), None)
    agg.add(_rec(2, "ETH", "0x" + "02" * 20, "5.5", 55 * 10**17), None)
    (_, star) = agg.totals()
    assert star.published == Decimal("1005.5000000000000000001") == star.unread_published
    assert agg.excess_decimals == 1


def test_min_ratio_compares_the_exact_ratio_not_the_rounded_one():
    from scanner.amounts import shown_fraction as _q
    from scanner.pipeline.scan import below

    exact = Decimal("0.99999970000003")
    assert _q(exact) == Decimal("0.999999")  # rounded down for display, never up to 1
    report = scan_report({"assets": [{"asset": "ETH", "proven_ratio": "1", "proven_ratio_exact": str(exact)}]})
    assert below(report, Decimal(1)) == ["ETH"]


def test_database_and_option_errors_are_usage_errors(world, tmp_path, capsys):
    assert main(_scan_args(world, "ftp://host/x")) == 2
    assert main(_scan_args(world, str(tmp_path / "a.db"), "--resume", "999")) == 2
    assert main(_scan_args(world, str(tmp_path / "a.db"), "--snapshot-date", "2024-13-01")) == 2
    with pytest.raises(SystemExit) as exc:
        main(_scan_args(world, str(tmp_path / "a.db"), "--chunk-bytes", "0"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_resume_with_other_options_is_refused(world, tmp_path, capsys):

    from scanner.pipeline.ingest import sha256_file
    from scanner.storage import RunSpec, open_store

    db = str(tmp_path / "r.db")

    async def unfinished(liabilities_sha256) -> int:
        store = await open_store(db)
        try:
            run = await store.start_run(RunSpec("Sample", str(world.reserves), sha256_file(world.reserves),
                                                str(world.liabilities), liabilities_sha256, {"chunk_bytes": 1500}, "0"))
            return run.id
        finally:
            await store.close()

    run_id = run(unfinished(None))
    assert main(_scan_args(world, db, "--resume", str(run_id))) == 2
    assert "another liabilities file" in capsys.readouterr().err
    run_id = run(unfinished(sha256_file(world.liabilities)))
    assert main(_scan_args(world, db, "--resume", str(run_id))) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "other options (" in err and "chunk_bytes" in err


def test_one_wallet_listed_at_two_heights_counts_once_and_the_conflict_is_named():
    """Listed twice at two heights, the same coins would be counted twice (a 101% ratio became 159%):
    counted once, at the first listed height, and the conflicting heights named."""
    from scanner.pipeline.aggregate import CoinPlace

    agg = _agg({"ETH": CoinPlace("ETH", "ethereum", 18)})
    a = "0x" + "cd" * 20
    agg.add(_rec(1, "ETH", a, "5", 5 * 10**18, height=100), _bal(1, "ETH", a, 5 * 10**18, height=100))
    agg.add(_rec(2, "ETH", a, "7", 7 * 10**18, height=200), _bal(2, "ETH", a, 7 * 10**18, height=200))
    (_, star) = agg.totals()
    assert star.onchain == Decimal(5) and star.published == Decimal(12)  # published as the file says
    assert agg.duplicates == 1 and agg.height_conflicts == {("ETH", "ethereum", a): [100, 200]}


def test_an_asset_with_nothing_read_has_no_ratio_and_no_on_chain_figures(tmp_path):
    """Its endpoint down (here: nothing listens), an asset's reserves are unknown, not zero: no
    ratio (the reason says 'unread'), blank on-chain figures, and the asset is marked incomplete in
    JSON and CSV; a partly read asset would keep its figures with the same mark."""
    import csv as csvmod

    from scanner.cli.main import main

    reserves = tmp_path / "reserves.csv"
    reserves.write_text("coin,address,snapshot height,balance,message,signature\n"
                        f"ETH,0x{'ab' * 20},100,5.5,-,-\nETH,0x{'cd' * 20},100,1,-,-\n")
    liabilities = tmp_path / "liabilities.csv"
    liabilities.write_text("asset,amount,source\nETH,6,test\n")
    networks = tmp_path / "networks.toml"
    networks.write_text('[networks.ethereum]\nkind = "evm"\nchain_id = 1\nnative_symbol = "ETH"\nnative_decimals = 18\n'
                        '[[networks.ethereum.endpoints]]\nlabel = "down"\nurl = "http://127.0.0.1:9"\n')
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    code = main(["scan", str(reserves), "--liabilities", str(liabilities), "--config", str(networks),
                 "--db", str(tmp_path / "runs.db"), "--json", str(out), "--csv", str(table), "--no-progress", "-q"])
    assert code == 3  # incomplete reads: an outage, not a failed check
    (eth,) = json.loads(out.read_text())["assets"]
    assert eth["proven_ratio"] is None and eth["with_unproven_ratio"] is None
    assert eth["ratio_note"].startswith("unread")
    assert (eth["onchain"], eth["proven"], eth["difference"]) == (None, None, None)
    assert eth["published"] == "6.5" and eth["unread_published"] == "6.5" and eth["complete"] is False
    rows = list(csvmod.DictReader(table.open()))
    assert rows[0]["proven_ratio"] == "" and rows[0]["onchain"] == "" and rows[0]["complete"].startswith("no")


@pytest.mark.parametrize("assets,verification,balances,min_ratio,code", [
    ([{"asset": "BTC", "rows_read": 2, "rows_expected": 2, "proven_ratio": "1.2"}], {"verified": 2}, {"match": 2}, "1", 0),
    # an endpoint down: incomplete, not a failure, even with a ratio below --min-ratio from what was read
    ([{"asset": "BTC", "rows_read": 1, "rows_expected": 2, "proven_ratio": "0.5"}], {"verified": 2}, {"match": 1, "unread": 1}, "1", 3),
    # a failed row or a mismatch is a failure whatever else is unread
    ([{"asset": "BTC", "rows_read": 1, "rows_expected": 2, "proven_ratio": None}], {"failed": 1, "verified": 1}, {"match": 1, "unread": 1}, None, 1),
    ([{"asset": "BTC", "rows_read": 2, "rows_expected": 2, "proven_ratio": None}], {"verified": 2}, {"match": 1, "mismatch": 1}, None, 1),
    # a fully read asset below --min-ratio fails
    ([{"asset": "BTC", "rows_read": 2, "rows_expected": 2, "proven_ratio": "0.9"},
      {"asset": "ETH", "rows_read": 0, "rows_expected": 3, "proven_ratio": None}], {"verified": 5}, {"match": 2, "unread": 3}, "1", 1),
])
def test_exit_codes_tell_an_outage_from_a_failed_check(assets, verification, balances, min_ratio, code):
    from scanner.cli.scan import scan_exit_code

    report = scan_report({"assets": assets, "verification": {"by_status": verification}, "balances": {"by_status": balances}})
    assert scan_exit_code(report, None if min_ratio is None else Decimal(min_ratio)) == code


def _one_row_scan(tmp_path, label: str):
    """The options of a scan of one ETH row (0xabab..., at block 100) on one endpoint ``label`` that
    answers nothing (127.0.0.1:9): the tests give it a failing stage or an adapter of their own."""
    import scanner.pipeline.scan as scan_mod

    reserves = tmp_path / "reserves.csv"
    reserves.write_text("coin,address,snapshot height,balance,message,signature\n"
                        f"ETH,0x{'ab' * 20},100,1,-,-\n")
    networks = tmp_path / "networks.toml"
    networks.write_text('[networks.ethereum]\nkind = "evm"\nchain_id = 1\nnative_symbol = "ETH"\nnative_decimals = 18\n'
                        f'[[networks.ethereum.endpoints]]\nlabel = "{label}"\nurl = "http://127.0.0.1:9"\n')
    return scan_mod.ScanOptions(file=str(reserves), db=str(tmp_path / "runs.db"), networks_path=str(networks), workers=1)


async def _list_runs(db: str):
    from scanner.storage import open_store

    async with await open_store(db) as s:
        return await s.list_runs()


def _run_left_failed(tmp_path, monkeypatch, why: str):
    """The options of a one-row scan whose balance stage raised ``why``: its run is stored 'failed'
    (and resumable) with the stage still patched to fail; the caller's ``monkeypatch.undo()`` lets the
    next scan finish it."""
    import scanner.pipeline.scan as scan_mod

    opts = _one_row_scan(tmp_path, "down")

    async def boom(*_args, **_kwargs):
        raise RuntimeError(why)

    monkeypatch.setattr(scan_mod, "_stage_balances", boom)
    with pytest.raises(RuntimeError):
        run(scan_mod.run_scan(opts))
    return opts


def test_a_run_that_dies_is_stored_as_failed_and_resumes(tmp_path, monkeypatch):
    """An unexpected error in a stage left the run 'running' forever. Now it is 'failed' with the
    reason, and the same command resumes it."""

    import scanner.pipeline.scan as scan_mod

    opts = _run_left_failed(tmp_path, monkeypatch, "adapter bug")
    db = opts.db

    (failed_run,) = run(_list_runs(db))
    assert failed_run.status == "failed" and "adapter bug" in failed_run.summary["error"]
    monkeypatch.undo()
    outcome = run(scan_mod.run_scan(opts))
    assert outcome.resumed and outcome.run.id == failed_run.id and outcome.run.status == "done"


def test_the_report_lists_the_rows_to_look_at(world, tmp_path):
    """Failed and unreadable rows, mismatched and unread balances: listed by line in the JSON report
    (with their count per stage) and in the HTML report, not only counted."""
    from scanner.report.html import render_html

    out = tmp_path / "r.json"
    main(_scan_args(world, str(tmp_path / "f.db"), "--json", str(out)))
    report = json.loads(out.read_text())
    f = report["failures"]
    v, b = report["verification"]["by_status"], report["balances"]["by_status"]
    assert f["by_stage"]["verify"] == v.get("failed", 0) + v.get("invalid_row", 0) > 0
    assert f["by_stage"]["balances"] == b.get("mismatch", 0) + b.get("unread", 0) + b.get("invalid_row", 0) > 0
    assert f["total"] == len(f["rows"]) == f["listed"]
    assert [r["line"] for r in f["rows"]] == sorted(r["line"] for r in f["rows"])
    assert {r["status"] for r in f["rows"]} >= {"failed", "mismatch"}
    html = render_html(report)
    assert 'id="failures"' in html
    assert all(f">{r['line']}<" in html for r in f["rows"][:50])


def test_json_lists_every_row_to_look_at_while_the_stored_report_lists_the_first(world, tmp_path, monkeypatch, capsys):
    """The --json file of a scan (and of `porscan report`) lists every failure, however many; the
    report stored with the run (read by the feed and the dashboard) lists the first ones and counts all."""
    import sqlite3

    from scanner.pipeline import scan as scan_mod

    monkeypatch.setattr(scan_mod, "FAILURES_LISTED", 2)
    db, out, again = tmp_path / "few.db", tmp_path / "r.json", tmp_path / "again.json"
    main(_scan_args(world, str(db), "--json", str(out)))
    f = json.loads(out.read_text())["failures"]
    assert f["total"] > 2 and f["listed"] == len(f["rows"]) == f["total"]
    (stored,) = sqlite3.connect(db).execute("SELECT summary FROM runs").fetchone()
    kept = json.loads(stored)["failures"]
    assert kept["total"] == f["total"] and kept["listed"] == len(kept["rows"]) == 2
    assert kept["rows"] == f["rows"][:2]
    capsys.readouterr()
    run_id = json.loads(out.read_text())["run"]["id"]
    main(["report", str(run_id), "--db", str(db), "--json", str(again)])
    assert json.loads(again.read_text())["failures"] == f


def test_report_model_reads_back_what_it_writes(world, tmp_path):
    """ScanReport.from_json(report).to_json() is the report itself, for a real scan's report and for
    the stored OKX-shaped fixture; what is not a scan report is refused naming the field."""
    from scanner.report_model import ReportError, ScanReport

    out = tmp_path / "r.json"
    main(_scan_args(world, str(tmp_path / "m.db"), "--json", str(out)))
    real = json.loads(out.read_text())
    assert ScanReport.from_json(real).to_json() == real
    model = ScanReport.from_json(real)
    assert model.rows_read == sum(a["rows_read"] for a in real["assets"])
    assert all(isinstance(a.figures.published, Decimal) for a in model.assets)
    fixture = json.loads((ROOT / "tests" / "data" / "scan_report_okx.json").read_text())
    again = ScanReport.from_json(ScanReport.from_json(fixture).to_json())
    assert again == ScanReport.from_json(fixture)
    for bad, field in (({**real, "schema": "other/1"}, "schema"),
                       ({**real, "assets": [{**real["assets"][0], "published": "12x"}]}, "published"),
                       ({**real, "assets": [{**real["assets"][0], "rows_read": "9"}]}, "rows_read"),
                       ({**real, "run": None}, "run"), ([], "report")):
        with pytest.raises(ReportError, match=field):
            ScanReport.from_json(bad)


def test_report_command_on_an_unreadable_stored_report_is_one_line(world, tmp_path, capsys):
    import sqlite3

    db, out = tmp_path / "u.db", tmp_path / "r.json"
    main(_scan_args(world, str(db), "--json", str(out)))
    run_id = json.loads(out.read_text())["run"]["id"]
    with sqlite3.connect(db) as con:
        con.execute("UPDATE runs SET summary = ? WHERE id = ?", (json.dumps({"schema": "porscan.scan/1", "run": {"id": "x"}}),
                                                                run_id))
    capsys.readouterr()
    assert main(["report", str(run_id), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run.id" in err[0] and "Traceback" not in err[0]


def test_dry_run_writes_the_plan_as_json_and_nothing_else(world, tmp_path, capsys):
    db, plan_file = tmp_path / "none.db", tmp_path / "plan.json"
    assert main(_scan_args(world, str(db), "--dry", "--json", str(plan_file))) == 0
    plan = json.loads(plan_file.read_text())
    assert plan["schema"] == "porscan.plan/1" and plan["rows"] > 0 and not db.exists()
    shown = capsys.readouterr().out
    for n in plan["networks"]:
        assert n["network"] in shown and sum(n["coins"].values()) == n["rows"]
        assert all("://" not in e for e in n["endpoints"])  # labels, never URLs
    evm = [n for n in plan["networks"] if n["kind"] == "evm"]
    assert evm and all(isinstance(n["requests"], int) and n["requests"] > 0 for n in evm)
    assert all(n["reads"].startswith(("at snapshot", "latest")) and n["reads"] in shown for n in plan["networks"])


# A scan's loop gone (a SIGTERM's KeyboardInterrupt leaves asyncio.run without shutting its threads
# down) while verification's thread waits for the loop to store a chunk: the thread must end by
# itself, or the process never exits. Run in a child process: a thread that waits forever hangs it.
_LOOP_GONE = r"""
import asyncio, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from scanner.pipeline.scan import NullUI, ScanOptions, _load_context, _stage_verify

ctx = _load_context(ScanOptions(file=sys.argv[1], networks_path=sys.argv[2], workers=1, chunk_bytes=1024))
entered = asyncio.Event()

class Store:
    async def done_chunks(self, run_id, stage):
        return set()

    async def save_rows(self, run_id, key, records):
        entered.set()
        await asyncio.sleep(3600)  # the loop never gets to finish it

class Run:
    id = 1

loop = asyncio.new_event_loop()
loop.set_default_executor(ThreadPoolExecutor(1, thread_name_prefix="verify-thread"))
loop.create_task(_stage_verify(ctx, Store(), Run(), NullUI()))
loop.run_until_complete(entered.wait())
loop.close()  # as asyncio.run's close does when a KeyboardInterrupt escapes it: no task is run again
deadline = time.monotonic() + 10
while any(t.name.startswith("verify-thread") for t in threading.enumerate()) and time.monotonic() < deadline:
    time.sleep(0.05)
print("ended" if time.monotonic() < deadline else "still waiting", flush=True)
os._exit(0)  # not joined at exit: a thread still waiting would hang this process
"""


def test_verification_thread_ends_when_the_scan_loop_is_gone(tmp_path):
    """SIGTERM at the wrong moment printed "interrupted" and then never exited: the verification
    thread waited forever for a chunk's store on a loop that had been closed."""
    reserves = tmp_path / "reserves.csv"
    reserves.write_text("coin,address,snapshot height,balance,message,signature\n"
                        + "".join(f"ETH,0x{i:040x},100,1,-,-\n" for i in range(200)))
    networks = tmp_path / "networks.toml"
    networks.write_text('[networks.ethereum]\nkind = "evm"\nchain_id = 1\nnative_symbol = "ETH"\nnative_decimals = 18\n'
                        '[[networks.ethereum.endpoints]]\nlabel = "down"\nurl = "http://127.0.0.1:9"\n')
    try:
        done = subprocess.run([sys.executable, "-c", _LOOP_GONE, str(reserves), str(networks)], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail("the process did not exit: the verification thread still waits for the closed loop")
    assert done.stdout.strip() == "ended", done.stderr[-2000:]


_HOLD_RUN = r"""
import asyncio, sys
from scanner.storage import open_store

async def main(url, run_id):
    store = await open_store(url)
    print(await store.claim_run(run_id), flush=True)
    sys.stdin.readline()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_a_run_another_process_is_scanning_is_not_resumed_beside_it(tmp_path, monkeypatch):
    """Two `porscan scan` of the same inputs at once: the second resumed the run the first was still
    scanning (both wrote into it, both read the same nodes, both finished it). Now it says so in one
    line, and resumes the run once the other process is gone."""
    import scanner.pipeline.scan as scan_mod

    opts = _run_left_failed(tmp_path, monkeypatch, "interrupted half-way")
    db = opts.db
    monkeypatch.undo()

    (unfinished,) = run(_list_runs(db))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_RUN, db, str(unfinished.id)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with pytest.raises(scan_mod.ScanError, match=f"run {unfinished.id} is being scanned by another porscan process"):
            run(scan_mod.run_scan(opts))
        with pytest.raises(scan_mod.ScanError, match="another porscan process"):
            run(scan_mod.run_scan(dataclasses.replace(opts, resume=unfinished.id)))
    finally:
        holder.kill()
        holder.wait()
    assert [r.status for r in run(_list_runs(db))] == ["failed"]  # nothing was written beside the other process
    outcome = run(scan_mod.run_scan(opts))
    assert outcome.resumed and outcome.run.id == unfinished.id and outcome.run.status == "done"


def test_a_resumed_run_still_says_how_its_earlier_reads_were_made(tmp_path, monkeypatch):
    """What a network's reads said (the block and method of a UTXO read, a read at the latest block
    instead of the snapshot) was kept only in the memory of the process that read: a run interrupted
    after its reads and resumed read nothing more and its report lost those notes. They are stored."""
    import scanner.pipeline.scan as scan_mod
    from chains.memory import MemoryAdapter
    from scanner.pipeline import adapters

    address = "0x" + "ab" * 20
    said = "FAKE-memory: read at block 100 0xabab via a test method"

    class Noting(MemoryAdapter):
        async def balances(self, asset, addresses, height):
            batch = await super().balances(asset, addresses, height)
            return dataclasses.replace(batch, notes=(said,))

    monkeypatch.setitem(adapters.FACTORIES, "evm", lambda net, **_: Noting("ethereum", {address: 10**18}))
    opts = _one_row_scan(tmp_path, "mem")

    async def killed(*_args, **_kwargs):
        raise RuntimeError("killed after the reads")

    with monkeypatch.context() as m:
        m.setattr(scan_mod, "finish_scan", killed)
        with pytest.raises(RuntimeError):
            run(scan_mod.run_scan(opts))
    outcome = run(scan_mod.run_scan(opts))
    assert outcome.resumed
    assert f"ethereum: {said}" in outcome.report.notes
