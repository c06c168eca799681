"""Fixtures for every layer's tests; the helpers they use live in tests/support/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.pg import postgres_db, postgres_dsn, postgres_server  # noqa: F401  (PostgreSQL fixtures)
from support.btc_world import btc_regtest_world, electrumx, knots  # noqa: F401  (Knots and ElectrumX)
from support.common import ROOT, need_anvil

os.environ.setdefault("BCL_DATA_DIR", str(ROOT / ".cache" / "bcl"))


@pytest.fixture
def write_csv(tmp_path):
    """Write text (exact bytes, no newline translation) to a temp file and return its path."""

    def _write(text: str | bytes, name: str = "reserves.csv") -> Path:
        p = tmp_path / name
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        return p

    return _write


@pytest.fixture(scope="module")
def anvil():
    """A real anvil node for one test module, stopped by PID afterwards."""
    from scanner.devnet.localnodes import Anvil

    need_anvil()
    node = Anvil.start()
    yield node
    node.stop()
