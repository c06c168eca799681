"""Small helpers every layer's tests use: the repository root, the optional ../shared/vectors folder,
one way to run a coroutine, and the anvil requirement."""

from __future__ import annotations

import asyncio
import contextlib
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


# Coins that each name one chain, across the signature families: a row relabelled to one of them
# claims reserves on that chain, which its signature and address say nothing about.
CHAIN_COINS = ("BTC", "LTC", "DOGE", "ZEC", "TRX", "TON", "ADA", "DOT", "SOL", "ALGO", "ATOM", "XRP", "EOS")


def other_chain_coins(coin: str, network: str = "") -> list[str]:
    """The CHAIN_COINS whose signature rule is not ``coin``'s own (BSV is BTC's rule, LTC is not)."""
    from signatures.registry import resolve_name

    def rule(name: str):
        scheme = resolve_name(name, network, "").scheme  # by the table, else by the name's chain hint
        # Bitcoin Cash and its forks keep Bitcoin's addresses and message magic: the same rule
        return None if scheme is None else (scheme.family, "BTC" if scheme.addr_type == "BCH" else scheme.addr_type)

    own = rule(coin)
    return [c for c in CHAIN_COINS if rule(c) != own]


def bip137_headers_of_other_types(signature: str, allowed: range) -> list[str]:
    """A base64 BIP-137 signature under each header outside ``allowed`` that keeps its recovery id
    (the same key recovers): 27-30, 31-34, 35-38, 39-42 name the address type the signer claims."""
    import base64

    raw = base64.b64decode(signature)
    recid = (raw[0] - 27) & 3
    return [base64.b64encode(bytes([base + recid]) + raw[1:]).decode()
            for base in (27, 31, 35, 39) if base + recid not in allowed]


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def one_letter_in_other_case(address: str) -> str | None:
    """The address with its middle-most letter in the other case; None for a hex address, whose
    case is no part of it (an EIP-55 checksum at most)."""
    body = address[2:] if address[:2] in ("0x", "0X") else address
    if _HEX_DIGITS.issuperset(body):
        return None
    mid = len(address) // 2
    for i in sorted(range(len(address)), key=lambda j: abs(j - mid)):
        if address[i].isalpha():
            return address[:i] + address[i].swapcase() + address[i + 1:]
    return None


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (its worker pool)."""
    import subprocess

    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_for_children(pid: int, count: int, within: float = 30) -> list[int]:
    """``pid``'s children once at least ``count`` run (fewer if ``within`` seconds pass first)."""
    import time

    deadline = time.monotonic() + within
    while len(kids := child_pids(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return kids


def still_running(pids: list[int], within: float = 5) -> list[int]:
    """Those of ``pids`` still running (not gone, not zombies) after up to ``within`` seconds."""
    import time

    deadline = time.monotonic() + within
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and "Z" not in open(f"/proc/{p}/stat").read().split()[2]]
    return alive


@contextlib.asynccontextmanager
async def local_sites(*apps):
    """aiohttp applications served on free loopback ports, each ``(app, ssl_context or None)``; yields
    the ports in order and stops every server on exit (the download tests' http and https peers)."""
    from aiohttp import web

    runners = [web.AppRunner(app) for app, _tls in apps]
    try:
        ports = []
        for runner, (_app, tls) in zip(runners, apps):
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        yield ports
    finally:
        for runner in runners:
            await runner.cleanup()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for https://127.0.0.1 (openssl; the test skips without it): the servers of
    the download tests, with a client context trusting exactly this certificate."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def need_anvil() -> None:
    """Skip (locally) or fail (under CI, where scripts/node-tools.sh installs it) without anvil."""
    from scanner.devnet.localnodes import anvil_binary

    if anvil_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("anvil is not installed (scripts/node-tools.sh should have installed it)")
        pytest.skip("anvil not installed: run `. scripts/node-tools.sh`")
