"""Verify workers are forked while the scan's other threads import modules on first use (balance
adapters, their address codecs). A module half-imported at the fork stays locked in the child, so
a worker that needs it must never be the one to import it: run_verify imports whatever a worker
may need in the forking thread first (signatures.dispatch.import_all)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

from scanner.devnet import samplegen as g
from signatures import dispatch

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter, where signatures.utxo (the BTC family) is not imported yet. A thread
# starts importing it and is held mid-import (its module in sys.modules, still initialising, its
# lock taken) for 2 s, as the balance reads' import of the Bitcoin adapter may be; verification of
# BTC rows on 2 forked workers starts meanwhile. A worker that inherits the half-done import waits
# for that lock for ever.
CHILD = textwrap.dedent("""
    import importlib.abc, importlib.util, sys, threading, time
    from scanner.pipeline.ingest import read_head
    from scanner.pipeline.verify import run_verify
    assert "signatures.utxo" not in sys.modules
    started, release = threading.Event(), threading.Event()

    class Held(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "signatures.utxo":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            real = spec.loader.exec_module
            def exec_module(module):
                started.set()
                release.wait(30)
                real(module)
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Held())
    threading.Thread(target=lambda: __import__("signatures.utxo"), daemon=True).start()
    started.wait(30)
    threading.Timer(2.0, release.set).start()
    t = time.monotonic()
    out = run_verify(read_head(sys.argv[1]), workers=2, chunk_bytes=256)
    print(out.status_totals()["verified"], out.rows, round(time.monotonic() - t, 1))
""")


def test_workers_forked_during_another_threads_import_do_not_hang(tmp_path):
    lines = []
    for i in range(40):
        addr, sig = g.p2wpkh_bip137(g.seeded_key(i, "fork"))
        lines.append(f"BTC,BTC,800000,{addr},0.{i + 1},{g.MESSAGE},{sig},,")
    path = tmp_path / "btc.csv"
    path.write_text(g.OKX11_HEADER + "\n" + "\n".join(lines) + "\n")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    verified, rows, _seconds = proc.stdout.split()
    assert (int(verified), int(rows)) == (40, 40)


def _lazy_imports(path: Path) -> set[str]:
    """Modules of the signatures package that ``path`` imports inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.level == 1 and inner.module:
                    found.add(inner.module.split(".")[0])
    return found


def test_import_all_lists_every_module_the_package_imports_on_first_use():
    lazy = set().union(*(_lazy_imports(p) for p in (ROOT / "signatures").glob("*.py")))
    assert {"evm", "utxo", "bip322"} <= lazy  # the walk finds them
    assert lazy <= set(dispatch.LAZY_MODULES)
    dispatch.import_all()
    assert all(f"signatures.{m}" in sys.modules for m in dispatch.LAZY_MODULES)
