"""The stand-in benches' shared plumbing: a FAKE server runs in a child process of the bench script
(so the client's time is the bench's, not the server's), announces its URL on one line and serves
until the bench closes its stdin."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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
