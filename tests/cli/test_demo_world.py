"""``porscan demo`` end to end: every asset of the sample exchange is read, none hidden as unread.

The demo's world (scanner/devnet/localworld.py with its defaults) funds ETH and USDT on two anvil chains, BTC
on Bitcoin Knots regtest, LTC on litecoind regtest (all read at their snapshot heights), and TRX,
USDT-TRC20 and SOL on the FAKE TRON and Solana servers (scanner/devnet/fake_tron_solana.py; no TRON node
or Solana validator can run here), read at the latest block and labelled so. The demo runs as its own
process in its own session, so the test also sees whether it leaves a node or server behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from decimal import Decimal

import pytest

from support.common import ROOT, need_anvil
from scanner.amounts import from_base_units
from scanner.devnet.sample_exchange import DECIMALS, build_rows

FAKE_READ = {"TRX", "USDT-TRC20", "SOL"}  # no reads at a height on these chains


def _need_nodes() -> None:
    from scanner.devnet.localbtc import knots_root, litecoind_bin, tool_missing

    need_anvil()
    for why in (tool_missing("litecoind", litecoind_bin()), tool_missing("knots", knots_root() / "usr" / "bin" / "bitcoind")):
        if why:
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)


def _session(sid: int) -> list[str]:
    """Processes still in the demo's session (its nodes and servers, if any were left behind)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.split() and line.split()[1] == str(sid)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``porscan demo --dir DIR`` run once: (exit code, stdout, stderr, DIR)."""
    _need_nodes()
    folder = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250"}
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "demo", "--dir", str(folder), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        raise
    deadline = time.monotonic() + 5
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _session(proc.pid)
    for line in left:  # tidy up before failing
        os.kill(int(line.split()[0]), 9)
    assert not left, f"the demo left processes behind: {left}"
    return proc.returncode, out, err, folder


def test_demo_reads_every_coin_of_the_sample_with_its_snapshot_total(demo):
    code, out, err, folder = demo
    assert code == 0, err  # the scan says 1 (failed rows and a mismatch on purpose); the demo reports that as intended
    expected = json.loads((folder / "expected.json").read_text())
    report = json.loads((folder / "report.json").read_text())
    # every coin the sample lists is funded on a local chain or a FAKE stand-in
    assert set(expected["coins"]) == {r.coin for r in build_rows()}
    # the sample's unreadable rows (a USDT-TRC20 amount "12..5") are expected and not read
    invalid: dict[str, int] = {}
    for f in report["failures"]["rows"]:
        if f["status"] == "invalid_row":
            invalid[f["coin"]] = invalid.get(f["coin"], 0) + 1
    assert invalid == {"USDT-TRC20": 1}
    for coin, exp in expected["coins"].items():
        (net,) = [n for a in report["assets"] for n in a["networks"] if coin in n["coins"]]
        assert net["rows_read"] == net["rows_expected"] - invalid.get(coin, 0) > 0, coin
        assert Decimal(net["onchain"]) == from_base_units(exp["onchain"], DECIMALS[coin]), coin
        height = expected["heights"][coin]
        assert net["blocks"], coin
        if coin in FAKE_READ:  # read at the latest block, and said so
            assert not exp["at_snapshot"]
            assert all(not b["at_snapshot"] and b["number"] > height for b in net["blocks"]), (coin, net["blocks"])
        else:
            assert exp["at_snapshot"]
            assert [(b["number"], b["at_snapshot"]) for b in net["blocks"]] == [(height, True)], coin
    for a in report["assets"]:  # nothing left unread but the unreadable row
        missing = invalid.get("USDT-TRC20", 0) if a["asset"] == "USDT" else 0
        assert a["rows_read"] == a["rows_expected"] - missing and Decimal(a["unread_published"]) == 0, a["asset"]
        assert a["proven_ratio"] is not None, a["asset"]
    assert report["balances"]["by_status"].get("unsupported", 0) == 0


def test_the_stand_ins_are_labelled_fake(demo):
    code, out, err, folder = demo
    nets = tomllib.loads((folder / "networks.toml").read_text())["networks"]
    for nid in ("tron", "solana"):
        labels = [e["label"] for e in nets[nid]["endpoints"]]
        assert labels and all(label.startswith("FAKE") for label in labels), labels
    assert all(not e["label"].startswith("FAKE") for nid in ("ethereum", "arbitrum", "bitcoin", "litecoin")
               for e in nets[nid]["endpoints"])
    assert "allow_rollback" in nets["litecoin"]["endpoints"][0]  # LTC moved after the snapshot: read by rollback
    # the terminal report names the FAKE endpoints and says the reads are not at the snapshot
    assert "FAKE-tron-local" in out and "FAKE-solana-local" in out
    assert out.count("(latest, not the snapshot)") == 3  # TRX, USDT-TRC20, SOL in the per-network table
    for asset in ("LTC", "TRX", "SOL", "USDT", "BTC", "ETH"):
        assert f"\n│ {asset} " in out


def test_the_solana_stand_in_serves_sol_without_solders(tmp_path):
    """solders (the [test] extra) builds keypairs and token accounts; the demo's SOL balances do not need it."""
    code = '''
import json, sys, urllib.request
sys.modules["solders"] = None  # as if not installed
from scanner.devnet.fake_tron_solana import FakeSolana
fake = FakeSolana(slot=100)
fake.lamports["11111111111111111111111111111112"] = 5
with fake.serve() as srv:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getMultipleAccounts",
                       "params": [["11111111111111111111111111111112"], {"encoding": "base64"}]}).encode()
    req = urllib.request.Request(srv.url, body, {"content-type": "application/json"})
    print(json.loads(urllib.request.urlopen(req, timeout=10).read())["result"]["value"][0]["lamports"])
'''
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"


def test_sigterm_to_the_demo_stops_its_nodes(tmp_path):
    """SIGTERM to the demo's Python process alone (not its group) still stops every node it started."""
    import signal

    _need_nodes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "demo", "--dir", str(tmp_path), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_session(proc.pid)) < 3 and proc.poll() is None:
            time.sleep(0.05)  # the demo and at least two of its nodes are up
        assert len(_session(proc.pid)) >= 3, "the demo's nodes never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        deadline = time.monotonic() + 5
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _session(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    for line in left:
        os.kill(int(line.split()[0]), 9)
    assert not left, f"SIGTERM left processes behind: {left}"


def _in_a_terminal(argv: list[str], columns: int) -> str:
    """``argv``'s output in a pseudo-terminal ``columns`` wide (what a user at that terminal sees)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def _amounts_shown(report: dict) -> list[str]:
    """Every published and on-chain amount of the report, as the terminal writes them (grouped digits)."""
    from scanner.report.terminal import _num

    out = []
    for a in report["assets"]:
        out += [_num(Decimal(a[k])) for k in ("published", "onchain") if a[k] is not None]
        out += [_num(Decimal(n["onchain"])) for n in a["networks"] if n["onchain"] is not None]
    return out


@pytest.mark.parametrize("columns", [80, None])
def test_every_amount_of_the_demo_appears_whole_at_80_columns_and_piped(demo, columns):
    _, piped, _, folder = demo
    report = json.loads((folder / "report.json").read_text())
    if columns is None:  # the demo's own output, piped
        text = piped
    else:
        text = _in_a_terminal([sys.executable, "-m", "scanner", "report", str(report["run"]["id"]), "--db",
                               str(folder / "porscan.db")], columns)
        assert "verdict:" in text and max(map(len, text.splitlines())) <= columns
    assert "…" not in text
    flat = text.replace("\n", " ")
    missing = [a for a in _amounts_shown(report) if a not in text and a not in flat]
    assert not missing, (columns, missing)
