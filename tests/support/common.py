"""Small helpers every layer's tests use: the repository root, the optional ../shared/vectors folder,
one way to run a coroutine, and the anvil requirement."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"

# One runner for every synchronous test that drives a coroutine: a fresh event loop per call, so no
# loop state leaks from one test into the next.
run = asyncio.run


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


def need_anvil() -> None:
    """Skip (locally) or fail (under CI, where scripts/node-tools.sh installs it) without anvil."""
    from scanner.devnet.localnodes import anvil_binary

    if anvil_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("anvil is not installed (scripts/node-tools.sh should have installed it)")
        pytest.skip("anvil not installed: run `. scripts/node-tools.sh`")
