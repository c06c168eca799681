"""The stand-in benches' shared plumbing: a FAKE server runs in a child process of the bench script
(so the client's time is the bench's, not the server's), announces its URL on one line and serves
until the bench closes its stdin."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]


def announce_and_serve(url: str, fault_rate: float = 0.0, prefix: str = "") -> None:
    """In the child: print ``[prefix ]listening on URL`` (the URL of a fault proxy in front of ``url``
    when ``fault_rate``) and serve until the parent closes stdin."""
    if fault_rate:
        from support.faultproxy import FaultProxy

        with FaultProxy(url, fault_rate, seed=3, timeout_sleep=1.0) as proxy:
            print(f"{prefix}listening on {proxy.url}", flush=True)
            sys.stdin.read()
    else:
        print(f"{prefix}listening on {url}", flush=True)
        sys.stdin.read()


@contextmanager
def child(script: str, args: list[str], what: str) -> Iterator[str]:
    """Run ``script args`` (the bench itself in its serving role) and give the line it announced; the
    child is stopped (stdin closed) when the block ends."""
    proc = subprocess.Popen([sys.executable, script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if "listening on" not in line:
            raise SystemExit(f"{what} did not start: {line!r}")
        yield line
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(10)


def url_of(line: str) -> str:
    return line.split("listening on", 1)[1].strip()


async def timed_balances(adapter: Any, asset: Any, addresses: list[str], height: int | None) -> tuple[float, Any]:
    """``(seconds, BalanceBatch)`` of one ``adapter.balances`` call; the adapter is closed after it."""
    t = time.perf_counter()
    try:
        batch = await adapter.balances(asset, addresses, height)
    finally:
        await adapter.close()
    return time.perf_counter() - t, batch


READ_HEADER = (f"{'what':<8} {'addresses':>9} {'seconds':>8} {'addr/s':>8} {'requests':>9} {'req/1000':>9} "
               f"{'read/expected':>15}  check")


def read_line(what: str, dt: float, batch: Any, exact: bool, labelled: bool, label: str = "at the snapshot") -> str:
    """One row under :data:`READ_HEADER`: throughput, requests per 1,000 addresses, and whether every value
    read was exact and every read carries the block label expected (``label``)."""
    n = len(batch.results)
    check = ("exact" if exact else "WRONG VALUES") + (f", {label}" if labelled else ", WRONG LABELS")
    return (f"{what:<8} {n:>9} {dt:>8.2f} {n / dt:>8.0f} {batch.requests:>9} {1000 * batch.requests / n:>9.1f} "
            f"{batch.read:>7}/{batch.expected:<7}  {check}")
