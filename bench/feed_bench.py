"""bench/feed: the feed server under load on loopback, with a year of daily history.

For each backend (SQLite file, private PostgreSQL cluster), a fresh database gets 365 daily finished
runs for each of five exchanges (``scanner.devnet.feed_sample.populate``: per-asset and per-network totals,
ratios, liabilities, rows, balances, summaries: 1,825 runs). ``porscan serve`` then runs in its own
process on 127.0.0.1, and a second process loads it: wrk (``-t THREADS -c CONNECTIONS -d SECONDS
--latency``) when installed, else a Python aiohttp load generator (same shape: N connections, each
sending the next request when the last answered, for D seconds). Endpoints: the latest-ratios
endpoint of one exchange (target: >= 1,000 requests/s with p99 < 50 ms) and /metrics. Also printed:
the first (uncached) request's latency of each endpoint. Traffic goes to 127.0.0.1 only, bounded in
time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.devnet.feed_sample import populate  # noqa: E402
from scanner.storage import open_store  # noqa: E402
from scanner.devnet.localpg import LocalPostgres  # noqa: E402

ENDPOINTS = (("latest ratios", "/api/v1/exchanges/OKX/ratios/latest"), ("/metrics", "/metrics"))


async def fill(url: str, exchanges: int, days: int) -> tuple[int, float]:
    store = await open_store(url)
    try:
        t = time.perf_counter()
        ids = await populate(store, exchanges, days)
        return len(ids), time.perf_counter() - t
    finally:
        await store.close()


def start_server(db: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "serve", "--db", db, "--port", "0", "-q"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # -q hides the INFO line with the port: ask the kernel instead (the server's listening socket)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        port = _listening_port(proc.pid)
        if port:
            return proc, port
        if proc.poll() is not None:
            raise RuntimeError(f"porscan serve exited: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("porscan serve did not start listening within 60 s")


def _listening_port(pid: int) -> int | None:
    """The TCP port process ``pid`` listens on (from /proc: its socket inodes in /proc/net/tcp)."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
        with open("/proc/net/tcp") as fh:
            for line in fh.readlines()[1:]:
                f = line.split()
                if f[3] == "0A" and f[9] in inodes:  # LISTEN
                    return int(f[1].split(":")[1], 16)
    except OSError:
        return None
    return None


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # our own child's group only
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def first_request_ms(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
    return (time.perf_counter() - t) * 1000


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, threads: int, conns: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    res = {"tool": f"wrk -t{threads} -c{conns} -d{seconds}s"}
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        res[f"p{pct}"] = float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["errors"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        res["socket_errors"] = m.group(1)
    return res


def run_python_load(url: str, conns: int, seconds: int) -> dict:
    """The fallback generator, in its own process (``--load``)."""
    proc = subprocess.run([sys.executable, __file__, "--load", url, str(conns), str(seconds)], capture_output=True,
                          text=True, timeout=seconds + 120)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def _load(url: str, conns: int, seconds: int) -> dict:
    import aiohttp

    lat: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(session):
        nonlocal errors
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            async with session.get(url) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            lat.append((time.perf_counter() - t) * 1000)

    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(conns)))
        spent = time.perf_counter() - t0
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] if lat else float("nan")

    return {"tool": f"python aiohttp load generator c={conns} d={seconds}s", "rps": len(lat) / spent,
            "p50": pct(50), "p90": pct(90), "p99": pct(99), "requests": len(lat), "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--exchanges", type=int, default=5)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seconds", type=int, default=10, help="load duration per endpoint")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (2 cores: one for wrk, one for the server)")
    ap.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--load", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load:
        print(json.dumps(asyncio.run(_load(args.load[0], int(args.load[1]), int(args.load[2])))))
        return
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    backends = args.backends.split(",")
    pg = LocalPostgres.start_for(backends)
    tmp = tempfile.TemporaryDirectory(prefix="porscan-bench-feed.")
    print(f"feed load test: {args.exchanges} exchanges x {args.days} daily runs; load from a second process on "
          f"127.0.0.1 with {'wrk' if tool == 'wrk' else 'the Python aiohttp load generator' + ('' if args.tool == 'python' else ' (wrk not installed)')}; "
          f"{os.cpu_count()} cores")
    print(f"{'backend':<11}{'endpoint':<15}{'first ms':>9}{'req/s':>10}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
          f"{'errors':>8}  target")
    ok = True
    try:
        for backend in backends:
            url = f"{tmp.name}/feed.db" if backend == "sqlite" else pg.create_database("bench_feed")
            runs, secs = asyncio.run(fill(url, args.exchanges, args.days))
            print(f"{backend}: {runs:,} runs written in {secs:.1f} s", flush=True)
            proc, port = start_server(url)
            try:
                for name, path in ENDPOINTS:
                    full = f"http://127.0.0.1:{port}{path}"
                    cold = first_request_ms(full)
                    if tool == "wrk":
                        r = run_wrk(full, args.threads, args.connections, args.seconds)
                    else:
                        r = run_python_load(full, args.connections, args.seconds)
                    target = ""
                    if name == "latest ratios":
                        met = r["rps"] >= 1000 and r["p99"] < 50 and not r["errors"]
                        ok &= met
                        target = ">=1000 req/s, p99<50 ms: " + ("met" if met else "NOT met")
                    print(f"{backend:<11}{name:<15}{cold:>9.1f}{r['rps']:>10,.0f}{r['p50']:>8.2f}{r['p90']:>8.2f}"
                          f"{r['p99']:>8.2f}{r['errors']:>8}  {target}", flush=True)
                print(f"  ({r['tool']}; {r.get('socket_errors', 'no socket errors')})")
            finally:
                stop_server(proc)
    finally:
        tmp.cleanup()
        if pg is not None:
            pg.stop()
    print("target met" if ok else "target NOT met")


if __name__ == "__main__":
    main()
