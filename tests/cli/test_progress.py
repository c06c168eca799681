"""Progress that moves while slow rows are verified, and an ETA on the long stages.

A 1 MiB chunk of BLS validator-key rows takes seconds to verify; progress that moved only when a
chunk ended sat at "0% 0 rows". These run the real verifier on real BLS rows (signed here with
py_ecc, the reference implementation) in process, in worker processes, and in a terminal.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from functools import lru_cache

import pytest

from support.common import ROOT
from scanner.cli.common import RichUI
from scanner.devnet import samplegen as g
from scanner.pipeline import verify as verify_mod
from scanner.pipeline.ingest import read_head
from scanner.pipeline.verify import run_verify


@lru_cache(maxsize=None)
def _bls_row() -> tuple[str, str]:
    from py_ecc.bls import G2ProofOfPossession as Bls
    from signatures.evm import okx_evm_digest

    sk = 424242
    return "0x" + Bls.SkToPk(sk).hex(), "0x" + Bls.Sign(sk, okx_evm_digest(g.MESSAGE.encode())).hex()


def bls_file(tmp_path, rows: int):
    """An OKX 11-column file of ``rows`` BETH rows: one validator key's valid signature, row after row
    (every row is verified on its own: the cost is per row), plus one EVM row."""
    pub, sig = _bls_row()
    addr, evm_sig = g.evm_sign_okx_fast(g.seeded_key(1, "progress"))
    lines = [f"BETH,ETH,100,{pub},32,{g.MESSAGE},{sig},," for _ in range(rows)]
    lines.append(f"ETH,ETH,100,{addr},1,{g.MESSAGE},{evm_sig},,")
    p = tmp_path / "beth.csv"
    p.write_text(g.OKX11_HEADER + "\n" + "\n".join(lines) + "\n")
    return p


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []  # (bytes, rows, chunks ended so far)
        self.chunks: list[int] = []  # rows of each chunk, as chunks end

    def progress(self, nbytes: int, nrows: int) -> None:
        self.calls.append((nbytes, nrows, len(self.chunks)))

    def chunk(self, res) -> None:
        self.chunks.append(res.rows)


def _check_sums(rec: Recorder, head, outcome) -> None:
    assert sum(b for b, _, _ in rec.calls) == head.size - head.data_offset
    assert sum(r for _, r, _ in rec.calls) == outcome.rows
    assert all(b >= 0 and r >= 0 for b, r, _ in rec.calls)


def test_in_process_progress_moves_within_a_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(verify_mod, "PROGRESS_SECONDS", 0.0)  # every batch of rows, not by the clock
    p = bls_file(tmp_path, 200)
    head = read_head(str(p))
    rec = Recorder()
    outcome = run_verify(head, workers=1, on_progress=rec.progress, on_chunk=rec.chunk)
    assert outcome.status_totals()["verified"] == 201
    assert len(rec.chunks) == 1  # one chunk, yet many reports before it ended
    assert all(ended == 0 for _, _, ended in rec.calls)
    assert len(rec.calls) >= 200 // verify_mod.PROGRESS_BATCH
    totals = _running(rec)
    assert all(0 < t < 201 for t in totals[:-1]) and totals[-1] == 201
    assert totals == sorted(set(totals))  # strictly increasing
    _check_sums(rec, head, outcome)


def _running(rec: Recorder) -> list[int]:
    out, running = [], 0
    for _, rows, _ in rec.calls:
        running += rows
        out.append(running)
    return out


def test_worker_progress_reaches_the_parent_before_the_chunk_ends(tmp_path):
    """Two workers, two chunks of ~600 BLS rows (about a second each): the parent passes on counts
    from the workers while it waits for the first chunk, by the clock (PROGRESS_SECONDS as shipped)."""
    p = bls_file(tmp_path, 1200)
    head = read_head(str(p))
    rec = Recorder()
    started = time.perf_counter()
    outcome = run_verify(head, workers=2, chunk_bytes=(head.size - head.data_offset) // 2 + 1,
                         on_progress=rec.progress, on_chunk=rec.chunk)
    elapsed = time.perf_counter() - started
    assert outcome.status_totals()["verified"] == 1201 and len(rec.chunks) == 2
    totals = _running(rec)
    assert totals == sorted(set(totals)) and totals[-1] == outcome.rows
    # counts from inside a chunk: a total that no set of whole chunks adds up to
    whole = {0, rec.chunks[0], rec.chunks[1], outcome.rows}
    assert [t for t in totals if t not in whole], (rec.calls, rec.chunks, elapsed)
    assert any(ended == 0 and t not in whole for t, (_, _, ended) in zip(totals, rec.calls)), rec.calls
    _check_sums(rec, head, outcome)


def test_without_a_progress_callback_nothing_is_shared(tmp_path):
    p = bls_file(tmp_path, 40)
    head = read_head(str(p))
    outcome = run_verify(head, workers=2, chunk_bytes=1024)
    assert outcome.status_totals()["verified"] == 41


def _ui(width: int = 140) -> tuple[RichUI, io.StringIO]:
    from rich.console import Console

    buf = io.StringIO()
    return RichUI(Console(file=buf, force_terminal=True, width=width, color_system=None), True), buf


@pytest.mark.parametrize("stage", ["verify", "balances"])
def test_long_stages_show_an_eta(stage):
    ui, buf = _ui()
    ui.stage(stage, 1000)
    for _ in range(4):
        ui.advance(100)
        time.sleep(0.15)
    ui.progress.refresh()
    ui.end_stage()
    text = buf.getvalue()
    m = re.findall(r"ETA (\d+:\d\d:\d\d)", text)
    assert m, text
    h, mi, s = (int(x) for x in m[-1].split(":"))
    # 400 of 1000 in ~0.6 s: about a second left; anything under a minute says the rate was used
    assert 0 < h * 3600 + mi * 60 + s < 60, text


def test_a_stage_without_a_total_has_no_eta():
    ui, buf = _ui()
    ui.stage("aggregate", None)
    ui.progress.refresh()
    ui.end_stage()
    assert "ETA" not in buf.getvalue() and "aggregate" in buf.getvalue()


def test_porscan_verify_in_a_terminal_counts_rows_before_the_end(tmp_path):
    """The real command in a pseudo-terminal: some frame shows a row count between 0 and the total,
    with an ETA, while the one chunk of BLS rows is still being verified."""
    p = bls_file(tmp_path, 1500)
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="160", TERM="xterm")
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "verify", str(p), "--workers", "1"], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the other side closed
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    counts = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) rows", text)]
    assert proc.returncode == 0, text
    assert any(0 < n < 1501 for n in counts), text
    assert counts and counts[-1] == 1501, text
    assert re.search(r"ETA \d+:\d\d:\d\d", text), text
