"""Shared test helpers: the ../shared/vectors folder (optional) and small file builders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pg import postgres_db, postgres_dsn, postgres_server  # noqa: F401  (PostgreSQL fixtures: tests/pg.py)
from btc_world import btc_regtest_world, electrumx, knots  # noqa: F401  (Knots and ElectrumX: tests/btc_world.py)

ROOT = Path(__file__).resolve().parents[1]
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"

os.environ.setdefault("BCL_DATA_DIR", str(ROOT / ".cache" / "bcl"))


async def balances_then_close(asset, adapter, addresses, height):
    """One adapter read, the adapter closed afterwards whatever happens."""
    try:
        return await adapter.balances(asset, addresses, height)
    finally:
        await adapter.close()


def shared_path(*parts: str) -> Path:
    """Path under ../shared/vectors, or skip the test when the folder is absent (fresh clone)."""
    path = SHARED_VECTORS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared vectors not available ({path})")
    return path


def load_vectors(name: str) -> list[dict]:
    path = SHARED_VECTORS / "okx" / name
    if not path.exists():
        return []
    with open(path) as fh:
        return json.load(fh)


@pytest.fixture
def write_csv(tmp_path):
    """Write text (exact bytes, no newline translation) to a temp file and return its path."""

    def _write(text: str | bytes, name: str = "reserves.csv") -> Path:
        p = tmp_path / name
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        return p

    return _write


def need_anvil() -> None:
    """Skip (locally) or fail (under CI, where scripts/node-tools.sh installs it) without anvil."""
    from scanner.devnet.localnodes import anvil_binary

    if anvil_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("anvil is not installed (scripts/node-tools.sh should have installed it)")
        pytest.skip("anvil not installed: run `. scripts/node-tools.sh`")


@pytest.fixture(scope="module")
def anvil():
    """A real anvil node for one test module, stopped by PID afterwards."""
    from scanner.devnet.localnodes import Anvil

    need_anvil()
    node = Anvil.start()
    yield node
    node.stop()
