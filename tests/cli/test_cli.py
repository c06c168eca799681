"""``porscan verify`` end to end: exit codes, versioned JSON report, failures CSV, summary check."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import os

import pytest

from support.common import ROOT, shared_path, still_running, wait_for_children
from scanner.devnet import samplegen as g
from scanner.cli.main import main

H11 = g.OKX11_HEADER


def _sample_file(tmp_path, bad: bool = True, n_evm: int = 40):
    """A small OKX 11-column file signed with our own keys, with a few bad rows."""
    lines = []
    for i in range(n_evm):
        addr, sig = g.evm_sign_okx_fast(g.seeded_key(i, "cli"))
        lines.append(f"ETH,ETH,100,{addr},1.{i:02d},I am an OKX address,{sig},,")
    addr, sig = g.tron_sign(g.seeded_key(1, "cli-tron"))
    lines.append(f"USDT-TRC20,TRON,200,{addr},10,I am an OKX address,{sig},,")
    keys = [g.seeded_key(i, "cli-btc") for i in range(3)]
    a, s1, s2, script = g.p2wsh_multisig(keys)
    lines.append(f"BTC,BTC,300,{a},0.5,I am an OKX address,{s1},{s2},{script}")
    expected_bad = {}
    if bad:
        other, _ = g.evm_sign_okx_fast(g.seeded_key(999, "cli"))
        _, sig0 = g.evm_sign_okx_fast(g.seeded_key(0, "cli"))
        lines.append(f"ETH,ETH,100,{other},1,I am an OKX address,{sig0},,")  # wrong signer
        expected_bad[len(lines)] = "failed"
        lines.append(f"BTC,BTC,300,{a},0.5,I am an OKX address,{s1},{s1},{script}")  # duplicate signer
        expected_bad[len(lines)] = "failed"
        lines.append("ETH,ETH,100,0xabc,not-a-number,msg,0x00,,")
        expected_bad[len(lines)] = "invalid_row"
    eth_total = sum(__import__("decimal").Decimal(f"1.{i:02d}") for i in range(n_evm))
    summary = f"coin,snapshot height,amount\nETH,100,{eth_total:.4f}\nUSDT-TRC20,200,10\nBTC,300,0.4\n\n"
    p = tmp_path / "okx.csv"
    p.write_text(summary + H11 + "\n" + "\n".join(lines) + "\n")
    offset = summary.count("\n") + 2  # line number of lines[0]
    return p, {offset + k - 1: v for k, v in expected_bad.items()}, offset


def test_verify_clean_file_exit_0(tmp_path, capsys):
    p, _, _ = _sample_file(tmp_path, bad=False)
    assert main(["verify", str(p), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "42 verified" in out and "0 failed" in out


def test_verify_json_and_failures(tmp_path):
    p, bad, first = _sample_file(tmp_path)
    rep, fails = tmp_path / "r.json", tmp_path / "f.csv"
    assert main(["verify", str(p), "--json", str(rep), "--failures-csv", str(fails), "--no-progress"]) == 1
    report = json.loads(rep.read_text())
    assert report["schema"] == "porscan.verify/1"
    rows = report["rows"]
    assert len(rows) == 45 == report["summary"]["rows"]
    for r in rows:
        assert {"line", "coin", "network", "address", "status", "scheme", "reason"} <= set(r)
    by_line = {r["line"]: r for r in rows}
    assert by_line[first]["status"] == "verified" and by_line[first]["coin"] == "ETH"
    for line, status in bad.items():
        assert by_line[line]["status"] == status and by_line[line]["reason"]
    assert "duplicate" in by_line[max(bad) - 1]["reason"]
    assert report["summary"]["by_status"] == {"verified": 42, "failed": 2, "unsigned": 0, "key_only": 0, "owner_only": 0,
                                              "unsupported": 0, "skipped": 0, "invalid_row": 1}
    assert report["input"]["sha256"] and report["input"]["layout"] == "okx-11"
    # summary block: ETH matches its detail rows (the bad ETH row adds 1), BTC does not
    checks = {c["coin"]: c for c in report["summary"]["summary_block"]}
    assert checks["BTC"]["status"] == "mismatch" and checks["USDT-TRC20"]["status"] == "match"
    with open(fails) as fh:
        failures = list(csv.DictReader(fh))
    assert sorted(int(f["line"]) for f in failures) == sorted(bad)
    assert all(f["reason"] for f in failures)


def test_parallel_equals_serial(tmp_path):
    p, _, _ = _sample_file(tmp_path)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["verify", str(p), "--json", str(a), "--workers", "1", "--no-progress", "-q"]) == 1
    assert main(["verify", str(p), "--json", str(b), "--workers", "2", "--chunk-bytes", "2000", "--no-progress", "-q"]) == 1
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["rows"] == rb["rows"]
    assert ra["summary"] == rb["summary"]


def test_filters_mark_rows_skipped(tmp_path):
    p, _, _ = _sample_file(tmp_path, bad=False)
    rep = tmp_path / "r.json"
    assert main(["verify", str(p), "--coin", "btc", "--json", str(rep), "-q"]) == 0
    s = json.loads(rep.read_text())["summary"]["by_status"]
    assert s["verified"] == 1 and s["skipped"] == 41


@pytest.mark.parametrize("argv, said", [
    (["verify", "--coin", "BTCC"], "porscan verify: --coin BTCC matches no row of {p} (its coins: ETH, BTC, USDT-TRC20)"),
    (["verify", "--network", "ETHX,SOL"], "porscan verify: --network ETHX,SOL matches no row of {p} (its networks: "
                                          "ETH, BTC, TRON)"),
    (["verify", "--coin", "ETH", "--network", "TRON"], "porscan verify: --coin ETH with --network TRON matches no row"),
    (["verify", "--coin", "ETH,BTCC"], "porscan verify: --coin BTCC matches no row of {p} (its coins: ETH,"),
    (["scan", "--network", "eth,TRONX", "--dry"], "porscan scan: --network TRONX matches no row of {p} (its networks: "),
    (["verify", "--coin", ""], "porscan verify: --coin '': names nothing"),
    (["verify", "--coin", ",,,"], "porscan verify: --coin ',,,': names nothing"),
    (["verify", "--network", " "], "porscan verify: --network ' ': names nothing"),
    (["scan", "--coin", "BTCC", "--dry"], "porscan scan: --coin BTCC matches no row of {p}"),
    (["scan", "--coin", "BTCC"], "porscan scan: --coin BTCC matches no row of {p}"),
    (["scan", "--coin", ","], "porscan scan: --coin ',': names nothing"),
])
def test_a_filter_that_matches_nothing_is_a_usage_error(tmp_path, capsys, argv, said):
    """A mistyped --coin skipped every row: "all checks held: 0 of 0 balances read", exit 0, a run
    stored; an empty one meant no filter at all."""
    p, _, _ = _sample_file(tmp_path, bad=False)
    db, rep = tmp_path / "runs.db", tmp_path / "r.json"
    store = ["--db", str(db)] if argv[0] == "scan" else []
    assert main([argv[0], str(p), *argv[1:], "--json", str(rep), *store]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(said.format(p=p)), line
    assert not db.exists() and not rep.exists()  # nothing stored, no report written


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.csv")]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("hello world\n")
    assert main(["verify", str(bad)]) == 2
    assert "line" in capsys.readouterr().err or True
    with pytest.raises(SystemExit) as exc:
        main(["verify"])
    assert exc.value.code == 2
    assert main([]) == 2


def test_summary_block_of_2022_file_matches(tmp_path):
    p = shared_path("okx", "okx_por_2022_example.csv")
    rep = tmp_path / "r.json"
    assert main(["verify", str(p), "--json", str(rep), "-q"]) == 0
    summary = json.loads(rep.read_text())["summary"]
    assert summary["by_status"]["verified"] == 33
    assert [c["status"] for c in summary["summary_block"]] == ["match"] * 12
    btc = next(c for c in summary["coins"] if c["coin"] == "BTC")
    assert btc["published_amount"] == "449.51400581"  # base units converted exactly


def test_stale_summary_block_is_reported(tmp_path):
    p = shared_path("okx", "okx_por_example.csv")
    rep = tmp_path / "r.json"
    assert main(["verify", str(p), "--json", str(rep), "-q"]) == 0
    checks = json.loads(rep.read_text())["summary"]["summary_block"]
    assert {c["coin"]: c["status"] for c in checks}["ETH"] == "mismatch"


def test_console_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "scanner", "verify", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "exit codes" in out and "--failures-csv" in out


def test_the_process_entry_collects_garbage_in_bulk(monkeypatch):
    """A porscan process (script or ``python -m scanner``) sets the collector's bulk thresholds before
    the command runs; ``main`` alone, as tests call it, leaves the caller's."""
    import gc

    from chains.gcpause import BULK_THRESHOLDS
    from scanner.cli import main as cli

    before = gc.get_threshold()
    seen = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_threshold()) or 0)
    try:
        gc.set_threshold(700, 10, 10)
        assert cli.entry() == 0
        assert seen == [BULK_THRESHOLDS] != [(700, 10, 10)]
    finally:
        gc.set_threshold(*before)
    out = subprocess.run([sys.executable, "-c", "import runpy, gc, sys; sys.argv = ['porscan', '--version']\n"
                          "try: runpy.run_module('scanner', run_name='__main__')\n"
                          "except SystemExit: print(gc.get_threshold())"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith(str(BULK_THRESHOLDS))


def test_rows_keep_file_order_when_schemes_interleave(tmp_path):
    """Workers verify a chunk one scheme at a time; the report must still list rows in file order,
    each with the verdict of its own row (checked here row by row, outside the chunk code)."""
    from scanner.pipeline.ingest import RowError, parse_detail_line, read_head
    from signatures.dispatch import verify_claim

    p, _, _ = _sample_file(tmp_path, n_evm=6)
    summary, body = p.read_text().split(H11 + "\n")
    lines = body.splitlines()
    # interleave families: ETH, TRON, BTC, ETH(bad), BTC(dup), invalid, ETH, ...
    mixed = [x for pair in zip(lines[:6], lines[6:] + [""] * 6) for x in pair if x]
    p.write_text(summary + H11 + "\n" + "\n".join(mixed) + "\n")
    rep = tmp_path / "r.json"
    assert main(["verify", str(p), "--json", str(rep), "--coin", "eth,btc", "--workers", "1", "-q"]) == 1
    rows = json.loads(rep.read_text())["rows"]
    head = read_head(p)
    first = head.data_line
    assert [r["line"] for r in rows] == list(range(first, first + len(mixed)))
    statuses = set()
    for r, text in zip(rows, mixed):
        parsed = parse_detail_line(text, r["line"], head.layout, str(p), head.heights)
        if type(parsed) is RowError:
            want = "invalid_row"
        elif parsed.coin == "USDT-TRC20":
            want = "skipped"
        else:
            want = verify_claim(parsed, head.layout.keyed_by_network).status.value
        assert (r["status"], r["address"]) == (want, text.split(",")[3]), r
        statuses.add(want)
    assert statuses == {"verified", "failed", "skipped", "invalid_row"}


@pytest.mark.parametrize("argv", [
    ["report", "99999999999999999999999"],
    ["report", "0"],
    ["verify", "x.csv", "--chunk-bytes", "99999999999999999999999"],
    ["verify", "x.csv", "--workers", "0"],
    ["scan", "x.csv", "--slice-rows", "-5"],
    ["scan", "x.csv", "--resume", "1e3"],
    ["serve", "--port", "70000"],
])
def test_numbers_out_of_range_are_one_line_and_exit_2(argv, capsys):
    """Before: an OverflowError traceback from SQLite or a file read, and exit 0 or 1."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err


def test_verify_workers_die_with_a_sigkilled_parent(tmp_path):
    """SIGKILL of porscan verify in the middle of a file: no worker process may outlive it."""
    import signal
    import subprocess
    import sys
    import time

    row = ("ETH,0xcac725bef4f114f728cbcfd744a731c2a463c3fc,16083851,6213.354806,King will be back!,"
           "0x6ec9074bbac7a827d09fb9b88abfbbb5f918948afa7af03771e259f92d4942be5dff0749d5842b7079011548a5ad02c0db67cd1777"
           "43a615833b8291daac40a301\n")
    big = tmp_path / "big.csv"
    with open(big, "w") as fh:
        fh.write("coin,address,snapshot height,balance,message,signature\n")
        fh.writelines(row for _ in range(300_000))
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "verify", str(big), "--workers", "2", "-q",
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids = wait_for_children(proc.pid, 2)
    assert len(kids) >= 2, "the workers did not start"
    time.sleep(0.5)  # mid-verification
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (alive := still_running(kids)), f"workers {alive} outlived their SIGKILLed parent"


def test_exported_csv_cells_cannot_run_as_spreadsheet_formulas(tmp_path):
    """Cells copied from the untrusted file into --failures-csv start with ' when they would start a
    formula; porscan's own numbers (a negative difference) stay numbers; JSON keeps the text as is."""
    addr, sig = g.evm_sign_okx_fast(g.seeded_key(1, "csv"))
    evil = ['=HYPERLINK("http://x.example","x")', "+1+2", "@SUM(A1)", "-2+3"]
    lines = [f"ETH,ETH,100,{addr},1,I am an OKX address,{sig},,"]
    lines += [f'ETH,ETH,100,"{e.replace(chr(34), chr(34) * 2)}",1,I am an OKX address,{sig},,' for e in evil]
    p = tmp_path / "evil.csv"
    p.write_text(H11 + "\n" + "\n".join(lines) + "\n")
    fails, rep = tmp_path / "f.csv", tmp_path / "r.json"
    assert main(["verify", str(p), "--failures-csv", str(fails), "--json", str(rep), "--no-progress"]) == 1
    with open(fails) as fh:
        cells = [c for r in csv.DictReader(fh) for c in r.values()]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r")) and not c.lstrip("-").replace(".", "").isdigit()]
    assert {"'" + e for e in evil} <= set(cells)
    assert {r["address"] for r in json.loads(rep.read_text())["rows"]} >= set(evil)


def test_csv_cell_rule():
    from scanner.csvcells import cell

    assert cell("-0.5") == "-0.5" and cell("-12") == "-12"  # numbers stay numbers
    assert cell("=1+2") == "'=1+2" and cell("\tx") == "'\tx" and cell("\r=1") == "'\r=1" and cell("-1+1") == "'-1+1"
    assert cell("ETH") == "ETH" and cell(None) == "" and cell(7) == "7"


def test_reading_commands_never_create_a_database(tmp_path, capsys):
    """runs, report and serve on a --db that does not exist: one line, exit 2, and no file or folder
    left behind (a typo must not look like an empty history)."""
    import subprocess
    import sys

    typo = tmp_path / "no-such-folder" / "typo.db"
    assert main(["runs", "--db", str(typo)]) == 2
    assert main(["report", "1", "--db", str(typo)]) == 2
    err = capsys.readouterr().err
    assert err.count("no database at") == 2 and "Traceback" not in err
    proc = subprocess.run([sys.executable, "-m", "scanner", "serve", "--db", str(typo), "--port", "0"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "no database at" in proc.stderr and "Traceback" not in proc.stderr
    assert not typo.parent.exists()
