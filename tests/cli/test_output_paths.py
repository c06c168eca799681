"""Output paths and signals: porscan never writes over what it reads, never replaces a device with a
file, and ends on SIGTERM with the table's code and nothing left behind."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys

import pytest

from scanner.cli.main import main
from scanner.devnet import samplegen as g
from support.common import ROOT, still_running, wait_for_children


def _file(tmp_path, rows: int = 5):
    lines = [g.OKX11_HEADER]
    for i in range(rows):
        addr, sig = g.evm_sign_okx_fast(g.seeded_key(i, "out"))
        lines.append(f"ETH,ETH,100,{addr},1,I am an OKX address,{sig},,")
    path = tmp_path / "reserves.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("argv,fragment", [
    (["verify", "{f}", "--failures-csv", "{f}"], "--failures-csv {f}: is the same file as FILE"),
    (["verify", "{f}", "--json", "{f}"], "--json {f}: is the same file as FILE"),
    (["verify", "{f}", "--json", "{d}/r.json", "--failures-csv", "{d}/./r.json"], "is also the path of --json"),
    (["verify", "{f}", "--json", "{d}"], "--json {d}: is a directory"),
    (["balances", "{f}", "--json", "{f}"], "--json {f}: is the same file as FILE"),
    (["scan", "{f}", "--db", "{d}/store.db", "--csv", "{d}/store.db"], "is the same file as --db"),
    (["scan", "{f}", "--db", "sqlite:///{d}/store.db", "--html", "{d}/store.db"], "is the same file as --db"),
])
def test_an_output_over_an_input_or_the_store_is_refused_before_any_work(tmp_path, capsys, argv, fragment):
    """``verify X.csv --failures-csv X.csv`` used to empty X.csv, then report 0 rows and exit 0."""
    f = _file(tmp_path)
    store = tmp_path / "store.db"
    store.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)  # stands for a store: only its bytes matter here
    before = {p: _sha(p) for p in (f, store)}
    fill = {"f": str(f), "d": str(tmp_path)}
    assert main([a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err
    assert fragment.format(**fill) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert {p: _sha(p) for p in (f, store)} == before  # nothing read was touched


def test_a_report_to_dev_stdout_is_written_in_place(tmp_path):
    """The report is written beside its path and renamed over it, so a failed run keeps the old one;
    a device must not be renamed over (that replaced /dev/stdout with a regular file)."""
    f = _file(tmp_path)
    was = os.path.islink("/dev/stdout"), os.path.exists("/dev/stdout")
    out = subprocess.run([sys.executable, "-m", "scanner", "verify", str(f), "--json", "/dev/stdout", "-q"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('{"schema": "porscan.verify/1"') and '"verified": 5' in out.stdout
    assert (os.path.islink("/dev/stdout"), os.path.exists("/dev/stdout")) == was
    assert not os.path.exists("/dev/stdout.part")


@pytest.mark.skipif(not os.path.exists("/dev/full") or os.path.isfile("/dev/full"), reason="no /dev/full device here")
def test_a_full_disk_is_one_line_not_a_traceback(tmp_path):
    f = _file(tmp_path)
    out = subprocess.run([sys.executable, "-m", "scanner", "verify", str(f), "--json", "/dev/full", "-q"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "porscan verify: No space left on device"


def test_sigterm_mid_run_exits_130_and_leaves_no_copy_or_worker(tmp_path):
    """SIGTERM ended porscan with 143 and left its copy of stdin (GBs, for a big input) in the temp
    directory; it now unwinds like Ctrl-C."""
    f = _file(tmp_path, rows=3)
    big = tmp_path / "big.csv"
    body = f.read_text().splitlines()
    with open(big, "w") as fh:
        fh.write(body[0] + "\n")
        fh.writelines(f"{body[1 + i % 3]}\n" for i in range(300_000))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with open(big, "rb") as stdin:
        proc = subprocess.Popen([sys.executable, "-m", "scanner", "verify", "-", "--workers", "2", "-q", "--no-progress"],
                                cwd=ROOT, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, "TMPDIR": str(tmp)}, text=True)
        kids = wait_for_children(proc.pid, 2, within=60)
        assert len(kids) >= 2, "the workers did not start"
        assert any(tmp.iterdir()), "the copy of stdin was not made"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not any(tmp.iterdir()), list(tmp.iterdir())
    assert not (alive := still_running(kids)), f"workers {alive} outlived the interrupted run"


_TERM_IN_A_TASK = r"""
import asyncio, os, signal, sys
import scanner.cli.main as cli
from scanner.cli.common import run_async

cli._MAIN_PID = os.getpid()
signal.signal(signal.SIGTERM, cli._terminated)
cleaned = []

async def reader():  # what a balance read does: runs in a task of its own when the signal lands
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(1000):
        await asyncio.sleep(0)

async def scan():
    asyncio.ensure_future(reader())  # a task nobody awaits, as a client library's writer task
    try:
        await asyncio.sleep(30)
    finally:
        cleaned.append(True)  # the scan's own clean-up ran (the run stored as interrupted, the store closed)

try:
    run_async(scan())
except KeyboardInterrupt:
    print("interrupted", bool(cleaned), flush=True)
"""


def test_sigterm_landing_in_a_task_unwinds_the_scan_without_a_traceback():
    """SIGTERM while a task of the scan's event loop ran (a balance read) raised KeyboardInterrupt inside
    that task: the loop stopped there, the scan's clean-up was skipped, and 'Task exception was never
    retrieved' printed a traceback after 'interrupted'. Now SIGTERM does what Ctrl-C does under asyncio:
    the scan is cancelled, unwinds, and the process ends as interrupted."""
    done = subprocess.run([sys.executable, "-c", _TERM_IN_A_TASK], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "interrupted True", (done.stdout, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
